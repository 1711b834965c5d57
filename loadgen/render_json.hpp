// The JSON renderer of a run (namespace wsb::loadgen): one object per run
// for --json, with every parameter, every figure of the CSV row (units in
// the key names), the latency percentile spectra, errors by class, the
// spawned server's figures, the SLO verdicts and the exit code.
// results/README.md ("loadgen --json") documents every key and its type.
#pragma once

#include <iosfwd>
#include <vector>

#include "options.hpp"
#include "result.hpp"
#include "verdicts.hpp"

namespace wsb::loadgen {

// The value of the "schema" key: changes whenever a key is renamed or removed.
inline constexpr const char* kJsonSchema = "wsbench.loadgen.run/1";

// "linux", "windows", or "wine" when this loadgen is a Windows build under Wine.
std::string platform_name();

void write_run_json(std::ostream& out, const Options& options, const RunResult& result,
                    const std::vector<SloVerdict>& slo, int exit_code);

}  // namespace wsb::loadgen
