// hdrtool: record values into .hlog logs, report them as .hgrm percentile
// distributions (the output of Java's HistogramLogProcessor), merge logs and
// dump their intervals.
//
// The commands take their streams and clock as parameters so that the tests
// drive them in-process on every platform (including under Wine); main.cpp
// only binds them to the real stdin, stdout, stderr and clocks.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "hdr/histogram.hpp"
#include "hdr/log.hpp"

namespace wsb::hdrtool {

// Exit codes: 0 success, 1 bad input data or I/O failure, 2 bad command line.
inline constexpr int kExitOk = 0;
inline constexpr int kExitDataError = 1;
inline constexpr int kExitUsage = 2;

struct Clock {
  // Milliseconds since the epoch, for the log's StartTime.
  std::function<std::int64_t()> wall_ms;
  // Milliseconds from any fixed origin, for interval boundaries.
  std::function<std::int64_t()> steady_ms;
};
Clock system_clock();

struct RecordOptions {
  std::int64_t lowest = hdr::kLatencyLowestNs;
  std::int64_t highest = hdr::kLatencyHighestNs;
  int significant_figures = hdr::kLatencySignificantFigures;
  // 0: one interval from start to end of input. N > 0: a new interval every
  // N ms of arrival time, cut when a line arrives (or at the end of input).
  std::int64_t interval_ms = 0;
  // StartTime of the log; the wall clock when not given.
  std::optional<std::int64_t> start_time_ms;
  double max_value_unit_ratio = hdr::kDefaultMaxValueUnitRatio;
  std::string tag;
};
// Reads one integer per line from in (blank lines are skipped), writes the
// .hlog to out. Bad lines are reported on err with their line numbers and
// skipped; the result is then kExitDataError. An invalid configuration or tag
// throws std::invalid_argument.
int run_record(const RecordOptions& options, std::istream& in, std::ostream& out, std::ostream& err,
               const Clock& clock);

struct ReportOptions {
  std::string input;  // path, or "-" for in
  bool csv = false;
  bool json = false;  // one JSON object (results/README.md) instead of the .hgrm text
  // Java -outputValueUnitRatio; its default, which prints wsbench's
  // nanoseconds as milliseconds, as loadgen's .hgrm files are.
  double scale = 1e6;
  // --tag: only intervals with this tag. Without it: the untagged intervals
  // when the log has any (Java's rule), else every tag in turn, each
  // distribution headed "#[Tag: NAME]".
  std::string tag;
  bool tag_given = false;
  int ticks_per_half = 5;  // Java -percentilesOutputTicksPerHalf
  double start_s = 0.0;    // Java -start / -end, seconds after StartTime
  double end_s = std::numeric_limits<double>::max();
  std::int64_t correct_interval = 0;  // Java -correctLogWithKnownCoordinatedOmission
};
// A log without a matching interval is an error (exit 1), never an empty
// distribution.
int run_report(const ReportOptions& options, std::istream& in, std::ostream& out,
               std::ostream& err);

struct MergeOptions {
  std::vector<std::string> inputs;
  double max_value_unit_ratio = hdr::kDefaultMaxValueUnitRatio;
  // --runs: the inputs are the logs of one distributed run's instances
  // (loadgen --shard/--start-at); merge them exactly over their common
  // window (run_merge_runs).
  bool runs = false;
  std::string hgrm;             // --hgrm FILE: the merged distribution of `tag`
  std::string csv;              // --csv FILE: one summary row (a new file gets the header)
  std::string tag = "latency";  // --tag: the distribution of --hgrm and the CSV
};
// Writes every interval of every input, tags kept, in order of absolute start
// time, under one StartTime/BaseTime (the earliest input start).
int run_merge(const MergeOptions& options, std::ostream& out, std::ostream& err);

// merge --runs (merge_runs.cpp). Refuses (exit 2, one line) inputs whose
// histogram settings or run settings (protocol, mode, total connections and
// rate, interval, shard count, start time) differ, or that hold one shard
// twice. The common window is the span in which every input was measuring
// (latest first interval start to earliest last interval end); intervals are
// aligned on absolute time into --interval slots from the window's start,
// each input interval going to the slot that holds its midpoint, and those
// whose midpoint lies outside the window are counted and left out. Writes
// the merged .hlog to out, the .hgrm and CSV row when asked, and a summary
// on err (late and missing shards, each shard's start offset, what lay
// outside the window).
int run_merge_runs(const MergeOptions& options, std::ostream& out, std::ostream& err);

// The columns of merge --runs --csv (results/README.md documents them).
std::vector<std::string> merge_csv_header();

struct DecodeOptions {
  std::string input;  // a .hlog path, "-" for in, or one base64 histogram
  bool values = false;
};
int run_decode(const DecodeOptions& options, std::istream& in, std::ostream& out,
               std::ostream& err);

// The whole command line: parses argv (CLI11) and runs the subcommand.
int main(int argc, const char* const* argv, std::istream& in, std::ostream& out, std::ostream& err,
         const Clock& clock);

}  // namespace wsb::hdrtool
