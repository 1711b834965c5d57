#include "complete_csv.hpp"

#include <ostream>
#include <set>
#include <sstream>
#include <string>

namespace wsb::bench {

namespace {

// Google Benchmark's own columns; bytes_per_second and items_per_second are
// counters of the run, the rest fields of it.
constexpr const char* kColumns[] = {
    "name",           "iterations",       "real_time",        "cpu_time",
    "time_unit",      "bytes_per_second", "items_per_second", "label",
    "error_occurred", "error_message"};

bool is_own_column(const std::string& counter) {
  return counter == "bytes_per_second" || counter == "items_per_second";
}

// RFC 4180: quoted, with quotes doubled.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

std::string number(double v) {
  std::ostringstream text;
  text.precision(17);
  text << v;
  return text.str();
}

std::string counter_field(const benchmark::BenchmarkReporter::Run& run, const std::string& name) {
  const auto it = run.counters.find(name);
  return it == run.counters.end() ? std::string() : number(it->second.value);
}

void write_row(std::ostream& out, const benchmark::BenchmarkReporter::Run& run,
               const std::set<std::string>& counters) {
  out << quoted(run.benchmark_name());
  if (run.error_occurred) {
    // No figure of a failed run means anything.
    out << ",,,,,,," << quoted(run.report_label) << ",true," << quoted(run.error_message);
    for (std::size_t i = 0; i < counters.size(); ++i)
      out << ',';
    out << '\n';
    return;
  }
  out << ',' << run.iterations << ',' << number(run.GetAdjustedRealTime()) << ','
      << number(run.GetAdjustedCPUTime()) << ',' << benchmark::GetTimeUnitString(run.time_unit)
      << ',' << counter_field(run, "bytes_per_second") << ','
      << counter_field(run, "items_per_second") << ',' << quoted(run.report_label) << ",false,";
  for (const std::string& name : counters)
    out << ',' << counter_field(run, name);
  out << '\n';
}

}  // namespace

bool CompleteCsvReporter::ReportContext(const Context& context) {
  // The machine's description goes to stderr on the console; into an
  // --benchmark_out file (whose error stream is the file itself) it would
  // only break the CSV, so it is left out there.
  if (&GetErrorStream() != &GetOutputStream()) PrintBasicContext(&GetErrorStream(), context);
  return true;
}

void CompleteCsvReporter::ReportRuns(const std::vector<Run>& runs) {
  runs_.insert(runs_.end(), runs.begin(), runs.end());
}

void CompleteCsvReporter::Finalize() {
  std::set<std::string> counters;
  for (const Run& run : runs_) {
    for (const auto& [name, counter] : run.counters) {
      if (!is_own_column(name)) counters.insert(name);
    }
  }
  std::ostream& out = GetOutputStream();
  bool first = true;
  for (const char* column : kColumns) {
    out << (first ? "" : ",") << column;
    first = false;
  }
  for (const std::string& name : counters)
    out << ',' << quoted(name);
  out << '\n';
  for (const Run& run : runs_)
    write_row(out, run, counters);
  out.flush();
}

}  // namespace wsb::bench
