// server-poll: poll(2), one loop per thread.
//
// The POSIX answer to Winsock's select() without its descriptor limit: the
// interest list is an array of pollfd entries of any length. Like select,
// every call hands the whole array to the kernel and the loop scans all of it
// afterwards, so the cost per call is O(connections), whether they are busy
// or idle; that is this model's limit (see epoll for the remedy).
//
//   main:  one listener per loop (SO_REUSEPORT when --threads > 1), a pipe
//          for wake-ups, then the loops
//   loop:  poll(all) -> for each entry with revents: recv -> Connection ->
//          send; listener readable: accept4 up to a batch
//   stop:  the frame writes a byte into the pipe, which every loop polls;
//          each closes its connections and returns
//
// The array is kept dense: entry 0 is the wake pipe, entry 1 the listener,
// and from entry 2 on, pollfd i belongs to conns_[i - 2]. A closed
// connection's entries are replaced by the last ones (swap with last), so
// nothing is ever searched, and the two arrays always stay parallel.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
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

// One receive buffer per loop: each chunk is handed to the Connection at once.
constexpr std::size_t receive_buffer_size = 64 * 1024;
// Connections accepted per readiness report of the listener, so that a
// connection storm does not starve the established connections.
constexpr int accept_batch = 64;
constexpr auto accept_pause = std::chrono::milliseconds(100);
constexpr std::size_t wake_index = 0;
constexpr std::size_t listener_index = 1;
constexpr std::size_t first_connection = 2;

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

class Loop {
 public:
  Loop(Frame& frame, int listener, int wake_fd)
      : frame_(frame), listener_(listener), buffer_(new char[receive_buffer_size]) {
    fds_.push_back({wake_fd, POLLIN, 0});
    fds_.push_back({listener, POLLIN, 0});
  }
  ~Loop() { ::close(listener_); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // The thread body. Never throws: failures end the server through fail().
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

    while (!frame_.stopping()) {
      int timeout_ms = -1;
      if (sweep_interval.count() > 0 || accept_paused_) {
        const auto now = Clock::now();
        if (sweep_interval.count() > 0 && now >= next_sweep) {
          sweep_idle(now);
          next_sweep = now + sweep_interval;
        }
        if (accept_paused_ && now >= resume_accept_at_) {
          accept_paused_ = false;
          fds_[listener_index].fd = listener_;
        }
        auto until = sweep_interval.count() > 0 ? next_sweep : Clock::time_point::max();
        if (accept_paused_) until = std::min(until, resume_accept_at_);
        if (until != Clock::time_point::max()) {
          // Rounded up so that the loop does not wake early and spin.
          timeout_ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(
                                            std::max(until - now, Clock::duration::zero()))
                                            .count());
        }
      }
      int ready = ::poll(fds_.data(), fds_.size(), timeout_ms);
      if (ready < 0) {
        if (errno == EINTR) continue;
        frame_.fail("poll failed: " + errno_text(errno));
        break;
      }
      if (ready == 0 || fds_[wake_index].revents != 0) continue;  // timers, or stopping()
      const bool listener_ready = fds_[listener_index].revents != 0;
      if (listener_ready) --ready;
      // From the end down, so that a close, which moves the last entry into
      // the freed index, only ever moves an entry that was already handled.
      // The scan ends as soon as every ready entry was seen.
      for (std::size_t i = fds_.size(); i-- > first_connection && ready > 0;) {
        const short revents = fds_[i].revents;
        if (revents == 0) continue;
        --ready;
        serve(i, revents);
      }
      // Accept last: new entries are appended behind the scanned range.
      if (listener_ready) accept_connections();
    }
    close_all();
  }

 private:
  void accept_connections() noexcept {
    for (int accepted = 0; accepted < accept_batch; ++accepted) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const int code = errno;
        if (wsb::net::would_block(code)) return;
        if (wsb::net::is_interrupted(code)) continue;
        if (!on_accept_error(code)) return;
        continue;
      }
      if (!frame_.admit(*shard_, fd)) {  // counted as refused (or banned)
        ::close(fd);
        continue;
      }
      // Replies are small and sent at once; Nagle's algorithm would hold
      // them back waiting for the client's ACK.
      wsb::net::set_nodelay(fd);
      try {
        conns_.emplace_back(frame_, *shard_);
        try {
          fds_.push_back({fd, POLLIN, 0});
        } catch (...) {
          conns_.pop_back();
          throw;
        }
      } catch (const std::bad_alloc&) {
        shard_->error(ErrorClass::io);
        frame_.release(*shard_, fd);
        ::close(fd);
      }
    }
  }

  // Returns whether to go on accepting.
  bool on_accept_error(int code) noexcept {
    const ErrorClass c = wsb::server::classify_accept_error(code);
    if (c == ErrorClass::out_of_descriptors) {
      switch (spare_.shed(listener_)) {
        case SpareDescriptor::Outcome::shed:
          shard_->error(c);  // one client turned away
          log_(frame_, "accept4: " + errno_text(code) +
                           ": connection closed at once (raise the limit with ulimit -n)");
          return true;  // more may be waiting
        case SpareDescriptor::Outcome::none_waiting:
          return false;  // like EAGAIN: the next client makes the listener ready again
        case SpareDescriptor::Outcome::no_spare:
          break;
      }
    }
    shard_->error(c);
    if (c == ErrorClass::reset) return true;  // the client gave up first
    log_(frame_, "accept4: " + errno_text(code) + "; accepting pauses for 100 ms");
    // No spare, or an unexpected failure that would recur at once: a
    // negative descriptor makes poll() skip the listener for a while.
    accept_paused_ = true;
    resume_accept_at_ = Clock::now() + accept_pause;
    fds_[listener_index].fd = -1;
    return false;
  }

  void serve(std::size_t i, short revents) noexcept {
    const int fd = fds_[i].fd;
    Connection& conn = conns_[i - first_connection];
    if (revents & POLLNVAL) {
      // The descriptor is not open: a bug, but never a reason to spin.
      conn.on_error(ErrorClass::io);
    } else {
      // POLLHUP and POLLERR are reported whether asked for or not; recv()
      // (or, under backpressure, send()) then returns the end or the error.
      if ((revents & (POLLIN | POLLHUP | POLLERR)) && conn.want_read()) receive(fd, conn);
      // Replies go out at once; POLLOUT is only asked for when the socket
      // buffer was full.
      flush(fd, conn);
    }
    if (conn.finished()) {
      close_connection(i);
      return;
    }
    fds_[i].events =
        static_cast<short>((conn.want_read() ? POLLIN : 0) | (conn.want_write() ? POLLOUT : 0));
  }

  void receive(int fd, Connection& conn) noexcept {
    ssize_t n;
    do {
      n = ::recv(fd, buffer_.get(), receive_buffer_size, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
      conn.on_received({buffer_.get(), static_cast<std::size_t>(n)});
    } else if (n == 0) {
      conn.on_peer_closed();
    } else if (!wsb::net::would_block(errno)) {
      conn.on_error(wsb::server::classify_io_error(errno));
    }
  }

  void flush(int fd, Connection& conn) noexcept {
    while (conn.want_write()) {
      const auto bytes = conn.pending();
      ssize_t n;
      do {
        n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      } while (n < 0 && errno == EINTR);
      if (n >= 0) {
        conn.on_sent(static_cast<std::size_t>(n));
      } else if (wsb::net::would_block(errno)) {
        return;  // the rest waits for POLLOUT
      } else {
        conn.on_error(wsb::server::classify_io_error(errno));
      }
    }
  }

  // Swap with last: the last entry of both arrays moves into index i, so the
  // arrays stay dense and parallel without searching.
  void close_connection(std::size_t i) noexcept {
    frame_.release(*shard_, fds_[i].fd);  // before close(): see Frame::release
    ::close(fds_[i].fd);
    const std::size_t last = fds_.size() - 1;
    if (i != last) {
      fds_[i] = fds_[last];
      conns_[i - first_connection] = std::move(conns_[last - first_connection]);
    }
    fds_.pop_back();
    conns_.pop_back();
  }

  void sweep_idle(Clock::time_point now) noexcept {
    for (std::size_t i = fds_.size(); i-- > first_connection;) {
      if (conns_[i - first_connection].expire_if_idle(now)) close_connection(i);
    }
  }

  void close_all() noexcept {
    while (fds_.size() > first_connection)
      close_connection(fds_.size() - 1);
  }

  Frame& frame_;
  StatsShard* shard_ = nullptr;
  const int listener_;
  std::unique_ptr<char[]> buffer_;
  std::vector<pollfd> fds_;
  std::vector<Connection> conns_;
  SpareDescriptor spare_;
  RateLimitedLog log_;
  bool accept_paused_ = false;
  Clock::time_point resume_accept_at_{};
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_guarded([&] {
    Frame frame("poll",
                "poll(2): one loop per thread over a dense pollfd array (closed entries are "
                "swapped with the last). No descriptor limit, but every call passes and scans "
                "all connections.",
                1);
    if (auto exit_code = frame.parse(argc, argv)) return *exit_code;
    const int threads = frame.options().threads;
    if (threads > 1) refuse_busy_port(frame);

    // The self-pipe: the frame's wake function writes one byte, which is never
    // read, so the pipe stays readable and every loop's poll() returns.
    int wake[2];
    if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw wsb::net::NetError(errno, "pipe2 failed: " + errno_text(errno));
    }
    std::vector<std::unique_ptr<Loop>> loops;
    for (int i = 0; i < threads; ++i) {
      // One listener per loop; SO_REUSEPORT only when there are several, so
      // that a second server on the same port fails with EADDRINUSE.
      loops.push_back(std::make_unique<Loop>(
          frame, frame.open_listener({.nonblocking = true, .reuse_port = threads > 1}), wake[0]));
    }

    frame.start([fd = wake[1]] {
      const char byte = 1;
      [[maybe_unused]] const ssize_t n = ::write(fd, &byte, 1);
    });

    std::vector<std::thread> workers;
    for (int i = 1; i < threads; ++i) {
      workers.emplace_back([&loops, i] { loops[static_cast<std::size_t>(i)]->run(); });
    }
    loops[0]->run();
    for (auto& t : workers)
      t.join();
    loops.clear();
    const int code = frame.finish();
    // Only now: finish() has stopped the thread that calls the wake function.
    ::close(wake[0]);
    ::close(wake[1]);
    return code;
  });
}
