// What the blocking-socket models share (kit/blocking.hpp).
#include "kit/blocking.hpp"

#include <optional>

#include "kit/room.hpp"
#include "server/options.hpp"

namespace wsb::kit {

SOCKET accept_blocking(server::Frame& frame, server::AcceptPolicy& policy, SOCKET listener,
                       server::StatsShard& shard) noexcept {
  while (!frame.stopping()) {
    // --when-full queue: no accept() while --max-connections are online; the
    // clients wait in the listen backlog. The wait this thread sees is from
    // the moment it found one waiting (kit/room.hpp) until the accept.
    std::optional<Clock::time_point> waiting_since;
    if (!frame.has_room()) {
      const Clock::time_point began = Clock::now();
      if (client_waiting(listener)) waiting_since = began;
      if (!frame.wait_for_room()) break;
      // A client that arrived during the wait waited at most this long.
      if (!waiting_since && client_waiting(listener)) waiting_since = began;
    }
    // Blocks until a client connects (or the stop closes the listener).
    const SOCKET s = ::accept(listener, nullptr, nullptr);
    if (s != INVALID_SOCKET) {
      if (waiting_since) frame.note_waited(Clock::now() - *waiting_since);
      return s;
    }
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
