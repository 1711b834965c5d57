// What every server model does when accept() fails (namespace wsb::server):
// count the failure, say so on stderr without flooding it, and decide whether
// the accept loop goes on at once, pauses or ends. One policy for both
// platforms: which codes mean which is asked of the platform's error
// predicates (net::is_reset, net::is_out_of_descriptors,
// net::is_listener_failure), so this file is portable.
//
// A model does not use AcceptPolicy directly but through the wrapper of its
// platform, one per accepting thread:
//  - servers/win: model::AcceptFailures (server/model.hpp), which also calls
//    Frame::fail() when the failure is fatal;
//  - servers/posix: AcceptErrors (server/accept_errors.hpp), which first
//    spends a spare descriptor on a client waiting in vain when the process
//    is out of descriptors.
// How a loop waits or pauses stays the model's own (a Sleep, a resume time
// for select(), an FD_ACCEPT switched off for a while, a poll request on a
// ring...).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

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

// What an accept loop does after AcceptPolicy::decide().
enum class AcceptFailure : std::uint8_t {
  // The client gave up while queued (a reset): accept the next one at once.
  retry,
  // The process ran out of descriptors or buffers, or accept() failed in a
  // way that may pass (POSIX). The connection stays queued, so accept() would
  // fail again at once and a loop, or a level-triggered notification, would
  // spin on it: stop accepting for AcceptPolicy::pause_for, then resume.
  pause,
  // The listener or the socket layer is broken (net::is_listener_failure):
  // the accept loop ends, and the frame is told (fatal_message()).
  fatal,
};

// One per accepting thread: it holds that thread's log.
class AcceptPolicy {
 public:
  static constexpr std::chrono::milliseconds pause_for{100};

  // `call` names the failing call in the messages ("accept", "accept4").
  AcceptPolicy(const Frame& frame, std::string_view call);

  // Decides after `call` failed with error `code`, which must be a real
  // failure: not would-block, not interrupted, and not caused by a stop that
  // closed the listener. Counts it on `shard` (the calling thread's) by its
  // class (classify_accept_error), and logs every pause, rate-limited:
  // "<model>: accept4: EMFILE (24): ...; accepting pauses for 100 ms".
  AcceptFailure decide(int code, StatsShard& shard) noexcept;

  // "<call>() failed: <error text>", what the frame is told for `fatal`.
  std::string fatal_message(int code) const;

  std::string_view call() const noexcept { return call_; }
  // The same rate-limited log, for the model's other repeating failures.
  RateLimitedLog& log() noexcept { return log_; }
  const Frame& frame() const noexcept { return frame_; }

 private:
  const Frame& frame_;
  std::string call_;
  RateLimitedLog log_;
};

}  // namespace wsb::server
