// What the accepting thread of a Winsock model does with an accepted socket
// that another thread is to serve (namespace wsb::kit): admission, then the
// hand-over (admit_and_hand_over). Used by the models whose accepting thread
// is not a serving thread (event_select, overlapped_event,
// overlapped_routine).
#pragma once

#include "platform/net.hpp"
#include "server/frame.hpp"
#include "server/stats.hpp"

namespace wsb::kit {

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
