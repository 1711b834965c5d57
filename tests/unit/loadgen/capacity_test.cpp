// The capacity search's bracket logic (loadgen/capacity.hpp), driven by fake
// step runners: no sockets, no server. Each fake server passes a step when
// the offered rate is at or below its true capacity.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <vector>

#include "capacity.hpp"
#include "capacity_run.hpp"

namespace wsb::loadgen {
namespace {

StepVerdict pass_below(double true_capacity, double offered) {
  StepVerdict v;
  v.slo_kept = offered <= true_capacity;
  return v;
}

// Settings that test the bracket logic alone: one step (trial) per rate,
// starting at `rate_start`.
CapacitySettings one_trial_from(double rate_start) {
  CapacitySettings s;
  s.trials = 1;
  s.rate_start = rate_start;
  return s;
}

// Expects the search to have ended with a bracket around `true_capacity`:
// the capacity found within 5 % below it, the failed rate above it.
void expect_bracketed(const CapacityOutcome& out, double true_capacity) {
  EXPECT_EQ(out.bound, CapacityBound::bracket);
  ASSERT_TRUE(out.capacity && out.failed_at);
  EXPECT_LE(*out.capacity, true_capacity);
  EXPECT_GT(*out.capacity, true_capacity * 0.95);
  EXPECT_GT(*out.failed_at, true_capacity);
}

CapacityOutcome search(const CapacitySettings& settings, double true_capacity,
                       std::vector<double>* offered = nullptr) {
  return find_capacity(settings, [&](const CapacityStep& step) {
    if (offered) offered->push_back(step.offered);
    return pass_below(true_capacity, step.offered);
  });
}

TEST(CapacitySearch, RampsGeometricallyThenBisectsToThePrecision) {
  CapacitySettings s = one_trial_from(1000);
  s.growth = 2;
  s.precision = 0.05;
  std::vector<double> offered;
  const CapacityOutcome out = search(s, 5000, &offered);
  ASSERT_GE(offered.size(), 5u);
  // The ramp: 1000, 2000, 4000 pass, 8000 fails.
  EXPECT_DOUBLE_EQ(offered[0], 1000);
  EXPECT_DOUBLE_EQ(offered[1], 2000);
  EXPECT_DOUBLE_EQ(offered[2], 4000);
  EXPECT_DOUBLE_EQ(offered[3], 8000);
  EXPECT_DOUBLE_EQ(offered[4], 6000);  // the first bisection, halfway
  EXPECT_EQ(out.steps[3].phase, CapacityPhase::ramp);
  EXPECT_EQ(out.steps[4].phase, CapacityPhase::bisect);
  ASSERT_NO_FATAL_FAILURE(expect_bracketed(out, 5000));
  EXPECT_LE(*out.failed_at - *out.capacity, 0.05 * *out.capacity);
}

TEST(CapacitySearch, EveryBisectionStepLiesInsideTheBracket) {
  CapacitySettings s = one_trial_from(100);
  s.growth = 3;
  s.precision = 0.01;
  for (const double truth : {150.0, 299.0, 301.0, 2700.0, 12345.0}) {
    const CapacityOutcome out = search(s, truth);
    double low = 0, high = 1e300;
    for (const CapacityStep& step : out.steps) {
      if (step.phase == CapacityPhase::bisect) {
        EXPECT_GT(step.offered, low) << truth;
        EXPECT_LT(step.offered, high) << truth;
      }
      if (step.verdict.passed())
        low = std::max(low, step.offered);
      else
        high = std::min(high, step.offered);
    }
    ASSERT_TRUE(out.capacity) << truth;
    EXPECT_DOUBLE_EQ(*out.capacity, low);
    EXPECT_LE(*out.capacity, truth);
    EXPECT_GE(*out.capacity, truth * 0.99) << truth;
  }
}

TEST(CapacitySearch, FailingAtTheStartRateFindsNone) {
  CapacitySettings s = one_trial_from(1000);
  const CapacityOutcome out = search(s, 500);
  ASSERT_EQ(out.steps.size(), 1u);
  EXPECT_EQ(out.bound, CapacityBound::none);
  EXPECT_FALSE(out.capacity);
  EXPECT_EQ(out.failed_at, 1000);
}

TEST(CapacitySearch, StopsAtTheRateMaxWhenEveryStepPasses) {
  CapacitySettings s = one_trial_from(200);
  s.rate_max = 1000;
  std::vector<double> offered;
  const CapacityOutcome out = search(s, 1e9, &offered);
  EXPECT_EQ(offered, (std::vector<double>{200, 400, 800, 1000}));
  EXPECT_EQ(out.bound, CapacityBound::rate_max);
  EXPECT_EQ(out.capacity, 1000);
  EXPECT_FALSE(out.failed_at);
}

TEST(CapacitySearch, ErrorsOrAShortfallFailAStepLikeTheSlo) {
  CapacitySettings s = one_trial_from(1000);
  s.precision = 0.05;
  // The SLO always holds, but above 3000/s requests fail, and above 2500/s
  // the achieved rate falls short: the capacity is below 2500.
  const CapacityOutcome out = find_capacity(s, [](const CapacityStep& step) {
    StepVerdict v;
    v.slo_kept = true;
    v.errors = step.offered > 3000;
    v.shortfall = step.offered > 2500;
    return v;
  });
  ASSERT_TRUE(out.capacity);
  EXPECT_LE(*out.capacity, 2500);
  EXPECT_GT(*out.capacity, 2500 * 0.95);
  EXPECT_EQ(out.steps[2].verdict.failed_by(), "errors+shortfall");  // 4000/s
}

TEST(CapacitySearch, AnAbortedStepEndsTheSearchKeepingWhatPassed) {
  CapacitySettings s = one_trial_from(1000);
  const CapacityOutcome out = find_capacity(s, [](const CapacityStep& step) {
    StepVerdict v;
    v.slo_kept = true;
    v.aborted = step.index == 3;
    return v;
  });
  EXPECT_EQ(out.steps.size(), 3u);
  EXPECT_EQ(out.bound, CapacityBound::aborted);
  EXPECT_EQ(out.capacity, 2000);
  EXPECT_EQ(out.steps[2].verdict.failed_by(), "aborted");
}

TEST(CapacitySearch, TheStepBoundEndsAnEndlessSearch) {
  CapacitySettings s = one_trial_from(1);
  s.rate_max = 1e12;
  s.max_steps = 5;
  const CapacityOutcome out = search(s, 1e11);
  EXPECT_EQ(out.steps.size(), 5u);
  EXPECT_EQ(out.bound, CapacityBound::steps);
  EXPECT_EQ(out.capacity, 16);
}

// With three trials (the default) a rate's verdict is the majority: a step
// spoiled by a stall far below the knee is outvoted by the next two, a
// lucky pass just above the knee by the next two failures, and a rate that
// passes or fails twice in a row takes two steps.
TEST(CapacitySearch, ARateIsJudgedByTheMajorityOfItsTrials) {
  CapacitySettings s;
  s.rate_start = 1000;
  s.precision = 0.05;
  ASSERT_EQ(s.trials, 3);  // the default
  std::vector<double> offered;
  std::vector<int> trials;
  const CapacityOutcome out = find_capacity(s, [&](const CapacityStep& step) {
    offered.push_back(step.offered);
    trials.push_back(step.trial);
    StepVerdict v;
    // A true capacity of 5000/s; the third step (2000/s, second trial)
    // spoiled by a stall, and the first step at 8000/s a lucky pass.
    v.slo_kept = (step.offered <= 5000 && step.index != 3) || step.index == 8;
    return v;
  });
  ASSERT_GE(out.steps.size(), 11u);
  EXPECT_EQ(
      std::vector<double>(offered.begin(), offered.begin() + 11),
      (std::vector<double>{1000, 1000, 2000, 2000, 2000, 4000, 4000, 8000, 8000, 8000, 6000}));
  EXPECT_EQ(std::vector<int>(trials.begin(), trials.begin() + 11),
            (std::vector<int>{1, 2, 1, 2, 3, 1, 2, 1, 2, 3, 1}));
  EXPECT_EQ(out.steps[9].phase, CapacityPhase::ramp);
  EXPECT_EQ(out.steps[10].phase, CapacityPhase::bisect);
  ASSERT_NO_FATAL_FAILURE(expect_bracketed(out, 5000));
  // A start rate that fails twice has no capacity; the step bound counts
  // every trial.
  const CapacityOutcome none = find_capacity(s, [](const CapacityStep&) { return StepVerdict{}; });
  EXPECT_EQ(none.steps.size(), 2u);
  EXPECT_EQ(none.bound, CapacityBound::none);
  s.max_steps = 1;
  EXPECT_EQ(find_capacity(s, [](const CapacityStep&) { return StepVerdict{}; }).bound,
            CapacityBound::steps);
}

// One trial judges every rate by one step: a stall at 2000/s ends the ramp.
TEST(CapacitySearch, OneTrialJudgesARateByOneStep) {
  CapacitySettings s = one_trial_from(1000);
  const CapacityOutcome out = find_capacity(s, [](const CapacityStep& step) {
    StepVerdict v;
    v.slo_kept = step.offered <= 5000 && step.index != 2;  // 2000/s spoiled once
    return v;
  });
  ASSERT_GE(out.steps.size(), 3u);
  EXPECT_EQ(out.steps[2].offered, 1500);  // bisecting after one failed step
  EXPECT_EQ(out.failed_at, 2000);
  ASSERT_TRUE(out.capacity);
  EXPECT_LT(*out.capacity, 2000);
  EXPECT_GE(*out.capacity, 2000 / 1.05);
  EXPECT_EQ(out.bound, CapacityBound::bracket);
}

// settle_server() with a fake clock: the server's CPU time as it would be
// read after each 100 ms sample.
double settle_with(std::vector<std::optional<double>> readings, int* sleeps) {
  std::size_t next = 0;
  return settle_server(
      [&]() -> std::optional<double> {
        if (next < readings.size()) return readings[next++];
        return readings.empty() ? std::nullopt : readings.back();
      },
      [&](std::chrono::milliseconds d) {
        EXPECT_EQ(d, kSettleSample);
        ++*sleeps;
      });
}

TEST(CapacitySettle, WaitsUntilTwoQuietSamplesInARow) {
  int sleeps = 0;
  // Busy (90 ms of CPU per 100 ms) for three samples, one quiet, busy
  // again, then quiet: the wait ends at the second quiet sample in a row.
  const double waited =
      settle_with({0.0, 0.09, 0.18, 0.27, 0.271, 0.36, 0.361, 0.362, 5.0}, &sleeps);
  EXPECT_EQ(sleeps, 7);
  EXPECT_NEAR(waited, 0.7, 1e-9);
}

TEST(CapacitySettle, GivesUpAtTheLimitOrWhenTheServerCannotBeRead) {
  int sleeps = 0;
  std::vector<std::optional<double>> busy;
  for (int i = 0; i < 1000; ++i)
    busy.push_back(0.1 * i);  // a whole core, always
  EXPECT_NEAR(settle_with(busy, &sleeps), 15.0, 1e-9);
  EXPECT_EQ(sleeps, 150);
  sleeps = 0;
  EXPECT_EQ(settle_with({std::nullopt}, &sleeps), 0.0);
  EXPECT_EQ(sleeps, 0);
  EXPECT_NEAR(settle_with({0.0, 0.1, std::nullopt}, &sleeps), 0.2, 1e-9);
}

TEST(CapacitySearch, FailedByNamesEveryReason) {
  StepVerdict v;
  EXPECT_EQ(v.failed_by(), "slo");
  v.slo_kept = true;
  EXPECT_EQ(v.failed_by(), "");
  EXPECT_TRUE(v.passed());
  v.errors = true;
  v.slo_kept = false;
  EXPECT_EQ(v.failed_by(), "slo+errors");
}

}  // namespace
}  // namespace wsb::loadgen
