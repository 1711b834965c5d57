// server-blocking-single: blocking Winsock sockets, one client at a time.
//
// The simplest server of the seed notes (003, "单线程服务器"): accept() blocks
// until a client connects, then recv() and send() block while that one client
// is served until it closes; only then does the loop accept the next client.
// Clients that connect meanwhile wait in the listen backlog: the kernel
// completes their handshake, so their connect() succeeds, but nobody reads
// their requests until the client before them is done.
//
// Because one stalled client would stop the whole server, every accepted socket
// gets SO_RCVTIMEO and SO_SNDTIMEO: a recv() or send() that makes no progress
// for that long fails with WSAETIMEDOUT and the client is dropped.
//
// Shutdown: the frame's wake function runs on another thread and closes the
// listener and the client socket. Winsock defines that closing a socket
// cancels the blocking calls other threads have in progress on it (they fail,
// with WSAEINTR on Windows and, under Wine 8, with ERROR_OPERATION_ABORTED from
// accept() or WSAEINVAL from recv()), which is the only portable way to unblock
// them: shutdown() does not wake a blocked recv() under Wine.
#include <winsock2.h>
#include <windows.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <vector>

#include "platform/net.hpp"
#include "kit/blocking.hpp"
#include "kit/winsock.hpp"
#include "server/model_names.hpp"
#include "server/socket_io.hpp"

namespace {

using namespace wsb::server::model;

// The socket timeout when --idle-timeout is not given. "Never" is no option for
// this model: a client that connects and says nothing would stop the service.
constexpr std::chrono::seconds default_io_timeout{30};
constexpr std::size_t recv_buffer_size = 64 * 1024;

class BlockingSingleServer {
 public:
  BlockingSingleServer(Frame& frame, SOCKET listener)
      : frame_(frame),
        listener_(listener),
        io_timeout_(frame.options().idle_timeout.count() > 0
                        ? frame.options().idle_timeout
                        : std::chrono::nanoseconds(default_io_timeout)),
        buffer_(recv_buffer_size) {}

  // The accept loop: runs on the main thread until a stop is requested.
  void run() {
    StatsShard& shard = frame_.shard();
    for (;;) {
      const SOCKET s = wsb::kit::accept_blocking(frame_, accept_policy_, listener_.get(), shard);
      if (s == INVALID_SOCKET) break;
      if (!frame_.admit(shard, s)) {
        ::closesocket(s);
        continue;
      }
      // This thread accepts the next socket (which may get the same handle)
      // only after s is released.
      if (publish(s)) {
        serve(s, shard);  // releases and closes s
      } else {
        frame_.release(shard, s);  // publish() closed it
      }
    }
    close_listener();
  }

  // Called once, on a frame thread, when a stop is requested.
  void wake() noexcept {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    listener_.close();
    if (client_ != INVALID_SOCKET) {
      ::closesocket(client_);
      client_ = INVALID_SOCKET;
    }
  }

 private:
  // Makes `s` the client the wake function closes. False (and `s` closed) when
  // a stop was requested first: the wake function has run and would not see it.
  bool publish(SOCKET s) {
    std::lock_guard lock(mutex_);
    if (stopped_) {
      ::closesocket(s);
      return false;
    }
    client_ = s;
    return true;
  }

  // Closes the client unless the wake function already did. After a stop no
  // new socket is created, so a handle value the wake function closed can only
  // be reused by a non-socket handle, on which recv()/send() fail harmlessly
  // with WSAENOTSOCK.
  void close_client() noexcept {
    std::lock_guard lock(mutex_);
    if (client_ != INVALID_SOCKET) {
      ::closesocket(client_);
      client_ = INVALID_SOCKET;
    }
  }

  void close_listener() noexcept {
    std::lock_guard lock(mutex_);
    listener_.close();
  }

  void serve(SOCKET s, StatsShard& shard) {
    std::optional<Connection> conn;
    try {
      conn.emplace(frame_, shard);
    } catch (const std::bad_alloc&) {
      shard.error(ErrorClass::io);
      end_client(s, shard, nullptr);
      return;
    }
    if (!wsb::net::set_nodelay(s) || !wsb::kit::set_io_timeouts(s, io_timeout_)) {
      count_failure(*conn, ::WSAGetLastError());
      end_client(s, shard, &*conn);
      return;
    }

    // Request after request, each reply sent in full before the next recv();
    // a recv() or send() blocks until it progresses or SO_RCVTIMEO /
    // SO_SNDTIMEO expires.
    bool peer_closed = false;
    const int failed = wsb::server::exchange_blocking(
        s, *conn, buffer_, wsb::kit::error_after_end_of_stream, peer_closed);
    const bool broken = failed != 0;  // a recv()/send() failed
    if (broken) count_failure(*conn, failed);

    // A clean close: FIN, then read until the peer's FIN (or drain_timeout)
    // before closesocket(), so that unread input does not reset the
    // connection under the last reply.
    if (!broken && !conn->failed() && !frame_.stopping()) {
      wsb::kit::close_gracefully(s, peer_closed, buffer_, wsb::kit::drain_timeout);
    }
    end_client(s, shard, &*conn);
  }

  // Releases the admission (with the Connection, for --log-connections) and
  // closes the client.
  void end_client(SOCKET s, StatsShard& shard, const Connection* conn) noexcept {
    frame_.release(shard, s, conn);
    close_client();
  }

  // A recv()/send() failed (kit/blocking.hpp says what is counted).
  void count_failure(Connection& conn, int code) noexcept {
    wsb::kit::count_blocking_failure(frame_, conn, code);
  }

  Frame& frame_;
  AcceptPolicy accept_policy_{frame_, "accept"};
  wsb::kit::BlockingListener listener_;  // closed under mutex_
  const std::chrono::nanoseconds io_timeout_;
  std::vector<char> buffer_;

  std::mutex mutex_;  // guards the two members below and closing listener_; shared with wake()
  bool stopped_ = false;
  SOCKET client_ = INVALID_SOCKET;
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "blocking-single",
       .description =
           "Blocking sockets, one client at a time (seed 003's single-threaded server): accept() "
           "blocks until a client connects, then recv()/send() block while that client is served "
           "until it closes; the others wait in the listen backlog. SO_RCVTIMEO/SO_SNDTIMEO "
           "(--idle-timeout, or 30 s when it is not given) keep one stalled client from hanging "
           "the server. --threads must be 1; --protocol chat is refused (it needs its users "
           "online together).",
       .one_thread_reason = "this model serves one client at a time on one thread (see "
                            "server-blocking-threads)"},
      [](Frame& frame) {
        if (frame.options().protocol == wsb::proto::Protocol::chat) {
          std::fputs(
              "blocking-single: --protocol chat is not served: this model serves one client at a "
              "time, and a chat needs its users online together (see server-blocking-threads)\n",
              stderr);
          return 2;
        }
        return wsb::kit::serve_blocking<BlockingSingleServer>(frame);
      });
}
