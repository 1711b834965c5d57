// BSD sockets implementation of platform/net.hpp (Linux; other POSIX systems
// would need their own spellings of accept4 and MSG_NOSIGNAL).
#include <arpa/inet.h>
#include <netdb.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include "platform/detail.hpp"
#include "platform/net.hpp"

namespace wsb::net {

Startup::Startup() {
  // send() on a socket whose peer has reset it raises SIGPIPE, which kills the
  // process by default. Ignored, the call fails with EPIPE instead and the
  // connection is counted and closed like any other reset.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  if (sigaction(SIGPIPE, &ignore, nullptr) != 0) {
    throw NetError(errno, "cannot ignore SIGPIPE: " + error_text(errno));
  }
}

// Nothing to undo: SIGPIPE stays ignored, which is what any socket program wants.
Startup::~Startup() = default;

int last_error() noexcept {
  return errno;
}

std::string error_name(int code) {
  switch (code) {
#define WSB_ERRNO_NAME(e) \
  case e:                 \
    return #e;
    WSB_ERRNO_NAME(EPERM)
    WSB_ERRNO_NAME(ENOENT)
    WSB_ERRNO_NAME(EINTR)
    WSB_ERRNO_NAME(EIO)
    WSB_ERRNO_NAME(EBADF)
    WSB_ERRNO_NAME(EAGAIN)  // EWOULDBLOCK has the same value on Linux
    WSB_ERRNO_NAME(ENOMEM)
    WSB_ERRNO_NAME(EACCES)
    WSB_ERRNO_NAME(EFAULT)
    WSB_ERRNO_NAME(EINVAL)
    WSB_ERRNO_NAME(ENFILE)
    WSB_ERRNO_NAME(EMFILE)
    WSB_ERRNO_NAME(ENOSPC)
    WSB_ERRNO_NAME(EPIPE)
    WSB_ERRNO_NAME(ENOTSOCK)
    WSB_ERRNO_NAME(EDESTADDRREQ)
    WSB_ERRNO_NAME(EMSGSIZE)
    WSB_ERRNO_NAME(EPROTOTYPE)
    WSB_ERRNO_NAME(ENOPROTOOPT)
    WSB_ERRNO_NAME(EPROTONOSUPPORT)
    WSB_ERRNO_NAME(EOPNOTSUPP)
    WSB_ERRNO_NAME(EAFNOSUPPORT)
    WSB_ERRNO_NAME(EADDRINUSE)
    WSB_ERRNO_NAME(EADDRNOTAVAIL)
    WSB_ERRNO_NAME(ENETDOWN)
    WSB_ERRNO_NAME(ENETUNREACH)
    WSB_ERRNO_NAME(ENETRESET)
    WSB_ERRNO_NAME(ECONNABORTED)
    WSB_ERRNO_NAME(ECONNRESET)
    WSB_ERRNO_NAME(ENOBUFS)
    WSB_ERRNO_NAME(EISCONN)
    WSB_ERRNO_NAME(ENOTCONN)
    WSB_ERRNO_NAME(ESHUTDOWN)
    WSB_ERRNO_NAME(ETIMEDOUT)
    WSB_ERRNO_NAME(ECONNREFUSED)
    WSB_ERRNO_NAME(EHOSTDOWN)
    WSB_ERRNO_NAME(EHOSTUNREACH)
    WSB_ERRNO_NAME(EALREADY)
    WSB_ERRNO_NAME(EINPROGRESS)
    WSB_ERRNO_NAME(ECANCELED)
#undef WSB_ERRNO_NAME
    default:
      return {};
  }
}

std::string error_text(int code) {
  const std::string name = error_name(code);
  // std::system_category().message() is strerror without its thread-safety
  // problems.
  const std::string text = std::system_category().message(code);
  return (name.empty() ? std::string("error") : name) + " (" + std::to_string(code) + "): " + text;
}

bool would_block(int code) noexcept {
  return code == EAGAIN || code == EWOULDBLOCK;
}
bool in_progress(int code) noexcept {
  return code == EINPROGRESS;
}
bool is_interrupted(int code) noexcept {
  return code == EINTR;
}

bool is_reset(int code) noexcept {
  return code == ECONNRESET || code == ECONNABORTED || code == EPIPE || code == ENETRESET;
}

bool is_out_of_descriptors(int code) noexcept {
  return code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM;
}

bool is_listener_failure(int) noexcept {
  return false;
}

namespace detail {

BindFailure classify_bind_failure(int code) noexcept {
  switch (code) {
    case EADDRINUSE:
      return BindFailure::in_use;
    case EACCES:
    case EPERM:
      return BindFailure::access_denied;
    case EADDRNOTAVAIL:
      return BindFailure::not_local;
    default:
      return BindFailure::other;
  }
}

std::string resolver_error_text(int code) {
  // getaddrinfo's codes are its own (EAI_*), not errno values.
  return ::gai_strerror(code);
}

}  // namespace detail

using detail::set_int_option;

bool set_nonblocking(socket_t s, bool on) noexcept {
  const int flags = fcntl(s, F_GETFL);
  if (flags < 0) return false;
  const int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  return wanted == flags || fcntl(s, F_SETFL, wanted) == 0;
}

bool set_exclusive_address(socket_t s) noexcept {
  // On POSIX, SO_REUSEADDR only allows binding while old connections of the
  // same port linger in TIME_WAIT; a second bind over a live listener still
  // fails with EADDRINUSE. (On Windows it would allow port stealing, which is
  // why the Windows file uses SO_EXCLUSIVEADDRUSE instead.)
  return set_int_option(s, SOL_SOCKET, SO_REUSEADDR, 1);
}

bool reuse_port_supported() noexcept {
#if defined(SO_REUSEPORT)
  return true;
#else
  return false;
#endif
}

bool set_reuse_port(socket_t s) noexcept {
#if defined(SO_REUSEPORT)
  return set_int_option(s, SOL_SOCKET, SO_REUSEPORT, 1);
#else
  (void)s;
  errno = ENOPROTOOPT;
  return false;
#endif
}

bool shutdown_send(socket_t s) noexcept {
  return ::shutdown(s, SHUT_WR) == 0;
}

bool close_socket(socket_t s) noexcept {
  // close() must not be retried after EINTR on Linux: the descriptor is
  // already released and could belong to another thread's new socket.
  return ::close(s) == 0;
}

bool reset_and_close(socket_t s) noexcept {
  const linger abort{1, 0};
  const bool set = ::setsockopt(s, SOL_SOCKET, SO_LINGER, &abort, sizeof abort) == 0;
  const bool closed = ::close(s) == 0;
  return set && closed;
}

int default_backlog() noexcept {
  return SOMAXCONN;
}

socket_t open_listener(const Endpoint& endpoint, int backlog, ListenerFlags flags) {
  using detail::ListenerStep;
  const auto fail = [&](ListenerStep step, int code, std::string_view what, int s) {
    if (s >= 0) ::close(s);
    throw NetError(code, detail::describe_listener_failure(step, endpoint, code, what));
  };
  const int family = endpoint.is_v6() ? AF_INET6 : AF_INET;
  if (!endpoint.is_v4() && !endpoint.is_v6()) {
    throw NetError(EAFNOSUPPORT, "cannot listen: the address is neither IPv4 nor IPv6");
  }
  const int type = SOCK_STREAM | SOCK_CLOEXEC | (flags.nonblocking ? SOCK_NONBLOCK : 0);
  const int s = ::socket(family, type, IPPROTO_TCP);
  if (s < 0) fail(ListenerStep::socket, errno, "socket()", s);
  if (!set_exclusive_address(s)) fail(ListenerStep::option, errno, "setsockopt(SO_REUSEADDR)", s);
  if (flags.reuse_port && !set_reuse_port(s)) {
    fail(ListenerStep::option, errno, "setsockopt(SO_REUSEPORT)", s);
  }
  // Linux lets an IPv6 socket accept IPv4 connections unless IPV6_V6ONLY is
  // set (the default comes from a sysctl); Windows defaults to IPv6-only. Set
  // it so that "::1" means the same thing on both.
  if (family == AF_INET6 && !set_int_option(s, IPPROTO_IPV6, IPV6_V6ONLY, 1)) {
    fail(ListenerStep::option, errno, "setsockopt(IPV6_V6ONLY)", s);
  }
  if (::bind(s, endpoint.address(), static_cast<socklen_t>(endpoint.length)) != 0) {
    fail(ListenerStep::bind, errno, "bind()", s);
  }
  if (::listen(s, backlog) != 0) fail(ListenerStep::listen, errno, "listen()", s);
  return s;
}

void refuse_busy_port(const Endpoint& endpoint) {
  if (endpoint.port() == 0 || (!endpoint.is_v4() && !endpoint.is_v6())) return;
  const int s = ::socket(endpoint.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;  // open_listener() reports it
  // The same options as the real listeners, minus SO_REUSEPORT, so that only
  // a live socket on the port makes the bind fail.
  set_exclusive_address(s);
  if (endpoint.is_v6()) set_int_option(s, IPPROTO_IPV6, IPV6_V6ONLY, 1);
  const int rc = ::bind(s, endpoint.address(), static_cast<socklen_t>(endpoint.length));
  const int code = errno;
  ::close(s);
  if (rc != 0 && code == EADDRINUSE) {
    throw NetError(code, detail::describe_listener_failure(detail::ListenerStep::bind, endpoint,
                                                           code, "bind()"));
  }
}

socket_t accept_connection(socket_t listener, Endpoint* peer) noexcept {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  int s;
  do {
    s = ::accept4(listener, reinterpret_cast<sockaddr*>(&address), &length, SOCK_CLOEXEC);
  } while (s < 0 && errno == EINTR);
  if (s >= 0 && peer != nullptr) {
    *peer = Endpoint::from(reinterpret_cast<const sockaddr*>(&address), static_cast<int>(length))
                .value_or(Endpoint{});
  }
  return s;
}

socket_t connect_to(const Endpoint& endpoint) {
  const int family = endpoint.is_v6() ? AF_INET6 : AF_INET;
  const int s = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  if (s < 0) throw NetError(errno, "cannot create a socket: " + error_text(errno));
  int rc;
  do {
    rc = ::connect(s, endpoint.address(), static_cast<socklen_t>(endpoint.length));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int code = errno;
    ::close(s);
    throw NetError(code, "cannot connect to " + to_string(endpoint) + ": " + error_text(code));
  }
  return s;
}

std::ptrdiff_t send_some(socket_t s, std::span<const char> bytes) noexcept {
  ssize_t n;
  do {
    n = ::send(s, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

std::ptrdiff_t recv_some(socket_t s, std::span<char> bytes) noexcept {
  ssize_t n;
  do {
    n = ::recv(s, bytes.data(), bytes.size(), 0);
  } while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace wsb::net
