// POSIX-only accept mechanics (namespace wsb::net) shared by the models in
// servers/posix/. Not part of the portable interface in platform/net.hpp:
// Winsock has neither accept4() nor the descriptor-table deadlock that
// SpareDescriptor breaks, so only POSIX builds compile this (core/platform/
// CMakeLists.txt). The policy built on it (what to count, log and do next)
// lives in kit/accept_errors.hpp.
#pragma once

namespace wsb::net {

// accept4(listener, SOCK_NONBLOCK | SOCK_CLOEXEC) without the peer address:
// the new descriptor, or -1 with errno set. Not retried after EINTR, so that
// the caller's loop decides (and counts the attempt) itself.
int accept_nonblocking(int listener) noexcept;

// accept4() failing with EMFILE or ENFILE leaves any pending connection in
// the backlog: the kernel allocates the new descriptor before it looks at the
// queue. The listener therefore stays ready, and a loop that simply retried
// would spin while the client waited in vain. A descriptor held in reserve
// breaks the deadlock: closing it frees one slot, the pending connection is
// accepted and closed at once (the client sees an orderly close, not a
// hang), and the spare is taken again.
//
// One per accepting thread: the spare is taken back right after the slot was
// used, so a thread sharing it could find it gone.
class SpareDescriptor {
 public:
  enum class Outcome {
    shed,          // one pending connection was accepted and closed
    none_waiting,  // the backlog is empty: wait for the next client as usual
    no_spare,      // no spare descriptor could be opened: pause accepting
  };

  SpareDescriptor() noexcept;
  ~SpareDescriptor();
  SpareDescriptor(const SpareDescriptor&) = delete;
  SpareDescriptor& operator=(const SpareDescriptor&) = delete;

  // Spends the spare on one pending connection of `listener` (see Outcome).
  // Never blocks, whether the listener is blocking or not.
  Outcome shed(int listener) noexcept;

 private:
  int fd_;
};

}  // namespace wsb::net
