// What the blocking-socket models share (kit/blocking.hpp).
#include "kit/blocking.hpp"

#include "server/options.hpp"

namespace wsb::kit {

SOCKET accept_blocking(server::Frame& frame, server::AcceptPolicy& policy, SOCKET listener,
                       server::StatsShard& shard) noexcept {
  while (!frame.stopping()) {
    // Blocks until a client connects (or the stop closes the listener).
    const SOCKET s = ::accept(listener, nullptr, nullptr);
    if (s != INVALID_SOCKET) return s;
    const int code = ::WSAGetLastError();
    if (frame.stopping()) break;
    const server::AcceptAction next = policy.handle(code, listener, shard);
    if (next == server::AcceptAction::stop) break;
    if (next == server::AcceptAction::pause) {
      ::Sleep(static_cast<DWORD>(server::AcceptPolicy::pause_for.count()));
    }
  }
  return INVALID_SOCKET;
}

bool count_blocking_failure(const server::Frame& frame, server::Connection& conn,
                            int code) noexcept {
  if (frame.stopping()) return false;
  conn.on_error(code == WSAETIMEDOUT ? server::ErrorClass::idle_timeout
                                     : server::classify_io_error(code));
  return false;
}

}  // namespace wsb::kit
