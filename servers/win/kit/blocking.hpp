// What the two blocking-socket models share (namespace wsb::kit):
// server-blocking-single and server-blocking-threads. Windows code only,
// like kit/winsock.hpp.
//
// Both block in accept() on the main thread and serve a client with
// blocking recv()/send(); a stop closes the sockets under the blocked calls
// (the models say why), so a failure after a stop request is the stop's
// doing, not the client's.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "kit/winsock.hpp"
#include "server/accept_policy.hpp"
#include "server/connection.hpp"
#include "server/frame.hpp"
#include "server/stats.hpp"

namespace wsb::kit {

// The listening socket of a blocking model. Closing it is how a stop wakes
// the accept() blocked on it, so it is closed by whichever comes first, the
// stop or the end of the accept loop, and exactly once. get() may be called
// anywhere; close() only under the lock the model shares with its wake
// function.
class BlockingListener {
 public:
  explicit BlockingListener(SOCKET s) noexcept : socket_(s) {}
  SOCKET get() const noexcept { return socket_; }
  void close() noexcept {
    if (!open_) return;
    ::closesocket(socket_);
    open_ = false;
  }

 private:
  const SOCKET socket_;
  bool open_ = true;
};

// Blocks in accept() until a client connects: the accepted socket, or
// INVALID_SOCKET once a stop is requested or the accept policy says stop. A
// failed accept() goes to `policy` (counted, and paused on when the policy
// says so) and the call blocks again. With --when-full queue it does not
// accept while the frame has no room (Frame::wait_for_room), and reports the
// wait it saw (kit/room.hpp).
SOCKET accept_blocking(server::Frame& frame, server::AcceptPolicy& policy, SOCKET listener,
                       server::StatsShard& shard) noexcept;

// A blocking recv()/send() failed with `code`. After a stop request the
// failure is the stop closing the socket, not the client's doing, and is not
// counted. WSAETIMEDOUT is SO_RCVTIMEO/SO_SNDTIMEO firing (the client
// stalled): counted as idle_timeout; the socket is then in an indeterminate
// state (Winsock documentation) and must be closed, which the caller does.
// Returns false, for a caller that reports "the exchange broke".
bool count_blocking_failure(const server::Frame& frame, server::Connection& conn,
                            int code) noexcept;

// How long a blocking model's clean close waits for the peer's FIN after
// sending its own (close_gracefully, kit/winsock.hpp).
inline constexpr std::chrono::seconds drain_timeout{1};

// The body of main() of a blocking model, after the frame parsed its command
// line. The model decides its threads itself, so its ModelInfo sets
// one_thread_reason and run_model() has refused any --threads but 1. It opens
// a blocking listener, so that accept() waits, created with
// WSA_FLAG_OVERLAPPED although no overlapped I/O is done: the Winsock
// documentation says SO_RCVTIMEO and SO_SNDTIMEO never take effect on a
// socket created by WSASocket without that flag (Wine behaves the same), and
// accepted sockets inherit it from the listener. Server(frame, listener) then
// runs on this thread until the stop, which calls its wake(). Returns the
// exit code.
template <class Server>
int serve_blocking(server::Frame& frame) {
  const SOCKET listener = frame.open_listener({.overlapped = true});
  Server server(frame, listener);
  frame.start([&server] { server.wake(); });
  server.run();
  return frame.finish();
}

}  // namespace wsb::kit
