// The reporters a bench binary runs its benchmarks through (namespace
// wsb::bench): the ones --benchmark_format and --benchmark_out_format ask
// for, with CompleteCsvReporter in place of Google Benchmark's CSV reporter.
#pragma once

#include <memory>
#include <string>

#include <benchmark/benchmark.h>

namespace wsb::bench {

// What the command line asks for. Google Benchmark keeps its parsed flags
// private, so argv is read here (before benchmark::Initialize removes them).
struct RequestedFormats {
  std::string display = "console";  // --benchmark_format
  std::string file = "json";        // --benchmark_out_format
  bool out_file = false;            // --benchmark_out given
};
RequestedFormats requested_formats(int argc, const char* const* argv);

// A reporter for "console", "json" or "csv"; null for anything else (Google
// Benchmark then reports the bad flag itself).
std::unique_ptr<benchmark::BenchmarkReporter> make_reporter(const std::string& format);

// Runs the registered benchmarks with the reporters the command line asks
// for (display through `display` when given, e.g. a counting wrapper);
// returns the number of benchmarks run.
std::size_t run_benchmarks(const RequestedFormats& formats,
                           benchmark::BenchmarkReporter* display = nullptr);

}  // namespace wsb::bench
