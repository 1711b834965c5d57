// What a run produced, and every rendering of it (namespace wsb::loadgen):
// the live line, the final summary, the CSV row (results/README.md documents
// its columns), the per-interval CSV, the .hlog and the .hgrm. Data first:
// the run fills RunResult and IntervalReport, the functions here only format.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hdr/log.hpp"
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
  std::optional<ServerResult> server;
  bool interrupted = false;  // Ctrl-C
  bool server_died = false;  // the --spawn server exited during the run
  // Connects were refused with no connection open: nothing listens at the
  // target any more; never_connected: no connect of the run ever succeeded.
  bool target_lost = false;
  bool never_connected = false;
  std::vector<std::string> failures;  // fatal worker errors
};

// Why a run ended before its --duration / --requests: "" when it completed,
// else "server_died", "target_refused" (nothing ever accepted a connection),
// "target_lost" (the target started refusing with no connection open),
// "worker_failed" or "interrupted". The summary and the CSV (complete,
// incomplete_reason) report it.
std::string_view incomplete_reason(const RunResult& result) noexcept;

// One --slo term checked against the run.
struct SloVerdict {
  SloTerm term;
  std::int64_t measured_ns = 0;
  bool passed = true;
};
std::vector<SloVerdict> evaluate_slo(const std::vector<SloTerm>& terms,
                                     const hdr::Histogram& latency);

// The process exit code for a finished run (see ExitCode): 4 when the
// spawned server died or the target was lost or refused every connect, else 1 above --max-errors or after a worker failure,
// else 3 when an SLO term failed, else 0.
int exit_code(const Options& options, const RunResult& result, const std::vector<SloVerdict>& slo);

// Requested vs achieved rate (open loop): the shortfall in percent of the
// requested rate (0 when the rate was met or exceeded), and whether it is
// worth a warning (more than 1%).
double rate_shortfall_percent(const Options& options, const RunResult& result);

// ---- Text -----------------------------------------------------------------------

// "[   3.0s] conns 100 req/s 54321 p50 120us p99 450us errors 0"
std::string live_line(const IntervalReport& interval, Mode mode);
// The wrk-like summary printed at the end (stdout).
std::string summary_text(const Options& options, const RunResult& result,
                         const std::vector<SloVerdict>& slo);
// "1.23ms", "456us", "12.3s": three significant digits.
std::string format_latency(std::int64_t ns);

// ---- CSV ------------------------------------------------------------------------

std::vector<std::string> csv_header();
std::vector<std::string> csv_row(const Options& options, const RunResult& result,
                                 const std::vector<SloVerdict>& slo, int exit_code);
// Throws std::runtime_error when the file exists with a different header
// (checked before the run, so that a long run never ends in a refusal).
void check_csv_file(const std::string& path);

std::vector<std::string> interval_csv_header();
std::vector<std::string> interval_csv_row(const IntervalReport& interval);

// "native", or "wine" when this loadgen is a Windows build under Wine.
std::string platform_kind();

// ---- Files written while the run goes on ------------------------------------------

// The --intervals, --hlog outputs, opened before the run (so that a bad path
// fails at once) and fed one interval at a time.
class IntervalOutputs {
 public:
  // Throws std::runtime_error naming the file that cannot be written.
  IntervalOutputs(const Options& options, std::int64_t start_ms);
  ~IntervalOutputs();
  IntervalOutputs(const IntervalOutputs&) = delete;
  IntervalOutputs& operator=(const IntervalOutputs&) = delete;

  // Warmup intervals go to --intervals (marked) but not to the .hlog.
  void write(const IntervalReport& interval, Mode mode);
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes the .hgrm file(s): `path` gets the latency (corrected in open loop),
// and in open loop "<stem>.uncorrected<ext>" the uncorrected latency; values
// in milliseconds as HdrHistogram's tools print them.
void write_hgrm(const std::string& path, const RunResult& result, Mode mode);

}  // namespace wsb::loadgen
