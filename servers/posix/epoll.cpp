// server-epoll: epoll(7), one event loop per thread.
//
// The Linux answer to the Winsock readiness models (WSAEventSelect,
// WSAAsyncSelect, select) without their per-call cost: the kernel keeps the
// interest list, so epoll_wait() costs O(ready descriptors), not O(all).
//
//   main:    one listener per loop thread (SO_REUSEPORT when --threads > 1),
//            an eventfd for wake-ups, then the loops
//   loop:    epoll_wait -> accept4 until EAGAIN / recv -> Connection -> send
//   stop:    the frame writes the eventfd; every loop sees it, closes its
//            connections and returns; main joins and prints the statistics
//   mail:    chat messages that other loops post to this loop's
//            connections, and room made under --when-full queue, arrive
//            through the loop's own eventfd (kit/loop_mail.hpp)
//
// Level-triggered (default): a descriptor is reported for as long as it is
// ready, so one recv() per report is enough, and input interest (EPOLLIN) is
// dropped while a connection is under backpressure, otherwise it would be
// reported forever. Output interest (EPOLLOUT) is registered only while a
// reply could not be sent completely.
//
// Edge-triggered (--edge): a descriptor is reported when it becomes ready, so
// every read, write and accept must go on until EAGAIN; the loop keeps "still
// readable / still writable" flags per connection because the kernel will not
// say it again. Interest never changes after registration (EPOLLIN | EPOLLOUT
// | EPOLLRDHUP | EPOLLET), which saves the epoll_ctl calls of the
// level-triggered mode.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "platform/net.hpp"
#include "platform/posix/wake.hpp"
#include "kit/event_loop.hpp"
#include "kit/loop_listener.hpp"
#include "server/model_names.hpp"
#include "server/socket_io.hpp"

namespace {

using namespace wsb::server::model;

// Events taken per epoll_wait(). More only matters when more connections are
// ready at once; the rest are reported by the next call.
constexpr int max_events = 512;
// Edge-triggered mode reads a connection at most this many times per
// wake-up before it serves the others; a connection with input left is
// revisited after the next epoll_wait(), since no new edge will report it.
constexpr int max_reads_per_turn = 16;

// epoll_event.data of the three descriptors that are not connections. A
// connection's tag is (generation << 32) | fd, whose low half is a descriptor
// number (below 2^31), so none of these can be a connection's.
constexpr std::uint64_t listener_tag = ~std::uint64_t{0};
constexpr std::uint64_t wake_tag = ~std::uint64_t{0} - 1;
constexpr std::uint64_t mail_tag = ~std::uint64_t{0} - 2;

struct Slot {
  std::optional<Connection> conn;
  // Bumped when a connection takes the slot, so that an event still queued
  // for the previous owner of the same descriptor number is recognised and
  // ignored.
  std::uint32_t generation = 0;
  // Level-triggered: the events currently registered.
  std::uint32_t interest = 0;
  // Edge-triggered: not yet drained to EAGAIN in that direction.
  bool readable = false;
  bool writable = false;
  // Edge-triggered: already in the revisit list (at most once).
  bool revisit = false;
};

class Loop : public wsb::kit::LoopBase {
 public:
  Loop(Frame& frame, int listener, int wake_fd, bool edge)
      : LoopBase(frame, listener),
        wake_fd_(wake_fd),
        edge_(edge),
        epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epoll_fd_ < 0) {
      const int code = errno;
      throw wsb::net::NetError(code, "epoll_create1 failed: " + wsb::net::error_text(code));
    }
    // The eventfd is shared by all loops and never read: once written it
    // stays readable, so a level-triggered registration reports it to every
    // loop, each of which then sees stopping() and leaves.
    watch(wake_fd_, EPOLLIN, wake_tag);
    watch(listener_.fd(), EPOLLIN | (edge_ ? EPOLLET : 0u), listener_tag);
    // The loop's own mail (kit/loop_mail.hpp), level-triggered: take()
    // drains it.
    watch(mail_.fd(), EPOLLIN, mail_tag);
  }

  ~Loop() { ::close(epoll_fd_); }

  // The thread body. Never throws: failures end the server through fail().
  void run() noexcept {
    begin_thread();
    epoll_event events[max_events];

    while (!frame_.stopping()) {
      // Idle connections are found by a sweep (server/options.hpp); after an
      // accept pause the listener is added to the set again.
      const auto wait = timers_.run_due([this](Clock::time_point now) { sweep_idle(now); },
                                        [this] { resume_accepting(); });
      // Connections left with unread input (edge-triggered) must not wait.
      const int timeout = revisit_.empty() ? wsb::kit::timeout_ms(wait) : 0;
      const int n = ::epoll_wait(epoll_fd_, events, max_events, timeout);
      if (n < 0) {
        if (errno == EINTR) continue;
        frame_.fail("epoll_wait failed: " + wsb::net::error_text(errno));
        break;
      }
      bool listener_reported = false;
      for (int i = 0; i < n && !frame_.stopping(); ++i) {
        const std::uint64_t tag = events[i].data.u64;
        if (tag == wake_tag) continue;  // the loop condition sees stopping()
        if (tag == mail_tag) {
          serve_mail();
          continue;
        }
        if (tag == listener_tag) {
          listener_reported = true;
          accept_connections();
          continue;
        }
        const int fd = static_cast<int>(tag & 0xffffffffu);
        Slot& slot = slots_[fd];
        if (!slot.conn || slot.generation != static_cast<std::uint32_t>(tag >> 32)) continue;
        if (edge_) {
          on_edge(fd, slot, events[i].events);
        } else {
          on_level(fd, slot, events[i].events);
        }
      }
      if (!revisit_.empty()) serve_revisits();
      // epoll reports ready descriptors in turn, max_events per call, so with
      // thousands of busy connections the listener's turn comes only every
      // few calls. While connections keep arriving (the last pass accepted
      // some), the listener is tried after every call instead: one accept4()
      // per call, ending with EAGAIN once the storm is over.
      if (accept_hot_ && !listener_reported && listener_watched_ && !frame_.stopping()) {
        accept_connections();
      }
    }
    close_all();
  }

 private:
  void watch(int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      const int code = errno;
      throw wsb::net::NetError(code, "epoll_ctl(ADD) failed: " + wsb::net::error_text(code));
    }
  }

  static std::uint64_t tag_of(int fd, const Slot& slot) noexcept {
    return (std::uint64_t{slot.generation} << 32) | static_cast<std::uint32_t>(fd);
  }

  void accept_connections() noexcept {
    // Edge-triggered: the listener is reported once per burst of arrivals,
    // so accepting must go on until EAGAIN.
    const auto pass = listener_.accept_pass(
        *shard_, timers_, [this](int fd) { add_connection(fd); }, edge_);
    accept_hot_ = pass.accepted > 0;
    // Out of descriptors with no spare, or an unexpected failure that would
    // recur at once: take the listener out of the set for a while instead of
    // spinning on it. Full (--when-full queue): take it out until a
    // connection closes, leaving new clients in the kernel's accept queue.
    if (pass.full) full_ = true;
    if (pass.paused || pass.full) watch_listener(false);
  }

  // The accept pause is over (timers_ no longer says paused).
  void resume_accepting() noexcept {
    if (!full_) watch_listener(true);
  }

  // Puts the listener in the set or takes it out. Adding a descriptor that
  // is already ready reports it at once, in both modes, so connections that
  // queued up meanwhile are not forgotten.
  void watch_listener(bool on) noexcept {
    if (on == listener_watched_) return;
    if (!on) {
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listener_.fd(), nullptr);
      listener_watched_ = false;
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | (edge_ ? EPOLLET : 0u);
    ev.data.u64 = listener_tag;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listener_.fd(), &ev) != 0) {
      listener_.log()(frame_, "epoll_ctl(ADD listener): " + wsb::net::error_text(errno));
      timers_.pause_accepting();  // try again after a pause
      return;
    }
    listener_watched_ = true;
  }

  // The loop's mail: chat messages that other threads posted to its
  // connections, and room made by a connection closed anywhere. A
  // connection with new output is served as after an event that reported
  // nothing: its output goes out at once (or waits for EPOLLOUT).
  void serve_mail() noexcept {
    const bool room = mail_.take(mail_fds_);
    for (const int fd : mail_fds_) {
      Slot* slot = slots_.find(fd);
      if (slot == nullptr || !slot->conn->collect_mail()) continue;
      if (edge_) {
        on_edge(fd, *slot, 0);
      } else {
        on_level(fd, *slot, 0);
      }
    }
    if (room && full_) {
      full_ = false;
      if (!timers_.accept_paused()) {
        watch_listener(true);
        accept_connections();
      }
    }
  }

  void add_connection(int fd) noexcept {
    if (!wsb::kit::admit_accepted(frame_, *shard_, fd)) return;
    Slot* slot = slots_.add(fd, *shard_);
    if (slot == nullptr) return;
    ++slot->generation;  // wraps after 2^32 connections on one descriptor, harmlessly
    slot->readable = false;
    slot->revisit = false;
    // A new socket has send-buffer space; the first EPOLLOUT edge would say so anyway.
    slot->writable = true;
    slot->interest = edge_ ? (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) : EPOLLIN;
    epoll_event ev{};
    ev.events = slot->interest;
    ev.data.u64 = tag_of(fd, *slot);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      const int code = errno;
      listener_.log()(frame_, "epoll_ctl(ADD): " + wsb::net::error_text(code));
      slot->conn->on_error(classify_io_error(code));
      slots_.close(fd, *shard_);
    }
  }

  // Sends until nothing is pending or the socket buffer is full. Returns
  // false when the socket buffer is full (EAGAIN) with bytes still pending.
  bool flush(int fd, Connection& conn) noexcept { return wsb::server::send_pending(fd, conn); }

  void on_level(int fd, Slot& slot, std::uint32_t events) noexcept {
    Connection& conn = *slot.conn;
    // EPOLLHUP and EPOLLERR are reported whether asked for or not; the recv()
    // (or, under backpressure, the send()) then returns the end or the error.
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && conn.want_read()) buffer_.receive(fd, conn);
    // Replies go out at once rather than on the next EPOLLOUT report: the
    // socket buffer almost always has room, and this saves a wait and an
    // epoll_ctl per request.
    flush(fd, conn);
    if (conn.finished()) {
      close_connection(fd);
      return;
    }
    const std::uint32_t wanted =
        (conn.want_read() ? EPOLLIN : 0u) | (conn.want_write() ? EPOLLOUT : 0u);
    if (wanted != slot.interest) {
      epoll_event ev{};
      ev.events = wanted;
      ev.data.u64 = tag_of(fd, slot);
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
        conn.on_error(classify_io_error(errno));
        close_connection(fd);
        return;
      }
      slot.interest = wanted;
    }
  }

  void on_edge(int fd, Slot& slot, std::uint32_t events) noexcept {
    Connection& conn = *slot.conn;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) slot.readable = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) slot.writable = true;
    // Alternate between sending and reading until the socket has nothing
    // more to give (readable cleared by EAGAIN) or the connection may not
    // read (backpressure with a full send buffer, or closing). A flag that
    // stays set is acted on when the next edge in the other direction
    // arrives: e.g. an EPOLLOUT edge drains the backlog, and reading resumes.
    for (int reads = 0;; ++reads) {
      if (slot.writable && conn.want_write() && !flush(fd, conn)) slot.writable = false;
      if (conn.finished()) {
        close_connection(fd);
        return;
      }
      if (!slot.readable || !conn.want_read()) break;
      if (reads == max_reads_per_turn) {
        // A client that sends without pause would otherwise keep the loop
        // here for ever; no edge will come for input already waiting, so
        // the connection is noted for a revisit.
        if (slot.revisit) break;  // noted already
        try {
          revisit_.push_back(tag_of(fd, slot));
        } catch (const std::bad_alloc&) {
          continue;  // cannot note it: keep serving it rather than forget it
        }
        slot.revisit = true;
        break;
      }
      if (!buffer_.receive(fd, conn)) slot.readable = false;
    }
  }

  // Edge-triggered: continues the connections that had input left when
  // their turn ended. They are served after the events of this round, so
  // every ready connection gets its turn first.
  void serve_revisits() noexcept {
    std::vector<std::uint64_t> tags;
    tags.swap(revisit_);
    for (const std::uint64_t tag : tags) {
      const int fd = static_cast<int>(tag & 0xffffffffu);
      Slot& slot = slots_[fd];
      if (!slot.conn || slot.generation != static_cast<std::uint32_t>(tag >> 32)) continue;
      slot.revisit = false;
      on_edge(fd, slot, 0);
    }
    // Keep the capacity: the vectors swap back and forth without allocating.
    tags.clear();
    if (revisit_.empty()) revisit_.swap(tags);
  }

  void close_connection(int fd) noexcept {
    // No epoll_ctl(DEL): closing the last descriptor of a socket removes it
    // from every epoll set. close() sends FIN after the queued replies (or a
    // reset if unread input remains, which a failed connection may have).
    slots_.close(fd, *shard_);
  }

  void sweep_idle(Clock::time_point now) noexcept {
    slots_.for_each([&](int fd, Slot& slot) {
      if (slot.conn->expire_if_idle(now)) close_connection(fd);
    });
  }

  void close_all() noexcept {
    slots_.for_each([this](int fd, Slot&) { close_connection(fd); });
  }

  const int wake_fd_;
  const bool edge_;
  const int epoll_fd_;
  wsb::kit::ReceiveBuffer buffer_;
  wsb::kit::DescriptorTable<Slot> slots_{frame_, &mail_};
  std::vector<std::uint64_t> revisit_;  // edge-triggered: tags of connections with input left
  // The last accept pass accepted something: try the listener after every
  // epoll_wait() until a pass finds the queue empty.
  bool accept_hot_ = false;
  bool listener_watched_ = true;  // in the epoll set
};

}  // namespace

int main(int argc, char** argv) {
  bool edge = false;
  return wsb::server::run_model(
      argc, argv,
      {.name = "epoll",
       .description =
           "epoll(7): one event loop per thread, each with its own SO_REUSEPORT listener. "
           "Level-triggered by default (output interest only while a reply is pending); --edge "
           "switches to edge-triggered notification, where every read, write and accept is "
           "repeated until EAGAIN."},
      [&](Frame& frame) {
        frame.cli().add_flag("--edge", edge,
                             "Edge-triggered notification (EPOLLET): fewer epoll_ctl calls, one "
                             "more recv() per wake-up to reach EAGAIN");
      },
      [&](Frame& frame) {
        // Destroyed after finish(), which stops the thread that signals it.
        wsb::net::WakeDescriptor wake;
        // One listener per loop (kit::serve_loops); the main thread runs the
        // first loop itself.
        return wsb::kit::serve_loops(
            frame, true,
            [&](int, int listener) {
              return std::make_unique<Loop>(frame, listener, wake.fd(), edge);
            },
            [&wake] { wake.signal(); });
      });
}
