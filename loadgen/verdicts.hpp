// The verdicts on a finished run (namespace wsb::loadgen): whether it
// completed, the --slo terms, the rate shortfall and the process exit code.
// Every renderer reports these; none computes them itself.
#pragma once

#include <string_view>
#include <vector>

#include "hdr/histogram.hpp"
#include "options.hpp"
#include "result.hpp"

namespace wsb::loadgen {

// Why a run ended before its --duration / --requests: "" when it completed,
// else "server_died", "target_refused" (nothing ever accepted a connection),
// "target_lost" (the target started refusing with no connection open),
// "worker_failed" or "interrupted". The summary and the CSV (complete,
// incomplete_reason) report it.
std::string_view incomplete_reason(const RunResult& result) noexcept;

// One --slo term checked against the run.
struct SloVerdict {
  SloTerm term;
  std::int64_t measured_ns = 0;
  bool passed = true;
};
std::vector<SloVerdict> evaluate_slo(const std::vector<SloTerm>& terms,
                                     const hdr::Histogram& latency);

// The process exit code for a finished run (see ExitCode): 4 when the
// spawned server died or the target was lost or refused every connect, else 1 above --max-errors or
// after a worker failure, else 3 when an SLO term failed, else 0.
int exit_code(const Options& options, const RunResult& result, const std::vector<SloVerdict>& slo);

// Requested vs achieved rate (open loop): the shortfall in percent of the
// requested rate (0 when the rate was met or exceeded), and whether it is
// worth a warning (more than 1%).
double rate_shortfall_percent(const Options& options, const RunResult& result);

}  // namespace wsb::loadgen
