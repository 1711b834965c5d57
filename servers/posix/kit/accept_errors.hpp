// What a POSIX server model does when accepting fails (namespace
// wsb::kit): the policy every model follows (server/accept_policy.hpp:
// count, log without flooding, retry or pause), preceded by the POSIX remedy
// for running out of descriptors, and told to the model's accept loop as go
// on, wait or pause. Only how a model waits or pauses is its own (a poll on
// the listener, an epoll_ctl, a poll request on a ring...).
//
// POSIX only (compiled by core/server/CMakeLists.txt when not WIN32): the
// spare-descriptor remedy for EMFILE/ENFILE is POSIX mechanics
// (platform/posix/accept.hpp).
//
// Typical use in a non-blocking accept loop:
//
//   const int fd = wsb::net::accept_nonblocking(listener);
//   if (fd < 0) {
//     const int code = errno;
//     if (wsb::net::would_block(code)) return;       // wait for readiness
//     if (wsb::net::is_interrupted(code)) continue;
//     switch (accept_errors_.handle(code, listener, shard)) {
//       case AcceptAction::retry: continue;
//       case AcceptAction::wait: return;             // as after EAGAIN
//       case AcceptAction::pause: /* stop watching the listener for
//                                    AcceptErrors::pause_for */ return;
//     }
//   }
#pragma once

#include <chrono>
#include <string_view>

#include "platform/posix/accept.hpp"
#include "server/accept_policy.hpp"
#include "server/frame.hpp"
#include "server/stats.hpp"

namespace wsb::kit {

// What the accept loop does after AcceptErrors::handle().
enum class AcceptAction {
  // Accept again at once: one client was turned away for want of a
  // descriptor (more may be waiting), or the client gave up first.
  retry,
  // Out of descriptors with nobody waiting: behave as after EAGAIN and wait
  // until the listener is ready again. (A blocking accept() would fail at
  // once in this state instead of waiting, so a blocking model must wait for
  // readiness itself, bounded.)
  wait,
  // Out of descriptors with no spare, or an unexpected failure that would
  // recur at once: stop accepting for AcceptErrors::pause_for (the log line
  // says so), then resume.
  pause,
};

// One per accepting thread: it holds that thread's spare descriptor and log.
class AcceptErrors {
 public:
  static constexpr std::chrono::milliseconds pause_for = server::AcceptPolicy::pause_for;

  // `call` names the failing call in the log lines ("accept4", "accept").
  AcceptErrors(const server::Frame& frame, std::string_view call);

  // Handles accept() failing with errno `code` (not EAGAIN or EINTR, which
  // the loop handles) on `listener`: counts the error on `shard` (the calling
  // thread's) unless nothing happened (wait), logs what needs saying, and
  // returns what to do next.
  AcceptAction handle(int code, int listener, server::StatsShard& shard) noexcept;

  // The same rate-limited log, for the model's other repeating failures.
  server::RateLimitedLog& log() noexcept { return policy_.log(); }

 private:
  server::AcceptPolicy policy_;
  net::SpareDescriptor spare_;
};

}  // namespace wsb::kit
