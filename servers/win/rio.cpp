// server-rio: Registered I/O (Windows 8 / Server 2012 and later), one
// completion queue per worker thread.
//
// RIO moves the cost of overlapped I/O out of the per-call path: the buffers
// are registered (locked and mapped) once, and a send or receive is an entry
// in a request queue that the kernel completes into a completion queue in
// user memory, without an OVERLAPPED, an IRP per call or a completion packet
// per operation.
//
//   main:    WSAStartup (Frame), the RIO function table through
//            WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER,
//            WSAID_MULTIPLE_RIO) -- exit status 3 when that fails --, one
//            VirtualAlloc'ed slab registered with RIORegisterBuffer, one
//            completion port + RIO_CQ (RIO_IOCP_COMPLETION) per worker, the
//            listener on an accept port of its own, --accepts AcceptEx calls
//            on WSA_FLAG_REGISTERED_IO sockets
//   main (control thread): GetQueuedCompletionStatusEx on the accept port:
//            AcceptEx done -> re-post, SO_UPDATE_ACCEPT_CONTEXT, admission,
//            TCP_NODELAY, hand the socket to a worker (round robin) with a
//            PostQueuedCompletionStatus on that worker's port
//   worker:  GetQueuedCompletionStatusEx on its port:
//            hand-off      -> RIOCreateRequestQueue on its CQ (resized first
//                             when the CQ could not hold every queue's
//                             outstanding requests), first RIOReceive
//            CQ notified   -> RIODequeueCompletion, RIONotify (one-shot:
//                             re-armed after every dequeue), then per result:
//                             receive -> Connection::on_received,
//                             send -> Connection::on_sent; next RIOSend /
//                             RIOReceive
//            timeout       -> idle sweep of its own connections
//   stop:    close the listener and collect the aborted AcceptEx calls, then
//            one stop packet per worker: it closes its connections and leaves
//            once their outstanding requests have all been dequeued; then the
//            CQs are closed and the slab deregistered and freed
//
// Threading: a worker's CQ, its request queues and its connections are only
// ever touched by that worker, because RIO's queues are not thread-safe and
// a lock per dequeue would cost what RIO saves. The CQ notification is
// delivered to the worker's own port, so the dequeue never races either.
//
// Availability: Wine (8.0 and later) does not implement RIO; the function
// table request fails with WSAEOPNOTSUPP, and the program exits with status
// 3 and "RIO is not available" on stderr before the ready line. The
// conformance suite skips this model on that message.
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
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "platform/net.hpp"
#include "kit/mail_list.hpp"
#include "kit/winsock.hpp"
#include "server/model_names.hpp"

// ---------------------------------------------------------------------------
// RIO declarations
//
// The Windows SDK's <mswsock.h> (and newer mingw-w64 headers) declare RIO;
// mingw-w64 10, the version Debian 12 ships, declares none of it. What this
// file needs is declared here, with the SDK's names and layouts, only when the
// headers lack it (RIO_CORRUPT_CQ is defined next to the RIO types in every
// header that has them). The layouts are the SDK's; RIORESULT's contexts are
// 64-bit on every architecture.
#ifndef SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER
#define SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER _WSAIORW(IOC_WS2, 36)
#endif
#ifndef WSAID_MULTIPLE_RIO
#define WSAID_MULTIPLE_RIO                           \
  {                                                  \
    0x8509e081, 0x96dd, 0x4005, {                    \
      0xb1, 0x65, 0x9e, 0x2e, 0xe8, 0xc7, 0x9e, 0x3f \
    }                                                \
  }
#endif
#ifndef RIO_CORRUPT_CQ
typedef struct RIO_BUFFERID_t* RIO_BUFFERID;
typedef struct RIO_CQ_t* RIO_CQ;
typedef struct RIO_RQ_t* RIO_RQ;

typedef struct _RIORESULT {
  LONG Status;
  ULONG BytesTransferred;
  ULONGLONG SocketContext;
  ULONGLONG RequestContext;
} RIORESULT, *PRIORESULT;

typedef struct _RIO_BUF {
  RIO_BUFFERID BufferId;
  ULONG Offset;
  ULONG Length;
} RIO_BUF, *PRIO_BUF;

#define RIO_INVALID_BUFFERID ((RIO_BUFFERID)(ULONG_PTR)0xFFFFFFFF)
#define RIO_INVALID_CQ ((RIO_CQ)0)
#define RIO_INVALID_RQ ((RIO_RQ)0)
#define RIO_MAX_CQ_SIZE 0x8000000
#define RIO_CORRUPT_CQ 0xFFFFFFFF

typedef enum _RIO_NOTIFICATION_COMPLETION_TYPE {
  RIO_EVENT_COMPLETION = 1,
  RIO_IOCP_COMPLETION = 2,
} RIO_NOTIFICATION_COMPLETION_TYPE,
    *PRIO_NOTIFICATION_COMPLETION_TYPE;

// The SDK declares the two variants as unnamed structs inside the anonymous
// union, a compiler extension (ISO C++ allows no type declared there); named
// here outside it, with the same layout and the same member names.
struct RioEventNotification {
  HANDLE EventHandle;
  BOOL NotifyReset;
};
struct RioIocpNotification {
  HANDLE IocpHandle;
  PVOID CompletionKey;
  PVOID Overlapped;
};
typedef struct _RIO_NOTIFICATION_COMPLETION {
  RIO_NOTIFICATION_COMPLETION_TYPE Type;
  union {
    RioEventNotification Event;
    RioIocpNotification Iocp;
  };
} RIO_NOTIFICATION_COMPLETION, *PRIO_NOTIFICATION_COMPLETION;

typedef BOOL(PASCAL* LPFN_RIORECEIVE)(RIO_RQ, PRIO_BUF, ULONG, DWORD, PVOID);
typedef int(PASCAL* LPFN_RIORECEIVEEX)(RIO_RQ, PRIO_BUF, ULONG, PRIO_BUF, PRIO_BUF, PRIO_BUF,
                                       PRIO_BUF, DWORD, PVOID);
typedef BOOL(PASCAL* LPFN_RIOSEND)(RIO_RQ, PRIO_BUF, ULONG, DWORD, PVOID);
typedef BOOL(PASCAL* LPFN_RIOSENDEX)(RIO_RQ, PRIO_BUF, ULONG, PRIO_BUF, PRIO_BUF, PRIO_BUF,
                                     PRIO_BUF, DWORD, PVOID);
typedef VOID(PASCAL* LPFN_RIOCLOSECOMPLETIONQUEUE)(RIO_CQ);
typedef RIO_CQ(PASCAL* LPFN_RIOCREATECOMPLETIONQUEUE)(DWORD, PRIO_NOTIFICATION_COMPLETION);
typedef RIO_RQ(PASCAL* LPFN_RIOCREATEREQUESTQUEUE)(SOCKET, ULONG, ULONG, ULONG, ULONG, RIO_CQ,
                                                   RIO_CQ, PVOID);
typedef ULONG(PASCAL* LPFN_RIODEQUEUECOMPLETION)(RIO_CQ, PRIORESULT, ULONG);
typedef VOID(PASCAL* LPFN_RIODEREGISTERBUFFER)(RIO_BUFFERID);
typedef int(PASCAL* LPFN_RIONOTIFY)(RIO_CQ);
typedef RIO_BUFFERID(PASCAL* LPFN_RIOREGISTERBUFFER)(PCHAR, DWORD);
typedef BOOL(PASCAL* LPFN_RIORESIZECOMPLETIONQUEUE)(RIO_CQ, DWORD);
typedef BOOL(PASCAL* LPFN_RIORESIZEREQUESTQUEUE)(RIO_RQ, DWORD, DWORD);

typedef struct _RIO_EXTENSION_FUNCTION_TABLE {
  DWORD cbSize;
  LPFN_RIORECEIVE RIOReceive;
  LPFN_RIORECEIVEEX RIOReceiveEx;
  LPFN_RIOSEND RIOSend;
  LPFN_RIOSENDEX RIOSendEx;
  LPFN_RIOCLOSECOMPLETIONQUEUE RIOCloseCompletionQueue;
  LPFN_RIOCREATECOMPLETIONQUEUE RIOCreateCompletionQueue;
  LPFN_RIOCREATEREQUESTQUEUE RIOCreateRequestQueue;
  LPFN_RIODEQUEUECOMPLETION RIODequeueCompletion;
  LPFN_RIODEREGISTERBUFFER RIODeregisterBuffer;
  LPFN_RIONOTIFY RIONotify;
  LPFN_RIOREGISTERBUFFER RIORegisterBuffer;
  LPFN_RIORESIZECOMPLETIONQUEUE RIOResizeCompletionQueue;
  LPFN_RIORESIZEREQUESTQUEUE RIOResizeRequestQueue;
} RIO_EXTENSION_FUNCTION_TABLE, *PRIO_EXTENSION_FUNCTION_TABLE;
#endif  // RIO_CORRUPT_CQ

namespace {

using namespace wsb::server::model;

// Exit status when RIO cannot be used on this system (documented in --help
// and docs/models/rio.md). 1 and 2 are the frame's (error, usage).
constexpr int exit_rio_unavailable = 3;

// Each request queue has at most one receive and one send outstanding (one
// receive keeps the byte stream in order; sends are serialised by the
// Connection), and each charges its CQ that many entries.
constexpr ULONG cq_entries_per_connection = 2;
// A worker's CQ starts with room for this many connections and doubles.
constexpr ULONG initial_cq_connections = 64;
// Completion keys. Worker ports carry CQ notifications and hand-offs; the
// accept port carries AcceptEx completions. Stop packets have no OVERLAPPED.
constexpr ULONG_PTR stop_key = 0;
constexpr ULONG_PTR cq_key = 1;
constexpr ULONG_PTR handoff_key = 2;
constexpr ULONG_PTR listener_key = 3;
// Chat: another thread posted mail for connections of this worker.
constexpr ULONG_PTR mail_key = 4;
// --when-full queue: a release made room (on the accept port).
constexpr ULONG_PTR room_key = 5;
// As in server-iocp: a FIN'd connection is drained until the peer closes.
constexpr auto drain_timeout = std::chrono::seconds(2);
// How long the stop sequence waits for outstanding requests.
// Cancelled requests complete at once; the bound only matters when they do
// not, and it keeps the whole stop inside the 5 s that Windows grants a
// console process after a close (platform/win/interrupt.cpp).
constexpr auto shutdown_timeout = std::chrono::seconds(3);

enum class Op : std::uintptr_t { recv = 1, send = 2 };

void* request_context(Op op) noexcept {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(op));
}

// ---------------------------------------------------------------------------

struct Slot;
struct Worker;

// The OVERLAPPED of a slot's AcceptEx, reused for its hand-off packet. First
// member, so the OVERLAPPED* a port returns leads back to the slot.
struct AcceptIo {
  OVERLAPPED ov;
  Slot* slot;
};
static_assert(std::is_standard_layout_v<AcceptIo>, "AcceptIo must be standard-layout");
static_assert(offsetof(AcceptIo, ov) == 0, "the OVERLAPPED must be AcceptIo's first member");

enum class State : std::uint8_t {
  free,        // in the slot pool
  accepting,   // AcceptEx posted (control thread)
  handed_off,  // on its way to a worker
  open,        // served by its worker
  draining,    // FIN sent; receiving (and discarding) until the peer closes
  closed,      // socket closed; waiting for its outstanding requests
};

// One connection's state and its slice of the registered slab. Slots are
// preallocated (max connections + pending accepts) and recycled through a
// free-index stack. Between hand-off and release a slot belongs to its worker
// alone; before that, to the control thread.
struct Slot {
  AcceptIo accept_io{};
  SOCKET socket = INVALID_SOCKET;
  RIO_RQ rq = RIO_INVALID_RQ;
  Worker* worker = nullptr;
  std::uint32_t index = 0;     // in the slot table and the slab
  std::size_t list_index = 0;  // in worker->connections
  State state = State::free;
  bool recv_pending = false;
  bool send_pending = false;
  bool peer_closed = false;
  bool admitted = false;
  // The handle admitted (Frame::admit(shard, socket)). The release must come
  // before closesocket(): once the handle is closed, the control thread can
  // accept a new connection with the same handle value, and a late release
  // would then decrement the new peer's per-address count (frame.hpp).
  wsb::net::socket_t admitted_as = 0;
  bool charged = false;  // counted in worker->cq_used
  int outstanding = 0;   // requests posted and not yet dequeued
  Clock::time_point drain_deadline{};
  // Chat: the slot's place on its worker's mail list, made before its
  // Connection and destroyed after it (kit/mail_list.hpp).
  std::optional<wsb::kit::MailTarget> mail;
  std::optional<Connection> conn;
  wsb::kit::AcceptAddresses addresses;  // where AcceptEx writes both addresses
};

struct Worker {
  // Chat: this worker's connections that other threads posted mail to; a
  // posting thread wakes the worker with one mail_key packet per batch on
  // its port, since a worker's connections are touched by it alone.
  wsb::kit::MailList mail{[](void* self) noexcept {
                            ::PostQueuedCompletionStatus(static_cast<Worker*>(self)->port, 0,
                                                         mail_key, nullptr);
                          },
                          this};
  HANDLE port = nullptr;
  RIO_CQ cq = RIO_INVALID_CQ;
  ULONG cq_size = 0;  // entries the CQ holds
  ULONG cq_used = 0;  // entries charged by this worker's request queues
  OVERLAPPED notify_ov{};
  std::vector<Slot*> connections;
  StatsShard* shard = nullptr;
  bool stopping = false;
  bool leaked = false;  // gave up waiting for requests at the stop
  std::thread thread;
};

struct ModelOptions {
  int accepts = 16;
  std::size_t buffer = 8 * 1024;  // per direction and connection
  int batch = 256;                // RIORESULTs per dequeue
};

// A small lock-protected free-index stack (the seeds' pool design). Taken by
// the control thread on every AcceptEx and returned by workers on close.
class SlotPool {
 public:
  explicit SlotPool(std::size_t count) : slots_(count) {
    free_.reserve(count);
    for (std::size_t i = count; i-- > 0;) {
      slots_[i].index = static_cast<std::uint32_t>(i);
      slots_[i].accept_io.slot = &slots_[i];
      free_.push_back(static_cast<std::uint32_t>(i));
    }
  }
  Slot* take() noexcept {
    ::AcquireSRWLockExclusive(&lock_);
    Slot* slot = nullptr;
    if (!free_.empty()) {
      slot = &slots_[free_.back()];
      free_.pop_back();
    }
    ::ReleaseSRWLockExclusive(&lock_);
    return slot;
  }
  void give_back(Slot& slot) noexcept {
    ::AcquireSRWLockExclusive(&lock_);
    free_.push_back(slot.index);  // never allocates: reserved for all
    ::ReleaseSRWLockExclusive(&lock_);
  }
  std::size_t size() const noexcept { return slots_.size(); }

 private:
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
  SRWLOCK lock_ = SRWLOCK_INIT;
};

class RioServer {
 public:
  RioServer(Frame& frame, const ModelOptions& options) : frame_(frame), options_(options) {}
  RioServer(const RioServer&) = delete;
  RioServer& operator=(const RioServer&) = delete;
  ~RioServer() { release_resources(); }

  // Loads the RIO function table. Returns why RIO cannot be used, or an
  // empty string. Done before the listener exists, so that the failure is
  // reported before the ready line.
  std::string load_rio() {
    const auto bind = wsb::net::parse_endpoint(frame_.options().bind, 0);
    family_ = bind && bind->is_v6() ? AF_INET6 : AF_INET;
    // The table belongs to the provider of registered-I/O sockets, so it is
    // asked for on one. Windows before 8 knows neither the flag nor the
    // ioctl; Wine accepts and ignores the flag, then fails the ioctl.
    const SOCKET probe = ::WSASocketW(family_, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                                      WSA_FLAG_OVERLAPPED | WSA_FLAG_REGISTERED_IO);
    if (probe == INVALID_SOCKET) {
      return "WSASocket(WSA_FLAG_REGISTERED_IO) failed: " +
             wsb::net::error_text(::WSAGetLastError());
    }
    GUID id = WSAID_MULTIPLE_RIO;
    rio_ = RIO_EXTENSION_FUNCTION_TABLE{};
    rio_.cbSize = sizeof(rio_);
    DWORD bytes = 0;
    const int rc = ::WSAIoctl(probe, SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER, &id, sizeof(id),
                              &rio_, sizeof(rio_), &bytes, nullptr, nullptr);
    const int error = rc == 0 ? 0 : ::WSAGetLastError();
    ::closesocket(probe);
    if (rc != 0) {
      return "WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER, WSAID_MULTIPLE_RIO) failed: " +
             wsb::net::error_text(error);
    }
    return {};
  }

  int run() {
    set_up();
    frame_.start([this] {
      // Reporter thread: wake the control thread, which runs the stop
      // sequence. If the post fails (out of memory) the control thread still
      // sees stopping() at its next tick.
      ::PostQueuedCompletionStatus(accept_port_, 0, stop_key, nullptr);
    });
    for (auto& worker : workers_) {
      try {
        worker->thread = std::thread([this, w = worker.get()] { worker_main(*w); });
      } catch (const std::exception& e) {
        frame_.fail(std::string("starting a worker thread failed: ") + e.what());
        worker->leaked = true;  // no thread: its CQ is never drained
      }
    }
    control_loop();
    // Clients held for room are never served.
    for (const Held& held : held_)
      free_unserved(*held.slot);
    held_.clear();
    shut_down();
    return frame_.finish();
  }

 private:
  // ---- set-up ------------------------------------------------------------

  void set_up() {
    control_shard_ = &frame_.shard();
    const std::size_t slots = static_cast<std::size_t>(frame_.options().max_connections) +
                              static_cast<std::size_t>(options_.accepts);
    pool_ = std::make_unique<SlotPool>(slots);

    // One slab for every connection's two slices, registered once. RIO
    // locks it in memory; per-I/O registration would defeat the purpose.
    const std::size_t per_slot = 2 * options_.buffer;
    if (slots > MAXDWORD / per_slot) {
      throw wsb::net::NetError(WSAENOBUFS,
                               "the registered buffer (--max-connections + --accepts) x "
                               "2 x --rio-buffer exceeds 4 GiB; lower one of them");
    }
    slab_size_ = slots * per_slot;
    slab_ = static_cast<char*>(
        ::VirtualAlloc(nullptr, slab_size_, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE));
    if (slab_ == nullptr) {
      throw wsb::net::NetError(
          static_cast<int>(::GetLastError()),
          "VirtualAlloc of the " + std::to_string(slab_size_) + "-byte RIO buffer failed");
    }
    buffer_id_ = rio_.RIORegisterBuffer(slab_, static_cast<DWORD>(slab_size_));
    if (buffer_id_ == RIO_INVALID_BUFFERID) {
      const int code = ::WSAGetLastError();
      throw wsb::net::NetError(code, "RIORegisterBuffer failed: " + wsb::net::error_text(code));
    }

    const int threads = frame_.options().threads;
    for (int i = 0; i < threads; ++i) {
      // Owned by workers_ before any of its resources exists, so that
      // release_resources() frees whatever a failure leaves behind.
      Worker* worker = workers_.emplace_back(std::make_unique<Worker>()).get();
      worker->shard = &frame_.shard();
      worker->port = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
      if (worker->port == nullptr) {
        const int code = static_cast<int>(::GetLastError());
        throw wsb::net::NetError(code,
                                 "CreateIoCompletionPort failed: " + wsb::net::error_text(code));
      }
      RIO_NOTIFICATION_COMPLETION notification{};
      notification.Type = RIO_IOCP_COMPLETION;
      notification.Iocp.IocpHandle = worker->port;
      notification.Iocp.CompletionKey = reinterpret_cast<PVOID>(cq_key);
      notification.Iocp.Overlapped = &worker->notify_ov;
      worker->cq_size = initial_cq_connections * cq_entries_per_connection;
      worker->cq = rio_.RIOCreateCompletionQueue(worker->cq_size, &notification);
      if (worker->cq == RIO_INVALID_CQ) {
        const int code = ::WSAGetLastError();
        throw wsb::net::NetError(code,
                                 "RIOCreateCompletionQueue failed: " + wsb::net::error_text(code));
      }
      // Armed once here; from then on after every dequeue.
      if (const int code = rio_.RIONotify(worker->cq); code != 0) {
        throw wsb::net::NetError(code, "RIONotify failed: " + wsb::net::error_text(code));
      }
    }

    accept_port_ = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
    if (accept_port_ == nullptr) {
      const int code = static_cast<int>(::GetLastError());
      throw wsb::net::NetError(code,
                               "CreateIoCompletionPort failed: " + wsb::net::error_text(code));
    }
    listener_ = static_cast<SOCKET>(frame_.open_listener({.overlapped = true}));
    family_ = frame_.listen_endpoint().is_v6() ? AF_INET6 : AF_INET;
    if (::CreateIoCompletionPort(reinterpret_cast<HANDLE>(listener_), accept_port_, listener_key,
                                 0) == nullptr) {
      const int code = static_cast<int>(::GetLastError());
      throw wsb::net::NetError(
          code, "associating the listener with the port failed: " + wsb::net::error_text(code));
    }
    accept_ = wsb::kit::AcceptExFunctions::load(listener_);
    for (int i = 0; i < options_.accepts; ++i) {
      post_accept();
    }
  }

  // ---- accepting (control thread) ----------------------------------------

  void post_accept() noexcept {
    if (frame_.stopping()) return;
    Slot* slot = pool_->take();
    if (slot == nullptr) {
      // Every slot is a connection or a pending accept. Admission keeps the
      // connections within --max-connections, so this only happens while
      // closed connections wait for their last completions: try again later.
      ++accept_deficit_;
      return;
    }
    // RIO needs the flag on the socket that AcceptEx accepts into; the
    // accepted connection inherits nothing else from the listener.
    slot->socket = wsb::kit::open_accept_socket(family_, WSA_FLAG_REGISTERED_IO);
    if (slot->socket == INVALID_SOCKET) {
      control_shard_->error(classify_accept_error(::WSAGetLastError()));
      pool_->give_back(*slot);
      ++accept_deficit_;
      return;
    }
    slot->state = State::accepting;
    slot->accept_io.ov = OVERLAPPED{};
    if (const int error = wsb::kit::start_accept(accept_, listener_, slot->socket, slot->addresses,
                                                 &slot->accept_io.ov);
        error != 0) {
      control_shard_->error(classify_accept_error(error));
      free_unserved(*slot);
      ++accept_deficit_;
      return;
    }
    ++accepts_pending_;
  }

  void on_accept(Slot& slot) noexcept {
    --accepts_pending_;
    if (frame_.stopping()) {
      free_unserved(slot);
      return;
    }
    // --when-full queue: the accepted client is held, not admitted, while
    // --max-connections are online or older clients are held, and its
    // AcceptEx is not posted again (the clients behind it wait in the
    // backlog) until a release makes room (admit_held()).
    if (!held_.empty() || !frame_.has_room()) {
      try {
        held_.push_back(Held{&slot, Clock::now()});
        return;
      } catch (const std::bad_alloc&) {
        // Served at once instead, and refused if still full.
      }
    }
    post_accept();  // first, whatever happened to this one
    serve_accepted(slot);
  }

  // Admits held clients, oldest first, while there is room, each with the
  // AcceptEx it held back posted again; reports how long each waited since
  // its accept completed. Control thread.
  void admit_held() noexcept {
    while (!held_.empty() && frame_.has_room()) {
      const Held held = held_.front();
      held_.pop_front();
      frame_.note_waited(Clock::now() - held.since);
      post_accept();
      serve_accepted(*held.slot);
    }
  }

  // An AcceptEx completed and is to be served: admission and the hand-off.
  void serve_accepted(Slot& slot) noexcept {
    // The listener is only used and closed on this thread, so it is valid
    // here; WSAGetOverlappedResult reads the AcceptEx's status from its
    // OVERLAPPED and translates it to a Winsock error.
    DWORD bytes = 0;
    DWORD flags = 0;
    if (!::WSAGetOverlappedResult(listener_, &slot.accept_io.ov, &bytes, FALSE, &flags)) {
      control_shard_->error(classify_accept_error(::WSAGetLastError()));
      free_unserved(slot);
      return;
    }
    if (const int error = wsb::kit::update_accept_context(slot.socket, listener_); error != 0) {
      control_shard_->error(classify_accept_error(error));
      free_unserved(slot);
      return;
    }
    slot.admitted_as = static_cast<wsb::net::socket_t>(slot.socket);
    if (!frame_.admit(*control_shard_, slot.admitted_as)) {  // counted as refused (or banned)
      free_unserved(slot);
      return;
    }
    if (!wsb::net::set_nodelay(static_cast<wsb::net::socket_t>(slot.socket))) {
      control_shard_->error(classify_io_error(::WSAGetLastError()));
      frame_.release(*control_shard_, slot.admitted_as);
      free_unserved(slot);
      return;
    }
    slot.admitted = true;
    Worker& worker = *workers_[next_worker_++ % workers_.size()];
    slot.worker = &worker;
    slot.state = State::handed_off;
    slot.accept_io.ov = OVERLAPPED{};
    if (!::PostQueuedCompletionStatus(worker.port, 0, handoff_key, &slot.accept_io.ov)) {
      control_shard_->error(ErrorClass::io);
      slot.admitted = false;
      frame_.release(*control_shard_, slot.admitted_as);
      free_unserved(slot);
    }
  }

  // A slot whose socket never became a served connection.
  void free_unserved(Slot& slot) noexcept {
    if (slot.socket != INVALID_SOCKET) ::closesocket(slot.socket);
    slot.socket = INVALID_SOCKET;
    slot.state = State::free;
    slot.worker = nullptr;
    pool_->give_back(slot);
  }

  void control_loop() {
    // --when-full queue: a release wakes this thread to admit held clients.
    frame_.set_room_hook(
        [this] { ::PostQueuedCompletionStatus(accept_port_, 0, room_key, nullptr); });
    const DWORD tick_ms = 250;
    OVERLAPPED_ENTRY entries[16];
    while (!frame_.stopping()) {
      ULONG count = 0;
      if (!::GetQueuedCompletionStatusEx(accept_port_, entries, 16, &count, tick_ms, FALSE)) {
        const DWORD error = ::GetLastError();
        if (error != WAIT_TIMEOUT) {
          frame_.fail("GetQueuedCompletionStatusEx failed: " +
                      wsb::net::error_text(static_cast<int>(error)));
          return;
        }
        count = 0;
      }
      for (ULONG i = 0; i < count; ++i) {
        // Without an OVERLAPPED: the stop packet, or the room hook's.
        if (entries[i].lpOverlapped == nullptr) continue;
        on_accept(*reinterpret_cast<AcceptIo*>(entries[i].lpOverlapped)->slot);
      }
      admit_held();
      for (int n = std::exchange(accept_deficit_, 0); n > 0; --n) {
        post_accept();
      }
    }
  }

  // ---- workers ------------------------------------------------------------

  void worker_main(Worker& w) noexcept {
    std::vector<RIORESULT> results;
    try {
      results.resize(static_cast<std::size_t>(options_.batch));
    } catch (const std::exception&) {
      frame_.fail("worker: out of memory");
      w.leaked = true;
      return;
    }
    const auto idle = frame_.options().idle_timeout;
    DWORD tick_ms = 250;
    if (idle.count() > 0) {
      tick_ms = static_cast<DWORD>(std::clamp<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(idle / 4).count(), 10, 250));
    }
    Clock::time_point stop_deadline{};
    OVERLAPPED_ENTRY entries[16];
    for (;;) {
      ULONG count = 0;
      if (!::GetQueuedCompletionStatusEx(w.port, entries, 16, &count, tick_ms, FALSE)) {
        const DWORD error = ::GetLastError();
        if (error != WAIT_TIMEOUT) {
          frame_.fail("GetQueuedCompletionStatusEx failed: " +
                      wsb::net::error_text(static_cast<int>(error)));
          w.leaked = true;
          return;
        }
        count = 0;
      }
      for (ULONG i = 0; i < count; ++i) {
        const OVERLAPPED_ENTRY& entry = entries[i];
        if (entry.lpCompletionKey == cq_key) {
          drain_cq(w, results);
        } else if (entry.lpCompletionKey == handoff_key) {
          adopt(w, *reinterpret_cast<AcceptIo*>(entry.lpOverlapped)->slot);
        } else if (entry.lpCompletionKey == mail_key) {
          deliver_mail(w);
        } else if (entry.lpOverlapped == nullptr && entry.lpCompletionKey == stop_key) {
          w.stopping = true;
          stop_deadline = Clock::now() + shutdown_timeout;
          close_all(w);
        }
      }
      sweep(w);
      if (w.stopping) {
        if (w.connections.empty()) return;
        if (Clock::now() >= stop_deadline) {
          frame_.fail(std::to_string(w.connections.size()) +
                      " RIO connections still had requests outstanding after " +
                      std::to_string(shutdown_timeout.count()) + " s");
          w.leaked = true;
          return;
        }
      }
    }
  }

  // Chat: collects the mail of this worker's connections on the list and
  // sends it. A slot closed here is recycled only once its outstanding
  // requests are dequeued, and the list names each slot once.
  void deliver_mail(Worker& w) noexcept {
    bool all = false;
    for (wsb::kit::MailTarget* target : w.mail.take(all))
      deliver(target->entry<Slot>());
    if (!all) return;
    for (Slot* slot : w.connections)
      deliver(*slot);
  }

  void deliver(Slot& slot) noexcept {
    if (slot.state == State::open && slot.conn->collect_mail()) pump(slot);
  }

  // The CQ signalled (one notification per RIONotify). Dequeues a batch and
  // re-arms at once: the next notification lands on this same port behind
  // the current entries, so no other thread touches the CQ. If more results
  // than one batch were waiting, RIONotify signals again immediately.
  void drain_cq(Worker& w, std::vector<RIORESULT>& results) noexcept {
    const ULONG n =
        rio_.RIODequeueCompletion(w.cq, results.data(), static_cast<ULONG>(results.size()));
    if (n == RIO_CORRUPT_CQ) {
      frame_.fail("RIODequeueCompletion reported a corrupt completion queue (RIO_CORRUPT_CQ)");
      return;
    }
    if (const int code = rio_.RIONotify(w.cq); code != 0) {
      frame_.fail("RIONotify failed: " + wsb::net::error_text(code));
    }
    for (ULONG i = 0; i < n; ++i) {
      on_result(w, results[i]);
    }
  }

  void on_result(Worker& w, const RIORESULT& result) noexcept {
    // SocketContext is 64 bits wide on every architecture; it holds the
    // Slot* given to RIOCreateRequestQueue.
    Slot& slot = *reinterpret_cast<Slot*>(static_cast<std::uintptr_t>(result.SocketContext));
    const auto op = static_cast<Op>(static_cast<std::uintptr_t>(result.RequestContext));
    --slot.outstanding;
    (op == Op::recv ? slot.recv_pending : slot.send_pending) = false;
    if (slot.state == State::open || slot.state == State::draining) {
      if (result.Status != 0) {
        // The documentation only says "completion status"; it is a Winsock
        // error code (WSAECONNRESET, WSAECONNABORTED, ...), which is also how
        // ctsTraffic reports it. Anything unrecognised counts as io.
        fail(slot, static_cast<int>(result.Status));
      } else if (op == Op::recv) {
        deliver(slot, std::span<const char>(recv_area(slot), result.BytesTransferred));
      } else if (slot.state == State::open) {
        if (result.BytesTransferred == 0) {
          fail(slot, WSAECONNABORTED);  // would be re-sent forever
        } else {
          slot.conn->on_sent(result.BytesTransferred);
        }
      }
      pump(slot);
    }
    maybe_finalize(w, slot);
  }

  // A connection handed over by the control thread.
  void adopt(Worker& w, Slot& slot) noexcept {
    if (w.stopping) {
      release_admission(w, slot);
      free_unserved(slot);
      return;
    }
    // The CQ must hold every outstanding request of every queue charged to
    // it, or RIOCreateRequestQueue fails with WSAENOBUFS; grow it first
    // (ctsTraffic's MakeRoomInCq). Only this worker uses the CQ, so the
    // resize cannot race a dequeue.
    const ULONG needed = w.cq_used + cq_entries_per_connection;
    if (needed > w.cq_size) {
      const ULONG grown = std::min<ULONG>(std::max(needed, w.cq_size * 2), RIO_MAX_CQ_SIZE);
      if (needed > grown || !rio_.RIOResizeCompletionQueue(w.cq, grown)) {
        w.shard->error(ErrorClass::out_of_descriptors);
        release_admission(w, slot);
        free_unserved(slot);
        return;
      }
      w.cq_size = grown;
    }
    slot.rq = rio_.RIOCreateRequestQueue(slot.socket, 1, 1, 1, 1, w.cq, w.cq, &slot);
    if (slot.rq == RIO_INVALID_RQ) {
      w.shard->error(classify_io_error(::WSAGetLastError()));
      release_admission(w, slot);
      free_unserved(slot);
      return;
    }
    w.cq_used = needed;
    slot.charged = true;
    try {
      slot.mail.emplace(w.mail, &slot);
      slot.conn.emplace(frame_, *w.shard);
      slot.mail->watch(*slot.conn);
      slot.list_index = w.connections.size();
      w.connections.push_back(&slot);
    } catch (const std::exception&) {
      w.shard->error(ErrorClass::io);
      slot.conn.reset();
      slot.mail.reset();
      w.cq_used -= cq_entries_per_connection;
      release_admission(w, slot);
      free_unserved(slot);  // closing the socket frees its request queue
      return;
    }
    slot.state = State::open;
    slot.recv_pending = slot.send_pending = slot.peer_closed = false;
    slot.outstanding = 0;
    pump(slot);
    maybe_finalize(w, slot);
  }

  void release_admission(Worker& w, Slot& slot) noexcept {
    if (slot.admitted)
      frame_.release(*w.shard, slot.admitted_as, slot.conn ? &*slot.conn : nullptr);
    slot.admitted = false;
  }

  char* recv_area(const Slot& slot) const noexcept {
    return slab_ + static_cast<std::size_t>(slot.index) * 2 * options_.buffer;
  }
  ULONG recv_offset(const Slot& slot) const noexcept {
    return static_cast<ULONG>(static_cast<std::size_t>(slot.index) * 2 * options_.buffer);
  }
  ULONG send_offset(const Slot& slot) const noexcept {
    return recv_offset(slot) + static_cast<ULONG>(options_.buffer);
  }

  // Posts what the connection needs next; the same decisions as
  // server-iocp's pump(), with RIO requests. RIO completes nothing inline,
  // so there is no budget loop.
  void pump(Slot& slot) noexcept {
    for (;;) {
      if (slot.state == State::open && slot.conn->finished()) {
        if (slot.conn->failed() || slot.peer_closed) {
          hard_close(slot);
          return;
        }
        start_drain(slot);
      }
      if (slot.state != State::open && slot.state != State::draining) return;

      if (slot.state == State::open && !slot.send_pending && slot.conn->want_write()) {
        // The reply is copied into the connection's registered send slice,
        // which is what freezes it for the kernel: on_sent() later consumes
        // exactly these first bytes of pending(), and replies appended in
        // between go behind them.
        const std::span<const char> bytes = slot.conn->pending();
        const std::size_t length = std::min(bytes.size(), options_.buffer);
        std::memcpy(slab_ + send_offset(slot), bytes.data(), length);
        RIO_BUF buf{buffer_id_, send_offset(slot), static_cast<ULONG>(length)};
        if (!rio_.RIOSend(slot.rq, &buf, 1, 0, request_context(Op::send))) {
          fail(slot, ::WSAGetLastError());
          continue;
        }
        slot.send_pending = true;
        ++slot.outstanding;
      }

      const bool want_recv =
          slot.state == State::draining ||
          (slot.state == State::open && !slot.peer_closed && slot.conn->want_read());
      if (want_recv && !slot.recv_pending) {
        RIO_BUF buf{buffer_id_, recv_offset(slot), static_cast<ULONG>(options_.buffer)};
        if (!rio_.RIOReceive(slot.rq, &buf, 1, 0, request_context(Op::recv))) {
          fail(slot, ::WSAGetLastError());
          continue;
        }
        slot.recv_pending = true;
        ++slot.outstanding;
      }
      return;
    }
  }

  void deliver(Slot& slot, std::span<const char> bytes) noexcept {
    if (slot.state == State::draining) {
      if (bytes.empty()) hard_close(slot);
      return;
    }
    if (bytes.empty()) {
      slot.peer_closed = true;
      slot.conn->on_peer_closed();
    } else {
      slot.conn->on_received(bytes);
    }
  }

  void fail(Slot& slot, int error) noexcept {
    if (slot.state == State::draining) {
      hard_close(slot);
      return;
    }
    if (slot.state == State::open) slot.conn->on_error(classify_io_error(error));
  }

  void start_drain(Slot& slot) noexcept {
    if (::shutdown(slot.socket, SD_SEND) != 0) {
      hard_close(slot);
      return;
    }
    slot.state = State::draining;
    slot.drain_deadline = Clock::now() + drain_timeout;
  }

  // Closing the socket also closes its request queue; requests still
  // outstanding complete (with an error) into the CQ, and the slot is freed
  // once the last of them has been dequeued (maybe_finalize). The admission
  // is released first, while the handle value still names this connection.
  void hard_close(Slot& slot) noexcept {
    slot.state = State::closed;
    if (slot.worker != nullptr) release_admission(*slot.worker, slot);
    if (slot.socket != INVALID_SOCKET) ::closesocket(slot.socket);
    slot.socket = INVALID_SOCKET;
    slot.rq = RIO_INVALID_RQ;
  }

  void maybe_finalize(Worker& w, Slot& slot) noexcept {
    if (slot.outstanding > 0) return;
    if (slot.state == State::open || slot.state == State::draining) {
      // Nothing outstanding and nothing to post: the connection cannot
      // progress any more (pump() always leaves a request or closes).
      hard_close(slot);
    }
    if (slot.state != State::closed) return;
    // Unlink (swap with the last) before the slot can be reused.
    Slot* last = w.connections.back();
    last->list_index = slot.list_index;
    w.connections[slot.list_index] = last;
    w.connections.pop_back();
    slot.conn.reset();  // the admission went with hard_close()
    slot.mail.reset();  // after the Connection: it logged its user out
    if (slot.charged) w.cq_used -= cq_entries_per_connection;
    slot.charged = false;
    free_unserved(slot);
  }

  void sweep(Worker& w) noexcept {
    const auto now = Clock::now();
    // Backwards: maybe_finalize() moves the last element into the freed
    // position, which has then been visited already.
    for (std::size_t i = w.connections.size(); i-- > 0;) {
      Slot& slot = *w.connections[i];
      if (slot.state == State::open && slot.conn->expire_if_idle(now)) {
        hard_close(slot);  // counted as idle_timeout by the Connection
      } else if (slot.state == State::draining && now >= slot.drain_deadline) {
        hard_close(slot);
      }
      maybe_finalize(w, slot);
    }
  }

  void close_all(Worker& w) noexcept {
    for (std::size_t i = w.connections.size(); i-- > 0;) {
      Slot& slot = *w.connections[i];
      if (slot.state != State::closed) hard_close(slot);
      maybe_finalize(w, slot);
    }
  }

  // ---- stop ----------------------------------------------------------------

  void shut_down() {
    // Stop accepting: the pending AcceptEx calls complete as aborted and
    // are collected here (on_accept frees them while stopping).
    ::CancelIoEx(reinterpret_cast<HANDLE>(listener_), nullptr);
    wsb::net::close_socket(static_cast<wsb::net::socket_t>(listener_));
    listener_ = INVALID_SOCKET;
    const auto deadline = Clock::now() + shutdown_timeout;
    OVERLAPPED_ENTRY entries[16];
    while (accepts_pending_ > 0 && Clock::now() < deadline) {
      ULONG count = 0;
      if (!::GetQueuedCompletionStatusEx(accept_port_, entries, 16, &count, 100, FALSE)) {
        if (::GetLastError() == WAIT_TIMEOUT) continue;
        break;  // the port itself failed: nothing more will arrive
      }
      for (ULONG i = 0; i < count; ++i) {
        if (entries[i].lpOverlapped != nullptr) {
          on_accept(*reinterpret_cast<AcceptIo*>(entries[i].lpOverlapped)->slot);
        }
      }
    }
    if (accepts_pending_ > 0) {
      frame_.fail(std::to_string(accepts_pending_) + " AcceptEx calls did not complete");
      leak_ = true;
    }
    // Hand-offs were posted before this, and each port is FIFO, so every
    // worker adopts (or refuses) them before it sees its stop packet.
    for (auto& worker : workers_) {
      if (worker->thread.joinable() &&
          !::PostQueuedCompletionStatus(worker->port, 0, stop_key, nullptr)) {
        std::fprintf(stderr, "rio: PostQueuedCompletionStatus failed: %s\n",
                     wsb::net::error_text(static_cast<int>(::GetLastError())).c_str());
        std::_Exit(1);
      }
    }
    for (auto& worker : workers_) {
      if (worker->thread.joinable()) worker->thread.join();
      if (worker->leaked) leak_ = true;
    }
  }

  // CQs are closed and the slab deregistered only when no request can still
  // complete into them; after a failed stop they are left to the process exit.
  void release_resources() noexcept {
    if (leak_) {
      // The slots and workers hold OVERLAPPEDs the kernel may still write.
      (void)pool_.release();
      for (auto& worker : workers_) {
        (void)worker.release();
      }
      return;
    }
    for (auto& worker : workers_) {
      if (worker->cq != RIO_INVALID_CQ) rio_.RIOCloseCompletionQueue(worker->cq);
      if (worker->port != nullptr) ::CloseHandle(worker->port);
    }
    workers_.clear();
    if (buffer_id_ != RIO_INVALID_BUFFERID) rio_.RIODeregisterBuffer(buffer_id_);
    if (slab_ != nullptr) ::VirtualFree(slab_, 0, MEM_RELEASE);
    if (accept_port_ != nullptr) ::CloseHandle(accept_port_);
  }

  Frame& frame_;
  const ModelOptions options_;
  RIO_EXTENSION_FUNCTION_TABLE rio_{};
  int family_ = AF_INET;

  StatsShard* control_shard_ = nullptr;
  std::unique_ptr<SlotPool> pool_;
  char* slab_ = nullptr;
  std::size_t slab_size_ = 0;
  RIO_BUFFERID buffer_id_ = RIO_INVALID_BUFFERID;
  std::vector<std::unique_ptr<Worker>> workers_;
  bool leak_ = false;

  // Control thread only.
  HANDLE accept_port_ = nullptr;
  SOCKET listener_ = INVALID_SOCKET;
  wsb::kit::AcceptExFunctions accept_;  // AcceptEx (GetAcceptExSockaddrs unused)
  int accepts_pending_ = 0;
  int accept_deficit_ = 0;
  // --when-full queue: accepted clients waiting for room, oldest first.
  // Control thread only.
  struct Held {
    Slot* slot;
    Clock::time_point since;  // the AcceptEx completed
  };
  std::deque<Held> held_;
  std::size_t next_worker_ = 0;
};

// The processors of the process's processor group, as in server-iocp: its
// threads run in that group (before Windows 11 and Server 2022), so sizing
// from every group would oversubscribe it on hosts with more than 64.
int processors() {
  PROCESSOR_NUMBER here{};
  ::GetCurrentProcessorNumberEx(&here);
  const DWORD cpus = ::GetActiveProcessorCount(here.Group);
  return cpus == 0 ? 1 : static_cast<int>(cpus);
}

// The model's own flags, written into `options` by parse().
void add_model_options(CLI::App& cli, ModelOptions& options) {
  cli.add_option("--accepts", options.accepts, "AcceptEx calls kept posted")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cli.add_option("--rio-buffer", options.buffer,
                 "registered bytes per connection and direction (receive and send slice)")
      ->check(CLI::Range(std::size_t{512}, std::size_t{1} << 20))
      ->capture_default_str();
  cli.add_option("--batch", options.batch, "RIORESULTs taken per RIODequeueCompletion call")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  ModelOptions options;
  return wsb::server::run_model(
      argc, argv,
      {.name = "rio",
       .description =
           "Registered I/O (Windows 8 and later): one registered buffer slab sliced per "
           "connection, one RIO completion queue with completion-port notification per worker "
           "thread (default: one per processor), AcceptEx for accepting. Exits with status 3 when "
           "RIO is not available (Wine does not implement it).",
       .default_threads = processors()},
      [&](Frame& frame) {
        // The registered slab is sized for --max-connections (+ --accepts), so
        // "unlimited" is not an option; 1024 connections take 16 MiB of locked
        // memory with the default --rio-buffer.
        frame.set_default_max_connections(1024);
        add_model_options(frame.cli(), options);
      },
      [&](Frame& frame) {
        RioServer server(frame, options);
        if (const std::string why = server.load_rio(); !why.empty()) {
          std::fprintf(stderr,
                       "server-rio: RIO is not available on this system (%s). Registered I/O "
                       "needs Windows 8 / Windows Server 2012 or later, and Wine does not "
                       "implement it. Use server-iocp.\n",
                       why.c_str());
          return exit_rio_unavailable;
        }
        return server.run();
      });
}
