// A loop's own listener and the accept pass of the readiness loops
// (namespace wsb::kit): nonblocking, select, poll and epoll accept from a
// non-blocking listener the same way (accept4 until EAGAIN or a batch, the
// frame's accept failure policy on a failure), and differ only in what they
// do with an accepted socket and how they stop watching the listener during
// an accept pause. server-uring owns its listener and policy through this
// class too, but accepts with its ring.
//
//   const auto pass = listener_.accept_pass(*shard_, timers_, [this](int fd) {
//     if (wsb::kit::admit_accepted(frame_, *shard_, fd)) conns_.add(fd, *shard_);
//   });
//   if (pass.paused) { /* stop watching listener_.fd() until timers_ resume */ }
#pragma once

#include <cerrno>
#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

#include "kit/event_loop.hpp"
#include "kit/loop_mail.hpp"
#include "platform/posix/accept.hpp"
#include "server/accept_policy.hpp"
#include "server/frame.hpp"
#include "server/stats.hpp"

namespace wsb::kit {

// How an accept pass ended.
struct AcceptPass {
  // Sockets accepted and handed to take() (admitted or not).
  int accepted = 0;
  // The accept policy handled a failure other than `wait` (which is like
  // EAGAIN: nobody is waiting).
  bool failed = false;
  // The policy said pause: the timers' accept pause has begun, and the loop
  // stops watching the listener until LoopTimers::run_due() calls its resume.
  bool paused = false;
  // --when-full queue with --max-connections online (Frame::has_room()
  // false): the loop stops watching the listener, leaving new clients in the
  // kernel's accept queue, until room is made (its LoopMail says so).
  bool full = false;
};

class LoopListener {
 public:
  // Takes `fd`, a listener of Frame::open_listener(), and closes it when
  // destroyed. `call` names the accept call in the policy's messages.
  LoopListener(server::Frame& frame, int fd, std::string_view call = "accept4");
  ~LoopListener();
  LoopListener(const LoopListener&) = delete;
  LoopListener& operator=(const LoopListener&) = delete;

  int fd() const noexcept { return fd_; }
  server::AcceptPolicy& policy() noexcept { return policy_; }
  // The policy's rate-limited log, for the loop's other repeating failures.
  server::RateLimitedLog& log() noexcept { return policy_.log(); }

  // Accepts from the non-blocking listener until nobody is waiting (EAGAIN),
  // accept_pass_limit() attempts were made (unless `unbounded`: an
  // edge-triggered loop must go on to EAGAIN), the frame is stopping, the
  // frame has no room (--when-full queue: `full`), or a failure ends the
  // pass. Each accepted socket goes to take(fd), not yet admitted
  // (kit::admit_accepted). A failure goes to the accept policy: retry goes
  // on, wait and stop end the pass, pause ends it and starts `timers`'
  // accept pause.
  //
  // The wait of a queued client, as far as a loop can see it: from the
  // moment a pass found the frame full until each connection accepted
  // before the accept queue is next found empty (an upper bound for clients
  // that arrived later), reported with Frame::note_waited().
  template <class Take>
  AcceptPass accept_pass(server::StatsShard& shard, LoopTimers& timers, Take&& take,
                         bool unbounded = false) noexcept {
    AcceptPass pass;
    for (int attempt = 0; (unbounded || attempt < batch_) && !frame_.stopping(); ++attempt) {
      if (!frame_.has_room()) {
        if (!full_since_) full_since_ = Clock::now();
        pass.full = true;
        break;
      }
      const int fd = net::accept_nonblocking(fd_);
      if (fd >= 0) {
        ++pass.accepted;
        if (full_since_) frame_.note_waited(Clock::now() - *full_since_);
        take(fd);
      } else if (!on_failure(errno, shard, timers, pass)) {
        break;
      }
    }
    return pass;
  }

 private:
  // Returns whether the pass goes on.
  bool on_failure(int code, server::StatsShard& shard, LoopTimers& timers,
                  AcceptPass& pass) noexcept;

  using Clock = std::chrono::steady_clock;

  server::Frame& frame_;
  const int fd_;
  // Accepts per pass (server/accept_policy.hpp).
  const int batch_;
  server::AcceptPolicy policy_;
  // Since when clients may have been kept waiting (--when-full queue): set
  // when a pass finds the frame full, cleared when one finds the queue empty.
  std::optional<Clock::time_point> full_since_;
};

// What every POSIX event loop holds besides its own mechanics: the frame,
// the statistics shard of the loop's thread, the loop's own listener, its
// timers and its mail (kit/loop_mail.hpp). A model's Loop derives from it
// and calls begin_thread() first thing in its thread body.
class LoopBase {
 public:
  LoopBase(const LoopBase&) = delete;
  LoopBase& operator=(const LoopBase&) = delete;

  // For serve_loops(), which hands it to the frame's room hook.
  LoopMail& mail() noexcept { return mail_; }

 protected:
  // `listener` as for LoopListener, which closes it with the loop.
  LoopBase(server::Frame& frame, int listener, std::string_view accept_call = "accept4")
      : frame_(frame), listener_(frame, listener, accept_call), timers_(frame.options()) {}
  ~LoopBase() = default;

  // On the loop's own thread, before anything is counted: that thread's
  // statistics shard (Frame::shard()).
  void begin_thread() { shard_ = &frame_.shard(); }

  server::Frame& frame_;
  server::StatsShard* shard_ = nullptr;
  LoopListener listener_;
  LoopTimers timers_;
  LoopMail mail_;
  std::vector<int> mail_fds_;  // the descriptors of the last take(), kept for its capacity
  bool full_ = false;          // --when-full queue: stopped accepting until room is made
};

}  // namespace wsb::kit
