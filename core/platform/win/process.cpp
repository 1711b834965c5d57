// Process statistics from the Win32 process API.
#include <windows.h>
#include <psapi.h>
#include <tlhelp32.h>

#include <string>

#include "platform/process.hpp"

namespace wsb::platform {
namespace {

double seconds(const FILETIME& t) noexcept {
  ULARGE_INTEGER value;
  value.LowPart = t.dwLowDateTime;
  value.HighPart = t.dwHighDateTime;
  return static_cast<double>(value.QuadPart) / 1e7;  // 100 ns units
}

// The thread count from a Toolhelp snapshot: the process entry carries it, and
// no API returns it for a process handle directly.
std::uint64_t thread_count(DWORD pid) noexcept {
  const HANDLE snapshot = ::CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snapshot == INVALID_HANDLE_VALUE) return 0;
  PROCESSENTRY32W entry{};
  entry.dwSize = sizeof entry;
  std::uint64_t threads = 0;
  for (BOOL ok = ::Process32FirstW(snapshot, &entry); ok; ok = ::Process32NextW(snapshot, &entry)) {
    if (entry.th32ProcessID == pid) {
      threads = entry.cntThreads;
      break;
    }
  }
  ::CloseHandle(snapshot);
  return threads;
}

ProcessStats sample_handle(HANDLE process, DWORD pid) noexcept {
  ProcessStats stats;
  FILETIME created{};
  FILETIME exited{};
  FILETIME kernel{};
  FILETIME user{};
  if (::GetProcessTimes(process, &created, &exited, &kernel, &user)) {
    stats.user_cpu_seconds = seconds(user);
    stats.system_cpu_seconds = seconds(kernel);
  }
  PROCESS_MEMORY_COUNTERS memory{};
  memory.cb = sizeof memory;
  if (::GetProcessMemoryInfo(process, &memory, sizeof memory)) {
    stats.peak_memory_bytes = memory.PeakWorkingSetSize;
    stats.memory_bytes = memory.WorkingSetSize;
  }
  DWORD handles = 0;
  if (::GetProcessHandleCount(process, &handles)) stats.handles = handles;
  stats.threads = thread_count(pid);
  return stats;
}

// GetProcAddress returns FARPROC; converting through a function type without
// parameters is the spelling that both GCC (-Wcast-function-type) and MSVC
// accept for a function whose real type differs.
template <typename Function>
Function ntdll_function(const char* name) noexcept {
  const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  if (ntdll == nullptr) return nullptr;
  const FARPROC proc = ::GetProcAddress(ntdll, name);
  return reinterpret_cast<Function>(reinterpret_cast<void (*)()>(proc));
}

}  // namespace

ProcessId current_process_id() noexcept {
  return ::GetCurrentProcessId();
}

ProcessStats sample_process() noexcept {
  return sample_handle(::GetCurrentProcess(), ::GetCurrentProcessId());
}

std::optional<ProcessStats> sample_process(ProcessId pid) noexcept {
  if (pid < 0 || pid > static_cast<ProcessId>(MAXDWORD)) return std::nullopt;
  const DWORD id = static_cast<DWORD>(pid);
  // PROCESS_VM_READ is what GetProcessMemoryInfo asks for on older systems;
  // without it (a protected process) the times and counts still work.
  HANDLE process = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, FALSE, id);
  if (process == nullptr) process = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, id);
  if (process == nullptr) return std::nullopt;
  const ProcessStats stats = sample_handle(process, id);
  ::CloseHandle(process);
  return stats;
}

bool running_under_wine() noexcept {
  return ntdll_function<const char*(__cdecl*)()>("wine_get_version") != nullptr;
}

std::string runtime_description() {
  using WineVersion = const char*(__cdecl*)();
  using WineHost = void(__cdecl*)(const char** sysname, const char** release);
  if (const auto wine_version = ntdll_function<WineVersion>("wine_get_version")) {
    std::string text = std::string("Wine ") + wine_version();
    if (const auto host = ntdll_function<WineHost>("wine_get_host_version")) {
      const char* sysname = nullptr;
      const char* release = nullptr;
      host(&sysname, &release);
      if (sysname != nullptr && release != nullptr)
        text += std::string(" on ") + sysname + " " + release;
    }
    return text;
  }
  // GetVersionEx reports 6.2 to programs without a compatibility manifest;
  // RtlGetVersion reports the real version.
  using RtlGetVersion = LONG(WINAPI*)(OSVERSIONINFOW*);
  OSVERSIONINFOW info{};
  info.dwOSVersionInfoSize = sizeof info;
  if (const auto get_version = ntdll_function<RtlGetVersion>("RtlGetVersion");
      get_version != nullptr && get_version(&info) == 0) {
    return "Windows " + std::to_string(info.dwMajorVersion) + "." +
           std::to_string(info.dwMinorVersion) + "." + std::to_string(info.dwBuildNumber);
  }
  return "Windows";
}

}  // namespace wsb::platform
