// The stop wake-up of the POSIX models: platform/posix/wake.hpp.
#include "platform/posix/wake.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "platform/net.hpp"

namespace wsb::net {

WakeDescriptor::WakeDescriptor() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) {
    const int code = errno;
    throw NetError(code, "eventfd failed: " + error_text(code));
  }
}

WakeDescriptor::~WakeDescriptor() {
  ::close(fd_);
}

void WakeDescriptor::signal() noexcept {
  const std::uint64_t one = 1;
  // Cannot fail short of a bad descriptor: the counter is far from overflow,
  // and the descriptor is non-blocking should it ever be.
  [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof one);
}

}  // namespace wsb::net
