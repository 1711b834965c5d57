// The interface between the load generator's portable workload layer and the
// engines that move its bytes (namespace wsb::loadgen).
//
// An engine owns sockets and the buffers the kernel reads from and writes to;
// it knows nothing about protocols, schedules or latency. The workload owns
// the connection state machines (proto::ClientDriver), the timers (request
// timeouts, connect timeouts, open-loop send times, think times, connect
// pacing) and all recording. One engine file per I/O mechanism:
//   engines/uring.cpp  Linux io_uring (the default on Linux)
//   engines/epoll.cpp  Linux epoll, edge-triggered (--engine epoll, and the
//                      fallback when io_uring is unavailable)
//   engines/iocp.cpp   Windows I/O completion ports (ConnectEx, WSARecv, WSASend)
//
// ---------------------------------------------------------------------------
// Contract
// ---------------------------------------------------------------------------
// Threading. An engine instance is created, driven and destroyed by exactly
// one worker thread. Every member function except wake() must be called on
// that thread, and every EngineHandler callback runs on that thread, from
// inside poll() and never from any other member function (so connect(),
// flush() and close() never call back synchronously, even when they fail at
// once: such failures are reported from the next poll()). wake() may be called
// from any thread at any time while the engine exists.
//
// Connection slots. The engine is created with a fixed capacity; the workload
// names each connection by a slot number ConnId in [0, capacity) that it
// chooses. A slot is "open" from connect() until either the engine reports
// on_closed() for it or the workload calls close() on it; only then may it be
// passed to connect() again (which may happen at once, even inside a
// callback). The engine keeps whatever per-operation state it needs for
// operations still in the kernel on a closed slot (io_uring, IOCP) and must
// never let a late completion of the old connection reach the handler under
// the reused slot.
//
// Connecting. connect() starts a non-blocking connect: socket creation,
// TCP_NODELAY, optional bind to a source address (with IP_BIND_ADDRESS_NO_PORT
// on Linux so that the port is chosen at connect time against the 4-tuple,
// SO_REUSE_UNICASTPORT on Windows for the same reason), then the connect
// itself. Its result is reported once, by on_connected(). Once connected, the
// engine keeps a receive armed on the connection for as long as it is open:
// a load generator always drains responses, so there is no receive flow
// control. The engine has NO connect timeout of its own: the workload keeps
// that deadline and calls close(id, CloseMode::abort) when it passes, and
// counts the connect_timeout itself. A kernel ETIMEDOUT/WSAETIMEDOUT (SYN
// retries exhausted) is nevertheless reported as Failure::timed_out.
//
// Sending. Each connected slot (on_connected() reported success) has an
// output buffer owned by the engine, output(id). The workload appends requests to it (the driver
// writes straight into it, no copy) and then calls flush(id). The engine sends everything that was
// in the buffer, in order, and the workload may append more and flush again at any time: bytes
// already handed to the kernel by a completion-based engine (an in-flight WSASend or io_uring send)
// are NOT in output(id) any more; the engine moved them to private storage whose address stays
// fixed until the kernel reports the send complete, even if the slot is closed meanwhile. So the
// workload never has to reason about in-flight buffers, and output() never reallocates memory that
// the kernel is reading. A send that fails is reported by on_closed() with the failure (the
// connection is then already closed). There is no "sent" callback: the
// workload bounds the bytes it queues by its own pipeline and rate limits.
// Connections that never send keep no output memory (ByteBuffer allocates
// lazily), which keeps 10,000 idle connections small.
//
// Receiving. on_data(id, bytes) hands over what arrived. The bytes live in
// engine-owned storage (a per-thread buffer for epoll, a provided-buffer ring
// for io_uring, a per-connection buffer for IOCP) and are valid only until the
// callback returns; the workload feeds them to the driver at once. The handler
// may call flush(), close() or connect() (any slot) from inside on_data().
// After close(id) inside a callback, no further callback for that connection
// is delivered, even for data the engine already holds.
//
// Closing. close(id, mode) ends a connection at once from the workload's side
// and produces no callback. CloseMode::graceful closes the socket normally
// (FIN after queued data; bytes the engine still holds unsent in output(id)
// are discarded). CloseMode::abort sets SO_LINGER {1, 0} first so that the
// peer gets a RST, the socket leaves no TIME_WAIT behind, and the next connect
// can reuse the port; the workload uses it for timeouts and protocol errors.
// When the peer closes or the connection fails, the engine closes the socket
// itself and reports on_closed(id, failure, code): Failure::none for an
// orderly end of stream (recv returned 0); otherwise the class of the error
// and the platform error code (for messages). The slot is free again when
// on_closed() returns.
//
// Error classes. The engine classifies platform errors (errno or
// WSAGetLastError / completion status) into Failure; the workload adds the
// classes no engine can see (request timeout, connect timeout, protocol
// mismatch, unexpected close while requests were outstanding):
//   refused    connect: ECONNREFUSED / WSAECONNREFUSED
//   timed_out  connect: ETIMEDOUT / WSAETIMEDOUT / ERROR_SEM_TIMEOUT (kernel SYN
//              retries exhausted; the workload's own deadline usually fires first)
//   reset      ECONNRESET, ECONNABORTED, EPIPE, ENETRESET; WSAECONNRESET,
//              WSAECONNABORTED, ERROR_NETNAME_DELETED (net::is_reset)
//   no_address connect: EADDRNOTAVAIL / WSAEADDRNOTAVAIL / EADDRINUSE (the
//              source address ran out of ephemeral ports)
//   no_descriptors  socket(): EMFILE, ENFILE, ENOBUFS, ENOMEM / WSAEMFILE,
//              WSAENOBUFS (net::is_out_of_descriptors)
//   other      anything else
//
// Time. poll(deadline) waits for I/O until the deadline (or wake()), then
// dispatches every completion it collected and returns; it may return early
// and spuriously. Engines wait with the best resolution the platform offers
// (a timerfd and io_uring timeout operations take nanoseconds; IOCP's
// GetQueuedCompletionStatusEx takes milliseconds, so the IOCP engine rounds
// the wait DOWN and the workload simply polls again), because open-loop
// schedules need sub-millisecond wake-ups. The workload keeps all timers
// itself and passes the earliest one as the deadline.
//
// Failures of the engine itself (the ring or port cannot be created) throw
// EngineUnavailable from the factory; set-up failures later (a failed
// io_uring_enter) are broken invariants: the engine reports them by throwing
// std::runtime_error from poll(), which ends the worker and the run with an
// error, never a hang.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "platform/net.hpp"
#include "proto/buffer.hpp"

namespace wsb::loadgen {

using Clock = std::chrono::steady_clock;

// A connection slot, chosen by the workload, in [0, EngineConfig::capacity).
using ConnId = std::uint32_t;

// What went wrong with a connection, as far as the engine can tell.
enum class Failure : std::uint8_t {
  none,            // no failure: connected, or the peer closed in an orderly way
  refused,         // the target refused the connection (nothing listening)
  timed_out,       // the kernel gave up connecting (SYN retries exhausted)
  reset,           // the peer reset or aborted the connection
  no_address,      // no local address/port was available for the connection
  no_descriptors,  // out of socket descriptors or kernel buffer space
  other,           // any other socket error
};

// "none", "refused", "timed_out", "reset", "no_address", "no_descriptors", "other".
std::string_view name(Failure f) noexcept;

enum class CloseMode : std::uint8_t {
  graceful,  // close(): FIN, the normal end of a connection
  abort,     // SO_LINGER {1, 0} then close: RST, no TIME_WAIT (timeouts, errors)
};

// Implemented by the workload. Callbacks run on the engine's thread, inside
// Engine::poll(), and must not throw (the engine does not catch).
class EngineHandler {
 public:
  virtual ~EngineHandler() = default;

  // The connect started by connect(id) finished. failure == none: connected,
  // the slot is open and a receive is armed. Otherwise the socket is already
  // closed and the slot is free; code is the platform error number.
  virtual void on_connected(ConnId id, Failure failure, int code) noexcept = 0;

  // Bytes received on an open connection; valid until the callback returns.
  virtual void on_data(ConnId id, const char* data, std::size_t size) noexcept = 0;

  // The connection ended without the workload asking: failure == none means
  // the peer closed in an orderly way (end of stream). The socket is closed
  // and the slot is free when this is called.
  virtual void on_closed(ConnId id, Failure failure, int code) noexcept = 0;
};

struct EngineConfig {
  // Number of connection slots; every ConnId passed in is below it.
  std::uint32_t capacity = 0;
  // Bytes per receive: the per-thread buffer (epoll), each provided buffer
  // (io_uring) or each connection's receive buffer (IOCP).
  std::size_t receive_size = 16 * 1024;
  // The connections are expected to stay idle (--hold). The IOCP engine then
  // posts zero-byte receives, which pin no buffer while they wait, and reads
  // what arrives with a non-blocking recv() into one buffer of receive_size
  // per engine, instead of giving every connection a receive buffer of its
  // own. epoll and io_uring hold no per-connection receive buffer anyway and
  // ignore it.
  bool idle_connections = false;
};

// An engine that cannot run here (no io_uring in this kernel or container,
// no completion port): the reason is a complete sentence for the user.
class EngineUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Engine {
 public:
  Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  // Closes every open connection (abortively, no callbacks) and waits for the
  // kernel to release every buffer it still uses before freeing them.
  virtual ~Engine() = default;

  // "uring", "epoll" or "iocp".
  virtual std::string_view name() const noexcept = 0;

  // Starts connecting slot id (which must not be open) to target, from
  // source when given (an address with port 0). Never calls back directly.
  virtual void connect(ConnId id, const net::Endpoint& target, const net::Endpoint* source) = 0;

  // The output buffer of a connected slot (see "Sending" above).
  virtual ByteBuffer& output(ConnId id) noexcept = 0;
  // Sends what output(id) holds (connected slots only). No-op if it is empty.
  virtual void flush(ConnId id) noexcept = 0;
  // True when flush() only queues the bytes and the next poll() hands them
  // to the kernel (io_uring: the submission and the wait are one system
  // call); false when flush() itself sends (epoll's send(), IOCP's WSASend).
  // The workload takes a request's send time at that hand-over.
  virtual bool sends_in_poll() const noexcept { return false; }

  // Ends an open connection without a callback (see "Closing" above).
  virtual void close(ConnId id, CloseMode mode) noexcept = 0;

  // Waits for I/O until deadline (or wake()) and dispatches the callbacks.
  virtual void poll(Clock::time_point deadline) = 0;

  // Makes a poll() that is waiting, or the next one, return soon. Any thread.
  virtual void wake() noexcept = 0;
};

// One entry per engine built into this binary, the default first.
struct EngineInfo {
  std::string_view name;
  std::string_view description;
  // Throws EngineUnavailable when the engine cannot run here.
  std::unique_ptr<Engine> (*make)(const EngineConfig& config, EngineHandler& handler);
};

// The engines of this platform (engines/available_<platform>.cpp), the
// default first: uring, epoll on Linux; iocp on Windows.
const std::vector<EngineInfo>& available_engines();

// The engine factories; each is defined in its own engine file.
std::unique_ptr<Engine> make_uring_engine(const EngineConfig& config, EngineHandler& handler);
std::unique_ptr<Engine> make_epoll_engine(const EngineConfig& config, EngineHandler& handler);
std::unique_ptr<Engine> make_iocp_engine(const EngineConfig& config, EngineHandler& handler);

}  // namespace wsb::loadgen
