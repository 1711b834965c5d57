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

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

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

  explicit ConnectionList(server::Frame& frame) noexcept : frame_(frame) {}

  std::size_t size() const noexcept { return entries_.size(); }
  Entry& operator[](std::size_t i) noexcept { return entries_[i]; }
  const Entry* begin() const noexcept { return entries_.data(); }
  const Entry* end() const noexcept { return entries_.data() + entries_.size(); }

  // Takes an admitted socket, with a new Connection counted on `shard`. Out
  // of memory, it counts an I/O error and closes the socket instead.
  void add(int fd, server::StatsShard& shard) noexcept;
  // Closes entry i (close_admitted()); the last entry takes its index.
  void close(std::size_t i, server::StatsShard& shard) noexcept;
  // Closes the entries whose Connection has been idle too long at `now`.
  void sweep_idle(std::chrono::steady_clock::time_point now, server::StatsShard& shard) noexcept;
  void close_all(server::StatsShard& shard) noexcept;

 private:
  server::Frame& frame_;
  std::vector<Entry> entries_;
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

}  // namespace wsb::kit
