// --when-full queue for the accepting threads of the Winsock models
// (namespace wsb::kit). Windows code only, like kit/winsock.hpp.
//
// In queue mode a model at --max-connections stops accepting, so that new
// clients wait in the kernel's accept queue (--backlog), and resumes as soon
// as a connection closes (Frame::has_room, Frame::set_room_hook). The wait a
// model can see is from the moment it found a client waiting while it was
// full (the listener readable) until it accepts that client: that is what it
// reports (Frame::note_waited). A client that arrives later in a full
// period waited less than that, so the figure is an upper bound of the
// waits of the clients accepted then, and exact for the first.
#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include "kit/winsock.hpp"
#include "server/frame.hpp"

namespace wsb::kit {

// True when a connection waits in `listener`'s accept queue (select() with
// a zero timeout: it does not accept it).
bool client_waiting(SOCKET listener) noexcept;

// The waiting side of one accepting thread.
class RoomWait {
 public:
  // Registers the frame's room hook (one RoomWait per frame: the hook is the
  // frame's only one): it sets event(), for wait(), or, for a thread that
  // waits otherwise (select(), a message loop), calls `wake` instead.
  // Throws NetError.
  explicit RoomWait(server::Frame& frame, std::function<void()> wake = {});
  RoomWait(const RoomWait&) = delete;
  RoomWait& operator=(const RoomWait&) = delete;

  // Set by the room hook each time a release makes room; reset by wait().
  WSAEVENT event() const noexcept { return room_.get(); }

  // Blocks while the frame has no room, until there is room (true) or
  // `stop_event` is set (false). Returns true at once when there is room
  // (always, in refuse mode). While it waits it looks whether a client is
  // waiting on `listener` (INVALID_SOCKET: the caller knows a client waits,
  // e.g. an AcceptEx completed), to report the wait at accepted().
  bool wait(WSAEVENT stop_event, SOCKET listener) noexcept;

  // The caller accepted a connection: reports the wait seen for it, if any.
  void accepted() noexcept;

  // For a loop that cannot block (a poll loop or a message loop): the frame
  // is full now; `listener` is looked at as in wait(). False when there is
  // room.
  bool full(SOCKET listener) noexcept;

 private:
  void look(SOCKET listener) noexcept;

  server::Frame& frame_;
  Event room_;
  std::optional<Clock::time_point> waiting_since_;  // a client seen waiting
};

}  // namespace wsb::kit
