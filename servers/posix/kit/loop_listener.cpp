// A loop's listener and its accept pass: kit/loop_listener.hpp.
#include "kit/loop_listener.hpp"

#include <unistd.h>

#include "platform/net.hpp"

namespace wsb::kit {

LoopListener::LoopListener(server::Frame& frame, int fd, std::string_view call)
    : frame_(frame),
      fd_(fd),
      batch_(server::accept_pass_limit(frame.options())),
      policy_(frame, call) {}

LoopListener::~LoopListener() {
  ::close(fd_);
}

bool LoopListener::on_failure(int code, server::StatsShard& shard, LoopTimers& timers,
                              AcceptPass& pass) noexcept {
  if (net::would_block(code)) {
    full_since_.reset();  // nobody is waiting any more
    return false;
  }
  if (net::is_interrupted(code)) return true;
  const server::AcceptAction action = policy_.handle(code, fd_, shard);
  // wait is like EAGAIN: the next client makes the listener ready again.
  if (action == server::AcceptAction::wait) return false;
  pass.failed = true;
  if (action == server::AcceptAction::retry) return true;  // more may be waiting
  if (action == server::AcceptAction::pause) {
    // No spare, or an unexpected failure that would recur at once: the
    // connection stays queued, so a level-triggered wait would report the
    // listener at once again. The loop stops watching it for a while.
    timers.pause_accepting();
    pass.paused = true;
  }
  return false;  // pause, or stop: the policy told the frame
}

}  // namespace wsb::kit
