// server-nonblocking: O_NONBLOCK sockets and a polling loop, no readiness API.
//
// The counterpart of Winsock's FIONBIO model: every socket is non-blocking
// and the loop simply tries every operation on every socket, treating EAGAIN
// as "not now". It needs nothing from the kernel but the sockets, which is its
// only virtue: each pass costs one recv() per connection whether data arrived
// or not, so the CPU cost grows with the number of idle connections.
//
//   loop:  accept4 until EAGAIN (up to a batch) -> for each connection: recv
//          once, send what is pending -> if nothing at all happened, back off
//   stop:  nothing to wake: the loop checks stopping() on every pass and
//          never sleeps for more than a millisecond
//
// A pure spin loop keeps a core at 100 % even with no traffic. By default an
// idle pass backs off: the first few idle passes yield the processor
// (sched_yield), then the loop sleeps, starting at a few microseconds and
// doubling up to about a millisecond; any progress resets the back-off.
// --spin turns it off, to show the pure loop (and its CPU cost).
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "platform/net.hpp"
#include "server/connection.hpp"
#include "server/frame.hpp"

namespace {

using wsb::server::Connection;
using wsb::server::ErrorClass;
using wsb::server::Frame;
using wsb::server::StatsShard;
using Clock = std::chrono::steady_clock;

constexpr std::size_t receive_buffer_size = 64 * 1024;
constexpr int accept_batch = 64;
constexpr auto accept_pause = std::chrono::milliseconds(100);
// Back-off: this many idle passes only yield, then sleeps start at
// first_sleep and double up to max_sleep.
constexpr int yield_passes = 16;
constexpr auto first_sleep = std::chrono::microseconds(4);
constexpr auto max_sleep = std::chrono::microseconds(1000);

std::string errno_text(int code) {
  return wsb::net::error_text(code);
}

// SO_REUSEPORT lets every socket of the same user that also sets it bind the
// port, so a second server started on a busy port would silently share it
// instead of failing. Before the listeners of several loops are opened, a
// plain socket is bound to the port once: that fails with EADDRINUSE if
// anything holds the port. (Two servers starting in the same instant can
// still both pass; with --port 0 the system picks an unused port anyway.)
void refuse_busy_port(const Frame& frame) {
  const auto& options = frame.options();
  if (options.port == 0) return;
  const auto endpoint = wsb::net::parse_endpoint(options.bind, options.port);
  if (!endpoint) return;  // open_listener() reports a bad --bind
  const int s = ::socket(endpoint->is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;  // open_listener() reports it
  // The same options as the real listeners, minus SO_REUSEPORT, so that only
  // a live socket on the port makes the bind fail.
  const int one = 1;
  ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (endpoint->is_v6()) ::setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  const int rc = ::bind(s, endpoint->address(), static_cast<socklen_t>(endpoint->length));
  const int code = errno;
  ::close(s);
  if (rc != 0 && code == EADDRINUSE) {
    throw wsb::net::NetError(code, "port " + std::to_string(options.port) + " on " + options.bind +
                                       " is in use (EADDRINUSE): choose another with --port (or "
                                       "--port 0 to let the system pick one)");
  }
}

// At most one line per second on stderr, for failures that can repeat
// thousands of times per second (accepts while out of descriptors).
class RateLimitedLog {
 public:
  void operator()(const Frame& frame, const std::string& message) {
    const auto now = Clock::now();
    if (now < next_) {
      ++suppressed_;
      return;
    }
    std::fprintf(stderr, "%.*s: %s", static_cast<int>(frame.model_name().size()),
                 frame.model_name().data(), message.c_str());
    if (suppressed_ != 0) {
      std::fprintf(stderr, " (%llu similar messages suppressed)",
                   static_cast<unsigned long long>(suppressed_));
    }
    std::fputc('\n', stderr);
    suppressed_ = 0;
    next_ = now + std::chrono::seconds(1);
  }

 private:
  Clock::time_point next_{};
  std::uint64_t suppressed_ = 0;
};

// accept4() failing with EMFILE or ENFILE leaves any pending connection in
// the backlog: the kernel allocates the new descriptor before it looks at the
// queue. The listener therefore stays ready, and a loop that simply retried
// would spin while the client waited in vain. A descriptor held in reserve
// breaks the deadlock: closing it frees one slot, the pending connection is
// accepted and closed at once (the client sees an orderly close, not a
// hang), and the spare is taken again.
class SpareDescriptor {
 public:
  enum class Outcome {
    shed,          // one pending connection was accepted and closed
    none_waiting,  // the backlog is empty: wait for the next client as usual
    no_spare,      // no spare descriptor could be opened: pause accepting
  };

  SpareDescriptor() : fd_(open_spare()) {}
  ~SpareDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  SpareDescriptor(const SpareDescriptor&) = delete;
  SpareDescriptor& operator=(const SpareDescriptor&) = delete;

  Outcome shed(int listener) noexcept {
    if (fd_ < 0) fd_ = open_spare();  // lost earlier: try to take it back first
    if (fd_ < 0) return Outcome::no_spare;
    ::close(fd_);
    const int s = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s >= 0) ::close(s);
    // Fails if another thread took the freed slot meanwhile; the next call
    // then reports no_spare.
    fd_ = open_spare();
    return s >= 0 ? Outcome::shed : Outcome::none_waiting;
  }

 private:
  static int open_spare() noexcept { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }
  int fd_;
};

struct Entry {
  int fd;
  Connection conn;
};

class Loop {
 public:
  Loop(Frame& frame, int listener, bool spin)
      : frame_(frame), listener_(listener), spin_(spin), buffer_(new char[receive_buffer_size]) {}
  ~Loop() { ::close(listener_); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // The thread body. Never throws.
  void run() noexcept {
    shard_ = &frame_.shard();
    const auto idle_timeout = frame_.options().idle_timeout;
    // Idle connections are found by a sweep, at most one pass per interval.
    const auto sweep_interval =
        idle_timeout.count() > 0
            ? std::clamp<Clock::duration>(
                  std::chrono::duration_cast<Clock::duration>(idle_timeout / 8),
                  std::chrono::milliseconds(1), std::chrono::milliseconds(250))
            : Clock::duration::zero();
    Clock::time_point next_sweep = Clock::now() + sweep_interval;
    int idle_passes = 0;
    auto sleep = first_sleep;

    while (!frame_.stopping()) {
      bool progress = accept_connections();
      // From the end down, so that a close (swap with last) only moves an
      // entry that was already handled into the freed index.
      for (std::size_t i = conns_.size(); i-- > 0;)
        progress |= serve(i);

      if (sweep_interval.count() > 0 || accept_paused_) {
        const auto now = Clock::now();
        if (sweep_interval.count() > 0 && now >= next_sweep) {
          sweep_idle(now);
          next_sweep = now + sweep_interval;
        }
        if (accept_paused_ && now >= resume_accept_at_) accept_paused_ = false;
      }
      if (progress || spin_) {
        idle_passes = 0;
        sleep = first_sleep;
      } else if (++idle_passes <= yield_passes) {
        // Give another runnable thread (e.g. the client on the same core) the
        // processor without going to sleep: cheap and keeps latency low.
        ::sched_yield();
      } else {
        // Nothing happened for a while: sleep, longer each time, so an idle
        // server costs almost nothing; the cap bounds the added latency and
        // the delay of a stop request.
        timespec ts{};
        ts.tv_nsec = static_cast<long>(std::chrono::nanoseconds(sleep).count());
        ::nanosleep(&ts, nullptr);
        sleep = std::min<std::chrono::microseconds>(sleep * 2, max_sleep);
      }
    }
    close_all();
  }

 private:
  // True when something was accepted or failed (progress).
  bool accept_connections() noexcept {
    if (accept_paused_) return false;
    bool progress = false;
    for (int accepted = 0; accepted < accept_batch; ++accepted) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const int code = errno;
        if (wsb::net::would_block(code)) return progress;
        if (wsb::net::is_interrupted(code)) continue;
        const ErrorClass c = wsb::server::classify_accept_error(code);
        if (c == ErrorClass::out_of_descriptors) {
          const auto outcome = spare_.shed(listener_);
          if (outcome == SpareDescriptor::Outcome::shed) {
            shard_->error(c);  // one client turned away
            log_(frame_, "accept4: " + errno_text(code) +
                             ": connection closed at once (raise the limit with ulimit -n)");
            progress = true;
            continue;  // more may be waiting
          }
          // Nobody waiting: like EAGAIN, and no progress, so the back-off
          // keeps this (three system calls per pass) cheap.
          if (outcome == SpareDescriptor::Outcome::none_waiting) return progress;
        }
        progress = true;
        shard_->error(c);
        if (c == ErrorClass::reset) continue;  // the client gave up first
        log_(frame_, "accept4: " + errno_text(code) + "; accepting pauses for 100 ms");
        // No spare, or an unexpected failure that would recur at once: stop
        // trying the listener for a while.
        accept_paused_ = true;
        resume_accept_at_ = Clock::now() + accept_pause;
        return progress;
      }
      progress = true;
      if (!frame_.admit(*shard_, fd)) {  // counted as refused (or banned)
        ::close(fd);
        continue;
      }
      // Replies are small and sent at once; Nagle's algorithm would hold
      // them back waiting for the client's ACK.
      wsb::net::set_nodelay(fd);
      try {
        conns_.push_back({fd, Connection(frame_, *shard_)});
      } catch (const std::bad_alloc&) {
        shard_->error(ErrorClass::io);
        frame_.release(*shard_, fd);
        ::close(fd);
      }
    }
    return progress;
  }

  // One recv() and the sends it allows. True when any byte moved or the
  // connection ended.
  bool serve(std::size_t i) noexcept {
    const int fd = conns_[i].fd;
    Connection& conn = conns_[i].conn;
    bool progress = false;
    if (conn.want_read()) {
      ssize_t n;
      do {
        n = ::recv(fd, buffer_.get(), receive_buffer_size, 0);
      } while (n < 0 && errno == EINTR);
      if (n > 0) {
        conn.on_received({buffer_.get(), static_cast<std::size_t>(n)});
        progress = true;
      } else if (n == 0) {
        conn.on_peer_closed();
        progress = true;
      } else if (!wsb::net::would_block(errno)) {
        conn.on_error(wsb::server::classify_io_error(errno));
        progress = true;
      }
    }
    // Sends can be partial: what the socket did not take stays pending in
    // the Connection (its write offset) and is tried again next pass.
    while (conn.want_write()) {
      const auto bytes = conn.pending();
      ssize_t n;
      do {
        n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      } while (n < 0 && errno == EINTR);
      if (n >= 0) {
        conn.on_sent(static_cast<std::size_t>(n));
        progress = true;
      } else if (wsb::net::would_block(errno)) {
        break;
      } else {
        conn.on_error(wsb::server::classify_io_error(errno));
        progress = true;
      }
    }
    if (conn.finished()) {
      close_connection(i);
      progress = true;
    }
    return progress;
  }

  void close_connection(std::size_t i) noexcept {
    frame_.release(*shard_, conns_[i].fd);  // before close(): see Frame::release
    ::close(conns_[i].fd);
    if (i + 1 != conns_.size()) conns_[i] = std::move(conns_.back());
    conns_.pop_back();
  }

  void sweep_idle(Clock::time_point now) noexcept {
    for (std::size_t i = conns_.size(); i-- > 0;) {
      if (conns_[i].conn.expire_if_idle(now)) close_connection(i);
    }
  }

  void close_all() noexcept {
    while (!conns_.empty())
      close_connection(conns_.size() - 1);
  }

  Frame& frame_;
  StatsShard* shard_ = nullptr;
  const int listener_;
  const bool spin_;
  std::unique_ptr<char[]> buffer_;
  std::vector<Entry> conns_;
  SpareDescriptor spare_;
  RateLimitedLog log_;
  bool accept_paused_ = false;
  Clock::time_point resume_accept_at_{};
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_guarded([&] {
    Frame frame("nonblocking",
                "Non-blocking sockets (O_NONBLOCK) tried in turn by a polling loop, with no "
                "readiness API. Idle passes back off (sched_yield, then sleeps growing to 1 ms); "
                "--spin keeps the pure loop.",
                1);
    bool spin = false;
    frame.cli().add_flag("--spin", spin,
                         "Never back off: poll every socket continuously (one core at 100 %)");
    if (auto exit_code = frame.parse(argc, argv)) return *exit_code;
    const int threads = frame.options().threads;
    if (threads > 1) refuse_busy_port(frame);

    std::vector<std::unique_ptr<Loop>> loops;
    for (int i = 0; i < threads; ++i) {
      // One listener per loop; SO_REUSEPORT only when there are several, so
      // that a second server on the same port fails with EADDRINUSE.
      loops.push_back(std::make_unique<Loop>(
          frame, frame.open_listener({.nonblocking = true, .reuse_port = threads > 1}), spin));
    }
    // Nothing to unblock: every loop checks stopping() at least once per
    // millisecond.
    frame.start([] {});

    std::vector<std::thread> workers;
    for (int i = 1; i < threads; ++i) {
      workers.emplace_back([&loops, i] { loops[static_cast<std::size_t>(i)]->run(); });
    }
    loops[0]->run();
    for (auto& t : workers)
      t.join();
    loops.clear();
    return frame.finish();
  });
}
