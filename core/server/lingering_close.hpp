// The clean end of a connection in a readiness model (namespace wsb::server):
// select(), WSAAsyncSelect, polling non-blocking sockets.
//
// When the Connection is finished without a failure, the server sends its FIN
// after the last reply (shutdown, SD_SEND / SHUT_WR) and then lingers: it
// reads and drops input until the peer's FIN, and only then closes the
// socket. Closing a socket with unread input makes the system send RST
// (Windows does so always), which can destroy the last reply before the peer
// has read it. A peer that never sends its FIN is cut off after a deadline.
// A failed connection, and one whose peer closed first, are closed at once:
// nothing is left to wait for.
//
// The model keeps one LingeringClose per connection, asks settle() whether to
// close the socket now (after I/O, and on its periodic sweep), and while
// lingering() reads the socket only to drop the bytes, calling
// on_linger_done() at the peer's FIN (recv() returned 0) or an error.
#pragma once

#include <chrono>

#include "platform/net.hpp"
#include "server/connection.hpp"

namespace wsb::server {

class LingeringClose {
 public:
  using Clock = std::chrono::steady_clock;

  // recv() returned 0 and it was the peer's FIN (not a reset): the peer
  // closed first. Call it together with Connection::on_peer_closed().
  void on_peer_closed() noexcept { peer_closed_ = true; }
  bool peer_closed() const noexcept { return peer_closed_; }

  // Our FIN is sent and input is being dropped until the peer's FIN.
  bool lingering() const noexcept { return lingering_; }
  // While lingering: the peer's FIN (or an error) arrived; settle() says close.
  void on_linger_done() noexcept { linger_done_ = true; }
  bool linger_done() const noexcept { return linger_done_; }
  // While lingering: when settle() gives up waiting for the peer's FIN.
  Clock::time_point deadline() const noexcept { return deadline_; }

  // Whether to close the socket `s` of `conn` now.
  //  - Lingering: once linger_done() or `now` has reached the deadline.
  //  - Otherwise false while the connection is not finished, true when it
  //    failed, when the peer closed first or when shutdown_send() fails;
  //    else sends the FIN, starts lingering until now + `timeout` and
  //    returns false.
  bool settle(net::socket_t s, const Connection& conn, Clock::time_point now,
              Clock::duration timeout) noexcept;

 private:
  bool peer_closed_ = false;
  bool lingering_ = false;
  bool linger_done_ = false;
  Clock::time_point deadline_{};
};

}  // namespace wsb::server
