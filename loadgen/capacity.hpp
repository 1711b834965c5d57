// --find-capacity (namespace wsb::loadgen): the highest open-loop rate at
// which a server keeps its --slo with no errors and no rate shortfall.
//
// The search is a state machine with no I/O, so that its bracket logic is
// unit-tested with a fake step runner (tests/unit/loadgen/capacity_test.cpp):
//   ramp    from --rate-start, each step --rate-growth times the last, until
//           a step fails or --rate-max passes;
//   bisect  between the last passing and the first failing rate, until the
//           two are within --capacity-precision of each other.
// A rate's verdict is the majority of --capacity-trials steps at it (3 by
// default; the steps stop as soon as the majority is known, so a rate that
// passes or fails twice in a row takes two). One step is not enough on a
// virtual machine: one in a few dozen fails far below the knee because a
// stall of the CPUs alone spoils its p99 (a 3 s step at 8,000/s against
// server-epoll: p99 5.7 ms where its neighbours had 0.4-2 ms), and near the
// knee one step passes a rate that the next fails. A majority is wrong only
// when two of three are, and errs as often up as down; "one pass is a pass"
// (the rule before it) erred only upwards.
// The capacity is the highest rate that passed. A failure at --rate-start
// means there is none (exit 3). find_capacity() runs the steps through a
// caller's function; main.cpp's runs each as a short open-loop run (its own
// --warmup, then --duration) against the same server.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsb::loadgen {

struct CapacitySettings {
  double rate_start = 1000.0;   // --rate-start: requests/s of the first step
  double rate_max = 1'000'000;  // --rate-max: the ramp stops here
  double growth = 2.0;          // --rate-growth: each ramp step times this (> 1)
  double precision = 0.05;      // --capacity-precision: bisect until (high-low)/low <= this
  // --capacity-trials: a rate's verdict is the majority of this many steps (odd).
  int trials = 3;
  int max_steps = 40;  // a bound on the whole search, whatever the data do
};

// What the step at one offered rate showed. passed() is the verdict: the
// SLO kept, no errors, no rate shortfall, nothing cut the step short.
struct StepVerdict {
  bool slo_kept = false;
  bool errors = false;     // any failed request or connection
  bool shortfall = false;  // achieved rate more than kCapacityShortfallPercent below offered
  bool aborted = false;    // the step could not complete (server died, interrupted)
  bool passed() const noexcept { return slo_kept && !errors && !shortfall && !aborted; }
  // "slo+errors": the reasons it failed, "" when it passed.
  std::string failed_by() const;
};

// A step whose achieved rate falls this much (percent) below the offered one
// did not carry the load. Not tighter: the edges of a short step's measured
// window alone move the achieved rate by about 1 % either way (a 0.5 s step
// at 775/s measured 782/s here). And never less than one request per
// connection: each connection keeps its own schedule, so at a low rate one
// request more or less at the window's edge is already a few percent.
inline constexpr double kCapacityShortfallPercent = 2.0;

enum class CapacityPhase : std::uint8_t { ramp, bisect };
std::string_view name(CapacityPhase phase) noexcept;

// How the search ended.
enum class CapacityBound : std::uint8_t {
  bracket,   // bisected to within the precision: the capacity is measured
  rate_max,  // every ramp step passed up to --rate-max: the capacity is at least that
  none,      // the first step (--rate-start) already failed: no capacity
  aborted,   // a step was cut short (server died, interrupted): the search stopped
  steps,     // max_steps ran out before the bracket closed (capacity = best so far)
};
std::string_view name(CapacityBound bound) noexcept;

class CapacitySearch {
 public:
  // Settings are checked by the command line: rate_start > 0,
  // rate_max >= rate_start, growth > 1, precision > 0, trials odd and >= 1.
  explicit CapacitySearch(const CapacitySettings& settings);

  // The offered rate of the next step, or nullopt when the search is over.
  std::optional<double> next_rate() const noexcept;
  CapacityPhase phase() const noexcept { return phase_; }
  // The verdict of the step at next_rate().
  void record(const StepVerdict& verdict);

  bool done() const noexcept { return bound_.has_value(); }
  // Set once done(): how it ended, and the highest passing rate (nullopt
  // when none passed).
  std::optional<CapacityBound> bound() const noexcept { return bound_; }
  std::optional<double> capacity() const noexcept { return low_; }
  // The lowest failing rate, when one failed.
  std::optional<double> failed_at() const noexcept { return high_; }
  int steps() const noexcept { return steps_; }
  // 1 for the first step at next_rate(), 2 for the second, ...
  int trial() const noexcept { return passes_here_ + failures_here_ + 1; }

 private:
  void choose_next();

  CapacitySettings settings_;
  CapacityPhase phase_ = CapacityPhase::ramp;
  double next_ = 0;
  std::optional<double> low_;   // highest passing rate so far
  std::optional<double> high_;  // lowest failing rate so far
  std::optional<CapacityBound> bound_;
  int steps_ = 0;
  int passes_here_ = 0;    // steps at next_ that passed
  int failures_here_ = 0;  // steps at next_ that failed
};

// One step as the search saw it, for the reports.
struct CapacityStep {
  int index = 0;  // 1, 2, ...
  int trial = 1;  // 2, 3, ...: the same rate again, until its majority is known
  CapacityPhase phase = CapacityPhase::ramp;
  double offered = 0;
  StepVerdict verdict;
};

struct CapacityOutcome {
  std::vector<CapacityStep> steps;
  CapacityBound bound = CapacityBound::none;
  std::optional<double> capacity;
  std::optional<double> failed_at;
};

// Runs the search: `run_step` runs one step at the offered rate and judges
// it. The steps run one after another; the search stops after an aborted step.
CapacityOutcome find_capacity(const CapacitySettings& settings,
                              const std::function<StepVerdict(const CapacityStep&)>& run_step);

}  // namespace wsb::loadgen
