// Deadline-bounded client socket helpers (see test_socket.hpp).
#include "test_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace wsb::suite {

namespace {

// Milliseconds until `deadline` for poll(): at least 0, rounded up so that a
// poll never returns just before the deadline and spins.
int poll_timeout(Clock::time_point deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<std::int64_t>(ms, 60'000));
}

// Waits for `events` on s; false at the deadline.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, poll_timeout(deadline));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
    if (n == 0 && Clock::now() >= deadline) return false;
  }
}

bool is_reset_errno(int code) {
  return code == ECONNRESET || code == ECONNABORTED || code == EPIPE || code == ENETRESET;
}

}  // namespace

std::optional<Target> make_target(const std::string& host, std::uint16_t port) {
  Target t;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&t.address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&t.address);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    t.length = sizeof(sockaddr_in);
    t.text = host + ":" + std::to_string(port);
    return t;
  }
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    t.length = sizeof(sockaddr_in6);
    t.text = "[" + host + "]:" + std::to_string(port);
    return t;
  }
  return std::nullopt;
}

std::string errno_text(int code) {
  const char* name = strerrorname_np(code);
  return std::string(name ? name : "errno " + std::to_string(code)) + " (" + std::strerror(code) +
         ")";
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.release();
  }
  return *this;
}

void Socket::close() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void Socket::abort() noexcept {
  if (fd_ < 0) return;
  linger l{};
  l.l_onoff = 1;
  l.l_linger = 0;
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

Socket connect_to(const Target& target, Clock::time_point deadline, std::string& error,
                  int receive_buffer) {
  Socket s(::socket(target.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s.valid()) {
    error = "socket: " + errno_text(errno);
    return {};
  }
  const int one = 1;
  ::setsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Before connect(): the window scale is negotiated in the handshake.
  if (receive_buffer > 0) {
    ::setsockopt(s.fd(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  if (::connect(s.fd(), reinterpret_cast<const sockaddr*>(&target.address), target.length) != 0) {
    if (errno != EINPROGRESS) {
      error = "connect to " + target.text + ": " + errno_text(errno);
      return {};
    }
    if (!wait_for(s.fd(), POLLOUT, deadline)) {
      error = "connect to " + target.text + ": timed out";
      return {};
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      error = "connect to " + target.text + ": " + errno_text(err);
      return {};
    }
  }
  return s;
}

std::ptrdiff_t send_until_stalled(const Socket& s, std::string_view bytes,
                                  std::chrono::milliseconds stall, Clock::time_point deadline,
                                  std::string& error) {
  std::ptrdiff_t sent = 0;
  while (!bytes.empty() && Clock::now() < deadline) {
    const ssize_t n = ::send(s.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      sent += n;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      error = "send: " + errno_text(errno);
      return -1;
    }
    if (!wait_for(s.fd(), POLLOUT, std::min(deadline, Clock::now() + stall))) break;
  }
  return sent;
}

bool send_all(const Socket& s, std::string_view bytes, Clock::time_point deadline,
              std::string& error) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(s.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      error = "send: " + errno_text(errno);
      return false;
    }
    if (!wait_for(s.fd(), POLLOUT, deadline)) {
      error = "send: timed out with " + std::to_string(bytes.size()) + " bytes unsent";
      return false;
    }
  }
  return true;
}

std::string_view name(PeerEnd e) noexcept {
  switch (e) {
    case PeerEnd::eof:
      return "eof";
    case PeerEnd::reset:
      return "reset";
    case PeerEnd::timeout:
      return "timeout";
    case PeerEnd::other_error:
      return "other_error";
  }
  return "?";
}

PeerEnd wait_for_close(const Socket& s, Clock::time_point deadline, std::size_t* discarded,
                       std::string* error) {
  std::size_t total = 0;
  for (;;) {
    char buf[65536];
    const ssize_t n = ::recv(s.fd(), buf, sizeof buf, 0);
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      continue;
    }
    if (discarded) *discarded = total;
    if (n == 0) return PeerEnd::eof;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      if (error) *error = errno_text(errno);
      return is_reset_errno(errno) ? PeerEnd::reset : PeerEnd::other_error;
    }
    if (!wait_for(s.fd(), POLLIN, deadline)) return PeerEnd::timeout;
  }
}

std::optional<PeerEnd> read_some(const Socket& s, std::string& text, std::size_t min_bytes,
                                 Clock::time_point deadline) {
  while (text.size() < min_bytes) {
    char buf[65536];
    const ssize_t n = ::recv(s.fd(), buf, sizeof buf, 0);
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return PeerEnd::eof;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return is_reset_errno(errno) ? PeerEnd::reset : PeerEnd::other_error;
    if (!wait_for(s.fd(), POLLIN, deadline)) return std::nullopt;
  }
  return std::nullopt;
}

std::string round_trips(const Socket& s, proto::ClientDriver& driver, std::size_t count,
                        Clock::time_point deadline) {
  for (std::size_t i = 0; i < count; ++i) {
    ByteBuffer out;
    driver.write_request(out);
    std::string error;
    if (!send_all(s, std::string_view(out.data(), out.size()), deadline, error)) {
      return "request " + std::to_string(i + 1) + ": " + error;
    }
    while (driver.outstanding() > 0) {
      char buf[65536];
      const ssize_t n = ::recv(s.fd(), buf, sizeof buf, 0);
      if (n > 0) {
        driver.feed(std::span<const char>(buf, static_cast<std::size_t>(n)));
        if (driver.error() != proto::ClientError::none) {
          return "response " + std::to_string(i + 1) +
                 " failed verification: " + std::string(proto::name(driver.error()));
        }
        continue;
      }
      if (n == 0) {
        driver.on_peer_closed();
        return "response " + std::to_string(i + 1) + ": the server closed the connection";
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return "response " + std::to_string(i + 1) + ": " + errno_text(errno);
      if (!wait_for(s.fd(), POLLIN, deadline)) {
        return "response " + std::to_string(i + 1) + ": timed out";
      }
    }
  }
  return {};
}

}  // namespace wsb::suite
