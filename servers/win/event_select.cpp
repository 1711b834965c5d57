// WSAEventSelect: every socket gets an event object of its own, and a thread
// sleeps in WSAWaitForMultipleEvents until one of them is signalled.
//
// The sequence of calls:
//   listener:  WSAEventSelect(listener, ev, FD_ACCEPT)
//              wait -> WSAEnumNetworkEvents -> accept() until WSAEWOULDBLOCK
//   each peer: WSAEventSelect(s, own_ev, FD_READ | FD_WRITE | FD_CLOSE)
//              wait -> WSAEnumNetworkEvents -> recv()/send() -> wait ...
//
// WSAWaitForMultipleEvents takes at most WSA_MAXIMUM_WAIT_EVENTS (64) handles,
// so connections live in groups: one thread per group, whose slot 0 is a
// control event (new sockets arrived / stop) and whose other 63 slots are
// sockets. The accepting thread hands each new socket to the least loaded
// group with room and starts another group thread when every group is full.
// --threads N starts N group threads up front.
//
// Everything about the protocol lives in wsb::server::Connection; this file
// only moves bytes between sockets and Connections.
#include <winsock2.h>
#include <windows.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "platform/net.hpp"
#include "kit/hand_over.hpp"
#include "kit/event_group.hpp"
#include "kit/room.hpp"
#include "kit/winsock.hpp"
#include "server/model_names.hpp"

namespace {

using namespace wsb::server::model;
using wsb::kit::failure;

// One wait covers 64 handles; slot 0 of every group is its control event.
constexpr std::size_t kSocketsPerGroup = WSA_MAXIMUM_WAIT_EVENTS - 1;
// How often a group thread wakes up without network events: it expires idle
// connections, ends lingering closes and retries sends that wait for an
// FD_WRITE which Wine may never deliver (see Group::housekeeping).
constexpr auto kTick = std::chrono::milliseconds(100);
// How long a connection we closed (shutdown(SD_SEND)) may take to send its FIN
// back before the socket is closed anyway.
constexpr auto kLingerLimit = std::chrono::seconds(2);
// How long the accepting thread waits for FD_ACCEPT before it calls accept()
// anyway. Windows re-enables FD_ACCEPT with every accept() call, even one
// that fails (Microsoft's WSAEventSelect page), so there this only bounds the
// cost of a lost notification. Wine re-enables it only when accept()
// succeeds (server/sock.c clears the reported AFD_POLL_ACCEPT in
// accept_socket() alone): after a failed accept() no FD_ACCEPT comes again
// until some accept() succeeds, and a model that waited without a timeout
// would never accept again (fault.win-event-select's ConnectionFlood once
// saw 5 of 8 clients accepted and the rest left queued for 40 s).
constexpr DWORD accept_wait_ms = 100;
// Data is copied into the Connection at once, so one receive buffer per
// thread suffices.
constexpr int kReceiveBuffer = 64 * 1024;

// One connection of a group: its socket, its event and its protocol state.
struct Slot {
  Slot(Frame& frame, StatsShard& shard, SOCKET s, wsb::kit::MailList& mail_list)
      : socket(s), mail(mail_list, this), connection(frame, shard) {
    mail.watch(connection);
  }

  SOCKET socket;
  // A manual-reset WSAEVENT, closed with its owner: it stays signalled until
  // WSAEnumNetworkEvents (or WSAResetEvent) resets it, so waiting on it again
  // never loses a notification.
  wsb::kit::Event event;
  // Chat: this connection's place on the group's mail list; before the
  // Connection, so that it outlives it (kit/mail_list.hpp).
  wsb::kit::MailTarget mail;
  Connection connection;
  // FD_READ was reported and recv() has not been called since. Winsock posts
  // FD_READ again only after the next recv(), so a notification that arrives
  // while backpressure stops reading must be remembered here and answered
  // with a recv() once the output has drained.
  bool read_signalled = false;
  // FD_CLOSE (graceful) was reported: the peer's FIN is in, and no further
  // notification will come, so reading continues until recv() returns 0.
  bool fin_reported = false;
  // recv() returned 0.
  bool eof = false;
  // send() failed with WSAEWOULDBLOCK: the next send waits for FD_WRITE, which
  // Winsock posts once buffer space frees up.
  bool write_blocked = false;
  Clock::time_point blocked_since;
  // We sent our FIN after the last reply and discard input until the peer's
  // FIN arrives, so that closesocket() does not reset a connection with
  // unread data (which could destroy the replies still in flight).
  bool lingering = false;
  Clock::time_point linger_deadline;
  // The socket is closed; the slot is removed from the arrays after the
  // current pass over the signalled events.
  bool closed = false;
};

// A group thread: up to 63 sockets and one control event in one wait (the
// wait loop and the hand-over are kit/event_group.hpp's).
class Group final : public wsb::kit::EventGroup {
 public:
  Group(Frame& frame, StatsShard& shard)
      : EventGroup(frame, shard, kTick), buffer_(std::make_unique<char[]>(kReceiveBuffer)) {
    start();
  }
  ~Group() override { stop_and_join(); }

 private:
  DWORD event_count() const noexcept override { return static_cast<DWORD>(1 + slots_.size()); }
  void adopt(const wsb::kit::Accepted& a) override;
  // Slot i + 1 of the wait is the event of slots_[i].
  void serve(DWORD index) override { service(*slots_[index - 1], events_[index]); }
  void housekeeping(Clock::time_point now) override;
  void compact() override {
    wsb::kit::compact_group(slots_, events_, 1, [](const Slot& s) { return s.closed; });
  }
  void close_all() noexcept override;
  void deliver_mail(wsb::kit::MailTarget& target) override { deliver(target.entry<Slot>()); }
  void deliver_all_mail() override {
    for (auto& slot : slots_)
      deliver(*slot);
  }

  void service(Slot& s, WSAEVENT event);
  void deliver(Slot& s);
  void progress(Slot& s);
  enum class Received { data, eof, would_block, failed };
  Received receive_once(Slot& s);
  void flush(Slot& s);
  void finish(Slot& s);
  void discard_input(Slot& s);
  void close(Slot& s);

  // Group thread only; events_[i + 1] is slots_[i]->event.
  std::vector<std::unique_ptr<Slot>> slots_;
  std::unique_ptr<char[]> buffer_;
};

void Group::adopt(const wsb::kit::Accepted& a) {
  const SOCKET s = a.socket;
  std::unique_ptr<Slot> slot;
  try {
    slot = std::make_unique<Slot>(frame_, shard_, s, mail_);
  } catch (...) {
    // Out of memory or out of event objects: this connection cannot be served.
    drop(s, true);
    return;
  }
  // An accepted socket inherits the listener's WSAEventSelect registration
  // (FD_ACCEPT on the listener's event) and its non-blocking mode. This call
  // replaces the registration with the socket's own event and events. If data
  // is already waiting, or the socket is writable (it is, after accept),
  // Winsock records FD_READ/FD_WRITE at once, so nothing that arrived before
  // is missed.
  if (::WSAEventSelect(s, slot->event.get(), FD_READ | FD_WRITE | FD_CLOSE) == SOCKET_ERROR) {
    slot->connection.on_error(classify_io_error(::WSAGetLastError()));
    close(*slot);
    return;
  }
  events_[1 + slots_.size()] = slot->event.get();
  slots_.push_back(std::move(slot));
}

void Group::service(Slot& s, WSAEVENT event) {
  if (s.closed) return;
  // WSAEnumNetworkEvents returns the events recorded since the last call and
  // resets both the record and the event object, in one call.
  WSANETWORKEVENTS ne{};
  if (::WSAEnumNetworkEvents(s.socket, event, &ne) == SOCKET_ERROR) {
    s.connection.on_error(classify_io_error(::WSAGetLastError()));
    close(s);
    return;
  }
  // Each event carries its own error code; a non-zero one (e.g. WSAECONNRESET
  // or WSAECONNABORTED with FD_CLOSE) ends the connection.
  int error = 0;
  if ((ne.lNetworkEvents & FD_READ) != 0) {
    if (ne.iErrorCode[FD_READ_BIT] != 0) error = ne.iErrorCode[FD_READ_BIT];
    s.read_signalled = true;
  }
  if ((ne.lNetworkEvents & FD_WRITE) != 0) {
    if (ne.iErrorCode[FD_WRITE_BIT] != 0) error = ne.iErrorCode[FD_WRITE_BIT];
    s.write_blocked = false;
  }
  if ((ne.lNetworkEvents & FD_CLOSE) != 0) {
    if (ne.iErrorCode[FD_CLOSE_BIT] != 0) error = ne.iErrorCode[FD_CLOSE_BIT];
    s.fin_reported = true;
  }
  if (error != 0) {
    // A connection we already finished gets no error counted: its exchange
    // was complete, and a reset after our FIN is the peer's business.
    if (!s.lingering) s.connection.on_error(classify_io_error(error));
    close(s);
    return;
  }
  if (s.lingering) {
    discard_input(s);
  } else {
    progress(s);
  }
}

// Chat: other users' messages wait in the connection's outbox; the thread
// that posted them set the control event (kit/event_group.hpp). They are
// sent at once, unless send() already waits for FD_WRITE.
void Group::deliver(Slot& s) {
  if (s.closed || s.lingering || !s.connection.collect_mail()) return;
  if (!s.write_blocked && s.connection.want_write()) flush(s);
  if (s.connection.finished()) finish(s);
}

// Moves bytes in both directions until the socket has nothing more to offer
// right now. One recv() per FD_READ keeps a chatty peer from monopolising the
// thread: if more data is waiting, that recv() makes Winsock post FD_READ
// again, and the socket is served again in the next pass.
void Group::progress(Slot& s) {
  for (;;) {
    Received received = Received::data;
    if ((s.read_signalled || s.fin_reported) && s.connection.want_read()) {
      s.read_signalled = false;
      received = receive_once(s);
    }
    if (!s.write_blocked && s.connection.want_write()) flush(s);
    if (s.connection.finished()) {
      finish(s);
      return;
    }
    if (received == Received::would_block) return;
    // Go round again only while there is input that may be read now: a
    // deferred FD_READ whose backpressure the flush just lifted, or the rest
    // of the data before a reported FIN (bounded: the peer sends no more).
    if (!((s.read_signalled || s.fin_reported) && s.connection.want_read())) return;
  }
}

Group::Received Group::receive_once(Slot& s) {
  const int n = ::recv(s.socket, buffer_.get(), kReceiveBuffer, 0);
  if (n > 0) {
    s.connection.on_received({buffer_.get(), static_cast<std::size_t>(n)});
    return Received::data;
  }
  if (n == 0) {
    // Wine 8 reports a peer's reset like a FIN: FD_CLOSE with error 0, then
    // recv() returns 0. A zero-byte send() tells the two apart
    // (error_after_end_of_stream); only a reset ends the connection here, any
    // other failure of the probe reads as the FIN.
    if (const int code = wsb::kit::error_after_end_of_stream(s.socket); wsb::net::is_reset(code)) {
      s.connection.on_error(classify_io_error(code));
      return Received::failed;
    }
    s.eof = true;
    s.fin_reported = false;
    s.connection.on_peer_closed();
    return Received::eof;
  }
  const int code = ::WSAGetLastError();
  // Winsock can report FD_READ and then have nothing to read (for instance
  // after two recv() calls for one notification); that is not an error.
  if (code == WSAEWOULDBLOCK) return Received::would_block;
  s.connection.on_error(classify_io_error(code));
  return Received::failed;
}

// send() until everything queued is out or the socket buffer is full. A
// partial send is normal on a non-blocking socket: on_sent() consumes what
// went out and the loop offers the rest.
void Group::flush(Slot& s) {
  while (s.connection.want_write()) {
    const auto out = s.connection.pending();
    const int length = static_cast<int>(std::min<std::size_t>(out.size(), INT_MAX));
    const int n = ::send(s.socket, out.data(), length, 0);
    if (n == SOCKET_ERROR) {
      const int code = ::WSAGetLastError();
      if (code == WSAEWOULDBLOCK) {
        // From here on only FD_WRITE (or a housekeeping retry) resumes sending.
        s.write_blocked = true;
        s.blocked_since = Clock::now();
      } else {
        s.connection.on_error(classify_io_error(code));
      }
      return;
    }
    s.connection.on_sent(static_cast<std::size_t>(n));
  }
}

// The Connection is finished: all replies are out (or it failed).
void Group::finish(Slot& s) {
  if (s.connection.failed() || s.eof) {
    // A failed connection is closed at once. After the peer's FIN there is
    // nothing left to read, so a graceful close needs no lingering either.
    if (!s.connection.failed()) ::shutdown(s.socket, SD_SEND);
    close(s);
    return;
  }
  // We end the connection (e.g. HTTP "Connection: close" or a protocol
  // error): send our FIN behind the replies, then read and discard until the
  // peer's FIN, so that unread input does not turn closesocket() into a reset.
  ::shutdown(s.socket, SD_SEND);
  s.lingering = true;
  s.linger_deadline = Clock::now() + kLingerLimit;
  discard_input(s);
}

void Group::discard_input(Slot& s) {
  // A few reads per notification, as in progress(): FD_READ comes again if
  // the peer keeps sending.
  for (int i = 0; i < 4; ++i) {
    const int n = ::recv(s.socket, buffer_.get(), kReceiveBuffer, 0);
    if (n > 0) continue;
    if (n == SOCKET_ERROR && ::WSAGetLastError() == WSAEWOULDBLOCK) return;
    close(s);  // the peer's FIN (n == 0) or a reset: done either way
    return;
  }
}

void Group::close(Slot& s) {
  // closesocket() also cancels the WSAEventSelect registration. The event
  // itself is closed when the slot is destroyed in compact(), after the pass
  // that may still look at its index.
  frame_.release(shard_, s.socket, &s.connection);  // before closesocket(): see Frame::release
  ::closesocket(s.socket);
  s.closed = true;
  inbox_.closed();
}

void Group::housekeeping(Clock::time_point now) {
  for (auto& slot : slots_) {
    Slot& s = *slot;
    if (s.closed) continue;
    if (s.lingering) {
      if (now >= s.linger_deadline) close(s);
      continue;
    }
    if (s.connection.expire_if_idle(now)) {
      close(s);
      continue;
    }
    // Wine does not always re-arm FD_WRITE after send() failed with
    // WSAEWOULDBLOCK (stalls of about a second are reported up to Wine 11),
    // and a FIN reported by FD_CLOSE could meet a recv() that says
    // WSAEWOULDBLOCK. Retrying instead of trusting the notification alone
    // costs one failed send() per blocked socket per tick on Windows.
    const bool send_stuck = s.write_blocked && now - s.blocked_since >= kTick;
    if (send_stuck) s.write_blocked = false;
    if (send_stuck || s.fin_reported) progress(s);
  }
}

// Stop: every connection is closed where it stands (nothing is pending in the
// kernel on behalf of this model, so closesocket() completes the job); the
// sockets handed over but not yet adopted are the kit's to close.
void Group::close_all() noexcept {
  for (auto& slot : slots_) {
    if (!slot->closed) close(*slot);
  }
  slots_.clear();
}

// The accepting thread's side: a listener registered for FD_ACCEPT.
class Acceptor {
 public:
  // stop_event is set by the frame's wake callback; it belongs to main() so
  // that it outlives every call of that callback.
  Acceptor(Frame& frame, SOCKET listener, WSAEVENT stop_event, int initial_groups)
      : frame_(frame),
        listener_(listener),
        stop_event_(stop_event),
        shard_(frame.shard()),
        groups_(frame, kSocketsPerGroup, initial_groups) {
    // The listener joins the event model too. WSAEventSelect also makes it
    // non-blocking, which accept() below relies on.
    if (::WSAEventSelect(listener_, listen_event_.get(), FD_ACCEPT) == SOCKET_ERROR) {
      throw wsb::net::NetError(::WSAGetLastError(), failure("WSAEventSelect(listener)"));
    }
  }

  void run() {
    // The stop event is slot 0, so a stop wins over pending connections.
    const WSAEVENT events[2] = {stop_event_, listen_event_.get()};
    for (;;) {
      // --when-full queue: while --max-connections are online the listener
      // is left alone and new clients wait in its backlog (kit/room.hpp).
      if (!room_.wait(stop_event_, listener_)) break;
      const DWORD rc = ::WSAWaitForMultipleEvents(2, events, FALSE, accept_wait_ms, FALSE);
      if (rc == WSA_WAIT_FAILED) {
        frame_.fail(failure("WSAWaitForMultipleEvents()"));
        break;
      }
      if (rc == WSA_WAIT_EVENT_0 || frame_.stopping()) break;
      if (rc == WSA_WAIT_TIMEOUT) {
        // No FD_ACCEPT for a while: try anyway (see accept_wait_ms). On an
        // empty backlog this costs one accept() that says WSAEWOULDBLOCK.
        accept_pending();
        continue;
      }
      WSANETWORKEVENTS ne{};
      if (::WSAEnumNetworkEvents(listener_, listen_event_.get(), &ne) == SOCKET_ERROR) {
        frame_.fail(failure("WSAEnumNetworkEvents(listener)"));
        break;
      }
      if ((ne.lNetworkEvents & FD_ACCEPT) == 0) continue;
      // An error reported with FD_ACCEPT is counted, but accept() is called
      // all the same: only accept() re-enables FD_ACCEPT, so skipping it
      // would leave the connections behind it unaccepted forever.
      if (ne.iErrorCode[FD_ACCEPT_BIT] != 0) {
        shard_.error(classify_accept_error(ne.iErrorCode[FD_ACCEPT_BIT]));
      }
      accept_pending();
    }
    // No more hand-overs from here on; each group closes its sockets and its
    // thread is joined.
    groups_.stop_all();
  }

 private:
  // accept() re-enables FD_ACCEPT, so draining the backlog until
  // WSAEWOULDBLOCK and waiting again cannot miss a connection.
  void accept_pending() {
    while (!frame_.stopping() && frame_.has_room()) {
      const SOCKET s = ::accept(listener_, nullptr, nullptr);
      if (s == INVALID_SOCKET) {
        const int code = ::WSAGetLastError();
        if (code == WSAEWOULDBLOCK) return;
        const AcceptAction next = accept_policy_.handle(code, listener_, shard_);
        if (next == AcceptAction::retry) continue;  // the client gave up while queued
        if (next == AcceptAction::pause) {
          // The pending connection stays in the backlog and FD_ACCEPT comes
          // straight back: pause instead of spinning (a stop ends the pause).
          ::WSAWaitForMultipleEvents(1, &stop_event_, FALSE,
                                     static_cast<DWORD>(AcceptPolicy::pause_for.count()), FALSE);
        }
        return;  // after a fatal failure the frame's stop sets the stop event
      }
      room_.accepted();
      wsb::kit::admit_and_hand_over(frame_, shard_, s, [this](SOCKET admitted) {
        groups_.with_room().assign(wsb::kit::Accepted{admitted, {}});
        return true;
      });
    }
  }

  Frame& frame_;
  AcceptPolicy accept_policy_{frame_, "accept"};
  SOCKET listener_;
  WSAEVENT stop_event_;
  StatsShard& shard_;
  wsb::kit::Event listen_event_;
  wsb::kit::RoomWait room_{frame_};
  wsb::kit::GroupPool<Group> groups_;
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "event-select",
       .description =
           "WSAEventSelect: one event object per socket; each thread waits for up to 63 sockets "
           "plus a control event with WSAWaitForMultipleEvents and serves every signalled one. "
           "--threads N starts N group threads; more are added as groups fill up."},
      [](Frame& frame) {
        const SOCKET listener = frame.open_listener({.nonblocking = true});
        const wsb::kit::Event stop_event;
        {
          Acceptor acceptor(frame, listener, stop_event.get(), frame.options().threads);
          frame.start([&stop_event] { ::WSASetEvent(stop_event.get()); });
          acceptor.run();
        }
        ::closesocket(listener);
        return frame.finish();
      });
}
