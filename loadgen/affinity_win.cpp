// CPU affinity on Windows: the process affinity mask (at most 64 CPUs, one
// processor group; wsbench's machines have fewer).
#include <windows.h>

#include <string>

#include "affinity.hpp"

namespace wsb::loadgen {

std::vector<int> usable_cpus() {
  DWORD_PTR process = 0;
  DWORD_PTR system = 0;
  std::vector<int> out;
  if (!::GetProcessAffinityMask(::GetCurrentProcess(), &process, &system)) return out;
  for (int c = 0; c < static_cast<int>(sizeof(DWORD_PTR) * 8); ++c) {
    if (process & (DWORD_PTR{1} << c)) out.push_back(c);
  }
  return out;
}

std::string pin_this_process(const std::vector<int>& cpus) {
  if (cpus.empty()) return {};
  // New threads of a Windows process take the process mask, not their
  // creator's thread mask: the whole process is pinned.
  if (!::SetProcessAffinityMask(::GetCurrentProcess(), static_cast<DWORD_PTR>(cpu_mask(cpus)))) {
    return "SetProcessAffinityMask failed (error " + std::to_string(::GetLastError()) + ")";
  }
  return {};
}

std::string pin_wineserver_of(platform::ProcessId, const std::vector<int>&) {
  return "not pinned (a Windows loadgen cannot reach wineserver, a Linux process)";
}

}  // namespace wsb::loadgen
