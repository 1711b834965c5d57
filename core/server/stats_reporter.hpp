// What the server says about its statistics (namespace wsb::server): the
// live line on stderr, the --stats-csv rows and the final "key: value"
// statistics on stdout (the output contract in server/frame.hpp). One of the
// three jobs of the Frame, which owns one, samples the shards and decides
// when to report; this class only formats and writes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/hub.hpp"
#include "platform/net.hpp"
#include "platform/process.hpp"
#include "server/admission.hpp"
#include "server/options.hpp"
#include "server/stats.hpp"

namespace wsb::server {

// The totals of every shard at one moment.
struct StatsSample {
  std::chrono::steady_clock::time_point at;
  StatsTotals totals;
};

class StatsReporter {
 public:
  using Clock = std::chrono::steady_clock;

  // `options` and `admission` are read at each report, so `options` may be
  // filled in after construction.
  StatsReporter(std::string_view model_name, const Options& options, const Admission& admission,
                const chat::Hub& hub) noexcept
      : model_(model_name), options_(options), admission_(admission), hub_(hub) {}

  // The header of the --stats-csv file. Every row carries the run's
  // parameters so that rows from different runs can share one file.
  static std::vector<std::string> csv_header();

  // Checks, before anything runs, that rows can be appended to --stats-csv
  // (report::check_csv_file) and enables the rows: empty when fine (or no
  // file was asked for), otherwise the message for stderr.
  std::string enable_csv();

  // A model's own figures for the final statistics (Frame::model_counter
  // and Frame::model_fact), printed after the common ones as
  // "<model>.<name>: <value>" in the order they were added. The counter's
  // reference stays valid for the reporter's lifetime; any thread may add
  // to it (relaxed fetch_add).
  std::atomic<std::uint64_t>& model_counter(std::string_view name);
  void model_fact(std::string_view name, std::string value);

  // The moment the run started: rows and final statistics count from it.
  void set_started_at(Clock::time_point at) noexcept { started_at_ = at; }
  Clock::time_point started_at() const noexcept { return started_at_; }

  // One --stats-interval: the console title, the live line unless --quiet,
  // and a --stats-csv row.
  void interval(const StatsSample& previous, const StatsSample& current);

  // The end of the run: ends the live line, writes the final --stats-csv row
  // and prints the final statistics with `exit_code` (raised to 1 when
  // writing a row failed). `listen` is the first listener's address, if
  // any. Returns the exit code it printed.
  int finish(const StatsSample& end, const std::optional<net::Endpoint>& listen, int exit_code);

 private:
  void write_live_line(const StatsSample& previous, const StatsSample& current);
  void write_csv_row(const StatsSample& previous, const StatsSample& current, bool final,
                     const platform::ProcessStats& process);
  void print_final(const StatsSample& end, const std::optional<net::Endpoint>& listen,
                   const platform::ProcessStats& process, int exit_code) const;
  // The chat and --when-full queue figures of the final statistics, when
  // those are in use.
  void print_chat_and_queue(std::ostream& out) const;

  // One of the model's own figures: a fact (text) or a counter.
  struct ModelFigure {
    std::string name;
    std::string fact;
    bool is_counter = false;
    std::atomic<std::uint64_t> count{0};
  };

  std::string model_;
  const Options& options_;
  const Admission& admission_;
  const chat::Hub& hub_;
  std::uint64_t live_deliveries_ = 0;  // chat deliveries at the last live line
  Clock::time_point started_at_ = Clock::now();
  // Cleared (and the run failed) when a row cannot be written; read by the
  // reporter thread and finish(), which follow each other.
  std::atomic<bool> csv_enabled_{false};
  std::atomic<bool> csv_failed_{false};
  mutable std::mutex figures_mutex_;
  std::deque<ModelFigure> figures_;  // a deque never moves its elements
  bool live_line_open_ = false;      // a '\r' line on the terminal awaits its '\n'
  std::size_t live_line_width_ = 0;
};

}  // namespace wsb::server
