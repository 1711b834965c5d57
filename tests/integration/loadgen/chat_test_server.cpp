// A minimal chat server for loadgen's chat workload tests, one that can
// lose a delivery on purpose (which no server model does): one thread, poll(), the portable chat
// core (chat::Hub, chat::Session) and a mailbox that appends to the recipient's output. It follows
// the wsbench server contract that loadgen --spawn relies on (the ready line, "//q" on stdin, "key:
// value" statistics at the end) and listens on 127.0.0.1 only.
//
// --lose N drops the N-th delivery of the run (counted from 1) while the
// sender's ACK still counts it: a server that loses a message, which
// loadgen must report as lost.
//
// Usage: chat_test_server [--port P] [--protocol chat] [--lose N]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chat/hub.hpp"
#include "chat/session.hpp"
#include "proto/buffer.hpp"

namespace {

std::uint64_t g_lose = 0;        // the delivery to drop (0: none)
std::uint64_t g_deliveries = 0;  // posts so far

struct Conn final : wsb::chat::Mailbox {
  explicit Conn(int descriptor, wsb::chat::Hub& hub) : fd(descriptor), session(hub, *this) {}
  ~Conn() {
    session.leave();
    ::close(fd);
  }
  bool post(std::span<const char> frame) noexcept override {
    if (++g_deliveries == g_lose) return true;  // "queued", and never sent
    out.append(frame);
    return true;
  }
  int fd;
  wsb::ByteBuffer out;
  wsb::chat::Session session;
};

int usage(const char* why) {
  std::fprintf(stderr, "chat_test_server: %s\nusage: chat_test_server [--port P] [--lose N]\n",
               why);
  return 2;
}

// Sends what the connection holds; false when the connection failed.
bool send_out(Conn& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    c.out.consume(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads and serves what arrived; false when the connection is to close.
bool receive(Conn& c) {
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    c.session.feed(std::span<const char>(buffer, static_cast<std::size_t>(n)), c.out);
    if (c.session.closing()) return false;
  }
}

int listen_on(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1024) != 0) {
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) return usage("an option without its value");
    const char* v = argv[++i];
    if (a == "--port") {
      port = std::strtoul(v, nullptr, 10);
    } else if (a == "--lose") {
      g_lose = std::strtoull(v, nullptr, 10);
    } else if (a == "--protocol") {
      if (std::string_view(v) != "chat") return usage("only --protocol chat");
    } else {
      return usage("unknown option");
    }
  }
  if (port > 65535) return usage("--port: 0..65535");
  const int listener = listen_on(static_cast<std::uint16_t>(port));
  if (listener < 0) return usage("cannot listen on 127.0.0.1");
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &len);
  std::printf("listening 127.0.0.1:%u model=chat-test protocol=chat\n", ntohs(bound.sin_port));
  std::fflush(stdout);

  wsb::chat::Hub hub;
  std::vector<std::unique_ptr<Conn>> conns;
  std::string stdin_text;
  for (bool running = true; running;) {
    std::vector<pollfd> fds{{listener, POLLIN, 0}, {0, POLLIN, 0}};
    for (const auto& c : conns) {
      fds.push_back({c->fd, static_cast<short>(POLLIN | (c->out.empty() ? 0 : POLLOUT)), 0});
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) return 1;
    if (fds[1].revents != 0) {
      char b[256];
      const ssize_t n = ::read(0, b, sizeof b);
      if (n <= 0) break;
      stdin_text.append(b, static_cast<std::size_t>(n));
      if (stdin_text.find("//q") != std::string::npos) running = false;
    }
    // Connections accepted below have no entry in fds yet: they are polled
    // from the next pass on.
    const std::size_t polled = fds.size() - 2;
    if (fds[0].revents & POLLIN) {
      for (int fd; (fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns.push_back(std::make_unique<Conn>(fd, hub));
      }
    }
    // Serve every readable connection first (posts may fill any output),
    // then send every output.
    std::vector<bool> keep(conns.size(), true);
    for (std::size_t i = 0; i < polled; ++i) {
      const short ev = fds[i + 2].revents;
      if (ev & (POLLIN | POLLHUP | POLLERR)) keep[i] = receive(*conns[i]);
    }
    for (std::size_t i = 0; i < conns.size(); ++i) {
      if (keep[i]) keep[i] = send_out(*conns[i]);
    }
    std::vector<std::unique_ptr<Conn>> next;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      if (keep[i]) next.push_back(std::move(conns[i]));
    }
    conns.swap(next);  // the closed ones log out as they go
  }
  const wsb::chat::HubCounts counts = hub.counts();
  std::printf("chat.online_peak: %llu\nchat.messages: %llu\nchat.deliveries: %llu\n",
              static_cast<unsigned long long>(counts.online_peak),
              static_cast<unsigned long long>(counts.messages),
              static_cast<unsigned long long>(counts.deliveries));
  return 0;
}
