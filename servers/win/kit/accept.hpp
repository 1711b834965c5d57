// What the accepting thread of a Winsock model does around accept() and
// AcceptEx (namespace wsb::kit): the frame's accept failure policy as an
// accept loop applies it (AcceptFailures), and the admission and hand-over of
// an accepted socket to the thread that serves it (admit_and_hand_over).
#pragma once

#include <chrono>
#include <string_view>

#include "platform/net.hpp"
#include "server/accept_policy.hpp"
#include "server/frame.hpp"
#include "server/stats.hpp"

namespace wsb::kit {

// The frame's policy for a failed accept() (server/accept_policy.hpp) as an
// accept loop applies it: retry, pause for pause_for, or end the loop, in
// which case the frame has been told (Frame::fail, "accept() failed: ...").
// One per accepting thread, which owns its rate-limited log.
class AcceptFailures {
 public:
  static constexpr std::chrono::milliseconds pause_for = server::AcceptPolicy::pause_for;

  // `call` names the failing call in the messages.
  explicit AcceptFailures(server::Frame& frame, std::string_view call = "accept")
      : frame_(frame), policy_(frame, call) {}

  // Counts the failure of accept() with error `code` on `shard` and says
  // what to do next; `fatal` also calls frame.fail(). Call it only for real
  // failures, not for would-block codes, and not for failures caused by a
  // stop that closed the listener.
  server::AcceptFailure handle(int code, server::StatsShard& shard) noexcept;

 private:
  server::Frame& frame_;
  server::AcceptPolicy policy_;
};

// What an accepting thread does with a socket that accept() or AcceptEx gave
// it, when another thread serves the connection: admission (Frame::admit,
// i.e. --max-connections and --max-conns-per-ip; a refused socket is closed),
// TCP_NODELAY so that Nagle's algorithm does not hold back small replies (a
// socket that refuses it is served all the same), then hand_over(s), which
// passes the socket to its thread and returns false, or throws, when it
// cannot (no memory for the queue, no thread for a new group): then the
// connection is counted as io, released and closed.
template <class HandOver>
void admit_and_hand_over(server::Frame& frame, server::StatsShard& shard, net::socket_t s,
                         HandOver&& hand_over) noexcept {
  if (!frame.admit(shard, s)) {
    net::close_socket(s);
    return;
  }
  net::set_nodelay(s);
  bool handed_over = false;
  try {
    handed_over = hand_over(s);
  } catch (...) {
    handed_over = false;
  }
  if (handed_over) return;
  shard.error(server::ErrorClass::io);
  frame.release(shard, s);  // before closing: see Frame::release
  net::close_socket(s);
}

}  // namespace wsb::kit
