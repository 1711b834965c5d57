#include "reporters.hpp"

#include <string_view>

#include "complete_csv.hpp"

namespace wsb::bench {

RequestedFormats requested_formats(int argc, const char* const* argv) {
  RequestedFormats formats;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.rfind("--benchmark_format=", 0) == 0) {
      formats.display = std::string(arg.substr(19));
    } else if (arg.rfind("--benchmark_out_format=", 0) == 0) {
      formats.file = std::string(arg.substr(23));
    } else if (arg.rfind("--benchmark_out=", 0) == 0) {
      formats.out_file = arg.size() > 16;
    }
  }
  return formats;
}

std::unique_ptr<benchmark::BenchmarkReporter> make_reporter(const std::string& format) {
  if (format == "csv") return std::make_unique<CompleteCsvReporter>();
  if (format == "json") return std::make_unique<benchmark::JSONReporter>();
  if (format == "console") return std::make_unique<benchmark::ConsoleReporter>();
  return nullptr;
}

std::size_t run_benchmarks(const RequestedFormats& formats, benchmark::BenchmarkReporter* display) {
  std::unique_ptr<benchmark::BenchmarkReporter> own_display;
  if (display == nullptr && formats.display == "csv") {
    own_display = make_reporter("csv");
    display = own_display.get();
  }
  // Only CSV needs a reporter of ours; Google Benchmark makes the others
  // (and refuses a file reporter without --benchmark_out).
  std::unique_ptr<benchmark::BenchmarkReporter> file;
  if (formats.out_file && formats.file == "csv") file = make_reporter("csv");
  return benchmark::RunSpecifiedBenchmarks(display, file.get());
}

}  // namespace wsb::bench
