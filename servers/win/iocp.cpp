// server-iocp: an I/O completion port served by a pool of worker threads.
//
// The flagship Winsock model (seed notes 001, 002 and 004). Every socket is
// associated with one completion port; the kernel queues a packet there when
// an overlapped operation finishes, and whichever worker thread is waiting
// takes it. No thread belongs to a connection, and no worker ever polls.
//
//   main:     WSAStartup (Frame), listener, CreateIoCompletionPort, AcceptEx /
//             GetAcceptExSockaddrs / DisconnectEx through WSAIoctl, --accepts
//             AcceptEx calls posted, --threads workers started; then the main
//             thread becomes the control thread: it waits for the stop event,
//             sweeps idle connections and re-posts accepts that could not be
//             posted
//   worker:   GetQueuedCompletionStatusEx (--batch entries) -> per entry:
//             AcceptEx done  -> re-post an AcceptEx at once, then
//                               SO_UPDATE_ACCEPT_CONTEXT, GetAcceptExSockaddrs,
//                               admission, TCP_NODELAY, associate, first WSARecv
//             WSARecv done   -> Connection::on_received -> WSASend of the reply
//             WSASend done   -> Connection::on_sent -> next WSASend or WSARecv
//   stop:     close the listener (pending AcceptEx calls complete as aborted),
//             cancel every connection's I/O, wait until every context's
//             reference count is 0, one PostQueuedCompletionStatus sentinel per
//             worker, join the workers, close the port
//
// Lifetime. A SocketContext (the completion key; a pointer, so ULONG_PTR wide)
// is counted: +1 for each operation posted on its socket, -1 when that
// operation's completion has been handled, successful or not, and freed (back
// into the pool) when the count reaches 0. The socket is closed only then, so
// the kernel never completes an operation into a context that was reused. A
// completion may run on another worker before the WSARecv/WSASend call that
// posted it has returned, which is why the count is raised before the call,
// and why everything touching a connection runs under its SRWLOCK.
//
// The per-I/O contexts (OVERLAPPED first, WSABUF, operation type) are members
// of their SocketContext, because a socket has at most one receive, one send
// and one AcceptEx or DisconnectEx outstanding: they come from the pool
// together with it (seed 002 discusses this "merged" layout), so the hot path
// takes no lock and allocates nothing.
//
// Errors. A failed receive or send ends its connection and is counted by
// class: ERROR_NETNAME_DELETED (what a reset looks like through a port) and
// ERROR_CONNECTION_ABORTED as reset, anything else as io. Operations that the
// server cancelled itself (ERROR_OPERATION_ABORTED after hard_close()) are
// not failures and are not counted.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "platform/net.hpp"
#include "kit/mail_list.hpp"
#include "kit/winsock.hpp"
#include "platform/win/ntstatus.hpp"
#include "server/model_names.hpp"

namespace {

using namespace wsb::server::model;

// Inline completions (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS) handled in one go
// for one connection. A peer that streams fast enough would otherwise keep a
// worker in one connection's loop forever; past the budget the result is
// queued to the port instead, behind the other connections' completions.
constexpr int inline_budget = 16;
// With --zero-byte-recv, non-blocking recv() calls per wake-up (libuv's cap).
constexpr int reads_per_wakeup = 32;
// A WSASend hands the kernel at most this much of a reply at once, so that a
// connection with a multi-megabyte reply does not lock that much memory in
// the kernel; the rest goes in the next send (the partial-send path).
constexpr std::size_t max_send_chunk = std::size_t{1} << 20;
// After the server's FIN (shutdown(SD_SEND)) the connection is drained until
// the peer closes too, so that its unread requests do not turn the close into
// a reset that could destroy the last reply. A peer that never closes is cut
// off after this long.
constexpr auto drain_timeout = std::chrono::seconds(2);
// How long the stop sequence waits for cancelled I/O to complete.
// Cancelled requests complete at once; the bound only matters when they do
// not, and it keeps the whole stop inside the 5 s that Windows grants a
// console process after a close (platform/win/interrupt.cpp).
constexpr auto shutdown_timeout = std::chrono::seconds(3);
// Completion key of the stop sentinels. Socket keys are context addresses
// (never 0) and the listener's key is the server's address.
constexpr ULONG_PTR stop_key = 0;
// Completion key of the packets that wake a worker for chat mail (no
// context's address: contexts are aligned, so never 1).
constexpr ULONG_PTR mail_key = 1;
// Completion key of the packets that wake a worker when a release made room
// (--when-full queue).
constexpr ULONG_PTR room_key = 2;

// ---------------------------------------------------------------------------
// Completion status
//
// GetQueuedCompletionStatusEx returns TRUE even when the I/O operations it
// dequeued failed: each operation's own status is the NTSTATUS the kernel
// wrote into OVERLAPPED.Internal. StatusTranslator::win32_error()
// (platform/win/ntstatus.hpp) turns it into the Win32 code that
// GetQueuedCompletionStatus would have reported through GetLastError(), e.g.
// ERROR_NETNAME_DELETED for a reset, which net::is_reset() and
// classify_io_error() know.
using wsb::net::win::StatusTranslator;

// The class of a failed AcceptEx. A connection that the peer reset before
// it was accepted completes with STATUS_CONNECTION_RESET on Windows
// (ERROR_NETNAME_DELETED, a reset). Wine 8 completes it with
// STATUS_INVALID_CONNECTION instead (its host accept() found the socket no
// longer connected, ENOTCONN), which RtlNtStatusToDosError turns into the
// unspecific ERROR_UNEXP_NET_ERR; on an accept that status can only mean
// the same thing, so it is counted as a reset too.
ErrorClass classify_accept_completion(const OVERLAPPED& ov, DWORD error) noexcept {
  constexpr LONG status_invalid_connection = static_cast<LONG>(0xC0000140u);
  if (wsb::net::win::overlapped_status(ov) == status_invalid_connection) return ErrorClass::reset;
  return classify_accept_error(static_cast<int>(error));
}

// ---------------------------------------------------------------------------
// Locks
//
// SRWLOCKs throughout: one pointer, no kernel object until a thread actually
// has to wait, and an uncontended acquire/release is one interlocked
// instruction each (docs/models/iocp.md has the measurement that chose them
// over CRITICAL_SECTION and over a lock-free index stack).
class ExclusiveLock {
 public:
  explicit ExclusiveLock(SRWLOCK& lock) noexcept : lock_(lock) {
    ::AcquireSRWLockExclusive(&lock_);
  }
  ~ExclusiveLock() { ::ReleaseSRWLockExclusive(&lock_); }
  ExclusiveLock(const ExclusiveLock&) = delete;
  ExclusiveLock& operator=(const ExclusiveLock&) = delete;

 private:
  SRWLOCK& lock_;
};

class SharedLock {
 public:
  explicit SharedLock(SRWLOCK& lock) noexcept : lock_(lock) { ::AcquireSRWLockShared(&lock_); }
  ~SharedLock() { ::ReleaseSRWLockShared(&lock_); }
  SharedLock(const SharedLock&) = delete;
  SharedLock& operator=(const SharedLock&) = delete;

 private:
  SRWLOCK& lock_;
};

// ---------------------------------------------------------------------------
// Contexts

enum class Op : std::uint8_t { accept, recv, send, disconnect };

struct SocketContext;

// The per-I/O context. The OVERLAPPED must come first: the port hands back
// the OVERLAPPED* of the operation, and from_overlapped() turns it back into
// the IoContext that contains it.
struct IoContext {
  OVERLAPPED ov;
  WSABUF buf;
  Op op;
  SocketContext* owner;

  // Re-zeroes the OVERLAPPED before every use: Internal/InternalHigh still
  // hold the previous operation's result, and an OVERLAPPED must not be
  // reused before it is reset.
  void prepare(Op operation, char* data, std::size_t length) noexcept {
    ov = OVERLAPPED{};
    op = operation;
    buf.buf = data;
    buf.len = static_cast<ULONG>(length);
  }

  static IoContext* from_overlapped(OVERLAPPED* overlapped) noexcept {
    return reinterpret_cast<IoContext*>(overlapped);
  }
};
static_assert(std::is_standard_layout_v<IoContext>, "IoContext must be standard-layout");
static_assert(offsetof(IoContext, ov) == 0, "the OVERLAPPED must be IoContext's first member");

enum class State : std::uint8_t {
  free,           // in the pool
  accepting,      // an AcceptEx is posted with this socket
  open,           // a live connection
  draining,       // FIN sent; reading (and discarding) until the peer closes
  closed,         // waiting for the cancelled I/O to complete (count -> 0)
  disconnecting,  // DisconnectEx(TF_REUSE_SOCKET) pending (--reuse-sockets)
  cached,         // disconnected socket waiting to be given to AcceptEx again
};

// The per-socket context: the completion key of its socket. Lives in a pool
// segment from creation to the end of the program; only its contents change.
struct SocketContext {
  IoContext accept_io{};
  IoContext recv_io{};
  IoContext send_io{};
  // DisconnectEx has an IoContext of its own although it never overlaps with
  // the others: its completion is polled, not dequeued (start_disconnect()),
  // and a packet that a system queued anyway must not be mistaken for the
  // AcceptEx that the recycled socket may be waiting in by then.
  IoContext disconnect_io{};

  // Guards every field below, and the socket handle's validity: the socket
  // is only closed by a state change made under it. The sweeper and the stop
  // sequence walk all contexts and take nothing but this lock.
  SRWLOCK lock = SRWLOCK_INIT;
  SOCKET socket = INVALID_SOCKET;
  // Operations posted and not yet handled; the thread handling a completion
  // keeps that operation's reference until it is done. Freed at 0. Only
  // posters and completion handlers change it.
  std::atomic<long> refs{0};

  State state = State::free;
  bool recv_pending = false;  // a WSARecv is posted (or its inline result queued)
  bool send_pending = false;
  bool peer_closed = false;  // a receive returned 0 bytes while open
  bool admitted = false;     // Frame::admit() said yes: release() at the end
  // The connection was served without a transport error: with
  // --reuse-sockets, a socket whose peer also closed first may be recycled.
  bool reusable = false;
  bool associated = false;  // the socket is bound to the port (survives reuse)
  bool skip_mode = false;   // FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is set on it
  Clock::time_point drain_deadline{};

  // Chat: the context's place on the server's mail list, made with its first
  // Connection. Contexts live until the end of the program, so a stale entry
  // (its connection closed since) only makes a worker look at a context that
  // has no mail.
  std::optional<wsb::kit::MailTarget> mail;
  std::optional<Connection> conn;
  // Each context has a statistics shard of its own. A connection's completions
  // run on whichever worker dequeues them, so no thread owns it; its shard
  // has exactly one writer at a time because the Connection is only used
  // under `lock`, which also orders those writes.
  StatsShard* shard = nullptr;
  wsb::net::Endpoint peer;  // from GetAcceptExSockaddrs (seed 002 keeps it per socket)

  char* recv_buffer = nullptr;          // this context's slice of its segment's slab
  std::uint32_t index = 0;              // position in the pool
  wsb::kit::AcceptAddresses addresses;  // where AcceptEx writes both addresses
};

// Per-thread state: the thread's own statistics shard (admissions, accept
// failures, releases) and a receive buffer for --zero-byte-recv.
struct ThreadState {
  StatsShard& shard;
  std::vector<char> scratch;
};

// ---------------------------------------------------------------------------
// The context pool (seed 002): preallocated segments of contexts, and a stack
// of free indices. A segment holds `segment_size` contexts and one slab with
// their receive buffers; when the stack is empty the pool grows by a segment,
// so every context and buffer keeps its address until the program ends (the
// kernel may still write into a context that is being closed). When no
// segment can be added (out of memory, or the 4096-segment table is full),
// acquire() returns nullptr: the caller counts out_of_descriptors and the
// accept is retried on the control thread's next tick.
//
// Thread safety: one SRWLOCK around the index stack. Contexts are taken and
// returned only when connections open and close (never per I/O), so the lock
// is held for a few instructions a handful of times per connection.
class ContextPool {
 public:
  ContextPool(Frame& frame, std::size_t segment_size, std::size_t recv_buffer)
      : frame_(frame), segment_size_(segment_size), recv_buffer_(recv_buffer) {
    segments_.reserve(max_segments);
  }
  ContextPool(const ContextPool&) = delete;
  ContextPool& operator=(const ContextPool&) = delete;
  ~ContextPool() {
    // After a failed shutdown the kernel may still own some contexts'
    // OVERLAPPEDs; freeing them would let it write into freed memory.
    if (leaked_) {
      for (auto& segment : segments_) {
        (void)segment.release();
      }
    }
  }

  SocketContext* acquire() noexcept {
    for (;;) {
      {
        ExclusiveLock guard(lock_);
        if (!free_.empty()) {
          const std::uint32_t index = free_.back();
          free_.pop_back();
          return &at(index);
        }
      }
      if (!grow()) return nullptr;
    }
  }

  void release(SocketContext* ctx) noexcept {
    ExclusiveLock guard(lock_);
    // Never allocates: grow() reserved room for every index.
    free_.push_back(ctx->index);
  }

  // Calls f(SocketContext&) for every context ever created (free or not).
  template <class F>
  void for_each(F&& f) {
    std::size_t count = 0;
    {
      ExclusiveLock guard(lock_);
      count = segments_.size();
    }
    // Elements below `count` are never written again: segments_ was reserved
    // up front, so push_back neither moves nor touches them.
    for (std::size_t s = 0; s < count; ++s) {
      SocketContext* contexts = segments_[s]->contexts.get();
      for (std::size_t i = 0; i < segment_size_; ++i) {
        f(contexts[i]);
      }
    }
  }

  std::size_t capacity() const noexcept { return capacity_.load(std::memory_order_relaxed); }
  void leak() noexcept { leaked_ = true; }

  // Adds one segment. Also used to preallocate at start.
  bool grow() noexcept {
    std::unique_ptr<Segment> segment;
    try {
      segment = std::make_unique<Segment>();
      segment->contexts = std::make_unique<SocketContext[]>(segment_size_);
      if (recv_buffer_ != 0) {
        segment->buffers = std::make_unique<char[]>(segment_size_ * recv_buffer_);
      }
      for (std::size_t i = 0; i < segment_size_; ++i) {
        SocketContext& ctx = segment->contexts[i];
        ctx.shard = &frame_.shard();
        ctx.accept_io.owner = ctx.recv_io.owner = ctx.send_io.owner = ctx.disconnect_io.owner =
            &ctx;
        if (recv_buffer_ != 0) ctx.recv_buffer = segment->buffers.get() + i * recv_buffer_;
      }
    } catch (const std::exception&) {
      return false;
    }
    ExclusiveLock guard(lock_);
    if (segments_.size() == max_segments) return false;
    const std::size_t base = segments_.size() * segment_size_;
    try {
      free_.reserve(base + segment_size_);
    } catch (const std::exception&) {
      return false;
    }
    for (std::size_t i = 0; i < segment_size_; ++i) {
      segment->contexts[i].index = static_cast<std::uint32_t>(base + i);
    }
    // Pushed in reverse so that the lowest index is handed out first.
    for (std::size_t i = segment_size_; i-- > 0;) {
      free_.push_back(static_cast<std::uint32_t>(base + i));
    }
    segments_.push_back(std::move(segment));
    capacity_.store(segments_.size() * segment_size_, std::memory_order_relaxed);
    return true;
  }

 private:
  static constexpr std::size_t max_segments = 4096;
  struct Segment {
    std::unique_ptr<SocketContext[]> contexts;
    std::unique_ptr<char[]> buffers;
  };

  SocketContext& at(std::uint32_t index) noexcept {
    return segments_[index / segment_size_]->contexts[index % segment_size_];
  }

  Frame& frame_;
  const std::size_t segment_size_;
  const std::size_t recv_buffer_;
  SRWLOCK lock_ = SRWLOCK_INIT;
  std::vector<std::unique_ptr<Segment>> segments_;
  std::vector<std::uint32_t> free_;  // the free-index stack
  std::atomic<std::size_t> capacity_{0};
  bool leaked_ = false;
};

// ---------------------------------------------------------------------------

struct ModelOptions {
  int accepts = 16;
  int batch = 64;
  bool skip_on_success = false;
  bool reuse_sockets = false;
  bool zero_byte_recv = false;
  std::size_t recv_buffer = 16 * 1024;
  int pool_segment = 256;
};

// What an attempt to post a WSARecv/WSASend led to.
struct Posted {
  enum Kind : std::uint8_t { pending, done_inline, failed } kind;
  DWORD bytes;  // done_inline: the bytes transferred
  int error;    // failed: the WSA error
};

class IocpServer {
 public:
  IocpServer(Frame& frame, const ModelOptions& options)
      : frame_(frame),
        options_(options),
        pool_(frame, static_cast<std::size_t>(options.pool_segment),
              options.zero_byte_recv ? 0 : options.recv_buffer) {}

  IocpServer(const IocpServer&) = delete;
  IocpServer& operator=(const IocpServer&) = delete;

  ~IocpServer() {
    if (stop_event_ != nullptr) ::CloseHandle(stop_event_);
    if (disconnect_event_ != nullptr) ::CloseHandle(disconnect_event_);
    if (port_ != nullptr) ::CloseHandle(port_);
  }

  int run() {
    ThreadState control{frame_.shard(), {}};
    set_up(control);
    queue_mode_ = frame_.options().when_full == wsb::server::WhenFull::queue;
    frame_.set_room_hook([this] { wake_for_room(); });
    frame_.start([this] {
      // Called once on the frame's reporter thread. The control thread
      // (main) waits on this event and runs the stop sequence; doing it here
      // would block the reporter.
      ::SetEvent(stop_event_);
    });

    try {
      const int threads = frame_.options().threads;
      workers_.reserve(static_cast<std::size_t>(threads));
      for (int i = 0; i < threads; ++i) {
        workers_.emplace_back([this] { worker_main(); });
      }
    } catch (const std::exception& e) {
      // The workers that did start still drain the port during the stop.
      frame_.fail(std::string("starting the worker threads failed: ") + e.what());
    }

    control_loop(control);
    shut_down(control);
    report_settings();
    return frame_.finish();
  }

 private:
  // ---- set-up ------------------------------------------------------------

  void set_up(ThreadState& ts) {
    stop_event_ = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (stop_event_ == nullptr) {
      throw wsb::net::NetError(static_cast<int>(::GetLastError()), "CreateEvent failed");
    }
    // NumberOfConcurrentThreads 0 = as many running threads as processors;
    // the extra workers (2 x cores by default) stand in for those that block
    // (--stall, page faults) without oversubscribing the CPUs.
    port_ = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 0);
    if (port_ == nullptr) {
      const int code = static_cast<int>(::GetLastError());
      throw wsb::net::NetError(code,
                               "CreateIoCompletionPort failed: " + wsb::net::error_text(code));
    }
    if (!pool_.grow()) throw std::bad_alloc();

    listener_ = static_cast<SOCKET>(frame_.open_listener({.overlapped = true}));
    listener_open_ = true;
    family_ = frame_.listen_endpoint().is_v6() ? AF_INET6 : AF_INET;
    if (::CreateIoCompletionPort(reinterpret_cast<HANDLE>(listener_), port_, listener_key(), 0) ==
        nullptr) {
      const int code = static_cast<int>(::GetLastError());
      throw wsb::net::NetError(
          code, "associating the listener with the port failed: " + wsb::net::error_text(code));
    }

    // Extension functions are provider-specific: loading them through
    // WSAIoctl on a socket of the right provider works with every provider,
    // where linking mswsock's exports costs an extra lookup per call.
    accept_ = wsb::kit::AcceptExFunctions::load(listener_);
    if (options_.reuse_sockets) {
      disconnect_ex_ = wsb::kit::load_extension<LPFN_DISCONNECTEX>(listener_, WSAID_DISCONNECTEX,
                                                                   "DisconnectEx");
      disconnect_event_ = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
      if (disconnect_event_ == nullptr) {
        throw wsb::net::NetError(static_cast<int>(::GetLastError()), "CreateEvent failed");
      }
      const std::string failure = reuse_probe_failure();
      reuse_ = failure.empty();
      if (!reuse_) {
        std::fprintf(stderr,
                     "iocp: --reuse-sockets disabled: a socket recycled with "
                     "DisconnectEx(TF_REUSE_SOCKET) could not serve a second connection here (%s). "
                     "(Wine 8 fails this: it ignores TF_REUSE_SOCKET, and the socket keeps its "
                     "shutdown state.) Closed sockets are replaced by new ones instead.\n",
                     failure.c_str());
      }
    }
    if (options_.skip_on_success) skip_mode_ = skip_mode_is_safe();
    cache_limit_ = static_cast<std::size_t>(options_.accepts) * 2;

    for (int i = 0; i < options_.accepts; ++i) {
      post_accept(ts);
    }
  }

  // Tries DisconnectEx(TF_REUSE_SOCKET) once on a private loopback listener,
  // the way the server uses it: accept a connection, let the peer close
  // first, disconnect, accept a second connection into the same socket and
  // send on it. Returns what failed, or an empty string. Every wait is
  // bounded (2 s), and a timed-out operation is cancelled and waited for
  // before its OVERLAPPED goes out of scope.
  std::string reuse_probe_failure() const {
    struct Socket {
      SOCKET s = INVALID_SOCKET;
      Socket() = default;
      explicit Socket(SOCKET v) : s(v) {}
      Socket(const Socket&) = delete;
      Socket& operator=(const Socket&) = delete;
      ~Socket() {
        if (s != INVALID_SOCKET) ::closesocket(s);
      }
    };
    const auto failed = [](const char* step, int code) {
      return std::string(step) + ": " + wsb::net::error_text(code);
    };
    HANDLE event = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (event == nullptr) return failed("CreateEvent", static_cast<int>(::GetLastError()));
    struct EventCloser {
      HANDLE h;
      ~EventCloser() { ::CloseHandle(h); }
    } event_closer{event};

    // Issues an overlapped call and waits for it; returns its WSA error.
    const auto run = [&](SOCKET s, auto&& issue) -> int {
      OVERLAPPED ov{};
      ov.hEvent = event;
      ::ResetEvent(event);
      if (!issue(&ov)) {
        const int error = ::WSAGetLastError();
        if (error != ERROR_IO_PENDING) return error;
      }
      DWORD bytes = 0;
      DWORD flags = 0;
      if (::WaitForSingleObject(event, 2000) != WAIT_OBJECT_0) {
        ::CancelIoEx(reinterpret_cast<HANDLE>(s), &ov);
        ::WSAGetOverlappedResult(s, &ov, &bytes, TRUE, &flags);
        return WSAETIMEDOUT;
      }
      return ::WSAGetOverlappedResult(s, &ov, &bytes, FALSE, &flags) ? 0 : ::WSAGetLastError();
    };

    const auto loopback = wsb::net::parse_endpoint(family_ == AF_INET6 ? "::1" : "127.0.0.1", 0);
    Socket listener(
        ::WSASocketW(family_, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED));
    if (listener.s == INVALID_SOCKET) return failed("socket", ::WSAGetLastError());
    if (::bind(listener.s, loopback->address(), loopback->length) != 0 ||
        ::listen(listener.s, 2) != 0) {
      return failed("bind/listen", ::WSAGetLastError());
    }
    const auto address = wsb::net::local_endpoint(static_cast<wsb::net::socket_t>(listener.s));
    if (!address) return failed("getsockname", ::WSAGetLastError());
    Socket accepted(
        ::WSASocketW(family_, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED));
    if (accepted.s == INVALID_SOCKET) return failed("socket", ::WSAGetLastError());
    const DWORD timeout_ms = 2000;

    wsb::kit::AcceptAddresses addresses;
    for (int round = 0; round < 2; ++round) {
      Socket client;
      try {
        client.s = static_cast<SOCKET>(wsb::net::connect_to(*address));
      } catch (const wsb::net::NetError& e) {
        return failed("connect", e.code().value());
      }
      int error = run(listener.s, [&](OVERLAPPED* ov) {
        DWORD bytes = 0;
        return accept_.accept_ex(listener.s, accepted.s, addresses.bytes, 0,
                                 wsb::kit::accept_address_slot, wsb::kit::accept_address_slot,
                                 &bytes, ov) != FALSE;
      });
      if (error != 0) {
        return failed(round == 0 ? "AcceptEx" : "AcceptEx on the recycled socket", error);
      }
      if (::setsockopt(accepted.s, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                       reinterpret_cast<const char*>(&listener.s), sizeof(listener.s)) != 0 ||
          ::setsockopt(accepted.s, SOL_SOCKET, SO_RCVTIMEO,
                       reinterpret_cast<const char*>(&timeout_ms), sizeof(timeout_ms)) != 0 ||
          ::setsockopt(client.s, SOL_SOCKET, SO_RCVTIMEO,
                       reinterpret_cast<const char*>(&timeout_ms), sizeof(timeout_ms)) != 0) {
        return failed("setsockopt", ::WSAGetLastError());
      }
      if (round == 1) {
        char byte = 'x';
        if (::send(accepted.s, &byte, 1, 0) != 1) {
          return failed("send on the recycled socket", ::WSAGetLastError());
        }
        if (::recv(client.s, &byte, 1, 0) != 1) {
          return failed("recv from the recycled socket", ::WSAGetLastError());
        }
        return {};
      }
      // The peer closes first, as it must for the server to recycle a socket.
      ::closesocket(client.s);
      client.s = INVALID_SOCKET;
      char byte = 0;
      if (::recv(accepted.s, &byte, 1, 0) != 0) {
        return failed("waiting for the peer's FIN", ::WSAGetLastError());
      }
      error = run(accepted.s, [&](OVERLAPPED* ov) {
        return disconnect_ex_(accepted.s, ov, TF_REUSE_SOCKET, 0) != FALSE;
      });
      if (error != 0) return failed("DisconnectEx", error);
    }
    return {};
  }

  // FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is only safe when the socket is a
  // real kernel handle: a non-IFS layered service provider completes I/O
  // through its own means, and with the mode set such completions can be
  // lost. The check is libuv's: the provider at the top of this socket type's
  // chain must set XP1_IFS_HANDLES. (WSAEnumProtocols would list every
  // catalogue entry; SO_PROTOCOL_INFOW answers for the provider actually in
  // use, and the accepted sockets have the listener's family, type and
  // protocol, so they get the same one.)
  bool skip_mode_is_safe() {
    WSAPROTOCOL_INFOW info{};
    int length = sizeof(info);
    if (::getsockopt(listener_, SOL_SOCKET, SO_PROTOCOL_INFOW, reinterpret_cast<char*>(&info),
                     &length) != 0) {
      std::fprintf(stderr, "iocp: --skip-on-success ignored: SO_PROTOCOL_INFOW failed: %s\n",
                   wsb::net::error_text(::WSAGetLastError()).c_str());
      return false;
    }
    if ((info.dwServiceFlags1 & XP1_IFS_HANDLES) == 0) {
      std::fprintf(
          stderr,
          "iocp: --skip-on-success ignored: the TCP provider is a non-IFS layered service provider "
          "(no XP1_IFS_HANDLES), which may complete I/O without the port\n");
      return false;
    }
    return true;
  }

  ULONG_PTR listener_key() const noexcept { return reinterpret_cast<ULONG_PTR>(this); }

  // ---- reference counting ------------------------------------------------

  static void add_ref(SocketContext& ctx) noexcept {
    ctx.refs.fetch_add(1, std::memory_order_relaxed);
  }

  // Drops a reference that cannot be the last one (the caller holds another).
  static void drop_ref(SocketContext& ctx) noexcept {
    ctx.refs.fetch_sub(1, std::memory_order_release);
  }

  // Drops a reference; the last one finalises the context. Never called with
  // ctx.lock held.
  void release_ref(SocketContext& ctx, ThreadState& ts) noexcept {
    if (ctx.refs.fetch_sub(1, std::memory_order_acq_rel) == 1) finalize(ctx, ts);
  }

  // No operation is outstanding any more: the connection's accounting ends,
  // and the socket is recycled or closed.
  void finalize(SocketContext& ctx, ThreadState& ts) noexcept {
    bool recycle = false;
    {
      ExclusiveLock guard(ctx.lock);
      if (ctx.state == State::draining) draining_.fetch_sub(1, std::memory_order_relaxed);
      if (ctx.admitted) {
        // The socket is still open here (closed or recycled below).
        frame_.release(ts.shard, static_cast<wsb::net::socket_t>(ctx.socket),
                       ctx.conn ? &*ctx.conn : nullptr);
        ctx.admitted = false;
      }
      ctx.conn.reset();
      // Only sockets whose peer closed first are recycled. Where the server
      // closed first (drain, idle timeout, refusal) this socket is the one
      // that enters TIME_WAIT, and a DisconnectEx(TF_REUSE_SOCKET) on it may
      // not complete until TIME_WAIT is over (minutes), pinning a context.
      recycle = reuse_ && ctx.reusable && ctx.peer_closed && !frame_.stopping();
      ctx.state = State::closed;
    }
    if (recycle) {
      start_disconnect(ctx, ts);
    } else {
      discard(ctx);
    }
  }

  // Closes the context's socket and returns the context to the pool. The
  // caller owns the context (count 0, no other thread will touch it except
  // the sweeper and stop sequence, which only look under the lock).
  void discard(SocketContext& ctx) noexcept {
    SOCKET s = INVALID_SOCKET;
    {
      ExclusiveLock guard(ctx.lock);
      s = ctx.socket;
      ctx.socket = INVALID_SOCKET;
      ctx.state = State::free;
      ctx.associated = ctx.skip_mode = false;
    }
    if (s != INVALID_SOCKET) wsb::net::close_socket(static_cast<wsb::net::socket_t>(s));
    pool_.release(&ctx);
    live_.fetch_sub(1, std::memory_order_release);
  }

  // ---- accepting ---------------------------------------------------------

  // Posts one AcceptEx. A recycled socket (--reuse-sockets) is tried first;
  // if AcceptEx rejects it (WSAEINVAL: the stack does not consider it
  // reusable yet), it is closed and a fresh socket is tried. A failure that
  // a retry right now would repeat (out of sockets or memory) is counted and
  // left to the control thread's next tick.
  void post_accept(ThreadState& ts) noexcept {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (frame_.stopping()) return;
      SocketContext* ctx = attempt == 0 ? take_cached() : nullptr;
      const bool recycled = ctx != nullptr;
      if (ctx == nullptr) {
        ctx = pool_.acquire();
        if (ctx == nullptr) {
          ts.shard.error(ErrorClass::out_of_descriptors);
          accept_deficit_.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        live_.fetch_add(1, std::memory_order_relaxed);
        const SOCKET s = wsb::kit::open_accept_socket(family_);
        if (s == INVALID_SOCKET) {
          ts.shard.error(classify_accept_error(::WSAGetLastError()));
          discard(*ctx);
          accept_deficit_.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        ExclusiveLock guard(ctx->lock);
        ctx->socket = s;
      }
      {
        ExclusiveLock guard(ctx->lock);
        ctx->state = State::accepting;
        ctx->recv_pending = ctx->send_pending = false;
        ctx->peer_closed = ctx->admitted = ctx->reusable = false;
        ctx->accept_io.prepare(Op::accept, nullptr, 0);
      }
      // The AcceptEx's reference, taken before the call because its
      // completion may be handled before AcceptEx returns. Stored, not
      // added: the context was unused, and only posters and handlers touch
      // the count.
      ctx->refs.store(1, std::memory_order_release);

      int error = 0;
      {
        // Shared with other posters; the stop sequence takes it exclusively
        // to close the listener, so AcceptEx never sees a closed (or, worse,
        // reused) listener handle.
        SharedLock guard(listener_lock_);
        if (!listener_open_) {
          error = WSAENOTSOCK;
        } else {
          // dwReceiveDataLength 0: complete as soon as the connection is
          // established, so a client that connects and stays silent cannot
          // hold an accept (and the server's accept capacity) hostage.
          error = wsb::kit::start_accept(accept_, listener_, ctx->socket, ctx->addresses,
                                         &ctx->accept_io.ov);
        }
      }
      // Pending or done at once: either way a packet will come, because the
      // listener is not in skip-on-success mode.
      if (error == 0) return;

      // No completion will come: the reference is ours to take back.
      ctx->refs.store(0, std::memory_order_relaxed);
      discard(*ctx);
      if (frame_.stopping()) return;
      if (recycled) {
        reuse_fallbacks_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      ts.shard.error(classify_accept_error(error));
      accept_deficit_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }

  // An AcceptEx completed (error 0) or failed. The handler holds the
  // AcceptEx's reference; whatever the outcome, dropping it at the end
  // either leaves the new connection's posted receive as the only reference
  // or finalises (closes) the context.
  void on_accept(SocketContext& ctx, DWORD error, ThreadState& ts) noexcept {
    if (frame_.stopping()) {
      // The listener is being closed; the aborted accepts are expected.
      release_ref(ctx, ts);
      return;
    }
    // --when-full queue: the accepted client is held, not admitted, while
    // --max-connections are online, and its AcceptEx is not posted again
    // (the clients behind it wait in the backlog) until a release makes room
    // (admit_held()).
    const bool queued = error == 0 && queue_mode_;
    if (queued && hold(ctx)) return;
    // Re-post first, whatever happened to this accept, so that the number of
    // pending accepts never drops because of a failed or slow one.
    post_accept(ts);
    if (error != 0) {
      ts.shard.error(classify_accept_completion(ctx.accept_io.ov, error));
    } else {
      ExclusiveLock guard(ctx.lock);
      open_connection(ctx, ts);
    }
    if (queued) admission_done();
    release_ref(ctx, ts);
  }

  // Keeps an accepted context (and its reference) until there is room: when
  // the server is full, or older clients are still held (first come, first
  // served). False when it is to be served now, and once the stop sequence
  // took the held ones.
  //
  // In queue mode one admission runs at a time (admitting_): two workers
  // that both saw the last free place would otherwise both admit, and the
  // second would be refused.
  bool hold(SocketContext& ctx) noexcept {
    {
      ExclusiveLock guard(held_lock_);
      if (!held_open_) {
        ++admitting_;  // admission_done() follows
        return false;
      }
      if (held_.empty() && admitting_ == 0 && frame_.has_room()) {
        ++admitting_;  // served now; admission_done() follows
        return false;
      }
      try {
        held_.push_back(Held{&ctx, Clock::now()});
      } catch (const std::bad_alloc&) {
        ++admitting_;  // admitted at once instead, and refused if still full
        return false;
      }
    }
    // Room may have come before this client was held, with no release left
    // to call the room hook.
    if (frame_.has_room()) wake_for_room();
    return true;
  }

  void wake_for_room() noexcept { ::PostQueuedCompletionStatus(port_, 0, room_key, nullptr); }

  // A room_key packet (the frame's room hook): admits held clients, oldest
  // first, while there is room, each with the AcceptEx it held back posted
  // again; reports how long each waited since its accept completed.
  void admit_held(ThreadState& ts) noexcept {
    for (;;) {
      Held held{};
      {
        ExclusiveLock guard(held_lock_);
        if (held_.empty() || admitting_ != 0 || !frame_.has_room()) return;
        held = held_.front();
        held_.pop_front();
        ++admitting_;
      }
      frame_.note_waited(Clock::now() - held.since);
      post_accept(ts);
      {
        ExclusiveLock guard(held.ctx->lock);
        open_connection(*held.ctx, ts);
      }
      {
        ExclusiveLock guard(held_lock_);
        --admitting_;
      }
      release_ref(*held.ctx, ts);
    }
  }

  // A fresh accept was served in queue mode: the next admission may run,
  // and held clients are woken for if there is room for them.
  void admission_done() noexcept {
    bool waiting = false;
    {
      ExclusiveLock guard(held_lock_);
      --admitting_;
      waiting = !held_.empty();
    }
    if (waiting && frame_.has_room()) wake_for_room();
  }

  // Turns an accepted socket into a served connection; on failure (counted)
  // it leaves the context as it is, and the caller's release closes it.
  // Called with ctx.lock held.
  void open_connection(SocketContext& ctx, ThreadState& ts) noexcept {
    {
      // AcceptEx leaves the socket in a default state: getpeername, shutdown
      // and setsockopt calls fail with WSAENOTCONN until it inherits the
      // listener's properties. (Wine makes this a no-op, so forgetting it
      // passes there and breaks on Windows.)
      SharedLock guard(listener_lock_);
      if (!listener_open_) return;
      if (const int code = wsb::kit::update_accept_context(ctx.socket, listener_); code != 0) {
        ts.shard.error(classify_accept_error(code));
        return;
      }
    }
    ctx.peer = wsb::kit::accepted_peer(accept_, ctx.addresses);

    if (!frame_.admit(ts.shard, static_cast<wsb::net::socket_t>(ctx.socket))) {
      return;  // counted as refused (or banned)
    }
    ctx.admitted = true;

    // Options are not inherited from the listener through AcceptEx, so they
    // are set on every accepted socket.
    const auto s = static_cast<wsb::net::socket_t>(ctx.socket);
    if (!wsb::net::set_nodelay(s) ||
        (options_.zero_byte_recv && !wsb::net::set_nonblocking(s, true)) || !associate(ctx)) {
      ts.shard.error(classify_io_error(wsb::net::last_error()));
      return;
    }
    try {
      ctx.conn.emplace(frame_, *ctx.shard);
      if (!ctx.mail) ctx.mail.emplace(mail_, &ctx);
      ctx.mail->watch(*ctx.conn);
    } catch (const std::exception&) {
      ctx.shard->error(ErrorClass::io);
      return;
    }
    ctx.state = State::open;
    ctx.reusable = true;
    // The stop sequence may have walked past this context before it was
    // open; stopping() was true before that walk began, so this catches it.
    if (frame_.stopping()) {
      hard_close(ctx);
    } else {
      pump(ctx, ts);
    }
  }

  // Binds a new socket to the port with its context as the key, and turns on
  // skip-on-success. A recycled socket keeps both (a handle can be associated
  // only once).
  bool associate(SocketContext& ctx) noexcept {
    if (ctx.associated) return true;
    if (::CreateIoCompletionPort(reinterpret_cast<HANDLE>(ctx.socket), port_,
                                 reinterpret_cast<ULONG_PTR>(&ctx), 0) == nullptr) {
      ::WSASetLastError(static_cast<int>(::GetLastError()));
      return false;
    }
    ctx.associated = true;
    if (skip_mode_) {
      // SKIP_SET_EVENT_ON_HANDLE: nobody waits on the socket handle itself,
      // so the kernel need not signal it on every completion.
      if (!::SetFileCompletionNotificationModes(
              reinterpret_cast<HANDLE>(ctx.socket),
              FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE)) {
        ::WSASetLastError(static_cast<int>(::GetLastError()));
        return false;
      }
      ctx.skip_mode = true;
    }
    return true;
  }

  // ---- serving -------------------------------------------------------------

  Posted post_recv(SocketContext& ctx) noexcept {
    // --zero-byte-recv: a zero-length receive completes when data arrives but
    // pins no buffer while the connection is idle; the data is then read with
    // non-blocking recv() into the worker's buffer.
    static char zero_byte_target = 0;
    if (options_.zero_byte_recv) {
      ctx.recv_io.prepare(Op::recv, &zero_byte_target, 0);
    } else {
      ctx.recv_io.prepare(Op::recv, ctx.recv_buffer, options_.recv_buffer);
    }
    add_ref(ctx);
    DWORD bytes = 0;
    DWORD flags = 0;
    if (::WSARecv(ctx.socket, &ctx.recv_io.buf, 1, &bytes, &flags, &ctx.recv_io.ov, nullptr) == 0) {
      // Completed at once. Without skip mode the packet is queued anyway and
      // will be handled from the port, so this is "pending" too.
      if (ctx.skip_mode) return {Posted::done_inline, bytes, 0};
      return {Posted::pending, 0, 0};
    }
    const int error = ::WSAGetLastError();
    if (error == WSA_IO_PENDING) return {Posted::pending, 0, 0};
    drop_ref(ctx);  // no completion will come for a call that failed
    return {Posted::failed, 0, error};
  }

  Posted post_send(SocketContext& ctx) noexcept {
    // begin_send() freezes the reply bytes in a block of their own: receives
    // that complete while this send is in flight append to another buffer,
    // so the memory the kernel reads stays put until on_sent() consumed it.
    const std::span<const char> block = ctx.conn->begin_send();
    const std::size_t length = std::min(block.size(), max_send_chunk);
    ctx.send_io.prepare(Op::send, const_cast<char*>(block.data()), length);
    add_ref(ctx);
    DWORD bytes = 0;
    if (::WSASend(ctx.socket, &ctx.send_io.buf, 1, &bytes, 0, &ctx.send_io.ov, nullptr) == 0) {
      if (ctx.skip_mode) return {Posted::done_inline, bytes, 0};
      return {Posted::pending, 0, 0};
    }
    const int error = ::WSAGetLastError();
    if (error == WSA_IO_PENDING) return {Posted::pending, 0, 0};
    drop_ref(ctx);
    return {Posted::failed, 0, error};
  }

  // An inline completion over the budget goes through the port like any
  // other: the packet carries the result that the call returned, and the
  // OVERLAPPED is made to look as the kernel would have left it. The
  // operation's reference stays with the packet. Exactly one of "handled
  // inline" and "queued" happens to each result, so none is handled twice.
  bool requeue(SocketContext& ctx, IoContext& io, DWORD bytes) noexcept {
    io.ov.Internal = 0;  // STATUS_SUCCESS
    io.ov.InternalHigh = bytes;
    if (::PostQueuedCompletionStatus(port_, bytes, reinterpret_cast<ULONG_PTR>(&ctx), &io.ov)) {
      requeued_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    drop_ref(ctx);  // the result is lost; the caller fails the connection
    return false;
  }

  // What pump() does after posting a send or a receive.
  enum class Settled : std::uint8_t {
    pending,     // a packet will come: the operation is marked pending
    handle_now,  // completed inline within the budget: the caller handles it
    retry,       // the connection failed here: pump() decides again
  };

  // Settles the result of posting `io`, the same way for a send and a
  // receive. A failure fails the connection. An inline completion is handled
  // now while `budget` lasts (its reference is dropped: no packet will come
  // for it) and otherwise goes through the port (requeue()), which makes it
  // pending like any posted operation.
  Settled settle(SocketContext& ctx, IoContext& io, const Posted& posted, int& budget) noexcept {
    if (posted.kind == Posted::failed) {
      fail(ctx, static_cast<DWORD>(posted.error));
      return Settled::retry;
    }
    if (posted.kind == Posted::done_inline) {
      if (budget > 0) {
        --budget;
        inline_completions_.fetch_add(1, std::memory_order_relaxed);
        drop_ref(ctx);  // no packet will come for it
        return Settled::handle_now;
      }
      if (!requeue(ctx, io, posted.bytes)) {
        fail(ctx, ERROR_NOT_ENOUGH_MEMORY);
        return Settled::retry;
      }
    }
    return Settled::pending;
  }

  // Decides what the connection needs next and posts it: a send while reply
  // bytes wait, a receive while Connection::want_read() (backpressure: no
  // receive while too much output is queued; the send completion that
  // drains it comes back here and posts one), a graceful or hard close when
  // the connection is finished. Called with ctx.lock held by a caller that
  // holds a reference, so the count cannot reach 0 in here.
  void pump(SocketContext& ctx, ThreadState& ts) noexcept {
    int budget = inline_budget;
    for (;;) {
      if (ctx.state == State::open && ctx.conn->finished()) {
        if (ctx.conn->failed() || ctx.peer_closed) {
          // Failed: nothing to be polite about. Peer closed: both directions
          // are done once the last reply went out.
          hard_close(ctx);
          return;
        }
        start_drain(ctx);
      }
      if (ctx.state != State::open && ctx.state != State::draining) return;

      if (ctx.state == State::open && !ctx.send_pending && ctx.conn->want_write()) {
        const Posted posted = post_send(ctx);
        const Settled settled = settle(ctx, ctx.send_io, posted, budget);
        if (settled == Settled::handle_now) on_send_complete(ctx, posted.bytes);
        if (settled != Settled::pending) continue;
        ctx.send_pending = true;
      }

      const bool want_recv =
          ctx.state == State::draining ||
          (ctx.state == State::open && !ctx.peer_closed && ctx.conn->want_read());
      if (want_recv && !ctx.recv_pending) {
        const Posted posted = post_recv(ctx);
        const Settled settled = settle(ctx, ctx.recv_io, posted, budget);
        if (settled == Settled::handle_now) on_recv_complete(ctx, posted.bytes, ts);
        if (settled != Settled::pending) continue;
        ctx.recv_pending = true;
      }
      return;
    }
  }

  // A socket error ended the connection (or, while draining, the drain).
  void fail(SocketContext& ctx, DWORD error) noexcept {
    ctx.reusable = false;
    if (ctx.state == State::draining) {
      // The exchange was already over; how the peer ends the drain is not
      // the exchange's failure.
      hard_close(ctx);
      return;
    }
    if (ctx.state == State::open) {
      ctx.conn->on_error(classify_io_error(static_cast<int>(error)));
    }
  }

  // The server is done with a connection that did not fail: send FIN after
  // the replies and read until the peer closes (or drain_timeout passes).
  void start_drain(SocketContext& ctx) noexcept {
    if (::shutdown(ctx.socket, SD_SEND) != 0) {
      ctx.reusable = false;
      hard_close(ctx);
      return;
    }
    ctx.state = State::draining;
    ctx.drain_deadline = Clock::now() + drain_timeout;
    draining_.fetch_add(1, std::memory_order_relaxed);
  }

  // Stops serving: outstanding operations are cancelled and complete as
  // aborted; the last completion's release_ref() finalises the context. The
  // socket itself stays open until then so that its handle value cannot be
  // reused by a new socket while old completions are still arriving.
  void hard_close(SocketContext& ctx) noexcept {
    if (ctx.state == State::draining) draining_.fetch_sub(1, std::memory_order_relaxed);
    ctx.state = State::closed;
    if (ctx.recv_pending || ctx.send_pending) {
      // ERROR_NOT_FOUND when the operations have completed but their packets
      // are still queued (or were requeued by us): they arrive either way.
      ::CancelIoEx(reinterpret_cast<HANDLE>(ctx.socket), nullptr);
    }
  }

  void on_recv_complete(SocketContext& ctx, DWORD bytes, ThreadState& ts) noexcept {
    if (options_.zero_byte_recv) {
      read_available(ctx, ts);
      return;
    }
    deliver(ctx, std::span<const char>(ctx.recv_buffer, bytes));
  }

  // --zero-byte-recv: the zero-byte receive said "readable"; read what is
  // there, at most reads_per_wakeup times, and while the connection wants it.
  void read_available(SocketContext& ctx, ThreadState& ts) noexcept {
    for (int i = 0; i < reads_per_wakeup; ++i) {
      const bool wanted = ctx.state == State::draining ||
                          (ctx.state == State::open && !ctx.peer_closed && ctx.conn->want_read());
      if (!wanted) return;
      const int n = ::recv(ctx.socket, ts.scratch.data(), static_cast<int>(ts.scratch.size()), 0);
      if (n == SOCKET_ERROR) {
        const int error = ::WSAGetLastError();
        if (error != WSAEWOULDBLOCK) fail(ctx, static_cast<DWORD>(error));
        return;
      }
      deliver(ctx, std::span<const char>(ts.scratch.data(), static_cast<std::size_t>(n)));
      if (n == 0) return;
    }
  }

  // Received bytes (empty: the peer closed) go to the Connection, or nowhere
  // while draining.
  void deliver(SocketContext& ctx, std::span<const char> bytes) noexcept {
    if (ctx.state == State::draining) {
      if (bytes.empty()) hard_close(ctx);
      return;
    }
    if (ctx.state != State::open) return;
    if (bytes.empty()) {
      ctx.peer_closed = true;
      ctx.conn->on_peer_closed();
    } else {
      ctx.conn->on_received(bytes);
    }
  }

  void on_send_complete(SocketContext& ctx, DWORD bytes) noexcept {
    if (ctx.state != State::open) return;
    if (bytes == 0) {
      // A successful send of a non-empty buffer that moved nothing would be
      // posted again forever.
      fail(ctx, WSAECONNABORTED);
      return;
    }
    ctx.conn->on_sent(bytes);
  }

  // A WSARecv or WSASend completed (error 0) or failed.
  void on_io(SocketContext& ctx, Op op, DWORD bytes, DWORD error, ThreadState& ts) noexcept {
    {
      ExclusiveLock guard(ctx.lock);
      (op == Op::recv ? ctx.recv_pending : ctx.send_pending) = false;
      if (ctx.state == State::open || ctx.state == State::draining) {
        if (error != 0) {
          fail(ctx, error);
        } else if (op == Op::recv) {
          on_recv_complete(ctx, bytes, ts);
        } else {
          on_send_complete(ctx, bytes);
        }
        pump(ctx, ts);
      }
      // closed: the operation was cancelled (or raced with the close); its
      // only remaining job is to drop its reference.
    }
    release_ref(ctx, ts);
  }

  // ---- socket reuse (--reuse-sockets) ------------------------------------

  // DisconnectEx(TF_REUSE_SOCKET) closes the connection but keeps the socket
  // handle, which AcceptEx then takes again: no socket creation and no
  // association with the port per accepted connection.
  //
  // Its completion does not go through the port: the OVERLAPPED's hEvent
  // carries a real event with the low bit set, which tells the system not to
  // queue a packet, and the control thread polls HasOverlappedIoCompleted on
  // its tick (poll_disconnect()). The reason is a Wine 8 bug: on a socket in
  // skip-on-success mode, Wine's DisconnectEx completes synchronously but
  // returns ERROR_IO_PENDING, and since it "succeeded at once" no packet is
  // queued, so a port-driven design would wait forever. Polling behaves the
  // same on Windows, and a recycled socket is not latency-critical: the
  // cache merely refills a tick later.
  //
  // The call is made under the lock so that the stop sequence, which
  // cancels the I/O of disconnecting contexts under the same lock, either
  // sees it issued or makes this function see stopping() first.
  void start_disconnect(SocketContext& ctx, ThreadState& ts) noexcept {
    DWORD error = 0;
    {
      ExclusiveLock guard(ctx.lock);
      if (frame_.stopping()) {
        error = WSAESHUTDOWN;
      } else {
        ctx.disconnect_io.prepare(Op::disconnect, nullptr, 0);
        ctx.disconnect_io.ov.hEvent =
            reinterpret_cast<HANDLE>(reinterpret_cast<ULONG_PTR>(disconnect_event_) | 1);
        // What kernel32 does for ReadFile: the poll must not mistake the
        // zeroed Internal of a pending operation for STATUS_SUCCESS, whether
        // or not the provider writes STATUS_PENDING itself.
        ctx.disconnect_io.ov.Internal = STATUS_PENDING;
        if (!disconnect_ex_(ctx.socket, &ctx.disconnect_io.ov, TF_REUSE_SOCKET, 0)) {
          error = static_cast<DWORD>(::WSAGetLastError());
          if (error == ERROR_IO_PENDING) {
            ctx.state = State::disconnecting;
            disconnecting_.fetch_add(1, std::memory_order_relaxed);
            return;
          }
        }
      }
    }
    on_disconnected(ctx, error, ts);
  }

  // Control thread, with ctx.lock held: true (and the status in *error) when
  // the context's DisconnectEx has completed.
  bool poll_disconnect(SocketContext& ctx, DWORD& error) noexcept {
    if (ctx.state != State::disconnecting) return false;
    // The kernel writes Internal when the operation completes; nothing else
    // orders that write with this thread, hence the volatile read (what
    // HasOverlappedIoCompleted does) and the fence before using the result.
    const volatile ULONG_PTR& internal = ctx.disconnect_io.ov.Internal;
    if (static_cast<DWORD>(internal) == static_cast<DWORD>(STATUS_PENDING)) return false;
    std::atomic_thread_fence(std::memory_order_acquire);
    error = status_.win32_error(ctx.disconnect_io.ov);
    ctx.state = State::closed;
    disconnecting_.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }

  void on_disconnected(SocketContext& ctx, DWORD error, ThreadState&) noexcept {
    if (error != 0 || frame_.stopping()) {
      // E.g. WSAENOTCONN when the peer reset meanwhile: the socket is closed
      // and a fresh one will take its place.
      if (!frame_.stopping()) reuse_fallbacks_.fetch_add(1, std::memory_order_relaxed);
      discard(ctx);
      return;
    }
    {
      ExclusiveLock guard(ctx.lock);
      ctx.state = State::cached;
    }
    {
      ExclusiveLock guard(cache_lock_);
      if (cache_open_ && cache_.size() < cache_limit_) {
        cache_.push_back(&ctx);
        live_.fetch_sub(1, std::memory_order_release);
        return;
      }
    }
    discard(ctx);
  }

  SocketContext* take_cached() noexcept {
    if (!reuse_) return nullptr;
    ExclusiveLock guard(cache_lock_);
    if (cache_.empty()) return nullptr;
    SocketContext* ctx = cache_.back();
    cache_.pop_back();
    live_.fetch_add(1, std::memory_order_relaxed);
    reused_.fetch_add(1, std::memory_order_relaxed);
    return ctx;
  }

  // ---- threads -------------------------------------------------------------

  void worker_main() noexcept {
    ThreadState ts{frame_.shard(), {}};
    std::vector<OVERLAPPED_ENTRY> entries;
    try {
      if (options_.zero_byte_recv) ts.scratch.resize(options_.recv_buffer);
      entries.resize(static_cast<std::size_t>(options_.batch));
    } catch (const std::exception&) {
      frame_.fail("worker: out of memory");
      return;
    }
    for (;;) {
      ULONG count = 0;
      if (!::GetQueuedCompletionStatusEx(port_, entries.data(), static_cast<ULONG>(entries.size()),
                                         &count, INFINITE, FALSE)) {
        // Only the port itself can fail here (INFINITE never times out):
        // nothing this thread could retry.
        frame_.fail("GetQueuedCompletionStatusEx failed: " +
                    wsb::net::error_text(static_cast<int>(::GetLastError())));
        return;
      }
      int sentinels = 0;
      for (ULONG i = 0; i < count; ++i) {
        const OVERLAPPED_ENTRY& entry = entries[i];
        if (entry.lpOverlapped == nullptr) {
          if (entry.lpCompletionKey == stop_key) ++sentinels;
          if (entry.lpCompletionKey == mail_key) deliver_mail(ts);
          if (entry.lpCompletionKey == room_key) admit_held(ts);
          continue;
        }
        dispatch(entry, ts);
      }
      if (sentinels > 0) {
        // One sentinel is this thread's. Extra ones taken in the same batch
        // belong to other workers: give them back.
        for (int i = 1; i < sentinels; ++i) {
          ::PostQueuedCompletionStatus(port_, 0, stop_key, nullptr);
        }
        return;
      }
    }
  }

  void dispatch(const OVERLAPPED_ENTRY& entry, ThreadState& ts) noexcept {
    IoContext* io = IoContext::from_overlapped(entry.lpOverlapped);
    SocketContext& ctx = *io->owner;
    const DWORD error = status_.win32_error(io->ov);
    if (io->op == Op::accept) {
      // Accepts complete on the listener, whose key is not a context.
      on_accept(ctx, error, ts);
      return;
    }
    // Every other operation was posted on the connection's socket, whose key
    // is its context: the key and the per-I/O context must agree.
    if (entry.lpCompletionKey != reinterpret_cast<ULONG_PTR>(&ctx)) {
      std::fprintf(stderr, "iocp: completion key does not match its I/O context\n");
      std::abort();
    }
    if (io->op == Op::disconnect) {
      // Not queued by design (start_disconnect()); should a system queue it
      // anyway, the poll has handled or will handle the operation.
      return;
    }
    on_io(ctx, io->op, entry.dwNumberOfBytesTransferred, error, ts);
  }

  // Chat: a thread that posted other users' messages to connections put them
  // on the mail list and, when it was empty, posted one mail_key packet: any
  // worker takes the whole list. No thread owns a connection here, so the
  // mail needs no hand-over, only the connection's lock, like a completion.
  void deliver_mail(ThreadState& ts) noexcept {
    bool all = false;
    for (wsb::kit::MailTarget* target : mail_.take(all))
      deliver(target->entry<SocketContext>(), ts);
    if (all) pool_.for_each([&](SocketContext& ctx) { deliver(ctx, ts); });
  }

  // An open connection has an operation outstanding, or a handler holding a
  // reference, so a reference taken under the lock cannot revive a context
  // that is being finalised; it keeps the context alive through pump().
  void deliver(SocketContext& ctx, ThreadState& ts) noexcept {
    {
      ExclusiveLock guard(ctx.lock);
      if (ctx.state != State::open || !ctx.conn || !ctx.conn->collect_mail()) return;
      add_ref(ctx);
      pump(ctx, ts);
    }
    release_ref(ctx, ts);
  }

  // The main thread after set-up: waits for the stop request, and meanwhile
  // closes idle and over-long draining connections and re-posts accepts
  // that could not be posted.
  void control_loop(ThreadState& ts) {
    const auto idle = frame_.options().idle_timeout;
    auto tick = std::chrono::milliseconds(250);
    if (idle.count() > 0) {
      tick = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(idle / 4),
                        std::chrono::milliseconds(10), std::chrono::milliseconds(250));
    }
    for (;;) {
      const DWORD r = ::WaitForSingleObject(stop_event_, static_cast<DWORD>(tick.count()));
      if (r == WAIT_OBJECT_0) return;
      if (r != WAIT_TIMEOUT) {
        frame_.fail("WaitForSingleObject failed: " +
                    wsb::net::error_text(static_cast<int>(::GetLastError())));
        return;
      }
      for (int n = accept_deficit_.exchange(0, std::memory_order_relaxed); n > 0; --n) {
        post_accept(ts);
      }
      if (idle.count() > 0 || draining_.load(std::memory_order_relaxed) > 0 ||
          disconnecting_.load(std::memory_order_relaxed) > 0) {
        sweep(ts);
      }
    }
  }

  // Closes idle connections and drains that took too long, and finishes
  // completed DisconnectEx calls. Looks at every context under its lock
  // only: an open or draining context has an operation outstanding (or a
  // handler about to drop the last reference), so hard_close() here always
  // has a completion to finalise it.
  void sweep(ThreadState& ts) noexcept {
    const auto now = Clock::now();
    pool_.for_each([&](SocketContext& ctx) {
      DWORD error = 0;
      {
        ExclusiveLock guard(ctx.lock);
        if (ctx.state == State::open && ctx.conn->expire_if_idle(now)) {
          // Counted as idle_timeout by the Connection.
          hard_close(ctx);
        } else if (ctx.state == State::draining && now >= ctx.drain_deadline) {
          hard_close(ctx);
        }
        if (!poll_disconnect(ctx, error)) return;
      }
      on_disconnected(ctx, error, ts);
    });
  }

  // The stop sequence (checklist section 8): stop accepting, cancel every
  // connection, wait for every reference to be dropped, then stop the
  // workers and close the port.
  void shut_down(ThreadState& ts) {
    {
      ExclusiveLock guard(listener_lock_);
      listener_open_ = false;
      // The pending AcceptEx calls complete with ERROR_OPERATION_ABORTED;
      // on_accept() frees their contexts without re-posting.
      ::CancelIoEx(reinterpret_cast<HANDLE>(listener_), nullptr);
      wsb::net::close_socket(static_cast<wsb::net::socket_t>(listener_));
    }
    // Clients held for room are never served: their contexts go.
    std::deque<Held> held;
    {
      ExclusiveLock guard(held_lock_);
      held_open_ = false;
      held.swap(held_);
    }
    for (const Held& h : held)
      release_ref(*h.ctx, ts);
    pool_.for_each([&](SocketContext& ctx) {
      ExclusiveLock guard(ctx.lock);
      if (ctx.state == State::open || ctx.state == State::draining) {
        hard_close(ctx);
      } else if (ctx.state == State::disconnecting) {
        // A DisconnectEx can wait for the connection's orderly release;
        // cancelled, it completes and the socket is closed.
        ::CancelIoEx(reinterpret_cast<HANDLE>(ctx.socket), nullptr);
      }
    });
    std::vector<SocketContext*> cached;
    {
      ExclusiveLock guard(cache_lock_);
      cache_open_ = false;
      cached.swap(cache_);
    }
    for (SocketContext* ctx : cached) {
      live_.fetch_add(1, std::memory_order_relaxed);
      discard(*ctx);
    }

    // Polling is good enough for a one-off wait, and it also finishes the
    // (cancelled) DisconnectEx calls, which only the control thread sees.
    const auto deadline = Clock::now() + shutdown_timeout;
    while (live_.load(std::memory_order_acquire) > 0 && Clock::now() < deadline) {
      if (disconnecting_.load(std::memory_order_relaxed) > 0) sweep(ts);
      ::Sleep(5);
    }
    if (const long left = live_.load(std::memory_order_acquire); left > 0) {
      frame_.fail(std::to_string(left) + " socket contexts still had I/O outstanding after " +
                  std::to_string(shutdown_timeout.count()) + " s; their memory is left allocated");
      pool_.leak();
    }

    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (!::PostQueuedCompletionStatus(port_, 0, stop_key, nullptr)) {
        // Without its sentinel a worker would wait forever; this cannot be
        // recovered from in-process.
        std::fprintf(stderr, "iocp: PostQueuedCompletionStatus failed: %s\n",
                     wsb::net::error_text(static_cast<int>(::GetLastError())).c_str());
        std::_Exit(1);
      }
    }
    for (auto& worker : workers_) {
      worker.join();
    }
    ::CloseHandle(port_);
    port_ = nullptr;
  }

  // The settings this run used, in the frame's final statistics beside the
  // model's counters ("iocp.batch: 64", ...).
  void report_settings() {
    frame_.model_fact("batch", std::to_string(options_.batch));
    frame_.model_fact("accepts", std::to_string(options_.accepts));
    frame_.model_fact("skip_on_success", skip_mode_ ? "on" : "off");
    frame_.model_fact("zero_byte_recv", options_.zero_byte_recv ? "on" : "off");
    frame_.model_fact("reuse_sockets", options_.reuse_sockets ? "on" : "off");
    frame_.model_fact("contexts", std::to_string(pool_.capacity()));
  }

  Frame& frame_;
  const ModelOptions options_;
  const StatusTranslator status_;
  // Chat: before the pool, whose contexts' MailTargets leave it when they
  // are destroyed. Waking posts one mail_key packet per batch.
  wsb::kit::MailList mail_{[](void* self) noexcept {
                             ::PostQueuedCompletionStatus(static_cast<IocpServer*>(self)->port_, 0,
                                                          mail_key, nullptr);
                           },
                           this};
  ContextPool pool_;

  HANDLE port_ = nullptr;
  HANDLE stop_event_ = nullptr;
  // Signalled by every DisconnectEx and waited on by nobody: its low bit in
  // hEvent keeps their completions off the port (start_disconnect()).
  HANDLE disconnect_event_ = nullptr;
  SOCKET listener_ = INVALID_SOCKET;
  int family_ = AF_INET;
  SRWLOCK listener_lock_ = SRWLOCK_INIT;
  bool listener_open_ = false;          // guarded by listener_lock_
  wsb::kit::AcceptExFunctions accept_;  // AcceptEx and GetAcceptExSockaddrs
  LPFN_DISCONNECTEX disconnect_ex_ = nullptr;
  bool skip_mode_ = false;  // --skip-on-success, and safe here
  bool reuse_ = false;      // --reuse-sockets, and the probe passed

  // Contexts taken from the pool and not yet given back (cached ones do not
  // count): the stop sequence waits for 0.
  std::atomic<long> live_{0};
  std::atomic<int> accept_deficit_{0};
  // --when-full queue: accepted clients waiting for room, oldest first.
  struct Held {
    SocketContext* ctx;
    Clock::time_point since;  // the AcceptEx completed
  };
  SRWLOCK held_lock_ = SRWLOCK_INIT;
  std::deque<Held> held_;              // guarded by held_lock_
  bool held_open_ = true;              // guarded by held_lock_; false from the stop on
  int admitting_ = 0;                  // guarded by held_lock_: admissions in progress
  bool queue_mode_ = false;            // --when-full queue
  std::atomic<int> draining_{0};       // contexts in State::draining
  std::atomic<int> disconnecting_{0};  // contexts in State::disconnecting

  SRWLOCK cache_lock_ = SRWLOCK_INIT;
  std::vector<SocketContext*> cache_;  // disconnected sockets for AcceptEx
  bool cache_open_ = true;
  std::size_t cache_limit_ = 0;

  // The model's own counters, in the frame's final statistics
  // (Frame::model_counter): "iocp.inline_completions: N" and so on.
  std::atomic<std::uint64_t>& inline_completions_ = frame_.model_counter("inline_completions");
  std::atomic<std::uint64_t>& requeued_ = frame_.model_counter("requeued");
  std::atomic<std::uint64_t>& reused_ = frame_.model_counter("sockets_reused");
  std::atomic<std::uint64_t>& reuse_fallbacks_ = frame_.model_counter("reuse_fallbacks");

  std::vector<std::thread> workers_;
};

int default_threads() {
  // Two per processor (seed 004, and the Microsoft sample): while one worker
  // is blocked in a handler another can take the next completion. The
  // processors are those of the process's processor group: before Windows 11
  // and Server 2022 a process's threads run in one group (up to 64 logical
  // processors) unless placed in others one by one, so counting every group
  // on a larger host would oversubscribe that one.
  PROCESSOR_NUMBER here{};
  ::GetCurrentProcessorNumberEx(&here);
  const DWORD cpus = ::GetActiveProcessorCount(here.Group);
  return 2 * static_cast<int>(cpus == 0 ? 1 : cpus);
}

// The model's own flags, written into `options` by parse().
void add_model_options(CLI::App& cli, ModelOptions& options) {
  cli.add_option("--accepts", options.accepts, "AcceptEx calls kept posted")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cli.add_option("--batch", options.batch, "completions taken per GetQueuedCompletionStatusEx call")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cli.add_flag(
      "--skip-on-success", options.skip_on_success,
      "FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: handle I/O that completes at once without the port "
      "(ignored when a non-IFS LSP is installed)");
  cli.add_flag("--reuse-sockets", options.reuse_sockets,
               "recycle closed sockets with DisconnectEx(TF_REUSE_SOCKET) into AcceptEx");
  cli.add_flag("--zero-byte-recv", options.zero_byte_recv,
               "post zero-byte WSARecv calls so idle connections pin no receive buffer");
  cli.add_option("--recv-buffer", options.recv_buffer,
                 "receive buffer bytes (per connection, or per worker "
                 "with --zero-byte-recv)")
      ->check(CLI::Range(std::size_t{64}, std::size_t{16} << 20))
      ->capture_default_str();
  cli.add_option("--pool-segment", options.pool_segment,
                 "socket contexts preallocated, and added whenever the pool runs out")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  ModelOptions options;
  return wsb::server::run_model(
      argc, argv,
      {.name = "iocp",
       .description =
           "I/O completion port: pre-posted AcceptEx, per-socket and per-I/O contexts from a pool "
           "with reference-counted lifetime, GetQueuedCompletionStatusEx batches on a pool of "
           "worker threads (default 2 x processors).",
       .default_threads = default_threads()},
      [&](Frame& frame) { add_model_options(frame.cli(), options); },
      [&](Frame& frame) {
        IocpServer server(frame, options);
        return server.run();
      });
}
