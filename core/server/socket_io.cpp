// Receive and send for a Connection: server/socket_io.hpp.
#include "server/socket_io.hpp"

#include <cstddef>

#include "server/options.hpp"

namespace wsb::server {

bool receive_once(net::socket_t s, std::span<char> buffer, Connection& conn) noexcept {
  const std::ptrdiff_t n = net::recv_some(s, buffer);
  if (n > 0) {
    conn.on_received({buffer.data(), static_cast<std::size_t>(n)});
  } else if (n == 0) {
    conn.on_peer_closed();
  } else {
    const int code = net::last_error();
    if (net::would_block(code)) return false;
    conn.on_error(classify_io_error(code));
  }
  return true;
}

bool send_pending(net::socket_t s, Connection& conn) noexcept {
  while (conn.want_write()) {
    const std::ptrdiff_t n = net::send_some(s, conn.pending());
    if (n >= 0) {
      conn.on_sent(static_cast<std::size_t>(n));
      continue;
    }
    const int code = net::last_error();
    if (net::would_block(code)) return false;
    conn.on_error(classify_io_error(code));
  }
  return true;
}

int exchange_blocking(net::socket_t s, Connection& conn, std::span<char> buffer,
                      EndOfStreamProbe end_of_stream_error, bool& peer_closed) noexcept {
  while (!conn.finished()) {
    while (conn.want_write()) {
      const std::ptrdiff_t n = net::send_some(s, conn.pending());
      if (n < 0) return net::last_error();
      conn.on_sent(static_cast<std::size_t>(n));
    }
    if (conn.finished() || !conn.want_read()) break;
    // Blocks until bytes arrive, the peer closes, a socket timeout expires or
    // the socket is closed under it (a stop).
    const std::ptrdiff_t n = net::recv_some(s, buffer);
    if (n < 0) return net::last_error();
    if (n > 0) {
      conn.on_received(buffer.first(static_cast<std::size_t>(n)));
      continue;
    }
    if (const int reset = end_of_stream_error(s); reset != 0) return reset;
    peer_closed = true;
    conn.on_peer_closed();
  }
  return 0;
}

}  // namespace wsb::server
