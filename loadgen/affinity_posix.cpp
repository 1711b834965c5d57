// CPU affinity on Linux: sched_getaffinity / sched_setaffinity.
#include <sched.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "affinity.hpp"

namespace wsb::loadgen {

namespace {

cpu_set_t mask_of(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) {
    if (c < CPU_SETSIZE) CPU_SET(c, &set);
  }
  return set;
}

}  // namespace

std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) out.push_back(c);
  }
  return out;
}

std::string pin_this_process(const std::vector<int>& cpus) {
  if (cpus.empty()) return {};
  const cpu_set_t set = mask_of(cpus);
  // The calling thread: every thread it starts from now on inherits the mask.
  if (::sched_setaffinity(0, sizeof set, &set) != 0) return std::strerror(errno);
  return {};
}

namespace {

// One variable of /proc/PID/environ; "" when absent or unreadable.
std::string environ_value(platform::ProcessId pid, std::string_view name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::string entry;
  while (std::getline(in, entry, '\0')) {
    if (entry.size() > name.size() && entry.compare(0, name.size(), name) == 0 &&
        entry[name.size()] == '=') {
      return entry.substr(name.size() + 1);
    }
  }
  return {};
}

std::string pin_threads(platform::ProcessId pid, const cpu_set_t& set) {
  std::error_code ec;
  bool any = false;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const pid_t tid = static_cast<pid_t>(std::stol(entry.path().filename().string()));
    if (::sched_setaffinity(tid, sizeof set, &set) != 0) return std::strerror(errno);
    any = true;
  }
  return any ? std::string() : std::string("no such process");
}

}  // namespace

std::string pin_wineserver_of(platform::ProcessId child, const std::vector<int>& cpus) {
  if (cpus.empty()) return {};
  const std::string prefix = environ_value(child, "WINEPREFIX");
  if (prefix.empty()) return "not pinned (the server's WINEPREFIX cannot be read)";
  // A prefix's wineserver works in a folder named server-DEV-INODE, the
  // device and inode of the prefix folder in hex: that names it whatever
  // path spelled the prefix (tools/matrix.py's WineserverMeter finds it so).
  struct stat st {};
  if (::stat(prefix.c_str(), &st) != 0) return "not pinned (" + prefix + ": no such folder)";
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, "/server-%llx-%llx",
                static_cast<unsigned long long>(st.st_dev),
                static_cast<unsigned long long>(st.st_ino));
  const cpu_set_t set = mask_of(cpus);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream comm(entry.path() / "comm");
    std::string command;
    std::getline(comm, command);
    // "wineserver64" (or "wineserver32") on Debian, "wineserver" elsewhere.
    if (command.rfind("wineserver", 0) != 0) continue;
    std::error_code cwd_error;
    const std::string cwd = std::filesystem::read_symlink(entry.path() / "cwd", cwd_error).string();
    if (cwd_error || cwd.size() < std::strlen(suffix) ||
        cwd.compare(cwd.size() - std::strlen(suffix), std::string::npos, suffix) != 0) {
      continue;
    }
    const std::string failed = pin_threads(std::stoll(name), set);
    if (!failed.empty()) return "not pinned (" + failed + ")";
    return "pinned (pid " + name + ", shared with every Wine program of " + prefix + ")";
  }
  return "not pinned (no wineserver of " + prefix + " found)";
}

}  // namespace wsb::loadgen
