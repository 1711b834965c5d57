// The epoll client of bench-roundtrip (roundtrip_client.hpp).
#include "roundtrip_client.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <span>
#include <string>

namespace wsb::bench {

namespace {

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void fail_errno(const std::string& what, int code) {
  std::string message = what + ": " + net::error_text(code);
  if (net::is_out_of_descriptors(code)) {
    message += " (raise the descriptor limit with ulimit -n)";
  }
  throw RoundTripError(message);
}

}  // namespace

RoundTripClient::RoundTripClient(const net::Endpoint& server, std::size_t connections,
                                 const proto::ClientFactory& factory,
                                 std::chrono::milliseconds timeout)
    : timeout_(timeout), connections_(connections), receive_buffer_(64 * 1024) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) fail_errno("epoll_create1", errno);
  // Each connection gets its own payload stream, as loadgen's do.
  for (std::size_t i = 0; i < connections_.size(); ++i)
    connections_[i].driver = factory.make(i);
  try {
    connect_all(server);
  } catch (...) {
    // The destructor does not run for a constructor that throws.
    for (Connection& c : connections_) {
      if (c.fd >= 0) ::close(c.fd);
    }
    ::close(epoll_fd_);
    throw;
  }
}

RoundTripClient::~RoundTripClient() {
  for (Connection& c : connections_) {
    if (c.fd >= 0) ::close(c.fd);
  }
  ::close(epoll_fd_);
}

// Non-blocking connects, all started before any is waited for, so that 1,024
// connections cost one handshake time, not 1,024. A connect completes when
// the socket becomes writable; SO_ERROR then tells whether it succeeded.
void RoundTripClient::connect_all(const net::Endpoint& server) {
  for (std::size_t i = 0; i < connections_.size(); ++i) {
    Connection& c = connections_[i];
    c.fd = ::socket(server.address()->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) fail_errno("socket() for connection " + std::to_string(i + 1), errno);
    // Requests are small and each waits for its reply: without TCP_NODELAY,
    // Nagle's algorithm would hold a request back behind an unacknowledged one.
    if (!net::set_nodelay(c.fd)) fail_errno("TCP_NODELAY", net::last_error());
    if (::connect(c.fd, server.address(), static_cast<socklen_t>(server.length)) != 0 &&
        errno != EINPROGRESS) {
      fail_errno("connect to " + net::to_string(server), errno);
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = i;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) fail_errno("epoll_ctl", errno);
  }

  std::vector<bool> connected(connections_.size(), false);
  std::size_t pending = connections_.size();
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  std::array<epoll_event, 256> events;
  while (pending > 0) {
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 100);
    if (n < 0 && errno != EINTR) fail_errno("epoll_wait", errno);
    for (int k = 0; k < n; ++k) {
      const auto i = static_cast<std::size_t>(events[k].data.u64);
      if (connected[i]) continue;
      int error = 0;
      socklen_t length = sizeof error;
      if (getsockopt(connections_[i].fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
        fail_errno("getsockopt(SO_ERROR)", errno);
      }
      if (error != 0) fail_errno("connect to " + net::to_string(server), error);
      connected[i] = true;
      --pending;
      set_events(i, false);
    }
    if (pending > 0 && std::chrono::steady_clock::now() > deadline) {
      throw RoundTripError(std::to_string(pending) + " of " + std::to_string(connections_.size()) +
                           " connections to " + net::to_string(server) +
                           " were not established within " + std::to_string(timeout_.count()) +
                           " ms");
    }
  }
}

void RoundTripClient::set_events(std::size_t index, bool want_write) {
  Connection& c = connections_[index];
  epoll_event ev{};
  ev.events = EPOLLIN | (want_write ? EPOLLOUT : 0u);
  ev.data.u64 = index;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) != 0) fail_errno("epoll_ctl", errno);
  c.want_write = want_write;
}

void RoundTripClient::send_request(std::size_t index, std::int64_t now) {
  Connection& c = connections_[index];
  c.driver->write_request(c.out);
  c.sent_at_ns = now;
  ++in_flight_;
  flush(index);
}

// A 66-byte request always fits in an empty socket buffer, but the rest is
// handled anyway: whatever send() does not take waits for EPOLLOUT.
void RoundTripClient::flush(std::size_t index) {
  Connection& c = connections_[index];
  while (!c.out.empty()) {
    const std::ptrdiff_t n = net::send_some(c.fd, c.out.readable());
    if (n > 0) {
      c.out.consume(static_cast<std::size_t>(n));
      continue;
    }
    const int code = net::last_error();
    if (net::would_block(code)) {
      if (!c.want_write) set_events(index, true);
      return;
    }
    fail_errno("send on connection " + std::to_string(index + 1), code);
  }
  if (c.want_write) set_events(index, false);
}

std::uint64_t RoundTripClient::receive(std::size_t index, hdr::Histogram* latency) {
  Connection& c = connections_[index];
  std::uint64_t completed = 0;
  for (;;) {
    const std::ptrdiff_t n = net::recv_some(c.fd, receive_buffer_);
    if (n == 0) {
      c.driver->on_peer_closed();
      throw RoundTripError("the server closed connection " + std::to_string(index + 1) +
                           (c.driver->outstanding() > 0 ? " with a request outstanding" : "") +
                           " (refused by its --max-connections, or it failed)");
    }
    if (n < 0) {
      const int code = net::last_error();
      if (net::would_block(code)) return completed;
      fail_errno("recv on connection " + std::to_string(index + 1), code);
    }
    const std::size_t done =
        c.driver->feed(std::span<const char>(receive_buffer_.data(), static_cast<std::size_t>(n)));
    if (c.driver->error() != proto::ClientError::none) {
      throw RoundTripError("a response on connection " + std::to_string(index + 1) +
                           " did not verify: " + std::string(proto::name(c.driver->error())));
    }
    if (done > 0) {
      // One request is outstanding per connection, so `done` is 1 and its
      // round trip is the time since that request was written.
      const std::int64_t now = now_ns();
      if (latency != nullptr) latency->record(now - c.sent_at_ns);
      completed += done;
      in_flight_ -= done;
      if (!draining_) send_request(index, now);
    }
    // A short read emptied the socket. Epoll is level-triggered, so bytes
    // that arrive later are reported again: reading on until EAGAIN would
    // only cost a system call per response.
    if (static_cast<std::size_t>(n) < receive_buffer_.size()) return completed;
  }
}

std::uint64_t RoundTripClient::poll_once(hdr::Histogram* latency) {
  std::array<epoll_event, 1024> events;
  const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 100);
  if (n < 0) {
    if (errno == EINTR) return 0;
    fail_errno("epoll_wait", errno);
  }
  std::uint64_t completed = 0;
  for (int k = 0; k < n; ++k) {
    const auto index = static_cast<std::size_t>(events[k].data.u64);
    // EPOLLERR and EPOLLHUP go through recv(), which reports the reason.
    if ((events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
      completed += receive(index, latency);
    }
    if ((events[k].events & EPOLLOUT) != 0) flush(index);
  }
  return completed;
}

std::uint64_t RoundTripClient::run(std::uint64_t responses, hdr::Histogram& latency) {
  if (!started_) {
    started_ = true;
    for (std::size_t i = 0; i < connections_.size(); ++i)
      send_request(i, now_ns());
  }
  std::uint64_t done = 0;
  auto last_progress = std::chrono::steady_clock::now();
  while (done < responses) {
    const std::uint64_t got = poll_once(&latency);
    const auto now = std::chrono::steady_clock::now();
    if (got > 0) {
      done += got;
      last_progress = now;
    } else if (now - last_progress > timeout_) {
      throw RoundTripError("no response for " + std::to_string(timeout_.count()) + " ms (" +
                           std::to_string(in_flight_) + " requests outstanding)");
    }
  }
  return done;
}

void RoundTripClient::drain() {
  draining_ = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (in_flight_ > 0) {
    poll_once(nullptr);
    if (in_flight_ > 0 && std::chrono::steady_clock::now() > deadline) {
      throw RoundTripError(std::to_string(in_flight_) + " responses still outstanding " +
                           std::to_string(timeout_.count()) + " ms after the last request");
    }
  }
}

}  // namespace wsb::bench
