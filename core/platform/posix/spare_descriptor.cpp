// The spare descriptor against EMFILE: platform/spare_descriptor.hpp.
#include "platform/spare_descriptor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "platform/posix/accept.hpp"

namespace wsb::net {

namespace {

// /dev/null: any descriptor would do, and this one needs no resources.
int open_spare() noexcept {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

}  // namespace

SpareDescriptor::SpareDescriptor() noexcept : fd_(open_spare()) {}

SpareDescriptor::~SpareDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

SpareDescriptor::Outcome SpareDescriptor::shed(socket_t listener) noexcept {
  if (fd_ < 0) fd_ = open_spare();  // lost earlier: try to take it back first
  if (fd_ < 0) return Outcome::no_spare;
  // The listener may be a blocking socket (server-threads, server-uring):
  // accept only when poll() says that a connection is waiting, so that
  // shedding never blocks. On a non-blocking one this only spares the close
  // and reopen of the spare when nobody waits.
  pollfd waiting{listener, POLLIN, 0};
  if (::poll(&waiting, 1, 0) != 1 || (waiting.revents & POLLIN) == 0) {
    return Outcome::none_waiting;
  }
  ::close(fd_);
  const int s = accept_nonblocking(listener);
  if (s >= 0) ::close(s);
  // Fails if another thread took the freed slot meanwhile; the next call
  // then reports no_spare.
  fd_ = open_spare();
  return s >= 0 ? Outcome::shed : Outcome::none_waiting;
}

}  // namespace wsb::net
