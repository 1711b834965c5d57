#include "capacity_run.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "render_common.hpp"
#include "sys.hpp"
#include "verdicts.hpp"

namespace wsb::loadgen {

StepVerdict judge_step(const Options& step_options, const RunResult& result) {
  StepVerdict v;
  const std::vector<SloVerdict> slo =
      evaluate_slo(step_options.slo, result.histograms[Series::latency]);
  v.slo_kept = std::all_of(slo.begin(), slo.end(), [](const SloVerdict& s) { return s.passed; });
  v.errors = result.totals.errors_total() > 0;
  const double expected = step_options.rate * result.seconds;
  const double missing = expected - static_cast<double>(result.totals.requests);
  v.shortfall = missing > std::max(expected * kCapacityShortfallPercent / 100.0,
                                   static_cast<double>(step_options.connections));
  v.aborted = !incomplete_reason(result).empty();
  return v;
}

double settle_server(const std::function<std::optional<double>()>& cpu_seconds,
                     const std::function<void(std::chrono::milliseconds)>& sleep) {
  const double window = std::chrono::duration<double>(kSettleSample).count();
  const int max_samples = static_cast<int>(kSettleLimit / kSettleSample);
  std::optional<double> last = cpu_seconds();
  int quiet = 0;
  int samples = 0;
  while (last && quiet < 2 && samples < max_samples) {
    sleep(kSettleSample);
    ++samples;
    const std::optional<double> now = cpu_seconds();
    if (!now) break;
    quiet = *now - *last < kSettleIdleShare * window ? quiet + 1 : 0;
    last = now;
  }
  return samples * window;
}

CapacitySearchRun run_capacity_search(const Options& options, const EngineInfo& engine,
                                      const net::Endpoint& target,
                                      const proto::ClientFactory& factory, RunSignals& signals,
                                      const CapacityHooks& hooks) {
  CapacitySearchRun search;
  RunHooks run_hooks;
  run_hooks.on_interval = [&hooks](const IntervalReport& interval) {
    if (hooks.on_interval) hooks.on_interval(interval, Mode::open);
  };
  bool last_failed = false;
  search.outcome = find_capacity(options.capacity, [&](const CapacityStep& step) {
    CapacityStepRun run;
    // A failed step may leave the server busy with what it could not serve
    // in time (after an overloaded step, steps of the same search ran slow
    // for about 30 s): the next step begins when the server is idle again.
    if (last_failed && hooks.settle) run.settled_s = hooks.settle();
    run.options = options;
    run.options.mode = Mode::open;
    run.options.rate = step.offered;
    // The open-loop schedule is built from the whole run's rate (shard.hpp),
    // which the step changes too: scaled when this is one shard of several.
    DistributedOptions& d = run.options.distributed;
    if (d.total_connections > 0) {
      d.total_rate = step.offered * static_cast<double>(d.total_connections) /
                     static_cast<double>(run.options.connections);
    }
    const auto switches_before = own_context_switches();
    run.result = run_load(run.options, engine, target, factory, signals, run_hooks);
    if (hooks.on_step_end) hooks.on_step_end();
    const auto switches_after = own_context_switches();
    if (switches_before && switches_after) {
      run.result.self_context_switches = *switches_after - *switches_before;
    }
    run.result.self = platform::sample_process();
    StepVerdict verdict = judge_step(run.options, run.result);
    last_failed = !verdict.passed();
    CapacityStep judged = step;
    judged.verdict = verdict;
    if (run.settled_s >= 0.25) {
      std::fprintf(stderr, "loadgen: waited %.1f s for the server to go idle\n", run.settled_s);
    }
    std::fprintf(stderr, "loadgen: %s\n", capacity_step_line(judged, run.result).c_str());
    search.runs.push_back(std::move(run));
    return verdict;
  });
  return search;
}

namespace {

std::string latency_at(const RunResult& r, Series series, double percentile) {
  const hdr::Histogram& h = r.histograms[series];
  return h.total_count() ? format_latency(h.value_at_percentile(percentile)) : std::string("-");
}

double achieved(const RunResult& r) {
  return per_second(r.totals.requests, r.seconds);
}

// "pass", "fail by slo", and " (trial 2)" after either when the step ran
// again at the rate of the one before it (--capacity-trials).
std::string step_verdict(const CapacityStep& step, const char* fail_prefix,
                         const char* fail_suffix) {
  std::string out = step.verdict.passed() ? std::string("pass")
                                          : fail_prefix + step.verdict.failed_by() + fail_suffix;
  if (step.trial > 1) out += " (trial " + std::to_string(step.trial) + ")";
  return out;
}

}  // namespace

std::string capacity_step_line(const CapacityStep& step, const RunResult& result) {
  char buffer[320];
  std::snprintf(buffer, sizeof buffer,
                "capacity step %d (%s): offered %.0f/s achieved %.0f/s p99 %s (uncorrected %s) "
                "errors %llu: %s",
                step.index, std::string(name(step.phase)).c_str(), step.offered, achieved(result),
                latency_at(result, Series::latency, 99.0).c_str(),
                latency_at(result, Series::uncorrected, 99.0).c_str(),
                static_cast<unsigned long long>(result.totals.errors_total()),
                step_verdict(step, "fail by ", "").c_str());
  return buffer;
}

std::string capacity_summary_text(const Options& options, const CapacitySearchRun& search) {
  std::ostringstream out;
  const CapacityOutcome& o = search.outcome;
  out << "Capacity search: --slo " << options.slo_text << ", open loop, " << options.connections
      << " connections; each step " << seconds_text(options.warmup) << " s warmup + "
      << seconds_text(options.duration) << " s measured\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %4s  %-6s  %10s  %10s  %9s  %9s  %9s  %9s  %6s  %s\n", "step",
                "phase", "offered/s", "achieved/s", "p50", "p99", "p99.9", "p99 unc.", "errors",
                "verdict");
  out << line;
  for (std::size_t i = 0; i < o.steps.size(); ++i) {
    const CapacityStep& s = o.steps[i];
    const RunResult& r = search.runs[i].result;
    const std::string verdict = step_verdict(s, "fail (", ")");
    std::snprintf(line, sizeof line, "  %4d  %-6s  %10.0f  %10.0f  %9s  %9s  %9s  %9s  %6llu  %s\n",
                  s.index, std::string(name(s.phase)).c_str(), s.offered, achieved(r),
                  latency_at(r, Series::latency, 50.0).c_str(),
                  latency_at(r, Series::latency, 99.0).c_str(),
                  latency_at(r, Series::latency, 99.9).c_str(),
                  latency_at(r, Series::uncorrected, 99.0).c_str(),
                  static_cast<unsigned long long>(r.totals.errors_total()), verdict.c_str());
    out << line;
  }
  switch (o.bound) {
    case CapacityBound::bracket:
      std::snprintf(line, sizeof line,
                    "Capacity: %.0f requests/s (passed at %.0f, failed at %.0f; within %.1f%%)\n",
                    *o.capacity, *o.capacity, *o.failed_at, options.capacity.precision * 100.0);
      break;
    case CapacityBound::rate_max:
      std::snprintf(line, sizeof line,
                    "Capacity: at least %.0f requests/s (every step passed up to --rate-max)\n",
                    *o.capacity);
      break;
    case CapacityBound::steps:
      std::snprintf(line, sizeof line,
                    "Capacity: %.0f requests/s (the step limit ended the search before the "
                    "bracket closed)\n",
                    o.capacity.value_or(0.0));
      break;
    case CapacityBound::none:
      std::snprintf(line, sizeof line,
                    "Capacity: none: the SLO failed at --rate-start (%.0f requests/s)\n",
                    options.capacity.rate_start);
      break;
    case CapacityBound::aborted: {
      const std::string why =
          search.runs.empty() ? "" : std::string(incomplete_reason(search.runs.back().result));
      if (o.capacity) {
        std::snprintf(line, sizeof line,
                      "Capacity: not found: the last step was cut short (%s); the highest "
                      "passing step was %.0f requests/s\n",
                      why.c_str(), *o.capacity);
      } else {
        std::snprintf(line, sizeof line, "Capacity: not found: the last step was cut short (%s)\n",
                      why.c_str());
      }
      break;
    }
  }
  out << line;
  return out.str();
}

int capacity_exit_code(const CapacitySearchRun& search) {
  switch (search.outcome.bound) {
    case CapacityBound::bracket:
    case CapacityBound::rate_max:
    case CapacityBound::steps:
      return kExitOk;
    case CapacityBound::none:
      return kExitSlo;
    case CapacityBound::aborted:
      break;
  }
  const RunResult& last = search.runs.back().result;
  if (last.server_died || last.target_lost) return kExitServerFailed;
  return kExitErrors;
}

}  // namespace wsb::loadgen
