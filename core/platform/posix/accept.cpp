// accept4() for the POSIX models: platform/posix/accept.hpp.
#include "platform/posix/accept.hpp"

#include <sys/socket.h>

namespace wsb::net {

int accept_nonblocking(int listener) noexcept {
  return ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

}  // namespace wsb::net
