// What every server model does when accept() fails (namespace wsb::server):
// count the failure, say so on stderr without flooding it, try the platform's
// remedy for running out of descriptors, and tell the accept loop whether to
// go on at once, wait, pause or stop. One policy and one action enum for both
// platforms: which codes mean which is asked of the platform's error
// predicates (net::is_reset, net::is_out_of_descriptors,
// net::is_listener_failure) and the remedy is the platform's
// net::SpareDescriptor, so this file is portable.
//
// One AcceptPolicy per accepting thread (it holds that thread's spare
// descriptor and log). How a loop waits or pauses stays the model's own (a
// Sleep, a resume time for select(), an FD_ACCEPT switched off for a while, a
// poll request on a ring...). Typical use in a non-blocking accept loop:
//
//   const socket_t s = accept(listener, ...);
//   if (s is invalid) {
//     const int code = net::last_error();
//     if (net::would_block(code)) return;       // wait for readiness
//     if (net::is_interrupted(code)) continue;
//     switch (accept_policy_.handle(code, listener, shard)) {
//       case AcceptAction::retry: continue;
//       case AcceptAction::wait: return;        // as after would-block
//       case AcceptAction::pause: /* stop watching the listener for
//                                    AcceptPolicy::pause_for */ return;
//       case AcceptAction::stop: return;        // the frame has been told
//     }
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "platform/net.hpp"
#include "platform/spare_descriptor.hpp"
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

// What the accept loop does after AcceptPolicy::handle().
enum class AcceptAction : std::uint8_t {
  // Accept again at once: the client gave up while queued (a reset), or one
  // client was turned away for want of a descriptor (more may be waiting).
  retry,
  // Out of descriptors with nobody waiting (POSIX): behave as after
  // would-block and wait until the listener is ready again. (A blocking
  // accept() would fail at once in this state instead of waiting, so a
  // blocking model must wait for readiness itself, bounded.)
  wait,
  // The process ran out of descriptors or buffers with no spare to help, or
  // accept() failed in a way that may pass (POSIX). The connection stays
  // queued, so accept() would fail again at once and a loop, or a
  // level-triggered notification, would spin on it: stop accepting for
  // AcceptPolicy::pause_for (the log line says so), then resume.
  pause,
  // The listener or the socket layer is broken (net::is_listener_failure,
  // Winsock only): the accept loop ends; handle() has told the frame
  // (Frame::fail, "accept() failed: ...").
  stop,
};

class AcceptPolicy {
 public:
  static constexpr std::chrono::milliseconds pause_for{100};

  // `call` names the failing call in the messages ("accept", "accept4").
  AcceptPolicy(Frame& frame, std::string_view call);

  // Handles `call` failing with error `code` on `listener`: the whole policy.
  // `code` must be a real failure: not would-block, not interrupted, and not
  // caused by a stop that closed the listener. When out of descriptors, the
  // spare descriptor first turns one waiting client away (retry) or finds
  // nobody waiting (wait, nothing counted); otherwise decide(), and for stop
  // the frame is told (Frame::fail).
  AcceptAction handle(int code, net::socket_t listener, StatsShard& shard) noexcept;

  // The classification step of handle(), without the spare descriptor and
  // without telling the frame: counts the failure on `shard` (the calling
  // thread's) by its class (classify_accept_error), logs every pause,
  // rate-limited ("<model>: accept4: EMFILE (24): ...; accepting pauses for
  // 100 ms"), and returns retry, pause or stop.
  AcceptAction decide(int code, StatsShard& shard) noexcept;

  // "<call>() failed: <error text>", what the frame is told for stop.
  std::string fatal_message(int code) const;

  // The same rate-limited log, for the model's other repeating failures.
  RateLimitedLog& log() noexcept { return log_; }

 private:
  Frame& frame_;
  std::string call_;
  RateLimitedLog log_;
  net::SpareDescriptor spare_;
};

}  // namespace wsb::server
