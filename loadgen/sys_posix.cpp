// POSIX (Linux) side of sys.hpp.
#include <dirent.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <system_error>

#include "sys.hpp"

namespace wsb::loadgen {

void tune_worker_thread() noexcept {
  // 1 ns is the smallest slack; 0 would mean "reset to the process default".
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
}

void yield_processor() noexcept {
  ::sched_yield();
}

FineTimerResolution::FineTimerResolution(bool) noexcept {}
FineTimerResolution::~FineTimerResolution() = default;

DescriptorLimit raise_descriptor_limit() noexcept {
  DescriptorLimit out;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    if (lim.rlim_cur < lim.rlim_max) {
      rlimit raised = lim;
      raised.rlim_cur = lim.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
    }
    if (lim.rlim_cur != RLIM_INFINITY) out.limit = static_cast<std::uint64_t>(lim.rlim_cur);
    try {
      out.remedy = "the hard limit (ulimit -Hn) is " +
                   (lim.rlim_max == RLIM_INFINITY ? std::string("unlimited")
                                                  : std::to_string(lim.rlim_max)) +
                   "; raise it as root (ulimit -n, LimitNOFILE= in a systemd unit, "
                   "nofile in /etc/security/limits.conf), or use fewer --connections per "
                   "process and run several loadgen processes";
    } catch (...) {
    }
  }
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    std::uint64_t count = 0;
    while (const dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.') ++count;
    }
    ::closedir(dir);
    out.in_use = count > 0 ? count - 1 : 0;  // minus the directory's own descriptor
  } else {
    out.in_use = 3;
  }
  return out;
}

bool windows_build() noexcept {
  return false;
}

std::filesystem::path executable_path() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : path;
}

std::optional<std::uint64_t> own_context_switches() noexcept {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(usage.ru_nvcsw) + static_cast<std::uint64_t>(usage.ru_nivcsw);
}

}  // namespace wsb::loadgen
