// Overlapped I/O with event notification: the kernel reads and writes the
// application's buffers after the call returned, and signals an event object
// when an operation is complete.
//
// The sequence of calls:
//   listener:  WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER) -> AcceptEx
//              AcceptEx(listener, new_socket, ..., &overlapped)   x 8
//              wait -> WSAGetOverlappedResult -> setsockopt(SO_UPDATE_ACCEPT_CONTEXT)
//              -> GetAcceptExSockaddrs -> hand the socket to a group -> AcceptEx again
//              (the accepting side is platform/win/event_acceptor.hpp, shared with
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
#include "kit/group_inbox.hpp"
#include "kit/winsock.hpp"
#include "server/model_names.hpp"

namespace {

using namespace wsb::server::model;
using wsb::kit::admit_and_hand_over;
using wsb::net::Endpoint;
// A manual-reset WSAEVENT closed with its owner. Manual reset matters: the
// event stays signalled until WSAResetEvent, so a completion is never lost
// between two waits.
using wsb::kit::Event;
using wsb::kit::EventAcceptor;
using wsb::kit::failure;
using wsb::kit::GroupInbox;
using wsb::kit::wait_and_serve;

// Slot 0 of every wait is the control event; each connection needs two more.
constexpr std::size_t kPeersPerGroup = (WSA_MAXIMUM_WAIT_EVENTS - 1) / 2;
// Each connection owns its receive buffer: the kernel fills it while the
// thread does other things, so it cannot be shared.
constexpr ULONG kReceiveBuffer = 16 * 1024;
// The largest block handed to one WSASend. The kernel locks the pages of an
// overlapped send's buffer until it completes; a bound keeps that moderate.
constexpr std::size_t kMaxSendBlock = 1024 * 1024;
// Without completions a group thread still wakes this often to expire idle
// connections and end lingering closes.
constexpr auto kTick = std::chrono::milliseconds(100);
// How long a connection we closed (shutdown(SD_SEND)) may take to send its
// FIN back before the socket is closed anyway.
constexpr auto kLingerLimit = std::chrono::seconds(2);

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

  Event event;
  WSAOVERLAPPED overlapped{};
  bool in_flight = false;
};

struct Accepted {
  SOCKET socket;
  Endpoint peer;
};

struct Peer {
  Peer(Frame& frame, StatsShard& shard, const Accepted& a)
      : socket(a.socket),
        address(a.peer),
        connection(frame, shard),
        buffer(std::make_unique<char[]>(kReceiveBuffer)) {}

  enum class State {
    open,
    lingering,  // our FIN is sent; input is read and dropped until the peer's FIN
    closing,    // waiting for the operations in flight to complete, then closesocket()
    closed,     // socket closed; the Peer leaves the arrays after the current pass
  };

  SOCKET socket;
  // The peer's address as AcceptEx delivered it (for a debugger: this is how
  // an AcceptEx server learns who connected; nothing in the model needs it).
  Endpoint address;
  Connection connection;
  Operation receive;
  Operation send;
  std::unique_ptr<char[]> buffer;  // the receive buffer
  State state = State::open;
  bool eof = false;  // a receive completed with 0 bytes
  Clock::time_point linger_deadline;
};

// A group thread: up to 31 connections, i.e. 62 operation events, and one
// control event in one wait.
class Group {
 public:
  Group(Frame& frame, StatsShard& shard) : frame_(frame), shard_(shard) {
    events_[0] = inbox_.event();
    thread_ = std::thread([this] { run(); });
  }
  ~Group() {
    request_stop();
    thread_.join();
    // Sockets assigned after the thread ended early (after frame.fail()) are
    // closed here; the thread is gone, so its shard is ours.
    close_inbox();
  }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  // Accepting thread only: connections assigned and not yet closed.
  std::size_t load() const noexcept { return inbox_.load(); }
  // Accepting thread only. Throws std::bad_alloc.
  void assign(const Accepted& a) { inbox_.assign(a); }
  // Accepting thread, after it stopped accepting.
  void request_stop() noexcept { inbox_.request_stop(); }

 private:
  void run() noexcept;
  void serve_event(DWORD index);
  void take_inbox();
  void complete(Peer& p, Operation& op, bool is_receive);
  void on_received(Peer& p, bool ok, DWORD bytes, int error);
  void on_sent(Peer& p, bool ok, DWORD bytes, int error);
  void pump(Peer& p);
  bool post_receive(Peer& p);
  void post_send(Peer& p);
  void finish(Peer& p);
  void close(Peer& p);
  void reap(Peer& p);
  void housekeeping(Clock::time_point now);
  void compact();
  void cancel_and_wait_all();
  void close_inbox();

  Frame& frame_;
  StatsShard& shard_;
  // Sockets handed over by the accepting thread, and the control event.
  GroupInbox<Accepted> inbox_;
  // Group thread only. events_[0] is the control event; peers_[k] owns events_[1 + 2k]
  // (receive) and events_[2 + 2k] (send), so a wait result maps to its
  // operation without a search.
  WSAEVENT events_[WSA_MAXIMUM_WAIT_EVENTS]{};
  std::vector<std::unique_ptr<Peer>> peers_;
  std::thread thread_;  // last: starts after every other member exists
};

void Group::run() noexcept {
  auto next_tick = Clock::now() + kTick;
  for (;;) {
    // Every completion signalled in the pass is harvested, in index order.
    const DWORD count = static_cast<DWORD>(1 + 2 * peers_.size());
    if (!wait_and_serve(events_, count, next_tick, [this](DWORD index) { serve_event(index); })) {
      frame_.fail(failure("WSAWaitForMultipleEvents()"));
      break;
    }
    if (inbox_.stop_requested()) break;
    const auto now = Clock::now();
    if (now >= next_tick) {
      housekeeping(now);
      next_tick = now + kTick;
    }
    compact();
  }
  cancel_and_wait_all();
  close_inbox();
}

// Slot 0 is the control event (sockets handed over, or a stop); then each
// peer has two slots, its receive's event and its send's.
void Group::serve_event(DWORD index) {
  if (index == 0) {
    take_inbox();
  } else {
    Peer& p = *peers_[(index - 1) / 2];
    const bool is_receive = (index - 1) % 2 == 0;
    complete(p, is_receive ? p.receive : p.send, is_receive);
  }
}

void Group::take_inbox() {
  for (const Accepted& a : inbox_.take()) {
    std::unique_ptr<Peer> peer;
    try {
      peer = std::make_unique<Peer>(frame_, shard_, a);
    } catch (...) {
      // Out of memory or out of event objects: this connection cannot be served.
      shard_.error(ErrorClass::io);
      frame_.release(shard_, a.socket);
      ::closesocket(a.socket);
      inbox_.closed();
      continue;
    }
    const std::size_t k = peers_.size();
    events_[1 + 2 * k] = peer->receive.event.get();
    events_[2 + 2 * k] = peer->send.event.get();
    peers_.push_back(std::move(peer));
    pump(*peers_.back());
  }
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
    on_sent(p, ok != FALSE, bytes, error);
  }
}

void Group::on_received(Peer& p, bool ok, DWORD bytes, int error) {
  if (p.state == Peer::State::lingering) {
    // Dropping input until the peer's FIN (0 bytes) or an error ends it.
    if (!ok || bytes == 0 || !post_receive(p)) close(p);
    return;
  }
  if (!ok) {
    p.connection.on_error(classify_io_error(error));
  } else if (bytes == 0) {
    p.eof = true;
    p.connection.on_peer_closed();
  } else {
    p.connection.on_received({p.buffer.get(), bytes});
  }
  pump(p);
}

void Group::on_sent(Peer& p, bool ok, DWORD bytes, int error) {
  if (!ok) {
    p.connection.on_error(classify_io_error(error));
  } else {
    // A completed overlapped send normally carries every byte; fewer means
    // the rest of the frozen block goes out with the next WSASend.
    p.connection.on_sent(bytes);
  }
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
  WSABUF buffer{kReceiveBuffer, p.buffer.get()};
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
  const auto block = p.connection.begin_send();
  // WSABUF::buf is not const, but WSASend only reads it.
  WSABUF buffer{static_cast<ULONG>(std::min(block.size(), kMaxSendBlock)),
                const_cast<char*>(block.data())};
  p.send.in_flight = true;
  if (::WSASend(p.socket, &buffer, 1, nullptr, 0, p.send.prepare(), nullptr) == SOCKET_ERROR) {
    const int code = ::WSAGetLastError();
    if (code != WSA_IO_PENDING) {
      p.send.in_flight = false;
      p.connection.on_error(classify_io_error(code));
    }
  }
}

// The Connection is finished: every reply is out (or it failed).
void Group::finish(Peer& p) {
  if (p.connection.failed() || p.eof) {
    // A failed connection is closed at once (cancelling what is in flight).
    // After the peer's FIN there is nothing left to read, so a graceful close
    // needs no lingering either.
    if (!p.connection.failed()) ::shutdown(p.socket, SD_SEND);
    close(p);
    return;
  }
  // We end the connection (HTTP "Connection: close", a protocol error): send
  // our FIN behind the replies, then read and drop input until the peer's
  // FIN, so that unread data does not turn closesocket() into a reset.
  ::shutdown(p.socket, SD_SEND);
  p.state = Peer::State::lingering;
  p.linger_deadline = Clock::now() + kLingerLimit;
  if (!p.receive.in_flight && !post_receive(p)) close(p);
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
    Peer& p = *peer;
    if (p.state == Peer::State::lingering && now >= p.linger_deadline) {
      close(p);
    } else if (p.state == Peer::State::open && p.connection.expire_if_idle(now)) {
      close(p);  // counted as idle_timeout by expire_if_idle()
    }
  }
}

// Closed peers leave the arrays after the pass: moving the last peer into a
// hole in the middle of a pass would let the scan skip or repeat it.
void Group::compact() {
  for (std::size_t k = 0; k < peers_.size();) {
    if (peers_[k]->state != Peer::State::closed) {
      ++k;
      continue;
    }
    const std::size_t last = peers_.size() - 1;
    if (k != last) {
      peers_[k] = std::move(peers_[last]);
      events_[1 + 2 * k] = events_[1 + 2 * last];
      events_[2 + 2 * k] = events_[2 + 2 * last];
    }
    peers_.pop_back();
    events_[1 + 2 * last] = nullptr;
    events_[2 + 2 * last] = nullptr;
  }
}

// Stop: cancel every operation of every connection first, so they all wind
// down together, then wait for each one's completion before its OVERLAPPED
// and buffer are freed and its socket closed.
void Group::cancel_and_wait_all() {
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

void Group::close_inbox() {
  for (const Accepted& a : inbox_.take_left()) {
    frame_.release(shard_, a.socket);
    ::closesocket(a.socket);
    inbox_.closed();
  }
}

// The accepting thread: EventAcceptor::posted_accepts AcceptEx calls, each
// signalling an event of its own, and the stop event in one wait. The
// mechanics (posting, WSAGetOverlappedResult, SO_UPDATE_ACCEPT_CONTEXT,
// GetAcceptExSockaddrs, cancelling at the stop) are in
// platform/win/event_acceptor.hpp, shared with server-overlapped-routine;
// this class decides what an accepted socket becomes: admitted, it goes to
// the least loaded group.
class Acceptor final : wsb::kit::FrameAcceptorHandler {
 public:
  Acceptor(Frame& frame, SOCKET listener, int initial_groups)
      : FrameAcceptorHandler(frame),
        accept_(listener, frame.listen_endpoint().is_v6() ? AF_INET6 : AF_INET, *this) {
    for (int i = 0; i < initial_groups; ++i)
      add_group();
  }

  // Until the stop event (set by the frame's wake callback; it belongs to
  // main() so that it outlives every call of that callback).
  void run(WSAEVENT stop_event) {
    if (const std::string failed = accept_.run(stop_event); !failed.empty()) frame_.fail(failed);
    // No more hand-overs from here on; each group cancels its operations,
    // waits for them, closes its sockets, and its thread is joined.
    for (auto& group : groups_)
      group->request_stop();
    groups_.clear();
  }

 private:
  void accepted(SOCKET s, const Endpoint& peer) noexcept override {
    admit_and_hand_over(frame_, shard_, s, [this, &peer](SOCKET admitted) {
      group_with_room().assign(Accepted{admitted, peer});
      return true;
    });
  }

  Group& group_with_room() {
    Group* best = wsb::kit::least_loaded_with_room(groups_, kPeersPerGroup);
    return best != nullptr ? *best : add_group();
  }

  Group& add_group() {
    // The shard is taken on the accepting thread, but only the group's thread
    // writes to it.
    groups_.push_back(std::make_unique<Group>(frame_, frame_.shard()));
    return *groups_.back();
  }

  EventAcceptor accept_;
  std::vector<std::unique_ptr<Group>> groups_;
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_guarded([&] {
    Frame frame("overlapped-event",
                "Overlapped I/O with event notification: AcceptEx, WSARecv and WSASend with a "
                "WSAOVERLAPPED and a manual-reset event per operation; each thread waits for up "
                "to 31 connections (62 operation events plus a control event). --threads N "
                "starts N group threads; more are added as groups fill up.",
                1);
    if (auto exit_code = frame.parse(argc, argv)) return *exit_code;
    const SOCKET listener = frame.open_listener({.overlapped = true});
    const Event stop_event;
    {
      Acceptor acceptor(frame, listener, frame.options().threads);
      frame.start([&stop_event] { ::WSASetEvent(stop_event.get()); });
      acceptor.run(stop_event.get());
    }
    ::closesocket(listener);
    return frame.finish();
  });
}
