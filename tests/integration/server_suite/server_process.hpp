// A server model under test, run as a child process (namespace wsb::suite).
//
// The suite talks to a server only the way a user would: through its command
// line, the ready line and final statistics on stdout, the live line on
// stderr, "//q" on stdin, and its exit status (core/server/frame.hpp). A
// Windows model (a path ending in ".exe") is started through
// cmake/wine-emulator.sh, which runs it under Wine with the build's prefix.
//
// The child gets a process group of its own, so that everything it spawns
// (the Wine loader may start helpers such as wineboot in the caller's group)
// can be killed in one call without touching the test program or unrelated
// processes. Wine's long-lived system processes (wineserver, services.exe,
// winedevice.exe) call setsid() and are therefore never in that group: other
// Wine programs sharing the prefix keep working. They do, however, inherit
// the child's stdout and stderr, so end of file on those pipes does not mean
// the server exited; this class never waits for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace wsb::suite {

using Clock = std::chrono::steady_clock;

// The parsed ready line "listening <addr>:<port> model=<name> protocol=<p>".
struct ReadyLine {
  std::string host;  // without brackets: "127.0.0.1" or "::1"
  std::uint16_t port = 0;
  std::string model;
  std::string protocol;
};

// Parses one ready line (without its line ending); nullopt if it does not
// follow the format exactly.
std::optional<ReadyLine> parse_ready_line(std::string_view line);

// How a child process ended.
struct ExitStatus {
  bool exited = false;  // true: exit code in `code`; false: killed by signal `signal`
  int code = 0;
  int signal = 0;
  std::string describe() const;  // "exit code 2" or "killed by signal 9 (Killed)"
};

// The "key: value" lines of the final statistics; later duplicates win.
using Statistics = std::map<std::string, std::string, std::less<>>;
// Splits each line of `text` at its first ": "; lines without one are skipped.
Statistics parse_statistics(std::string_view text);

class ServerProcess {
 public:
  // Starts `exe` with `args`. An .exe goes through `wine_wrapper` (a shell
  // script run with /bin/sh). stdin, stdout and stderr are pipes owned by this
  // object. Throws std::runtime_error when the process cannot be created.
  ServerProcess(const std::string& exe, const std::vector<std::string>& args,
                const std::string& wine_wrapper);
  // Kills the process group if the server still runs, reaps the child and
  // stops the output reader.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }
  // The command line as a shell would show it, for messages.
  const std::string& command_line() const noexcept { return command_line_; }

  // Waits for the first line on stdout. Returns it when it is a ready line.
  // nullopt when the process exited first, printed something else first, or
  // the timeout passed; `why` then says which.
  std::optional<ReadyLine> wait_ready(std::chrono::milliseconds timeout, std::string& why);

  // Writes bytes to the server's stdin; false when it can no longer be
  // written (the server exited or closed it).
  bool write_stdin(std::string_view bytes);
  // Closes the server's stdin (end of input, which is not a stop request).
  void close_stdin();

  // Reaps the child if it exited, waiting at most `timeout`. Returns its
  // status, or nullopt while it still runs. Once it returned a status, every
  // later call returns the same status, and the output captured so far is
  // complete.
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout);
  bool running();

  // SIGKILL to the whole process group (harmless when it is gone), then reaps
  // the child. Returns its status.
  ExitStatus kill_group();

  // Everything captured so far.
  std::string stdout_text() const;
  std::string stderr_text() const;

  // The value after "online" in the last complete live line on stderr
  // ("[   1.0s] online 3 peak 4 accepted ..."), or nullopt before the first.
  std::optional<std::uint64_t> live_online() const;
  // The value after the word `key` ("accepted", "peak", "errors") in the last
  // complete live line, or nullopt before the first.
  std::optional<std::uint64_t> live_count(std::string_view key) const;
  // Waits until a live line reports `online` == n. False at the timeout.
  bool wait_online(std::uint64_t n, std::chrono::milliseconds timeout);

 private:
  void reader_loop();
  void stop_reader();

  pid_t pid_ = -1;
  std::string command_line_;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int wake_read_fd_ = -1;  // a pipe that stops the reader thread
  int wake_write_fd_ = -1;
  std::optional<ExitStatus> status_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string out_;
  std::string err_;
  bool reader_done_ = false;
  std::thread reader_;
};

// Starts `exe` with `args` into `server` (ServerProcess's constructor) and
// waits up to `timeout` for its ready line (wait_ready). Under Wine on a
// loaded machine a program has been seen to end with exit code 1 before its
// first line of output, although every failure the servers catch prints
// "error: ...": a Windows server (an .exe) that exits before its ready line
// without a byte on stdout or stderr is started once more, with a note on
// stderr, which tells such a start-up failure from a model that fails every
// time.
std::optional<ReadyLine> start_server_process(std::unique_ptr<ServerProcess>& server,
                                              const std::string& exe,
                                              const std::vector<std::string>& args,
                                              const std::string& wine_wrapper,
                                              std::chrono::milliseconds timeout, std::string& why);

}  // namespace wsb::suite
