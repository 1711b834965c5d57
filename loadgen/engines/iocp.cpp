// The IOCP engine (Windows): ConnectEx, WSARecv and WSASend on overlapped
// sockets, all associated with one I/O completion port per engine (that is,
// per worker thread), whose completions are dequeued in batches by
// GetQueuedCompletionStatusEx inside poll().
//
// Connection records. Each connection attempt gets a Record: the socket, the
// three per-I/O contexts it can have outstanding (one ConnectEx, one WSARecv,
// one WSASend), its receive buffer and the bytes of the send in flight. A
// slot points at its current Record. The kernel owns a context's OVERLAPPED
// and buffer from the call that posts it until its completion is dequeued,
// and that outlives the connection whenever the workload closes a slot with
// operations pending: close() detaches the Record from its slot, cancels its
// operations and closes the socket, and the Record stays in a "graveyard"
// (detached, operations > 0) until its last completion has been dequeued;
// only then does it go back to the free list. A slot that is reused at once
// gets another Record, so a late completion of the old connection lands in
// the old Record's context, never in the new one. Records are preallocated
// (one per slot, receive buffers in one block); more are made only when the
// graveyard holds so many that the free list runs dry, and they are kept.
//
// Generations. Every per-I/O context also carries the slot's generation at
// the time the operation was posted. close(), a reported failure and
// connect() each advance the slot's generation, and a completion reaches the
// handler only when its Record is still attached and its generation is still
// the slot's: so after close(id) inside a callback, nothing more of that
// connection is delivered, even a completion already dequeued in the same
// batch.
//
// Idle connections (EngineConfig::idle_connections, --hold). A pending
// WSARecv pins its buffer, so 10,000 held connections with 16 KiB receive
// buffers commit 160 MB of private memory on Windows, whose pages the kernel
// also locks while each receive waits. For connections that are meant to stay
// quiet the engine posts zero-byte receives instead: such a receive completes
// when data or the peer's FIN arrives, pins nothing meanwhile, and a
// non-blocking recv() into the engine's one buffer then reads the data (or
// finds the end of the stream). The sockets are non-blocking for that recv();
// overlapped operations ignore the mode.
//
// Completion status. GetQueuedCompletionStatusEx returns TRUE when it
// dequeued anything, including operations that failed; each operation's own
// result is the NTSTATUS that the kernel wrote into OVERLAPPED.Internal
// (libuv's REQ_SUCCESS reads it the same way). status_error() turns it into
// the Winsock error that WSAGetOverlappedResult would report
// (net::win::StatusTranslator::winsock_error, platform/win/ntstatus.hpp).
//
// FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is set on every socket whose provider
// is an IFS provider (XP1_IFS_HANDLES; a non-IFS layered provider may
// complete I/O behind the port's back, so the mode is left off there). With
// it, an operation that succeeds at once queues no packet; the engine then
// puts its context on a private inline queue that poll() processes exactly
// like a dequeued packet. An operation is therefore handled either from the
// port or from the inline queue, never both; each context has a pending flag
// that turns a second completion into an abort rather than a silent
// double-count.
//
// Closing. closesocket() completes a socket's pending operations with
// STATUS_CANCELLED on Windows, but Wine 8 does not when a WSASend is pending:
// then neither the send nor the receive beside it completed within 5 s
// (observed here; tests/unit/loadgen_iocp has the case), so close() calls
// CancelIoEx() on the socket first whenever it has operations outstanding.
// CloseMode::abort sets SO_LINGER {1, 0} before closesocket(), so the peer
// gets a RST and no TIME_WAIT is left behind.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "engines/engine.hpp"
#include "engines/slot_reports.hpp"
#include "platform/win/ntstatus.hpp"

// SO_REUSE_UNICASTPORT (Windows 10 1703 and later) defers the choice of the
// local port of a socket bound to port 0 to connect time, where the stack can
// pick one that is unique for the whole 4-tuple, so that a source address is
// not limited to one connection per ephemeral port. mingw-w64's headers (12.x)
// lack it; the value is the Windows SDK's (ws2def.h). Where the system does
// not know the option, setsockopt() fails and the engine carries on without it.
#ifndef SO_REUSE_UNICASTPORT
#define SO_REUSE_UNICASTPORT 0x3007
#endif

namespace wsb::loadgen {

namespace {

// Completion keys are ULONG_PTR, pointer-sized; they are only compared with
// these constants. Every socket of the engine is associated with kSocketKey;
// wake() posts kWakeKey without an OVERLAPPED.
constexpr ULONG_PTR kSocketKey = 1;
constexpr ULONG_PTR kWakeKey = 2;
// Entries dequeued per GetQueuedCompletionStatusEx call. Under Wine each
// entry costs a wineserver round trip anyway; on Windows a batch of this size
// amortises the system call over many connections.
constexpr ULONG kBatch = 128;
// A WSASend hands the kernel at most this much at once, so that a pipelined
// burst does not lock megabytes of pages in the kernel; the rest follows from
// the same buffer when the send completes (the partial-send path).
constexpr std::size_t kMaxSendChunk = std::size_t{1} << 20;
// How long the destructor waits for the completions of cancelled operations
// (see ~IocpEngine()).
constexpr auto kTeardownLimit = std::chrono::seconds(5);

// ---------------------------------------------------------------------------
// Errors

// The Failure class of a Winsock or Win32 error. Both spellings occur: the
// synchronous calls report WSAGetLastError() codes, and statuses outside
// ws2_32's socket table (platform/win/ntstatus.hpp) arrive as
// RtlNtStatusToDosError() codes (e.g. a reset as
// ERROR_NETNAME_DELETED, a refusal as ERROR_CONNECTION_REFUSED).
Failure classify(int code) noexcept {
  switch (code) {
    case 0:
      return Failure::none;
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED:
      return Failure::refused;
    case WSAETIMEDOUT:
    case ERROR_SEM_TIMEOUT:
      return Failure::timed_out;
    case WSAEADDRNOTAVAIL:
    case WSAEADDRINUSE:
      return Failure::no_address;
    default:
      break;
  }
  if (net::is_reset(code)) return Failure::reset;  // incl. ERROR_NETNAME_DELETED, ..._ABORTED
  if (net::is_out_of_descriptors(code)) return Failure::no_descriptors;
  return Failure::other;
}

// ---------------------------------------------------------------------------
// Records

enum class Op : std::uint8_t { connect, recv, send };

struct Record;

// One overlapped operation. The OVERLAPPED comes first: the port hands back
// its address, and from_overlapped() turns that into the context.
struct IoContext {
  OVERLAPPED ov;
  Record* owner;
  // The slot's generation when the operation was posted.
  std::uint32_t generation;
  Op op;
  // Posted and not yet handled (from the port or the inline queue).
  bool pending;
  // Link of the inline queue (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS).
  IoContext* next_inline;

  static IoContext* from_overlapped(OVERLAPPED* overlapped) noexcept {
    return reinterpret_cast<IoContext*>(overlapped);
  }
};
static_assert(std::is_standard_layout_v<IoContext>, "IoContext must be standard-layout");
static_assert(offsetof(IoContext, ov) == 0, "the OVERLAPPED must be IoContext's first member");

struct Record {
  IoContext connect_io{};
  IoContext recv_io{};
  IoContext send_io{};
  SOCKET socket = INVALID_SOCKET;
  // The bytes of the send in flight: their address stays fixed until the
  // send completes, even after the slot was closed (see "Sending" in
  // engine.hpp).
  ByteBuffer inflight;
  // ConnectEx's target address, kept here in case a provider reads it after
  // the call returned.
  net::Endpoint target;
  char* recv_buffer = nullptr;
  // Receive buffer of a record made after construction (else null: the
  // buffer is in the engine's block).
  std::unique_ptr<char[]> own_buffer;
  Record* next_free = nullptr;
  ConnId id = 0;
  // Operations posted and not yet handled.
  std::uint8_t ops = 0;
  bool attached = false;   // slots_[id].conn points here
  bool connected = false;  // ConnectEx completed successfully
  bool skip = false;       // FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is set on the socket

  Record() { connect_io.owner = recv_io.owner = send_io.owner = this; }
  Record(const Record&) = delete;
  Record& operator=(const Record&) = delete;

  IoContext& context(Op op) noexcept {
    switch (op) {
      case Op::connect:
        return connect_io;
      case Op::recv:
        return recv_io;
      case Op::send:
        break;
    }
    return send_io;
  }
};

// What the engine learnt once per address family from the first socket of
// that family (extension functions belong to the socket's provider).
struct FamilyInfo {
  bool probed = false;
  int error = 0;  // why ConnectEx cannot be used for this family (0: it can)
  LPFN_CONNECTEX connect_ex = nullptr;
  bool skip_safe = false;  // the provider is IFS: skip-on-success may be used
};

// ---------------------------------------------------------------------------

class IocpEngine final : public Engine {
 public:
  IocpEngine(const EngineConfig& config, EngineHandler& handler)
      : handler_(handler),
        slots_(config.capacity),
        receive_size_(std::clamp<std::size_t>(config.receive_size, 1, ULONG{1} << 30)),
        zero_byte_(config.idle_connections),
        deferred_(config.capacity) {
    // Memory first, so that a bad_alloc leaves nothing to release.
    records_ = std::make_unique<Record[]>(config.capacity);
    if (zero_byte_) {
      // Idle connections: one buffer for the engine (see the top of the file).
      scratch_ = std::make_unique<char[]>(receive_size_);
    } else {
      // One block for every preallocated record's receive buffer: the pages
      // of buffers that never receive much are never touched, so they cost
      // address space (and commit), not working set.
      if (config.capacity > SIZE_MAX / receive_size_) throw std::bad_alloc();
      receive_block_.reset(new char[std::size_t{config.capacity} * receive_size_]);
    }
    for (std::uint32_t i = config.capacity; i-- > 0;) {
      Record& r = records_[i];
      if (!zero_byte_) r.recv_buffer = receive_block_.get() + std::size_t{i} * receive_size_;
      r.next_free = free_;
      free_ = &r;
    }

    try {
      status_.emplace();
    } catch (const net::NetError& e) {
      throw EngineUnavailable(e.what());  // RtlNtStatusToDosError is missing
    }

    // An engine that cannot connect is unavailable: find out now, on an IPv4
    // socket, rather than at the first connect. (IPv6 is probed at its first
    // connect, since a system may lack it and still run IPv4 loads.)
    const SOCKET probe = open_socket(AF_INET);
    if (probe == INVALID_SOCKET) {
      throw EngineUnavailable("cannot create an overlapped TCP socket: " +
                              net::error_text(::WSAGetLastError()));
    }
    const int probe_error = probe_family(families_[0], probe);
    ::closesocket(probe);
    if (probe_error != 0) {
      throw EngineUnavailable(
          "ConnectEx is not available (WSAIoctl(SIO_GET_EXTENSION_FUNCTION_"
          "POINTER) failed): " +
          net::error_text(probe_error));
    }

    // One thread dequeues from this port, so at most one may run.
    port_ = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
    if (port_ == nullptr) {
      throw EngineUnavailable("CreateIoCompletionPort failed: " +
                              net::error_text(static_cast<int>(::GetLastError())));
    }
  }

  // Closes every connection abortively, then waits until every operation
  // still in the kernel has completed before any Record, buffer or the port
  // is freed: the kernel writes each operation's result (and a receive's
  // bytes) into engine memory when it completes, so freeing earlier would
  // let it write into freed memory. Closing the sockets makes every pending
  // operation complete at once (cancelled), so the wait normally ends within
  // one or two dequeues. It is bounded nevertheless, because a platform that
  // fails to complete a cancelled operation (as Wine 8 fails to complete a
  // pending send on closesocket() alone, see detach()) must not hang the run
  // at exit: after kTeardownLimit the memory is leaked instead, which is
  // harmless at the end of a process and safer than freeing what the kernel
  // may still write.
  ~IocpEngine() override {
    for (ConnId id = 0; id < slots_.size(); ++id) {
      if (slots_[id].conn != nullptr) close(id, CloseMode::abort);
    }
    deferred_.clear();
    const Clock::time_point give_up = Clock::now() + kTeardownLimit;
    try {
      while (busy_ > 0) {
        run_inline();  // no callbacks: every Record is detached now
        if (busy_ == 0) break;
        const auto left = give_up - Clock::now();
        if (left <= Clock::duration::zero()) break;
        dequeue(static_cast<DWORD>(std::min<std::int64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1, 100)));
      }
    } catch (const std::exception&) {
      // The port failed: nothing more will complete. Leak, as below.
    }
    if (busy_ > 0) {
      std::fprintf(stderr,
                   "loadgen: iocp engine: %llu operation(s) did not complete within %lld s after "
                   "their sockets were closed; their buffers are left allocated\n",
                   static_cast<unsigned long long>(busy_),
                   static_cast<long long>(kTeardownLimit.count()));
      (void)records_.release();
      (void)receive_block_.release();
      for (auto& r : extra_records_)
        (void)r.release();
    }
    ::CloseHandle(port_);
  }

  std::string_view name() const noexcept override { return "iocp"; }

  void connect(ConnId id, const net::Endpoint& target, const net::Endpoint* source) override {
    Slot& slot = slots_[id];
    // The contract says the slot is not open; if it is, the old connection
    // is ended rather than leaked.
    if (Record* old = slot.end()) detach(old, CloseMode::abort);

    const int family = target.is_v6() ? AF_INET6 : AF_INET;
    const SOCKET s = open_socket(family);
    if (s == INVALID_SOCKET) {
      const int err = ::WSAGetLastError();
      deferred_.add(slots_, id, ReportKind::connected, classify(err), err);
      return;
    }
    FamilyInfo& info = families_[family == AF_INET6 ? 1 : 0];
    bool skip = false;
    int err = set_up_socket(s, info, family, source, &skip);
    Record* r = nullptr;
    if (err == 0) {
      r = acquire();
      if (r == nullptr) err = WSAENOBUFS;
    }
    if (err != 0) {
      ::closesocket(s);
      deferred_.add(slots_, id, ReportKind::connected, classify(err), err);
      return;
    }

    r->socket = s;
    r->id = id;
    r->attached = true;
    r->skip = skip;
    r->target = target;
    slot.conn = r;
    IoContext& io = begin(r, Op::connect);
    DWORD sent = 0;
    const BOOL ok =
        info.connect_ex(s, r->target.address(), r->target.length, nullptr, 0, &sent, &io.ov);
    err = settle(r, io, ok != FALSE);
    if (err != 0) {
      slot.conn = nullptr;
      detach(r, CloseMode::abort);
      deferred_.add(slots_, id, ReportKind::connected, classify(err), err);
    }
  }

  ByteBuffer& output(ConnId id) noexcept override { return slots_[id].out; }

  void flush(ConnId id) noexcept override {
    Slot& slot = slots_[id];
    Record* r = slot.conn;
    if (r == nullptr || !r->connected || r->send_io.pending || slot.out.empty()) return;
    // The pending bytes become the in-flight buffer; the slot gets the old
    // in-flight buffer (empty, capacity kept) for the next requests.
    using std::swap;
    swap(slot.out, r->inflight);
    const int err = post_send(r);
    if (err != 0) {
      // flush() may run outside poll(), where no callback is allowed: the
      // connection is closed now and the failure reported from the next poll().
      slot.conn = nullptr;
      slot.out.clear();
      detach(r, CloseMode::graceful);
      deferred_.add(slots_, id, ReportKind::closed, classify(err), err);
    }
  }

  void close(ConnId id, CloseMode mode) noexcept override {
    // A new generation makes queued reports and later completions of this
    // connection unrecognisable, so nothing more reaches the handler.
    if (Record* r = slots_[id].end()) detach(r, mode);
  }

  void poll(Clock::time_point deadline) override {
    // Reports of calls made since the last poll() and operations that
    // completed inline come first; when any callback ran, the port is only
    // peeked at, so that the workload gets back to its timers at once.
    const std::size_t handled = deliver_deferred() + run_inline();
    DWORD timeout = 0;
    if (handled == 0 && inline_head_ == nullptr && deferred_.empty()) {
      // Rounded DOWN to whole milliseconds (the contract): the wait never
      // outlasts the deadline, and the workload polls again when it ends early.
      const auto left = deadline - Clock::now();
      if (left > Clock::duration::zero()) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
        timeout = static_cast<DWORD>(std::min<std::int64_t>(ms, INFINITE - 1));
      }
    }
    dequeue(timeout);
  }

  void wake() noexcept override {
    // One wake packet in the port at a time is enough: the poll() that
    // dequeues it returns soon, and the flag is cleared when it is dequeued,
    // so a wake() after that posts a new packet.
    if (wake_posted_.exchange(true, std::memory_order_acq_rel)) return;
    if (::PostQueuedCompletionStatus(port_, 0, kWakeKey, nullptr) == FALSE) {
      wake_posted_.store(false, std::memory_order_release);
    }
  }

 private:
  using Slot = ConnSlot<Record>;

  // ---- Sockets -----------------------------------------------------------------

  static SOCKET open_socket(int family) noexcept {
    // Not inherited by a server that loadgen --spawn starts.
    return ::WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  }

  // Loads ConnectEx and decides about skip-on-success for s's family, once.
  static int probe_family(FamilyInfo& info, SOCKET s) noexcept {
    if (info.probed) return info.error;
    info.probed = true;
    GUID guid = WSAID_CONNECTEX;
    DWORD bytes = 0;
    if (::WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof guid, &info.connect_ex,
                   sizeof info.connect_ex, &bytes, nullptr, nullptr) != 0) {
      info.error = ::WSAGetLastError();
      info.connect_ex = nullptr;
      return info.error;
    }
    // The provider in use for this socket type must hand out real kernel
    // handles (XP1_IFS_HANDLES): a non-IFS layered provider completes
    // operations through its own means, and with skip-on-success such
    // completions can be lost (libuv makes the same check).
    WSAPROTOCOL_INFOW protocol{};
    int length = sizeof protocol;
    info.skip_safe = ::getsockopt(s, SOL_SOCKET, SO_PROTOCOL_INFOW,
                                  reinterpret_cast<char*>(&protocol), &length) == 0 &&
                     (protocol.dwServiceFlags1 & XP1_IFS_HANDLES) != 0;
    return 0;
  }

  // Everything between socket creation and ConnectEx; returns a WSA/Win32
  // error, or 0.
  int set_up_socket(SOCKET s, FamilyInfo& info, int family, const net::Endpoint* source,
                    bool* skip) noexcept {
    if (const int err = probe_family(info, s); err != 0) return err;
    // Requests are written whole, and each should leave at once.
    const BOOL one = TRUE;
    if (::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one),
                     sizeof one) != 0) {
      return ::WSAGetLastError();
    }
    // Idle connections read with a non-blocking recv() after a zero-byte
    // receive completed.
    u_long non_blocking = 1;
    if (zero_byte_ && ::ioctlsocket(s, FIONBIO, &non_blocking) != 0) return ::WSAGetLastError();
    // ConnectEx needs a bound socket, and a bind to port 0 reserves an
    // ephemeral port for this socket alone, wildcard address or not; with
    // SO_REUSE_UNICASTPORT the port is chosen at connect time instead, unique
    // per 4-tuple, so the dynamic range (16,384 ports by default) does not cap
    // the connections per destination. Optional (see its definition above):
    // a system without it still connects, with the port chosen at bind time.
    const DWORD on = 1;
    (void)::setsockopt(s, SOL_SOCKET, SO_REUSE_UNICASTPORT, reinterpret_cast<const char*>(&on),
                       sizeof on);
    if (source != nullptr) {
      if (::bind(s, source->address(), source->length) != 0) return ::WSAGetLastError();
    } else {
      sockaddr_storage any{};
      any.ss_family = static_cast<ADDRESS_FAMILY>(family);  // the wildcard address, port 0
      const int length =
          static_cast<int>(family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
      if (::bind(s, reinterpret_cast<const sockaddr*>(&any), length) != 0) {
        return ::WSAGetLastError();
      }
    }
    if (::CreateIoCompletionPort(reinterpret_cast<HANDLE>(s), port_, kSocketKey, 0) == nullptr) {
      return static_cast<int>(::GetLastError());
    }
    // Skip-on-success saves a packet (and, under Wine, a wineserver round
    // trip) for every operation that completes at once, which most sends do.
    // FILE_SKIP_SET_EVENT_ON_HANDLE: nobody waits on the socket handle itself.
    // If the call fails the socket simply completes through the port.
    *skip = info.skip_safe &&
            ::SetFileCompletionNotificationModes(
                reinterpret_cast<HANDLE>(s),
                FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE) != FALSE;
    return 0;
  }

  // ---- Records ---------------------------------------------------------------------

  Record* acquire() noexcept {
    if (free_ == nullptr) {
      // Every record is attached or in the graveyard: make one more (kept
      // for good; this happens only while the graveyard grows).
      try {
        auto r = std::make_unique<Record>();
        if (!zero_byte_) {
          r->own_buffer.reset(new char[receive_size_]);
          r->recv_buffer = r->own_buffer.get();
        }
        extra_records_.push_back(std::move(r));
        return extra_records_.back().get();
      } catch (const std::bad_alloc&) {
        return nullptr;
      }
    }
    Record* r = free_;
    free_ = r->next_free;
    r->next_free = nullptr;
    return r;
  }

  void release(Record* r) noexcept {
    r->inflight.clear();
    r->socket = INVALID_SOCKET;
    r->attached = r->connected = r->skip = false;
    r->next_free = free_;
    free_ = r;
  }

  // Detaches r from its slot (the caller has cleared the slot's pointer):
  // cancels its operations and closes the socket. r is recycled now if nothing
  // is outstanding, else when its last completion has been handled.
  void detach(Record* r, CloseMode mode) noexcept {
    r->attached = false;
    if (r->socket != INVALID_SOCKET) {
      // closesocket() alone cancels pending operations on Windows but not a
      // pending WSASend under Wine 8; CancelIoEx covers both (on Windows it
      // merely does first what closesocket() would do).
      if (r->ops > 0) ::CancelIoEx(reinterpret_cast<HANDLE>(r->socket), nullptr);
      if (mode == CloseMode::abort) {
        const linger lg{1, 0};
        ::setsockopt(r->socket, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg),
                     sizeof lg);
      }
      ::closesocket(r->socket);
      r->socket = INVALID_SOCKET;
    }
    if (r->ops == 0) release(r);
  }

  // ---- Posting -----------------------------------------------------------------------

  // Prepares r's context for op and counts the operation as outstanding.
  IoContext& begin(Record* r, Op op) noexcept {
    IoContext& io = r->context(op);
    // An OVERLAPPED must be zeroed before each use: Internal and InternalHigh
    // still hold the previous operation's result.
    io.ov = OVERLAPPED{};
    io.op = op;
    io.generation = slots_[r->id].generation;
    io.pending = true;
    io.next_inline = nullptr;
    ++r->ops;
    ++busy_;
    return io;
  }

  // Settles a call that began with begin(): done is what the call returned
  // (TRUE or 0 for "completed at once"). Returns 0 when the operation is
  // outstanding (in the kernel, or completed inline and queued), else the
  // error, with the operation no longer counted.
  int settle(Record* r, IoContext& io, bool done) noexcept {
    if (done) {
      // Without skip-on-success the port gets a packet for this success too;
      // with it, no packet comes and the inline queue stands in for it.
      if (r->skip) push_inline(io);
      return 0;
    }
    const int err = ::WSAGetLastError();
    if (err == WSA_IO_PENDING) return 0;
    io.pending = false;
    --r->ops;
    --busy_;
    return err;
  }

  int post_recv(Record* r) noexcept {
    IoContext& io = begin(r, Op::recv);
    // Idle connections: a zero-byte receive, which only waits for readiness
    // (the buffer pointer is never written through).
    WSABUF buf{zero_byte_ ? ULONG{0} : static_cast<ULONG>(receive_size_),
               zero_byte_ ? scratch_.get() : r->recv_buffer};
    DWORD flags = 0;
    const int rc = ::WSARecv(r->socket, &buf, 1, nullptr, &flags, &io.ov, nullptr);
    return settle(r, io, rc == 0);
  }

  int post_send(Record* r) noexcept {
    IoContext& io = begin(r, Op::send);
    // WSASend does not write through buf; WSABUF just has no const variant.
    WSABUF buf{static_cast<ULONG>(std::min(r->inflight.size(), kMaxSendChunk)),
               const_cast<char*>(r->inflight.data())};
    const int rc = ::WSASend(r->socket, &buf, 1, nullptr, 0, &io.ov, nullptr);
    return settle(r, io, rc == 0);
  }

  void push_inline(IoContext& io) noexcept {
    io.next_inline = nullptr;
    if (inline_tail_ != nullptr) {
      inline_tail_->next_inline = &io;
    } else {
      inline_head_ = &io;
    }
    inline_tail_ = &io;
  }

  // ---- Completion --------------------------------------------------------------------

  // Handles the operations that completed inline, as many as were queued when
  // it started (handling them may queue more, e.g. a re-armed receive whose
  // data was already there: those wait for the next poll(), so that a fast
  // stream cannot keep the worker away from its timers).
  std::size_t run_inline() noexcept {
    IoContext* io = inline_head_;
    inline_head_ = inline_tail_ = nullptr;
    std::size_t n = 0;
    while (io != nullptr) {
      IoContext* next = io->next_inline;
      io->next_inline = nullptr;
      complete(*io, static_cast<DWORD>(io->ov.InternalHigh));
      io = next;
      ++n;
    }
    return n;
  }

  void dequeue(DWORD timeout_ms) {
    ULONG n = 0;
    if (::GetQueuedCompletionStatusEx(port_, entries_.data(), kBatch, &n, timeout_ms, FALSE) ==
        FALSE) {
      const DWORD err = ::GetLastError();
      if (err == WAIT_TIMEOUT) return;
      throw std::runtime_error("GetQueuedCompletionStatusEx failed: " +
                               net::error_text(static_cast<int>(err)));
    }
    for (ULONG i = 0; i < n; ++i) {
      const OVERLAPPED_ENTRY& e = entries_[i];
      if (e.lpCompletionKey == kWakeKey) {
        wake_posted_.store(false, std::memory_order_release);
        continue;
      }
      if (e.lpOverlapped == nullptr) continue;  // nothing else is ever posted
      complete(*IoContext::from_overlapped(e.lpOverlapped), e.dwNumberOfBytesTransferred);
    }
  }

  // The result of a completed operation: 0, or a Winsock / Win32 error.
  int status_error(const OVERLAPPED& ov) const noexcept { return status_->winsock_error(ov); }

  void complete(IoContext& io, DWORD bytes) noexcept {
    Record* r = io.owner;
    if (!io.pending || r->ops == 0) {
      // The same operation handled twice (from the port and inline) would
      // corrupt the counts and deliver data twice: a broken invariant.
      std::fputs("loadgen: iocp engine: an operation completed twice\n", stderr);
      std::abort();
    }
    io.pending = false;
    --r->ops;
    --busy_;
    const bool live = r->attached && slots_[r->id].generation == io.generation;
    if (!live) {
      // A completion of a closed connection (typically cancelled by
      // close()): it only returns the operation's memory.
      if (!r->attached && r->ops == 0) release(r);
      return;
    }
    const int error = status_error(io.ov);
    switch (io.op) {
      case Op::connect:
        connect_done(r, error);
        break;
      case Op::recv:
        recv_done(r, error, bytes);
        break;
      case Op::send:
        send_done(r, error, bytes);
        break;
    }
  }

  void connect_done(Record* r, int error) noexcept {
    const ConnId id = r->id;
    Slot& slot = slots_[id];
    // Without SO_UPDATE_CONNECT_CONTEXT a ConnectEx socket has no connected
    // state for getpeername(), shutdown() and friends on Windows (a no-op
    // under Wine, which is why forgetting it passes there).
    if (error == 0 &&
        ::setsockopt(r->socket, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, nullptr, 0) != 0) {
      error = ::WSAGetLastError();
    }
    if (error != 0) {
      slot.conn = nullptr;
      ++slot.generation;
      detach(r, CloseMode::abort);
      handler_.on_connected(id, classify(error), error);
      return;
    }
    r->connected = true;
    // The receive is armed before the handler hears of the connection, as
    // the contract promises; if that fails, the connection is reported as
    // connected and then as closed with the failure, unless the handler
    // closed it first.
    const int recv_error = post_recv(r);
    const std::uint32_t generation = slot.generation;
    handler_.on_connected(id, Failure::none, 0);
    if (recv_error != 0 && slot.conn == r && slot.generation == generation) {
      fail(r, classify(recv_error), recv_error);
    }
  }

  void recv_done(Record* r, int error, DWORD bytes) noexcept {
    if (error != 0) {
      fail(r, classify(error), error);
      return;
    }
    const char* data = r->recv_buffer;
    std::size_t size = bytes;
    if (zero_byte_) {
      // The zero-byte receive said "readable": data, the peer's FIN or a
      // reset is waiting. What one recv() leaves behind makes the next
      // zero-byte receive complete at once.
      const int n = ::recv(r->socket, scratch_.get(), static_cast<int>(receive_size_), 0);
      if (n == SOCKET_ERROR) {
        const int err = ::WSAGetLastError();
        if (err != WSAEWOULDBLOCK) {
          fail(r, classify(err), err);
        } else if (const int post_err = post_recv(r); post_err != 0) {
          fail(r, classify(post_err), post_err);  // nothing to read after all: wait again
        }
        return;
      }
      data = scratch_.get();
      size = static_cast<std::size_t>(n);
    }
    if (size == 0) {
      fail(r, Failure::none, 0);  // end of stream
      return;
    }
    const ConnId id = r->id;
    const Slot& slot = slots_[id];
    const std::uint32_t generation = slot.generation;
    handler_.on_data(id, data, size);
    // The handler may have closed the connection (and even reused the slot).
    if (slot.conn != r || slot.generation != generation) return;
    if (const int err = post_recv(r); err != 0) fail(r, classify(err), err);
  }

  void send_done(Record* r, int error, DWORD bytes) noexcept {
    if (error != 0) {
      fail(r, classify(error), error);
      return;
    }
    r->inflight.consume(std::min<std::size_t>(bytes, r->inflight.size()));
    if (r->inflight.empty()) {
      Slot& slot = slots_[r->id];
      if (slot.out.empty()) return;
      using std::swap;
      swap(slot.out, r->inflight);
    }
    // Either the rest of a partial (or chunked) send, or what the workload
    // appended while this send was in flight.
    if (const int err = post_send(r); err != 0) fail(r, classify(err), err);
  }

  // The connection ended inside poll() (end of stream or an error): close it
  // and tell the handler. The slot is free when on_closed() runs.
  void fail(Record* r, Failure failure, int code) noexcept {
    const ConnId id = r->id;
    slots_[id].end();
    detach(r, CloseMode::graceful);
    handler_.on_closed(id, failure, code);
  }

  // ---- Reports of connect() and flush() ---------------------------------------------

  // Delivers the failures that connect() and flush() found at once.
  std::size_t deliver_deferred() noexcept {
    return deferred_.deliver(slots_, handler_, [](Slot& slot, const DeferredReport&) {
      // The report ends the connection (every queued report is a failure):
      // later completions of it must not reach the handler.
      ++slot.generation;
    });
  }

  EngineHandler& handler_;
  std::vector<Slot> slots_;
  const std::size_t receive_size_;
  std::unique_ptr<Record[]> records_;
  std::unique_ptr<char[]> receive_block_;  // null with zero_byte_
  // EngineConfig::idle_connections: zero-byte receives and one buffer.
  const bool zero_byte_;
  std::unique_ptr<char[]> scratch_;
  std::vector<std::unique_ptr<Record>> extra_records_;
  Record* free_ = nullptr;
  // Operations outstanding over all Records (in the kernel or queued inline).
  std::size_t busy_ = 0;
  IoContext* inline_head_ = nullptr;
  IoContext* inline_tail_ = nullptr;
  DeferredReports deferred_;
  std::array<FamilyInfo, 2> families_{};  // AF_INET, AF_INET6
  std::array<OVERLAPPED_ENTRY, kBatch> entries_{};
  // Set in the constructor (optional only to turn its exception into EngineUnavailable).
  std::optional<net::win::StatusTranslator> status_;
  HANDLE port_ = nullptr;
  std::atomic<bool> wake_posted_{false};
};

}  // namespace

std::unique_ptr<Engine> make_iocp_engine(const EngineConfig& config, EngineHandler& handler) {
  return std::make_unique<IocpEngine>(config, handler);
}

}  // namespace wsb::loadgen
