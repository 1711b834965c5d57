#include "server/frame.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "platform/interrupt.hpp"
#include "platform/stdin_lines.hpp"
#include "server/command_line.hpp"
#include "server/stats_reporter.hpp"

namespace wsb::server {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

// The Frame's own job: the process around the model (the socket library,
// interrupts, stdin), the stop request and its wake-up, the shards, and the
// reporter thread that drives the StatsReporter and enforces --duration.
// The command line and the statistics' output are the CommandLine's and the
// StatsReporter's; admission is the Admission's (Frame::admission_).
struct Frame::Impl {
  Impl(Frame& frame, std::string_view model_name, std::string_view description, int default_threads,
       const Admission& admission, const chat::Hub& hub)
      : self(frame),
        model(model_name),
        cli(model_name, description, default_threads),
        reporter(model_name, cli.options(), admission, hub) {}

  Frame& self;
  std::string model;
  CommandLine cli;
  StatsReporter reporter;

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
  std::thread reporter_thread;
  std::deque<StatsShard> shards;  // a deque never moves its elements
  std::vector<StatsShard*> retired;
  std::optional<net::Endpoint> listen_endpoint;

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

  // Called with the mutex held.
  StatsTotals sum() const {
    StatsTotals totals;
    for (const StatsShard& shard : shards)
      shard.add_to(totals);
    return totals;
  }

  void report_loop();
  void stop_threads();
};

void Frame::Impl::report_loop() {
  std::unique_lock lock(mutex);
  const Options& options = cli.options();
  const Clock::time_point started_at = reporter.started_at();
  const auto interval = std::chrono::duration_cast<Clock::duration>(options.stats_interval);
  const Clock::time_point deadline =
      options.duration.count() > 0
          ? started_at + std::chrono::duration_cast<Clock::duration>(options.duration)
          : Clock::time_point::max();
  Clock::time_point next_tick = started_at + interval;
  StatsSample previous{started_at, {}};
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
      const StatsSample current{now, sum()};
      lock.unlock();
      reporter.interval(previous, current);
      lock.lock();
      previous = current;
      // Ticks missed while the machine was too busy are skipped, not
      // replayed in a burst.
      while (next_tick <= now)
        next_tick += interval;
    }
  }
}

void Frame::Impl::stop_threads() {
  {
    std::lock_guard lock(mutex);
    finishing = true;
  }
  changed.notify_all();
  if (reporter_thread.joinable()) reporter_thread.join();
  // Not under the mutex: the stdin callback runs under the reader's own lock
  // and takes this mutex (through request_stop), so holding both in the other
  // order here could deadlock.
  stdin_lines.reset();
}

Frame::Frame(std::string_view model_name, std::string_view description, int default_threads)
    : impl_(std::make_unique<Impl>(*this, model_name, description, default_threads, admission_,
                                   hub_)),
      admission_(impl_->cli.options()),
      connection_log_(impl_->cli.options()) {
  // Before any other thread exists (see frame.hpp): threads created later
  // inherit the blocked signal mask.
  impl_->interrupts = std::make_unique<platform::InterruptWatcher>(
      [this](int count) { impl_->on_interrupt(count); });
}

Frame::~Frame() {
  impl_->stop_threads();
  impl_->interrupts.reset();
}

CLI::App& Frame::cli() {
  return impl_->cli.app();
}

void Frame::set_default_max_connections(int n) {
  impl_->cli.set_default_max_connections(n);
}

std::optional<int> Frame::parse(int argc, const char* const* argv) {
  if (const auto exit_code = impl_->cli.parse(argc, argv)) return exit_code;
  const std::string problem = impl_->reporter.enable_csv();
  if (!problem.empty()) {
    std::cerr << impl_->model << ": " << problem << std::endl;
    return 1;
  }
  return std::nullopt;
}

const Options& Frame::options() const noexcept {
  return impl_->cli.options();
}
std::string_view Frame::model_name() const noexcept {
  return impl_->model;
}

net::socket_t Frame::open_listener(net::ListenerFlags flags) {
  Impl& m = *impl_;
  const Options& o = m.cli.options();
  std::lock_guard lock(m.mutex);
  // Later listeners (SO_REUSEPORT, one per thread) bind the port the first got.
  const std::uint16_t port = m.listen_endpoint ? m.listen_endpoint->port() : o.port;
  const auto endpoint = net::parse_endpoint(o.bind, port);
  if (!endpoint) {
    throw net::NetError(0, "--bind " + o.bind + " is not an IPv4 or IPv6 address");
  }
  // The first of several SO_REUSEPORT listeners must not join a port that
  // another process holds (net::refuse_busy_port explains why).
  if (flags.reuse_port && !m.listen_endpoint) net::refuse_busy_port(*endpoint);
  const net::socket_t s = net::open_listener(*endpoint, o.backlog, flags);
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
              << " protocol=" << proto::name(o.protocol) << std::endl;
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
    m.reporter.set_started_at(Clock::now());
  }
  m.stdin_lines = std::make_unique<platform::StdinLines>([this](std::string_view line) {
    // Surrounding blanks are forgiven; anything else is not a command.
    const auto first = line.find_first_not_of(" \t");
    const auto last = line.find_last_not_of(" \t");
    if (first != std::string_view::npos && line.substr(first, last - first + 1) == "//q") {
      request_stop();
    }
  });
  m.reporter_thread = std::thread([&m] { m.report_loop(); });
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

StatsTotals Frame::totals() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->sum();
}

std::atomic<std::uint64_t>& Frame::model_counter(std::string_view name) {
  return impl_->reporter.model_counter(name);
}

void Frame::model_fact(std::string_view name, std::string value) {
  impl_->reporter.model_fact(name, std::move(value));
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
  StatsSample end{Clock::now(), {}};
  int exit_code;
  {
    std::lock_guard lock(m.mutex);
    end.totals = m.sum();
    exit_code = m.exit_code;
  }
  exit_code = m.reporter.finish(end, m.listen_endpoint, exit_code);
  {
    std::lock_guard lock(m.mutex);
    m.exit_code = exit_code;
    m.finished = true;
  }
  // Last: on Windows a CTRL_CLOSE_EVENT handler waits for this before the
  // system ends the process, so the statistics above get out first.
  m.interrupts.reset();
  return exit_code;
}

bool Frame::admit(StatsShard& shard, net::socket_t s) noexcept {
  if (!connection_log_.enabled()) return admission_.admit(shard, s);
  std::string peer;
  try {
    peer = ConnectionLog::peer_of(s);
  } catch (...) {
    // Out of memory for the text: admit as if no log was asked for.
    return admission_.admit(shard, s);
  }
  ErrorClass refusal{};
  if (!admission_.admit(shard, s, refusal)) {
    connection_log_.refused(peer, refusal);
    return false;
  }
  connection_log_.accepted(s, peer);
  return true;
}

void Frame::release(StatsShard& shard, net::socket_t s, const Connection* conn) noexcept {
  if (connection_log_.enabled()) connection_log_.closed(s, conn);
  admission_.release(shard, s);
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

int run_model(int argc, const char* const* argv, const ModelInfo& model,
              const std::function<void(Frame&)>& configure,
              const std::function<int(Frame&)>& serve) noexcept {
  return run_guarded([&] {
    Frame frame(model.name, model.description, model.default_threads);
    configure(frame);
    if (auto exit_code = frame.parse(argc, argv)) return *exit_code;
    if (model.one_thread_reason != nullptr && frame.options().threads != 1) {
      std::fprintf(stderr, "%s: --threads must be 1: %s\n", std::string(model.name).c_str(),
                   model.one_thread_reason);
      return 2;
    }
    return serve(frame);
  });
}

int run_model(int argc, const char* const* argv, const ModelInfo& model,
              const std::function<int(Frame&)>& serve) noexcept {
  return run_model(
      argc, argv, model, [](Frame&) {}, serve);
}

}  // namespace wsb::server
