// The epoll client engine (see client_engine.hpp).
#include "client_engine.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace wsb::suite {

namespace {

constexpr std::size_t max_failures_kept = 8;

struct Client {
  enum class State : std::uint8_t { connecting, running, holding, done, failed };

  const ClientPlan* plan = nullptr;
  std::size_t index = 0;
  Socket socket;
  State state = State::connecting;
  std::size_t batch = 0;  // the batch being written or answered
  std::unique_ptr<proto::ClientDriver> driver;
  ByteBuffer out;
  Clock::time_point read_from{};   // reading starts then (read_delay)
  Clock::time_point next_write{};  // the next chunk may go then (dribbling)
  std::uint32_t interest = 0;      // the epoll events registered
  std::uint64_t requests = 0;
  std::uint64_t responses = 0;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
};

std::string_view state_name(Client::State s) {
  switch (s) {
    case Client::State::connecting:
      return "connecting";
    case Client::State::running:
      return "running";
    case Client::State::holding:
      return "finished, holding the connection";
    case Client::State::done:
      return "done";
    case Client::State::failed:
      return "failed";
  }
  return "?";
}

class Engine {
 public:
  Engine(const Target& target, const std::vector<ClientPlan>& plans, const EngineOptions& options)
      : target_(target), options_(options), clients_(plans.size()) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    for (std::size_t i = 0; i < plans.size(); ++i) {
      clients_[i].plan = &plans[i];
      clients_[i].index = i;
      if (plans[i].write_chunk != 0 || plans[i].read_delay.count() != 0) timed_.push_back(i);
    }
    result_.clients = plans.size();
  }
  ~Engine() { ::close(epoll_); }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  EngineResult run() {
    const auto start = Clock::now();
    for (Client& c : clients_)
      open(c);
    epoll_event events[256];
    while (active_ > 0) {
      const auto now = Clock::now();
      if (now >= options_.deadline) {
        for (Client& c : clients_) {
          if (c.state == Client::State::connecting || c.state == Client::State::running) {
            fail(c, "did not finish before the deadline");
          }
        }
        break;
      }
      // Timers: a dribbling client's next chunk, a delayed start of reading.
      auto wake = options_.deadline;
      for (std::size_t i : timed_) {
        Client& c = clients_[i];
        if (c.state != Client::State::running) continue;
        service(c, 0, now);
        if (c.state != Client::State::running) continue;
        if (now < c.read_from) wake = std::min(wake, c.read_from);
        if (!c.out.empty() && c.plan->write_chunk != 0 && now < c.next_write) {
          wake = std::min(wake, c.next_write);
        }
      }
      if (active_ == 0) break;
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now()).count();
      const int timeout = static_cast<int>(std::clamp<std::int64_t>(left, 0, 1000));
      const int n = ::epoll_wait(epoll_, events, 256, timeout);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "epoll_wait");
      }
      const auto after = Clock::now();
      for (int i = 0; i < n; ++i) {
        service(clients_[events[i].data.u64], events[i].events, after);
      }
    }
    // Every client has finished or failed: now the held connections close.
    for (Client& c : clients_) {
      if (c.state == Client::State::holding) {
        c.state = Client::State::done;
        c.socket.close();
      }
    }
    for (const Client& c : clients_) {
      result_.requests += c.requests;
      result_.responses += c.responses;
      result_.bytes_sent += c.sent;
      result_.bytes_received += c.received;
    }
    result_.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return result_;
  }

 private:
  void open(Client& c) {
    ++active_;
    c.socket =
        Socket(::socket(target_.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!c.socket.valid()) return fail(c, "socket: " + errno_text(errno));
    const int one = 1;
    ::setsockopt(c.socket.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c.plan->receive_buffer > 0) {
      ::setsockopt(c.socket.fd(), SOL_SOCKET, SO_RCVBUF, &c.plan->receive_buffer,
                   sizeof c.plan->receive_buffer);
    }
    if (::connect(c.socket.fd(), reinterpret_cast<const sockaddr*>(&target_.address),
                  target_.length) != 0 &&
        errno != EINPROGRESS) {
      return fail(c, "connect: " + errno_text(errno));
    }
    set_interest(c, EPOLL_CTL_ADD, EPOLLOUT);
  }

  void service(Client& c, std::uint32_t events, Clock::time_point now) {
    switch (c.state) {
      case Client::State::connecting: {
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.socket.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return fail(c, "connect: " + errno_text(err));
        c.state = Client::State::running;
        c.read_from = now + c.plan->read_delay;
        c.next_write = now;
        start_batch(c);
        break;
      }
      case Client::State::running:
        break;
      case Client::State::holding:
        if (events != 0) check_held(c);
        return;
      case Client::State::done:
      case Client::State::failed:
        return;
    }
    if (c.state != Client::State::running) return;
    // An error or hang-up is read at once even while reading is delayed, so
    // that a connection the server dropped fails with the reason.
    if (now >= c.read_from || (events & (EPOLLERR | EPOLLHUP)) != 0) {
      if (!read(c)) return;
    }
    if (!write(c, now)) return;
    if (c.driver->outstanding() == 0 && c.out.empty()) {
      ++c.batch;
      if (c.batch < c.plan->batches.size()) {
        start_batch(c);
        if (!write(c, now)) return;
      } else {
        finish(c);
        return;
      }
    }
    update_interest(c, now);
  }

  void start_batch(Client& c) {
    const Batch& b = c.plan->batches[c.batch];
    c.driver = b.factory->make(b.stream);
    for (std::size_t i = 0; i < b.requests; ++i)
      c.driver->write_request(c.out);
    c.requests += b.requests;
  }

  // Reads what is available (a bounded number of times, for fairness).
  // False when the client failed.
  bool read(Client& c) {
    for (int i = 0; i < 16; ++i) {
      char buf[65536];
      const ssize_t n = ::recv(c.socket.fd(), buf, sizeof buf, 0);
      if (n > 0) {
        c.received += static_cast<std::uint64_t>(n);
        c.responses += c.driver->feed(std::span<const char>(buf, static_cast<std::size_t>(n)));
        if (c.driver->error() != proto::ClientError::none) {
          fail(c, "response verification failed: " + std::string(proto::name(c.driver->error())));
          return false;
        }
        continue;
      }
      if (n == 0) {
        c.driver->on_peer_closed();
        fail(c, "the server closed the connection (" + std::string(proto::name(c.driver->error())) +
                    ")");
        return false;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
      fail(c, "recv: " + errno_text(errno));
      return false;
    }
    return true;
  }

  // Sends queued bytes: everything the socket takes, or one chunk when
  // dribbling. False when the client failed.
  bool write(Client& c, Clock::time_point now) {
    while (!c.out.empty()) {
      std::size_t len = c.out.size();
      if (c.plan->write_chunk != 0) {
        if (now < c.next_write) return true;
        len = std::min(len, c.plan->write_chunk);
      }
      const ssize_t n = ::send(c.socket.fd(), c.out.data(), len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return true;
        fail(c, "send: " + errno_text(errno));
        return false;
      }
      c.out.consume(static_cast<std::size_t>(n));
      c.sent += static_cast<std::uint64_t>(n);
      if (c.plan->write_chunk != 0) {
        c.next_write = now + c.plan->write_pause;
        return true;
      }
    }
    return true;
  }

  void update_interest(Client& c, Clock::time_point now) {
    std::uint32_t want = 0;
    if (now >= c.read_from) want |= EPOLLIN;
    if (!c.out.empty() && (c.plan->write_chunk == 0 || now >= c.next_write)) want |= EPOLLOUT;
    if (want == c.interest) return;
    set_interest(c, EPOLL_CTL_MOD, want);
  }

  // Registers (EPOLL_CTL_ADD) or changes (EPOLL_CTL_MOD) the events epoll
  // reports for `c`.
  void set_interest(Client& c, int op, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c.index;
    if (::epoll_ctl(epoll_, op, c.socket.fd(), &ev) != 0) {
      return fail(c, "epoll_ctl: " + errno_text(errno));
    }
    c.interest = events;
  }

  void finish(Client& c) {
    --active_;
    ++result_.finished;
    if (options_.hold_until_all_done) {
      c.state = Client::State::holding;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = c.index;
      ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.socket.fd(), &ev);
      c.interest = EPOLLIN;
    } else {
      c.state = Client::State::done;
      c.socket.close();
    }
  }

  // A held connection became readable: the server sent bytes nobody asked
  // for, or closed a connection the client still had open.
  void check_held(Client& c) {
    char buf[4096];
    const ssize_t n = ::recv(c.socket.fd(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    std::string what = n > 0    ? std::to_string(n) + " unrequested bytes"
                       : n == 0 ? std::string("end of file")
                                : errno_text(errno);
    // The client had finished; it fails now, so move it from one count to
    // the other.
    --result_.finished;
    ++active_;
    fail(c, "while the client held its finished connection open, the server sent " + what);
  }

  void fail(Client& c, const std::string& why) {
    if (result_.failures.size() < max_failures_kept) {
      std::string text = "client " + std::to_string(c.index) + " (" +
                         std::string(state_name(c.state)) + ", batch " +
                         std::to_string(c.batch + 1) + " of " +
                         std::to_string(c.plan->batches.size()) + "): " + why;
      text += "; requests " + std::to_string(c.requests) + ", verified responses " +
              std::to_string(c.responses) + ", bytes sent " + std::to_string(c.sent) + " (" +
              std::to_string(c.out.size()) + " unsent), received " + std::to_string(c.received);
      result_.failures.push_back(std::move(text));
    }
    ++result_.failed;
    --active_;
    c.state = Client::State::failed;
    c.socket.close();
  }

  const Target& target_;
  const EngineOptions& options_;
  std::vector<Client> clients_;
  std::vector<std::size_t> timed_;  // clients that dribble or delay reading
  std::size_t active_ = 0;          // clients neither finished nor failed
  int epoll_ = -1;
  EngineResult result_;
};

}  // namespace

std::string EngineResult::summary() const {
  std::string s = std::to_string(clients) + " clients: " + std::to_string(finished) +
                  " finished, " + std::to_string(failed) + " failed; " + std::to_string(requests) +
                  " requests, " + std::to_string(responses) + " verified responses, " +
                  std::to_string(bytes_sent) + " bytes sent, " + std::to_string(bytes_received) +
                  " received, in " + std::to_string(elapsed.count()) + " ms";
  for (const std::string& f : failures)
    s += "\n  " + f;
  if (failed > failures.size()) {
    s += "\n  ... and " + std::to_string(failed - failures.size()) + " more failed clients";
  }
  return s;
}

EngineResult run_clients(const Target& target, const std::vector<ClientPlan>& plans,
                         const EngineOptions& options) {
  for (const ClientPlan& p : plans) {
    if (p.batches.empty()) throw std::invalid_argument("a client plan needs at least one batch");
    for (const Batch& b : p.batches) {
      if (b.factory == nullptr || b.requests == 0) {
        throw std::invalid_argument("a batch needs a factory and at least one request");
      }
    }
  }
  Engine engine(target, plans, options);
  return engine.run();
}

}  // namespace wsb::suite
