// What a server model file includes from the frame, and the short names it
// uses (namespace wsb::server::model). A model file opens its anonymous
// namespace with
//
//   using namespace wsb::server::model;
//
// and then writes Frame, Connection, StatsShard, ErrorClass, Clock and the
// classify_*_error() functions without qualification, instead of repeating
// the same block of using-declarations in every file. It also holds the
// frame's policy for a failed accept(), which every accept loop applies.
#pragma once

#include <chrono>
#include <cstdint>

#include "server/connection.hpp"
#include "server/frame.hpp"
#include "server/options.hpp"
#include "server/stats.hpp"

namespace wsb::server::model {

using server::classify_accept_error;
using server::classify_io_error;
using server::Connection;
using server::ErrorClass;
using server::Frame;
using server::StatsShard;
// The clock of every deadline a model keeps (Connection's, too).
using Clock = std::chrono::steady_clock;

// What an accept loop does after accept() (or AcceptEx) failed.
enum class AcceptFailure : std::uint8_t {
  // The client gave up while queued (a reset): accept the next one.
  retry,
  // The process ran out of sockets or memory. The connection stays queued, so
  // accept() would fail again at once and a loop, or a level-triggered
  // notification, would spin on it: pause accepting for a while.
  pause,
  // Anything else: the frame has been told (Frame::fail, "accept() failed:
  // ..."), and the accept loop ends.
  fatal,
};

// Counts the failure of accept() with error `code` on `shard` (its class from
// classify_accept_error()) and says what to do next; `fatal` also calls
// frame.fail(). Call it only for real failures, not for would-block codes,
// and not for failures caused by a stop that closed the listener.
AcceptFailure on_accept_failure(Frame& frame, StatsShard& shard, int code) noexcept;

}  // namespace wsb::server::model
