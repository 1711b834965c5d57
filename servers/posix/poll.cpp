// server-poll: poll(2), one loop per thread.
//
// The POSIX answer to Winsock's select() without its descriptor limit: the
// interest list is an array of pollfd entries of any length. Like select,
// every call hands the whole array to the kernel and the loop scans all of it
// afterwards, so the cost per call is O(connections), whether they are busy
// or idle; that is this model's limit (see epoll for the remedy).
//
//   main:  one listener per loop (SO_REUSEPORT when --threads > 1), an
//          eventfd for wake-ups, then the loops
//   loop:  poll(all) -> for each entry with revents: recv -> Connection ->
//          send; listener readable: accept4 up to a batch
//   stop:  the frame writes the eventfd, which every loop polls; each
//          closes its connections and returns
//   mail:  chat messages posted by other threads, and room under
//          --when-full queue, through the loop's own eventfd
//          (kit/loop_mail.hpp)
//
// The array is kept dense: entry 0 is the wake descriptor, entry 1 the
// listener, entry 2 the loop's mail (kit/loop_mail.hpp: chat messages from
// other threads, room under --when-full queue), and from entry 3 on, pollfd
// i belongs to conns_[i - 3]. A closed connection's entries are replaced by
// the last ones (swap with last), so nothing is ever searched, and the two
// arrays always stay parallel.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "platform/net.hpp"
#include "platform/posix/wake.hpp"
#include "kit/event_loop.hpp"
#include "kit/loop_listener.hpp"
#include "server/model_names.hpp"
#include "server/socket_io.hpp"

namespace {

using namespace wsb::server::model;

constexpr std::size_t wake_index = 0;
constexpr std::size_t listener_index = 1;
constexpr std::size_t mail_index = 2;
constexpr std::size_t first_connection = 3;

class Loop : public wsb::kit::LoopBase {
 public:
  Loop(Frame& frame, int listener, int wake_fd) : LoopBase(frame, listener) {
    fds_.push_back({wake_fd, POLLIN, 0});
    fds_.push_back({listener, POLLIN, 0});
    fds_.push_back({mail_.fd(), POLLIN, 0});
  }

  // The thread body. Never throws: failures end the server through fail().
  void run() noexcept {
    begin_thread();
    while (!frame_.stopping()) {
      // Idle connections are found by a sweep (server/options.hpp); after an
      // accept pause the listener's entry gets its descriptor back.
      const auto wait = timers_.run_due([this](Clock::time_point now) { sweep_idle(now); },
                                        [this] {
                                          if (!full_) fds_[listener_index].fd = listener_.fd();
                                        });
      int ready = ::poll(fds_.data(), fds_.size(), wsb::kit::timeout_ms(wait));
      if (ready < 0) {
        if (errno == EINTR) continue;
        frame_.fail("poll failed: " + wsb::net::error_text(errno));
        break;
      }
      if (ready == 0 || fds_[wake_index].revents != 0) continue;  // timers, or stopping()
      const bool listener_ready = fds_[listener_index].revents != 0;
      if (listener_ready) --ready;
      const bool mail_ready = fds_[mail_index].revents != 0;
      if (mail_ready) --ready;
      // From the end down, so that a close, which moves the last entry into
      // the freed index, only ever moves an entry that was already handled.
      // The scan ends as soon as every ready entry was seen.
      for (std::size_t i = fds_.size(); i-- > first_connection && ready > 0;) {
        const short revents = fds_[i].revents;
        if (revents == 0) continue;
        --ready;
        serve(i, revents);
      }
      // Mail and accepts last: they may close entries or append new ones,
      // which the scan above must not meet.
      if (mail_ready) serve_mail();
      if (listener_ready) accept_connections();
    }
    close_all();
  }

 private:
  void accept_connections() noexcept {
    const auto pass = listener_.accept_pass(*shard_, timers_, [this](int fd) { take(fd); });
    // A negative descriptor makes poll() skip the listener until the pause
    // has ended, or while the frame is full (--when-full queue) until a
    // connection closes and the loop's mail says so.
    if (pass.full) full_ = true;
    if (pass.paused || pass.full) fds_[listener_index].fd = -1;
  }

  void take(int fd) noexcept {
    if (!wsb::kit::admit_accepted(frame_, *shard_, fd)) return;
    const std::size_t before = conns_.size();
    conns_.add(fd, *shard_);
    if (conns_.size() == before) return;  // out of memory: closed and counted
    try {
      fds_.push_back({fd, POLLIN, 0});
    } catch (const std::bad_alloc&) {
      shard_->error(ErrorClass::io);
      conns_.close(before, *shard_);
    }
  }

  // The loop's mail: chat messages that other threads posted to its
  // connections, and room made by a connection closed anywhere. A
  // connection with new output is served as after a report of nothing: its
  // output goes out at once (or waits for POLLOUT).
  void serve_mail() noexcept {
    const bool room = mail_.take(mail_fds_);
    for (const int fd : mail_fds_) {
      const auto entry = conns_.find(fd);
      if (entry && conns_[*entry].conn.collect_mail()) serve(*entry + first_connection, 0);
    }
    if (room && full_) {
      full_ = false;
      if (!timers_.accept_paused()) {
        fds_[listener_index].fd = listener_.fd();
        accept_connections();
      }
    }
  }

  void serve(std::size_t i, short revents) noexcept {
    const int fd = fds_[i].fd;
    Connection& conn = conns_[i - first_connection].conn;
    if (revents & POLLNVAL) {
      // The descriptor is not open: a bug, but never a reason to spin.
      conn.on_error(ErrorClass::io);
    } else {
      // POLLHUP and POLLERR are reported whether asked for or not; recv()
      // (or, under backpressure, send()) then returns the end or the error.
      if ((revents & (POLLIN | POLLHUP | POLLERR)) && conn.want_read()) buffer_.receive(fd, conn);
      // Replies go out at once; POLLOUT is only asked for when the socket
      // buffer was full (what is left waits for writability).
      wsb::server::send_pending(fd, conn);
    }
    if (conn.finished()) {
      close_connection(i);
      return;
    }
    fds_[i].events =
        static_cast<short>((conn.want_read() ? POLLIN : 0) | (conn.want_write() ? POLLOUT : 0));
  }

  // Swap with last: the last entry of both arrays moves into index i, so the
  // arrays stay dense and parallel without searching.
  void close_connection(std::size_t i) noexcept {
    conns_.close(i - first_connection, *shard_);
    const std::size_t last = fds_.size() - 1;
    if (i != last) fds_[i] = fds_[last];
    fds_.pop_back();
  }

  void sweep_idle(Clock::time_point now) noexcept {
    for (std::size_t i = fds_.size(); i-- > first_connection;) {
      if (conns_[i - first_connection].conn.expire_if_idle(now)) close_connection(i);
    }
  }

  void close_all() noexcept {
    while (fds_.size() > first_connection)
      close_connection(fds_.size() - 1);
  }

  wsb::kit::ReceiveBuffer buffer_;
  std::vector<pollfd> fds_;
  // Parallel to fds_ from first_connection on: both close by swapping with
  // their last entry.
  wsb::kit::ConnectionList conns_{frame_, &mail_};
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "poll",
       .description =
           "poll(2): one loop per thread over a dense pollfd array (closed entries are swapped "
           "with the last). No descriptor limit, but every call passes and scans all connections."},
      [](Frame& frame) {
        // Destroyed after finish(), which stops the thread that signals it.
        wsb::net::WakeDescriptor wake;
        return wsb::kit::serve_loops(
            frame, true,
            [&](int, int listener) { return std::make_unique<Loop>(frame, listener, wake.fd()); },
            [&wake] { wake.signal(); });
      });
}
