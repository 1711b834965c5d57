#include "capacity.hpp"

#include <algorithm>

namespace wsb::loadgen {

std::string StepVerdict::failed_by() const {
  std::string out;
  auto add = [&out](bool failed, const char* why) {
    if (!failed) return;
    if (!out.empty()) out += '+';
    out += why;
  };
  add(aborted, "aborted");
  add(!slo_kept, "slo");
  add(errors, "errors");
  add(shortfall, "shortfall");
  return out;
}

std::string_view name(CapacityPhase phase) noexcept {
  return phase == CapacityPhase::ramp ? "ramp" : "bisect";
}

std::string_view name(CapacityBound bound) noexcept {
  switch (bound) {
    case CapacityBound::bracket:
      return "bracket";
    case CapacityBound::rate_max:
      return "rate_max";
    case CapacityBound::none:
      return "none";
    case CapacityBound::aborted:
      return "aborted";
    case CapacityBound::steps:
      return "steps";
  }
  return "none";
}

CapacitySearch::CapacitySearch(const CapacitySettings& settings)
    : settings_(settings), next_(settings.rate_start) {}

std::optional<double> CapacitySearch::next_rate() const noexcept {
  if (done()) return std::nullopt;
  return next_;
}

void CapacitySearch::record(const StepVerdict& verdict) {
  if (done()) return;
  ++steps_;
  if (verdict.aborted) {
    bound_ = CapacityBound::aborted;
    return;
  }
  ++(verdict.passed() ? passes_here_ : failures_here_);
  const int majority = settings_.trials / 2 + 1;
  if (passes_here_ >= majority) {
    low_ = next_;
  } else if (failures_here_ >= majority) {
    high_ = next_;
  } else {
    // The same rate once more, unless the step bound has run out.
    if (steps_ >= settings_.max_steps) bound_ = CapacityBound::steps;
    return;
  }
  passes_here_ = failures_here_ = 0;
  choose_next();
  if (!done() && steps_ >= settings_.max_steps) bound_ = CapacityBound::steps;
}

void CapacitySearch::choose_next() {
  if (!low_) {
    // The first step failed: nothing lower is tried (the user's
    // --rate-start is the lowest rate that matters to them).
    bound_ = CapacityBound::none;
    return;
  }
  if (phase_ == CapacityPhase::ramp && !high_) {
    if (*low_ >= settings_.rate_max) {
      bound_ = CapacityBound::rate_max;
      return;
    }
    next_ = std::min(*low_ * settings_.growth, settings_.rate_max);
    return;
  }
  phase_ = CapacityPhase::bisect;
  if (*high_ - *low_ <= settings_.precision * *low_) {
    bound_ = CapacityBound::bracket;
    return;
  }
  next_ = (*low_ + *high_) / 2.0;
}

CapacityOutcome find_capacity(const CapacitySettings& settings,
                              const std::function<StepVerdict(const CapacityStep&)>& run_step) {
  CapacitySearch search(settings);
  CapacityOutcome outcome;
  while (const auto rate = search.next_rate()) {
    CapacityStep step;
    step.index = search.steps() + 1;
    step.trial = search.trial();
    step.phase = search.phase();
    step.offered = *rate;
    step.verdict = run_step(step);
    search.record(step.verdict);
    outcome.steps.push_back(step);
  }
  outcome.bound = *search.bound();
  outcome.capacity = search.capacity();
  outcome.failed_at = search.failed_at();
  return outcome;
}

}  // namespace wsb::loadgen
