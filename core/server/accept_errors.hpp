// What a POSIX server model does when accepting fails (namespace
// wsb::server): count the failure, say so on stderr without flooding it, and
// tell the model's accept loop whether to go on, wait or pause. Every model
// in servers/posix/ follows this one policy; only how it waits or pauses is
// the model's own (a poll on the listener, an epoll_ctl, a poll request on a
// ring...).
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
#include <cstdint>
#include <string>
#include <string_view>

#include "platform/posix/accept.hpp"
#include "server/frame.hpp"
#include "server/options.hpp"
#include "server/stats.hpp"

namespace wsb::server {

// At most one line per second on stderr, prefixed with the model's name, for
// failures that can repeat thousands of times per second (accepts while out
// of descriptors). The lines it drops are counted and the count is appended
// to the next line it prints.
class RateLimitedLog {
 public:
  void operator()(const Frame& frame, const std::string& message);

 private:
  std::chrono::steady_clock::time_point next_{};
  std::uint64_t suppressed_ = 0;
};

// How many connections a non-blocking accept loop takes per pass before it
// serves its established connections again: the --backlog, but at least 64.
// One pass can then empty the accept queue as it stood when the pass began,
// while a storm of arrivals cannot keep the loop from its connections for
// longer than that. (A fixed 64 was too small: a loop whose pass over ready
// connections takes long, e.g. 10,000 of them, accepted only 64 per pass,
// so clients connecting at once waited seconds and overflowed the queue.)
int accept_pass_limit(const Options& options) noexcept;

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
  static constexpr std::chrono::milliseconds pause_for{100};

  // `call` names the failing call in the log lines ("accept4", "accept").
  AcceptErrors(const Frame& frame, std::string_view call);

  // Handles accept() failing with errno `code` (not EAGAIN or EINTR, which
  // the loop handles) on `listener`: counts the error on `shard` (the calling
  // thread's) unless nothing happened (wait), logs what needs saying, and
  // returns what to do next.
  AcceptAction handle(int code, int listener, StatsShard& shard) noexcept;

  // The same rate-limited log, for the model's other repeating failures.
  RateLimitedLog& log() noexcept { return log_; }

 private:
  const Frame& frame_;
  std::string call_;
  net::SpareDescriptor spare_;
  RateLimitedLog log_;
};

}  // namespace wsb::server
