// accept4() for the POSIX models (namespace wsb::net): POSIX only, since
// Winsock has no accept4(), so the portable interface in platform/net.hpp
// does not declare it and only POSIX builds compile it (core/platform/
// CMakeLists.txt).
#pragma once

namespace wsb::net {

// accept4(listener, SOCK_NONBLOCK | SOCK_CLOEXEC) without the peer address:
// the new descriptor, or -1 with errno set. Not retried after EINTR, so that
// the caller's loop decides (and counts the attempt) itself.
int accept_nonblocking(int listener) noexcept;

}  // namespace wsb::net
