// server-select: select() over groups of at most FD_SETSIZE (64) sockets, one thread per group.
//
// The seed notes' select model (000 "select 模型", 003 "Select I/O模型"):
// select() takes sets of sockets and returns the subsets that are readable
// (data, a FIN, or, for the listener, a pending connection) or writable (room
// in the send buffer). A Windows fd_set is not a bitmap as on POSIX but a
// count and an array of at most FD_SETSIZE SOCKETs, 64 unless the program
// defines it larger before including <winsock2.h>. This file keeps the
// default and does what the seed notes suggest instead: split the sockets into
// groups of 64 and give each group a thread (the seeds' "一组一个线程").
//
// Threads:
//  - The main thread selects on the listener and accepts. It hands each new
//    socket to the least-loaded group and starts a new group thread when all
//    groups are full. --threads sets how many groups start at once.
//  - Each group thread selects on its own sockets and serves them.
//  - select() can only wait for sockets, not for events or condition
//    variables, so every thread owns a "wake socket": a loopback UDP socket
//    connected to itself. Another thread sends it one datagram to interrupt
//    the select() (the Windows form of the self-pipe trick). It takes one of
//    the 64 slots, so a group serves at most 63 clients.
//
// Windows-specific details the loop respects:
//  - nfds, select()'s first argument, is ignored on Windows.
//  - FD_ISSET() is a linear search of the array, so testing every socket with
//    it is O(n^2); the loop walks fd_array of the returned sets instead.
//    FD_SET() also searches (for duplicates), so the sets are filled directly.
//  - select() fails with WSAEINVAL when all three sets are empty; the wake
//    socket keeps the read set non-empty.
//  - select() may report a socket writable and send() still fail with
//    WSAEWOULDBLOCK (Wine bug 53486, fixed upstream after 8.0): that is
//    treated as "not writable after all", never as an error.
#include <winsock2.h>
#include <windows.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "platform/net.hpp"
#include "kit/mail_list.hpp"
#include "kit/room.hpp"
#include "kit/socket_client.hpp"
#include "kit/winsock.hpp"
#include "server/model_names.hpp"

namespace {

using namespace wsb::server::model;

static_assert(FD_SETSIZE >= 2, "a group needs its wake socket and at least one client");
// One slot of each group's read set holds the group's wake socket.
constexpr int group_capacity = FD_SETSIZE - 1;
constexpr std::size_t recv_buffer_size = 64 * 1024;
// The longest a group's select() waits. Idle timeouts and lingering closes
// usually set a nearer deadline; the cap bounds the damage if a wake datagram
// is ever lost.
constexpr std::chrono::milliseconds max_wait{250};
constexpr int accepts_per_wake = 64;
// --when-full queue: how often the full acceptor looks for waiting clients.
constexpr std::chrono::milliseconds full_tick{100};
// How long a clean close waits for the peer's FIN after sending its own.
constexpr std::chrono::seconds linger_timeout{1};

[[noreturn]] void throw_socket_error(const char* what) {
  const int code = ::WSAGetLastError();
  throw wsb::net::NetError(code, std::string(what) + " failed: " + wsb::net::error_text(code));
}

// A loopback UDP socket connected to itself, which a select() loop keeps in
// its read set so that other threads can interrupt it with a datagram.
class WakeSocket {
 public:
  WakeSocket() {
    socket_ =
        ::WSASocketW(AF_INET, SOCK_DGRAM, IPPROTO_UDP, nullptr, 0, WSA_FLAG_NO_HANDLE_INHERIT);
    if (socket_ == INVALID_SOCKET) throw_socket_error("creating the wake socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = ::htonl(INADDR_LOOPBACK);
    int length = sizeof address;
    u_long non_blocking = 1;
    if (::bind(socket_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(socket_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        ::connect(socket_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::ioctlsocket(socket_, FIONBIO, &non_blocking) != 0) {
      const int code = ::WSAGetLastError();
      ::closesocket(socket_);
      ::WSASetLastError(code);
      throw_socket_error("setting up the wake socket on 127.0.0.1");
    }
  }
  ~WakeSocket() { ::closesocket(socket_); }
  WakeSocket(const WakeSocket&) = delete;
  WakeSocket& operator=(const WakeSocket&) = delete;

  SOCKET socket() const noexcept { return socket_; }

  // Any thread. One datagram is enough however many signals arrive before the
  // owner clears them, so later ones send nothing.
  void signal() noexcept {
    if (pending_.exchange(true)) return;
    const char byte = 0;
    // A failed send (no buffer space) is not fatal: the owner's select()
    // times out after max_wait at the latest. Clearing the flag lets the next
    // signal try again.
    if (::send(socket_, &byte, 1, 0) != 1) pending_.store(false);
  }

  // Owner thread, when select() reported the socket readable; the caller
  // looks for work afterwards. The datagrams are read before the flag is
  // cleared: a signal that finds the flag still set sends nothing, but its
  // work was queued before the flag is cleared, so the caller finds it; a
  // signal after the clear sends a datagram that wakes the next select().
  // (Clearing first would lose wake-ups: a datagram sent between the clear and
  // the read would be consumed while the flag stays set for good.)
  void clear() noexcept {
    char bytes[16];
    while (::recv(socket_, bytes, sizeof bytes, 0) > 0) {
    }
    pending_.store(false);
  }

 private:
  SOCKET socket_ = INVALID_SOCKET;
  std::atomic<bool> pending_{false};
};

// FD_SET() scans the array for a duplicate before appending, which makes
// filling a set O(n^2); every socket is added once here, so append directly.
void add(fd_set& set, SOCKET s) noexcept {
  set.fd_array[set.fd_count++] = s;
}

timeval to_timeval(Clock::duration d) noexcept {
  const auto us = std::chrono::ceil<std::chrono::microseconds>(
                      std::clamp<Clock::duration>(d, Clock::duration::zero(), max_wait))
                      .count();
  timeval tv{};
  tv.tv_sec = static_cast<long>(us / 1000000);
  tv.tv_usec = static_cast<long>(us % 1000000);
  return tv;
}

// A client is the socket, its mail place, its Connection and its lingering
// close, and nothing more: a group learns readiness from select() alone.
using Client = wsb::kit::SocketClient;

// Up to group_capacity connections served by one thread with select().
class Group {
 public:
  explicit Group(Frame& frame) : frame_(frame) {}
  ~Group() { join(); }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  // Connections assigned to this group and not yet closed. Only the acceptor
  // increases it, so a value it reads can only be too high, never too low:
  // a group never exceeds group_capacity.
  int load() const noexcept { return load_.load(std::memory_order_relaxed); }

  // Acceptor thread: gives the group an admitted socket. False if memory ran out.
  bool hand_over(SOCKET s) noexcept {
    try {
      std::lock_guard lock(mutex_);
      incoming_.push_back(s);
    } catch (const std::bad_alloc&) {
      return false;
    }
    load_.fetch_add(1, std::memory_order_relaxed);
    wake_.signal();
    return true;
  }

  // Any thread: interrupts the group's select() (to notice a stop request).
  void wake() noexcept { wake_.signal(); }

  // After join(): the sockets handed over that the thread never took up.
  std::vector<SOCKET> take_unadopted() {
    std::lock_guard lock(mutex_);
    return std::move(incoming_);
  }

 private:
  void run() noexcept {
    StatsShard& shard = frame_.shard();
    try {
      std::vector<char> buffer(recv_buffer_size);
      std::vector<SOCKET> fresh;
      while (!frame_.stopping()) {
        // The sets are rebuilt on every pass: select() overwrites them with
        // the ready subsets. Read interest for every connection that wants
        // input (not while its output is over --max-pending), write interest
        // only while output is pending; otherwise select() would return at
        // once for every idle socket, whose send buffer is nearly always free.
        fd_set readable;
        fd_set writable;
        readable.fd_count = 0;
        writable.fd_count = 0;
        add(readable, wake_.socket());
        Clock::time_point now = Clock::now();
        Clock::time_point deadline = now + max_wait;
        for (auto& [s, client] : clients_) {
          if (client.linger.lingering()) {
            add(readable, s);
            deadline = std::min(deadline, client.linger.deadline());
            continue;
          }
          if (client.conn.want_read()) add(readable, s);
          if (client.conn.want_write()) add(writable, s);
          deadline = std::min(deadline, client.conn.idle_deadline());
        }
        timeval timeout = to_timeval(deadline - now);
        if (::select(0, &readable, writable.fd_count != 0 ? &writable : nullptr, nullptr,
                     &timeout) == SOCKET_ERROR) {
          frame_.fail("select() failed: " + wsb::net::error_text(::WSAGetLastError()));
          break;
        }

        for (u_int i = 0; i < readable.fd_count; ++i) {
          const SOCKET s = readable.fd_array[i];
          if (s == wake_.socket()) {
            wake_.clear();
            adopt_incoming(shard, fresh);
          } else {
            on_readable(s, clients_.at(s), buffer);
          }
        }
        for (u_int i = 0; i < writable.fd_count; ++i) {
          const SOCKET s = writable.fd_array[i];
          Client& client = clients_.at(s);
          if (!client.linger.lingering()) flush(s, client);
        }
        // On every pass, not only when the wake socket was readable: the
        // mail list signals only when it goes from empty to non-empty, so one
        // lost or failed wake datagram would otherwise leave the list's mail
        // unsent for good. Taking an empty list is one short lock.
        deliver_mail();
        sweep(shard, Clock::now());
      }
    } catch (const std::bad_alloc&) {
      frame_.fail("out of memory in a select() group");
    }
    for (auto& [s, client] : clients_)
      close(s, shard, &client.conn);
    clients_.clear();
  }

  // Takes the sockets the acceptor handed over.
  void adopt_incoming(StatsShard& shard, std::vector<SOCKET>& fresh) {
    {
      std::lock_guard lock(mutex_);
      fresh.swap(incoming_);
    }
    for (const SOCKET s : fresh) {
      try {
        clients_.try_emplace(s, s, frame_, shard, mail_);
      } catch (const std::bad_alloc&) {
        shard.error(ErrorClass::io);
        close(s, shard);
      }
    }
    fresh.clear();
  }

  void on_readable(SOCKET s, Client& client, std::span<char> buffer) noexcept {
    if (client.linger.lingering()) {
      // Discard what the peer still sends, until its FIN.
      const std::ptrdiff_t n = wsb::net::recv_some(s, buffer);
      if (n == 0 || (n < 0 && ::WSAGetLastError() != WSAEWOULDBLOCK)) {
        client.linger.on_linger_done();
      }
      return;
    }
    Connection& conn = client.conn;
    // One recv() per readiness: select() is level-triggered and reports the
    // socket again on the next pass if more input is waiting.
    const std::ptrdiff_t n = wsb::net::recv_some(s, buffer);
    if (n > 0) {
      conn.on_received(buffer.first(static_cast<std::size_t>(n)));
    } else if (n == 0) {
      if (const int reset = wsb::kit::error_after_end_of_stream(s); reset != 0) {
        conn.on_error(classify_io_error(reset));
      } else {
        client.linger.on_peer_closed();
        conn.on_peer_closed();
      }
    } else {
      const int code = ::WSAGetLastError();
      // WSAEWOULDBLOCK after "readable" is harmless: nothing to read after all.
      if (code != WSAEWOULDBLOCK) conn.on_error(classify_io_error(code));
    }
    // Reply at once rather than waiting for the next select() to report the
    // socket writable, which it almost always is.
    flush(s, client);
  }

  // Chat: a thread that posted other users' messages to a connection of
  // this group put it on the mail list and signalled the wake socket (one
  // datagram per batch: kit/mail_list.hpp); the messages go out at once.
  // A connection that fails here (a slow consumer) is closed by sweep().
  void deliver_mail() noexcept {
    bool all = false;
    for (wsb::kit::MailTarget* target : mail_.take(all)) {
      Client& client = target->entry<Client>();
      if (!client.linger.lingering() && client.conn.collect_mail()) flush(client.socket, client);
    }
    if (!all) return;
    for (auto& [s, client] : clients_) {
      if (!client.linger.lingering() && client.conn.collect_mail()) flush(s, client);
    }
  }

  // Sends pending output until it is gone or the send buffer is full; a
  // partial send() leaves the rest queued in the Connection.
  void flush(SOCKET s, Client& client) noexcept {
    Connection& conn = client.conn;
    while (conn.want_write()) {
      const std::span<const char> pending = conn.pending();
      const std::ptrdiff_t n = wsb::net::send_some(s, pending);
      if (n < 0) {
        const int code = ::WSAGetLastError();
        // The send buffer is full, even right after select() said writable
        // (Wine bug 53486): keep the write interest and retry after the next
        // select().
        if (code != WSAEWOULDBLOCK) conn.on_error(classify_io_error(code));
        return;
      }
      conn.on_sent(static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < pending.size()) return;  // the send buffer is full
    }
  }

  // Idle timeouts, clean closes and lingering deadlines; closes what is done.
  void sweep(StatsShard& shard, Clock::time_point now) noexcept {
    for (auto it = clients_.begin(); it != clients_.end();) {
      const SOCKET s = it->first;
      Client& client = it->second;
      // expire_if_idle() counts the timeout and finishes the connection.
      if (!client.linger.lingering()) client.conn.expire_if_idle(now);
      if (client.linger.settle(s, client.conn, now, linger_timeout)) {
        close(s, shard, &client.conn);
        it = clients_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // `conn`: the socket's Connection, if it has one (for --log-connections).
  void close(SOCKET s, StatsShard& shard, const Connection* conn = nullptr) noexcept {
    frame_.release(shard, s, conn);
    ::closesocket(s);
    load_.fetch_sub(1, std::memory_order_relaxed);
  }

  Frame& frame_;
  WakeSocket wake_;
  // Chat: the group's connections that other threads posted mail to.
  wsb::kit::MailList mail_{[](void* self) noexcept { static_cast<Group*>(self)->wake(); }, this};
  std::atomic<int> load_{0};
  std::mutex mutex_;                            // guards incoming_
  std::vector<SOCKET> incoming_;                // handed over by the acceptor, not yet adopted
  std::unordered_map<SOCKET, Client> clients_;  // group thread only
  std::thread thread_;
};

// The main thread: accepts and distributes connections among the groups.
class SelectServer {
 public:
  SelectServer(Frame& frame, SOCKET listener) : frame_(frame), listener_(listener) {}

  // Any thread: interrupts the acceptor's select().
  void wake() noexcept { wake_.signal(); }

  void run() {
    StatsShard& shard = frame_.shard();
    try {
      for (int i = 0; i < frame_.options().threads; ++i)
        add_group();
      accept_loop(shard);
    } catch (...) {
      // The group threads run until a stop is requested: request one before
      // joining them, or the exception would wait for them forever.
      frame_.request_stop();
      stop_groups(shard);
      throw;
    }
    stop_groups(shard);
    ::closesocket(listener_);
  }

 private:
  void accept_loop(StatsShard& shard) {
    while (!frame_.stopping()) {
      const Clock::time_point now = Clock::now();
      fd_set readable;
      readable.fd_count = 0;
      add(readable, wake_.socket());
      const bool paused = now < accept_resume_;
      // --when-full queue: while --max-connections are online the listener
      // is left out and clients wait in its backlog; a release makes room and
      // signals the wake socket (kit/room.hpp). Meanwhile a tick looks for
      // waiting clients, to report their wait.
      const bool full = room_.full(listener_);
      if (!paused && !full) add(readable, listener_);
      // Without a pause the acceptor needs no timeout: only a client or the
      // wake socket has anything for it.
      timeval timeout = to_timeval(paused ? accept_resume_ - now : full_tick);
      if (::select(0, &readable, nullptr, nullptr, paused || full ? &timeout : nullptr) ==
          SOCKET_ERROR) {
        frame_.fail("select() failed: " + wsb::net::error_text(::WSAGetLastError()));
        break;
      }
      for (u_int i = 0; i < readable.fd_count; ++i) {
        if (readable.fd_array[i] == wake_.socket()) {
          wake_.clear();
        } else {
          accept_ready(shard);
        }
      }
    }
  }

  // After a stop request: wakes every group, joins it and closes the sockets
  // it never took up (the acceptor hands over nothing any more).
  void stop_groups(StatsShard& shard) noexcept {
    for (auto& group : groups_)
      group->wake();
    for (auto& group : groups_) {
      group->join();
      for (const SOCKET s : group->take_unadopted()) {
        frame_.release(shard, s);
        ::closesocket(s);
      }
    }
    groups_.clear();
  }

  // The listener is readable: accept until WSAEWOULDBLOCK (or, in queue
  // mode, until the server is full).
  void accept_ready(StatsShard& shard) {
    for (int i = 0; i < accepts_per_wake && frame_.has_room(); ++i) {
      const SOCKET s = ::accept(listener_, nullptr, nullptr);
      if (s == INVALID_SOCKET) {
        const int code = ::WSAGetLastError();
        if (code == WSAEWOULDBLOCK) return;
        const AcceptAction next = accept_policy_.handle(code, listener_, shard);
        if (next == AcceptAction::retry) continue;  // the client gave up while queued
        // The connection stays queued, so the listener stays readable and
        // select() would return at once forever: leave it out for a while.
        if (next == AcceptAction::pause) accept_resume_ = Clock::now() + AcceptPolicy::pause_for;
        return;
      }
      room_.accepted();
      if (!frame_.admit(shard, s)) {
        ::closesocket(s);
        continue;
      }
      // A select() server needs non-blocking sockets: "writable" only means
      // some room in the send buffer, and a larger blocking send() would stall
      // the whole group. Set explicitly rather than relying on inheritance
      // from the (non-blocking) listener.
      u_long non_blocking = 1;
      Group* group = nullptr;
      if (::ioctlsocket(s, FIONBIO, &non_blocking) != 0 || !wsb::net::set_nodelay(s)) {
        shard.error(classify_io_error(::WSAGetLastError()));
      } else if ((group = least_loaded()) == nullptr || !group->hand_over(s)) {
        // Every group is full and no other could be started, or memory ran
        // out: the process is out of resources.
        shard.error(ErrorClass::out_of_descriptors);
      } else {
        continue;
      }
      frame_.release(shard, s);
      ::closesocket(s);
    }
  }

  // The group with the fewest connections and room for one more; a new group
  // (and thread) when every group is full. nullptr if none can be started.
  Group* least_loaded() noexcept {
    Group* best = nullptr;
    int best_load = group_capacity;
    for (auto& group : groups_) {
      const int load = group->load();
      if (load < best_load) {
        best = group.get();
        best_load = load;
      }
    }
    if (best != nullptr) return best;
    try {
      return add_group();
    } catch (const std::exception&) {
      return nullptr;  // no thread, memory or wake socket for another group
    }
  }

  Group* add_group() {
    groups_.push_back(std::make_unique<Group>(frame_));
    try {
      groups_.back()->start();
    } catch (...) {
      groups_.pop_back();
      throw;
    }
    return groups_.back().get();
  }

  Frame& frame_;
  AcceptPolicy accept_policy_{frame_, "accept"};  // acceptor thread only
  const SOCKET listener_;
  WakeSocket wake_;
  wsb::kit::RoomWait room_{frame_, [this] { wake(); }};  // acceptor thread only
  std::vector<std::unique_ptr<Group>> groups_;           // acceptor thread only
  Clock::time_point accept_resume_{};
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "select",
       .description =
           "select() over groups of at most FD_SETSIZE (64) sockets, one thread per group (seeds "
           "000 and 003): the main thread accepts and hands each socket to the least-loaded "
           "group, starting another group thread when all are full; each group thread select()s "
           "on its own sockets, with write interest only while output is pending. One slot per "
           "group is a loopback UDP wake socket, so a group serves 63 clients. --threads sets "
           "how many groups start at once."},
      [](Frame& frame) {
        // Non-blocking, so that accepting until WSAEWOULDBLOCK drains the backlog.
        const SOCKET listener = frame.open_listener({.nonblocking = true});
        SelectServer server(frame, listener);
        frame.start([&server] { server.wake(); });
        server.run();
        return frame.finish();
      });
}
