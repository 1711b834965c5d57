#include "server/frame.hpp"

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "platform/console.hpp"
#include "platform/duration.hpp"
#include "platform/interrupt.hpp"
#include "platform/process.hpp"
#include "platform/stdin_lines.hpp"
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

// --stall MS/EVERY_S: a bare first number is milliseconds, a bare second one
// seconds; both also take units ("50ms/2s").
std::optional<Stall> parse_stall(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string pause_text(text.substr(0, slash));
  const std::string_view every_text = text.substr(slash + 1);
  if (!pause_text.empty() && pause_text.find_first_not_of("0123456789.") == std::string::npos) {
    pause_text += "ms";
  }
  const auto pause = platform::parse_duration(pause_text);
  const auto every = platform::parse_duration(every_text);
  if (!pause || !every || pause->count() <= 0 || every->count() <= 0 || *pause >= *every) {
    return std::nullopt;
  }
  return Stall{*pause, *every};
}

CLI::Validator duration_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return platform::parse_duration(text)
                   ? std::string()
                   : "not a duration: " + text +
                         " (use e.g. 500ms, 3s, 2m; a bare number is seconds)";
      },
      "DURATION");
}

// The header of the --stats-csv file. Every row carries the run's parameters
// so that rows from different runs can share one file.
std::vector<std::string> csv_header() {
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

// Checks, before anything runs, that rows can be appended to `path`: the
// folder exists and, if the file has content, its header is ours.
std::string check_csv_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::string first_line;
    std::getline(in, first_line);
    if (!first_line.empty()) {
      std::size_t pos = 0;
      std::vector<std::string> fields;
      try {
        fields = report::parse_record(first_line + "\n", pos);
      } catch (const std::exception&) {
      }
      if (fields != csv_header()) {
        return "--stats-csv " + path +
               " already holds a different kind of CSV (its header differs)";
      }
    }
    return {};
  }
  std::ofstream out(path, std::ios::binary | std::ios::app);
  if (!out) return "--stats-csv " + path + " cannot be created";
  out.close();
  std::error_code ignored;
  std::filesystem::remove(path, ignored);  // created empty to test; append_row adds the header
  return {};
}

}  // namespace

struct Frame::Impl {
  explicit Impl(Frame& frame) : self(frame) {}

  Frame& self;
  std::string model;
  int default_threads = 1;
  int default_max_connections = 0;
  Options options;
  CLI::App app;
  CLI::Option* max_connections_option = nullptr;

  // Strings from the command line that are converted after parsing.
  std::string protocol_text = "upper";
  std::string idle_timeout_text = "0";
  std::string ban_time_text = "10s";
  std::string duration_text = "0";
  std::string stats_interval_text = "1s";
  std::string max_pending_text;
  std::string stall_text;

  net::Startup startup;
  std::unique_ptr<platform::InterruptWatcher> interrupts;
  std::unique_ptr<platform::StdinLines> stdin_lines;

  // Guards everything below.
  std::mutex mutex;
  std::condition_variable changed;
  bool stop_requested = false;
  bool finishing = false;
  bool started = false;
  bool finished = false;
  int exit_code = 0;
  std::function<void()> wake;
  std::thread reporter;
  std::deque<StatsShard> shards;  // a deque never moves its elements
  std::vector<StatsShard*> retired;
  std::optional<net::Endpoint> listen_endpoint;

  // --max-conns-per-ip: the connections online and the ban of each peer
  // address, and the address of each socket admitted with one, so that
  // release(shard, socket) finds it. Used only when the option is set.
  struct PeerAddress {
    int online = 0;
    Clock::time_point banned_until{};
  };
  std::map<std::string, PeerAddress, std::less<>> peers;
  std::map<net::socket_t, std::string> peer_of_socket;
  bool csv_enabled = false;
  bool live_line_open = false;  // a '\r' line on the terminal awaits its '\n'
  std::size_t live_line_width = 0;

  Clock::time_point constructed_at = Clock::now();
  Clock::time_point started_at = constructed_at;

  struct Sample {
    Clock::time_point at;
    StatsTotals totals;
  };

  void on_interrupt(int) {
    if (self.stopping()) {
      // The shutdown already under way is not finishing; the user insists.
      static constexpr char message[] = "\nsecond interrupt while stopping: exiting at once\n";
      std::fwrite(message, 1, sizeof message - 1, stderr);
      std::fflush(stderr);
      std::_Exit(130);
    }
    self.request_stop();
  }

  StatsTotals sum() {
    StatsTotals totals;
    for (const StatsShard& shard : shards)
      shard.add_to(totals);
    return totals;
  }

  void report_loop();
  void report(const Sample& previous, const Sample& current, bool final);
  void write_csv_row(const Sample& previous, const Sample& current, bool final,
                     const platform::ProcessStats& process);
  void stop_threads();
};

void Frame::Impl::report_loop() {
  std::unique_lock lock(mutex);
  const auto interval = std::chrono::duration_cast<Clock::duration>(options.stats_interval);
  const Clock::time_point deadline =
      options.duration.count() > 0
          ? started_at + std::chrono::duration_cast<Clock::duration>(options.duration)
          : Clock::time_point::max();
  Clock::time_point next_tick = started_at + interval;
  Sample previous{started_at, {}};
  bool woken = false;
  while (!finishing) {
    if (stop_requested && !woken) {
      woken = true;
      const auto wake_model = wake;
      lock.unlock();
      if (wake_model) wake_model();
      lock.lock();
      continue;
    }
    const Clock::time_point until = std::min(next_tick, stop_requested ? next_tick : deadline);
    changed.wait_until(lock, until, [&] { return finishing || (stop_requested && !woken); });
    if (finishing) break;
    const Clock::time_point now = Clock::now();
    if (!stop_requested && now >= deadline) {
      lock.unlock();
      self.request_stop();
      lock.lock();
      continue;
    }
    if (now >= next_tick) {
      const Sample current{now, sum()};
      lock.unlock();
      report(previous, current, false);
      lock.lock();
      previous = current;
      // Ticks missed while the machine was too busy are skipped, not
      // replayed in a burst.
      while (next_tick <= now)
        next_tick += interval;
    }
  }
}

void Frame::Impl::report(const Sample& previous, const Sample& current, bool final) {
  const double dt = std::max(seconds_between(previous.at, current.at), 1e-9);
  const StatsTotals& t = current.totals;
  const StatsTotals& p = previous.totals;
  const std::uint64_t online = self.online();
  platform::set_console_title("OnLine: " + std::to_string(online));
  if (!options.quiet && !final) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "[%8.1fs] online %llu peak %llu accepted %llu req/s %.0f in %.2f MB/s out "
                  "%.2f MB/s errors %llu",
                  seconds_between(started_at, current.at), static_cast<unsigned long long>(online),
                  static_cast<unsigned long long>(self.peak_online()),
                  static_cast<unsigned long long>(t.accepted),
                  static_cast<double>(t.requests - p.requests) / dt,
                  static_cast<double>(t.bytes_in - p.bytes_in) / 1e6 / dt,
                  static_cast<double>(t.bytes_out - p.bytes_out) / 1e6 / dt,
                  static_cast<unsigned long long>(t.errors_total()));
    std::string text = line;
    if (platform::stderr_is_terminal()) {
      // Rewritten in place; padded so that a shorter line hides a longer one.
      const std::size_t width = text.size();
      if (live_line_width > width) text.append(live_line_width - width, ' ');
      live_line_width = width;
      std::fprintf(stderr, "\r%s", text.c_str());
      live_line_open = true;
    } else {
      std::fprintf(stderr, "%s\n", text.c_str());
    }
    std::fflush(stderr);
  }
  if (csv_enabled) write_csv_row(previous, current, final, platform::sample_process());
}

void Frame::Impl::write_csv_row(const Sample& previous, const Sample& current, bool final,
                                const platform::ProcessStats& process) {
  const double dt = std::max(seconds_between(previous.at, current.at), 1e-9);
  const StatsTotals& t = current.totals;
  const StatsTotals& p = previous.totals;
  std::vector<std::string> row{WSB_VERSION,
                               model,
                               std::string(proto::name(options.protocol)),
                               platform::runtime_description(),
                               std::to_string(options.threads),
                               fixed(seconds_between(started_at, current.at), 3),
                               final ? "1" : "0",
                               std::to_string(self.online()),
                               std::to_string(self.peak_online()),
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
    report::append_row(options.stats_csv, csv_header(), row);
  } catch (const std::exception& e) {
    // Disk full, file replaced... Say it once, stop writing, fail the run.
    std::fprintf(stderr, "\n%s: --stats-csv: %s; no more rows are written\n", model.c_str(),
                 e.what());
    std::lock_guard lock(mutex);
    csv_enabled = false;
    exit_code = 1;
  }
}

void Frame::Impl::stop_threads() {
  {
    std::lock_guard lock(mutex);
    finishing = true;
  }
  changed.notify_all();
  if (reporter.joinable()) reporter.join();
  // Not under the mutex: the stdin callback runs under the reader's own lock
  // and takes this mutex (through request_stop), so holding both in the other
  // order here could deadlock.
  stdin_lines.reset();
}

Frame::Frame(std::string_view model_name, std::string_view description, int default_threads)
    : impl_(std::make_unique<Impl>(*this)) {
  Impl& m = *impl_;
  m.model = model_name;
  m.default_threads = default_threads > 0
                          ? default_threads
                          : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  Options& o = m.options;
  CLI::App& app = m.app;
  app.name("server-" + m.model);
  app.description(std::string(description));
  app.footer(
      "Durations take units: 500ms, 3s, 2m, 1h, 250us (a bare number is seconds).\n"
      "When listening, one line goes to stdout: listening <addr>:<port> model=<name> "
      "protocol=<p>.\n"
      "Stop with Ctrl-C (twice to exit at once), SIGTERM, or the line //q on stdin.");
  app.failure_message(CLI::FailureMessage::help);
  app.set_version_flag("--version",
                       std::string("server-") + m.model + " (wsbench " + WSB_VERSION + ")");

  app.add_option("--bind", o.bind, "Address to listen on: an IPv4 or IPv6 literal, or localhost")
      ->capture_default_str();
  app.add_option("--port", o.port, "TCP port; 0 lets the system choose one (see the ready line)")
      ->capture_default_str();
  app.add_option("--protocol", m.protocol_text, "Wire protocol: upper, echo or http")
      ->check(CLI::IsMember({"upper", "echo", "http"}))
      ->capture_default_str();
  app.add_option("--threads", o.threads,
                 "I/O threads; 0 = the model's default (" + std::to_string(m.default_threads) + ")")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  m.max_connections_option =
      app.add_option("--max-connections", o.max_connections,
                     "Connections served at once; more are accepted and closed at once "
                     "(counted as refused). 0 = unlimited")
          ->check(CLI::Range(0, INT_MAX))
          ->capture_default_str();
  app.add_option("--max-conns-per-ip", o.max_conns_per_ip,
                 "Connections one client address may have online; one more is closed at once "
                 "and bans the address for --ban-time (counted as banned). 0 = unlimited")
      ->check(CLI::Range(0, INT_MAX))
      ->capture_default_str();
  app.add_option("--ban-time", m.ban_time_text,
                 "How long an address that exceeded --max-conns-per-ip is refused")
      ->check(duration_check())
      ->capture_default_str();
  app.add_option("--idle-timeout", m.idle_timeout_text,
                 "Close connections that send and receive nothing for this long; 0 = never")
      ->check(duration_check())
      ->capture_default_str();
  app.add_option("--duration", m.duration_text, "Stop after this long; 0 = run until stopped")
      ->check(duration_check())
      ->capture_default_str();
  app.add_option("--stats-interval", m.stats_interval_text,
                 "Period of the live statistics line and the --stats-csv rows (at least 10ms)")
      ->check(duration_check())
      ->capture_default_str();
  app.add_option("--stats-csv", o.stats_csv,
                 "Append one statistics row per interval (and a final one) to this CSV file");
  app.add_flag("--quiet", o.quiet, "No live statistics line on stderr");
  m.max_pending_text = std::to_string(o.max_pending_output);
  app.add_option("--max-pending", m.max_pending_text,
                 "Stop reading a connection while more reply bytes than this wait to be sent "
                 "(backpressure); takes k, M, G suffixes")
      ->type_name("BYTES")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            return platform::parse_size(text) ? std::string() : "not a byte count: " + text;
          },
          "BYTES"))
      ->capture_default_str();
  app.add_option("--backlog", o.backlog, "Listen backlog (default: the system maximum, SOMAXCONN)")
      ->check(CLI::Range(1, INT_MAX))
      ->capture_default_str();
  app.add_option("--stall", m.stall_text,
                 "Test aid: the serving thread sleeps MS milliseconds every EVERY_S seconds "
                 "(e.g. 50/2), so that the load generator's coordinated-omission correction "
                 "can be checked")
      ->type_name("MS/EVERY_S")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            return parse_stall(text) ? std::string()
                                     : "not MS/EVERY_S with 0 < MS < EVERY_S: " + text;
          },
          "MS/EVERY_S"));

  // Before any other thread exists (see frame.hpp): threads created later
  // inherit the blocked signal mask.
  m.interrupts = std::make_unique<platform::InterruptWatcher>(
      [this](int count) { impl_->on_interrupt(count); });
}

Frame::~Frame() {
  impl_->stop_threads();
  impl_->interrupts.reset();
}

CLI::App& Frame::cli() {
  return impl_->app;
}

void Frame::set_default_max_connections(int n) {
  impl_->default_max_connections = std::max(0, n);
  impl_->max_connections_option->description(
      "Connections served at once; more are accepted and closed at once (counted as refused). "
      "0 = the model's default (" +
      (n > 0 ? std::to_string(n) : std::string("unlimited")) + ")");
}

std::optional<int> Frame::parse(int argc, const char* const* argv) {
  Impl& m = *impl_;
  Options& o = m.options;
  try {
    m.app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version print to stdout and exit 0; usage errors print the
    // message and the usage to stderr and exit 2, the convention of Unix tools.
    const int code = m.app.exit(e, std::cout, std::cerr);
    return code == 0 ? 0 : 2;
  }
  const auto usage_error = [&](const std::string& message) {
    std::cerr << message << "\n" << m.app.help() << std::flush;
    return 2;
  };
  o.protocol = proto::parse_protocol(m.protocol_text).value_or(proto::Protocol::upper);
  o.idle_timeout = platform::parse_duration(m.idle_timeout_text).value_or(o.idle_timeout);
  o.ban_time = platform::parse_duration(m.ban_time_text).value_or(o.ban_time);
  o.duration = platform::parse_duration(m.duration_text).value_or(o.duration);
  o.stats_interval = platform::parse_duration(m.stats_interval_text).value_or(o.stats_interval);
  if (o.stats_interval < std::chrono::milliseconds(10)) {
    return usage_error("--stats-interval: at least 10ms");
  }
  const std::uint64_t max_pending = platform::parse_size(m.max_pending_text).value_or(0);
  if (max_pending > SIZE_MAX) return usage_error("--max-pending: too large for this platform");
  o.max_pending_output = static_cast<std::size_t>(max_pending);
  if (!m.stall_text.empty()) o.stall = parse_stall(m.stall_text);
  if (o.threads == 0) o.threads = m.default_threads;
  if (o.max_connections == 0) o.max_connections = m.default_max_connections;
  if (!net::parse_endpoint(o.bind, o.port)) {
    return usage_error("--bind: " + o.bind +
                       " is not an IPv4 or IPv6 address (names other than localhost are not "
                       "resolved)");
  }
  if (!o.stats_csv.empty()) {
    const std::string problem = check_csv_file(o.stats_csv);
    if (!problem.empty()) {
      std::cerr << m.model << ": " << problem << std::endl;
      return 1;
    }
    m.csv_enabled = true;
  }
  return std::nullopt;
}

const Options& Frame::options() const noexcept {
  return impl_->options;
}
std::string_view Frame::model_name() const noexcept {
  return impl_->model;
}

net::socket_t Frame::open_listener(net::ListenerFlags flags) {
  Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  // Later listeners (SO_REUSEPORT, one per thread) bind the port the first got.
  const std::uint16_t port = m.listen_endpoint ? m.listen_endpoint->port() : m.options.port;
  const auto endpoint = net::parse_endpoint(m.options.bind, port);
  if (!endpoint) {
    throw net::NetError(0, "--bind " + m.options.bind + " is not an IPv4 or IPv6 address");
  }
  // The first of several SO_REUSEPORT listeners must not join a port that
  // another process holds (net::refuse_busy_port explains why).
  if (flags.reuse_port && !m.listen_endpoint) net::refuse_busy_port(*endpoint);
  const net::socket_t s = net::open_listener(*endpoint, m.options.backlog, flags);
  if (!m.listen_endpoint) {
    const auto local = net::local_endpoint(s);
    if (!local) {
      const int code = net::last_error();
      net::close_socket(s);
      throw net::NetError(code,
                          "getsockname() on the new listener failed: " + net::error_text(code));
    }
    m.listen_endpoint = *local;
    std::cout << "listening " << net::to_string(*local) << " model=" << m.model
              << " protocol=" << proto::name(m.options.protocol) << std::endl;
  }
  return s;
}

const net::Endpoint& Frame::listen_endpoint() const noexcept {
  static const net::Endpoint none{};
  return impl_->listen_endpoint ? *impl_->listen_endpoint : none;
}

void Frame::start(std::function<void()> wake) {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.mutex);
    if (m.started) throw std::logic_error("Frame::start() called twice");
    m.started = true;
    m.wake = std::move(wake);
    m.started_at = Clock::now();
  }
  m.stdin_lines = std::make_unique<platform::StdinLines>([this](std::string_view line) {
    // Surrounding blanks are forgiven; anything else is not a command.
    const auto first = line.find_first_not_of(" \t");
    const auto last = line.find_last_not_of(" \t");
    if (first != std::string_view::npos && line.substr(first, last - first + 1) == "//q") {
      request_stop();
    }
  });
  m.reporter = std::thread([&m] { m.report_loop(); });
}

void Frame::request_stop() noexcept {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stop_requested = true;
  }
  impl_->changed.notify_all();
}

void Frame::fail(std::string_view message) noexcept {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->exit_code = 1;
    std::fprintf(stderr, "%s: %.*s\n", impl_->model.c_str(), static_cast<int>(message.size()),
                 message.data());
    std::fflush(stderr);
  }
  request_stop();
}

StatsShard& Frame::shard() {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->retired.empty()) {
    StatsShard* reused = impl_->retired.back();
    impl_->retired.pop_back();
    return *reused;
  }
  return impl_->shards.emplace_back();
}

void Frame::retire(StatsShard& shard) noexcept {
  std::lock_guard lock(impl_->mutex);
  try {
    impl_->retired.push_back(&shard);
  } catch (...) {
    // Out of memory: the shard is simply not reused.
  }
}

bool Frame::admit(StatsShard& shard) noexcept {
  const int limit = impl_->options.max_connections;
  const std::uint64_t now_online = online_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (limit > 0 && now_online > static_cast<std::uint64_t>(limit)) {
    online_.fetch_sub(1, std::memory_order_relaxed);
    shard.error(ErrorClass::refused);
    return false;
  }
  shard.accepted();
  std::uint64_t peak = peak_.load(std::memory_order_relaxed);
  while (now_online > peak &&
         !peak_.compare_exchange_weak(peak, now_online, std::memory_order_relaxed)) {
  }
  return true;
}

void Frame::release(StatsShard& shard) noexcept {
  online_.fetch_sub(1, std::memory_order_relaxed);
  shard.closed();
}

namespace {

// The part of a peer address that identifies the client: its IP, without
// the port. Empty when the address cannot be read.
std::string address_key(net::socket_t s) {
  const auto peer = net::peer_endpoint(s);
  return peer ? net::host_to_string(*peer) : std::string();
}

}  // namespace

bool Frame::admit(StatsShard& shard, net::socket_t s) noexcept {
  Impl& m = *impl_;
  const int per_ip = m.options.max_conns_per_ip;
  if (per_ip <= 0) return admit(shard);
  try {
    // A peer that already reset has no address any more; it is admitted
    // without a per-address count and fails on its first receive.
    const std::string key = address_key(s);
    if (key.empty()) return admit(shard);
    const auto now = Clock::now();
    std::lock_guard lock(m.mutex);
    Impl::PeerAddress& peer = m.peers[key];
    if (now < peer.banned_until || peer.online >= per_ip) {
      if (now >= peer.banned_until) {
        peer.banned_until =
            now + std::chrono::duration_cast<Clock::duration>(m.options.ban_time);
      }
      if (peer.online == 0 && now >= peer.banned_until) m.peers.erase(key);
      shard.error(ErrorClass::banned);
      return false;
    }
    if (!admit(shard)) {
      if (peer.online == 0 && now >= peer.banned_until) m.peers.erase(key);
      return false;
    }
    ++peer.online;
    m.peer_of_socket[s] = key;
    return true;
  } catch (...) {
    // Out of memory for the tables: refuse rather than serve unchecked.
    shard.error(ErrorClass::refused);
    return false;
  }
}

void Frame::release(StatsShard& shard, net::socket_t s) noexcept {
  Impl& m = *impl_;
  if (m.options.max_conns_per_ip > 0) {
    std::lock_guard lock(m.mutex);
    const auto it = m.peer_of_socket.find(s);
    if (it != m.peer_of_socket.end()) {
      const auto peer = m.peers.find(it->second);
      if (peer != m.peers.end() && --peer->second.online == 0 &&
          Clock::now() >= peer->second.banned_until) {
        m.peers.erase(peer);
      }
      m.peer_of_socket.erase(it);
    }
  }
  release(shard);
}

StatsTotals Frame::totals() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->sum();
}

int Frame::finish() {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.mutex);
    if (m.finished) return m.exit_code;
  }
  // A model that ends on its own (it failed, or it serves a fixed amount)
  // still counts as stopped; wake is not called any more once finishing.
  stopping_.store(true);
  m.stop_threads();
  const Clock::time_point now = Clock::now();
  const platform::ProcessStats process = platform::sample_process();
  StatsTotals totals;
  {
    std::lock_guard lock(m.mutex);
    totals = m.sum();
    m.finished = true;
  }
  if (m.live_line_open) {
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }
  if (m.csv_enabled) m.write_csv_row({m.started_at, {}}, {now, totals}, true, process);

  const Options& o = m.options;
  const double elapsed = seconds_between(m.started_at, now);
  std::ostringstream out;
  out << "model: " << m.model << "\n"
      << "protocol: " << proto::name(o.protocol) << "\n"
      << "version: " << WSB_VERSION << "\n"
      << "platform: " << platform::runtime_description() << "\n"
      << "listen: " << (m.listen_endpoint ? net::to_string(*m.listen_endpoint) : "-") << "\n"
      << "threads: " << o.threads << "\n"
      << "duration_s: " << fixed(elapsed, 3) << "\n"
      << "accepted: " << totals.accepted << "\n"
      << "closed: " << totals.closed << "\n"
      << "peak_concurrent: " << peak_online() << "\n"
      << "online_at_exit: " << online() << "\n"
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
  int code;
  {
    std::lock_guard lock(m.mutex);
    code = m.exit_code;
  }
  out << "exit_code: " << code << "\n";
  std::cout << out.str() << std::flush;
  // Last: on Windows a CTRL_CLOSE_EVENT handler waits for this before the
  // system ends the process, so the statistics above get out first.
  m.interrupts.reset();
  return code;
}

int run_guarded(const std::function<int()>& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "error: unknown exception\n");
  }
  std::fflush(stderr);
  return 1;
}

}  // namespace wsb::server
