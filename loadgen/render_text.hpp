// The text renderers of a run (namespace wsb::loadgen): the live line
// printed each --interval and the wrk-like summary printed at the end.
#pragma once

#include <string>
#include <vector>

#include "options.hpp"
#include "result.hpp"
#include "verdicts.hpp"

namespace wsb::loadgen {

// "[   3.0s] conns 100 req/s 54321 p50 120us p99 450us errors 0"; chat:
// "[   3.0s] conns 200 msg/s 9000 ack p50 .. p99 .. deliv/s 81000 deliv p99 .. errors 0"
std::string live_line(const IntervalReport& interval, Mode mode, bool chat = false);
// The wrk-like summary printed at the end (stdout).
std::string summary_text(const Options& options, const RunResult& result,
                         const std::vector<SloVerdict>& slo);

}  // namespace wsb::loadgen
