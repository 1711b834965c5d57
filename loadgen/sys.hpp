// The few process and thread settings the load generator needs that differ
// between platforms (namespace wsb::loadgen). Implemented in sys_posix.cpp and
// sys_win.cpp; CMake compiles one of them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "platform/net.hpp"

namespace wsb::loadgen {

// Called first by every worker thread. Linux: sets the thread's timer slack
// to 1 ns (PR_SET_TIMERSLACK), because the default 50 us slack would let the
// kernel wake open-loop workers up to 50 us late, and that lateness would be
// measured as latency. Windows: nothing.
void tune_worker_thread() noexcept;

// Gives the processor to another runnable thread of this machine, if there
// is one, and returns at once otherwise (sched_yield / SwitchToThread). A
// spinning worker (Options::spin) calls it between polls, so that a server
// on the same core is not starved by the spin.
void yield_processor() noexcept;

// For the lifetime of the object, timed waits are as precise as the system
// allows. Windows: timeBeginPeriod(1) / timeEndPeriod(1). By default Windows
// ends timed waits (GetQueuedCompletionStatusEx's timeout included) only at
// the next tick of its 15.6 ms system timer, so an open-loop (--rate)
// schedule would send its requests in bursts every 15.6 ms and the lateness
// would be measured as latency; at 1 ms the error shrinks accordingly. The
// setting is system-wide and costs power, so it is held for an open-loop run
// only (run_load does that) and always released. When the call fails the run
// goes on at the default resolution. POSIX: nothing (timers are already fine
// grained; tune_worker_thread() removes the timer slack).
class FineTimerResolution {
 public:
  explicit FineTimerResolution(bool wanted) noexcept;
  ~FineTimerResolution();
  FineTimerResolution(const FineTimerResolution&) = delete;
  FineTimerResolution& operator=(const FineTimerResolution&) = delete;
  // The resolution was raised (false on POSIX, or when not wanted or refused).
  bool active() const noexcept { return active_; }

 private:
  bool active_ = false;
};

// The descriptor budget of the process.
struct DescriptorLimit {
  // The limit after raising the soft limit to the hard one; nullopt when the
  // platform has no such limit (Windows sockets are not bounded by one).
  std::optional<std::uint64_t> limit;
  // Descriptors already open (stdio, the interrupt pipe, ...).
  std::uint64_t in_use = 0;
  // What to tell the user when the run needs more, e.g. "raise it with
  // ulimit -n (hard limit 20000; root may raise the hard limit)".
  std::string remedy;
};
// Raises RLIMIT_NOFILE's soft limit to the hard limit (POSIX) and reports it.
DescriptorLimit raise_descriptor_limit() noexcept;

// True in the Windows build (loadgen.exe), false in the POSIX one.
bool windows_build() noexcept;

// Context switches (voluntary + involuntary) of this process so far, all
// threads (getrusage RUSAGE_SELF); nullopt on Windows, which does not count
// them per process.
std::optional<std::uint64_t> own_context_switches() noexcept;

// The absolute path of the running executable (empty if it cannot be found).
std::filesystem::path executable_path();

}  // namespace wsb::loadgen
