// --find-capacity, the I/O half (namespace wsb::loadgen): each step of the
// search (capacity.hpp) as a short open-loop run_load() against the same
// target, its verdict, its line on stderr, and the reports of the whole
// search (the summary table, one CSV row per step, the exit code).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "capacity.hpp"
#include "run.hpp"

namespace wsb::loadgen {

// One step's run, kept for the reports.
struct CapacityStepRun {
  Options options;  // the command line's, with this step's rate
  RunResult result;
  double settled_s = 0;  // how long the step waited for an idle server first
};

struct CapacitySearchRun {
  CapacityOutcome outcome;
  std::vector<CapacityStepRun> runs;  // one per outcome.steps entry
};

// What the search needs from the caller around each step.
struct CapacityHooks {
  std::function<void(const IntervalReport&, Mode)> on_interval;  // the live line
  std::function<void()> on_step_end;                             // ends the live line
  // Before a step that follows a failed one: waits until the server has
  // worked off what the failed step left it, returns the seconds waited.
  // Empty: no wait (the target is not a spawned server).
  std::function<double()> settle;
};

// How long settle_server() waits at most, and what counts as idle: a
// server that used less than kSettleIdleShare of one core in each of two
// kSettleSample windows in a row.
inline constexpr std::chrono::seconds kSettleLimit{15};
inline constexpr std::chrono::milliseconds kSettleSample{100};
inline constexpr double kSettleIdleShare = 0.05;

// Waits until `cpu_seconds` (the server's user + system CPU time so far;
// nullopt once it cannot be read) shows the server idle, or kSettleLimit
// passed; returns the seconds waited. `sleep` waits one kSettleSample (a
// parameter so that the tests need not sleep).
double settle_server(const std::function<std::optional<double>()>& cpu_seconds,
                     const std::function<void(std::chrono::milliseconds)>& sleep);

// The verdict on one step: the SLO on the corrected latency, no errors, the
// offered rate achieved within kCapacityShortfallPercent, and a complete run.
StepVerdict judge_step(const Options& step_options, const RunResult& result);

CapacitySearchRun run_capacity_search(const Options& options, const EngineInfo& engine,
                                      const net::Endpoint& target,
                                      const proto::ClientFactory& factory, RunSignals& signals,
                                      const CapacityHooks& hooks);

// "step 3 (ramp): offered 4000/s achieved 3998/s p99 1.23ms (uncorrected
// 812us) errors 0: pass" -- the line each step prints on stderr.
std::string capacity_step_line(const CapacityStep& step, const RunResult& result);

// The summary on stdout: the table of steps and the answer.
std::string capacity_summary_text(const Options& options, const CapacitySearchRun& search);

// 0 with a capacity (bracket, rate_max, steps), 3 when even --rate-start
// failed, 4 when the server died or the target was lost, 1 when interrupted
// or a worker failed.
int capacity_exit_code(const CapacitySearchRun& search);

}  // namespace wsb::loadgen
