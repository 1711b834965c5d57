// Windows side of sys.hpp.
#include <winsock2.h>
#include <windows.h>
#include <timeapi.h>

#include <string>

#include "sys.hpp"

namespace wsb::loadgen {

void tune_worker_thread() noexcept {
  // Nothing to tune: waits on a completion port are not subject to a timer
  // slack, and the workload polls again when a wait returns early.
}

void yield_processor() noexcept {
  ::SwitchToThread();
}

// timeBeginPeriod lives in winmm (loadgen/CMakeLists.txt links it). 1 ms is
// the finest period every Windows version grants.
constexpr UINT fine_timer_period_ms = 1;

FineTimerResolution::FineTimerResolution(bool wanted) noexcept
    : active_(wanted && ::timeBeginPeriod(fine_timer_period_ms) == TIMERR_NOERROR) {}

FineTimerResolution::~FineTimerResolution() {
  // Every successful timeBeginPeriod needs its timeEndPeriod with the same
  // period, or the system keeps the raised resolution.
  if (active_) ::timeEndPeriod(fine_timer_period_ms);
}

DescriptorLimit raise_descriptor_limit() noexcept {
  // Sockets are kernel handles, bounded by memory (and by the ephemeral port
  // range per source address), not by a per-process descriptor limit.
  DescriptorLimit out;
  out.remedy = "Windows has no per-process socket limit";
  return out;
}

bool windows_build() noexcept {
  return true;
}

std::filesystem::path executable_path() {
  std::wstring buffer(MAX_PATH, L'\0');
  for (;;) {
    const DWORD n = ::GetModuleFileNameW(nullptr, buffer.data(), static_cast<DWORD>(buffer.size()));
    if (n == 0) return {};
    if (n < buffer.size()) {
      buffer.resize(n);
      return std::filesystem::path(buffer);
    }
    buffer.resize(buffer.size() * 2);
  }
}

std::optional<std::uint64_t> own_context_switches() noexcept {
  return std::nullopt;
}

}  // namespace wsb::loadgen
