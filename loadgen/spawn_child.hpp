// A child process with its standard streams on pipes (namespace
// wsb::loadgen): the platform half of --spawn, implemented in
// spawn_posix.cpp (fork/exec) and spawn_win.cpp (CreateProcessW).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/process.hpp"

namespace wsb::loadgen {

class ChildProcess {
 public:
  struct Exit {
    int code = -1;   // exit status, -1 when ended by a signal
    int signal = 0;  // POSIX: the signal that ended it
    double user_s = 0;
    double system_s = 0;
    std::uint64_t max_rss_bytes = 0;  // 0 when unknown
    // Voluntary plus involuntary context switches of all its threads
    // (POSIX: wait4's rusage); nullopt where the platform does not count them.
    std::optional<std::uint64_t> context_switches;
  };

  // Starts argv[0] (a path) with argv. stdin, stdout and stderr are pipes;
  // the child is not sent the terminal's Ctrl-C (POSIX: its own process
  // group; Windows: CREATE_NEW_PROCESS_GROUP) so that an interrupted run can
  // still stop it cleanly, and it dies with loadgen (POSIX:
  // PR_SET_PDEATHSIG; Windows: a kill-on-close job object). Throws
  // std::runtime_error when it cannot be started. A non-empty `cpus` pins
  // the child, and every thread it will have, to those CPUs from its start
  // (POSIX: sched_setaffinity before exec; Windows: SetProcessAffinityMask
  // while it is still suspended).
  explicit ChildProcess(const std::vector<std::string>& argv, const std::vector<int>& cpus = {});
  // Kills the child if it still runs, and reaps it.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  platform::ProcessId pid() const noexcept;

  // Waits up to `wait` for output on stdout or stderr, then appends whatever
  // is available without blocking. Returns false once both have reached end
  // of file (a child's own children may keep them open after it exited, so
  // callers do not rely on that).
  bool read_output(std::chrono::milliseconds wait, std::string& out, std::string& err);

  // Reaps the child if it has exited; nullopt while it runs.
  std::optional<Exit> try_wait() noexcept;

  // Writes to the child's stdin; false when the pipe is closed.
  bool write_stdin(std::string_view text) noexcept;
  // POSIX: SIGTERM. Windows: nothing gentler than kill() exists for a
  // console program in another process group, so this does nothing there.
  void terminate() noexcept;
  // SIGKILL / TerminateProcess.
  void kill() noexcept;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace wsb::loadgen
