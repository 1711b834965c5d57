// What a run produced (namespace wsb::loadgen): the merged RunResult and
// each IntervalReport. The run fills them; the verdicts (verdicts.hpp) judge
// them and the renderers (render_*.hpp) only format them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "options.hpp"
#include "platform/process.hpp"
#include "recorder.hpp"
#include "spawn.hpp"
#include "worker.hpp"

namespace wsb::loadgen {

// One reporting interval, merged over all workers.
struct IntervalReport {
  Phase phase = Phase::measure;
  double start_s = 0;  // since the epoch (the start of the run)
  double end_s = 0;
  std::int64_t start_ms = 0;  // wall clock, ms since 1970, for the .hlog
  std::int64_t end_ms = 0;
  Counters delta;  // counts within the interval
  const HistogramSet* histograms = nullptr;
  std::uint64_t open_connections = 0;
};

struct RunResult {
  std::string engine;
  int threads = 0;
  net::Endpoint target;
  std::int64_t start_ms = 0;  // wall clock when the run started
  // The measured part: from the end of the warmup to the end of the load
  // (the drain that follows only collects responses to requests already sent).
  double seconds = 0;
  Counters totals;
  HistogramSet histograms;
  std::uint64_t unfinished = 0;  // requests still unanswered when the run ended
  // --hold: connections established, and how long until every one was.
  std::uint64_t established = 0;
  std::optional<double> establish_s;
  std::uint64_t loadgen_memory_held_bytes = 0;
  platform::ProcessStats self;  // loadgen's own CPU and peak memory at the end
  // loadgen's own context switches at the end (sys.hpp); nullopt where not counted.
  std::optional<std::uint64_t> self_context_switches;
  std::optional<ServerResult> server;
  bool interrupted = false;  // Ctrl-C
  bool server_died = false;  // the --spawn server exited during the run
  // Connects were refused with no connection open: nothing listens at the
  // target any more; never_connected: no connect of the run ever succeeded.
  bool target_lost = false;
  bool never_connected = false;
  std::vector<std::string> failures;  // fatal worker errors
};

}  // namespace wsb::loadgen
