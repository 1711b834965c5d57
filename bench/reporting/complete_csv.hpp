// A CSV reporter for Google Benchmark whose columns are the union of every
// run's counters (namespace wsb::bench).
//
// Google Benchmark's own CSV reporter takes its counter columns from the
// first benchmark and aborts ("All counters must be present in each run")
// when a later one has a counter the first did not, so any binary whose
// benchmarks report different counters (bench-core: per_value in some,
// compressed_bytes in one) cannot write CSV at all. This one keeps every run
// until the end and then writes one header with Google Benchmark's columns
// followed by every counter that any run had, and one row per run with an
// empty field where a run lacks a counter (or, for a run that failed, every
// figure).
#pragma once

#include <vector>

#include <benchmark/benchmark.h>

namespace wsb::bench {

class CompleteCsvReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

 private:
  std::vector<Run> runs_;
};

}  // namespace wsb::bench
