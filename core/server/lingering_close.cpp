// The clean end of a connection in a readiness model (server/lingering_close.hpp).
#include "server/lingering_close.hpp"

namespace wsb::server {

bool LingeringClose::settle(net::socket_t s, const Connection& conn, Clock::time_point now,
                            Clock::duration timeout) noexcept {
  if (lingering_) return linger_done_ || now >= deadline_;
  if (!conn.finished()) return false;
  if (conn.failed() || peer_closed_) return true;
  if (!net::shutdown_send(s)) return true;
  lingering_ = true;
  deadline_ = now + timeout;
  return false;
}

}  // namespace wsb::server
