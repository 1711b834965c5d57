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
//   mail:  chat messages posted by other threads, and room under
//          --when-full queue: one atomic flag checked every pass
//          (kit/loop_mail.hpp)
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
#include <utility>
#include <vector>

#include "kit/event_loop.hpp"
#include "kit/loop_listener.hpp"
#include "server/model_names.hpp"
#include "server/socket_io.hpp"

namespace {

using namespace wsb::server::model;

// Back-off: this many idle passes only yield, then sleeps start at
// first_sleep and double up to max_sleep.
constexpr int yield_passes = 16;
constexpr auto first_sleep = std::chrono::microseconds(4);
constexpr auto max_sleep = std::chrono::microseconds(1000);

class Loop : public wsb::kit::LoopBase {
 public:
  Loop(Frame& frame, int listener, bool spin) : LoopBase(frame, listener), spin_(spin) {}

  // The thread body. Never throws.
  void run() noexcept {
    begin_thread();
    int idle_passes = 0;
    auto sleep = first_sleep;

    while (!frame_.stopping()) {
      bool progress = serve_mail();
      progress |= accept_connections();
      // From the end down, so that a close (swap with last) only moves an
      // entry that was already handled into the freed index.
      for (std::size_t i = conns_.size(); i-- > 0;)
        progress |= serve(i);
      // Idle connections are found by a sweep (server/options.hpp); after an
      // accept pause the next pass simply tries the listener again. Nothing
      // waits, so the time left until the next timer does not matter.
      timers_.run_due([this](Clock::time_point now) { conns_.sweep_idle(now, *shard_); }, [] {});
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
    conns_.close_all(*shard_);
  }

 private:
  // True when something was accepted or failed (progress). Out of
  // descriptors with nobody waiting is no progress, so the back-off keeps
  // this (three system calls per pass) cheap. After a pause the listener is
  // not tried until the pause has ended.
  bool accept_connections() noexcept {
    if (timers_.accept_paused() || full_) return false;
    const auto pass = listener_.accept_pass(*shard_, timers_, [this](int fd) {
      if (wsb::kit::admit_accepted(frame_, *shard_, fd)) conns_.add(fd, *shard_);
    });
    // Full (--when-full queue): new clients wait in the kernel's accept
    // queue until a connection closes and the loop's mail says so.
    if (pass.full) full_ = true;
    return pass.accepted > 0 || pass.failed;
  }

  // The loop's mail (kit/loop_mail.hpp): chat messages that other threads
  // posted to its connections, and room made by a connection closed
  // anywhere. The loop does not wait on its eventfd: one atomic load per
  // pass says whether there is any, and a sleeping loop finds it when it
  // wakes (within the back-off's millisecond). True when there was some.
  bool serve_mail() noexcept {
    if (!mail_.pending()) return false;
    if (mail_.take(mail_fds_)) full_ = false;
    for (const int fd : mail_fds_) {
      // The pass over every connection sends what this collects.
      if (const auto entry = conns_.find(fd)) conns_[*entry].conn.collect_mail();
    }
    return true;
  }

  // One recv() and the sends it allows. True when any byte moved or the
  // connection ended.
  bool serve(std::size_t i) noexcept {
    const int fd = conns_[i].fd;
    Connection& conn = conns_[i].conn;
    bool progress = false;
    // EAGAIN means "not now": no progress, try again next pass.
    if (conn.want_read()) progress = buffer_.receive(fd, conn);
    // Sends can be partial: what the socket did not take stays pending in
    // the Connection (its write offset) and is tried again next pass. Any
    // byte taken (or a failure, which drops what was pending) is progress.
    const std::size_t unsent = conn.pending_bytes();
    wsb::server::send_pending(fd, conn);
    if (conn.pending_bytes() != unsent) progress = true;
    if (conn.finished()) {
      conns_.close(i, *shard_);
      progress = true;
    }
    return progress;
  }

  const bool spin_;
  wsb::kit::ReceiveBuffer buffer_;
  wsb::kit::ConnectionList conns_{frame_, &mail_};
};

}  // namespace

int main(int argc, char** argv) {
  bool spin = false;
  return wsb::server::run_model(
      argc, argv,
      {.name = "nonblocking",
       .description =
           "Non-blocking sockets (O_NONBLOCK) tried in turn by a polling loop, with no readiness "
           "API. Idle passes back off (sched_yield, then sleeps growing to 1 ms); --spin keeps "
           "the pure loop."},
      [&](Frame& frame) {
        frame.cli().add_flag("--spin", spin,
                             "Never back off: poll every socket continuously (one core at 100 %)");
      },
      [&](Frame& frame) {
        // Nothing to unblock: every loop checks stopping() at least once per
        // millisecond.
        return wsb::kit::serve_loops(
            frame, true,
            [&](int, int listener) { return std::make_unique<Loop>(frame, listener, spin); },
            [] {});
      });
}
