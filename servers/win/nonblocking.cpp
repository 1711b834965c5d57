// server-nonblocking: non-blocking sockets (ioctlsocket FIONBIO) polled by one thread.
//
// The seed notes' "非阻塞模式" (003): ioctlsocket(FIONBIO) makes accept(),
// recv() and send() return at once; when they cannot make progress they fail
// with WSAEWOULDBLOCK (Winsock's EAGAIN) instead of waiting. Nothing tells the
// program which socket is ready, so it asks every socket in turn, over and
// over. That is the whole model, and its cost: with N connections every pass
// makes at least N recv() calls, most of which find nothing.
//
// The seed code spins on WSAEWOULDBLOCK (one thread per client, each in a
// tight loop), which keeps a core busy doing nothing. Here one thread polls
// every socket, and a pass that moved no byte makes the thread back off:
// first SwitchToThread() (give the rest of the time slice to another ready
// thread, if any), then Sleep(1), then Sleep(10) once the server has been idle
// for a while. The price is latency: a request that arrives during a sleep
// waits for it. --spin turns the back-off off to show the pure spin loop; the
// final statistics report the CPU time either way.
#include <winsock2.h>
#include <windows.h>
#include <timeapi.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "platform/net.hpp"
#include "kit/room.hpp"
#include "kit/winsock.hpp"
#include "server/lingering_close.hpp"
#include "server/model_names.hpp"

namespace {

using namespace wsb::server::model;

constexpr std::size_t recv_buffer_size = 64 * 1024;
// Bounds per pass, so that one busy socket or a connection storm cannot
// starve the others: the loop comes back to them on the next pass anyway.
constexpr int accepts_per_pass = 64;
constexpr int reads_per_pass = 4;
// Back-off: idle passes that only yield, then idle passes that sleep 1 ms,
// then 10 ms sleeps. Sleep(1) lasts until the next timer tick: 15.6 ms on
// Windows by default, about 1 ms under Wine. main() asks for 1 ms ticks
// (TimerResolution) so that the model's latency means the same on both.
constexpr unsigned yield_passes = 64;
constexpr unsigned short_sleep_passes = 1000;
constexpr DWORD long_sleep_ms = 10;
// How long a clean close waits for the peer's FIN after sending its own.
constexpr std::chrono::seconds linger_timeout{1};

struct Client {
  SOCKET socket;
  Connection conn;
  // After a clean finish: our FIN, then input is read and discarded until
  // the peer's FIN (server/lingering_close.hpp).
  wsb::server::LingeringClose linger{};
};

class NonblockingServer {
 public:
  NonblockingServer(Frame& frame, SOCKET listener, bool spin)
      : frame_(frame),
        listener_(listener),
        spin_(spin),
        shard_(frame.shard()),
        buffer_(recv_buffer_size) {}

  void run() {
    unsigned idle_passes = 0;
    while (!frame_.stopping()) {
      const Clock::time_point now = Clock::now();
      bool progress = accept_new(now);
      for (std::size_t i = 0; i < clients_.size();) {
        Client& client = clients_[i];
        progress |= poll(client);
        if (!client.linger.lingering()) client.conn.expire_if_idle(now);
        if (client.linger.settle(client.socket, client.conn, now, linger_timeout)) {
          close(client);
          // Order does not matter: swap the last client into the hole.
          if (i + 1 != clients_.size()) clients_[i] = std::move(clients_.back());
          clients_.pop_back();
        } else {
          ++i;
        }
      }
      if (progress) {
        idle_passes = 0;
      } else if (!spin_) {
        back_off(++idle_passes);
      }
    }
    for (Client& client : clients_)
      close(client);
    clients_.clear();
    ::closesocket(listener_);
  }

 private:
  // Accepts until WSAEWOULDBLOCK (the backlog is empty). True if anything happened.
  bool accept_new(Clock::time_point now) {
    if (now < accept_resume_) return false;
    bool progress = false;
    // --when-full queue: no accept() while --max-connections are online; the
    // clients wait in the listen backlog (kit/room.hpp). This loop polls, so
    // it needs no wake-up when room is made: the next pass sees it.
    for (int i = 0; i < accepts_per_pass && !room_.full(listener_); ++i) {
      const SOCKET s = ::accept(listener_, nullptr, nullptr);
      if (s == INVALID_SOCKET) {
        const int code = ::WSAGetLastError();
        if (code == WSAEWOULDBLOCK) return progress;
        const AcceptAction next = accept_policy_.handle(code, listener_, shard_);
        if (next == AcceptAction::retry) continue;  // the client gave up while queued
        // The pending connection stays queued and accept() would fail again
        // at once: without a pause the loop would spin on it.
        if (next == AcceptAction::pause) accept_resume_ = now + AcceptPolicy::pause_for;
        return true;
      }
      progress = true;
      room_.accepted();
      if (!frame_.admit(shard_, s)) {
        ::closesocket(s);
        continue;
      }
      // The accepted socket is put in non-blocking mode itself rather than
      // trusting that it inherits the listener's mode: one call per connection
      // buys independence from that detail.
      u_long non_blocking = 1;
      if (::ioctlsocket(s, FIONBIO, &non_blocking) != 0 || !wsb::net::set_nodelay(s)) {
        shard_.error(classify_io_error(::WSAGetLastError()));
        frame_.release(shard_, s);
        ::closesocket(s);
        continue;
      }
      try {
        clients_.push_back(Client{s, Connection(frame_, shard_)});
      } catch (const std::bad_alloc&) {
        shard_.error(ErrorClass::io);
        frame_.release(shard_, s);
        ::closesocket(s);
      }
    }
    return progress;
  }

  // One poll of one connection: read if it wants input, send what is
  // pending. True if any byte moved or the connection's state changed.
  bool poll(Client& client) {
    if (client.linger.lingering()) return discard_input(client);
    Connection& conn = client.conn;
    // Chat: other users' messages wait in this connection's outbox. One
    // thread serves every connection here, so the thread that posted them
    // is this one, and the next pass collects them like everything else:
    // no lock on the connection and no wake-up (no wake function is
    // registered). The price is the model's own: a look per connection per
    // pass. collect_mail() returns false at once for other protocols.
    bool progress = conn.collect_mail();
    // want_read() is false while more than --max-pending reply bytes wait:
    // the socket is then not read (TCP flow control stops the peer) until
    // the sends below drain the backlog.
    for (int i = 0; i < reads_per_pass && conn.want_read(); ++i) {
      const std::ptrdiff_t n = wsb::net::recv_some(client.socket, buffer_);
      if (n > 0) {
        conn.on_received(std::span<const char>(buffer_.data(), static_cast<std::size_t>(n)));
        progress = true;
        // A short read means the socket's receive buffer is empty now; the
        // next recv() would only say WSAEWOULDBLOCK.
        if (static_cast<std::size_t>(n) < buffer_.size()) break;
      } else if (n == 0) {
        if (const int reset = wsb::kit::error_after_end_of_stream(client.socket); reset != 0) {
          conn.on_error(classify_io_error(reset));
        } else {
          client.linger.on_peer_closed();
          conn.on_peer_closed();
        }
        progress = true;
        break;
      } else {
        const int code = ::WSAGetLastError();
        if (code != WSAEWOULDBLOCK) {
          conn.on_error(classify_io_error(code));
          progress = true;
        }
        break;
      }
    }
    return flush(client) || progress;
  }

  // Sends pending output until it is gone or the socket's send buffer is
  // full. A partial send() is normal on a non-blocking socket: on_sent()
  // consumes what went out and the rest stays queued for the next pass.
  bool flush(Client& client) {
    bool progress = false;
    Connection& conn = client.conn;
    while (conn.want_write()) {
      const std::span<const char> pending = conn.pending();
      const std::ptrdiff_t n = wsb::net::send_some(client.socket, pending);
      if (n < 0) {
        const int code = ::WSAGetLastError();
        if (code == WSAEWOULDBLOCK) break;
        conn.on_error(classify_io_error(code));
        return true;
      }
      conn.on_sent(static_cast<std::size_t>(n));
      progress = true;
      if (static_cast<std::size_t>(n) < pending.size()) break;  // the send buffer is full
    }
    return progress;
  }

  bool discard_input(Client& client) {
    bool progress = false;
    for (int i = 0; i < reads_per_pass; ++i) {
      const std::ptrdiff_t n = wsb::net::recv_some(client.socket, buffer_);
      if (n > 0) {
        progress = true;
        continue;
      }
      if (n == 0 || ::WSAGetLastError() != WSAEWOULDBLOCK) {
        client.linger.on_linger_done();
        progress = true;
      }
      break;
    }
    return progress;
  }

  void close(Client& client) noexcept {
    frame_.release(shard_, client.socket, &client.conn);
    ::closesocket(client.socket);
  }

  // A pass found nothing to do.
  static void back_off(unsigned idle_passes) noexcept {
    if (idle_passes <= yield_passes) {
      ::SwitchToThread();
    } else if (idle_passes <= yield_passes + short_sleep_passes) {
      ::Sleep(1);
    } else {
      ::Sleep(long_sleep_ms);
    }
  }

  Frame& frame_;
  AcceptPolicy accept_policy_{frame_, "accept"};
  wsb::kit::RoomWait room_{frame_, [] {}};  // polled: the hook needs to wake nobody
  const SOCKET listener_;
  const bool spin_;
  StatsShard& shard_;
  std::vector<char> buffer_;
  std::vector<Client> clients_;
  Clock::time_point accept_resume_{};
};

// timeBeginPeriod(1) for the life of the server: Sleep(1) then lasts about
// 1 ms instead of a whole default tick of 15.6 ms. Since Windows 10 2004 the
// request affects this process only (Microsoft's timeBeginPeriod page), so it
// no longer speeds up the whole system. The resolution in use is reported at
// the start, measured rather than assumed, so that a figure taken on a system
// that ignored the request says so.
class TimerResolution {
 public:
  TimerResolution() : raised_(::timeBeginPeriod(1) == TIMERR_NOERROR) {}
  ~TimerResolution() {
    if (raised_) ::timeEndPeriod(1);
  }
  TimerResolution(const TimerResolution&) = delete;
  TimerResolution& operator=(const TimerResolution&) = delete;

  // "timer: timeBeginPeriod(1) ok, Sleep(1) takes 1.1 ms" (the mean of a few).
  std::string describe() const {
    constexpr int samples = 5;
    const auto t0 = Clock::now();
    for (int i = 0; i < samples; ++i)
      ::Sleep(1);
    const double ms =
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / samples;
    char text[96];
    std::snprintf(text, sizeof text, "timer: timeBeginPeriod(1) %s, Sleep(1) takes %.1f ms",
                  raised_ ? "ok" : "refused", ms);
    return text;
  }

 private:
  const bool raised_;
};

}  // namespace

int main(int argc, char** argv) {
  bool spin = false;
  return wsb::server::run_model(
      argc, argv,
      {.name = "nonblocking",
       .description =
           "Non-blocking sockets polled by one thread (seed 003's ioctlsocket(FIONBIO) model): "
           "every pass tries accept() on the listener and recv()/send() on every connection, and "
           "WSAEWOULDBLOCK means \"nothing now\". A pass that moved nothing backs off "
           "(SwitchToThread, then Sleep(1), then Sleep(10) after about a second idle); --spin "
           "polls without pause, as the seeds do, and the final cpu_* lines show what that costs. "
           "--threads must be 1.",
       .one_thread_reason = "one thread polls every socket"},
      [&](Frame& frame) {
        frame.cli().add_flag("--spin", spin,
                             "Poll without ever pausing, as the seeds do (burns a core when idle)");
      },
      [&](Frame& frame) {
        const SOCKET listener = frame.open_listener();
        // The model's one mechanism: FIONBIO makes accept() on the listener return
        // WSAEWOULDBLOCK instead of waiting for a client.
        u_long non_blocking = 1;
        if (::ioctlsocket(listener, FIONBIO, &non_blocking) != 0) {
          const int code = ::WSAGetLastError();
          ::closesocket(listener);
          throw wsb::net::NetError(
              code, "ioctlsocket(FIONBIO) on the listener failed: " + wsb::net::error_text(code));
        }
        // The back-off paces the loop with Sleep(); --spin never sleeps.
        std::optional<TimerResolution> timer;
        if (!spin) {
          timer.emplace();
          std::fprintf(stderr, "nonblocking: %s\n", timer->describe().c_str());
        }
        NonblockingServer server(frame, listener, spin);
        // The loop never blocks: it checks stopping() on every pass and sleeps at
        // most long_sleep_ms, so there is nothing to wake.
        frame.start([] {});
        server.run();
        return frame.finish();
      });
}
