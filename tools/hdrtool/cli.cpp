#include <exception>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "hdrtool.hpp"

namespace wsb::hdrtool {

namespace {

constexpr const char* kScaleHelp =
    "Divide every printed value by X (Java's -outputValueUnitRatio). wsbench records latencies "
    "in nanoseconds, so the default, 1e6 (Java's own), prints milliseconds, as loadgen's .hgrm "
    "files do; 1000 prints microseconds and 1 the raw recorded values";

constexpr const char* kDescription =
    "hdrtool: HdrHistogram logs (.hlog) and percentile distributions (.hgrm), written exactly as "
    "the Java HdrHistogram tools write them.\n"
    "Values are integers in whatever unit was recorded; wsbench records latencies in nanoseconds "
    "with lowest 1, highest 3600000000000 (one hour) and 3 significant figures, which are also "
    "the defaults of 'record'.";

// The help of the subcommand the user was on, else of the whole program, so
// that a mistake is answered with the usage that fixes it.
std::string usage_for(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    // Named after the program, so that its usage line reads "hdrtool report".
    if (sub->parsed()) return sub->help(app.get_name());
  }
  return app.help();
}

// "merge": concatenation, or with --runs the exact merge of a distributed
// run's instance logs.
CLI::App* add_merge(CLI::App& app, MergeOptions& merge) {
  CLI::App* mrg = app.add_subcommand(
      "merge",
      "Write one .hlog holding every interval of the given logs (tags kept), ordered by start "
      "time under the earliest StartTime. Reporting the result sums all of them. With --runs: "
      "the exact merge of a distributed run's instance logs over their common window.");
  mrg->add_option("logs", merge.inputs, "The .hlog files")->required()->check(CLI::ExistingFile);
  mrg->add_option("--max-ratio", merge.max_value_unit_ratio,
                  "Divisor of the interval maximum in the third column")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  auto* runs = mrg->add_flag(
      "--runs", merge.runs,
      "The logs are one distributed run's instances (loadgen --shard/--start-at): refuse logs "
      "of different settings (exit 2), merge exactly over the common window in which every "
      "instance was measuring, align intervals on absolute time, list late and missing "
      "shards (docs/distributed.md)");
  mrg->add_option("--hgrm", merge.hgrm, "--runs: write the merged distribution (.hgrm) here")
      ->needs(runs);
  mrg->add_option("--csv", merge.csv,
                  "--runs: append one summary row (count and rate over the common window, "
                  "percentiles, late and missing shards) to this CSV file")
      ->needs(runs);
  mrg->add_option("--tag", merge.tag, "--runs: the tag of --hgrm and --csv")
      ->capture_default_str()
      ->needs(runs);
  return mrg;
}

}  // namespace

int main(int argc, const char* const* argv, std::istream& in, std::ostream& out, std::ostream& err,
         const Clock& clock) {
  CLI::App app{kDescription, "hdrtool"};
  app.require_subcommand(1);
  // CLI11 reads "/name" as an option on Windows by default; here options are
  // always "--name", so that a path such as /tmp/x.hlog means the same on
  // every platform.
  app.allow_windows_style_options(false);
  app.set_version_flag("--version", std::string("hdrtool (wsbench ") + WSB_HDRTOOL_VERSION + ")");

  RecordOptions record;
  CLI::App* rec = app.add_subcommand(
      "record",
      "Read integer values, one per line, from stdin and write an .hlog to stdout. Blank lines "
      "are skipped; bad lines are reported with their line numbers and make the exit status 1.");
  rec->add_option("--lowest", record.lowest, "Lowest discernible value (>= 1)")
      ->capture_default_str();
  rec->add_option("--highest", record.highest, "Highest trackable value (>= 2 * lowest)")
      ->capture_default_str();
  rec->add_option("--sigfigs", record.significant_figures, "Significant figures (1..5)")
      ->capture_default_str();
  rec->add_option("--interval-ms", record.interval_ms,
                  "Start a new interval every N ms of input arrival time (0: one interval for "
                  "the whole input). Intervals are closed when a line arrives or input ends.")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  rec->add_option("--start-time-ms", record.start_time_ms,
                  "StartTime of the log in ms since the epoch (default: now)");
  rec->add_option("--max-ratio", record.max_value_unit_ratio,
                  "Divide the interval maximum in the log's third column by this (Java's "
                  "maxValueUnitRatio; 1e6 shows nanoseconds as milliseconds)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  rec->add_option("--tag", record.tag, "Tag every interval (no commas, spaces or line breaks)");

  ReportOptions report;
  CLI::App* rep = app.add_subcommand(
      "report",
      "Sum the intervals of an .hlog and print the percentile distribution (.hgrm), as Java's "
      "HistogramLogProcessor does, including its #[StartTime: ...] line. A log without a "
      "matching interval is an error (exit 1).");
  rep->add_option("log", report.input, "The .hlog file ('-' for stdin)")->required();
  auto* csv = rep->add_flag("--csv", report.csv, "CSV instead of the .hgrm text format");
  rep->add_flag("--json", report.json,
                "One JSON object instead of the .hgrm text: count, min, mean, stddev, max and "
                "a percentile spectrum per distribution (results/README.md)")
      ->excludes(csv);
  rep->add_option("--scale", report.scale, kScaleHelp)
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  auto* tag = rep->add_option(
      "--tag", report.tag,
      "Only intervals with this tag. Default: the untagged intervals, as Java; a log with "
      "tagged intervals only (loadgen's: latency, uncorrected, connect) is reported one tag "
      "after the other, each headed #[Tag: NAME]");
  rep->add_option("--ticks", report.ticks_per_half, "Percentile ticks per half distance")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  rep->add_option("--start", report.start_s,
                  "Skip intervals starting before S seconds after StartTime");
  rep->add_option("--end", report.end_s, "Stop at the first interval starting after S seconds");
  rep->add_option("--correct", report.correct_interval,
                  "Correct each interval for coordinated omission with this expected interval "
                  "(in recorded units; Java's -correctLogWithKnownCoordinatedOmission)")
      ->check(CLI::NonNegativeNumber);

  MergeOptions merge;
  CLI::App* mrg = add_merge(app, merge);

  DecodeOptions decode;
  CLI::App* dec = app.add_subcommand(
      "decode",
      "Dump every interval of an .hlog (tag, start and length in seconds, count, min, "
      "percentiles, max, mean, stddev, configuration), or one base64 histogram.");
  dec->add_option("input", decode.input, "An .hlog file, '-' for stdin, or a base64 histogram")
      ->required();
  dec->add_flag("--values", decode.values, "Also list every recorded value range and its count");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << usage_for(app);
    return kExitOk;
  } catch (const CLI::CallForVersion& v) {
    out << v.what() << "\n";
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    err << "hdrtool: " << e.what() << "\n\n" << usage_for(app);
    return kExitUsage;
  }

  report.tag_given = tag->count() > 0;
  try {
    if (rec->parsed()) return run_record(record, in, out, err, clock);
    if (rep->parsed()) return run_report(report, in, out, err);
    if (mrg->parsed())
      return merge.runs ? run_merge_runs(merge, out, err) : run_merge(merge, out, err);
    if (dec->parsed()) return run_decode(decode, in, out, err);
  } catch (const std::invalid_argument& e) {
    // A histogram configuration the library refuses (lowest, highest, sigfigs).
    err << "hdrtool: " << e.what() << "\n\n" << usage_for(app);
    return kExitUsage;
  } catch (const std::exception& e) {
    err << "hdrtool: " << e.what() << "\n";
    return kExitDataError;
  }
  err << usage_for(app);
  return kExitUsage;
}

}  // namespace wsb::hdrtool
