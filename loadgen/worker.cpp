#include "worker.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <optional>
#include <queue>
#include <utility>

#include "schedule.hpp"
#include "sys.hpp"

namespace wsb::loadgen {

namespace {

// When a request was meant to go out and when it did (ns since the epoch).
// In closed loop both are the send time.
struct Stamp {
  std::int64_t intended = 0;
  std::int64_t sent = 0;
};

// A FIFO of stamps in a power-of-two ring that grows by doubling and never
// shrinks: a connection's outstanding requests, oldest first. It allocates
// nothing until the first push, so held idle connections cost no memory here.
class StampFifo {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  const Stamp& front() const noexcept { return items_[head_]; }
  void pop() noexcept {
    head_ = (head_ + 1) & (items_.size() - 1);
    --size_;
  }
  void pop_back() noexcept { --size_; }
  void push(const Stamp& s) {
    if (size_ == items_.size()) grow();
    items_[(head_ + size_) & (items_.size() - 1)] = s;
    ++size_;
  }
  // Sets the send time of the newest n stamps (and their intended time too
  // when `both`, as in closed loop where the two are the same).
  void restamp_newest(std::size_t n, std::int64_t sent, bool both) noexcept {
    n = std::min(n, size_);
    for (std::size_t i = size_ - n; i < size_; ++i) {
      Stamp& s = items_[(head_ + i) & (items_.size() - 1)];
      s.sent = sent;
      if (both) s.intended = sent;
    }
  }
  void clear() noexcept { head_ = size_ = 0; }

 private:
  void grow() {
    std::vector<Stamp> bigger(items_.empty() ? 2 : items_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i)
      bigger[i] = items_[(head_ + i) & (items_.size() - 1)];
    items_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<Stamp> items_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// The longest a worker sleeps in poll() with nothing scheduled: the bound on
// how late it notices a phase change if a wake() were ever lost.
constexpr std::int64_t kMaxWaitNs = 100'000'000;

// Connects started per loop turn at most. Between two batches the worker
// polls, so that connections are reported (and their connect time taken)
// while more are being opened: a burst of thousands of connects in one turn
// would make every connect time as long as the whole burst, and would fill
// the server's listen backlog faster than it can accept.
constexpr int kConnectsPerTurn = 64;

// Spins that end without a reply before the worker stops spinning for a
// while, and for how many waits (Worker::wait_for_io).
constexpr int kSpinMisses = 4;
constexpr int kWaitsWithoutSpin = 100;

// chat: how often a logged-in user whose peers are not all logged in yet
// looks again (Ledger::all_online).
constexpr std::int64_t kLoginPollNs = 1'000'000;

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// chat: records what a worker's users receive. `now` is set before each
// feed, so every delivery of one receive is timed at the same instant, as
// the responses are.
struct DeliveryRecorder final : proto::chat::DeliverySink {
  WorkerRecorder* recorder = nullptr;
  std::int64_t now = 0;  // steady-clock ns
  void delivered(std::int64_t sent_ns) noexcept override {
    recorder->record(Series::delivery, now - sent_ns);
    recorder->add(Count::deliveries, 1);
  }
  void duplicated() noexcept override { recorder->error(ErrorKind::duplicated); }
  void reordered() noexcept override { recorder->error(ErrorKind::reordered); }
};

}  // namespace

enum class Worker::TimerKind : std::uint8_t {
  none,
  reconnect,        // back-off after a failed connect is over: queue a connect
  connect_timeout,  // --connect-timeout of a pending connect
  think,            // --think pause after a response is over: send again
  schedule,         // open loop: the next request's intended time
};

struct Worker::Conn {
  enum class St : std::uint8_t { idle, queued, connecting, open };

  std::unique_ptr<proto::ClientDriver> driver;
  StampFifo stamps;                  // outstanding requests, oldest first
  std::int64_t connect_started = 0;  // ns since the epoch
  std::int64_t timer = 0;            // when the pending timer fires
  std::uint64_t next_k = 0;          // open loop: schedule index of the next request
  std::uint32_t sent_here = 0;       // requests on the current connection (churn)
  std::uint32_t done_here = 0;       // responses on the current connection (churn)
  std::uint32_t unsent = 0;          // requests written, not yet handed over (State::unsent)
  std::uint16_t failures = 0;        // consecutive connect failures (back-off)
  TimerKind timer_kind = TimerKind::none;
  St st = St::idle;
  bool connected_once = false;
};

struct Worker::State {
  struct Timer {
    std::int64_t when;
    ConnId id;
    bool operator>(const Timer& o) const noexcept { return when > o.when; }
  };
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;
  std::deque<ConnId> connect_queue;
  // Connections with requests written in this loop turn that the engine
  // hands to the kernel in the next poll() (Engine::sends_in_poll); each
  // counts them in Conn::unsent.
  std::vector<ConnId> unsent;
  ConnectPacer pacer{0.0, 0};
  std::optional<OpenSchedule> schedule;
  DeliveryRecorder deliveries;       // chat only
  std::int64_t epoch_steady_ns = 0;  // the epoch on the steady clock (chat send times)
  std::uint64_t outstanding = 0;     // requests outstanding on all connections
  std::uint64_t measured_sent = 0;   // requests written since the measure phase began
  std::uint32_t connected_once = 0;
  std::int64_t scan_period = 0;
  std::int64_t next_scan = 0;
  std::int64_t pipeline = 1;
  int spin_misses = 0;         // spins in a row that ended without a reply
  int waits_without_spin = 0;  // after kSpinMisses of them: waits left that sleep at once
  bool measuring = false;
  bool draining = false;
};

Worker::Worker(const WorkerSetup& setup)
    : setup_(setup),
      options_(*setup.options),
      control_(setup.control),
      conns_(setup.connections),
      state_(std::make_unique<State>()) {
  State& s = *state_;
  const double workers = static_cast<double>(setup.workers);
  // Worker i of n gets 1/n of the connect rate, its grid shifted by i/rate so
  // that the workers' connects interleave instead of coinciding.
  s.pacer = ConnectPacer(options_.connect_rate / workers,
                         options_.connect_rate > 0
                             ? static_cast<std::int64_t>(1e9 * static_cast<double>(setup.index) /
                                                         options_.connect_rate)
                             : 0);
  if (options_.mode == Mode::open) {
    // A shard follows the whole run's schedule for its own connections
    // (shard.hpp, apply_shard()); total_connections is 0 when no command
    // line filled it in (the unit tests' Options).
    const DistributedOptions& d = options_.distributed;
    if (d.total_connections > 0) {
      s.schedule.emplace(d.total_rate, d.total_connections);
    } else {
      s.schedule.emplace(options_.rate, options_.connections);
    }
  }
  // Request timeouts are found by a scan of the connections rather than one
  // timer per request; an eighth of the timeout keeps the error within 12.5%.
  s.scan_period = std::clamp<std::int64_t>(options_.timeout.count() / 8, 1'000'000, 100'000'000);
  s.pipeline = options_.pipeline;
  for (std::uint32_t i = 0; i < setup.connections; ++i) {
    conns_[i].driver =
        setup.factory->make(options_.distributed.first_connection + setup.first_connection + i);
  }
  ledger_ = setup.factory->chat_ledger().get();
  if (ledger_ != nullptr) {
    s.deliveries.recorder = &recorder_;
    for (ConnId id = 0; id < setup.connections; ++id)
      chat_driver(id).set_sink(&s.deliveries);
  }
}

proto::chat::ChatDriver& Worker::chat_driver(ConnId id) noexcept {
  return static_cast<proto::chat::ChatDriver&>(*conns_[id].driver);
}

std::uint64_t Worker::first_index_due_from(std::uint64_t g, std::int64_t now) const noexcept {
  const OpenSchedule& schedule = *state_->schedule;
  const double per_connection = schedule.connection_interval_ns();
  const double start = static_cast<double>(schedule.intended_ns(g, 0));
  const auto at = static_cast<double>(now);
  std::uint64_t k = at <= start ? 0 : static_cast<std::uint64_t>((at - start) / per_connection);
  // The division may land one short or one past by rounding.
  while (k > 0 && schedule.intended_ns(g, k - 1) >= now)
    --k;
  while (schedule.intended_ns(g, k) < now)
    ++k;
  return k;
}

Worker::~Worker() {
  if (thread_.joinable()) thread_.join();
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::wake() noexcept {
  std::lock_guard lock(engine_mutex_);
  if (engine_) engine_->wake();
}

std::int64_t Worker::now_ns() const noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - control_->epoch)
      .count();
}

void Worker::run() {
  tune_worker_thread();
  try {
    EngineConfig config;
    config.capacity = setup_.connections;
    // Held connections carry no traffic: the IOCP engine then gives them no
    // receive buffer each (zero-byte receives).
    config.idle_connections = options_.mode == Mode::hold;
    auto engine = setup_.engine->make(config, *this);
    {
      std::lock_guard lock(engine_mutex_);
      engine_ = std::move(engine);
    }
    loop();
  } catch (const std::exception& e) {
    failure_ = std::string("worker ") + std::to_string(setup_.index) + ": " + e.what();
  }
  std::unique_ptr<Engine> doomed;
  {
    std::lock_guard lock(engine_mutex_);
    doomed = std::move(engine_);
  }
  // Destroyed outside the lock: the destructor may wait for the kernel to
  // release buffers, and wake() must not wait for that.
  doomed.reset();
  open_.store(0, std::memory_order_relaxed);
  finished_.store(true, std::memory_order_release);
}

bool Worker::may_send() noexcept {
  State& s = *state_;
  if (s.draining) return false;
  if (!setup_.request_quota || !s.measuring) return true;
  return s.measured_sent < *setup_.request_quota;
}

void Worker::loop() {
  State& s = *state_;
  // Without a warmup the whole run is measured.
  s.measuring = phase() == Phase::measure;
  bool ready_phase = phase() == Phase::ready;
  // The epoch is set when the run starts, after the workers were made.
  s.epoch_steady_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(control_->epoch.time_since_epoch())
          .count();
  for (ConnId id = 0; id < setup_.connections; ++id) {
    queue_connect(id);
  }

  for (;;) {
    const std::int64_t now = now_ns();
    const Phase ph = phase();
    if (ph == Phase::stop) break;
    if (ready_phase && ph != Phase::ready) {
      // --start-at: the start time has come; every connection opened so far
      // sends its first requests now (later ones do when they connect).
      ready_phase = false;
      s.measuring = ph == Phase::measure;
      for (ConnId id = 0; id < setup_.connections; ++id) {
        if (options_.mode != Mode::hold) send_requests(id, now);
      }
    }
    // Hand an interval over first: the warmup ends for this worker exactly
    // at the hand-over the reporter named, before this turn sends anything.
    recorder_.service();
    if (!s.measuring) {
      const std::uint64_t from = measure_from_.load(std::memory_order_acquire);
      s.measuring = from != 0 && recorder_.served() >= from;
    }
    if (ph == Phase::drain) {
      if (!s.draining) {
        s.draining = true;
        for (const ConnId id : s.connect_queue) {
          conns_[id].st = Conn::St::idle;
        }
        s.connect_queue.clear();
      }
      // chat: a message's deliveries may still be on their way after its
      // ACK, to any worker's users, so the drain also waits for the ledger.
      const bool settled = ledger_ == nullptr || ledger_->settled();
      if ((s.outstanding == 0 && settled) ||
          now >= control_->drain_deadline_ns.load(std::memory_order_relaxed)) {
        break;
      }
    }
    if (setup_.request_quota && s.measuring && s.measured_sent >= *setup_.request_quota &&
        s.outstanding == 0 && !quota_done_.load(std::memory_order_relaxed)) {
      quota_done_.store(true, std::memory_order_release);
    }

    start_connects(now);
    run_timers(now);
    if (now >= s.next_scan) {
      scan_timeouts(now);
      s.next_scan = now + s.scan_period;
    }

    std::int64_t deadline = std::min(now + kMaxWaitNs, s.next_scan);
    if (!s.timers.empty()) deadline = std::min(deadline, s.timers.top().when);
    if (!s.connect_queue.empty()) {
      // Unlimited: the next batch right after this poll; paced: at the next permit.
      deadline = std::min(deadline, s.pacer.unlimited() ? now : s.pacer.next_ns());
    }
    if (s.draining) {
      deadline = std::min(deadline, control_->drain_deadline_ns.load(std::memory_order_relaxed));
      // Other workers' deliveries settle the ledger without waking this one.
      if (ledger_ != nullptr) deadline = std::min(deadline, now + kLoginPollNs);
    }
    stamp_unsent();
    wait_for_io(control_->epoch + std::chrono::nanoseconds(std::max(deadline, now)));
  }
  unfinished_ = s.outstanding;
  close_all();
  recorder_.service();
}

// A worker that sleeps in poll() while its requests are out must be woken by
// the reply, and on the same machine the server pays for that wake-up: the
// reply's send runs the wake-up of the sleeping thread, often with an
// inter-processor interrupt, on the server's core. A quick worker sleeps
// after nearly every reply; against nginx (1 worker, 10 connections) loadgen
// slept 17,000-24,000 times a second where wrk, slower per reply and so
// rarely idle, slept 25-3,000 times, and nginx then served 2-3 % fewer
// requests to loadgen (111-112 vs 114.6 K/s, medians of 9 rounds, nginx at
// 99 % of its core either way).
//
// So while requests are outstanding the worker first polls without waiting,
// for up to --spin (default 50 us, about two loopback round trips here), and
// sleeps only when nothing came in that time. Between polls it yields the
// processor: where workers and server threads outnumber the cores, a plain
// spin took the server's CPU time (server-epoll --threads 2 with --threads 2
// -c 4 fell from 104-106 to 67-74 K requests/s); with the yield it ran at
// 93-121 K.
//
// A spin only pays when replies come within it. Against a server that
// answers in a millisecond (server-iocp under Wine: 9.0-9.1 instead of
// 9.6-9.8 K requests/s with -c 10) every spin is CPU taken from the server
// for nothing, so after kSpinMisses full-length spins in a row that ended
// empty the worker sleeps at once for the next kWaitsWithoutSpin waits, then
// tries again. A spin cut short by the worker's own deadline (an open-loop
// send, a timer) is not a miss.
void Worker::wait_for_io(Clock::time_point deadline) {
  State& s = *state_;
  if (options_.spin.count() > 0 && s.outstanding > 0) {
    if (s.waits_without_spin > 0) {
      --s.waits_without_spin;
    } else {
      const Clock::time_point full_end = Clock::now() + options_.spin;
      const Clock::time_point spin_end = std::min(deadline, full_end);
      const std::uint64_t seen = events_;
      do {
        engine_->poll(Clock::time_point{});  // a deadline in the past: does not wait
        if (events_ != seen) {
          s.spin_misses = 0;
          return;
        }
        yield_processor();
      } while (Clock::now() < spin_end);
      if (spin_end == full_end && ++s.spin_misses >= kSpinMisses) {
        s.spin_misses = 0;
        s.waits_without_spin = kWaitsWithoutSpin;
      }
    }
  }
  engine_->poll(deadline);
}

// ---- Connecting ---------------------------------------------------------------

void Worker::queue_connect(ConnId id) noexcept {
  Conn& c = conns_[id];
  if (state_->draining || phase() == Phase::stop) {
    c.st = Conn::St::idle;
    return;
  }
  c.st = Conn::St::queued;
  try {
    state_->connect_queue.push_back(id);
  } catch (...) {
    // Out of memory for one deque block: the connection stays idle rather
    // than the worker dying; the run's counters show the missing connection.
    c.st = Conn::St::idle;
  }
}

void Worker::start_connects(std::int64_t now) noexcept {
  State& s = *state_;
  const std::vector<net::Endpoint>& sources = options_.sources;
  int started = 0;
  while (!s.connect_queue.empty() && started < kConnectsPerTurn && s.pacer.try_acquire(now)) {
    const ConnId id = s.connect_queue.front();
    s.connect_queue.pop_front();
    Conn& c = conns_[id];
    c.st = Conn::St::connecting;
    // Each connect is timed from its own start, not from the top of the turn.
    c.connect_started = started == 0 ? now : now_ns();
    recorder_.add(Count::connect_attempts, 1);
    const net::Endpoint* source =
        sources.empty()
            ? nullptr
            : &sources[static_cast<std::size_t>((setup_.first_connection + id) % sources.size())];
    engine_->connect(id, setup_.target, source);
    set_timer(id, c.connect_started + options_.connect_timeout.count(), TimerKind::connect_timeout);
    ++started;
  }
}

void Worker::on_connected(ConnId id, Failure failure, int /*code*/) noexcept {
  ++events_;
  State& s = *state_;
  Conn& c = conns_[id];
  const std::int64_t now = now_ns();
  c.timer_kind = TimerKind::none;
  if (failure != Failure::none) {
    c.st = Conn::St::idle;
    if (failure == Failure::refused)
      control_->last_refused_ns.store(now, std::memory_order_release);
    recorder_.error(failure == Failure::refused     ? ErrorKind::connect_refused
                    : failure == Failure::timed_out ? ErrorKind::connect_timeout
                                                    : ErrorKind::connect_failed);
    if (c.failures < 0xFFFF) ++c.failures;
    if (!s.draining) set_timer(id, now + reconnect_backoff_ns(c.failures), TimerKind::reconnect);
    return;
  }
  c.st = Conn::St::open;
  control_->last_connect_ok_ns.store(now, std::memory_order_release);
  // c.failures is reset by the first response, not here: a connection that
  // is accepted and then dropped at once still counts as failing.
  c.sent_here = c.done_here = 0;
  c.driver->reset();
  c.stamps.clear();
  c.unsent = 0;
  open_.store(open_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  recorder_.add(Count::connects, 1);
  recorder_.record(Series::connect, now - c.connect_started);
  if (!c.connected_once) {
    c.connected_once = true;
    if (++s.connected_once == setup_.connections) {
      all_connected_ns_.store(now, std::memory_order_release);
    }
  }
  if (options_.mode == Mode::hold) return;
  try {
    // What the protocol sends first (chat's LOGIN) is no request: it has no
    // stamp and its answer is no response.
    const std::size_t greeting = c.driver->write_greeting(engine_->output(id));
    if (greeting > 0) {
      recorder_.add(Count::bytes_out, greeting);
      engine_->flush(id);
    }
  } catch (...) {
    connection_failed(id, ErrorKind::io, true);
    return;
  }
  // --start-at: a connection opened before the start time sends its first
  // requests when the time comes (loop()).
  if (phase() != Phase::ready) send_requests(id, now);
}

// ---- Sending ------------------------------------------------------------------

// Writes the requests connection `id` may send now: as many as its window
// (--pipeline) and the run allow while the server is not closing it. The
// workloads differ only in when the next request is due. In closed loop and
// churn it is due at once (churn: up to K on each connection), so its
// intended time is now. In open loop request k is due at its place in the
// schedule; one that is not due yet sets the connection's timer instead.
void Worker::send_requests(ConnId id, std::int64_t now) noexcept {
  State& s = *state_;
  Conn& c = conns_[id];
  if (c.st != Conn::St::open) return;
  const bool open_loop = options_.mode == Mode::open;
  const std::uint64_t g = options_.distributed.first_connection + setup_.first_connection + id;
  const std::int64_t origin = control_->load_start_ns.load(std::memory_order_relaxed);
  ByteBuffer& out = engine_->output(id);
  std::uint64_t n = 0;
  std::uint64_t bytes = 0;
  bool out_of_memory = false;
  try {
    while (c.driver->outstanding() < static_cast<std::size_t>(s.pipeline) && may_send() &&
           !c.driver->server_closing() && c.driver->may_write()) {
      std::int64_t intended = now;
      if (open_loop) {
        // chat: a user's schedule starts when it may first write (the
        // schedule counts from the load's start, `origin`).
        if (ledger_ != nullptr && c.next_k == 0) c.next_k = first_index_due_from(g, now - origin);
        intended = origin + s.schedule->intended_ns(g, c.next_k);
        if (intended > now) {
          set_timer(id, intended, TimerKind::schedule);
          break;
        }
      } else if (options_.churn != 0 && c.sent_here >= options_.churn) {
        break;
      }
      c.stamps.push({intended, now});  // first: a request is never written without its stamp
      if (ledger_ != nullptr) chat_driver(id).set_send_time(s.epoch_steady_ns + intended);
      bytes += c.driver->write_request(out);
      // Only once the request is written: one whose writing failed was never
      // sent, and the open-loop schedule index outlives the connection.
      if (open_loop) {
        ++c.next_k;
      } else {
        ++c.sent_here;
      }
      ++n;
      ++s.outstanding;
      if (s.measuring) ++s.measured_sent;
    }
  } catch (...) {
    out_of_memory = true;
  }
  // chat: a user waiting for its WELCOME or for the others' looks again soon.
  if (!out_of_memory && !c.driver->may_write() && c.timer_kind == TimerKind::none && !s.draining) {
    set_timer(id, now + kLoginPollNs, TimerKind::think);
  }
  finish_sending(id, n, bytes, out_of_memory);
}

// A request's latency runs from its hand-over to the kernel to the arrival
// of its response, as sockperf and wrk measure it: the loop's own work
// between writing a request and sending it is not the server's latency.
// Requests are stamped when written (so that none is ever without a stamp);
// the send time is then moved to the hand-over: here for engines whose
// flush() sends, in stamp_unsent() right before the poll() that submits them
// for the others. In open loop only the send time moves; the corrected
// latency is measured from the intended time regardless.
void Worker::finish_sending(ConnId id, std::uint64_t n, std::uint64_t bytes,
                            bool out_of_memory) noexcept {
  recorder_.add(Count::requests, n);
  recorder_.add(Count::bytes_out, bytes);
  if (out_of_memory) {
    // Growing the stamp ring, the output buffer or the driver's queue of
    // expected responses failed part-way through a request, so the request
    // stream and the expectations may disagree: the connection is dropped
    // (counted as an I/O error) rather than risking false mismatches.
    Conn& c = conns_[id];
    // The stamp of the request whose writing failed goes: it was never counted.
    if (c.stamps.size() > c.driver->outstanding()) c.stamps.pop_back();
    connection_failed(id, ErrorKind::io, true);
    return;
  }
  if (n == 0) return;
  const bool closed_loop = options_.mode != Mode::open;
  if (engine_->sends_in_poll()) {
    Conn& c = conns_[id];
    if (c.unsent == 0) {
      try {
        state_->unsent.push_back(id);
      } catch (...) {
        // Without memory the stamps stay at the write time: a latency a
        // little too long, never too short.
      }
    }
    c.unsent += static_cast<std::uint32_t>(n);
  } else {
    // n requests were written in this turn: at most the pipeline depth.
    conns_[id].stamps.restamp_newest(static_cast<std::size_t>(n), now_ns(), closed_loop);
  }
  engine_->flush(id);
}

void Worker::stamp_unsent() noexcept {
  State& s = *state_;
  if (s.unsent.empty()) return;
  const std::int64_t t = now_ns();
  const bool closed_loop = options_.mode != Mode::open;
  for (const ConnId id : s.unsent) {
    // Responses to them cannot have arrived (they were not sent), so they
    // are the newest stamps; a connection that failed since has none left
    // (connection_lost() cleared them and its count).
    Conn& c = conns_[id];
    c.stamps.restamp_newest(c.unsent, t, closed_loop);
    c.unsent = 0;
  }
  s.unsent.clear();
}

// ---- Receiving ----------------------------------------------------------------

void Worker::responses(ConnId id, std::size_t n, std::int64_t now) noexcept {
  State& s = *state_;
  Conn& c = conns_[id];
  const bool open_loop = options_.mode == Mode::open;
  for (std::size_t i = 0; i < n && !c.stamps.empty(); ++i) {
    const Stamp st = c.stamps.front();
    c.stamps.pop();
    if (open_loop) {
      recorder_.record(Series::latency, now - st.intended);
      recorder_.record(Series::uncorrected, now - st.sent);
    } else {
      recorder_.record(Series::latency, now - st.sent);
    }
  }
  s.outstanding -= std::min<std::uint64_t>(s.outstanding, n);
  c.done_here += static_cast<std::uint32_t>(n);
  c.failures = 0;
  recorder_.add(Count::responses, n);
}

void Worker::after_responses(ConnId id, std::int64_t now) noexcept {
  Conn& c = conns_[id];
  if (options_.mode == Mode::churn && c.done_here >= options_.churn &&
      c.driver->outstanding() == 0) {
    engine_->close(id, CloseMode::graceful);
    c.st = Conn::St::idle;
    open_.store(open_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    recorder_.add(Count::churn_closes, 1);
    if (c.timer_kind == TimerKind::think) c.timer_kind = TimerKind::none;
    if (options_.think.count() > 0) {
      set_timer(id, now + options_.think.count(), TimerKind::reconnect);
    } else {
      queue_connect(id);
    }
    return;
  }
  if (options_.mode != Mode::open && options_.think.count() > 0) {
    if (c.timer_kind == TimerKind::none) {
      set_timer(id, now + options_.think.count(), TimerKind::think);
    }
  } else {
    send_requests(id, now);
  }
}

void Worker::on_data(ConnId id, const char* data, std::size_t size) noexcept {
  ++events_;
  Conn& c = conns_[id];
  recorder_.add(Count::bytes_in, size);
  const bool could_write = c.driver->may_write();
  if (ledger_ != nullptr) state_->deliveries.now = steady_ns();
  const std::size_t n = c.driver->feed(std::span<const char>(data, size));
  const std::int64_t now = now_ns();
  if (n > 0) responses(id, n, now);
  if (c.driver->error() != proto::ClientError::none) {
    connection_failed(id, ErrorKind::mismatch, true);
    return;
  }
  if (n > 0) {
    after_responses(id, now);
  } else if (!could_write && c.driver->may_write()) {
    send_requests(id, now);  // chat: the WELCOME came, and everyone is in
  }
}

void Worker::on_closed(ConnId id, Failure failure, int /*code*/) noexcept {
  ++events_;
  Conn& c = conns_[id];
  if (failure != Failure::none) {
    connection_failed(id, failure == Failure::reset ? ErrorKind::reset : ErrorKind::io, false);
    return;
  }
  const std::int64_t now = now_ns();
  const std::size_t n = c.driver->on_peer_closed();
  if (n > 0) responses(id, n, now);
  if (c.driver->error() != proto::ClientError::none) {
    connection_failed(id,
                      c.driver->error() == proto::ClientError::unexpected_close
                          ? ErrorKind::closed
                          : ErrorKind::mismatch,
                      false);
  } else if (options_.mode == Mode::hold) {
    connection_failed(id, ErrorKind::closed, false);
  } else {
    // An orderly close with nothing outstanding (an HTTP server that said
    // "Connection: close", or one closing idle connections): not an error.
    connection_lost(id);
  }
}

// ---- Failures -----------------------------------------------------------------

void Worker::connection_failed(ConnId id, ErrorKind kind, bool abort) noexcept {
  recorder_.error(kind);
  if (abort) engine_->close(id, CloseMode::abort);
  connection_lost(id);
}

void Worker::connection_lost(ConnId id) noexcept {
  State& s = *state_;
  Conn& c = conns_[id];
  const std::uint64_t lost = c.stamps.size();
  if (lost > 0) {
    recorder_.add(Count::requests_failed, lost);
    s.outstanding -= std::min(s.outstanding, lost);
  }
  c.stamps.clear();
  c.unsent = 0;
  if (c.st == Conn::St::open) {
    open_.store(open_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  c.st = Conn::St::idle;
  c.timer_kind = TimerKind::none;
  // Requests of an open-loop schedule that were lost stay lost; the schedule
  // goes on from the next index, so the offered rate does not change.
  if (c.done_here > 0 && options_.mode != Mode::hold) {
    queue_connect(id);  // it worked for a while: reconnect at once
    return;
  }
  // Lost before a single response (a server that accepts and closes at once,
  // e.g. above its connection cap, or one that answers garbage): back off
  // as after a refused connect, or the reconnects would become a busy loop.
  if (c.failures < 0xFFFF) ++c.failures;
  if (!s.draining) set_timer(id, now_ns() + reconnect_backoff_ns(c.failures), TimerKind::reconnect);
}

// ---- Timers -------------------------------------------------------------------

void Worker::set_timer(ConnId id, std::int64_t when, TimerKind kind) noexcept {
  Conn& c = conns_[id];
  c.timer = when;
  c.timer_kind = kind;
  try {
    state_->timers.push({when, id});
  } catch (...) {
    // Out of memory for the heap: the timer is lost. A lost connect timeout
    // or back-off leaves one connection idle; this is preferable to aborting.
    c.timer_kind = TimerKind::none;
  }
}

void Worker::run_timers(std::int64_t now) noexcept {
  State& s = *state_;
  while (!s.timers.empty() && s.timers.top().when <= now) {
    const State::Timer t = s.timers.top();
    s.timers.pop();
    Conn& c = conns_[t.id];
    // Each connection has at most one live timer; entries it replaced are stale.
    if (c.timer_kind == TimerKind::none || c.timer != t.when) continue;
    const TimerKind kind = c.timer_kind;
    c.timer_kind = TimerKind::none;
    switch (kind) {
      case TimerKind::reconnect:
        if (c.st == Conn::St::idle) queue_connect(t.id);
        break;
      case TimerKind::connect_timeout:
        if (c.st == Conn::St::connecting) {
          engine_->close(t.id, CloseMode::abort);
          c.st = Conn::St::idle;
          recorder_.error(ErrorKind::connect_timeout);
          if (c.failures < 0xFFFF) ++c.failures;
          if (!s.draining) {
            set_timer(t.id, now + reconnect_backoff_ns(c.failures), TimerKind::reconnect);
          }
        }
        break;
      case TimerKind::think:
      case TimerKind::schedule:
        send_requests(t.id, now);
        break;
      case TimerKind::none:
        break;
    }
  }
}

void Worker::scan_timeouts(std::int64_t now) noexcept {
  const std::int64_t timeout = options_.timeout.count();
  for (ConnId id = 0; id < setup_.connections; ++id) {
    Conn& c = conns_[id];
    if (c.st == Conn::St::open && !c.stamps.empty() && now - c.stamps.front().sent >= timeout) {
      connection_failed(id, ErrorKind::request_timeout, true);
    }
  }
}

void Worker::close_all() noexcept {
  for (ConnId id = 0; id < setup_.connections; ++id) {
    Conn& c = conns_[id];
    if (c.st == Conn::St::open) {
      // Graceful, so that the server sees an orderly end of every connection
      // and its own error counters stay clean.
      engine_->close(id, CloseMode::graceful);
    } else if (c.st == Conn::St::connecting) {
      engine_->close(id, CloseMode::abort);
    }
    c.st = Conn::St::idle;
  }
  state_->connect_queue.clear();
}

}  // namespace wsb::loadgen
