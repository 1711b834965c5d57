// suite-reference-server: the smallest correct server on the shared frame,
// built only so that the conformance suite can test itself (and the frame,
// end to end) without any of the real models. One thread, poll(2),
// non-blocking sockets. It is not one of the models and is not installed.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <list>
#include <vector>

#include "platform/net.hpp"
#include "server/connection.hpp"
#include "server/frame.hpp"

namespace {

using wsb::server::Connection;
using Clock = Connection::Clock;
namespace net = wsb::net;

struct Peer {
  net::socket_t socket;
  Connection conn;
};

// Milliseconds until `when` for poll(), rounded up so that an idle deadline
// is not polled for just before it is due (which would spin), capped at 1 s.
int poll_timeout(Clock::time_point now, Clock::time_point when) {
  if (when == Clock::time_point::max()) return 1000;
  if (when <= now) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(when - now).count();
  return static_cast<int>(std::min<long long>(ms, 1000));
}

// Reads what the socket has (a bounded number of times, for fairness).
void read_from(Peer& p) {
  char buf[65536];
  for (int i = 0; i < 4 && p.conn.want_read(); ++i) {
    const std::ptrdiff_t n = net::recv_some(p.socket, buf);
    if (n > 0) {
      p.conn.on_received({buf, static_cast<std::size_t>(n)});
      continue;
    }
    if (n == 0) {
      p.conn.on_peer_closed();
      return;
    }
    const int code = net::last_error();
    if (net::is_interrupted(code)) continue;
    if (!net::would_block(code)) p.conn.on_error(wsb::server::classify_io_error(code));
    return;
  }
}

// Sends pending replies until the socket would block.
void write_to(Peer& p) {
  while (p.conn.want_write()) {
    const std::ptrdiff_t n = net::send_some(p.socket, p.conn.pending());
    if (n >= 0) {
      p.conn.on_sent(static_cast<std::size_t>(n));
      continue;
    }
    const int code = net::last_error();
    if (net::is_interrupted(code)) continue;
    if (!net::would_block(code)) p.conn.on_error(wsb::server::classify_io_error(code));
    return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_guarded([&] {
    wsb::server::Frame frame(
        "reference",
        "The conformance suite's own reference server: one thread, poll(2), non-blocking "
        "sockets. It exists to test the suite and the frame, not to be measured.",
        1);
    if (auto exit_code = frame.parse(argc, argv)) return *exit_code;
    if (frame.options().threads != 1) {
      std::fprintf(stderr, "reference: --threads must be 1 (the reference server has one)\n");
      return 2;
    }

    const net::socket_t listener = frame.open_listener({.nonblocking = true});
    // The frame's stop sources run on other threads; a byte in this pipe
    // wakes poll() so that the loop sees stopping().
    int wake[2];
    if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw net::NetError(errno, "pipe2 failed: " + net::error_text(errno));
    }
    frame.start([&] { (void)!::write(wake[1], "x", 1); });

    wsb::server::StatsShard& shard = frame.shard();
    std::list<Peer> peers;  // a list: Connections stay put while others come and go
    std::vector<pollfd> fds;
    std::vector<Peer*> polled;
    Clock::time_point accept_paused_until{};

    while (!frame.stopping()) {
      Clock::time_point now = Clock::now();
      Clock::time_point next_expiry = Clock::time_point::max();
      fds.clear();
      polled.clear();
      fds.push_back({wake[0], POLLIN, 0});
      const bool accepting = now >= accept_paused_until;
      fds.push_back({accepting ? listener : -1, POLLIN, 0});
      for (Peer& p : peers) {
        short events = 0;
        if (p.conn.want_read()) events |= POLLIN;
        if (p.conn.want_write()) events |= POLLOUT;
        fds.push_back({p.socket, events, 0});
        polled.push_back(&p);
        next_expiry = std::min(next_expiry, p.conn.idle_deadline());
      }
      if (!accepting) next_expiry = std::min(next_expiry, accept_paused_until);
      const int n = ::poll(fds.data(), fds.size(), poll_timeout(now, next_expiry));
      if (n < 0 && errno != EINTR) {
        frame.fail("poll failed: " + net::error_text(errno));
        break;
      }
      if (frame.stopping()) break;
      now = Clock::now();

      if (fds[1].revents & POLLIN) {
        // Accept everything that is waiting.
        for (;;) {
          const net::socket_t s = net::accept_connection(listener);
          if (s == net::invalid_socket) {
            const int code = net::last_error();
            if (net::would_block(code)) break;
            if (net::is_interrupted(code)) continue;
            shard.error(wsb::server::classify_accept_error(code));
            // Out of descriptors, the listener stays readable: back off
            // instead of spinning on it.
            if (net::is_out_of_descriptors(code)) {
              accept_paused_until = now + std::chrono::milliseconds(100);
            }
            break;
          }
          if (!frame.admit(shard, s)) {
            net::close_socket(s);
            continue;
          }
          net::set_nonblocking(s, true);
          net::set_nodelay(s);
          peers.push_back(Peer{s, Connection(frame, shard)});
        }
      }

      for (std::size_t i = 0; i < polled.size(); ++i) {
        Peer& p = *polled[i];
        const short revents = fds[i + 2].revents;
        if ((revents & (POLLIN | POLLHUP | POLLERR)) && p.conn.want_read()) read_from(p);
        // Replies just produced go out at once; a send that would block is
        // retried when poll reports POLLOUT.
        write_to(p);
        if ((revents & (POLLHUP | POLLERR)) && !p.conn.finished() && !p.conn.want_read()) {
          // The socket failed while it was not being read (backpressure, or
          // closing with replies queued) and the send above did not say why:
          // ask the socket, so that poll does not report it again and again.
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(p.socket, SOL_SOCKET, SO_ERROR, &err, &len);
          p.conn.on_error(wsb::server::classify_io_error(err != 0 ? err : ECONNRESET));
        }
        p.conn.expire_if_idle(now);
      }

      // Close what is finished. A clean close sends FIN after the replies.
      for (auto it = peers.begin(); it != peers.end();) {
        if (!it->conn.finished()) {
          ++it;
          continue;
        }
        if (!it->conn.failed()) net::shutdown_send(it->socket);
        frame.release(shard, it->socket);  // before the close: see Frame::release
        net::close_socket(it->socket);
        it = peers.erase(it);
      }
    }

    for (Peer& p : peers) {
      frame.release(shard, p.socket);
      net::close_socket(p.socket);
    }
    peers.clear();
    net::close_socket(listener);
    ::close(wake[0]);
    ::close(wake[1]);
    return frame.finish();
  });
}
