#include "verdicts.hpp"

#include <algorithm>
#include <cmath>

#include "render_common.hpp"

namespace wsb::loadgen {

std::vector<SloVerdict> evaluate_slo(const std::vector<SloTerm>& terms,
                                     const hdr::Histogram& latency) {
  std::vector<SloVerdict> out;
  for (const SloTerm& term : terms) {
    SloVerdict v;
    v.term = term;
    switch (term.metric) {
      case SloTerm::Metric::percentile:
        v.measured_ns = latency.value_at_percentile(term.percentile);
        break;
      case SloTerm::Metric::max:
        v.measured_ns = latency.max();
        break;
      case SloTerm::Metric::mean:
        v.measured_ns = std::llround(latency.mean());
        break;
    }
    // An empty histogram meets no objective: nothing was answered.
    v.passed = latency.total_count() > 0 && v.measured_ns <= term.limit.count();
    out.push_back(std::move(v));
  }
  return out;
}

std::string_view incomplete_reason(const RunResult& result) noexcept {
  if (result.server_died) return "server_died";
  if (result.target_lost) return result.never_connected ? "target_refused" : "target_lost";
  if (!result.failures.empty()) return "worker_failed";
  if (result.interrupted) return "interrupted";
  return "";
}

int exit_code(const Options& options, const RunResult& result, const std::vector<SloVerdict>& slo) {
  if (result.server_died || result.target_lost) return kExitServerFailed;
  if (!result.failures.empty()) return kExitErrors;
  if (result.totals.errors_total() > options.max_errors) return kExitErrors;
  if (options.distributed.strict_start && result.start && result.start->late) return kExitErrors;
  if (std::any_of(slo.begin(), slo.end(), [](const SloVerdict& v) { return !v.passed; })) {
    return kExitSlo;
  }
  return kExitOk;
}

double rate_shortfall_percent(const Options& options, const RunResult& result) {
  if (options.mode != Mode::open || result.seconds <= 0) return 0.0;
  const double achieved = per_second(result.totals.requests, result.seconds);
  return std::max(0.0, 100.0 * (options.rate - achieved) / options.rate);
}

}  // namespace wsb::loadgen
