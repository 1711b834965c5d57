// The CSV renderers of a run (namespace wsb::loadgen): the one-row run
// summary of --csv (results/README.md documents its columns) and the rows of
// the per-interval --intervals file.
#pragma once

#include <string>
#include <vector>

#include "capacity.hpp"
#include "options.hpp"
#include "result.hpp"
#include "verdicts.hpp"

namespace wsb::loadgen {

std::vector<std::string> csv_header();
// A --find-capacity step's row: the step, and how the whole search ended
// (every step's row names the capacity found).
struct CapacityRow {
  const CapacityStep* step = nullptr;
  const CapacityOutcome* outcome = nullptr;
};
std::vector<std::string> csv_row(const Options& options, const RunResult& result,
                                 const std::vector<SloVerdict>& slo, int exit_code,
                                 const CapacityRow& capacity = {});
// Throws std::runtime_error when the file exists with a different header
// (checked before the run, so that a long run never ends in a refusal).
void check_csv_file(const std::string& path);

std::vector<std::string> interval_csv_header();
std::vector<std::string> interval_csv_row(const IntervalReport& interval);

}  // namespace wsb::loadgen
