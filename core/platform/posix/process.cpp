// Process statistics from getrusage() and /proc (Linux).
#include <dirent.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

#include "platform/process.hpp"

namespace wsb::platform {
namespace {

std::string proc_dir(ProcessId pid) {
  return "/proc/" + std::to_string(pid);
}

// "VmHWM:     1234 kB" -> 1234 * 1024; the value of `key` in /proc/<pid>/status.
std::optional<std::uint64_t> status_value(const std::string& status, std::string_view key) {
  std::istringstream lines(status);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() <= key.size() || line.compare(0, key.size(), key) != 0 ||
        line[key.size()] != ':') {
      continue;
    }
    std::istringstream fields(line.substr(key.size() + 1));
    std::uint64_t value = 0;
    std::string unit;
    if (!(fields >> value)) return std::nullopt;
    fields >> unit;
    return unit == "kB" ? value * 1024 : value;
  }
  return std::nullopt;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Entries of /proc/<pid>/fd, not counting the descriptor opendir() itself uses
// when the process is this one.
std::uint64_t count_fds(ProcessId pid) {
  DIR* dir = ::opendir((proc_dir(pid) + "/fd").c_str());
  if (dir == nullptr) return 0;
  const bool self = pid == ::getpid();
  const std::string own = std::to_string(::dirfd(dir));
  std::uint64_t count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (self && name == own) continue;
    ++count;
  }
  ::closedir(dir);
  return count;
}

}  // namespace

ProcessId current_process_id() noexcept {
  return ::getpid();
}

std::optional<ProcessStats> sample_process(ProcessId pid) noexcept {
  try {
    const auto stat = read_file(proc_dir(pid) + "/stat");
    if (!stat) return std::nullopt;
    // The command name (field 2) is in parentheses and may itself contain
    // spaces and ')', so fields are counted from the last ')'.
    const auto close = stat->rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream fields(stat->substr(close + 1));
    // Field 3 is the state; utime and stime are fields 14 and 15, num_threads 20.
    std::string field;
    ProcessStats stats;
    std::uint64_t utime = 0;
    std::uint64_t stime = 0;
    for (int index = 3; index <= 20 && (fields >> field); ++index) {
      std::uint64_t value = 0;
      std::from_chars(field.data(), field.data() + field.size(), value);
      if (index == 14) utime = value;
      if (index == 15) stime = value;
      if (index == 20) stats.threads = value;
    }
    const long ticks = ::sysconf(_SC_CLK_TCK);
    if (ticks > 0) {
      stats.user_cpu_seconds = static_cast<double>(utime) / static_cast<double>(ticks);
      stats.system_cpu_seconds = static_cast<double>(stime) / static_cast<double>(ticks);
    }
    // A zombie has no memory lines in status; its memory is 0, which is true.
    if (const auto status = read_file(proc_dir(pid) + "/status")) {
      stats.peak_memory_bytes = status_value(*status, "VmHWM").value_or(0);
      stats.memory_bytes = status_value(*status, "VmRSS").value_or(0);
    }
    stats.handles = count_fds(pid);
    return stats;
  } catch (...) {
    // Only allocation can throw here; report "cannot inspect" rather than crash.
    return std::nullopt;
  }
}

ProcessStats sample_process() noexcept {
  ProcessStats stats = sample_process(::getpid()).value_or(ProcessStats{});
  // getrusage is exact to the microsecond, /proc/<pid>/stat to the clock tick
  // (10 ms), so prefer it for the calling process.
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0) {
    stats.user_cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec) +
                             static_cast<double>(usage.ru_utime.tv_usec) / 1e6;
    stats.system_cpu_seconds = static_cast<double>(usage.ru_stime.tv_sec) +
                               static_cast<double>(usage.ru_stime.tv_usec) / 1e6;
    if (stats.peak_memory_bytes == 0) {
      stats.peak_memory_bytes = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // KiB on Linux
    }
  }
  return stats;
}

std::string runtime_description() {
  utsname name{};
  if (::uname(&name) != 0) return "POSIX";
  return std::string(name.sysname) + " " + name.release + " " + name.machine;
}

bool running_under_wine() noexcept {
  return false;
}

}  // namespace wsb::platform
