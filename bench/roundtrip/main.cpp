// bench-roundtrip: request/response round trips against every server model
// built for this machine, as Google Benchmark benchmarks.
//
//   BM_RoundTrip/<model>/connections:N/manual_time        server-<model> beside this binary
//   BM_RoundTrip/<model>/wine/connections:N/manual_time   server-<model>.exe under Wine
//
// Each server is started as a child process with --port 0 --quiet --protocol
// upper (loadgen's SpawnedServer: it waits for the ready line, and stops the
// server with "//q" on stdin, then SIGTERM, then SIGKILL, each after a
// bounded wait), once per model and kept for all of that model's benchmarks.
// N connections then each keep one 64-byte upper request outstanding (a
// closed loop, roundtrip_client.hpp). An iteration is N responses, so its
// manual time is about one mean round trip; the counters are
// requests_per_s (all connections together) and the p50_us and p99_us
// round trips of the whole run, from an HdrHistogram.
//
// Own options (before or among Google Benchmark's):
//   --wine-bin=DIR   where the Windows servers are (default:
//                    <source>/build/windows-cross/bin); skipped if absent
//   --no-wine        no Wine benchmarks
// Results: add --benchmark_out=results/bench-roundtrip.json
// (--benchmark_out_format=json or csv), see docs/benchmarks.md.
//
// Exit status 1 when no benchmark ran, when any reported an error, or when a
// server did not stop on "//q".
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "hdr/histogram.hpp"
#include "platform/net.hpp"
#include "proto/client.hpp"
#include "reporters.hpp"
#include "roundtrip_client.hpp"
#include "spawn.hpp"
#include "sys.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using wsb::bench::RoundTripClient;
using wsb::loadgen::ServerCommand;
using wsb::loadgen::SpawnedServer;

struct Model {
  std::string name;  // "epoll", "iocp"
  bool wine = false;
  ServerCommand command;
  std::vector<std::int64_t> connections;

  std::string label() const { return wine ? name + "/wine" : name; }
};

// The connection counts a model can serve with its default options.
std::vector<std::int64_t> connection_counts(std::string_view model, bool wine) {
  // One client at a time; a second would wait in the backlog.
  if (model == "blocking-single") return {1};
  // A thread per connection and a default cap of 1000 (docs/models/blocking_threads.md).
  if (wine && model == "blocking-threads") return {1, 64};
  // POSIX select() takes descriptors below FD_SETSIZE (1024) only, and the
  // server's own descriptors count too (docs/models/posix_select.md).
  if (!wine && model == "select") return {1, 64};
  return {1, 64, 1024};
}

// Every server-<model> (native) or server-<model>.exe (Wine) in dir.
std::vector<Model> find_models(const fs::path& dir, bool wine, const fs::path& source_dir) {
  std::vector<Model> models;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return models;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("server-", 0) != 0 || !entry.is_regular_file(ec)) continue;
    const bool exe = entry.path().extension() == ".exe";
    if (exe != wine) continue;
    if (!wine && ::access(entry.path().c_str(), X_OK) != 0) continue;
    Model m;
    m.name = entry.path().stem().string().substr(7);
    m.wine = wine;
    try {
      // A path ending in .exe runs under <source>/cmake/wine-emulator.sh.
      m.command = wsb::loadgen::resolve_server(entry.path().string(), dir, source_dir, false);
    } catch (const wsb::loadgen::SpawnError& e) {
      std::fprintf(stderr, "bench-roundtrip: skipping %s: %s\n", file.c_str(), e.what());
      continue;
    }
    m.connections = connection_counts(m.name, wine);
    models.push_back(std::move(m));
  }
  std::sort(models.begin(), models.end(),
            [](const Model& a, const Model& b) { return a.name < b.name; });
  return models;
}

// The one running server. Benchmarks run model by model, so a server is
// started when the first benchmark of its model needs it and stopped when a
// benchmark of another model starts (the two would otherwise share the two
// cores). A server that failed to start is not tried again: each attempt may
// take the full ready timeout.
class Servers {
 public:
  ~Servers() { stop(); }

  // Throws SpawnError (or rethrows the first failure's message).
  SpawnedServer& get(const Model& model) {
    if (current_ != nullptr && current_model_ == &model && !current_->died()) return *current_;
    // A server that died failed the benchmark it died in; the next one gets a
    // fresh server.
    if (const std::string death = stop(); !death.empty()) {
      std::fprintf(stderr, "bench-roundtrip: %s; starting it again\n", death.c_str());
    }
    if (const auto it = failures_.find(model.label()); it != failures_.end()) {
      throw wsb::loadgen::SpawnError(it->second);
    }
    SpawnedServer::Request request;
    request.command = model.command;
    request.args = {"--quiet"};
    request.protocol = wsb::proto::Protocol::upper;
    try {
      current_ = std::make_unique<SpawnedServer>(std::move(request));
    } catch (const std::exception& e) {
      failures_.emplace(model.label(), e.what());
      throw;
    }
    current_model_ = &model;
    return *current_;
  }

  // Stops the running server, if any. Returns its stderr tail when it had
  // died on its own, for an error message.
  std::string stop() {
    if (current_ == nullptr) return {};
    const wsb::loadgen::ServerResult result = current_->stop();
    const std::string label = current_model_->label();
    current_.reset();
    current_model_ = nullptr;
    if (result.died) {
      return "server " + label + " exited during the run (exit code " +
             std::to_string(result.exit_code) + ", signal " + std::to_string(result.exit_signal) +
             ")" + (result.stderr_tail.empty() ? "" : "; its stderr: " + result.stderr_tail);
    }
    if (result.stopped_by != "q") {
      std::fprintf(stderr, "bench-roundtrip: server %s did not stop on //q (stopped by %s)\n",
                   label.c_str(), result.stopped_by.c_str());
      unclean_stops_ = true;
    }
    return {};
  }

  bool unclean_stops() const noexcept { return unclean_stops_; }

 private:
  const Model* current_model_ = nullptr;
  std::unique_ptr<SpawnedServer> current_;
  std::map<std::string, std::string> failures_;
  bool unclean_stops_ = false;
};

Servers* servers = nullptr;

const wsb::proto::ClientFactory& request_factory() {
  static const wsb::proto::ClientFactory factory([] {
    wsb::proto::ClientConfig cfg;
    cfg.protocol = wsb::proto::Protocol::upper;
    cfg.size_min = cfg.size_max = 64;
    return cfg;
  }());
  return factory;
}

void BM_RoundTrip(benchmark::State& state, const Model* model) {
  const auto connections = static_cast<std::size_t>(state.range(0));
  // Wine adds a wineserver round trip to many socket calls, and its servers
  // start slowly; the bounds only have to catch a hang, not a slow machine.
  const auto timeout = model->wine ? 30'000ms : 5'000ms;
  SpawnedServer* server = nullptr;
  try {
    server = &servers->get(*model);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }

  wsb::hdr::Histogram latency(wsb::hdr::kLatencyLowestNs, wsb::hdr::kLatencyHighestNs,
                              wsb::hdr::kLatencySignificantFigures);
  std::uint64_t responses = 0;
  try {
    RoundTripClient client(server->ready().endpoint, connections, request_factory(), timeout);
    for (auto _ : state) {
      const auto start = std::chrono::steady_clock::now();
      responses += client.run(connections, latency);
      state.SetIterationTime(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    client.drain();
  } catch (const std::exception& e) {
    std::string message = e.what();
    // A reset or a refused connection is often the first sign of a server
    // that died; its monitor notices the exit within about 50 ms.
    for (int i = 0; i < 4 && !server->died(); ++i)
      std::this_thread::sleep_for(50ms);
    if (server->died()) message += "; " + servers->stop();
    state.SkipWithError(message.c_str());
    return;
  }
  state.counters["requests_per_s"] =
      benchmark::Counter(static_cast<double>(responses), benchmark::Counter::kIsRate);
  state.counters["p50_us"] = static_cast<double>(latency.value_at_percentile(50.0)) / 1e3;
  state.counters["p99_us"] = static_cast<double>(latency.value_at_percentile(99.0)) / 1e3;
}

// Counts what ran and what failed, for the exit status, and hands every
// report on to the reporter the command line asked for.
class CountingReporter : public benchmark::BenchmarkReporter {
 public:
  explicit CountingReporter(std::unique_ptr<benchmark::BenchmarkReporter> inner)
      : inner_(std::move(inner)) {}
  bool ReportContext(const Context& context) override { return inner_->ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      ++runs_;
      if (run.error_occurred) ++errors_;
    }
    inner_->ReportRuns(runs);
  }
  void Finalize() override { inner_->Finalize(); }
  int runs() const noexcept { return runs_; }
  int errors() const noexcept { return errors_; }

 private:
  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
  int runs_ = 0;
  int errors_ = 0;
};

// The display reporter --benchmark_format asks for; the console one in
// tabular form when stdout is not a terminal, as before.
std::unique_ptr<benchmark::BenchmarkReporter> display_reporter(const std::string& format) {
  if (format == "console") {
    return std::make_unique<benchmark::ConsoleReporter>(
        isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults
                              : benchmark::ConsoleReporter::OO_Tabular);
  }
  return wsb::bench::make_reporter(format);
}

struct OwnOptions {
  std::optional<fs::path> wine_bin;
  bool no_wine = false;
};

// Takes --wine-bin=DIR and --no-wine out of argv, leaving the rest for
// Google Benchmark.
OwnOptions take_own_options(int& argc, char** argv) {
  OwnOptions options;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.rfind("--wine-bin=", 0) == 0) {
      options.wine_bin = fs::path(arg.substr(11));
    } else if (arg == "--no-wine") {
      options.no_wine = true;
    } else {
      if (arg == "--help") {
        std::cout << "bench-roundtrip options: --wine-bin=DIR (Windows servers, default "
                     "<source>/build/windows-cross/bin), --no-wine\n\n";
      }
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const OwnOptions options = take_own_options(argc, argv);
  const wsb::bench::RequestedFormats formats = wsb::bench::requested_formats(argc, argv);
  auto shown = display_reporter(formats.display);
  if (!shown) {
    std::fprintf(stderr, "bench-roundtrip: --benchmark_format: console, json or csv\n");
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  const wsb::net::Startup startup;
  const auto limit = wsb::loadgen::raise_descriptor_limit();
  if (limit.limit && *limit.limit < 1024 + 64) {
    std::fprintf(stderr,
                 "bench-roundtrip: %llu descriptors allowed; 1024 connections need more: %s\n",
                 static_cast<unsigned long long>(*limit.limit), limit.remedy.c_str());
  }

  const fs::path source_dir = WSB_SOURCE_DIR;
  const fs::path own_dir = wsb::loadgen::executable_path().parent_path();
  std::vector<Model> models = find_models(own_dir, false, source_dir);
  if (!options.no_wine) {
    const fs::path wine_dir =
        options.wine_bin.value_or(source_dir / "build" / "windows-cross" / "bin");
    std::vector<Model> wine = find_models(wine_dir, true, source_dir);
    models.insert(models.end(), std::make_move_iterator(wine.begin()),
                  std::make_move_iterator(wine.end()));
  }
  if (models.empty()) {
    std::fprintf(stderr, "bench-roundtrip: no server-* executable in %s\n", own_dir.c_str());
    return 1;
  }
  // Registered benchmarks keep a pointer to their Model: `models` is not
  // resized from here on.
  for (const Model& model : models) {
    benchmark::RegisterBenchmark(("BM_RoundTrip/" + model.label()).c_str(), BM_RoundTrip, &model)
        ->ArgName("connections")
        ->ArgsProduct({model.connections})
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }

  Servers running;
  servers = &running;
  CountingReporter reporter(std::move(shown));
  wsb::bench::run_benchmarks(formats, &reporter);
  running.stop();
  benchmark::Shutdown();
  servers = nullptr;

  if (reporter.runs() == 0) return 1;  // Google Benchmark said why (no match).
  return reporter.errors() > 0 || running.unclean_stops() ? 1 : 0;
}
