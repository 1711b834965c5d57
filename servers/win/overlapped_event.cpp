// Overlapped I/O with event notification: the kernel reads and writes the
// application's buffers after the call returned, and signals an event object
// when an operation is complete.
//
// The sequence of calls:
//   listener:  WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER) -> AcceptEx
//              AcceptEx(listener, new_socket, ..., &overlapped)   x 8
//              wait -> WSAGetOverlappedResult -> setsockopt(SO_UPDATE_ACCEPT_CONTEXT)
//              -> GetAcceptExSockaddrs -> hand the socket to a group -> AcceptEx again
//              (the accepting side is kit/event_acceptor.hpp, shared with
//              server-overlapped-routine, whose AcceptEx calls signal events too)
//   each peer: WSARecv(&receive.overlapped)  [WSASend(&send.overlapped) when replies wait]
//              wait -> WSAGetOverlappedResult(fWait = FALSE) -> WSAResetEvent
//              -> feed the Connection -> WSARecv/WSASend again
//
// Every operation has its own WSAOVERLAPPED, buffer and manual-reset event,
// and WSAWaitForMultipleEvents watches at most 64 events. A group thread
// therefore serves 31 connections (a receive and a send event each) plus its
// control event; the accepting thread adds group threads as groups fill.
// --threads N starts N group threads up front.
//
// Everything about the protocol lives in wsb::server::Connection; this file
// only moves bytes between sockets and Connections.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <mswsock.h>

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
#include "kit/event_acceptor.hpp"
#include "kit/frame_acceptor.hpp"
#include "kit/event_group.hpp"
#include "kit/overlapped_peer.hpp"
#include "kit/winsock.hpp"
#include "server/model_names.hpp"

namespace {

using namespace wsb::server::model;

// Slot 0 of every wait is the control event; each connection needs two more.
constexpr std::size_t kPeersPerGroup = (WSA_MAXIMUM_WAIT_EVENTS - 1) / 2;
// Without completions a group thread still wakes this often to expire idle
// connections and end lingering closes.
constexpr auto kTick = std::chrono::milliseconds(100);
// One overlapped operation: its WSAOVERLAPPED and the event it signals. The
// structure must stay where it is, untouched, from the call that starts the
// operation until its completion has been harvested: the kernel writes the
// result into it.
struct Operation {
  Operation() { overlapped.hEvent = event.get(); }
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  // The fields other than hEvent must be zero when an operation starts.
  WSAOVERLAPPED* prepare() noexcept {
    overlapped = WSAOVERLAPPED{};
    overlapped.hEvent = event.get();
    return &overlapped;
  }

  // A manual-reset WSAEVENT closed with its owner. Manual reset matters: the
  // event stays signalled until WSAResetEvent, so a completion is never lost
  // between two waits.
  wsb::kit::Event event;
  WSAOVERLAPPED overlapped{};
  bool in_flight = false;
};

// The connection's state and the completions' effect on it are the kit's
// (kit/overlapped_peer.hpp, shared with server-overlapped-routine); what is
// this model's is an event per operation.
struct Peer : wsb::kit::OverlappedPeer {
  Peer(Frame& frame, StatsShard& shard, const wsb::kit::Accepted& a, wsb::kit::MailList& mail_list)
      : OverlappedPeer(frame, shard, a.socket, a.peer, mail_list) {}

  Operation receive;
  Operation send;
};

// A group thread: up to 31 connections, i.e. 62 operation events, and one
// control event in one wait (the wait loop and the hand-over are
// kit/event_group.hpp's).
class Group final : public wsb::kit::EventGroup {
 public:
  Group(Frame& frame, StatsShard& shard) : EventGroup(frame, shard, kTick) { start(); }
  ~Group() override { stop_and_join(); }

 private:
  // peers_[k] owns events_[1 + 2k] (receive) and events_[2 + 2k] (send), so a
  // wait result maps to its operation without a search.
  DWORD event_count() const noexcept override { return static_cast<DWORD>(1 + 2 * peers_.size()); }
  void adopt(const wsb::kit::Accepted& a) override;
  void serve(DWORD index) override {
    Peer& p = *peers_[(index - 1) / 2];
    const bool is_receive = (index - 1) % 2 == 0;
    complete(p, is_receive ? p.receive : p.send, is_receive);
  }
  void housekeeping(Clock::time_point now) override;
  void compact() override {
    wsb::kit::compact_group(peers_, events_, 2,
                            [](const Peer& p) { return p.state == Peer::State::closed; });
  }
  void close_all() noexcept override;
  // Chat: the thread that posted other users' messages to a connection set
  // the control event (kit/event_group.hpp); a WSASend takes them out.
  void deliver_mail(wsb::kit::MailTarget& target) override {
    Peer& p = static_cast<Peer&>(target.entry<wsb::kit::OverlappedPeer>());
    if (p.collect_mail()) pump(p);
  }
  void deliver_all_mail() override {
    for (auto& peer : peers_) {
      if (peer->collect_mail()) pump(*peer);
    }
  }

  void complete(Peer& p, Operation& op, bool is_receive);
  void on_received(Peer& p, bool ok, DWORD bytes, int error);
  void on_sent(Peer& p, DWORD bytes, int error);
  void pump(Peer& p);
  bool post_receive(Peer& p);
  void post_send(Peer& p);
  void finish(Peer& p);
  void close(Peer& p);
  void reap(Peer& p);

  // Group thread only.
  std::vector<std::unique_ptr<Peer>> peers_;
};

void Group::adopt(const wsb::kit::Accepted& a) {
  std::unique_ptr<Peer> peer;
  try {
    peer = std::make_unique<Peer>(frame_, shard_, a, mail_);
  } catch (...) {
    // Out of memory or out of event objects: this connection cannot be served.
    drop(a.socket, true);
    return;
  }
  const std::size_t k = peers_.size();
  events_[1 + 2 * k] = peer->receive.event.get();
  events_[2 + 2 * k] = peer->send.event.get();
  peers_.push_back(std::move(peer));
  pump(*peers_.back());
}

void Group::complete(Peer& p, Operation& op, bool is_receive) {
  if (p.state == Peer::State::closed) return;
  if (!op.in_flight) {
    // Not expected (an idle operation's event was reset when it was
    // harvested); resetting keeps a stray signal from spinning the wait.
    ::WSAResetEvent(op.event.get());
    return;
  }
  // fWait = FALSE: the event said the operation is done, so this only reads
  // the result. An operation that completed at once (WSARecv returned 0)
  // signalled its event as well and lands here like any other.
  DWORD bytes = 0;
  DWORD flags = 0;
  const BOOL ok = ::WSAGetOverlappedResult(p.socket, &op.overlapped, &bytes, FALSE, &flags);
  const int error = ok ? 0 : ::WSAGetLastError();
  if (!ok && error == WSA_IO_INCOMPLETE) return;
  // Reset now, not only before the next post: an operation that is not posted
  // again at once (a send with nothing to send) must not leave its event
  // signalled, or every wait would return at once. This is also the reset
  // before the re-post, which must happen before the call that starts the
  // next operation, never after it (that could swallow its completion).
  ::WSAResetEvent(op.event.get());
  op.in_flight = false;
  if (p.state == Peer::State::closing) {
    // The result of an operation cancelled on the way out does not matter.
    reap(p);
    return;
  }
  if (is_receive) {
    on_received(p, ok != FALSE, bytes, error);
  } else {
    on_sent(p, bytes, error);
  }
}

void Group::on_received(Peer& p, bool ok, DWORD bytes, int error) {
  if (p.state == Peer::State::lingering) {
    // Dropping input until the peer's FIN (0 bytes) or an error ends it.
    if (!ok || bytes == 0 || !post_receive(p)) close(p);
    return;
  }
  p.received(error, bytes);
  pump(p);
}

void Group::on_sent(Peer& p, DWORD bytes, int error) {
  p.sent(error, bytes);
  pump(p);
}

// Starts whatever the Connection wants and no operation of that kind is in
// flight: at most one WSARecv and one WSASend per socket.
void Group::pump(Peer& p) {
  if (p.state != Peer::State::open) return;
  if (!p.send.in_flight && p.connection.want_write()) post_send(p);
  // want_read() is false while more than --max-pending reply bytes wait:
  // no receive is posted until the sends have drained them (backpressure).
  // A failed post is counted on the Connection, which is then finished.
  if (!p.receive.in_flight && p.connection.want_read()) post_receive(p);
  if (p.connection.finished()) finish(p);
}

bool Group::post_receive(Peer& p) {
  WSABUF buffer{wsb::kit::overlapped_receive_buffer, p.buffer.get()};
  DWORD flags = 0;
  p.receive.in_flight = true;
  // lpNumberOfBytesRecvd is null: with an OVERLAPPED the count comes from
  // WSAGetOverlappedResult, also for an immediate success.
  if (::WSARecv(p.socket, &buffer, 1, nullptr, &flags, p.receive.prepare(), nullptr) ==
      SOCKET_ERROR) {
    const int code = ::WSAGetLastError();
    if (code != WSA_IO_PENDING) {
      // No completion will come for a call that failed like this.
      p.receive.in_flight = false;
      if (p.state == Peer::State::open) p.connection.on_error(classify_io_error(code));
      return false;
    }
  }
  return true;
}

void Group::post_send(Peer& p) {
  // begin_send() freezes the bytes in a block of their own: receives that
  // complete while this send is in flight queue their replies elsewhere, so
  // the memory the kernel is reading never moves.
  WSABUF buffer = wsb::kit::send_buffer(p.connection.begin_send());
  p.send.in_flight = true;
  if (::WSASend(p.socket, &buffer, 1, nullptr, 0, p.send.prepare(), nullptr) == SOCKET_ERROR) {
    const int code = ::WSAGetLastError();
    if (code != WSA_IO_PENDING) {
      p.send.in_flight = false;
      p.connection.on_error(classify_io_error(code));
    }
  }
}

// The Connection is finished: close at once, or linger with a receive posted
// to drop input until the peer's FIN (OverlappedPeer::finish).
void Group::finish(Peer& p) {
  if (p.finish() || (!p.receive.in_flight && !post_receive(p))) close(p);
}

// Closes the connection once nothing is in flight. Operations still in flight
// are cancelled; their completions (WSA_OPERATION_ABORTED) arrive through the
// usual events, and only then are the OVERLAPPEDs and buffers given up.
//
// CancelIoEx rather than closesocket() first: WSAGetOverlappedResult needs a
// valid socket handle to read a result, and after closesocket() the handle
// may even name a newly accepted socket.
void Group::close(Peer& p) {
  if (p.state == Peer::State::closing || p.state == Peer::State::closed) return;
  p.state = Peer::State::closing;
  if (p.receive.in_flight || p.send.in_flight) {
    ::CancelIoEx(reinterpret_cast<HANDLE>(p.socket), nullptr);
  }
  reap(p);
}

void Group::reap(Peer& p) {
  if (p.receive.in_flight || p.send.in_flight) return;
  frame_.release(shard_, p.socket, &p.connection);  // before closesocket(): see Frame::release
  ::closesocket(p.socket);
  p.state = Peer::State::closed;
  inbox_.closed();
}

void Group::housekeeping(Clock::time_point now) {
  for (auto& peer : peers_) {
    if (peer->due_to_close(now)) close(*peer);
  }
}

// Stop: cancel every operation of every connection first, so they all wind
// down together, then wait for each one's completion before its OVERLAPPED
// and buffer are freed and its socket closed.
void Group::close_all() noexcept {
  for (auto& peer : peers_) {
    Peer& p = *peer;
    if (p.state != Peer::State::closed && (p.receive.in_flight || p.send.in_flight)) {
      ::CancelIoEx(reinterpret_cast<HANDLE>(p.socket), nullptr);
    }
  }
  for (auto& peer : peers_) {
    Peer& p = *peer;
    if (p.state == Peer::State::closed) continue;
    for (Operation* op : {&p.receive, &p.send}) {
      if (!op->in_flight) continue;
      const WSAEVENT event = op->event.get();
      ::WSAWaitForMultipleEvents(1, &event, TRUE, WSA_INFINITE, FALSE);
      op->in_flight = false;
    }
    frame_.release(shard_, p.socket, &p.connection);
    ::closesocket(p.socket);
    p.state = Peer::State::closed;
    inbox_.closed();
  }
  peers_.clear();
}

// The accepting thread: EventAcceptor::posted_accepts AcceptEx calls, each
// signalling an event of its own, and the stop event in one wait. The
// mechanics (posting, WSAGetOverlappedResult, SO_UPDATE_ACCEPT_CONTEXT,
// GetAcceptExSockaddrs, cancelling at the stop) are in
// kit/event_acceptor.hpp, shared with server-overlapped-routine;
// this class decides what an accepted socket becomes: admitted, it goes to
// the least loaded group.
class Acceptor final : wsb::kit::FrameAcceptorHandler {
 public:
  Acceptor(Frame& frame, SOCKET listener, int initial_groups)
      : FrameAcceptorHandler(frame, listener), groups_(frame, kPeersPerGroup, initial_groups) {}

  void run(WSAEVENT stop_event) {
    accept_until(stop_event);
    // No more hand-overs from here on; each group cancels its operations,
    // waits for them, closes its sockets, and its thread is joined.
    groups_.stop_all();
  }

 private:
  bool hand_over(SOCKET s, const wsb::net::Endpoint& peer) override {
    groups_.with_room().assign(wsb::kit::Accepted{s, peer});
    return true;
  }

  wsb::kit::GroupPool<Group> groups_;
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "overlapped-event",
       .description =
           "Overlapped I/O with event notification: AcceptEx, WSARecv and WSASend with a "
           "WSAOVERLAPPED and a manual-reset event per operation; each thread waits for up to 31 "
           "connections (62 operation events plus a control event). --threads N starts N group "
           "threads; more are added as groups fill up."},
      &wsb::kit::accept_until_stopped<Acceptor>);
}
