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
//   stop:  the frame writes an eventfd that every loop watches
//
// Cost: the sets are rebuilt and scanned on every call, O(connections) (the
// kernel also walks every bit up to the highest descriptor); see poll and
// epoll for the remedies.
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
#include <utility>
#include <vector>

#include "platform/net.hpp"
#include "platform/posix/accept.hpp"
#include "platform/posix/wake.hpp"
#include "kit/event_loop.hpp"
#include "server/model_names.hpp"
#include "server/socket_io.hpp"

namespace {

using namespace wsb::server::model;

// Descriptors the server itself may hold below FD_SETSIZE besides its
// connections: standard streams, listeners, the wake eventfd, the spare, the
// frame's own (interrupt pipe, --stats-csv file). The default
// --max-connections is FD_SETSIZE minus this.
constexpr int reserved_descriptors = 64;

class Loop {
 public:
  Loop(Frame& frame, int listener, int wake_fd)
      : frame_(frame),
        listener_(listener),
        wake_fd_(wake_fd),
        buffer_(new char[wsb::kit::receive_buffer_size]) {}
  ~Loop() { ::close(listener_); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // The thread body. Never throws: failures end the server through fail().
  void run() noexcept {
    shard_ = &frame_.shard();
    fd_set readable;
    fd_set writable;

    while (!frame_.stopping()) {
      // Idle connections are found by a sweep (server/options.hpp); after an
      // accept pause the listener is simply put in the set again.
      const auto wait = timers_.run_due(
          [this](Clock::time_point now) { conns_.sweep_idle(now, *shard_); }, [] {});
      timeval timeout{};
      timeval* timeout_ptr = nullptr;
      if (wait) {
        const auto us = std::chrono::ceil<std::chrono::microseconds>(*wait).count();
        timeout.tv_sec = static_cast<time_t>(us / 1'000'000);
        timeout.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
        timeout_ptr = &timeout;
      }
      // The sets are rebuilt on every call: select() overwrites them with
      // the ready subset.
      FD_ZERO(&readable);
      FD_ZERO(&writable);
      int max_fd = wake_fd_;
      FD_SET(wake_fd_, &readable);
      if (!timers_.accept_paused()) {
        FD_SET(listener_, &readable);
        max_fd = std::max(max_fd, listener_);
      }
      for (const auto& e : conns_) {
        // Every descriptor here is below FD_SETSIZE: accept_connections()
        // refuses the others.
        if (e.conn.want_read()) FD_SET(e.fd, &readable);
        if (e.conn.want_write()) FD_SET(e.fd, &writable);
        max_fd = std::max(max_fd, e.fd);
      }
      int ready = ::select(max_fd + 1, &readable, &writable, nullptr, timeout_ptr);
      if (ready < 0) {
        if (errno == EINTR) continue;
        frame_.fail("select failed: " + wsb::net::error_text(errno));
        break;
      }
      if (ready == 0 || FD_ISSET(wake_fd_, &readable)) continue;  // timers, or stopping()
      const bool listener_ready = !timers_.accept_paused() && FD_ISSET(listener_, &readable);
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
    conns_.close_all(*shard_);
  }

 private:
  void accept_connections() noexcept {
    for (int accepted = 0; accepted < accept_batch_; ++accepted) {
      const int fd = wsb::net::accept_nonblocking(listener_);
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
      if (wsb::kit::admit_accepted(frame_, *shard_, fd)) conns_.add(fd, *shard_);
    }
  }

  // Returns whether to go on accepting.
  bool on_accept_error(int code) noexcept {
    // wait is like EAGAIN: the next client makes the listener ready again.
    const AcceptAction action = accept_policy_.handle(code, listener_, *shard_);
    if (action != AcceptAction::pause) return action == AcceptAction::retry;
    // No spare, or an unexpected failure that would recur at once: leave the
    // listener out of the set for a while.
    timers_.pause_accepting();
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
    if (conn.finished()) conns_.close(i, *shard_);
  }

  void receive(int fd, Connection& conn) noexcept {
    wsb::server::receive_once(fd, {buffer_.get(), wsb::kit::receive_buffer_size}, conn);
  }

  void flush(int fd, Connection& conn) noexcept {
    wsb::server::send_pending(fd, conn);  // what is left waits for writability
  }

  Frame& frame_;
  // Accepts per pass (server/accept_policy.hpp).
  const int accept_batch_ = wsb::server::accept_pass_limit(frame_.options());
  StatsShard* shard_ = nullptr;
  const int listener_;
  const int wake_fd_;
  std::unique_ptr<char[]> buffer_;
  wsb::kit::ConnectionList conns_{frame_};
  AcceptPolicy accept_policy_{frame_, "accept4"};
  RateLimitedLog& log_ = accept_policy_.log();
  wsb::kit::LoopTimers timers_{frame_.options()};
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

    // Destroyed after finish(), which stops the thread that signals it.
    wsb::net::WakeDescriptor wake;
    std::vector<std::unique_ptr<Loop>> loops;
    for (int i = 0; i < threads; ++i) {
      // One listener per loop; SO_REUSEPORT only when there are several, so
      // that a second server on the same port fails with EADDRINUSE.
      const int listener = frame.open_listener({.nonblocking = true, .reuse_port = threads > 1});
      if (listener >= FD_SETSIZE) {
        throw wsb::net::NetError(EMFILE, "the listener's descriptor " + std::to_string(listener) +
                                             " is beyond FD_SETSIZE; select() cannot watch it");
      }
      loops.push_back(std::make_unique<Loop>(frame, listener, wake.fd()));
    }
    frame.start([&wake] { wake.signal(); });
    wsb::kit::run_loops(std::move(loops));
    return frame.finish();
  });
}
