// What the POSIX event-loop models (servers/posix: nonblocking, select, poll,
// epoll, uring) share around their loop (namespace wsb::kit): admitting
// and closing sockets, the loop's two timers, a dense list of connections
// for the loops that visit every one, the size of a loop's receive buffer,
// and running one loop per thread. What a loop waits with, how it stops and
// resumes watching its listener and how it finds a connection's state stay
// in the model file. The accept pause it times is the frame's accept policy
// (server/accept_policy.hpp).
//
// Typical use in a loop that waits with poll():
//
//   while (!frame_.stopping()) {
//     const auto wait = timers_.run_due([this](Clock::time_point now) { sweep_idle(now); },
//                                       [this] { /* watch the listener again */ });
//     const int ready = ::poll(fds, count, wsb::kit::timeout_ms(wait));
//     ...
//       case AcceptAction::pause: timers_.pause_accepting(); /* stop watching it */
//   }
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "kit/loop_mail.hpp"
#include "server/connection.hpp"
#include "server/frame.hpp"
#include "server/options.hpp"
#include "server/stats.hpp"

namespace wsb::kit {

// One receive buffer per loop thread. Every received chunk is handed to the
// Connection at once (the session consumes all of it), so no per-connection
// input buffer exists and nothing is allocated per request. 64 KiB takes a
// large echo burst in one call and is small next to the socket buffers.
inline constexpr std::size_t receive_buffer_size = 64 * 1024;

// A readiness loop's receive buffer (receive_buffer_size bytes on the heap).
class ReceiveBuffer {
 public:
  ReceiveBuffer() : data_(new char[receive_buffer_size]) {}

  // One recv() from non-blocking socket `fd` into the buffer, handed to
  // `conn` at once (server::receive_once). Returns false when the socket had
  // nothing to give (EAGAIN).
  bool receive(int fd, server::Connection& conn) noexcept;

 private:
  std::unique_ptr<char[]> data_;
};

// Admission of a socket the loop has just accepted: Frame::admit(shard, fd),
// and a refused socket (counted as refused or banned) is closed. An admitted
// one gets TCP_NODELAY: replies are small and sent at once, and Nagle's
// algorithm would hold them back waiting for the client's ACK. Returns
// whether the socket was admitted.
bool admit_accepted(server::Frame& frame, server::StatsShard& shard, int fd) noexcept;

// Closes an admitted socket: Frame::release() first, because once closed the
// descriptor number can be reused by another thread's next accept.
// `conn`, when given, is the socket's Connection, for --log-connections.
void close_admitted(server::Frame& frame, server::StatsShard& shard, int fd,
                    const server::Connection* conn = nullptr) noexcept;

// The two deadlines of a loop: the periodic sweep for idle connections
// (idle_sweep_interval(), none without --idle-timeout) and the end of an
// accept pause (AcceptAction::pause, AcceptPolicy::pause_for). One per loop
// thread; not thread-safe.
class LoopTimers {
 public:
  using Clock = std::chrono::steady_clock;

  // The first sweep is due one interval from now.
  explicit LoopTimers(const server::Options& options);

  // Stops accepting for AcceptPolicy::pause_for from now. The loop stops
  // watching its listener; run_due() says when to watch it again.
  void pause_accepting() noexcept;
  bool accept_paused() const noexcept { return accept_paused_; }

  // Runs what is due and says how long the loop may then wait for I/O:
  // sweep(now) when the sweep is due, resume() once when the accept pause
  // has ended (accept_paused() is false by then). Returns the time left
  // until the next deadline (zero when one has passed), or nullopt when
  // neither timer runs: wait without a timeout. Reads the clock only while a
  // timer runs, so a loop without them costs no clock read per wait.
  template <class Sweep, class Resume>
  std::optional<Clock::duration> run_due(Sweep&& sweep, Resume&& resume) {
    if (sweep_interval_.count() <= 0 && !accept_paused_) return std::nullopt;
    const auto now = Clock::now();
    if (sweep_interval_.count() > 0 && now >= next_sweep_) {
      sweep(now);
      next_sweep_ = now + sweep_interval_;
    }
    if (accept_paused_ && now >= resume_accept_at_) {
      accept_paused_ = false;
      resume();
    }
    return time_left(now);
  }

 private:
  std::optional<Clock::duration> time_left(Clock::time_point now) const noexcept;

  const Clock::duration sweep_interval_;
  Clock::time_point next_sweep_;
  bool accept_paused_ = false;
  Clock::time_point resume_accept_at_{};
};

// run_due()'s wait as the timeout argument of poll() and epoll_wait():
// milliseconds, rounded up so that the loop does not wake a fraction of a
// millisecond early and spin until the deadline; -1 (no timeout) for nullopt.
int timeout_ms(std::optional<LoopTimers::Clock::duration> wait) noexcept;

// The connections of a loop that visits every one of them in turn
// (nonblocking, select): a descriptor and its Connection per entry, in a
// dense array. A closed entry is replaced by the last one (swap with last),
// so nothing is ever searched; a loop that visits the entries from the end
// down (for (i = size(); i-- > 0;)) thus only ever moves an entry it has
// already visited into the index it is at.
class ConnectionList {
 public:
  struct Entry {
    int fd;
    server::Connection conn;
  };

  // `mail`, when given, is the loop's: each Connection added registers its
  // wake with it (chat mail from other threads, kit/loop_mail.hpp).
  explicit ConnectionList(server::Frame& frame, LoopMail* mail = nullptr) noexcept
      : frame_(frame), mail_(mail) {}

  std::size_t size() const noexcept { return entries_.size(); }
  Entry& operator[](std::size_t i) noexcept { return entries_[i]; }
  const Entry* begin() const noexcept { return entries_.data(); }
  const Entry* end() const noexcept { return entries_.data() + entries_.size(); }

  // Takes an admitted socket, with a new Connection counted on `shard`. Out
  // of memory, it counts an I/O error and closes the socket instead.
  void add(int fd, server::StatsShard& shard) noexcept;
  // Closes entry i (close_admitted()); the last entry takes its index.
  void close(std::size_t i, server::StatsShard& shard) noexcept;
  // The index of descriptor fd's entry, or nullopt when it has none.
  std::optional<std::size_t> find(int fd) const noexcept;
  // Closes the entries whose Connection has been idle too long at `now`.
  void sweep_idle(std::chrono::steady_clock::time_point now, server::StatsShard& shard) noexcept;
  void close_all(server::StatsShard& shard) noexcept;

 private:
  server::Frame& frame_;
  LoopMail* mail_;
  std::vector<Entry> entries_;
  std::vector<std::size_t> index_of_;  // by descriptor: its entry's index + 1, 0 for none
};

// The connections of a loop that finds a connection by its descriptor
// (epoll, uring): one Slot per descriptor number, grown on demand, so a
// lookup is an index. Slot is the model's per-connection record; it has a
// member `std::optional<server::Connection> conn`, engaged while the
// descriptor is one of this loop's connections.
template <class Slot>
class DescriptorTable {
 public:
  // `mail` as for ConnectionList.
  explicit DescriptorTable(server::Frame& frame, LoopMail* mail = nullptr) noexcept
      : frame_(frame), mail_(mail) {}

  // The slot of `fd`, which must be below the size the table has grown to
  // (any descriptor add() has taken).
  Slot& operator[](int fd) noexcept { return slots_[static_cast<std::size_t>(fd)]; }
  // The slot of `fd` if it holds a Connection, else nullptr.
  Slot* find(int fd) noexcept {
    const auto index = static_cast<std::size_t>(fd);
    return index < slots_.size() && slots_[index].conn ? &slots_[index] : nullptr;
  }

  // Takes an admitted socket: its slot (grown to hold it) gets a new
  // Connection counted on `shard`; the slot's other members keep their
  // values for the caller to set. Out of memory, it counts an I/O error,
  // closes the socket and returns nullptr.
  Slot* add(int fd, server::StatsShard& shard) noexcept {
    try {
      const auto index = static_cast<std::size_t>(fd);
      if (index >= slots_.size()) slots_.resize(std::max(index + 1, slots_.size() * 2));
      void* address = mail_ != nullptr ? mail_->address(fd) : nullptr;
      server::Connection& conn = slots_[index].conn.emplace(frame_, shard);
      if (address != nullptr) conn.set_mail_wake(&LoopMail::wake, address);
      return &slots_[index];
    } catch (const std::bad_alloc&) {
      shard.error(server::ErrorClass::io);
      close_admitted(frame_, shard, fd);
      return nullptr;
    }
  }

  // Closes `fd` (close_admitted(), with its Connection for the log) and ends
  // its Connection. The caller makes sure that the kernel no longer uses
  // the Connection's memory.
  void close(int fd, server::StatsShard& shard) noexcept {
    Slot& slot = (*this)[fd];
    close_admitted(frame_, shard, fd, slot.conn ? &*slot.conn : nullptr);
    slot.conn.reset();
  }

  // Calls f(fd, slot) for every slot with a Connection, in descriptor
  // order; f may close the one it is given.
  template <class F>
  void for_each(F&& f) {
    for (std::size_t fd = 0; fd < slots_.size(); ++fd) {
      if (slots_[fd].conn) f(static_cast<int>(fd), slots_[fd]);
    }
  }

  // Hands the slots over (the table is left empty), for a loop that must
  // keep their memory beyond its own life.
  std::vector<Slot> take_all() noexcept { return std::move(slots_); }

 private:
  server::Frame& frame_;
  LoopMail* mail_;
  std::vector<Slot> slots_;  // indexed by descriptor number
};

// Runs every loop (Loop::run(), which must not throw), the first on the
// calling thread and each other one on a thread of its own, waits for all of
// them to return and then destroys them, which closes their listeners before
// the frame's final report.
template <class Loop>
void run_loops(std::vector<std::unique_ptr<Loop>> loops) {
  std::vector<std::thread> workers;
  for (std::size_t i = 1; i < loops.size(); ++i) {
    workers.emplace_back([loop = loops[i].get()] { loop->run(); });
  }
  loops[0]->run();
  for (auto& t : workers)
    t.join();
}

// The whole life of a server of --threads loops after Frame::parse(): opens
// one listener per loop, makes loop i with make(i, listener) (a
// std::unique_ptr<Loop>, which owns the listener from then on), starts the
// frame with `wake` (Frame::start), runs the loops (run_loops) and returns
// Frame::finish(). SO_REUSEPORT only when there are several loops: the
// kernel then spreads incoming connections over their listeners, and no two
// loops contend for one accept queue, while a single loop does not set it, so
// that a second server started on the same port fails with EADDRINUSE
// instead of silently sharing the port. What `wake` touches must outlive
// this call (Frame::finish() stops the thread that calls it).
//
// With --when-full queue, a connection closed on any thread makes room for
// every loop: the frame's room hook wakes each loop through its LoopMail
// (Loop::mail()), and the loops, which run until after every connection is
// closed, outlive every call of it.
template <class Make>
int serve_loops(server::Frame& frame, bool nonblocking, Make&& make, std::function<void()> wake) {
  const int threads = frame.options().threads;
  using Loop = typename std::invoke_result_t<Make&, int, int>::element_type;
  std::vector<std::unique_ptr<Loop>> loops;
  std::vector<LoopMail*> mail;
  for (int i = 0; i < threads; ++i) {
    loops.push_back(
        make(i, frame.open_listener({.nonblocking = nonblocking, .reuse_port = threads > 1})));
    mail.push_back(&loops.back()->mail());
  }
  frame.set_room_hook([mail] {
    for (LoopMail* m : mail)
      m->wake_for_room();
  });
  frame.start(std::move(wake));
  run_loops(std::move(loops));
  return frame.finish();
}

}  // namespace wsb::kit
