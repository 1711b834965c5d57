// Overlapped I/O with completion routines: WSARecv and WSASend name a function
// that the system calls when the operation is complete, as an asynchronous
// procedure call (APC) on the thread that issued the operation, the next time
// that thread waits alertably.
//
// The sequence of calls:
//   accepting thread: AcceptEx(listener, new_socket, ..., &overlapped{hEvent})
//                     wait -> WSAGetOverlappedResult -> SO_UPDATE_ACCEPT_CONTEXT
//                     (kit/event_acceptor.hpp, shared with
//                     server-overlapped-event)
//                     -> QueueUserAPC(adopt, io_thread, socket)
//   I/O thread:       SleepEx(tick, TRUE)   (alertable: APCs and routines run inside)
//                     adopt():           WSARecv(..., &receive, receive_done)
//                     receive_done():    feed the Connection -> WSASend(..., send_done)
//                                        and/or WSARecv(..., receive_done) again
//                     send_done():       consume -> WSASend/WSARecv again
//
// Completion routines need no event objects, so there is no 64-handle limit:
// an I/O thread serves any number of connections. They run only on the
// issuing thread, which is why the accepting thread hands sockets over with
// QueueUserAPC instead of starting I/O on them itself. --threads N sets the
// number of I/O threads (default: one per processor); sockets are dealt out
// round-robin.
//
// Everything about the protocol lives in wsb::server::Connection; this file
// only moves bytes between sockets and Connections.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <mswsock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "platform/net.hpp"
#include "kit/hand_over.hpp"
#include "kit/event_acceptor.hpp"
#include "kit/frame_acceptor.hpp"
#include "kit/overlapped_peer.hpp"
#include "kit/winsock.hpp"
#include "server/model_names.hpp"

namespace {

using namespace wsb::server::model;
using wsb::net::Endpoint;

// How often the I/O threads wake without anything to do, to expire idle
// connections and end lingering closes.
constexpr auto kTick = std::chrono::milliseconds(100);
class IoThread;

// The connection's state and the completions' effect on it are the kit's
// (kit/overlapped_peer.hpp, shared with server-overlapped-event); what is
// this model's is a routine per operation, and the count of routines still
// to run.
struct Peer : wsb::kit::OverlappedPeer {
  Peer(IoThread& thread, Frame& frame, StatsShard& shard, SOCKET s, const Endpoint& peer,
       wsb::kit::MailList& mail_list)
      : OverlappedPeer(frame, shard, s, peer, mail_list), owner(thread) {}

  IoThread& owner;
  // The OVERLAPPEDs belong to the Peer and must not move or be freed while an
  // operation using them is outstanding. hEvent carries the Peer: a
  // completion routine gets only the OVERLAPPED pointer, and with a routine
  // the system does not use hEvent.
  WSAOVERLAPPED receive{};
  WSAOVERLAPPED send{};
  bool receiving = false;  // a WSARecv is outstanding
  bool sending = false;    // a WSASend is outstanding
  // Operations posted whose routine has not run yet. The Peer, its
  // OVERLAPPEDs and its buffers are freed only at zero: closesocket()
  // completes outstanding operations with WSA_OPERATION_ABORTED, but their
  // routines still run later and still point here.
  int outstanding = 0;
  std::size_t index = 0;  // position in the owner's list
};

// An I/O thread: it issues every operation on its connections, so every
// completion routine of those connections runs here, one at a time, and no
// connection state needs a lock.
class IoThread {
 public:
  IoThread(Frame& frame, StatsShard& shard)
      : frame_(frame), shard_(shard), mail_(&IoThread::wake_for_mail, this) {
    thread_ = ::CreateThread(nullptr, 0, &IoThread::thread_main, this, 0, nullptr);
    if (thread_ == nullptr) {
      throw std::system_error(static_cast<int>(::GetLastError()), std::system_category(),
                              "CreateThread");
    }
  }
  ~IoThread() {
    request_stop();
    ::WaitForSingleObject(thread_, INFINITE);
    ::CloseHandle(thread_);
  }
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  // Accepting thread: queues the socket to this thread as an APC. False if
  // the APC could not be queued (the socket stays the caller's).
  bool assign(SOCKET s, const Endpoint& peer) noexcept {
    Handoff* handoff = new (std::nothrow) Handoff{this, s, peer};
    if (handoff == nullptr) return false;
    if (::QueueUserAPC(&IoThread::adopt_apc, thread_, reinterpret_cast<ULONG_PTR>(handoff)) == 0) {
      delete handoff;
      return false;
    }
    return true;
  }

  // Accepting thread, after its last assign(): APCs run in the order they were
  // queued, so every socket handed over before is adopted before the stop.
  void request_stop() noexcept {
    if (stop_queued_.exchange(true)) return;
    ::QueueUserAPC(&IoThread::stop_apc, thread_, reinterpret_cast<ULONG_PTR>(this));
  }

 private:
  struct Handoff {
    IoThread* thread;
    SOCKET socket;
    Endpoint peer;
  };

  static DWORD WINAPI thread_main(LPVOID self) {
    static_cast<IoThread*>(self)->run();
    return 0;
  }
  static void CALLBACK adopt_apc(ULONG_PTR parameter);
  static void CALLBACK stop_apc(ULONG_PTR parameter);
  static void CALLBACK mail_apc(ULONG_PTR parameter);
  static void wake_for_mail(void* self) noexcept;
  static void CALLBACK receive_done(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped,
                                    DWORD flags);
  static void CALLBACK send_done(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped, DWORD flags);

  void run();
  void adopt(SOCKET s, const Endpoint& peer);
  void on_received(Peer& p, DWORD error, DWORD bytes);
  void on_sent(Peer& p, DWORD error, DWORD bytes);
  void pump(Peer& p);
  bool post_receive(Peer& p);
  void post_send(Peer& p);
  void finish(Peer& p);
  void close(Peer& p);
  void free_if_done(Peer& p);
  void housekeeping(Clock::time_point now);
  void close_all();
  void deliver_mail();

  Frame& frame_;
  StatsShard& shard_;
  // Chat: the connections of this thread that other threads posted mail to.
  wsb::kit::MailList mail_;
  // This thread only. Unordered; Peer::index makes removal O(1).
  std::vector<std::unique_ptr<Peer>> peers_;
  bool stopping_ = false;  // set by stop_apc, on this thread
  std::atomic<bool> stop_queued_{false};
  HANDLE thread_ = nullptr;
};

// The thread does nothing but wait alertably: every piece of work arrives as
// an APC (a socket to adopt, the stop request) or as a completion routine,
// and SleepEx runs them all before it returns WAIT_IO_COMPLETION. The
// timeout only paces the housekeeping.
void IoThread::run() {
  auto next_tick = Clock::now() + kTick;
  bool closed_all = false;
  while (!(stopping_ && peers_.empty())) {
    ::SleepEx(wsb::kit::milliseconds_until(next_tick, Clock::now()), TRUE);
    if (stopping_ && !closed_all) {
      close_all();
      closed_all = true;
    }
    const auto now = Clock::now();
    if (now >= next_tick) {
      housekeeping(now);
      next_tick = now + kTick;
    }
  }
}

void CALLBACK IoThread::adopt_apc(ULONG_PTR parameter) {
  const std::unique_ptr<Handoff> handoff(reinterpret_cast<Handoff*>(parameter));
  handoff->thread->adopt(handoff->socket, handoff->peer);
}

void CALLBACK IoThread::stop_apc(ULONG_PTR parameter) {
  reinterpret_cast<IoThread*>(parameter)->stopping_ = true;
}

// Chat: a thread that posted other users' messages to a connection of this
// thread queues this APC (one per batch: kit/mail_list.hpp); it runs in the
// thread's alertable wait like the completion routines, so the connection
// needs no lock. QueueUserAPC is the model's own hand-over: the routines of
// a socket's operations run only on the thread that issued them, so the
// sends must be issued there too.
void IoThread::wake_for_mail(void* self) noexcept {
  auto& thread = *static_cast<IoThread*>(self);
  ::QueueUserAPC(&IoThread::mail_apc, thread.thread_, reinterpret_cast<ULONG_PTR>(self));
}

void CALLBACK IoThread::mail_apc(ULONG_PTR parameter) {
  reinterpret_cast<IoThread*>(parameter)->deliver_mail();
}

// A peer closed here is freed by the next housekeeping (not at once: the list
// taken may name it again further on).
void IoThread::deliver_mail() {
  bool all = false;
  for (wsb::kit::MailTarget* target : mail_.take(all)) {
    Peer& p = static_cast<Peer&>(target->entry<wsb::kit::OverlappedPeer>());
    if (p.collect_mail()) pump(p);
  }
  if (!all) return;
  for (auto& peer : peers_) {
    if (peer->collect_mail()) pump(*peer);
  }
}

void CALLBACK IoThread::receive_done(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped,
                                     DWORD /*flags*/) {
  Peer& p = *static_cast<Peer*>(overlapped->hEvent);
  p.owner.on_received(p, error, bytes);
}

void CALLBACK IoThread::send_done(DWORD error, DWORD bytes, LPWSAOVERLAPPED overlapped,
                                  DWORD /*flags*/) {
  Peer& p = *static_cast<Peer*>(overlapped->hEvent);
  p.owner.on_sent(p, error, bytes);
}

void IoThread::adopt(SOCKET s, const Endpoint& peer) {
  if (stopping_) {
    // Not expected (the stop APC is queued after the last hand-over).
    frame_.release(shard_, s);
    ::closesocket(s);
    return;
  }
  try {
    peers_.push_back(std::make_unique<Peer>(*this, frame_, shard_, s, peer, mail_));
  } catch (...) {
    shard_.error(ErrorClass::io);
    frame_.release(shard_, s);
    ::closesocket(s);
    return;
  }
  Peer& p = *peers_.back();
  p.index = peers_.size() - 1;
  pump(p);
  free_if_done(p);
}

// Runs inside SleepEx on this thread. Re-posts from here and never blocks:
// every other connection of this thread waits while a routine runs.
void IoThread::on_received(Peer& p, DWORD error, DWORD bytes) {
  p.receiving = false;
  --p.outstanding;
  if (p.state == Peer::State::lingering) {
    // Dropping input until the peer's FIN (0 bytes) or an error ends it.
    if (error != 0 || bytes == 0 || !post_receive(p)) close(p);
  } else if (p.state == Peer::State::open) {
    p.received(static_cast<int>(error), bytes);
    pump(p);
  }
  // Closed: this was an operation aborted by closesocket(); only its
  // completion mattered.
  free_if_done(p);  // last: may free p
}

void IoThread::on_sent(Peer& p, DWORD error, DWORD bytes) {
  p.sending = false;
  --p.outstanding;
  if (p.state == Peer::State::open) {
    p.sent(static_cast<int>(error), bytes);
    pump(p);
  }
  free_if_done(p);  // last: may free p
}

// Starts what the Connection wants and is not outstanding yet: at most one
// WSARecv and one WSASend per socket.
void IoThread::pump(Peer& p) {
  if (p.state != Peer::State::open) return;
  if (!p.sending && p.connection.want_write()) post_send(p);
  // want_read() is false while more than --max-pending reply bytes wait: no
  // receive is posted until the sends have drained them (backpressure). A
  // failed post is counted on the Connection, which is then finished.
  if (!p.receiving && p.connection.want_read()) post_receive(p);
  if (p.connection.finished()) finish(p);
}

bool IoThread::post_receive(Peer& p) {
  p.receive = WSAOVERLAPPED{};
  p.receive.hEvent = &p;
  WSABUF buffer{wsb::kit::overlapped_receive_buffer, p.buffer.get()};
  DWORD flags = 0;
  // Even when WSARecv completes at once (returns 0), receive_done is queued
  // and runs in a later alertable wait, so both outcomes count as outstanding.
  if (::WSARecv(p.socket, &buffer, 1, nullptr, &flags, &p.receive, &IoThread::receive_done) ==
      SOCKET_ERROR) {
    const int code = ::WSAGetLastError();
    if (code != WSA_IO_PENDING) {
      // No routine will run for a call that failed like this.
      if (p.state == Peer::State::open) p.connection.on_error(classify_io_error(code));
      return false;
    }
  }
  p.receiving = true;
  ++p.outstanding;
  return true;
}

void IoThread::post_send(Peer& p) {
  // begin_send() freezes the bytes in a block of their own, so receives that
  // complete while this send is outstanding never move the memory the kernel
  // is reading.
  WSABUF buffer = wsb::kit::send_buffer(p.connection.begin_send());
  p.send = WSAOVERLAPPED{};
  p.send.hEvent = &p;
  if (::WSASend(p.socket, &buffer, 1, nullptr, 0, &p.send, &IoThread::send_done) == SOCKET_ERROR) {
    const int code = ::WSAGetLastError();
    if (code != WSA_IO_PENDING) {
      p.connection.on_error(classify_io_error(code));
      return;
    }
  }
  p.sending = true;
  ++p.outstanding;
}

// The Connection is finished: close at once, or linger with a receive posted
// to drop input until the peer's FIN (OverlappedPeer::finish).
void IoThread::finish(Peer& p) {
  if (p.finish() || (!p.receiving && !post_receive(p))) close(p);
}

// Ends the outstanding operations with WSA_OPERATION_ABORTED and closes the
// socket. Their routines are still delivered to this thread later, which is
// why the Peer lives on until `outstanding` is zero.
//
// On Windows closesocket() alone aborts them. Wine 8 does not: a WSASend
// blocked on a peer that does not read stays pending after closesocket(),
// its routine never runs and the Peer could never be freed. CancelIoEx first
// works on both.
void IoThread::close(Peer& p) {
  if (p.state == Peer::State::closed) return;
  if (p.outstanding != 0) ::CancelIoEx(reinterpret_cast<HANDLE>(p.socket), nullptr);
  frame_.release(shard_, p.socket, &p.connection);  // before closesocket(): see Frame::release
  ::closesocket(p.socket);
  p.socket = INVALID_SOCKET;
  p.state = Peer::State::closed;
}

void IoThread::free_if_done(Peer& p) {
  if (p.state != Peer::State::closed || p.outstanding != 0) return;
  const std::size_t i = p.index;
  if (i != peers_.size() - 1) {
    peers_[i] = std::move(peers_.back());  // destroys p
    peers_[i]->index = i;
  }
  peers_.pop_back();  // destroys p, or the moved-from pointer
}

// Walks backwards so that free_if_done()'s swap with the last element only
// moves peers that were already visited.
void IoThread::housekeeping(Clock::time_point now) {
  for (std::size_t i = peers_.size(); i-- > 0;) {
    Peer& p = *peers_[i];
    if (p.due_to_close(now)) close(p);
    free_if_done(p);
  }
}

void IoThread::close_all() {
  for (std::size_t i = peers_.size(); i-- > 0;) {
    Peer& p = *peers_[i];
    close(p);
    free_if_done(p);
  }
}

// The accepting thread. AcceptEx has no completion-routine parameter, so it
// waits on events: EventAcceptor::posted_accepts AcceptEx calls with an event
// each, and the stop event (kit/event_acceptor.hpp, shared with
// server-overlapped-event). This class decides what an accepted socket
// becomes: admitted, it travels to the next I/O thread as an APC.
class Acceptor final : wsb::kit::FrameAcceptorHandler {
 public:
  Acceptor(Frame& frame, SOCKET listener, int io_threads) : FrameAcceptorHandler(frame, listener) {
    for (int i = 0; i < io_threads; ++i) {
      threads_.push_back(std::make_unique<IoThread>(frame_, frame_.shard()));
    }
  }

  void run(WSAEVENT stop_event) {
    accept_until(stop_event);
    // Shutdown via APC: each I/O thread closes its sockets, waits for the
    // aborted operations' routines, frees its connections and ends.
    for (auto& thread : threads_)
      thread->request_stop();
    threads_.clear();
  }

 private:
  // The I/O thread must issue the socket's operations itself (their
  // routines run on the issuing thread), so the socket travels as an APC.
  bool hand_over(SOCKET s, const Endpoint& peer) override {
    IoThread& thread = *threads_[next_thread_];
    next_thread_ = (next_thread_ + 1) % threads_.size();
    return thread.assign(s, peer);
  }

  std::vector<std::unique_ptr<IoThread>> threads_;
  std::size_t next_thread_ = 0;
};

int default_io_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(std::min(n, 64u));
}

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "overlapped-routine",
       .description =
           "Overlapped I/O with completion routines: WSARecv/WSASend name a routine that runs as "
           "an APC on the issuing I/O thread while it waits alertably (SleepEx); the accepting "
           "thread hands sockets over with QueueUserAPC. --threads N sets the number of I/O "
           "threads.",
       .default_threads = default_io_threads()},
      &wsb::kit::accept_until_stopped<Acceptor>);
}
