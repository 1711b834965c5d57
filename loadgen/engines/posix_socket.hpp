// What the two Linux engines (epoll.cpp, uring.cpp) share: creating a client
// socket the same way, and reading errno values into engine Failures.
// Linux only; included by engine files, never by the portable workload.
#pragma once

#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engines/engine.hpp"
#include "platform/net.hpp"

namespace wsb::loadgen::posix {

// The Failure class of an errno value from socket(), bind(), connect() or a
// later send/recv.
inline Failure classify(int err) noexcept {
  switch (err) {
    case 0:
      return Failure::none;
    case ECONNREFUSED:
      return Failure::refused;
    case ETIMEDOUT:
      return Failure::timed_out;
    case EADDRNOTAVAIL:
    case EADDRINUSE:
      return Failure::no_address;
    default:
      break;
  }
  if (net::is_reset(err)) return Failure::reset;
  if (net::is_out_of_descriptors(err)) return Failure::no_descriptors;
  return Failure::other;
}

// Creates a non-blocking, close-on-exec TCP socket for target with
// TCP_NODELAY set (a load generator writes whole requests and wants each
// sent at once), bound to source when given. With a source address,
// IP_BIND_ADDRESS_NO_PORT defers the choice of the local port to connect(),
// where the kernel picks one unique for the whole 4-tuple; a plain bind to
// port 0 would reserve a port per socket and run out after ~28 K sockets
// per source address. Returns the descriptor, or -1 with *err set.
inline int open_client_socket(const net::Endpoint& target, const net::Endpoint* source,
                              int* err) noexcept {
  const int family = target.is_v6() ? AF_INET6 : AF_INET;
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source != nullptr) {
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd, source->address(), static_cast<socklen_t>(source->length)) != 0) {
      *err = errno;
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

// SO_LINGER {1, 0}: the close that follows sends RST and leaves no TIME_WAIT.
inline void set_abortive_close(int fd) noexcept {
  const linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

}  // namespace wsb::loadgen::posix
