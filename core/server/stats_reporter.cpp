// What the server says about its statistics: server/stats_reporter.hpp.
#include "server/stats_reporter.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "platform/console.hpp"
#include "report/csv.hpp"

#ifndef WSB_VERSION
#error "WSB_VERSION must be defined by the build (the project version)"
#endif

namespace wsb::server {
namespace {

using Clock = std::chrono::steady_clock;

// Fixed-point text without locale surprises (the program never calls
// setlocale, so printf formats in the "C" locale).
std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

std::vector<std::string> StatsReporter::csv_header() {
  std::vector<std::string> header{
      "wsbench_version", "model",     "protocol",       "platform",    "threads",      "elapsed_s",
      "final",           "online",    "peak_online",    "accepted",    "closed",       "requests",
      "bytes_in",        "bytes_out", "requests_per_s", "mb_in_per_s", "mb_out_per_s", "errors"};
  for (std::size_t i = 0; i < error_class_count; ++i) {
    header.push_back("errors." + std::string(name(static_cast<ErrorClass>(i))));
  }
  for (const char* column : {"cpu_user_s", "cpu_system_s", "memory_bytes", "peak_memory_bytes",
                             "process_threads", "handles"}) {
    header.emplace_back(column);
  }
  return header;
}

std::string StatsReporter::enable_csv() {
  if (options_.stats_csv.empty()) return {};
  const std::string problem = report::check_csv_file(options_.stats_csv, csv_header());
  if (!problem.empty()) return "--stats-csv " + options_.stats_csv + " " + problem;
  csv_enabled_ = true;
  return {};
}

std::atomic<std::uint64_t>& StatsReporter::model_counter(std::string_view name) {
  std::lock_guard lock(figures_mutex_);
  ModelFigure& figure = figures_.emplace_back();
  figure.name = name;
  figure.is_counter = true;
  return figure.count;
}

void StatsReporter::model_fact(std::string_view name, std::string value) {
  std::lock_guard lock(figures_mutex_);
  ModelFigure& figure = figures_.emplace_back();
  figure.name = name;
  figure.fact = std::move(value);
}

void StatsReporter::interval(const StatsSample& previous, const StatsSample& current) {
  platform::set_console_title("OnLine: " + std::to_string(admission_.online()));
  if (!options_.quiet) write_live_line(previous, current);
  if (csv_enabled_) write_csv_row(previous, current, false, platform::sample_process());
}

void StatsReporter::write_live_line(const StatsSample& previous, const StatsSample& current) {
  const double dt = std::max(seconds_between(previous.at, current.at), 1e-9);
  const StatsTotals& t = current.totals;
  const StatsTotals& p = previous.totals;
  char line[256];
  std::snprintf(line, sizeof line,
                "[%8.1fs] online %llu peak %llu accepted %llu req/s %.0f in %.2f MB/s out "
                "%.2f MB/s errors %llu",
                seconds_between(started_at_, current.at),
                static_cast<unsigned long long>(admission_.online()),
                static_cast<unsigned long long>(admission_.peak_online()),
                static_cast<unsigned long long>(t.accepted),
                static_cast<double>(t.requests - p.requests) / dt,
                static_cast<double>(t.bytes_in - p.bytes_in) / 1e6 / dt,
                static_cast<double>(t.bytes_out - p.bytes_out) / 1e6 / dt,
                static_cast<unsigned long long>(t.errors_total()));
  std::string text = line;
  if (options_.protocol == proto::Protocol::chat) {
    const std::uint64_t deliveries = hub_.counts().deliveries;
    std::snprintf(line, sizeof line, " deliveries/s %.0f",
                  static_cast<double>(deliveries - live_deliveries_) / dt);
    live_deliveries_ = deliveries;
    text += line;
  }
  if (options_.when_full == WhenFull::queue) {
    text += " waited " + std::to_string(admission_.waited());
  }
  if (platform::stderr_is_terminal()) {
    // Rewritten in place; padded so that a shorter line hides a longer one.
    const std::size_t width = text.size();
    if (live_line_width_ > width) text.append(live_line_width_ - width, ' ');
    live_line_width_ = width;
    std::fprintf(stderr, "\r%s", text.c_str());
    live_line_open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  std::fflush(stderr);
}

void StatsReporter::write_csv_row(const StatsSample& previous, const StatsSample& current,
                                  bool final, const platform::ProcessStats& process) {
  const double dt = std::max(seconds_between(previous.at, current.at), 1e-9);
  const StatsTotals& t = current.totals;
  const StatsTotals& p = previous.totals;
  std::vector<std::string> row{WSB_VERSION,
                               model_,
                               std::string(proto::name(options_.protocol)),
                               platform::runtime_description(),
                               std::to_string(options_.threads),
                               fixed(seconds_between(started_at_, current.at), 3),
                               final ? "1" : "0",
                               std::to_string(admission_.online()),
                               std::to_string(admission_.peak_online()),
                               std::to_string(t.accepted),
                               std::to_string(t.closed),
                               std::to_string(t.requests),
                               std::to_string(t.bytes_in),
                               std::to_string(t.bytes_out),
                               fixed(static_cast<double>(t.requests - p.requests) / dt, 1),
                               fixed(static_cast<double>(t.bytes_in - p.bytes_in) / 1e6 / dt, 3),
                               fixed(static_cast<double>(t.bytes_out - p.bytes_out) / 1e6 / dt, 3),
                               std::to_string(t.errors_total())};
  for (const std::uint64_t n : t.errors)
    row.push_back(std::to_string(n));
  row.push_back(fixed(process.user_cpu_seconds, 3));
  row.push_back(fixed(process.system_cpu_seconds, 3));
  row.push_back(std::to_string(process.memory_bytes));
  row.push_back(std::to_string(process.peak_memory_bytes));
  row.push_back(std::to_string(process.threads));
  row.push_back(std::to_string(process.handles));
  try {
    report::append_row(options_.stats_csv, csv_header(), row);
  } catch (const std::exception& e) {
    // Disk full, file replaced... Say it once, stop writing, fail the run.
    std::fprintf(stderr, "\n%s: --stats-csv: %s; no more rows are written\n", model_.c_str(),
                 e.what());
    csv_enabled_ = false;
    csv_failed_ = true;
  }
}

int StatsReporter::finish(const StatsSample& end, const std::optional<net::Endpoint>& listen,
                          int exit_code) {
  const platform::ProcessStats process = platform::sample_process();
  if (live_line_open_) {
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }
  if (csv_enabled_) write_csv_row({started_at_, {}}, end, true, process);
  if (csv_failed_) exit_code = 1;
  print_final(end, listen, process, exit_code);
  return exit_code;
}

void StatsReporter::print_final(const StatsSample& end, const std::optional<net::Endpoint>& listen,
                                const platform::ProcessStats& process, int exit_code) const {
  const Options& o = options_;
  const StatsTotals& totals = end.totals;
  const double elapsed = seconds_between(started_at_, end.at);
  std::ostringstream out;
  out << "model: " << model_ << "\n"
      << "protocol: " << proto::name(o.protocol) << "\n"
      << "version: " << WSB_VERSION << "\n"
      << "platform: " << platform::runtime_description() << "\n"
      << "listen: " << (listen ? net::to_string(*listen) : "-") << "\n"
      << "threads: " << o.threads << "\n"
      << "duration_s: " << fixed(elapsed, 3) << "\n"
      << "accepted: " << totals.accepted << "\n"
      << "closed: " << totals.closed << "\n"
      << "peak_concurrent: " << admission_.peak_online() << "\n"
      << "online_at_exit: " << admission_.online() << "\n"
      << "requests: " << totals.requests << "\n"
      << "requests_per_s: "
      << fixed(static_cast<double>(totals.requests) / std::max(elapsed, 1e-9), 1) << "\n"
      << "bytes_in: " << totals.bytes_in << "\n"
      << "bytes_out: " << totals.bytes_out << "\n"
      << "errors: " << totals.errors_total() << "\n";
  for (std::size_t i = 0; i < error_class_count; ++i) {
    out << "errors." << name(static_cast<ErrorClass>(i)) << ": " << totals.errors[i] << "\n";
  }
  out << "cpu_user_s: " << fixed(process.user_cpu_seconds, 3) << "\n"
      << "cpu_system_s: " << fixed(process.system_cpu_seconds, 3) << "\n"
      << "peak_memory_bytes: " << process.peak_memory_bytes << "\n"
      << "process_threads: " << process.threads << "\n"
      << "handles: " << process.handles << "\n";
  print_chat_and_queue(out);
  {
    std::lock_guard lock(figures_mutex_);
    for (const ModelFigure& figure : figures_) {
      out << model_ << "." << figure.name << ": "
          << (figure.is_counter ? std::to_string(figure.count.load(std::memory_order_relaxed))
                                : figure.fact)
          << "\n";
    }
  }
  out << "exit_code: " << exit_code << "\n";
  std::cout << out.str() << std::flush;
}

void StatsReporter::print_chat_and_queue(std::ostream& out) const {
  if (options_.protocol == proto::Protocol::chat) {
    const chat::HubCounts c = hub_.counts();
    out << "chat.online_peak: " << c.online_peak << "\n"
        << "chat.messages: " << c.messages << "\n"
        << "chat.deliveries: " << c.deliveries << "\n"
        << "chat.undelivered: " << c.undelivered << "\n";
  }
  if (options_.when_full == WhenFull::queue) {
    const auto longest = std::chrono::duration<double, std::milli>(admission_.longest_wait());
    out << "queue.waited: " << admission_.waited() << "\n"
        << "queue.longest_wait_ms: " << fixed(longest.count(), 1) << "\n";
  }
}

}  // namespace wsb::server
