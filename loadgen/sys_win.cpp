// Windows side of sys.hpp.
#include <winsock2.h>
#include <ws2tcpip.h>
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

std::optional<net::Endpoint> resolve_host(const std::string& host, std::uint16_t port,
                                          std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    if (error) *error = net::error_text(rc);
    return std::nullopt;
  }
  std::optional<net::Endpoint> endpoint;
  for (const addrinfo* a = found; a != nullptr && !endpoint; a = a->ai_next) {
    endpoint = net::Endpoint::from(a->ai_addr, static_cast<int>(a->ai_addrlen));
  }
  ::freeaddrinfo(found);
  if (!endpoint) {
    if (error) *error = "no IPv4 or IPv6 address";
    return std::nullopt;
  }
  endpoint->set_port(port);
  return endpoint;
}

}  // namespace wsb::loadgen
