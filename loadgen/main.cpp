// loadgen: the load generator's entry point. Reads the command line, picks
// the engine, checks that the run fits in the descriptor limit, starts the
// server when asked (--spawn), runs the load and writes every report.
// docs/loadgen.md describes the options, the outputs and the exit codes.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "affinity.hpp"
#include "capacity_run.hpp"
#include "engines/engine.hpp"
#include "options.hpp"
#include "platform/console.hpp"
#include "platform/interrupt.hpp"
#include "platform/net.hpp"
#include "platform/process.hpp"
#include "render_csv.hpp"
#include "render_intervals.hpp"
#include "render_json.hpp"
#include "render_text.hpp"
#include "verdicts.hpp"
#include "report/csv.hpp"
#include "run.hpp"
#include "spawn.hpp"
#include "sys.hpp"

#ifndef WSB_SOURCE_DIR
#error "WSB_SOURCE_DIR must be defined by the build (the source tree, for --spawn wine:NAME)"
#endif

namespace wsb::loadgen {
namespace {

// Receives nothing: the engine probe never polls.
class NoHandler final : public EngineHandler {
  void on_connected(ConnId, Failure, int) noexcept override {}
  void on_data(ConnId, const char*, std::size_t) noexcept override {}
  void on_closed(ConnId, Failure, int) noexcept override {}
};

// The engine to use: the one named by --engine, or the first of this
// platform's list that can run here. Each candidate is created once on this
// thread to find out (io_uring may be compiled in but forbidden at run time,
// e.g. by a container's seccomp policy); falling back is announced in one line.
//
// One exception to the list's order: a closed-loop run in which every worker
// owns exactly one connection (a latency run: -c 1, or -c N --threads N)
// prefers the epoll engine when it is built in. With a single connection that
// engine waits in a blocking recv(), so a round trip costs two system calls
// and no epoll or io_uring wake-up path; and its --spin shortens that round
// trip further, while io_uring's submission-and-wait does not benefit from
// it. The measured difference (a few microseconds of p50) is in
// docs/loadgen.md, "How it compares"; the report names the engine either way.
const EngineInfo* choose_engine(const Options& options) {
  NoHandler handler;
  EngineConfig probe;
  probe.capacity = 1;
  std::vector<const EngineInfo*> order;
  for (const EngineInfo& e : available_engines())
    order.push_back(&e);
  const bool one_connection_each =
      options.mode == Mode::closed &&
      options.connections == static_cast<std::uint32_t>(options.threads);
  if (options.engine.empty() && one_connection_each) {
    std::stable_partition(order.begin(), order.end(),
                          [](const EngineInfo* e) { return e->name == "epoll"; });
  }
  for (std::size_t i = 0; i < order.size(); ++i) {
    const EngineInfo& e = *order[i];
    if (!options.engine.empty() && e.name != options.engine) continue;
    try {
      e.make(probe, handler);
      return &e;
    } catch (const EngineUnavailable& ex) {
      if (!options.engine.empty() || i + 1 == order.size()) {
        std::fprintf(stderr, "loadgen: engine %.*s cannot run here: %s\n",
                     static_cast<int>(e.name.size()), e.name.data(), ex.what());
        return nullptr;
      }
      std::fprintf(stderr, "loadgen: engine %.*s unavailable (%s); using %.*s\n",
                   static_cast<int>(e.name.size()), e.name.data(), ex.what(),
                   static_cast<int>(order[i + 1]->name.size()), order[i + 1]->name.data());
    }
  }
  return nullptr;
}

// Whether the run fits in the descriptor limit: one descriptor per
// connection, two per worker (ring or epoll, eventfd), and a margin for
// stdio, pipes of a spawned server and output files.
bool fits_descriptor_limit(const Options& options) {
  const DescriptorLimit limit = raise_descriptor_limit();
  const std::uint64_t needed =
      std::uint64_t{options.connections} + 2ULL * static_cast<std::uint64_t>(options.threads) + 32;
  if (!limit.limit || needed + limit.in_use <= *limit.limit) return true;
  std::fprintf(stderr,
               "loadgen: %u connections need about %llu descriptors, but this process may "
               "open only %llu (RLIMIT_NOFILE, soft limit already raised to the hard limit; "
               "%llu in use); %s\n",
               options.connections, static_cast<unsigned long long>(needed),
               static_cast<unsigned long long>(*limit.limit),
               static_cast<unsigned long long>(limit.in_use), limit.remedy.c_str());
  return false;
}

// --json FILE, opened before the run so that a path that cannot be written
// fails at once. A run that ends before its report (the server could not be
// spawned, say) removes the file again rather than leave an empty one that a
// CI job would read as broken JSON.
struct JsonFile {
  std::ofstream stream;
  std::filesystem::path path;
  bool written = false;

  JsonFile() = default;
  JsonFile(const JsonFile&) = delete;
  JsonFile& operator=(const JsonFile&) = delete;
  ~JsonFile() {
    if (!stream.is_open() || written) return;
    stream.close();
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

// Checks the output files that must be right before a long run starts, and
// opens --json FILE.
bool outputs_acceptable(const Options& options, JsonFile& json) {
  try {
    if (!options.csv.empty()) check_csv_file(options.csv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return false;
  }
  if (options.json.empty() || options.json == "-") return true;
  const std::filesystem::path path(options.json);
  const std::filesystem::path folder = path.parent_path();
  std::error_code ec;
  if (!folder.empty() && !std::filesystem::is_directory(folder, ec)) {
    std::fprintf(stderr, "loadgen: --json %s: the folder %s does not exist\n", options.json.c_str(),
                 folder.string().c_str());
    return false;
  }
  json.path = path;
  json.stream.open(path, std::ios::binary | std::ios::trunc);
  if (!json.stream) {
    std::fprintf(stderr, "loadgen: --json %s: cannot write the file\n", options.json.c_str());
    return false;
  }
  return true;
}

// --spawn: starts the server and waits until it is ready; null (after a
// one-line error) when it cannot be started.
std::unique_ptr<SpawnedServer> spawn_server(const Options& options, RunSignals& signals) {
  std::unique_ptr<SpawnedServer> server;
  try {
    SpawnedServer::Request request;
    request.command = resolve_server(options.spawn, executable_path().parent_path(), WSB_SOURCE_DIR,
                                     windows_build());
    request.args = options.spawn_args;
    request.protocol = options.protocol;
    request.ready_timeout = options.spawn_timeout;
    request.cpus = options.server_cpus;
    server = std::make_unique<SpawnedServer>(std::move(request));
  } catch (const SpawnError& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return nullptr;
  }
  server->note_memory_before();
  server->on_death([&signals] { signals.server_died(); });
  // One line even with --quiet: which server runs, and its pid.
  std::fprintf(stderr, "loadgen: spawned %s (model %s%s, pid %lld) listening on %s\n",
               server->command().program.c_str(), server->ready().model.c_str(),
               server->command().wine ? ", under Wine" : "", static_cast<long long>(server->pid()),
               net::to_string(server->ready().endpoint).c_str());
  return server;
}

// --loadgen-cpus, once the server has been started (a forked child would
// inherit the mask) and before the workers are: they inherit it.
bool pin_loadgen(const Options& options) {
  const std::string failed = pin_this_process(options.loadgen_cpus);
  if (failed.empty()) return true;
  std::fprintf(stderr, "loadgen: --loadgen-cpus %s: cannot pin: %s\n",
               options.loadgen_cpus_text.c_str(), failed.c_str());
  return false;
}

bool sources_match(const Options& options, const net::Endpoint& target) {
  for (const net::Endpoint& source : options.sources) {
    if (source.is_v6() != target.is_v6()) {
      std::fprintf(stderr,
                   "loadgen: --source %s and the target %s are of different address "
                   "families\n",
                   net::host_to_string(source).c_str(), net::to_string(target).c_str());
      return false;
    }
  }
  return true;
}

proto::ClientConfig client_config(const Options& options, const net::Endpoint& target) {
  proto::ClientConfig config;
  config.protocol = options.protocol;
  config.size_min = options.size.min;
  config.size_max = options.size.max;
  config.seed = options.seed;
  config.http_path = options.http_path;
  // A named target keeps its name in the Host header, as a browser would send it.
  const std::string where =
      options.target_name.empty() ? net::to_string(target) : options.target_text;
  config.http_host = options.http_host.empty() ? where : options.http_host;
  if (options.any_body) {
    config.http_expect_body.reset();
  } else {
    config.http_expect_body = options.expect_body;
  }
  set_chat_config(options, config);
  return config;
}

// The live line on stderr: rewritten in place on a terminal, one line per
// interval otherwise.
struct LiveLine {
  bool terminal = platform::stderr_is_terminal();
  bool open = false;

  void show(const IntervalReport& interval, Mode mode, bool chat) {
    const std::string line = live_line(interval, mode, chat);
    if (terminal) {
      std::fprintf(stderr, "\r%s\033[K", line.c_str());
      open = true;
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
  }
  void end() {
    if (open) std::fputc('\n', stderr);
  }
};

RunHooks make_hooks(const Options& options, IntervalOutputs& outputs, LiveLine& live,
                    SpawnedServer* server) {
  RunHooks hooks;
  hooks.on_interval = [&options, &outputs, &live](const IntervalReport& interval) {
    outputs.write(interval, options.mode);
    if (!options.quiet)
      live.show(interval, options.mode, options.protocol == proto::Protocol::chat);
  };
  hooks.on_all_established = [server](std::uint64_t open) {
    if (server) server->sample_held_when_held(open);
  };
  hooks.on_load_start = [&options, &outputs](const StartOutcome& start) {
    outputs.write_start(start);
    if (start.late) {
      std::fprintf(stderr,
                   "loadgen: %s (shard %u/%u) was not ready at --start-at (%llu of %u "
                   "connections open); its load began %.1f ms after --start-at and its "
                   "report is marked late\n",
                   options.distributed.tag.c_str(), options.distributed.shard_index,
                   options.distributed.shard_count,
                   static_cast<unsigned long long>(start.open_at_start), options.connections,
                   start.offset_ms);
    }
  };
  hooks.on_load_end = [server] {
    if (server) server->note_memory_held_at_end();
  };
  return hooks;
}

// What the user must be told on stderr about how the run ended, before the
// summary: the server's last words when it died, a target that went away.
void explain_end(const RunResult& result, const net::Endpoint& target) {
  if (result.server && result.server->died && !result.server->stderr_tail.empty()) {
    std::fprintf(stderr, "loadgen: the server's last stderr output:\n%s\n",
                 result.server->stderr_tail.c_str());
  }
  if (result.target_lost && !result.server_died) {
    const std::string where = net::to_string(target);
    if (result.never_connected) {
      std::fprintf(stderr,
                   "loadgen: cannot connect to %s: connection refused (nothing listens there; "
                   "is the server running, and on this port?)\n",
                   where.c_str());
    } else {
      std::fprintf(stderr,
                   "loadgen: the server at %s went away: its connections ended and new "
                   "connects are refused; the report below is partial\n",
                   where.c_str());
    }
  }
}

// Prints the summary and writes the files of the end of the run; returns
// the exit code (an output that cannot be written turns success into 1).
int report_run(const Options& options, const RunResult& result, IntervalOutputs& outputs,
               JsonFile& json) {
  const std::vector<SloVerdict> slo = evaluate_slo(options.slo, result.histograms[Series::latency]);
  int code = exit_code(options, result, slo);
  if (options.mode == Mode::open && rate_shortfall_percent(options, result) > 1.0) {
    std::fprintf(
        stderr,
        "loadgen: warning: achieved %.1f requests/s, %.1f%% below the requested %.1f "
        "(the server or loadgen could not keep up; see --threads, --connections, "
        "--pipeline)\n",
        result.seconds > 0 ? static_cast<double>(result.totals.requests) / result.seconds : 0.0,
        rate_shortfall_percent(options, result), options.rate);
  }
  // With --json -, stdout carries the JSON alone and the summary goes to stderr.
  (options.json == "-" ? std::cerr : std::cout) << summary_text(options, result, slo) << std::flush;
  try {
    outputs.close();
    if (!options.hgrm.empty()) write_hgrm(options.hgrm, result, options.mode);
    if (!options.csv.empty()) {
      report::append_row(options.csv, csv_header(), csv_row(options, result, slo, code));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    if (code == kExitOk) code = kExitErrors;
  }
  if (!options.json.empty()) {
    std::ostream& out = options.json == "-" ? std::cout : json.stream;
    write_run_json(out, options, result, slo, code);
    json.written = true;
    out.flush();
    if (!out) {
      std::fprintf(stderr, "loadgen: --json %s: writing failed\n", options.json.c_str());
      if (code == kExitOk) code = kExitErrors;
    }
  }
  return code;
}

// --find-capacity: the search's steps against one target, then its reports:
// the summary, one CSV row per step (every row names the capacity found).
int find_capacity_main(const Options& options, const EngineInfo& engine,
                       const net::Endpoint& target, const proto::ClientFactory& factory,
                       RunSignals& signals, LiveLine& live, SpawnedServer* server) {
  CapacityHooks hooks;
  hooks.on_interval = [&options, &live](const IntervalReport& interval, Mode mode) {
    if (!options.quiet) live.show(interval, mode, options.protocol == proto::Protocol::chat);
  };
  hooks.on_step_end = [&live] {
    live.end();
    live.open = false;
  };
  if (server) {
    hooks.settle = [server] {
      return settle_server(
          [server]() -> std::optional<double> {
            const auto s = server->sample();
            if (!s) return std::nullopt;
            return s->user_cpu_seconds + s->system_cpu_seconds;
          },
          [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); });
    };
  }
  CapacitySearchRun search = run_capacity_search(options, engine, target, factory, signals, hooks);
  std::optional<ServerResult> server_result;
  if (server) server_result = server->stop();
  if (server_result && server_result->died && !server_result->stderr_tail.empty()) {
    std::fprintf(stderr, "loadgen: the server's last stderr output:\n%s\n",
                 server_result->stderr_tail.c_str());
  }
  int code = capacity_exit_code(search);
  std::cout << capacity_summary_text(options, search) << std::flush;
  if (options.csv.empty()) return code;
  try {
    for (std::size_t i = 0; i < search.runs.size(); ++i) {
      const CapacityStepRun& run = search.runs[i];
      const std::vector<SloVerdict> slo =
          evaluate_slo(run.options.slo, run.result.histograms[Series::latency]);
      report::append_row(options.csv, csv_header(),
                         csv_row(run.options, run.result, slo, code,
                                 CapacityRow{&search.outcome.steps[i], &search.outcome}));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    if (code == kExitOk) code = kExitErrors;
  }
  return code;
}

int run_main(int argc, char** argv) {
  Options options;
  std::vector<EngineName> engine_names;
  for (const EngineInfo& e : available_engines())
    engine_names.push_back({e.name, e.description});
  if (const auto code = parse_command_line(argc, argv, options, engine_names)) return *code;

  // Before any other thread: the watcher's signal mask is inherited by the
  // workers, so Ctrl-C never interrupts their waits (platform/interrupt.hpp).
  RunSignals signals;
  platform::InterruptWatcher interrupts([&signals](int count) {
    if (count >= 2) {
      // The spawned server dies with us (PR_SET_PDEATHSIG / job object).
      static constexpr char message[] = "\nloadgen: second interrupt, exiting at once\n";
      std::fwrite(message, 1, sizeof message - 1, stderr);
      std::_Exit(130);
    }
    signals.interrupt();
  });
  net::Startup net_startup;

  const EngineInfo* engine = choose_engine(options);
  if (engine == nullptr) return kExitErrors;
  JsonFile json;
  if (!fits_descriptor_limit(options) || !outputs_acceptable(options, json)) return kExitUsage;

  if (!options.target_name.empty()) {
    try {
      // The resolver's first choice, as a client connecting by name would.
      options.target = net::resolve(options.target_name, options.target_port).front();
    } catch (const net::NetError& e) {
      std::fprintf(stderr, "loadgen: --target %s: %s\n", options.target_text.c_str(), e.what());
      return kExitUsage;
    }
  }

  std::unique_ptr<SpawnedServer> server;
  net::Endpoint target = options.target;
  if (!options.spawn.empty()) {
    server = spawn_server(options, signals);
    if (!server) return kExitServerFailed;
    target = server->ready().endpoint;
  }
  if (!sources_match(options, target)) return kExitUsage;
  const proto::ClientFactory factory(client_config(options, target));

  std::unique_ptr<IntervalOutputs> outputs;
  try {
    outputs = std::make_unique<IntervalOutputs>(
        options, std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return kExitUsage;
  }

  if (!pin_loadgen(options)) return kExitErrors;
  LiveLine live;
  if (options.find_capacity)
    return find_capacity_main(options, *engine, target, factory, signals, live, server.get());
  RunResult result = run_load(options, *engine, target, factory, signals,
                              make_hooks(options, *outputs, live, server.get()));
  live.end();
  if (server) {
    result.server = server->stop();
    result.server_died = result.server_died || result.server->died;
  }
  explain_end(result, target);
  result.self = platform::sample_process();
  result.self_context_switches = own_context_switches();
  return report_run(options, result, *outputs, json);
}

}  // namespace
}  // namespace wsb::loadgen

int main(int argc, char** argv) {
  try {
    return wsb::loadgen::run_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "loadgen: unknown exception\n");
  }
  return wsb::loadgen::kExitErrors;
}
