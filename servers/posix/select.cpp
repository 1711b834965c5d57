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
//   mail:  chat messages posted by other threads, and room under
//          --when-full queue, through the loop's own eventfd
//          (kit/loop_mail.hpp), in every read set
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
#include "platform/posix/wake.hpp"
#include "kit/event_loop.hpp"
#include "kit/loop_listener.hpp"
#include "server/model_names.hpp"
#include "server/socket_io.hpp"

namespace {

using namespace wsb::server::model;

// Descriptors the server itself may hold below FD_SETSIZE besides its
// connections: standard streams, listeners, the wake eventfd, the spare, the
// frame's own (interrupt pipe, --stats-csv file). The default
// --max-connections is FD_SETSIZE minus this.
constexpr int reserved_descriptors = 64;

class Loop : public wsb::kit::LoopBase {
 public:
  Loop(Frame& frame, int listener, int wake_fd) : LoopBase(frame, listener), wake_fd_(wake_fd) {}

  // The thread body. Never throws: failures end the server through fail().
  void run() noexcept {
    begin_thread();
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
      const int max_fd = fill_sets(readable, writable);
      int ready = ::select(max_fd + 1, &readable, &writable, nullptr, timeout_ptr);
      if (ready < 0) {
        if (errno == EINTR) continue;
        frame_.fail("select failed: " + wsb::net::error_text(errno));
        break;
      }
      if (ready == 0 || FD_ISSET(wake_fd_, &readable)) continue;  // timers, or stopping()
      const bool listener_ready = watching_listener() && FD_ISSET(listener_.fd(), &readable);
      const bool mail_ready = FD_ISSET(mail_.fd(), &readable);
      // From the end down, so that a close (swap with last) only moves an
      // entry that was already handled into the freed index.
      for (std::size_t i = conns_.size(); i-- > 0;) {
        const int fd = conns_[i].fd;
        const bool can_read = FD_ISSET(fd, &readable);
        const bool can_write = FD_ISSET(fd, &writable);
        if (can_read || can_write) serve(i, can_read);
      }
      // Mail and accepts last: they may close entries or add new ones,
      // which are not in this round's sets. A pause, or a full frame
      // (--when-full queue), leaves the listener out of the sets until it
      // has ended or a connection has closed.
      if (mail_ready) serve_mail();
      if (listener_ready) accept_connections();
    }
    conns_.close_all(*shard_);
  }

 private:
  // The sets are rebuilt on every call: select() overwrites them with the
  // ready subset. Returns the highest descriptor in them.
  int fill_sets(fd_set& readable, fd_set& writable) const noexcept {
    FD_ZERO(&readable);
    FD_ZERO(&writable);
    int max_fd = std::max(wake_fd_, mail_.fd());
    FD_SET(wake_fd_, &readable);
    FD_SET(mail_.fd(), &readable);
    if (watching_listener()) {
      FD_SET(listener_.fd(), &readable);
      max_fd = std::max(max_fd, listener_.fd());
    }
    for (const auto& e : conns_) {
      // Every descriptor here is below FD_SETSIZE: take() refuses the others.
      if (e.conn.want_read()) FD_SET(e.fd, &readable);
      if (e.conn.want_write()) FD_SET(e.fd, &writable);
      max_fd = std::max(max_fd, e.fd);
    }
    return max_fd;
  }

  bool watching_listener() const noexcept { return !timers_.accept_paused() && !full_; }

  void accept_connections() noexcept {
    const auto pass = listener_.accept_pass(*shard_, timers_, [this](int fd) { take(fd); });
    if (pass.full) full_ = true;
  }

  // The loop's mail: chat messages that other threads posted to its
  // connections, and room made by a connection closed anywhere. A
  // connection with new output is served at once: its output goes out (or
  // waits for the write set).
  void serve_mail() noexcept {
    const bool room = mail_.take(mail_fds_);
    for (const int fd : mail_fds_) {
      const auto entry = conns_.find(fd);
      if (entry && conns_[*entry].conn.collect_mail()) serve(*entry, false);
    }
    if (room && full_) {
      full_ = false;
      if (!timers_.accept_paused()) accept_connections();
    }
  }

  void take(int fd) noexcept {
    if (fd >= FD_SETSIZE) {
      // The model's own limit: this descriptor cannot be put in an fd_set.
      shard_->error(ErrorClass::out_of_descriptors);
      listener_.log()(frame_, "connection closed: its descriptor " + std::to_string(fd) +
                                  " is beyond select()'s FD_SETSIZE (" +
                                  std::to_string(FD_SETSIZE) +
                                  "); lower --max-connections or use server-poll or server-epoll");
      ::close(fd);
      return;
    }
    if (wsb::kit::admit_accepted(frame_, *shard_, fd)) conns_.add(fd, *shard_);
  }

  void serve(std::size_t i, bool can_read) noexcept {
    const int fd = conns_[i].fd;
    Connection& conn = conns_[i].conn;
    // A readable socket has data, the end of the stream or an error: recv()
    // tells which. Under backpressure the socket is only in the write set,
    // and send() reports an error just as well.
    if (can_read && conn.want_read()) buffer_.receive(fd, conn);
    // Replies go out at once; the write set is only used when the socket
    // buffer was full (what is left waits for writability).
    wsb::server::send_pending(fd, conn);
    if (conn.finished()) conns_.close(i, *shard_);
  }

  const int wake_fd_;
  wsb::kit::ReceiveBuffer buffer_;
  wsb::kit::ConnectionList conns_{frame_, &mail_};
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "select",
       .description =
           "select(2): one loop per thread; both descriptor sets are rebuilt and scanned on "
           "every call. Descriptors >= FD_SETSIZE (1024) cannot be watched: such connections are "
           "closed and counted as out_of_descriptors."},
      [](Frame& frame) { frame.set_default_max_connections(FD_SETSIZE - reserved_descriptors); },
      [](Frame& frame) {
        // Destroyed after finish(), which stops the thread that signals it.
        wsb::net::WakeDescriptor wake;
        return wsb::kit::serve_loops(
            frame, true,
            [&](int, int listener) {
              if (listener >= FD_SETSIZE) {
                throw wsb::net::NetError(EMFILE,
                                         "the listener's descriptor " + std::to_string(listener) +
                                             " is beyond FD_SETSIZE; select() cannot watch it");
              }
              return std::make_unique<Loop>(frame, listener, wake.fd());
            },
            [&wake] { wake.signal(); });
      });
}
