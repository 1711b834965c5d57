#include "run.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

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

std::int64_t wall_ms(std::int64_t start_ms, Clock::time_point epoch, Clock::time_point t) {
  return start_ms + std::chrono::duration_cast<std::chrono::milliseconds>(t - epoch).count();
}

}  // namespace

RunResult run_load(const Options& options, const EngineInfo& engine, const net::Endpoint& target,
                   const proto::ClientFactory& factory, RunSignals& signals,
                   const RunHooks& hooks) {
  RunResult result;
  result.engine = std::string(engine.name);
  result.threads = options.threads;
  result.target = target;

  RunControl control;
  const auto workers_n = static_cast<unsigned>(options.threads);
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < workers_n; ++i) {
    WorkerSetup setup;
    setup.options = &options;
    setup.factory = &factory;
    setup.engine = &engine;
    setup.control = &control;
    setup.target = target;
    setup.index = i;
    setup.workers = workers_n;
    const Share share = share_of(options.connections, workers_n, i);
    setup.first_connection = share.first;
    setup.connections = static_cast<std::uint32_t>(share.count);
    if (options.requests > 0) setup.request_quota = share_of(options.requests, workers_n, i).count;
    workers.push_back(std::make_unique<Worker>(setup));
  }
  std::vector<WorkerRecorder*> recorders;
  for (auto& w : workers)
    recorders.push_back(&w->recorder());
  std::unique_ptr<bool[]> collected(new bool[workers.size()]());
  const std::span<bool> collected_span(collected.get(), workers.size());
  // Each worker's cumulative counters as of its last hand-over.
  std::vector<Counters> handed(workers.size());

  // Open-loop schedules wait until each request's intended time; on Windows
  // those waits are only as precise as the system timer (sys.hpp), which is
  // raised to 1 ms until the workers have been joined.
  const FineTimerResolution timer_resolution(options.mode == Mode::open);
  const bool has_warmup = options.warmup.count() > 0;
  control.phase.store(has_warmup ? Phase::warmup : Phase::measure);
  control.epoch = Clock::now();
  result.start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  for (auto& w : workers)
    w->start();

  const Clock::time_point epoch = control.epoch;
  const Clock::time_point warmup_end = epoch + options.warmup;
  const Clock::time_point measure_start = has_warmup ? warmup_end : epoch;
  const Clock::time_point load_end =
      options.duration.count() > 0 ? measure_start + options.duration : Clock::time_point::max();
  Phase phase = has_warmup ? Phase::warmup : Phase::measure;
  Clock::time_point interval_start = epoch;
  Clock::time_point next_tick = epoch + options.interval;
  HistogramSet interval;
  Counters previous;  // counters at the end of the last interval
  Counters baseline;  // counters at the end of the warmup
  bool established = false;
  std::uint64_t open_at_end = 0;

  auto open_connections = [&] {
    std::uint64_t n = 0;
    for (auto& w : workers)
      n += w->open_connections();
    return n;
  };

  // Collects one interval from every worker: each swaps its histograms at
  // its next loop turn (woken here); a worker whose thread has ended is
  // serviced from this thread, which is then its only user.
  auto collect = [&](Phase of, Clock::time_point end, bool joined, bool ends_warmup = false) {
    if (ends_warmup) {
      // Named before the request is published, so that no worker can hand
      // over (and send more) before it knows this hand-over ends its warmup.
      for (std::size_t i = 0; i < workers.size(); ++i) {
        workers[i]->measure_from(recorders[i]->next_request());
      }
    }
    begin_collect(recorders, collected_span);
    for (std::size_t i = 0; i < workers.size(); ++i) {
      if (joined || workers[i]->finished()) {
        recorders[i]->service_after_join();
      } else {
        workers[i]->wake();
      }
    }
    const Clock::time_point give_up = Clock::now() + 1s;
    while (!poll_collect(recorders, collected_span, interval, handed) && Clock::now() < give_up) {
      std::this_thread::sleep_for(100us);
      for (std::size_t i = 0; i < workers.size(); ++i) {
        if (!collected[i] && workers[i]->finished()) recorders[i]->service_after_join();
      }
    }
    // A worker that did not hand over in time (a pathological stall) is
    // collected in the next round: it keeps recording into its active set,
    // and its counters here stay those of its previous hand-over.
    Counters now;
    for (const Counters& c : handed)
      now += c;
    Counters delta = now;
    delta -= previous;
    previous = now;
    IntervalReport report;
    report.phase = of;
    report.start_s = seconds_between(epoch, interval_start);
    report.end_s = seconds_between(epoch, end);
    report.start_ms = wall_ms(result.start_ms, epoch, interval_start);
    report.end_ms = wall_ms(result.start_ms, epoch, end);
    report.delta = delta;
    report.histograms = &interval;
    report.open_connections = joined ? open_at_end : open_connections();
    for (int s = 0; s < static_cast<int>(kSeriesCount); ++s) {
      interval[Series(s)].set_start_time_ms(report.start_ms);
      interval[Series(s)].set_end_time_ms(report.end_ms);
    }
    if (hooks.on_interval) hooks.on_interval(report);
    if (of != Phase::warmup) result.histograms.add(interval);
    interval.reset();
    interval_start = end;
  };

  auto check_established = [&] {
    if (established) return;
    std::int64_t latest = 0;
    for (auto& w : workers) {
      const std::int64_t t = w->all_connected_ns();
      if (t < 0) return;
      latest = std::max(latest, t);
    }
    established = true;
    result.established = open_connections();
    result.establish_s = static_cast<double>(latest) / 1e9;
    result.loadgen_memory_held_bytes = platform::sample_process().memory_bytes;
    if (hooks.on_all_established) hooks.on_all_established(result.established);
  };

  // The target is gone (or never was there) when its refusal is the newest
  // connect outcome and no connection is open, and stays so for a moment:
  // the moment rules out a connect that succeeded just as the refusal was
  // read. A dead server shows it within milliseconds (its connections end,
  // their reconnects are refused), so the run ends long before --timeout.
  std::optional<Clock::time_point> refused_since;
  auto target_gone = [&](Clock::time_point now) {
    const std::int64_t refused = control.last_refused_ns.load(std::memory_order_acquire);
    const std::int64_t ok = control.last_connect_ok_ns.load(std::memory_order_acquire);
    if (refused < 0 || refused <= ok || open_connections() != 0) {
      refused_since.reset();
      return false;
    }
    if (!refused_since) refused_since = now;
    return now - *refused_since >= kTargetGoneAfter;
  };

  Clock::time_point window_end;
  for (;;) {
    Clock::time_point wake_at = std::min(next_tick, load_end);
    if (phase == Phase::warmup) wake_at = std::min(wake_at, warmup_end);
    // Until every connection is up, look often, so that --hold's memory
    // snapshot is taken close to the moment it describes.
    if (!established) wake_at = std::min(wake_at, Clock::now() + 20ms);
    // Often enough to notice a target that went away well within --timeout.
    wake_at = std::min(wake_at, Clock::now() + kTargetCheck);
    signals.wait_until(wake_at);
    const Clock::time_point now = Clock::now();
    check_established();
    if (signals.server_dead() || signals.interrupted()) {
      result.interrupted = signals.interrupted();
      result.server_died = signals.server_dead();
      window_end = now;
      break;
    }
    if (target_gone(now)) {
      result.target_lost = true;
      result.never_connected = control.last_connect_ok_ns.load(std::memory_order_acquire) < 0;
      window_end = now;
      break;
    }
    if (std::any_of(workers.begin(), workers.end(), [](auto& w) { return w->finished(); })) {
      window_end = now;  // a worker failed; its failure is reported after join
      break;
    }
    if (phase == Phase::warmup && now >= warmup_end) {
      collect(Phase::warmup, now, false, true);
      phase = Phase::measure;
      control.phase.store(Phase::measure, std::memory_order_release);
      for (auto& w : workers)
        w->wake();
      baseline = previous;
      next_tick = now + options.interval;
      continue;
    }
    if (now >= load_end) {
      window_end = now;
      break;
    }
    if (options.requests > 0 && phase == Phase::measure &&
        std::all_of(workers.begin(), workers.end(), [](auto& w) { return w->quota_done(); })) {
      window_end = now;
      break;
    }
    if (now >= next_tick) {
      collect(phase, now, false);
      next_tick += options.interval;
      if (next_tick <= now) next_tick = now + options.interval;
    }
  }

  if (!established) result.established = open_connections();
  // The last interval's connection count is taken before the drain closes them.
  open_at_end = open_connections();
  if (hooks.on_load_end) hooks.on_load_end();

  // Drain: no new requests; the responses to requests already sent are
  // awaited (and recorded) for a bounded time.
  const auto drain = std::min<std::chrono::nanoseconds>(options.timeout, 2s);
  control.drain_deadline_ns.store(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() + drain - epoch).count());
  // Nothing can answer once the server is gone: no drain then.
  control.phase.store(result.server_died || result.target_lost ? Phase::stop : Phase::drain,
                      std::memory_order_release);
  for (auto& w : workers)
    w->wake();
  for (auto& w : workers)
    w->join();
  collect(phase, std::max(window_end, interval_start), true);

  Counters totals = previous;
  totals -= baseline;
  result.totals = totals;
  result.seconds =
      phase == Phase::warmup ? 0.0 : std::max(0.0, seconds_between(measure_start, window_end));
  for (auto& w : workers) {
    result.unfinished += w->unfinished();
    if (!w->failure().empty()) result.failures.push_back(w->failure());
  }
  if (phase == Phase::warmup) {
    // Ended during the warmup: nothing was measured.
    result.totals = Counters{};
    result.unfinished = 0;
  }
  return result;
}

}  // namespace wsb::loadgen
