// A descriptor held in reserve against running out of descriptors while
// accepting (namespace wsb::net). Portable interface, two halves:
// posix/spare_descriptor.cpp does the work, win/spare_descriptor.cpp says why
// Winsock needs none. The accept failure policy (server/accept_policy.hpp)
// asks it before it pauses accepting.
//
// POSIX: accept() failing with EMFILE or ENFILE leaves any pending connection
// in the backlog, because the kernel allocates the new descriptor before it
// looks at the queue. The listener therefore stays ready, and a loop that
// simply retried would spin while the client waited in vain. A descriptor
// held in reserve breaks the deadlock: closing it frees one slot, the pending
// connection is accepted and closed at once (the client sees an orderly
// close, not a hang), and the spare is taken again.
#pragma once

#include "platform/net.hpp"

namespace wsb::net {

// One per accepting thread: the spare is taken back right after the slot was
// used, so a thread sharing it could find it gone.
class SpareDescriptor {
 public:
  enum class Outcome {
    shed,          // one pending connection was accepted and closed
    none_waiting,  // the backlog is empty: wait for the next client as usual
    no_spare,      // no spare descriptor could be used: pause accepting
  };

  SpareDescriptor() noexcept;
  ~SpareDescriptor();
  SpareDescriptor(const SpareDescriptor&) = delete;
  SpareDescriptor& operator=(const SpareDescriptor&) = delete;

  // Spends the spare on one pending connection of `listener` (see Outcome).
  // Never blocks, whether the listener is blocking or not. On Windows always
  // no_spare (win/spare_descriptor.cpp says why).
  Outcome shed(socket_t listener) noexcept;

 private:
  // The reserved descriptor on POSIX; unused on Windows (hence the
  // attribute: one class for both halves keeps the interface portable).
  [[maybe_unused]] int fd_;
};

}  // namespace wsb::net
