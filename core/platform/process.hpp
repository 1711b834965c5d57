// Resource usage of a process (namespace wsb::platform), so that a report can
// put CPU time, memory and handle counts next to throughput.
//
// Implemented with GetProcessTimes, GetProcessMemoryInfo (psapi),
// GetProcessHandleCount and a Toolhelp thread snapshot on Windows, and with
// getrusage plus /proc on Linux.
//
// Wine: a Windows program under Wine is a Linux process. The load generator,
// when it is a native Linux program, therefore samples a Wine-hosted server
// through /proc like any other process, which is exactly right: the numbers
// are the real host costs (they include the Wine runtime but not wineserver,
// which is a separate process).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace wsb::platform {

// A process id wide enough for DWORD and pid_t alike.
using ProcessId = std::int64_t;

struct ProcessStats {
  double user_cpu_seconds = 0;          // CPU time spent in user mode
  double system_cpu_seconds = 0;        // CPU time spent in the kernel
  std::uint64_t peak_memory_bytes = 0;  // peak resident set / peak working set
  std::uint64_t memory_bytes = 0;       // current resident set / working set
  std::uint64_t threads = 0;            // threads in the process
  // Open handles (Windows GetProcessHandleCount) or open file descriptors
  // (Linux: entries of /proc/<pid>/fd). 0 when the platform does not report it.
  std::uint64_t handles = 0;
};

// The calling process. Fields the platform cannot provide stay 0; never throws.
ProcessStats sample_process() noexcept;

// Another process (or this one, by id). nullopt when it does not exist or may
// not be inspected (different user, exited).
std::optional<ProcessStats> sample_process(ProcessId pid) noexcept;

ProcessId current_process_id() noexcept;

// What the program runs on, for reports: e.g. "Linux 6.1.0-18-amd64 x86_64",
// "Windows 10.0.19045", or "Wine 8.0 on Linux 6.1.0-18-amd64" when a Windows
// build runs under Wine (detected through ntdll's wine_get_version export).
std::string runtime_description();

// True when a Windows build runs under Wine; always false on POSIX.
bool running_under_wine() noexcept;

}  // namespace wsb::platform
