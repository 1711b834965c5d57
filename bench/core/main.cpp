// bench-core's entry point: Google Benchmark's own main, except that CSV
// (--benchmark_format=csv, --benchmark_out_format=csv) goes through
// wsb::bench::CompleteCsvReporter, because the benchmarks here do not all
// report the same counters (bench/reporting/complete_csv.hpp).
#include <benchmark/benchmark.h>

#include "reporters.hpp"

int main(int argc, char** argv) {
  const wsb::bench::RequestedFormats formats = wsb::bench::requested_formats(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  wsb::bench::run_benchmarks(formats);
  benchmark::Shutdown();
  return 0;
}
