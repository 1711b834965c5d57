// The few process and thread settings the load generator needs that differ
// between platforms (namespace wsb::loadgen). Implemented in sys_posix.cpp and
// sys_win.cpp; CMake compiles one of them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace wsb::loadgen {

// Called first by every worker thread. Linux: sets the thread's timer slack
// to 1 ns (PR_SET_TIMERSLACK), because the default 50 us slack would let the
// kernel wake open-loop workers up to 50 us late, and that lateness would be
// measured as latency. Windows: nothing.
void tune_worker_thread() noexcept;

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

// The absolute path of the running executable (empty if it cannot be found).
std::filesystem::path executable_path();

}  // namespace wsb::loadgen
