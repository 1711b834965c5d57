// server-afd-poll: readiness from the AFD driver (IOCTL_AFD_POLL), delivered
// through an I/O completion port. This is what libuv, Rust's mio and wepoll
// (and so Node.js and Tokio) use on Windows instead of select() or
// WSAEventSelect: epoll-like readiness without select's 64-socket groups or
// a wait of O(n) handles, and the completion port's scalability.
//
// The sequence of calls:
//   once:        CreateIoCompletionPort(INVALID_HANDLE_VALUE)
//                a socket of our own, the poll handle (its SIO_BASE_HANDLE),
//                CreateIoCompletionPort(poll handle, port, key)
//   per socket:  WSAIoctl(SIO_BASE_HANDLE) -> the AFD socket under any LSP
//   arm:         NtDeviceIoControlFile(poll handle, IOCTL_AFD_POLL,
//                                      {Timeout: never, 1 handle: base, events})
//                (STATUS_PENDING; ApcContext = the socket's record)
//   wait:        GetQueuedCompletionStatusEx -> the record, the events
//   serve:       accept() / recv() / send() on the non-blocking socket until
//                WSAEWOULDBLOCK, then arm again with the events still wanted
//   chat mail:   the Connection's wake function -> MailDrop -> a mail_key
//                completion -> collect_mail(), send, and the poll re-armed
//                (cancelled first when it must now ask for room to send)
//   queue mode:  while full, no accept() and no listener poll; the frame's
//                room hook posts a room_key completion -> accept again
//
// A poll request is one-shot: it completes once, with the events that held,
// and the socket is not watched again until the next request. Like epoll's
// EPOLLONESHOT, this makes "serve, then re-arm" race-free with no lock; a
// condition that still holds when a request is posted completes it at once.
//
// The AFD structures are not in any SDK header: their layout is the one
// documented by ReactOS's afd headers and described by wepoll's and mio's
// sources, and Wine implements the same (include/wine/afd.h). The requests
// are posted on a handle that outlives them, never on the polled socket (see
// AfdPollServer::start()): wepoll and mio open \Device\Afd for it, which
// Wine does not support as a poll target; a socket of our own serves on both
// (libuv's "peer socket").
//
// Everything about the protocol lives in wsb::server::Connection; this file
// only moves bytes between sockets and Connections.
#include <winsock2.h>
#include <mswsock.h>
#include <windows.h>
#include <winternl.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "platform/net.hpp"
#include "kit/winsock.hpp"
#include "server/accept_policy.hpp"
#include "server/lingering_close.hpp"
#include "server/model_names.hpp"

namespace {

using namespace wsb::server::model;

// ---- The AFD interface (see the file comment for where the layout comes from).

// The poll ioctl: FILE_DEVICE_NETWORK (0x12), function 9, METHOD_BUFFERED.
constexpr ULONG ioctl_afd_poll = 0x00012024;

// Poll events. Each names a condition of the socket; a request completes as
// soon as one of those it asks for holds.
constexpr ULONG afd_poll_receive = 0x0001;     // data to read (or a FIN in Wine's view)
constexpr ULONG afd_poll_send = 0x0004;        // room in the send buffer
constexpr ULONG afd_poll_disconnect = 0x0008;  // the peer's FIN
constexpr ULONG afd_poll_abort = 0x0010;       // the connection was reset
constexpr ULONG afd_poll_accept = 0x0080;      // a connection waits to be accepted

struct AfdPollHandleInfo {
  HANDLE handle;
  ULONG events;
  LONG status;  // NTSTATUS
};

struct AfdPollInfo {
  LARGE_INTEGER timeout;  // absolute or relative (negative) 100 ns; INT64_MAX: never
  ULONG number_of_handles;
  ULONG exclusive;  // FALSE: other polls on the same socket stay posted
  AfdPollHandleInfo handles[1];
};

// Not in winnt.h: the statuses this file tests.
constexpr LONG status_pending = 0x00000103;

using NtDeviceIoControlFileFn = LONG(NTAPI*)(HANDLE file, HANDLE event, PVOID apc_routine,
                                             PVOID apc_context, PIO_STATUS_BLOCK io_status,
                                             ULONG code, PVOID in, ULONG in_length, PVOID out,
                                             ULONG out_length);

// ntdll exports it on every Windows; taken at run time so that no import
// library for ntdll is needed (MSVC's lives in the WDK).
NtDeviceIoControlFileFn load_nt_device_io_control_file() {
  const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  if (ntdll == nullptr) return nullptr;
  return reinterpret_cast<NtDeviceIoControlFileFn>(
      reinterpret_cast<void*>(::GetProcAddress(ntdll, "NtDeviceIoControlFile")));
}

// The exit status (and message) when the system has no AFD poll, as server-rio
// does when RIO is missing: the suites report the model as skipped on it.
constexpr int exit_afd_unavailable = 3;

// Whether this system answers IOCTL_AFD_POLL: a poll with a zero timeout on
// a listening socket of our own, waited for on an event. An empty string, or
// why not. Done before the real listener exists, so that an unsupported
// system gets the message (and exit_afd_unavailable) before the ready line.
std::string probe_afd_poll(NtDeviceIoControlFileFn ioctl) {
  const SOCKET s = ::WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                                WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) return "socket: " + wsb::net::error_text(::WSAGetLastError());
  sockaddr_in loopback{};
  loopback.sin_family = AF_INET;
  loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  SOCKET base = INVALID_SOCKET;
  DWORD bytes = 0;
  std::string why;
  if (::bind(s, reinterpret_cast<const sockaddr*>(&loopback), sizeof loopback) != 0 ||
      ::listen(s, 1) != 0 ||
      ::WSAIoctl(s, SIO_BASE_HANDLE, nullptr, 0, &base, sizeof base, &bytes, nullptr, nullptr) !=
          0) {
    why = "setting up a probe socket: " + wsb::net::error_text(::WSAGetLastError());
  }
  const HANDLE done = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (why.empty() && done == nullptr) why = "CreateEvent failed";
  if (why.empty()) {
    AfdPollInfo info{};
    info.timeout.QuadPart = 0;  // answer at once: nothing is pending
    info.number_of_handles = 1;
    info.handles[0].handle = reinterpret_cast<HANDLE>(base);
    info.handles[0].events = afd_poll_accept;
    IO_STATUS_BLOCK io_status{};
    LONG status = ioctl(reinterpret_cast<HANDLE>(base), done, nullptr, nullptr, &io_status,
                        ioctl_afd_poll, &info, sizeof info, &info, sizeof info);
    if (status == status_pending) {
      status =
          ::WaitForSingleObject(done, 2000) == WAIT_OBJECT_0 ? io_status.Status : status_pending;
    }
    if (status < 0 || status == status_pending) {
      char text[64];
      std::snprintf(text, sizeof text, "IOCTL_AFD_POLL returned NTSTATUS 0x%08lX",
                    static_cast<unsigned long>(status));
      why = text;
    }
  }
  ::closesocket(s);  // also ends a poll that never answered, before the event goes
  if (done != nullptr) ::CloseHandle(done);
  return why;
}

// ---- The model.

constexpr std::size_t recv_buffer_size = 64 * 1024;
// Reads per readiness report, so that one chatty peer cannot hold the thread;
// the re-armed poll completes at once if more is waiting.
constexpr int reads_per_event = 4;
// Completions taken per GetQueuedCompletionStatusEx call.
constexpr ULONG completions_per_wait = 64;
// How often the thread wakes without completions: idle timeouts, lingering
// closes and the end of an accept pause.
constexpr auto tick = std::chrono::milliseconds(100);
// How long a clean close waits for the peer's FIN after sending its own.
constexpr auto linger_timeout = std::chrono::seconds(1);
// How long the stop waits for the polls that closing the sockets cancelled.
constexpr auto shutdown_timeout = std::chrono::seconds(3);

// Completion keys. Only socket_key packets carry a record (lpOverlapped is
// the ApcContext of a poll request); the others are posted by the model
// itself with a null lpOverlapped.
constexpr ULONG_PTR stop_key = 0;    // the frame's stop (wake())
constexpr ULONG_PTR socket_key = 1;  // a poll request completed
constexpr ULONG_PTR mail_key = 2;    // MailDrop: chat messages arrived for peers
constexpr ULONG_PTR room_key = 3;    // --when-full queue: a connection closed

// Not in winnt.h without <ntstatus.h>: the status of a cancelled request.
constexpr LONG status_cancelled = static_cast<LONG>(0xC0000120);

// Where the threads that serve other chat users leave word that a peer has
// mail (--protocol chat): the peer's id, and, when the list was empty, one
// mail_key completion that wakes the loop. Ids rather than pointers: a peer
// may be closed and freed between a post and the loop's take(), and an id
// that is no longer in AfdPollServer::by_id_ is simply skipped.
class MailDrop {
 public:
  void attach(HANDLE port) noexcept { port_ = port; }

  // Any thread (a Connection's wake function): a short lock, no blocking.
  void post(std::uint64_t id) noexcept {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      wake = ids_.empty();
      try {
        ids_.push_back(id);
      } catch (const std::bad_alloc&) {
        // The mail stays in the peer's outbox; its next receive or send
        // collects it (Connection::on_received/on_sent).
        return;
      }
    }
    if (wake) ::PostQueuedCompletionStatus(port_, 0, mail_key, nullptr);
  }

  // The loop's thread: every id posted since the last take().
  std::vector<std::uint64_t> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(ids_, {});
  }

 private:
  HANDLE port_ = nullptr;
  std::mutex mutex_;
  std::vector<std::uint64_t> ids_;
};

// A socket and its one poll request. The kernel writes the IO_STATUS_BLOCK
// and the AfdPollInfo until the request completes, so the record stays put
// (it is heap-allocated and only freed after the completion).
struct Polled {
  SOCKET socket = INVALID_SOCKET;
  HANDLE base = nullptr;  // SIO_BASE_HANDLE of `socket`
  IO_STATUS_BLOCK io_status{};
  AfdPollInfo info{};
  // The events the pending request asks for (info is the kernel's until it
  // completes).
  ULONG armed_events = 0;
  bool poll_pending = false;
  bool is_listener = false;
};

struct Peer : Polled {
  Peer(Frame& frame, StatsShard& shard) : connection(frame, shard) {}

  Connection connection;
  wsb::server::LingeringClose linger{};
  // send() said WSAEWOULDBLOCK: the next poll asks for afd_poll_send.
  bool write_blocked = false;
  // The connection is over; the record waits for its poll's completion.
  bool closed = false;
  // The pending poll was cancelled to be posted again with more events
  // (chat mail made send() block while the poll did not ask for room).
  bool rearm_after_cancel = false;
  std::size_t index = 0;  // in AfdPollServer::peers_
  // Set before the Connection can receive mail, never changed: the wake
  // function reads them on other threads.
  std::uint64_t id = 0;
  MailDrop* mail_drop = nullptr;

  // The Connection's wake function (--protocol chat), on the posting thread.
  static void mail_arrived(void* ctx) noexcept {
    const Peer& peer = *static_cast<const Peer*>(ctx);
    peer.mail_drop->post(peer.id);
  }
};

class AfdPollServer {
 public:
  AfdPollServer(Frame& frame, SOCKET listener, NtDeviceIoControlFileFn ioctl)
      : frame_(frame), ioctl_(ioctl), shard_(frame.shard()), buffer_(recv_buffer_size) {
    listener_.socket = listener;
    listener_.is_listener = true;
    port_ = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
    if (port_ == nullptr) {
      throw wsb::net::NetError(static_cast<int>(::GetLastError()),
                               "CreateIoCompletionPort() failed");
    }
    mail_drop_.attach(port_);
  }
  ~AfdPollServer() {
    if (poll_socket_ != INVALID_SOCKET) ::closesocket(poll_socket_);
    if (port_ != nullptr) ::CloseHandle(port_);
  }
  AfdPollServer(const AfdPollServer&) = delete;
  AfdPollServer& operator=(const AfdPollServer&) = delete;

  // Opens the handle the polls are sent to, registers the listener and posts
  // its first poll. Throws NetError.
  void start() {
    // The polls are posted on a socket of their own, which stays open until
    // every poll has completed, and name the polled socket inside the
    // request (libuv's "peer socket"; wepoll and mio use a \Device\Afd
    // handle the same way, which Wine cannot poll through). A request posted
    // on the polled socket's own handle would be issued through the handle
    // that closesocket() closes, which also cancels it.
    poll_socket_ = ::WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                                WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (poll_socket_ == INVALID_SOCKET) {
      const int code = ::WSAGetLastError();
      throw wsb::net::NetError(code, "WSASocketW() failed: " + wsb::net::error_text(code));
    }
    if (const int code = base_handle(poll_socket_, poll_handle_); code != 0) {
      throw wsb::net::NetError(code, "SIO_BASE_HANDLE failed: " + wsb::net::error_text(code));
    }
    if (::CreateIoCompletionPort(poll_handle_, port_, socket_key, 0) == nullptr) {
      const int code = static_cast<int>(::GetLastError());
      throw wsb::net::NetError(code,
                               "CreateIoCompletionPort() failed: " + wsb::net::error_text(code));
    }
    if (const int code = attach(listener_); code != 0) {
      throw wsb::net::NetError(code,
                               "registering the listener failed: " + wsb::net::error_text(code));
    }
    if (const LONG status = arm(listener_, afd_poll_accept); !listener_.poll_pending) {
      throw wsb::net::NetError(static_cast<int>(status), "IOCTL_AFD_POLL on the listener failed");
    }
    // Called on the thread that released a connection, which is this
    // model's one thread (close()): the completion defers the accept until
    // the current completion has been served.
    frame_.set_room_hook([this] { ::PostQueuedCompletionStatus(port_, 0, room_key, nullptr); });
  }

  // Wakes run() for a stop (the frame's wake callback).
  void wake() noexcept { ::PostQueuedCompletionStatus(port_, 0, stop_key, nullptr); }

  void run() {
    auto next_tick = Clock::now() + tick;
    while (!frame_.stopping()) {
      DWORD error = 0;
      const auto taken =
          take_completions(wsb::kit::milliseconds_until(next_tick, Clock::now()), error);
      if (error != 0) {
        frame_.fail("GetQueuedCompletionStatusEx() failed: " +
                    wsb::net::error_text(static_cast<int>(error)));
        break;
      }
      for (const OVERLAPPED_ENTRY& entry : taken)
        dispatch(entry);
      const auto now = Clock::now();
      if (now >= next_tick) {
        housekeeping(now);
        next_tick = now + tick;
      }
    }
    shut_down();
  }

 private:
  void dispatch(const OVERLAPPED_ENTRY& entry) {
    switch (entry.lpCompletionKey) {
      case stop_key:
        return;  // the loop condition sees it
      case mail_key:
        deliver_mail();
        return;
      case room_key:
        room_returned(Clock::now());
        return;
      default:  // socket_key: a poll request's record
        completed(*reinterpret_cast<Polled*>(entry.lpOverlapped));
    }
  }

  // Waits at most wait_ms for completions and returns those it took: none
  // after a timeout, and none with `error` set when the port itself failed.
  // The count that GetQueuedCompletionStatusEx writes means something only
  // when it returns TRUE. After a timeout Wine 8 sets it to 1 (ntdll's
  // NtRemoveIoCompletionEx ends with `*written = i ? i : 1`), and Wine's own
  // tests accept 0 or 1 from Windows, while the entry it would count was
  // never written: a loop that trusted it served whatever the stack held
  // there, which was the crash that took this model out of main
  // (docs/models/afd_poll.md, "The crash of the first merge").
  std::span<const OVERLAPPED_ENTRY> take_completions(DWORD wait_ms, DWORD& error) noexcept {
    error = 0;
    ULONG count = 0;
    if (!::GetQueuedCompletionStatusEx(port_, entries_.data(), completions_per_wait, &count,
                                       wait_ms, FALSE)) {
      if (const DWORD code = ::GetLastError(); code != WAIT_TIMEOUT) error = code;
      return {};
    }
    return {entries_.data(), count};
  }

  // The AFD socket under any layered provider. 0 or a Winsock error.
  static int base_handle(SOCKET s, HANDLE& base) noexcept {
    SOCKET b = INVALID_SOCKET;
    DWORD bytes = 0;
    if (::WSAIoctl(s, SIO_BASE_HANDLE, nullptr, 0, &b, sizeof b, &bytes, nullptr, nullptr) != 0) {
      return ::WSAGetLastError();
    }
    base = reinterpret_cast<HANDLE>(b);
    return 0;
  }

  // Finds the handle a poll names for the socket. 0 or a Winsock error.
  static int attach(Polled& p) noexcept { return base_handle(p.socket, p.base); }

  // Posts the socket's poll for `events`. The returned status is the
  // immediate one: STATUS_PENDING (or a success, which also completes
  // through the port) leaves poll_pending set; anything else is a failure
  // and nothing will be queued.
  LONG arm(Polled& p, ULONG events) noexcept {
    p.info = AfdPollInfo{};
    p.info.timeout.QuadPart = INT64_MAX;
    p.info.number_of_handles = 1;
    p.info.exclusive = FALSE;
    p.info.handles[0].handle = p.base;
    p.info.handles[0].events = events;
    p.armed_events = events;
    p.io_status = IO_STATUS_BLOCK{};
    const LONG status = ioctl_(poll_handle_, nullptr, nullptr, &p, &p.io_status, ioctl_afd_poll,
                               &p.info, sizeof p.info, &p.info, sizeof p.info);
    p.poll_pending = status == status_pending || status >= 0;
    return status;
  }

  // A poll request completed: its events are in p.info.
  void completed(Polled& p) {
    p.poll_pending = false;
    const LONG status = p.io_status.Status;
    const ULONG events =
        (status >= 0 && p.info.number_of_handles > 0) ? p.info.handles[0].events : 0;
    if (p.is_listener) {
      if (!frame_.stopping()) accept_ready(Clock::now());
      return;
    }
    Peer& peer = static_cast<Peer&>(p);
    if (peer.closed) {
      finish_close(peer);  // the cancelled poll's completion (close())
      return;
    }
    const bool cancelled_to_rearm = peer.rearm_after_cancel && status == status_cancelled;
    peer.rearm_after_cancel = false;
    if (status >= 0) {
      serve(peer, events);
    } else if (!cancelled_to_rearm) {
      // The request itself failed (not a socket condition): the connection
      // cannot be watched any more.
      peer.connection.on_error(ErrorClass::io);
    }
    settle_and_rearm(peer, Clock::now());
  }

  // The listener is ready: accepts until WSAEWOULDBLOCK (bounded per report),
  // then re-arms its poll, unless an accept failure asks for a pause or the
  // server is full in queue mode (park_listener()).
  void accept_ready(Clock::time_point now) {
    const int limit = wsb::server::accept_pass_limit(frame_.options());
    for (int i = 0; i < limit; ++i) {
      if (!frame_.has_room()) {
        park_listener(i == 0, now);
        return;
      }
      const SOCKET s = ::accept(listener_.socket, nullptr, nullptr);
      if (s == INVALID_SOCKET) {
        const int code = ::WSAGetLastError();
        if (code == WSAEWOULDBLOCK) {
          waiting_since_ = {};  // nobody is queued any more
          break;
        }
        const AcceptAction next = accept_policy_.handle(code, listener_.socket, shard_);
        if (next == AcceptAction::retry) continue;  // the client gave up while queued
        // The connection stays queued, so a poll re-armed now would complete
        // at once: housekeeping re-arms after the pause.
        if (next == AcceptAction::pause) accept_resume_ = now + AcceptPolicy::pause_for;
        return;
      }
      if (!frame_.admit(shard_, s)) {  // counted as refused (or banned)
        ::closesocket(s);
        continue;
      }
      if (waiting_since_ != Clock::time_point{}) frame_.note_waited(now - waiting_since_);
      adopt(s);
    }
    arm_listener();
  }

  // --when-full queue, and the server is full: no accept() until a
  // connection closes (room_returned()); new clients wait in the backlog.
  // The listener's poll is what shows that one waits: when it reported a
  // client (`client_waiting`, the poll that led here), the model stops
  // polling and notes when; when the server filled up during a pass, the
  // poll is posted once more, to learn when the next client arrives. A
  // connection accepted later reports the time since then as its wait
  // (Frame::note_waited): exact for the first client queued, an upper bound
  // for those queued after it, which the poll cannot tell apart.
  void park_listener(bool client_waiting, Clock::time_point now) {
    if (!client_waiting) {
      arm_listener();
      return;
    }
    listener_parked_ = true;
    if (waiting_since_ == Clock::time_point{}) waiting_since_ = now;
  }

  // The room hook's completion: a connection closed while the server was
  // full. A parked listener accepts again (and its poll is posted again).
  void room_returned(Clock::time_point now) {
    if (!listener_parked_ || frame_.stopping()) return;
    listener_parked_ = false;
    accept_ready(now);
  }

  // Posts the listener's poll; a refused one ends the server, which could not
  // accept any more.
  void arm_listener() noexcept {
    if (const LONG status = arm(listener_, afd_poll_accept); !listener_.poll_pending) {
      char text[80];
      std::snprintf(text, sizeof text, "IOCTL_AFD_POLL on the listener failed: NTSTATUS 0x%08lX",
                    static_cast<unsigned long>(status));
      frame_.fail(text);
    }
  }

  void adopt(SOCKET s) {
    // Set explicitly rather than trusting that accept() passed on the
    // listener's non-blocking mode.
    u_long non_blocking = 1;
    if (::ioctlsocket(s, FIONBIO, &non_blocking) != 0) {
      refuse(s, classify_io_error(::WSAGetLastError()));
      return;
    }
    wsb::net::set_nodelay(s);
    std::unique_ptr<Peer> peer;
    try {
      peer = std::make_unique<Peer>(frame_, shard_);
      peers_.reserve(peers_.size() + 1);
    } catch (const std::bad_alloc&) {
      refuse(s, ErrorClass::io);
      return;
    }
    peer->socket = s;
    if (const int code = attach(*peer); code != 0) {
      refuse(s, classify_io_error(code));
      return;
    }
    peer->id = next_id_++;
    peer->mail_drop = &mail_drop_;
    try {
      by_id_.emplace(peer->id, peer.get());
    } catch (const std::bad_alloc&) {
      refuse(s, ErrorClass::io);
      return;
    }
    peer->connection.set_mail_wake(&Peer::mail_arrived, peer.get());
    peer->index = peers_.size();
    peers_.push_back(std::move(peer));
    settle_and_rearm(*peers_.back(), Clock::now());
  }

  // The mail_key completion: chat messages wait in the outboxes of the peers
  // posted to the MailDrop. Each moves into its connection's replies and is
  // sent now; the peer's poll then asks for what it waits for.
  void deliver_mail() {
    for (const std::uint64_t id : mail_drop_.take()) {
      const auto found = by_id_.find(id);
      if (found == by_id_.end()) continue;  // closed since
      Peer& peer = *found->second;
      if (peer.closed || !peer.connection.collect_mail()) continue;
      if (!peer.linger.lingering()) flush(peer);
      settle_and_rearm(peer, Clock::now());
    }
  }

  // An accepted socket that cannot be served: counted, released and closed.
  void refuse(SOCKET s, ErrorClass why) noexcept {
    shard_.error(why);
    frame_.release(shard_, s);
    ::closesocket(s);
  }

  // The events that held when the poll completed. Whatever they say, the
  // calls themselves tell the truth: recv() returns the data, the FIN (0) or
  // the reset; send() the room. A poll that reports an event which the call
  // then finds gone (WSAEWOULDBLOCK) costs one call.
  void serve(Peer& peer, ULONG events) {
    if ((events & afd_poll_send) != 0) peer.write_blocked = false;
    const bool readable = (events & (afd_poll_receive | afd_poll_disconnect | afd_poll_abort)) != 0;
    if (peer.linger.lingering()) {
      if (readable) discard_input(peer);
      return;
    }
    if (readable) receive(peer);
    flush(peer);
  }

  void receive(Peer& peer) {
    Connection& conn = peer.connection;
    // want_read() is false while more than --max-pending reply bytes wait:
    // the socket is then not read until the sends drain them.
    for (int i = 0; i < reads_per_event && conn.want_read(); ++i) {
      const std::ptrdiff_t n = wsb::net::recv_some(peer.socket, buffer_);
      if (n > 0) {
        conn.on_received(std::span<const char>(buffer_.data(), static_cast<std::size_t>(n)));
        if (static_cast<std::size_t>(n) < buffer_.size()) return;  // the buffer is empty now
        continue;
      }
      if (n == 0) {
        // Wine reports a reset like a FIN; the zero-byte send tells them apart.
        if (const int reset = wsb::kit::error_after_end_of_stream(peer.socket); reset != 0) {
          conn.on_error(classify_io_error(reset));
        } else {
          peer.linger.on_peer_closed();
          conn.on_peer_closed();
        }
        return;
      }
      const int code = ::WSAGetLastError();
      if (code != WSAEWOULDBLOCK) conn.on_error(classify_io_error(code));
      return;
    }
  }

  // Sends pending output until it is gone or the send buffer is full; then
  // the next poll asks for afd_poll_send.
  void flush(Peer& peer) {
    if (!peer.write_blocked)
      peer.write_blocked = wsb::kit::send_until_would_block(peer.socket, peer.connection);
  }

  void discard_input(Peer& peer) {
    for (int i = 0; i < reads_per_event; ++i) {
      const std::ptrdiff_t n = wsb::net::recv_some(peer.socket, buffer_);
      if (n > 0) continue;
      if (n == 0 || ::WSAGetLastError() != WSAEWOULDBLOCK) peer.linger.on_linger_done();
      return;
    }
  }

  // After the connection changed: close it if it is done (a FIN first for a
  // clean end, see LingeringClose), otherwise post its poll for what it waits
  // for next, unless one is still posted.
  void settle_and_rearm(Peer& peer, Clock::time_point now) {
    if (peer.linger.settle(peer.socket, peer.connection, now, linger_timeout)) {
      close(peer);
      return;
    }
    if (peer.poll_pending) {
      // Only mail (deliver_mail()) changes a connection while its poll is
      // pending. When send() then blocked, the poll must ask for room too:
      // it is cancelled, and posted again when its completion arrives
      // (wepoll and mio update a socket's events the same way).
      if ((events_wanted(peer) & ~peer.armed_events) != 0 && !peer.rearm_after_cancel) {
        peer.rearm_after_cancel = true;
        ::CancelIoEx(poll_handle_, reinterpret_cast<LPOVERLAPPED>(&peer.io_status));
      }
      return;
    }
    arm(peer, events_wanted(peer));
    if (!peer.poll_pending) {
      // The request was refused: nothing would ever report this socket again.
      if (!peer.linger.lingering()) peer.connection.on_error(ErrorClass::io);
      close(peer);
    }
  }

  // The reset is always of interest: it ends the connection whatever it
  // waits for. Input is wanted while the Connection reads (backpressure
  // stops that) and until the peer's FIN; room to send once send() refused.
  static ULONG events_wanted(const Peer& peer) noexcept {
    if (peer.linger.lingering()) return afd_poll_receive | afd_poll_disconnect | afd_poll_abort;
    ULONG events = afd_poll_abort;
    if (peer.connection.want_read() && !peer.linger.peer_closed()) {
      events |= afd_poll_receive | afd_poll_disconnect;
    }
    if (peer.write_blocked) events |= afd_poll_send;
    return events;
  }

  // Releases the admission and ends the connection. A socket whose poll is
  // still pending is not closed yet: the kernel writes the record's
  // IO_STATUS_BLOCK and AfdPollInfo until the request completes, so the poll
  // is cancelled, and the socket is closed and the record freed when the
  // cancelled request's completion arrives (finish_close()).
  void close(Peer& peer) noexcept {
    if (peer.closed) return;
    peer.closed = true;
    // before closesocket(): see Frame::release
    frame_.release(shard_, peer.socket, &peer.connection);
    if (peer.poll_pending) {
      // The request is found by its IO_STATUS_BLOCK, which is what an
      // OVERLAPPED is to the kernel. Should the poll complete first, its
      // completion arrives all the same.
      ::CancelIoEx(poll_handle_, reinterpret_cast<LPOVERLAPPED>(&peer.io_status));
      return;
    }
    finish_close(peer);
  }

  // A closed peer has no poll pending: the socket goes, and so does the
  // record, since no completion can name it any more (a request completes
  // once). The last record takes the freed position in peers_.
  void finish_close(Peer& peer) noexcept {
    ::closesocket(peer.socket);
    by_id_.erase(peer.id);  // mail posted for it from now on is skipped
    const std::size_t i = peer.index;
    if (i + 1 != peers_.size()) {
      peers_[i] = std::move(peers_.back());
      peers_[i]->index = i;
    }
    peers_.pop_back();
  }

  // Every tick: idle timeouts and linger deadlines (which no poll reports),
  // and the end of an accept pause.
  void housekeeping(Clock::time_point now) {
    // Backwards: close() may move the last record into a freed position,
    // which has then been visited already.
    for (std::size_t i = peers_.size(); i-- > 0;) {
      Peer& peer = *peers_[i];
      if (peer.closed) continue;
      if (!peer.linger.lingering()) peer.connection.expire_if_idle(now);
      if (peer.linger.settle(peer.socket, peer.connection, now, linger_timeout)) close(peer);
    }
    if (accept_resume_ != Clock::time_point{} && now >= accept_resume_) {
      accept_resume_ = {};
      arm_listener();
    }
  }

  // Ends every connection and cancels every poll, then collects the
  // cancelled polls (closing their sockets) for at most shutdown_timeout;
  // records whose poll never completes are left allocated (the kernel may
  // still write them).
  void shut_down() {
    for (std::size_t i = peers_.size(); i-- > 0;)
      close(*peers_[i]);
    if (listener_.poll_pending) {
      ::CancelIoEx(poll_handle_, reinterpret_cast<LPOVERLAPPED>(&listener_.io_status));
    }
    const auto deadline = Clock::now() + shutdown_timeout;
    while ((listener_.poll_pending || !peers_.empty()) && Clock::now() < deadline) {
      DWORD error = 0;
      const auto taken = take_completions(100, error);
      if (error != 0) break;  // the port failed: nothing more will arrive
      for (const OVERLAPPED_ENTRY& entry : taken) {
        // Only a poll's completion carries a record; the stop, mail and room
        // packets (closing the peers above calls the room hook) do not.
        if (entry.lpCompletionKey != socket_key) continue;
        auto& p = *reinterpret_cast<Polled*>(entry.lpOverlapped);
        p.poll_pending = false;
        if (!p.is_listener) finish_close(static_cast<Peer&>(p));
      }
    }
    ::closesocket(listener_.socket);
    if (listener_.poll_pending || !peers_.empty()) {
      for (auto& peer : peers_)
        (void)peer.release();  // the kernel may still write into them
      peers_.clear();
      frame_.fail("polls still pending " + std::to_string(shutdown_timeout.count()) +
                  " s after the stop; their records are left allocated");
    }
  }

  Frame& frame_;
  const NtDeviceIoControlFileFn ioctl_;
  AcceptPolicy accept_policy_{frame_, "accept"};
  StatsShard& shard_;
  HANDLE port_ = nullptr;
  // The socket whose base handle every poll is posted on (start()).
  SOCKET poll_socket_ = INVALID_SOCKET;
  HANDLE poll_handle_ = nullptr;
  Polled listener_;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::vector<char> buffer_;
  // Where take_completions() receives the port's completions.
  std::array<OVERLAPPED_ENTRY, completions_per_wait> entries_{};
  Clock::time_point accept_resume_{};
  // Chat mail: what other threads post (MailDrop), and the live peers by id.
  MailDrop mail_drop_;
  std::unordered_map<std::uint64_t, Peer*> by_id_;
  std::uint64_t next_id_ = 1;
  // --when-full queue: the listener waits for room (park_listener()), and
  // since when a client has been seen waiting (none: the epoch).
  bool listener_parked_ = false;
  Clock::time_point waiting_since_{};
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "afd-poll",
       .description =
           "AFD poll (libuv, mio, wepoll): one-shot IOCTL_AFD_POLL requests, sent with "
           "NtDeviceIoControlFile and naming each socket's base handle, report readiness through "
           "an I/O completion port; one thread serves the ready sockets with non-blocking "
           "accept()/recv()/send() and re-arms each one-shot poll. --threads must be 1.",
       .one_thread_reason = "one thread serves every socket"},
      [](Frame& frame) {
        const NtDeviceIoControlFileFn ioctl = load_nt_device_io_control_file();
        if (ioctl == nullptr) {
          std::fprintf(stderr,
                       "server-afd-poll: AFD poll is not available on this system "
                       "(ntdll has no NtDeviceIoControlFile).\n");
          return exit_afd_unavailable;
        }
        if (const std::string why = probe_afd_poll(ioctl); !why.empty()) {
          std::fprintf(stderr,
                       "server-afd-poll: AFD poll is not available on this system (%s). Use "
                       "server-iocp or server-event-select.\n",
                       why.c_str());
          return exit_afd_unavailable;
        }
        // Overlapped, so that a poll request on it is asynchronous; non-blocking
        // for accept().
        const SOCKET listener = frame.open_listener({.overlapped = true, .nonblocking = true});
        AfdPollServer server(frame, listener, ioctl);
        server.start();
        frame.start([&server] { server.wake(); });
        server.run();
        return frame.finish();
      });
}
