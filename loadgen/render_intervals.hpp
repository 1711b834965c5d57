// The renderers that write files as the run goes on, or histograms at its
// end (namespace wsb::loadgen): the --intervals CSV, the --hlog interval log
// and the --hgrm percentile distributions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "options.hpp"
#include "result.hpp"

namespace wsb::loadgen {

// The --intervals, --hlog outputs, opened before the run (so that a bad path
// fails at once) and fed one interval at a time.
class IntervalOutputs {
 public:
  // Throws std::runtime_error naming the file that cannot be written. The
  // .hlog's StartTime and BaseTime are start_ms, or --start-at when given,
  // so that the logs of a distributed run's instances share their base.
  IntervalOutputs(const Options& options, std::int64_t start_ms);
  ~IntervalOutputs();
  IntervalOutputs(const IntervalOutputs&) = delete;
  IntervalOutputs& operator=(const IntervalOutputs&) = delete;

  // --start-at: the .hlog's wsbench-start line (hdr/shard_header.hpp).
  void write_start(const StartOutcome& outcome);
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
