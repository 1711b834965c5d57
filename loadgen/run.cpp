#include "run.hpp"

#include "proto/chat_client.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "proto/chat_client.hpp"
#include "schedule.hpp"
#include "sys.hpp"

namespace wsb::loadgen {

void RunSignals::interrupt() noexcept {
  {
    std::lock_guard lock(mutex_);
    interrupted_ = true;
  }
  changed_.notify_all();
}

void RunSignals::server_died() noexcept {
  {
    std::lock_guard lock(mutex_);
    server_dead_ = true;
  }
  changed_.notify_all();
}

bool RunSignals::interrupted() const noexcept {
  std::lock_guard lock(mutex_);
  return interrupted_;
}

bool RunSignals::server_dead() const noexcept {
  std::lock_guard lock(mutex_);
  return server_dead_;
}

void RunSignals::wait_until(Clock::time_point until) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, until, [&] { return interrupted_ || server_dead_; });
}

namespace {

using namespace std::chrono_literals;

// How often the reporter looks whether the target went away, and how long
// the target must have looked gone (refused, nothing open) before the run ends.
constexpr auto kTargetCheck = 50ms;
constexpr auto kTargetGoneAfter = 100ms;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double wall_now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A steady-clock time on the wall clock, from a pair of readings of both.
// Kept in fractions of a millisecond and rounded down once, so that an
// interval that began after --start-at is never logged as before it.
std::int64_t wall_ms(double anchor_wall_ms, Clock::time_point anchor, Clock::time_point t) {
  return static_cast<std::int64_t>(
      std::floor(anchor_wall_ms + std::chrono::duration<double, std::milli>(t - anchor).count()));
}

}  // namespace

namespace {

// One run, step by step: the workers are made and started, the reporter
// loop (this thread) moves the phases and collects the intervals, the drain
// ends the load, and the totals are taken. Each step is one method, and the
// state they share lives in members rather than in lambdas' captures.
class LoadRun {
 public:
  LoadRun(const Options& options, const EngineInfo& engine, const net::Endpoint& target,
          const proto::ClientFactory& factory, RunSignals& signals, const RunHooks& hooks);
  RunResult run();

 private:
  void make_workers(const EngineInfo& engine, const net::Endpoint& target,
                    const proto::ClientFactory& factory);
  void start();
  // --start-at: the ready phase. Waits until the start time (and every
  // connection is open, or it is late), then begins the load. False when
  // the run ended before it could begin (interrupt, server gone).
  bool wait_for_start();
  void begin_load(Clock::time_point now);
  // The reporter loop: returns when the load ends, for whatever reason,
  // with window_end_ set to the end of the measured window.
  void report_until_end();
  // One turn's reason to end the load now, if any; sets the result's flags.
  bool should_end(Clock::time_point now);
  void end_warmup(Clock::time_point now);
  void drain_and_join();
  void take_totals();

  std::uint64_t open_connections() const;
  void collect(Phase of, Clock::time_point end, bool joined, bool ends_warmup = false);
  void gather_hand_overs(bool joined, bool ends_warmup);
  IntervalReport interval_report(Phase of, Clock::time_point end, bool joined);
  void check_established();
  bool target_gone(Clock::time_point now);

  const Options& options_;
  RunSignals& signals_;
  const RunHooks& hooks_;
  RunResult result_;
  RunControl control_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<WorkerRecorder*> recorders_;
  std::unique_ptr<bool[]> collected_;
  // Each worker's cumulative counters as of its last hand-over.
  std::vector<Counters> handed_;

  bool has_warmup_ = false;
  Clock::time_point epoch_;
  // A steady time and the wall clock's reading at it (ms since the epoch).
  Clock::time_point anchor_;
  double anchor_wall_ms_ = 0.0;
  Clock::time_point warmup_end_;
  Clock::time_point measure_start_;
  Clock::time_point load_end_;
  Clock::time_point window_end_;
  Phase phase_ = Phase::measure;
  Clock::time_point interval_start_;
  Clock::time_point next_tick_;
  HistogramSet interval_;
  Counters previous_;  // counters at the end of the last interval
  Counters baseline_;  // counters at the end of the warmup
  bool established_ = false;
  std::uint64_t open_at_end_ = 0;
  std::optional<Clock::time_point> refused_since_;
  const proto::chat::Ledger* ledger_ = nullptr;  // chat only
};

LoadRun::LoadRun(const Options& options, const EngineInfo& engine, const net::Endpoint& target,
                 const proto::ClientFactory& factory, RunSignals& signals, const RunHooks& hooks)
    : options_(options), signals_(signals), hooks_(hooks) {
  result_.engine = std::string(engine.name);
  result_.threads = options.threads;
  result_.target = target;
  ledger_ = factory.chat_ledger().get();
  make_workers(engine, target, factory);
}

void LoadRun::make_workers(const EngineInfo& engine, const net::Endpoint& target,
                           const proto::ClientFactory& factory) {
  const auto workers_n = static_cast<unsigned>(options_.threads);
  for (unsigned i = 0; i < workers_n; ++i) {
    WorkerSetup setup;
    setup.options = &options_;
    setup.factory = &factory;
    setup.engine = &engine;
    setup.control = &control_;
    setup.target = target;
    setup.index = i;
    setup.workers = workers_n;
    const Share share = share_of(options_.connections, workers_n, i);
    setup.first_connection = share.first;
    setup.connections = static_cast<std::uint32_t>(share.count);
    if (options_.requests > 0)
      setup.request_quota = share_of(options_.requests, workers_n, i).count;
    workers_.push_back(std::make_unique<Worker>(setup));
  }
  for (auto& w : workers_)
    recorders_.push_back(&w->recorder());
  collected_.reset(new bool[workers_.size()]());
  handed_.resize(workers_.size());
}

RunResult LoadRun::run() {
  // Open-loop schedules wait until each request's intended time; on Windows
  // those waits are only as precise as the system timer (sys.hpp), which is
  // raised to 1 ms until the workers have been joined.
  const FineTimerResolution timer_resolution(options_.mode == Mode::open);
  start();
  if (wait_for_start()) report_until_end();
  drain_and_join();
  take_totals();
  return std::move(result_);
}

void LoadRun::start() {
  has_warmup_ = options_.warmup.count() > 0;
  const bool barrier = options_.distributed.start_at_ms.has_value();
  phase_ = barrier ? Phase::ready : has_warmup_ ? Phase::warmup : Phase::measure;
  control_.phase.store(phase_);
  control_.epoch = Clock::now();
  anchor_ = control_.epoch;
  anchor_wall_ms_ = wall_now_ms();
  result_.start_ms = static_cast<std::int64_t>(anchor_wall_ms_);
  for (auto& w : workers_)
    w->start();

  epoch_ = control_.epoch;
  if (barrier) {
    // Nothing ends or ticks before the load begins (begin_load sets these).
    load_end_ = Clock::time_point::max();
    next_tick_ = Clock::time_point::max();
    interval_start_ = epoch_;
    return;
  }
  begin_load(epoch_);
}

// Sets the phase times from the moment the load begins: the start of the
// run, or with --start-at the end of the ready phase.
void LoadRun::begin_load(Clock::time_point now) {
  warmup_end_ = now + options_.warmup;
  measure_start_ = has_warmup_ ? warmup_end_ : now;
  load_end_ =
      options_.duration.count() > 0 ? measure_start_ + options_.duration : Clock::time_point::max();
  interval_start_ = now;
  next_tick_ = now + options_.interval;
}

bool LoadRun::wait_for_start() {
  if (phase_ != Phase::ready) return true;
  const std::int64_t start_at_ms = *options_.distributed.start_at_ms;
  // The wall-clock time on the steady clock, read as a pair.
  const Clock::time_point steady_now = Clock::now();
  const auto wall_now = std::chrono::system_clock::now();
  const Clock::time_point start_at =
      steady_now +
      std::chrono::duration_cast<Clock::duration>(
          std::chrono::system_clock::time_point(std::chrono::milliseconds(start_at_ms)) - wall_now);
  // An instance not ready by the start time waits for its connections for
  // at most --connect-timeout from its own start, then begins without them.
  const Clock::time_point give_up = std::max(start_at, epoch_ + options_.connect_timeout);
  bool ready_in_time = false;
  for (;;) {
    const Clock::time_point now = Clock::now();
    check_established();
    if (should_end(now)) {
      window_end_ = now;
      return false;
    }
    if (established_ && now < start_at) ready_in_time = true;
    if (now >= start_at && (established_ || now >= give_up)) break;
    Clock::time_point wake_at = now < start_at ? start_at : give_up;
    if (!established_) wake_at = std::min(wake_at, now + 20ms);
    signals_.wait_until(std::min(wake_at, now + kTargetCheck));
  }
  // Published before the phase: a worker that sees the new phase also sees
  // the schedule's origin.
  const Clock::time_point now = Clock::now();
  // The intervals' wall-clock times count from this pair of readings.
  anchor_ = now;
  anchor_wall_ms_ = wall_now_ms();
  control_.load_start_ns.store(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - epoch_).count(),
      std::memory_order_relaxed);
  phase_ = has_warmup_ ? Phase::warmup : Phase::measure;
  control_.phase.store(phase_, std::memory_order_release);
  for (auto& w : workers_)
    w->wake();
  StartOutcome outcome;
  outcome.start_at_ms = start_at_ms;
  outcome.offset_ms = anchor_wall_ms_ - static_cast<double>(start_at_ms);
  outcome.late = !ready_in_time;
  outcome.open_at_start = open_connections();
  result_.start = outcome;
  begin_load(now);
  if (hooks_.on_load_start) hooks_.on_load_start(outcome);
  return true;
}

std::uint64_t LoadRun::open_connections() const {
  std::uint64_t n = 0;
  for (auto& w : workers_)
    n += w->open_connections();
  return n;
}

void LoadRun::report_until_end() {
  for (;;) {
    Clock::time_point wake_at = std::min(next_tick_, load_end_);
    if (phase_ == Phase::warmup) wake_at = std::min(wake_at, warmup_end_);
    // Until every connection is up, look often, so that --hold's memory
    // snapshot is taken close to the moment it describes.
    if (!established_) wake_at = std::min(wake_at, Clock::now() + 20ms);
    // Often enough to notice a target that went away well within --timeout.
    wake_at = std::min(wake_at, Clock::now() + kTargetCheck);
    signals_.wait_until(wake_at);
    const Clock::time_point now = Clock::now();
    check_established();
    if (should_end(now)) {
      window_end_ = now;
      return;
    }
    if (phase_ == Phase::warmup && now >= warmup_end_) {
      end_warmup(now);
      continue;
    }
    if (now >= next_tick_) {
      collect(phase_, now, false);
      next_tick_ += options_.interval;
      if (next_tick_ <= now) next_tick_ = now + options_.interval;
    }
  }
}

bool LoadRun::should_end(Clock::time_point now) {
  if (signals_.server_dead() || signals_.interrupted()) {
    result_.interrupted = signals_.interrupted();
    result_.server_died = signals_.server_dead();
    return true;
  }
  if (target_gone(now)) {
    result_.target_lost = true;
    result_.never_connected = control_.last_connect_ok_ns.load(std::memory_order_acquire) < 0;
    return true;
  }
  // A worker failed; its failure is reported after the join.
  if (std::any_of(workers_.begin(), workers_.end(), [](auto& w) { return w->finished(); })) {
    return true;
  }
  // The warmup's end is handled by the caller before the load's end is due.
  if (phase_ == Phase::warmup && now >= warmup_end_) return false;
  if (now >= load_end_) return true;
  return options_.requests > 0 && phase_ == Phase::measure &&
         std::all_of(workers_.begin(), workers_.end(), [](auto& w) { return w->quota_done(); });
}

void LoadRun::end_warmup(Clock::time_point now) {
  collect(Phase::warmup, now, false, true);
  phase_ = Phase::measure;
  control_.phase.store(Phase::measure, std::memory_order_release);
  for (auto& w : workers_)
    w->wake();
  baseline_ = previous_;
  next_tick_ = now + options_.interval;
}

// Collects one interval from every worker: each swaps its histograms at its
// next loop turn (woken here); a worker whose thread has ended is serviced
// from this thread, which is then its only user.
void LoadRun::collect(Phase of, Clock::time_point end, bool joined, bool ends_warmup) {
  gather_hand_overs(joined, ends_warmup);
  const IntervalReport report = interval_report(of, end, joined);
  if (hooks_.on_interval) hooks_.on_interval(report);
  if (of != Phase::warmup) result_.histograms.add(interval_);
  interval_.reset();
  interval_start_ = end;
}

void LoadRun::gather_hand_overs(bool joined, bool ends_warmup) {
  const std::span<bool> collected(collected_.get(), workers_.size());
  if (ends_warmup) {
    // Named before the request is published, so that no worker can hand
    // over (and send more) before it knows this hand-over ends its warmup.
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      workers_[i]->measure_from(recorders_[i]->next_request());
    }
  }
  begin_collect(recorders_, collected);
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (joined || workers_[i]->finished()) {
      recorders_[i]->service_after_join();
    } else {
      workers_[i]->wake();
    }
  }
  const Clock::time_point give_up = Clock::now() + 1s;
  while (!poll_collect(recorders_, collected, interval_, handed_) && Clock::now() < give_up) {
    std::this_thread::sleep_for(100us);
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (!collected[i] && workers_[i]->finished()) recorders_[i]->service_after_join();
    }
  }
  // A worker that did not hand over in time (a pathological stall) is
  // collected in the next round: it keeps recording into its active set,
  // and its counters here stay those of its previous hand-over.
}

IntervalReport LoadRun::interval_report(Phase of, Clock::time_point end, bool joined) {
  Counters now;
  for (const Counters& c : handed_)
    now += c;
  Counters delta = now;
  delta -= previous_;
  previous_ = now;
  IntervalReport report;
  report.phase = of;
  report.start_s = seconds_between(epoch_, interval_start_);
  report.end_s = seconds_between(epoch_, end);
  report.start_ms = wall_ms(anchor_wall_ms_, anchor_, interval_start_);
  report.end_ms = wall_ms(anchor_wall_ms_, anchor_, end);
  report.delta = delta;
  report.histograms = &interval_;
  report.open_connections = joined ? open_at_end_ : open_connections();
  for (int s = 0; s < static_cast<int>(kSeriesCount); ++s) {
    interval_[Series(s)].set_start_time_ms(report.start_ms);
    interval_[Series(s)].set_end_time_ms(report.end_ms);
  }
  return report;
}

void LoadRun::check_established() {
  if (established_) return;
  std::int64_t latest = 0;
  for (auto& w : workers_) {
    const std::int64_t t = w->all_connected_ns();
    if (t < 0) return;
    latest = std::max(latest, t);
  }
  established_ = true;
  result_.established = open_connections();
  result_.establish_s = static_cast<double>(latest) / 1e9;
  result_.loadgen_memory_held_bytes = platform::sample_process().memory_bytes;
  if (hooks_.on_all_established) hooks_.on_all_established(result_.established);
}

// The target is gone (or never was there) when its refusal is the newest
// connect outcome and no connection is open, and stays so for a moment: the
// moment rules out a connect that succeeded just as the refusal was read. A
// dead server shows it within milliseconds (its connections end, their
// reconnects are refused), so the run ends long before --timeout.
bool LoadRun::target_gone(Clock::time_point now) {
  const std::int64_t refused = control_.last_refused_ns.load(std::memory_order_acquire);
  const std::int64_t ok = control_.last_connect_ok_ns.load(std::memory_order_acquire);
  if (refused < 0 || refused <= ok || open_connections() != 0) {
    refused_since_.reset();
    return false;
  }
  if (!refused_since_) refused_since_ = now;
  return now - *refused_since_ >= kTargetGoneAfter;
}

void LoadRun::drain_and_join() {
  if (!established_) result_.established = open_connections();
  // The last interval's connection count is taken before the drain closes them.
  open_at_end_ = open_connections();
  if (hooks_.on_load_end) hooks_.on_load_end();

  // Drain: no new requests; the responses to requests already sent are
  // awaited (and recorded) for a bounded time.
  // chat waits the whole --timeout: its deliveries may trail the last ACK.
  const auto drain = ledger_ != nullptr ? options_.timeout
                                        : std::min<std::chrono::nanoseconds>(options_.timeout, 2s);
  control_.drain_deadline_ns.store(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() + drain - epoch_).count());
  // Nothing can answer once the server is gone: no drain then.
  control_.phase.store(result_.server_died || result_.target_lost ? Phase::stop : Phase::drain,
                       std::memory_order_release);
  for (auto& w : workers_)
    w->wake();
  for (auto& w : workers_)
    w->join();
  // Ended in the ready phase: nothing was measured, like an ended warmup.
  collect(phase_ == Phase::ready ? Phase::warmup : phase_, std::max(window_end_, interval_start_),
          true);
}

void LoadRun::take_totals() {
  Counters totals = previous_;
  totals -= baseline_;
  result_.totals = totals;
  const bool measured = phase_ != Phase::warmup && phase_ != Phase::ready;
  result_.seconds = measured ? std::max(0.0, seconds_between(measure_start_, window_end_)) : 0.0;
  for (auto& w : workers_) {
    result_.unfinished += w->unfinished();
    if (!w->failure().empty()) result_.failures.push_back(w->failure());
  }
  if (!measured) {
    // Ended during the warmup (or before the start): nothing was measured.
    result_.totals = Counters{};
    result_.unfinished = 0;
  }
  // chat: every delivery ACKed and never received, over the whole run (the
  // warmup's too: a loss is a loss), once no driver runs any more.
  if (ledger_ != nullptr) {
    result_.totals.errors[static_cast<std::size_t>(ErrorKind::lost)] += ledger_->reconcile();
  }
}

}  // namespace

RunResult run_load(const Options& options, const EngineInfo& engine, const net::Endpoint& target,
                   const proto::ClientFactory& factory, RunSignals& signals,
                   const RunHooks& hooks) {
  return LoadRun(options, engine, target, factory, signals, hooks).run();
}

}  // namespace wsb::loadgen
