// loadgen end to end: the real binary, real sockets on 127.0.0.1, real
// servers (see CMakeLists.txt for what each CTest entry points it at). Each
// run writes its CSV row to a temporary file, which the assertions read, so
// the tests check the same numbers a user gets.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "hdr/log.hpp"
#include "report/csv.hpp"
#include "spawn_child.hpp"

namespace wsb::loadgen {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// This process's folder for the CSV files its loadgen runs write. Named by
// the process id, which the system reuses: a folder left by an earlier run
// with the same id would hand this run its old CSV rows (loadgen appends to
// an existing file and read_row() reads the first row), so it is emptied.
fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("loadgen_it_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

struct Result {
  int exit_code = -1;
  bool timed_out = false;
  std::string out, err;
  std::map<std::string, std::string> csv;  // the run's CSV row by column

  std::uint64_t u(const std::string& column) const {
    const auto it = csv.find(column);
    if (it == csv.end() || it->second.empty()) {
      ADD_FAILURE() << "CSV column " << column << " is missing or empty";
      return 0;
    }
    return std::stoull(it->second);
  }
  double d(const std::string& column) const {
    const auto it = csv.find(column);
    if (it == csv.end() || it->second.empty()) {
      ADD_FAILURE() << "CSV column " << column << " is missing or empty";
      return 0;
    }
    return std::stod(it->second);
  }
  std::string s(const std::string& column) const {
    const auto it = csv.find(column);
    return it == csv.end() ? std::string() : it->second;
  }
  std::string describe() const {
    return "exit " + std::to_string(exit_code) + (timed_out ? " (TIMED OUT)" : "") +
           "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
  }
};

// Runs a program to completion (killed after `limit`), capturing its output.
Result run_program(const std::vector<std::string>& argv, std::chrono::seconds limit) {
  Result r;
  ChildProcess child(argv);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    child.read_output(50ms, r.out, r.err);
    if (const auto exit = child.try_wait()) {
      r.exit_code = exit->code;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      r.timed_out = true;
      child.kill();
    }
  }
  // Output still in the pipes.
  for (int i = 0; i < 20 && child.read_output(10ms, r.out, r.err); ++i) {
  }
  return r;
}

// Every row of a CSV file loadgen wrote, by column (--find-capacity writes
// one per step).
std::vector<std::map<std::string, std::string>> read_rows(const fs::path& csv) {
  std::vector<std::map<std::string, std::string>> rows;
  std::ifstream in(csv, std::ios::binary);
  if (!in) return rows;  // loadgen wrote no CSV (a usage error, say)
  std::stringstream text;
  text << in.rdbuf();
  const std::string content = text.str();
  std::size_t pos = 0;
  const auto header = report::parse_record(content, pos);
  while (pos < content.size()) {
    const auto values = report::parse_record(content, pos);
    auto& row = rows.emplace_back();
    for (std::size_t i = 0; i < header.size() && i < values.size(); ++i)
      row[header[i]] = values[i];
  }
  return rows;
}

// The loadgen run's CSV row from a file it wrote, by column.
std::map<std::string, std::string> read_row(const fs::path& csv) {
  auto rows = read_rows(csv);
  return rows.empty() ? std::map<std::string, std::string>() : rows.front();
}

// Runs loadgen with args plus --csv <temp>, and reads its row back.
Result loadgen(std::vector<std::string> args, std::chrono::seconds limit = 60s) {
  static int counter = 0;
  const fs::path csv = temp_dir() / ("run" + std::to_string(++counter) + ".csv");
  fs::remove(csv);
  std::vector<std::string> argv{env("WSB_LOADGEN")};
  argv.insert(argv.end(), args.begin(), args.end());
  // --csv goes before a "--" that hands the rest to the server.
  auto dashes = std::find(argv.begin(), argv.end(), "--");
  dashes = argv.insert(dashes, {"--csv", csv.string()});
  Result r = run_program(argv, limit);
  r.csv = read_row(csv);
  return r;
}

void require_env(const char* name) {
  if (env(name).empty()) GTEST_SKIP() << name << " is not set (run through CTest)";
}

// ---- Command line and set-up failures ---------------------------------------------

TEST(Usage, WrongFlagsPrintUsageAndExitTwo) {
  const Result r = loadgen({"--bogus"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("Usage"), std::string::npos) << r.describe();
  EXPECT_EQ(loadgen({"--rate", "10", "--hold"}).exit_code, 2);
}

TEST(Usage, TooManyConnectionsForTheDescriptorLimitExitTwo) {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_max == RLIM_INFINITY || lim.rlim_max >= 9'000'000) {
    GTEST_SKIP() << "no usable descriptor hard limit here";
  }
  const Result r =
      loadgen({"--target", "127.0.0.1:9", "-c", std::to_string(lim.rlim_max + 1), "-d", "1s"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("RLIMIT_NOFILE"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find(std::to_string(lim.rlim_max)), std::string::npos) << r.describe();
}

TEST(Usage, CsvWithAnotherHeaderIsRefusedBeforeTheRun) {
  const fs::path csv = temp_dir() / "other_header.csv";
  std::ofstream(csv) << "a,b,c\n1,2,3\n";
  const auto started = std::chrono::steady_clock::now();
  const Result r = run_program(
      {env("WSB_LOADGEN"), "--target", "127.0.0.1:9", "-d", "5s", "--csv", csv.string()}, 30s);
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("different header"), std::string::npos) << r.describe();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s) << "it ran before refusing";
}

TEST(Usage, MissingSpawnServerExitsFour) {
  const Result r = loadgen({"--spawn", "no-such-model", "-d", "1s"});
  EXPECT_EQ(r.exit_code, 4) << r.describe();
  EXPECT_NE(r.err.find("server-no-such-model"), std::string::npos) << r.describe();
}

// ---- Faults (issue 7, the load generator's part) -----------------------------------
//
// Each scenario must end on time with an honest report: never a hang, never a
// complete-looking row for a run that was cut short.

// A loopback port with nothing listening: bound, never listening, closed.
int refusing_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

// Nothing listens: a clear error naming the target, exit 4 at once (not
// after --duration), and a row that says so.
TEST(Fault, RefusedAtStartEndsAtOnceNamingTheTarget) {
  const std::string target = "127.0.0.1:" + std::to_string(refusing_port());
  const auto started = std::chrono::steady_clock::now();
  const Result r = loadgen({"--target", target, "-c", "4", "-d", "30s", "-q"}, 40s);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 4) << r.describe();
  EXPECT_LT(took, 5s) << "it waited for --duration instead of giving up\n" << r.describe();
  EXPECT_NE(r.err.find("cannot connect to " + target + ": connection refused"), std::string::npos)
      << r.describe();
  EXPECT_EQ(r.s("complete"), "0") << r.describe();
  EXPECT_EQ(r.s("incomplete_reason"), "target_refused") << r.describe();
  EXPECT_GT(r.u("errors_connect_refused"), 0u) << r.describe();
  EXPECT_EQ(r.u("responses"), 0u);
}

// Reads a running child's output for `how_long`.
void read_for(ChildProcess& child, std::chrono::milliseconds how_long, std::string& out,
              std::string& err) {
  const auto until = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < until)
    child.read_output(50ms, out, err);
}

// How a loadgen ended after what it loads was killed: its exit (none when it
// still ran 20 s later and was killed itself) and how long after the kill.
struct AfterKill {
  std::optional<ChildProcess::Exit> exit;
  std::chrono::steady_clock::duration took{};
};

// Waits for loadgen to exit after a kill at `killed`, reading its output,
// then reads what output is left.
AfterKill wait_after_kill(ChildProcess& lg, std::chrono::steady_clock::time_point killed,
                          std::string& out, std::string& err) {
  AfterKill ended;
  while (!(ended.exit = lg.try_wait()) && std::chrono::steady_clock::now() - killed < 20s)
    lg.read_output(50ms, out, err);
  if (!ended.exit) {
    lg.kill();
    return ended;
  }
  ended.took = std::chrono::steady_clock::now() - killed;
  for (int i = 0; i < 10 && lg.read_output(10ms, out, err); ++i) {
  }
  return ended;
}

// A server loadgen did not start (an external --target), killed mid-run.
TEST(Fault, KilledExternalServerEndsWithinTimeoutWithAPartialReport) {
  require_env("WSB_SERVER");
  ChildProcess server({env("WSB_SERVER"), "--port", "0", "--quiet"});
  std::string out, err;
  std::string target;
  const auto started = std::chrono::steady_clock::now();
  while (target.empty() && std::chrono::steady_clock::now() - started < 20s) {
    server.read_output(50ms, out, err);
    const auto nl = out.find('\n');
    if (nl != std::string::npos) {
      const std::string line = out.substr(0, nl);
      ASSERT_EQ(line.rfind("listening ", 0), 0u) << line;
      target = line.substr(10, line.find(' ', 10) - 10);
    }
  }
  ASSERT_FALSE(target.empty()) << out << err;
  const fs::path csv = temp_dir() / "killed_external.csv";
  const auto lg_started = std::chrono::steady_clock::now();
  ChildProcess lg({env("WSB_LOADGEN"), "--target", target, "-c", "4", "-d", "30s", "--timeout",
                   "1s", "-q", "--csv", csv.string()});
  std::string lg_out, lg_err;
  read_for(lg, 1s, lg_out, lg_err);
  server.kill();
  const auto killed = std::chrono::steady_clock::now();
  const AfterKill ended = wait_after_kill(lg, killed, lg_out, lg_err);
  ASSERT_TRUE(ended.exit) << "loadgen hangs after its target died\n" << lg_err;
  // The run ended within --timeout (1 s) of the kill: its measured time
  // (which starts after loadgen started) ends less than 1 s after the kill.
  // The process itself exits a little later (report, CSV); no hang either.
  EXPECT_LT(ended.took, 5s) << lg_out << lg_err;
  const double killed_at_s = std::chrono::duration<double>(killed - lg_started).count();
  EXPECT_EQ(ended.exit->code, 4) << lg_out << lg_err;
  EXPECT_NE(lg_err.find("the server at " + target + " went away"), std::string::npos) << lg_err;
  EXPECT_NE(lg_out.find("INCOMPLETE (target_lost)"), std::string::npos) << lg_out;
  EXPECT_NE(lg_out.find("Requests/sec"), std::string::npos) << "no report\n" << lg_out;
  const auto row = read_row(csv);
  ASSERT_FALSE(row.empty()) << "no CSV row";
  EXPECT_EQ(row.at("complete"), "0");
  EXPECT_EQ(row.at("incomplete_reason"), "target_lost");
  EXPECT_EQ(row.at("exit_code"), "4");
  EXPECT_GT(std::stoull(row.at("responses")), 0u);
  EXPECT_LT(std::stod(row.at("elapsed_s")), killed_at_s + 1.0);
}

// The pid of the server a running loadgen --spawn started, from its
// "spawned ... pid N" line; 0 when none came within 20 s.
long long spawned_server_pid(ChildProcess& lg, std::string& out, std::string& err) {
  const auto started = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - started < 20s) {
    lg.read_output(50ms, out, err);
    const auto at = err.find(", pid ");
    if (at != std::string::npos && err.find(')', at) != std::string::npos) {
      return std::stoll(err.substr(at + 6));
    }
  }
  return 0;
}

// The --spawn server killed mid-run: the monitor sees it die. `load` picks
// the engine and connections (the epoll engine with one connection waits in
// a blocking recv(), a path of its own).
void killed_spawned_server(const std::vector<std::string>& load) {
  const fs::path csv = temp_dir() / "killed.csv";
  fs::remove(csv);
  std::vector<std::string> argv{
      env("WSB_LOADGEN"), "--spawn", env("WSB_SERVER"), "-d",        "30s",
      "--timeout",        "1s",      "--csv",           csv.string()};
  argv.insert(argv.end(), load.begin(), load.end());
  ChildProcess lg(argv);
  std::string out, err;
  const long long server_pid = spawned_server_pid(lg, out, err);
  ASSERT_GT(server_pid, 0) << err;
  // The run (and its measured time) starts after the "spawned" line.
  const auto run_started = std::chrono::steady_clock::now();
  read_for(lg, 1s, out, err);
  ASSERT_EQ(::kill(static_cast<pid_t>(server_pid), SIGKILL), 0);
  const auto killed = std::chrono::steady_clock::now();
  const AfterKill ended = wait_after_kill(lg, killed, out, err);
  ASSERT_TRUE(ended.exit) << "loadgen hangs after its server died\n" << err;
  EXPECT_LT(ended.took, 5s) << err;
  EXPECT_EQ(ended.exit->code, 4) << out << err;
  EXPECT_NE(out.find("DIED"), std::string::npos) << out;
  EXPECT_NE(out.find("INCOMPLETE (server_died)"), std::string::npos) << out;
  EXPECT_NE(out.find("Requests/sec"), std::string::npos) << "no report\n" << out;
  const auto row = read_row(csv);
  ASSERT_FALSE(row.empty()) << "no CSV row";
  EXPECT_EQ(row.at("server_stop"), "died");
  EXPECT_EQ(row.at("complete"), "0");
  EXPECT_EQ(row.at("incomplete_reason"), "server_died");
  EXPECT_GT(std::stoull(row.at("responses")), 0u);
  // Ended within --timeout (1 s) of the kill.
  EXPECT_LT(std::stod(row.at("elapsed_s")),
            std::chrono::duration<double>(killed - run_started).count() + 1.0);
}

TEST(Fault, KilledSpawnedServerEndsWithinTimeoutWithAPartialReport) {
  require_env("WSB_SERVER");
  killed_spawned_server({"-c", "4"});
}

TEST(Fault, KilledSpawnedServerEndsTheOneConnectionEpollRunToo) {
  require_env("WSB_SERVER");
  killed_spawned_server({"-c", "1", "--engine", "epoll"});
}

// The server stops answering for 1.5 s, 2 s after it began serving (its
// --stall test aid): requests time out, are counted as request timeouts and
// nothing else, and the run still takes its --duration, not longer.
void stalled_server(const std::vector<std::string>& load) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::string> args{"--spawn",   env("WSB_SERVER"), "-d", "4s",
                                "--timeout", "500ms",           "-q"};
  args.insert(args.end(), load.begin(), load.end());
  args.insert(args.end(), {"--", "--stall", "1500/2"});
  const Result r = loadgen(args, 40s);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_GT(r.u("errors_request_timeout"), 0u) << r.describe();
  EXPECT_EQ(r.u("errors"), r.u("errors_request_timeout")) << r.describe();
  EXPECT_GE(r.u("requests_failed"), r.u("errors_request_timeout"));
  EXPECT_EQ(r.s("complete"), "1") << r.describe();
  EXPECT_NEAR(r.d("elapsed_s"), 4.0, 0.3) << r.describe();
  // 4 s of load, at most 0.5 s of drain, then the server is stopped (it may
  // be inside a 1.5 s stall then); generous for a busy machine, far below a hang.
  EXPECT_LT(took, 12s) << r.describe();
  EXPECT_GT(r.u("responses"), 0u) << "the server never answered between its stalls";
}

TEST(Fault, StalledServerRequestsTimeOutAndTheRunEndsOnTime) {
  require_env("WSB_SERVER");
  stalled_server({"-c", "2"});
}

// One connection on the epoll engine: its blocking recv() must give way to
// the workload's timeout scan while the server says nothing.
TEST(Fault, StalledServerTimesOutTheOneConnectionEpollRunToo) {
  require_env("WSB_SERVER");
  stalled_server({"-c", "1", "--engine", "epoll"});
}

// A server that dies before its ready line: its last words reach the user,
// even when they arrive after the process that loadgen started has exited
// (as under Wine, where the server's output passes through Wine's own
// processes): here a child of the script writes them 300 ms after the exit.
TEST(Fault, ServerDyingBeforeReadyShowsItsStderr) {
  const fs::path script = temp_dir() / "dying-server.sh";
  std::ofstream(script) << "#!/bin/sh\n"
                           "i=0\n"
                           "while [ $i -lt 500 ]; do echo \"noise line $i\" >&2; i=$((i+1)); done\n"
                           "(sleep 0.3; echo 'fatal: the last words of the server' >&2) &\n"
                           "exit 3\n";
  fs::permissions(script, fs::perms::owner_all);
  for (int round = 0; round < 3; ++round) {
    const Result r = loadgen({"--spawn", script.string(), "-d", "1s", "-q"}, 30s);
    ASSERT_EQ(r.exit_code, 4) << r.describe();
    EXPECT_NE(r.err.find("exited before it was ready"), std::string::npos) << r.describe();
    EXPECT_NE(r.err.find("noise line 499"), std::string::npos) << r.describe();
    ASSERT_NE(r.err.find("fatal: the last words of the server"), std::string::npos)
        << "round " << round << ": the server's stderr was dropped\n"
        << r.describe();
  }
}

// ---- Every model, every protocol ------------------------------------------------

void expect_clean_run(const Result& r, const std::string& protocol, const std::string& what) {
  ASSERT_FALSE(r.timed_out) << what << r.describe();
  EXPECT_EQ(r.exit_code, 0) << what << r.describe();
  EXPECT_EQ(r.u("errors"), 0u) << what << r.describe();
  EXPECT_GT(r.u("responses"), 0u) << what;
  // Counts add up: every request written was answered and verified.
  EXPECT_EQ(r.u("requests"), r.u("responses")) << what;
  EXPECT_EQ(r.u("requests_failed"), 0u) << what;
  EXPECT_EQ(r.u("unfinished"), 0u) << what;
  EXPECT_EQ(r.s("server_stop"), "q") << what;
  EXPECT_EQ(r.u("server_errors"), 0u) << what << r.describe();
  // The server counted the same requests (echo counts received chunks, not
  // requests, so it is compared only where requests are framed). With a
  // warmup the server also counted the warmup's requests.
  if (protocol != "echo") {
    EXPECT_EQ(r.u("server_requests"), r.u("requests")) << what;
  }
  EXPECT_GT(r.u("server_peak_rss_bytes"), 0u) << what;
  EXPECT_GE(r.u("server_threads"), 1u) << what;
}

TEST(Model, EveryProtocolEveryEngineZeroErrors) {
  require_env("WSB_SERVER");
  for (const std::string engine : {"uring", "epoll"}) {
    for (const std::string protocol : {"upper", "echo", "http"}) {
      const Result r =
          loadgen({"--spawn", env("WSB_SERVER"), "--protocol", protocol, "--engine", engine, "-c",
                   "8", "--pipeline", "2", "--size", "1-300", "-d", "1s", "-q"});
      if (r.exit_code == 1 && r.err.find("cannot run here") != std::string::npos) {
        ADD_FAILURE() << "engine " << engine << " unavailable here: " << r.err;
        continue;
      }
      expect_clean_run(r, protocol, engine + "/" + protocol + ": ");
    }
  }
}

// ---- Workload features against server-epoll ------------------------------------------

// Two workers with one connection each in closed loop: without --engine
// loadgen picks the epoll engine, which waits in a blocking recv() then
// (engines/epoll.cpp); responses up to 64 KiB take more than one read of its
// 16 KiB buffer.
TEST(Epoll, OneConnectionPerWorkerEveryProtocol) {
  require_env("WSB_SERVER");
  for (const std::string protocol : {"upper", "echo", "http"}) {
    const Result r = loadgen({"--spawn", env("WSB_SERVER"), "--protocol", protocol, "-c", "2",
                              "--threads", "2", "--size", "1-65535", "-d", "1s", "-q"});
    EXPECT_EQ(r.s("engine"), "epoll") << r.describe();
    expect_clean_run(r, protocol, "one connection per worker, " + protocol + ": ");
  }
  // More connections than workers, or an open-loop run: the list's first.
  const std::vector<std::vector<std::string>> loads{{"-c", "4", "--threads", "2"},
                                                    {"-c", "2", "--threads", "2", "--rate", "500"}};
  for (const auto& load : loads) {
    std::vector<std::string> args{"--spawn", env("WSB_SERVER"), "-d", "300ms", "-q"};
    args.insert(args.end(), load.begin(), load.end());
    const Result r = loadgen(args);
    EXPECT_EQ(r.s("engine"), "uring") << r.describe();
  }
}

TEST(Epoll, StallShowsInCorrectedLatencyButNotInUncorrected) {
  require_env("WSB_SERVER");
  // The server pauses 300 ms every 2 s. Open loop at 2000 requests/s on two
  // connections: from the intended send times about 600 requests per stall
  // are late (corrected p99.9 ~ 300 ms); from the actual send times only the
  // two requests in flight when a stall begins see it (6 of 12000, 0.05%,
  // which is below the 0.1% that p99.9 looks at).
  const Result r = loadgen({"--spawn", env("WSB_SERVER"), "--rate", "2000", "-c", "2", "-d", "6s",
                            "-q", "--", "--stall", "300/2"},
                           90s);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const double corrected = r.d("latency_p999_us");
  const double uncorrected = r.d("uncorrected_p999_us");
  EXPECT_GE(corrected, 200'000.0) << "the corrected p99.9 does not show the 300 ms stall\n"
                                  << r.describe();
  EXPECT_LT(uncorrected, 100'000.0) << "the uncorrected p99.9 should hide the stall\n"
                                    << r.describe();
  EXPECT_GE(r.d("uncorrected_max_us"), 200'000.0) << "the stalled requests were not measured";
  EXPECT_NEAR(static_cast<double>(r.u("requests")), 12000.0, 240.0);
}

TEST(Epoll, OpenLoopMeetsItsRate) {
  require_env("WSB_SERVER");
  // Up to 8 requests in flight per connection, so that a server that the
  // (shared, busy) machine deschedules for a moment does not hold the
  // schedule back: the test is about loadgen keeping the rate.
  const Result r = loadgen({"--spawn", env("WSB_SERVER"), "--rate", "3000", "-c", "16",
                            "--pipeline", "8", "-d", "2s", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NEAR(static_cast<double>(r.u("requests")), 6000.0, 120.0) << r.describe();
  EXPECT_LT(r.d("rate_shortfall_pct"), 2.0);
  EXPECT_EQ(r.u("requests"), r.u("responses"));
  EXPECT_FALSE(r.s("uncorrected_p50_us").empty());
}

TEST(Epoll, RateBelowThreadAndConnectionCount) {
  require_env("WSB_SERVER");
  // wrk2 #8 / #147: 5 requests/s over 20 connections and 4 threads.
  const Result r = loadgen({"--spawn", env("WSB_SERVER"), "--rate", "5", "-c", "20", "--threads",
                            "4", "-d", "2s", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_GE(r.u("requests"), 9u) << r.describe();
  EXPECT_LE(r.u("requests"), 11u) << r.describe();
}

TEST(Epoll, ChurnOpensAConnectionPerKRequests) {
  require_env("WSB_SERVER");
  const Result r = loadgen({"--spawn", env("WSB_SERVER"), "--churn", "5", "-c", "4", "--requests",
                            "2000", "-d", "0", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.u("responses"), 2000u);
  EXPECT_GE(r.u("churn_closes"), (2000u - 4u * 4u) / 5u);
  EXPECT_LE(r.u("churn_closes"), 400u);
  EXPECT_GE(r.u("connects"), r.u("churn_closes"));
  EXPECT_FALSE(r.s("connect_p99_us").empty());
  EXPECT_EQ(r.u("server_errors"), 0u) << r.describe();
}

TEST(Epoll, HoldTenThousandConnections) {
  require_env("WSB_SERVER");
  // The hold (-d) starts with the run, so it has to contain the whole connect
  // phase, then the server's next live line counting every connection online,
  // then loadgen's next look at it. The connect phase is CPU-bound (loadgen
  // starts the next 64 connects right after each poll; single connects took
  // at most 1.4 s while the phase took up to 3.8 s), so it stretches with the
  // load on the machine. Under ASan on the project's 2-core machine it took
  // 0.7-0.9 s idle, 0.7-2.3 s beside two busy loops, 1.5-3.0 s beside five
  // and 2.4-3.8 s beside nine (load average 13). A 3 s hold then ended before
  // the server's next live line (one a second by default), so the sample was
  // labelled "end", or before the connects completed, so fewer than 10,000
  // were counted. With the server reporting every 100 ms the wait after the
  // connects is a fraction of a second, and 8 s is twice the slowest connect
  // phase seen: the checks still fail when connecting or sampling is broken,
  // not merely because the machine is busy.
  const Result r = loadgen({"--spawn", env("WSB_SERVER"), "--hold", "-c", "10000", "-d", "8s", "-q",
                            "--", "--stats-interval", "100ms"},
                           120s);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  // How far into the hold the last connect completed is the first thing to
  // look at when a check below fails, so they print it.
  const std::string when =
      r.s("establish_s").empty()
          ? "the connects did not all complete within the 8 s hold"
          : "every connect had completed " + r.s("establish_s") + " s into the 8 s hold";
  EXPECT_EQ(r.u("established"), 10000u) << when;
  EXPECT_GT(r.d("establish_s"), 0.0);
  EXPECT_LT(r.u("loadgen_held_rss_bytes"), 100u * 1000u * 1000u);
  EXPECT_GT(r.u("server_rss_held_bytes"), r.u("server_rss_before_bytes"));
  EXPECT_FALSE(r.s("server_bytes_per_connection").empty());
  // The server's memory is sampled once its live line shows every connection
  // online, not when loadgen's connects complete.
  EXPECT_EQ(r.s("server_rss_held_by"), "online") << when << "\n" << r.describe();
  EXPECT_EQ(r.u("errors"), 0u);
  EXPECT_EQ(r.s("complete"), "1");
}

TEST(Epoll, HoldWithAQuietServerSamplesWhenItsMemoryStopsGrowing) {
  require_env("WSB_SERVER");
  // "Stable" needs a second without growth after the connects; under ASan
  // the server's resident memory keeps creeping up for well over a second
  // (seen: always "end" with a 2 s hold, "stable" with 4 s), so hold for 4 s.
  const Result r = loadgen(
      {"--spawn", env("WSB_SERVER"), "--hold", "-c", "100", "-d", "4s", "-q", "--", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.s("server_rss_held_by"), "stable") << r.describe();
  EXPECT_FALSE(r.s("server_bytes_per_connection").empty());
}

TEST(Epoll, SourceAddressesSpreadTheConnections) {
  require_env("WSB_SERVER");
  const Result r = loadgen({"--spawn", env("WSB_SERVER"), "--source", "127.0.0.1-127.0.0.4", "-c",
                            "8", "-d", "1s", "-q"});
  expect_clean_run(r, "upper", "");
  EXPECT_EQ(r.u("sources"), 4u);
}

TEST(Epoll, SloDecidesTheExitCode) {
  require_env("WSB_SERVER");
  EXPECT_EQ(loadgen({"--spawn", env("WSB_SERVER"), "-d", "1s", "-q", "--slo", "p50=1ns"}).exit_code,
            3);
  const Result ok = loadgen({"--spawn", env("WSB_SERVER"), "-d", "1s", "-q", "--slo", "p99=30s"});
  EXPECT_EQ(ok.exit_code, 0) << ok.describe();
  EXPECT_EQ(ok.s("slo_passed"), "1");
}

TEST(Epoll, WarmupAndRequestLimit) {
  require_env("WSB_SERVER");
  const Result r = loadgen({"--spawn", env("WSB_SERVER"), "--warmup", "500ms", "--requests", "3000",
                            "-d", "0", "-c", "4", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.u("requests"), 3000u);
  // Responses also count answers to warmup requests that arrive after the
  // warmup ended: at most one per connection here.
  EXPECT_GE(r.u("responses"), 3000u);
  EXPECT_LE(r.u("responses"), 3004u);
  // The server also served the warmup.
  EXPECT_GT(r.u("server_requests"), 3000u);
}

TEST(Epoll, IntervalsHlogAndHgrmAreWritten) {
  require_env("WSB_SERVER");
  const fs::path intervals = temp_dir() / "intervals.csv";
  const fs::path hlog = temp_dir() / "run.hlog";
  const fs::path hgrm = temp_dir() / "run.hgrm";
  const Result r = loadgen({"--spawn", env("WSB_SERVER"), "--rate", "1000", "-c", "4", "-d", "3s",
                            "--warmup", "1s", "-q", "--intervals", intervals.string(), "--hlog",
                            hlog.string(), "--hgrm", hgrm.string()});
  ASSERT_EQ(r.exit_code, 0) << r.describe();

  std::ifstream iv(intervals);
  std::string line;
  int rows = 0, warmup_rows = 0;
  std::getline(iv, line);  // header
  while (std::getline(iv, line)) {
    ++rows;
    if (line.find(",warmup,") != std::string::npos) ++warmup_rows;
  }
  EXPECT_GE(rows, 4);
  EXPECT_EQ(warmup_rows, 1);

  std::ifstream log_in(hlog);
  hdr::LogReader reader(log_in);
  std::map<std::string, std::int64_t> counts;
  while (auto entry = reader.next())
    counts[entry->histogram.tag()] += entry->histogram.total_count();
  EXPECT_EQ(counts["latency"], static_cast<std::int64_t>(r.u("responses")));
  EXPECT_EQ(counts["latency_uncorrected"], static_cast<std::int64_t>(r.u("responses")));
  EXPECT_TRUE(counts.count("connect"));

  std::ifstream hg(hgrm);
  std::getline(hg, line);
  EXPECT_NE(line.find("Value"), std::string::npos) << line;
  EXPECT_TRUE(fs::exists(temp_dir() / "run.uncorrected.hgrm"));

  // hdrtool report without --tag: loadgen tags every interval, so each tag
  // is reported in turn, and the latency one counts every response.
  if (!env("WSB_HDRTOOL").empty()) {
    const Result report = run_program({env("WSB_HDRTOOL"), "report", hlog.string()}, 60s);
    EXPECT_EQ(report.exit_code, 0) << report.describe();
    const auto latency = report.out.find("#[Tag: latency]\n");
    ASSERT_NE(latency, std::string::npos) << report.describe();
    EXPECT_NE(report.out.find("#[Tag: connect]\n"), std::string::npos) << report.describe();
    const auto total = report.out.find("Total count    =", latency);
    ASSERT_NE(total, std::string::npos) << report.describe();
    const auto end = report.out.find(']', total);
    EXPECT_EQ(std::stoull(report.out.substr(total + 16, end - total - 16)), r.u("responses"))
        << report.describe();
  }

  // Java's own reader, when a JVM and the jar are there.
  if (!env("WSB_JAVA").empty()) {
    const Result java = run_program(
        {env("WSB_JAVA"), "-cp", env("WSB_HDR_JAR"), "org.HdrHistogram.HistogramLogProcessor", "-i",
         hlog.string(), "-tag", "latency"},
        120s);
    EXPECT_EQ(java.exit_code, 0) << java.describe();
    EXPECT_NE(java.out.find("#[Mean"), std::string::npos) << java.describe();
    const auto total = java.out.find("Total count");
    ASSERT_NE(total, std::string::npos) << java.describe();
    EXPECT_NE(java.out.find(std::to_string(r.u("responses")), total), std::string::npos)
        << java.describe();
  }
}

// ---- Capacity at an SLO and isolation (issue 16) -----------------------------------

// Runs loadgen with args plus --csv <temp>, and reads every row back.
std::pair<Result, std::vector<std::map<std::string, std::string>>> loadgen_rows(
    std::vector<std::string> args, std::chrono::seconds limit = 90s) {
  static int counter = 0;
  const fs::path csv = temp_dir() / ("rows" + std::to_string(++counter) + ".csv");
  fs::remove(csv);
  args.insert(args.begin(), {env("WSB_LOADGEN"), "--csv", csv.string()});
  Result r = run_program(args, limit);
  return {r, read_rows(csv)};
}

TEST(Capacity, EveryStepPassingUpToTheRateMaxIsARowEach) {
  require_env("WSB_SERVER");
  // Low rates and a generous SLO: every step passes, so the ramp runs
  // 50, 100, 200 (the --rate-max bound) and the capacity is "at least 200";
  // one trial per rate, so one step each.
  const auto [r, rows] =
      loadgen_rows({"--spawn", env("WSB_SERVER"), "--find-capacity", "--slo", "p99<=2s",
                    "--rate-start", "50", "--rate-max", "200", "-c", "2", "--warmup", "200ms", "-d",
                    "1s", "--capacity-trials", "1", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  ASSERT_EQ(rows.size(), 3u) << r.describe();
  const char* offered[] = {"50.000", "100.000", "200.000"};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    EXPECT_EQ(row.at("capacity_step"), std::to_string(i + 1));
    EXPECT_EQ(row.at("capacity_phase"), "ramp");
    EXPECT_EQ(row.at("mode"), "open");
    EXPECT_EQ(row.at("rate"), offered[i]);
    EXPECT_EQ(row.at("capacity_step_passed"), "1") << row.at("capacity_failed_by");
    EXPECT_EQ(row.at("capacity"), "200.00");
    EXPECT_EQ(row.at("capacity_bound"), "rate_max");
    EXPECT_FALSE(row.at("latency_p99_us").empty());
    EXPECT_FALSE(row.at("uncorrected_p999_us").empty());
    EXPECT_FALSE(row.at("rate_achieved").empty());
    EXPECT_EQ(row.at("errors"), "0");
  }
  EXPECT_NE(r.out.find("Capacity: at least 200 requests/s"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("capacity step 3 (ramp): offered 200/s"), std::string::npos) << r.describe();
}

TEST(Capacity, AnSloMissedAtTheStartRateExitsThree) {
  require_env("WSB_SERVER");
  const auto [r, rows] =
      loadgen_rows({"--spawn", env("WSB_SERVER"), "--find-capacity", "--slo", "p99<=1ns",
                    "--rate-start", "100", "-c", "2", "-d", "500ms", "-q"});
  EXPECT_EQ(r.exit_code, 3) << r.describe();
  // --capacity-trials 3 (the default): the start rate fails twice, a
  // majority of three, before the search gives up.
  ASSERT_EQ(rows.size(), 2u) << r.describe();
  for (const auto& row : rows) {
    EXPECT_EQ(row.at("rate"), "100.000");
    EXPECT_EQ(row.at("capacity_step_passed"), "0");
    EXPECT_EQ(row.at("capacity_failed_by"), "slo");
    EXPECT_EQ(row.at("capacity"), "");
    EXPECT_EQ(row.at("capacity_bound"), "none");
  }
  EXPECT_NE(r.err.find("capacity step 2 (ramp): offered 100/s"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("(trial 2)"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("Capacity: none"), std::string::npos) << r.describe();
}

TEST(Usage, BadSloOrUnknownCpuIsAOneLineErrorAndExitTwo) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--find-capacity", "--slo", "p99<=soon"},
        std::vector<std::string>{"--find-capacity"},
        std::vector<std::string>{"--loadgen-cpus", "99999"}}) {
    const Result r = loadgen(args);
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    const std::string first = r.err.substr(0, r.err.find('\n'));
    EXPECT_EQ(first.rfind("loadgen: --", 0), 0u) << r.describe();
  }
}

// Cpus_allowed_list of one thread ("/proc/PID/task/TID/status").
std::string allowed_cpus(const fs::path& task) {
  std::ifstream in(task / "status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Cpus_allowed_list:", 0) == 0) return line.substr(line.find_last_of(" \t") + 1);
  }
  return {};
}

TEST(Isolation, TheServerAndTheWorkersRunOnTheirOwnCpus) {
  require_env("WSB_SERVER");
  // Two sets, disjoint where the machine has two CPUs to give.
  cpu_set_t mine;
  ASSERT_EQ(::sched_getaffinity(0, sizeof mine, &mine), 0);
  std::vector<int> usable;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &mine)) usable.push_back(c);
  }
  const std::string server_cpu = std::to_string(usable.back());
  const std::string loadgen_cpu = std::to_string(usable.front());
  const fs::path csv = temp_dir() / "pinned.csv";
  fs::remove(csv);
  ChildProcess lg({env("WSB_LOADGEN"), "--spawn", env("WSB_SERVER"), "--server-cpus", server_cpu,
                   "--loadgen-cpus", loadgen_cpu, "-c", "4", "--threads", "2", "-d", "3s", "-q",
                   "--csv", csv.string()});
  std::string out, err;
  const long long server_pid = spawned_server_pid(lg, out, err);
  ASSERT_GT(server_pid, 0) << err;
  // Into the run: the workers exist.
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until)
    lg.read_output(50ms, out, err);
  std::vector<std::string> server_threads;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(server_pid) + "/task"))
    server_threads.push_back(allowed_cpus(task.path()));
  int pinned_loadgen_threads = 0;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(lg.pid()) + "/task"))
    pinned_loadgen_threads += allowed_cpus(task.path()) == loadgen_cpu ? 1 : 0;
  std::optional<ChildProcess::Exit> exit;
  while (!(exit = lg.try_wait()))
    lg.read_output(50ms, out, err);
  ASSERT_EQ(exit->code, 0) << out << err;
  ASSERT_FALSE(server_threads.empty());
  for (const std::string& cpus : server_threads)
    EXPECT_EQ(cpus, server_cpu) << "a server thread outside --server-cpus";
  EXPECT_GE(pinned_loadgen_threads, 2) << "the two workers are not on --loadgen-cpus";
  const auto row = read_row(csv);
  ASSERT_FALSE(row.empty());
  EXPECT_EQ(row.at("server_cpus"), server_cpu);
  EXPECT_EQ(row.at("loadgen_cpus"), loadgen_cpu);
  EXPECT_FALSE(row.at("server_context_switches").empty());
  EXPECT_GT(std::stod(row.at("loadgen_context_switches_per_response")), 0.0);
  EXPECT_GT(std::stod(row.at("server_context_switches_per_response")), 0.0);
  EXPECT_NE(out.find("pinned: loadgen to CPUs " + loadgen_cpu), std::string::npos) << out;
}

// ---- nginx ------------------------------------------------------------------------

TEST(Nginx, AnyBodyAgainstNginx) {
  require_env("WSB_NGINX");
  const fs::path dir = temp_dir() / "nginx";
  fs::create_directories(dir / "logs");
  // A free port: bind to 0, read it, release it.
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string port = std::to_string(ntohs(a.sin_port));
  ::close(s);
  std::ofstream(dir / "nginx.conf")
      << "worker_processes 1;\ndaemon off;\nerror_log " << (dir / "logs/error.log").string()
      << ";\npid " << (dir / "nginx.pid").string() << ";\nevents { worker_connections 1024; }\n"
      << "http {\n  access_log off;\n  client_body_temp_path " << dir.string() << "/cb;\n"
      << "  proxy_temp_path " << dir.string() << "/px;\n  fastcgi_temp_path " << dir.string()
      << "/fc;\n  uwsgi_temp_path " << dir.string() << "/uw;\n  scgi_temp_path " << dir.string()
      << "/sc;\n  server {\n    listen 127.0.0.1:" << port
      << ";\n    location / { return 200 \"nginx says hello\\n\"; }\n  }\n}\n";
  ChildProcess nginx({env("WSB_NGINX"), "-p", dir.string(), "-c", (dir / "nginx.conf").string()});
  // Wait until it accepts.
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    up = ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(c);
    if (!up) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(up) << "nginx did not start";
  const Result r = loadgen({"--target", "127.0.0.1:" + port, "--protocol", "http", "--any-body",
                            "-c", "8", "-d", "1s", "-q"});
  const Result strict = loadgen(
      {"--target", "127.0.0.1:" + port, "--protocol", "http", "-c", "1", "-d", "300ms", "-q"});
  nginx.terminate();
  for (int i = 0; i < 100 && !nginx.try_wait(); ++i)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.u("errors"), 0u) << r.describe();
  EXPECT_GT(r.u("responses"), 100u);
  // Without --any-body nginx's body is not "Hello, World!": mismatches.
  EXPECT_EQ(strict.exit_code, 1) << strict.describe();
  EXPECT_GT(strict.u("errors_mismatch"), 0u) << strict.describe();
}

// ---- Winsock models under Wine ------------------------------------------------------

TEST(Wine, SpawnedUnderWineZeroErrors) {
  require_env("WSB_SERVER");
  // blocking-single serves one client at a time by design.
  const bool single = env("WSB_SERVER").find("blocking-single") != std::string::npos;
  const Result r =
      loadgen({"--spawn", env("WSB_SERVER"), "-c", single ? "1" : "4", "-d", "2s", "-q"}, 150s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.u("errors"), 0u) << r.describe();
  EXPECT_GT(r.u("responses"), 0u);
  EXPECT_EQ(r.u("requests"), r.u("responses") + r.u("unfinished"));
  EXPECT_EQ(r.s("server_platform"), "wine");
  EXPECT_EQ(r.s("server_stop"), "q") << r.describe();
}

}  // namespace
}  // namespace wsb::loadgen
