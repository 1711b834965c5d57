// The spare descriptor against running out of sockets:
// platform/spare_descriptor.hpp. Winsock needs none, so this half holds
// nothing back and never sheds.
//
// The deadlock the POSIX half breaks does not arise here: SOCKETs are kernel
// handles, not slots of a small per-process table that accept() must fill
// before it looks at the queue, and a Winsock accept() that fails for want of
// memory or buffers (WSAENOBUFS, WSAEMFILE) cannot be helped by closing one
// handle of ours. Pausing accepting for a while, which the policy does after
// no_spare, is the remedy there.
#include "platform/spare_descriptor.hpp"

namespace wsb::net {

SpareDescriptor::SpareDescriptor() noexcept : fd_(-1) {}

SpareDescriptor::~SpareDescriptor() = default;

SpareDescriptor::Outcome SpareDescriptor::shed(socket_t) noexcept {
  return Outcome::no_spare;
}

}  // namespace wsb::net
