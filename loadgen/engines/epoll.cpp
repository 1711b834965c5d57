// The epoll engine (Linux): non-blocking sockets registered once,
// edge-triggered, for reading and writing.
//
// Edge-triggered registration for both directions means no epoll_ctl() call
// after the first: a connection is added when its connect starts and removed
// by close(). Reads go into one per-thread buffer, so a connection costs no
// receive memory; a short read ends the read loop (the kernel raises a new
// edge for data that arrives later) unless the peer's FIN or an error was
// reported with the event, in which case the loop reads on until recv()
// reports it. Sends are attempted at once from flush(); only what the socket
// does not accept waits for the next EPOLLOUT edge.
//
// The deadline of poll() is a timerfd in the epoll set, set only when a poll
// needs an earlier wake-up than the one armed (see arm_timer), and epoll
// waits without a timeout of its own: a timeout argument to every
// epoll_wait() starts and cancels a kernel timer per wait, which in a virtual
// machine traps to the hypervisor and lengthens every round trip.
//
// An engine with a single connection slot (a worker that owns one
// connection, as in a one-connection latency run) waits differently: once
// the connection is open, the socket is switched to blocking mode with a
// receive timeout of kBlockingSlice, and poll() waits in recv() on it
// instead of in epoll_wait(). A closed-loop round trip then costs two system
// calls (send, recv), as sockperf's client makes, instead of three (send,
// epoll_wait, recv), and the thread is woken by the socket itself rather
// than through epoll's callback; on this machine its p50 round trip was
// 0.7 us below the io_uring engine's when both sleep for the reply (--spin 0:
// 21.76 vs 22.48 us against server-epoll; docs/loadgen.md, "How it
// compares"). With the default --spin the worker mostly polls before it gets
// here (loadgen/worker.cpp, wait_for_io). Every
// other call on that socket passes MSG_DONTWAIT, so nothing else ever
// blocks. The blocking wait is used only when the deadline is at least one
// slice away (recv() then returns by the deadline at the latest) and no
// output waits for EPOLLOUT; otherwise poll() takes the epoll path, where
// the events the blocking path left behind show up as harmless spurious
// ones. wake() cannot interrupt the blocking recv(): a waiting poll()
// notices it within one slice (1 ms), which only delays a phase change. The
// slice is short because the workload's timeout scan comes every 100 ms at
// most and the last slice before it is waited for with epoll: 1 % of the time.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <string>
#include <system_error>
#include <vector>

#include "engines/engine.hpp"
#include "engines/posix_socket.hpp"
#include "engines/slot_reports.hpp"

namespace wsb::loadgen {

namespace {

// epoll data of the wake eventfd and of the timerfd; connection data is a
// SlotToken, whose generation half is never all ones.
constexpr std::uint64_t kWakeToken = ~std::uint64_t{0};
constexpr std::uint64_t kTimerToken = ~std::uint64_t{0} - 1;

// The longest one blocking recv() of a single-connection engine waits.
constexpr auto kBlockingSlice = std::chrono::milliseconds(1);

class EpollEngine final : public Engine {
 public:
  EpollEngine(const EngineConfig& config, EngineHandler& handler)
      : handler_(handler),
        slots_(config.capacity),
        receive_(config.receive_size),
        deferred_(config.capacity),
        single_(config.capacity == 1 && !config.idle_connections) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) {
      throw EngineUnavailable("epoll_create1 failed: " + net::error_text(errno));
    }
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      const int err = errno;
      ::close(epoll_);
      throw EngineUnavailable("eventfd failed: " + net::error_text(err));
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = kWakeToken;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
      const int err = errno;
      ::close(wake_fd_);
      ::close(epoll_);
      throw EngineUnavailable("epoll_ctl(eventfd) failed: " + net::error_text(err));
    }
    timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = kTimerToken;
    if (timer_fd_ < 0 || ::epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_fd_, &ev) != 0) {
      const int err = errno;
      if (timer_fd_ >= 0) ::close(timer_fd_);
      ::close(wake_fd_);
      ::close(epoll_);
      throw EngineUnavailable("timerfd failed: " + net::error_text(err));
    }
    events_.resize(std::clamp<std::size_t>(config.capacity + 1, 16, 1024));
  }

  ~EpollEngine() override {
    for (Slot& s : slots_) {
      if (s.fd >= 0) {
        posix::set_abortive_close(s.fd);
        ::close(s.fd);
      }
    }
    ::close(timer_fd_);
    ::close(wake_fd_);
    ::close(epoll_);
  }

  std::string_view name() const noexcept override { return "epoll"; }

  void connect(ConnId id, const net::Endpoint& target, const net::Endpoint* source) override {
    Slot& s = slots_[id];
    ++s.generation;
    s.out.clear();
    s.want_write = false;
    s.blocking = false;
    int err = 0;
    const int fd = posix::open_client_socket(target, source, &err);
    if (fd < 0) {
      deferred_.add(slots_, id, ReportKind::connected, posix::classify(err), err);
      return;
    }
    int rc = ::connect(fd, target.address(), static_cast<socklen_t>(target.length));
    if (rc != 0 && errno != EINPROGRESS) {
      err = errno;
      ::close(fd);
      deferred_.add(slots_, id, ReportKind::connected, posix::classify(err), err);
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = SlotToken::pack(id, s.generation);
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      err = errno;
      ::close(fd);
      deferred_.add(slots_, id, ReportKind::connected, posix::classify(err), err);
      return;
    }
    s.fd = fd;
    if (rc == 0) {
      // Connected at once (possible on loopback): still reported from poll().
      s.state = Slot::open;
      enter_blocking(s);
      deferred_.add(slots_, id, ReportKind::connected, Failure::none, 0);
    } else {
      s.state = Slot::connecting;
    }
  }

  ByteBuffer& output(ConnId id) noexcept override { return slots_[id].out; }

  void flush(ConnId id) noexcept override {
    Slot& s = slots_[id];
    if (s.state != Slot::open || s.want_write) return;  // EPOLLOUT will carry on
    send_pending(id);
  }

  void close(ConnId id, CloseMode mode) noexcept override {
    Slot& s = slots_[id];
    // A new generation makes stale events and deferred reports of this
    // connection unrecognisable, so nothing more reaches the handler.
    ++s.generation;
    if (s.fd >= 0) {
      if (mode == CloseMode::abort) posix::set_abortive_close(s.fd);
      ::close(s.fd);  // also removes it from the epoll set (no duplicates exist)
      s.fd = -1;
    }
    s.state = Slot::idle;
    s.want_write = false;
    s.blocking = false;
    s.out.clear();
  }

  void poll(Clock::time_point deadline) override {
    if (!deferred_.empty()) {
      // Callbacks may defer more reports; those wait for the next poll().
      deferred_.deliver(slots_, handler_, [](Slot& s, const DeferredReport& d) {
        if (d.kind == ReportKind::closed || d.failure != Failure::none) s.state = Slot::idle;
      });
      // Callbacks ran: return so that the workload looks at its timers.
      wait(false);
      return;
    }
    const Clock::time_point now = Clock::now();
    if (deadline <= now) {
      wait(false);
      return;
    }
    if (single_ && slots_[0].blocking && !slots_[0].want_write &&
        deadline - now >= kBlockingSlice) {
      receive_blocking(0);
      return;
    }
    arm_timer(deadline);
    wait(true);
  }

  void wake() noexcept override {
    const std::uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: a wake-up is pending anyway.
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
  }

 private:
  struct Slot {
    enum State : std::uint8_t { idle, connecting, open, failed };
    int fd = -1;
    std::uint32_t generation = 0;
    State state = idle;
    bool want_write = false;  // output left over after EAGAIN; EPOLLOUT resumes it
    bool blocking = false;    // switched to blocking mode for poll()'s recv() (single_)
    ByteBuffer out;
  };
  // Sets the timerfd to the deadline unless it is armed for an earlier time
  // already (the poll then returns early, which the contract allows). The
  // timer is absolute on CLOCK_MONOTONIC, steady_clock's clock, with
  // nanosecond resolution.
  void arm_timer(Clock::time_point deadline) {
    if (timer_armed_ && timer_at_ <= deadline) return;
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    if (::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
      throw std::system_error(errno, std::generic_category(), "timerfd_settime");
    }
    timer_armed_ = true;
    timer_at_ = deadline;
  }

  // Waits for events (until the armed timer, wake() or I/O) or, with
  // block false, only collects what is ready; then dispatches them.
  void wait(bool block) {
    const int n =
        ::epoll_wait(epoll_, events_.data(), static_cast<int>(events_.size()), block ? -1 : 0);
    if (n < 0) {
      if (errno == EINTR) return;
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    for (int i = 0; i < n; ++i)
      dispatch(events_[static_cast<std::size_t>(i)]);
  }

  void dispatch(const epoll_event& ev) noexcept {
    if (ev.data.u64 == kTimerToken) {
      std::uint64_t expirations = 0;
      [[maybe_unused]] const auto r = ::read(timer_fd_, &expirations, sizeof expirations);
      timer_armed_ = false;
      return;
    }
    if (ev.data.u64 == kWakeToken) {
      std::uint64_t value = 0;
      [[maybe_unused]] const auto r = ::read(wake_fd_, &value, sizeof value);
      return;
    }
    const ConnId id = SlotToken::slot(ev.data.u64);
    const std::uint32_t generation = SlotToken::generation(ev.data.u64);
    Slot& s = slots_[id];
    if (s.generation != generation || s.fd < 0) return;  // an event of a closed connection

    if (s.state == Slot::connecting) {
      if ((ev.events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0 && (ev.events & EPOLLHUP) != 0) err = ECONNRESET;
      if (err != 0) {
        ::close(s.fd);
        s.fd = -1;
        s.state = Slot::idle;
        ++s.generation;
        handler_.on_connected(id, posix::classify(err), err);
        return;
      }
      s.state = Slot::open;
      enter_blocking(s);
      handler_.on_connected(id, Failure::none, 0);
      // The handler may have closed the slot or flushed requests already.
      if (s.generation != generation || s.state != Slot::open) return;
    }
    if (s.state != Slot::open) return;
    if ((ev.events & EPOLLOUT) != 0 && s.want_write) {
      s.want_write = false;
      send_pending(id);
      if (s.generation != generation || s.state != Slot::open) return;
    }
    if ((ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
      read_ready(id, generation, (ev.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
    }
  }

  // Single-connection engines: makes the open socket blocking with a receive
  // timeout of one slice. If either call fails the socket stays as it was
  // and poll() keeps using epoll for it.
  void enter_blocking(Slot& s) noexcept {
    if (!single_) return;
    const int flags = ::fcntl(s.fd, F_GETFL);
    if (flags < 0) return;
    timeval slice{};
    slice.tv_usec = static_cast<suseconds_t>(std::chrono::microseconds(kBlockingSlice).count());
    if (::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice) != 0) return;
    if (::fcntl(s.fd, F_SETFL, flags & ~O_NONBLOCK) != 0) return;
    s.blocking = true;
  }

  // poll() of a single-connection engine: one blocking recv() of at most a
  // slice. A full buffer is followed by non-blocking reads, as in read_ready.
  void receive_blocking(ConnId id) noexcept {
    Slot& s = slots_[id];
    const std::uint32_t generation = s.generation;
    const ssize_t n = ::recv(s.fd, receive_.data(), receive_.size(), 0);
    if (n > 0) {
      handler_.on_data(id, receive_.data(), static_cast<std::size_t>(n));
      if (s.generation != generation || s.state != Slot::open) return;
      if (static_cast<std::size_t>(n) == receive_.size()) read_ready(id, generation, false);
      return;
    }
    if (n == 0) {
      fail(id, Failure::none, 0);
      return;
    }
    const int err = errno;
    // A timeout (EAGAIN) or a signal: return to the workload, which polls again.
    if (err == EINTR || net::would_block(err)) return;
    fail(id, posix::classify(err), err);
  }

  void read_ready(ConnId id, std::uint32_t generation, bool until_eof) noexcept {
    Slot& s = slots_[id];
    for (;;) {
      // MSG_DONTWAIT: the socket of a single-connection engine is blocking.
      const ssize_t n = ::recv(s.fd, receive_.data(), receive_.size(), MSG_DONTWAIT);
      if (n > 0) {
        handler_.on_data(id, receive_.data(), static_cast<std::size_t>(n));
        if (s.generation != generation || s.state != Slot::open) return;
        if (static_cast<std::size_t>(n) < receive_.size() && !until_eof) return;
        continue;
      }
      if (n == 0) {
        fail(id, Failure::none, 0);
        return;
      }
      const int err = errno;
      if (err == EINTR) continue;
      if (net::would_block(err)) return;
      fail(id, posix::classify(err), err);
      return;
    }
  }

  void send_pending(ConnId id) noexcept {
    Slot& s = slots_[id];
    while (!s.out.empty()) {
      const ssize_t n = ::send(s.fd, s.out.data(), s.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        s.out.consume(static_cast<std::size_t>(n));
        continue;
      }
      const int err = errno;
      if (err == EINTR) continue;
      if (net::would_block(err)) {
        s.want_write = true;
        return;
      }
      // flush() may run outside poll(), where no callback is allowed: the
      // socket is closed now and the failure reported from the next poll().
      ::close(s.fd);
      s.fd = -1;
      s.state = Slot::failed;
      s.blocking = false;
      s.out.clear();
      deferred_.add(slots_, id, ReportKind::closed, posix::classify(err), err);
      return;
    }
  }

  // The connection ended (end of stream or an error) inside poll(): close and report.
  void fail(ConnId id, Failure failure, int code) noexcept {
    Slot& s = slots_[id];
    ::close(s.fd);
    s.fd = -1;
    s.state = Slot::idle;
    s.want_write = false;
    s.blocking = false;
    s.out.clear();
    ++s.generation;
    handler_.on_closed(id, failure, code);
  }

  EngineHandler& handler_;
  std::vector<Slot> slots_;
  std::vector<char> receive_;
  std::vector<epoll_event> events_;
  DeferredReports deferred_;
  int epoll_ = -1;
  int wake_fd_ = -1;
  int timer_fd_ = -1;
  Clock::time_point timer_at_{};
  bool timer_armed_ = false;  // set and not yet reported expired
  const bool single_;         // one slot: poll() waits in a blocking recv() (see top)
};

}  // namespace

std::unique_ptr<Engine> make_epoll_engine(const EngineConfig& config, EngineHandler& handler) {
  return std::make_unique<EpollEngine>(config, handler);
}

}  // namespace wsb::loadgen
