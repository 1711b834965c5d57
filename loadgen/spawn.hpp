// --spawn: the load generator starts the server it drives (namespace
// wsb::loadgen), waits for its ready line, watches it during the run
// (memory, threads, an early death), stops it cleanly and collects its final
// statistics.
//
// The server contract (core/server/frame.hpp): the ready line
//     listening <addr>:<port> model=<name> protocol=<p>
// is the first line on stdout; the line "//q" on stdin stops the server; its
// final statistics are "key: value" lines on stdout after it stopped.
//
// The portable logic lives in spawn.cpp; ChildProcess, the process itself
// (pipes, wait, signals), in spawn_posix.cpp and spawn_win.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "platform/net.hpp"
#include "platform/process.hpp"
#include "proto/protocol.hpp"

namespace wsb::loadgen {

// The server could not be started, did not get ready, or is not where the
// name points. what() is a complete message, with the server's stderr when
// it said anything.
class SpawnError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How to start a --spawn NAME|PATH.
struct ServerCommand {
  std::vector<std::string> argv;  // the program first
  std::string program;            // the server executable itself (not the emulator)
  bool wine = false;              // a Windows build run under Wine from Linux
};

// Resolution rules (docs/loadgen.md):
//  - a value containing a path separator is a path; on Linux a path ending
//    in ".exe" runs under Wine through <source_dir>/cmake/wine-emulator.sh;
//  - "wine:NAME" is <source_dir>/build/windows-cross/bin/server-NAME.exe under
//    Wine (Linux only);
//  - "native:NAME" and a bare NAME are server-NAME beside loadgen
//    (server-NAME.exe on Windows); on Linux a bare NAME that has no native
//    build falls back to the Wine one, so --spawn iocp works.
// own_dir is the folder of the loadgen executable; windows says whether
// loadgen itself is the Windows build. Throws SpawnError naming every place
// it looked.
ServerCommand resolve_server(std::string_view what, const std::filesystem::path& own_dir,
                             const std::filesystem::path& source_dir, bool windows);

// "listening 127.0.0.1:40123 model=epoll protocol=upper"
struct ReadyLine {
  net::Endpoint endpoint;
  std::string model;
  std::string protocol;
};
std::optional<ReadyLine> parse_ready_line(std::string_view line);

// "requests: 123" -> {"requests", "123"}; nullopt for anything else.
std::optional<std::pair<std::string, std::string>> parse_stat_line(std::string_view line);

// What the run learns about the server.
struct ServerResult {
  std::string program;
  std::string model;
  bool wine = false;
  // The final "key: value" statistics, in the order printed.
  std::vector<std::pair<std::string, std::string>> stats;
  // CPU time of the server process (from wait4/GetProcessTimes when it was
  // reaped, else the last /proc sample).
  double cpu_user_s = 0;
  double cpu_system_s = 0;
  // False when the CPU times above cannot be known: a Windows loadgen under
  // Wine gets its own times from GetProcessTimes on another process, so the
  // figures would be loadgen's; the reports leave them empty then.
  bool cpu_known = true;
  // Context switches (voluntary + involuntary) of all its threads over its
  // life, from wait4 when it was reaped; nullopt where not counted (Windows,
  // or not reaped).
  std::optional<std::uint64_t> context_switches;
  // With --server-cpus under Wine, what became of wineserver, which serves
  // the server from outside its process: pinned (and shared with every Wine
  // program of the prefix), or why it was not (affinity.hpp).
  std::string wineserver_pinning;
  std::uint64_t peak_memory_bytes = 0;  // largest resident set seen (VmHWM, ru_maxrss)
  std::uint64_t peak_threads = 0;       // most threads seen in the samples
  // Resident set before the load began and at the moment every connection
  // was established (--hold), for memory per connection.
  std::uint64_t memory_before_bytes = 0;
  std::uint64_t memory_held_bytes = 0;
  // How the held sample was timed: "online", "stable" or "end" (see
  // SpawnedServer::sample_held_when_held); empty when none was taken.
  std::string memory_held_by;
  bool died = false;       // exited before loadgen asked it to stop
  std::string stopped_by;  // "q", "terminate", "kill", or "exited" when it died
  int exit_code = -1;      // -1 when it ended by a signal
  int exit_signal = 0;
  std::string stderr_tail;  // its last lines of stderr

  // The value of a final statistic, or nullopt.
  std::optional<std::string> stat(std::string_view key) const;
};

class ChildProcess;

class SpawnedServer {
 public:
  struct Request {
    ServerCommand command;
    std::vector<std::string> args;  // the user's arguments (after --)
    proto::Protocol protocol = proto::Protocol::upper;
    std::chrono::nanoseconds ready_timeout{0};  // 0: 10 s native, 60 s Wine
    std::vector<int> cpus;                      // --server-cpus (empty: not pinned)
  };

  // Starts the server with args + "--port 0 --protocol <p>" and waits for its
  // ready line. Throws SpawnError if it cannot start, exits first, or prints
  // nothing usable within the timeout (it is killed then).
  explicit SpawnedServer(Request request);
  // Kills the server if it still runs (stop() is the clean way).
  ~SpawnedServer();
  SpawnedServer(const SpawnedServer&) = delete;
  SpawnedServer& operator=(const SpawnedServer&) = delete;

  const ReadyLine& ready() const noexcept { return ready_; }
  const ServerCommand& command() const noexcept { return request_.command; }
  platform::ProcessId pid() const noexcept;

  // Called once, on the monitor thread, if the server exits before stop().
  // Set it before the run starts.
  void on_death(std::function<void()> callback);
  bool died() const noexcept { return died_.load(std::memory_order_acquire); }

  // Samples the server now (resident memory, threads); nullopt once it exited.
  std::optional<platform::ProcessStats> sample() const noexcept;
  // Marks the current resident set as the baseline (before any connection).
  void note_memory_before() noexcept;
  // --hold: loadgen's `connections` connects have completed. That does not
  // mean the server holds them yet: a slow server (a thread per connection
  // under Wine) may still be accepting from its backlog, and its memory is
  // then far from what it needs for them all. From now on the monitor takes
  // the "held" sample at the first of these moments (ServerResult says which):
  //   online  the server's live line ("... online N ...", stderr) shows
  //           N >= connections: it really holds them all;
  //   stable  the server prints no live line, and its resident set has not
  //           grown for 1 s;
  //   end     neither happened before the hold ended (note_memory_held_at_end).
  // A server whose live line shows fewer than `connections` online is never
  // sampled as "stable": it said it is not there yet.
  void sample_held_when_held(std::uint64_t connections) noexcept;
  // The hold is over (connections are about to close): takes the held sample
  // now if sample_held_when_held() was called and none was taken yet.
  void note_memory_held_at_end() noexcept;

  // Stops the server: "//q" on stdin, then SIGTERM, then SIGKILL, each after a
  // bounded wait (longer under Wine), collects its output and returns what
  // was learnt. Call once.
  ServerResult stop();

 private:
  void monitor();
  void take_lines(bool final_flush);
  void take_live_lines(std::string_view err);
  void check_held(const platform::ProcessStats& stats, std::chrono::steady_clock::time_point now);
  bool wait_exit(std::chrono::nanoseconds timeout);

  Request request_;
  std::unique_ptr<ChildProcess> child_;
  ReadyLine ready_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string out_buffer_;  // stdout bytes not yet split into lines
  std::string err_tail_;
  std::string err_line_;  // the stderr line being received (for the live line)
  // --hold's held sample (see sample_held_when_held), under mutex_.
  std::uint64_t hold_connections_ = 0;  // 0: not armed
  bool held_taken_ = false;
  std::optional<std::uint64_t> online_;  // the last live line's online count
  std::uint64_t hold_max_rss_ = 0;
  std::chrono::steady_clock::time_point hold_grew_at_{};
  bool have_ready_ = false;
  bool exited_ = false;
  bool stopping_ = false;
  bool monitor_done_ = false;
  ServerResult result_;
  std::function<void()> on_death_;
  std::atomic<bool> died_{false};
  std::atomic<bool> end_monitor_{false};
  std::thread monitor_thread_;
};

}  // namespace wsb::loadgen
