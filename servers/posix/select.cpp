// server-select: select(2), one loop per thread.
//
// The POSIX original of Winsock's select(). The two differ in what an fd_set
// is: on Windows an array of up to FD_SETSIZE socket handles (any values), on
// POSIX a bitmap indexed by descriptor number, FD_SETSIZE (1024 on Linux)
// bits long. A POSIX select() server can therefore not watch a descriptor
// whose number is 1024 or more, however few connections it has, and
// FD_SET() with such a number writes past the bitmap (undefined behaviour).
//
// This server shows the limit instead of hiding it: a connection whose
// descriptor is >= FD_SETSIZE is closed at once, counted as
// out_of_descriptors (the model has run out of descriptors it can use; the
// class "refused" stays reserved for --max-connections) and logged. The
// default --max-connections leaves room below FD_SETSIZE for the server's own
// descriptors, so only an explicit larger --max-connections meets the limit.
//
//   loop:  rebuild both sets from the Connections' wishes -> select ->
//          for each connection FD_ISSET -> recv -> Connection -> send;
//          listener readable: accept4 up to a batch
//   stop:  the frame writes a byte into a pipe that every loop watches
//
// Cost: the sets are rebuilt and scanned on every call, O(connections) (the
// kernel also walks every bit up to the highest descriptor); see poll and
// epoll for the remedies.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/select.h>
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

constexpr std::size_t receive_buffer_size = 64 * 1024;
constexpr int accept_batch = 64;
constexpr auto accept_pause = std::chrono::milliseconds(100);
// Descriptors the server itself may hold below FD_SETSIZE besides its
// connections: standard streams, listeners, the wake pipe, the spare, the
// frame's own (interrupt pipe, --stats-csv file). The default
// --max-connections is FD_SETSIZE minus this.
constexpr int reserved_descriptors = 64;

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
// thousands of times per second.
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
  Loop(Frame& frame, int listener, int wake_fd)
      : frame_(frame),
        listener_(listener),
        wake_fd_(wake_fd),
        buffer_(new char[receive_buffer_size]) {}
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
    fd_set readable;
    fd_set writable;

    while (!frame_.stopping()) {
      timeval timeout{};
      timeval* timeout_ptr = nullptr;
      if (sweep_interval.count() > 0 || accept_paused_) {
        const auto now = Clock::now();
        if (sweep_interval.count() > 0 && now >= next_sweep) {
          sweep_idle(now);
          next_sweep = now + sweep_interval;
        }
        if (accept_paused_ && now >= resume_accept_at_) accept_paused_ = false;
        auto until = sweep_interval.count() > 0 ? next_sweep : Clock::time_point::max();
        if (accept_paused_) until = std::min(until, resume_accept_at_);
        if (until != Clock::time_point::max()) {
          const auto wait = std::chrono::ceil<std::chrono::microseconds>(
              std::max(until - now, Clock::duration::zero()));
          timeout.tv_sec = static_cast<time_t>(wait.count() / 1'000'000);
          timeout.tv_usec = static_cast<suseconds_t>(wait.count() % 1'000'000);
          timeout_ptr = &timeout;
        }
      }
      // The sets are rebuilt on every call: select() overwrites them with
      // the ready subset.
      FD_ZERO(&readable);
      FD_ZERO(&writable);
      int max_fd = wake_fd_;
      FD_SET(wake_fd_, &readable);
      if (!accept_paused_) {
        FD_SET(listener_, &readable);
        max_fd = std::max(max_fd, listener_);
      }
      for (const Entry& e : conns_) {
        // Every descriptor here is below FD_SETSIZE: accept_connections()
        // refuses the others.
        if (e.conn.want_read()) FD_SET(e.fd, &readable);
        if (e.conn.want_write()) FD_SET(e.fd, &writable);
        max_fd = std::max(max_fd, e.fd);
      }
      int ready = ::select(max_fd + 1, &readable, &writable, nullptr, timeout_ptr);
      if (ready < 0) {
        if (errno == EINTR) continue;
        frame_.fail("select failed: " + errno_text(errno));
        break;
      }
      if (ready == 0 || FD_ISSET(wake_fd_, &readable)) continue;  // timers, or stopping()
      const bool listener_ready = !accept_paused_ && FD_ISSET(listener_, &readable);
      // From the end down, so that a close (swap with last) only moves an
      // entry that was already handled into the freed index.
      for (std::size_t i = conns_.size(); i-- > 0;) {
        const int fd = conns_[i].fd;
        const bool can_read = FD_ISSET(fd, &readable);
        const bool can_write = FD_ISSET(fd, &writable);
        if (can_read || can_write) serve(i, can_read);
      }
      // Accept last: new entries are not in this round's sets.
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
      if (fd >= FD_SETSIZE) {
        // The model's own limit: this descriptor cannot be put in an fd_set.
        shard_->error(ErrorClass::out_of_descriptors);
        log_(frame_, "connection closed: its descriptor " + std::to_string(fd) +
                         " is beyond select()'s FD_SETSIZE (" + std::to_string(FD_SETSIZE) +
                         "); lower --max-connections or use server-poll or server-epoll");
        ::close(fd);
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
        conns_.push_back({fd, Connection(frame_, *shard_)});
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
    // No spare, or an unexpected failure that would recur at once: leave the
    // listener out of the set for a while.
    accept_paused_ = true;
    resume_accept_at_ = Clock::now() + accept_pause;
    return false;
  }

  void serve(std::size_t i, bool can_read) noexcept {
    const int fd = conns_[i].fd;
    Connection& conn = conns_[i].conn;
    // A readable socket has data, the end of the stream or an error: recv()
    // tells which. Under backpressure the socket is only in the write set,
    // and send() reports an error just as well.
    if (can_read && conn.want_read()) receive(fd, conn);
    // Replies go out at once; the write set is only used when the socket
    // buffer was full.
    flush(fd, conn);
    if (conn.finished()) close_connection(i);
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
        return;  // the rest waits for the write set
      } else {
        conn.on_error(wsb::server::classify_io_error(errno));
      }
    }
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
  const int wake_fd_;
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
    Frame frame("select",
                "select(2): one loop per thread; both descriptor sets are rebuilt and scanned "
                "on every call. Descriptors >= FD_SETSIZE (1024) cannot be watched: such "
                "connections are closed and counted as out_of_descriptors.",
                1);
    frame.set_default_max_connections(FD_SETSIZE - reserved_descriptors);
    if (auto exit_code = frame.parse(argc, argv)) return *exit_code;
    const int threads = frame.options().threads;
    if (threads > 1) refuse_busy_port(frame);

    // The self-pipe: the frame's wake function writes one byte, which is never
    // read, so the pipe stays readable and every loop's select() returns.
    int wake[2];
    if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw wsb::net::NetError(errno, "pipe2 failed: " + errno_text(errno));
    }
    std::vector<std::unique_ptr<Loop>> loops;
    for (int i = 0; i < threads; ++i) {
      // One listener per loop; SO_REUSEPORT only when there are several, so
      // that a second server on the same port fails with EADDRINUSE.
      const int listener = frame.open_listener({.nonblocking = true, .reuse_port = threads > 1});
      if (listener >= FD_SETSIZE) {
        throw wsb::net::NetError(EMFILE, "the listener's descriptor " + std::to_string(listener) +
                                             " is beyond FD_SETSIZE; select() cannot watch it");
      }
      loops.push_back(std::make_unique<Loop>(frame, listener, wake[0]));
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
