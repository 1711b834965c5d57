// The state every server model keeps per connection (namespace wsb::server):
// the protocol session, the reply bytes waiting to be sent, backpressure and
// idle time. A model moves bytes between a socket and a Connection:
//
//   recv n bytes        -> conn.on_received({buf, n})
//   recv returned 0     -> conn.on_peer_closed()
//   socket error        -> conn.on_error(classify_io_error(code))
//   socket writable     -> n = send(conn.pending()); conn.on_sent(n)
//   conn.want_read()    -> keep reading (false: stop polling for input)
//   conn.finished()     -> frame.release(shard, socket, &conn), close the socket
//   mail wake (chat)    -> conn.collect_mail() on the owning thread, then send
//
// Readiness models (select, poll, epoll, WSAEventSelect, non-blocking) send
// from pending() and report with on_sent(). Completion models (overlapped,
// IOCP, io_uring), where the kernel reads the buffer after the call returns,
// call begin_send() instead: it freezes the bytes to send in a buffer of their
// own, so receives that complete meanwhile (on_received appends new replies)
// never move or free memory an in-flight send still reads.
//
// Chat (--protocol chat): other users' messages reach a connection from the
// threads serving their senders, through the connection's Outbox
// (server/outbox.hpp). The model registers a wake function with
// set_mail_wake() that makes the owning thread call collect_mail() soon; that
// is all a model adds for chat (docs/models/<model>.md says how each does it).
//
// Threading: a Connection is used by one thread at a time, and its shard must
// be the shard of the thread using it (or of a thread that is not running).
// Only its Outbox is shared, through the Hub.
// No member throws except the constructor (std::bad_alloc).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "proto/buffer.hpp"
#include "proto/session.hpp"
#include "server/options.hpp"
#include "server/outbox.hpp"
#include "server/stats.hpp"

namespace wsb::chat {
class Session;
}

namespace wsb::server {

class Frame;

class Connection {
 public:
  using Clock = std::chrono::steady_clock;

  // Creates the session for --protocol. Reads the Frame's options once, so a
  // Connection may outlive nothing but the Frame itself.
  Connection(Frame& frame, StatsShard& shard);
  // Movable so that models can keep Connections in containers and pools.
  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() = default;

  // Bytes arrived: counts them, applies --stall, feeds the session (which
  // appends replies and may start closing), counts completed requests and a
  // session error (malformed, oversized, unsupported), records activity,
  // then collects mail (collect_mail()).
  // Running out of memory is counted as ErrorClass::io and finishes the
  // connection.
  void on_received(std::span<const char> bytes) noexcept;

  // The bytes to send next: the frozen block of begin_send() while one is in
  // flight, else every queued reply byte. Valid until the next call of a
  // non-const member.
  std::span<const char> pending() const noexcept;
  // Every reply byte not yet reported sent (frozen block plus queue).
  std::size_t pending_bytes() const noexcept;
  // For completion-based sends: if no block is in flight, moves all queued
  // bytes into the in-flight block. Returns the in-flight block, which stays
  // valid and unchanged until on_sent() consumed all of it (on_received and
  // begin_send calls in between do not touch it). Empty when nothing waits.
  std::span<const char> begin_send() noexcept;
  // n bytes of pending() went out: counts them, consumes them, records
  // activity, then collects mail (collect_mail()).
  void on_sent(std::size_t n) noexcept;

  // Chat only (no-ops otherwise). The function the connection's Outbox calls,
  // on a posting thread, when mail arrives for an empty outbox or the outbox
  // overflows (server/outbox.hpp: what it may and may not do). `context`
  // must not move while the connection exists. Set it before the first
  // on_received().
  void set_mail_wake(Outbox::WakeFunction wake, void* context) noexcept;
  // Owning thread: moves the mail waiting in the outbox into the reply queue,
  // so that pending(), begin_send() and want_write() see it; left in the
  // outbox while the reply queue holds --max-pending bytes or more. If the
  // outbox overflowed, fails the connection as ErrorClass::slow_consumer.
  // True when it changed something (mail to send, or finished()).
  bool collect_mail() noexcept;

  // Whether to keep reading: false once closing, and while pending_bytes()
  // exceeds --max-pending (backpressure; true again when sends drained it).
  // The bound is soft: it is checked between receives, so one receive can
  // overshoot it by the reply to that receive.
  bool want_read() const noexcept;
  // Whether there is something to send.
  bool want_write() const noexcept { return pending_bytes() != 0 && !failed_; }
  // The session is closing (peer closed, Connection: close, protocol error) or
  // the connection failed: stop reading.
  bool closing() const noexcept;
  // Closing and nothing left to send, or failed: close the socket now. A model
  // may shutdown_send() first when the close is not a failure (failed() false).
  bool finished() const noexcept;
  bool failed() const noexcept { return failed_; }

  // recv() returned 0. Counts ErrorClass::truncated if the peer closed in the
  // middle of a request; in that case the partial reply is dropped and the
  // connection is finished at once (the peer gave up on that request). After
  // a clean close the replies still queued are sent, then finished().
  void on_peer_closed() noexcept;

  // A socket error or a server decision ended the connection: counts `c`
  // unless this connection already counted an error (each connection counts
  // at most one, the first), and drops pending output, so finished() is true.
  // A begin_send() block keeps its memory until the Connection is destroyed,
  // so an overlapped send still in flight reads valid memory; the model must
  // wait for such completions before destroying the Connection.
  void on_error(ErrorClass c) noexcept;

  // Pure query, counts nothing: --idle-timeout is set, the connection is not
  // finished, and nothing was received or sent for that long.
  bool idle_expired(Clock::time_point now) const noexcept;
  // If idle_expired(now): counts ErrorClass::idle_timeout, finishes the
  // connection and returns true (close the socket). Otherwise false.
  bool expire_if_idle(Clock::time_point now) noexcept;
  // When the connection expires if nothing happens (time_point::max() without
  // --idle-timeout), for models that compute a poll timeout.
  Clock::time_point idle_deadline() const noexcept;
  Clock::time_point last_activity() const noexcept { return last_activity_; }

  // Frees buffer memory of a connection with nothing queued (a model may call
  // it when a connection goes quiet after a large transfer, so idle
  // connections stay small).
  void release_memory() noexcept;

  const proto::ServerSession& session() const noexcept { return *session_; }

  // What --log-connections says of a closed connection: the bytes received
  // and sent on it, and why it ended: the name of the error class it counted
  // (reset, malformed, idle_timeout...), else "peer_closed" when the peer
  // closed cleanly, else "server_closed" (the protocol closed it, e.g. http
  // "Connection: close", or the server stopped).
  std::uint64_t bytes_received() const noexcept { return bytes_received_; }
  std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }
  std::string_view close_reason() const noexcept;

 private:
  void count_session_progress() noexcept;
  void fail(ErrorClass c) noexcept;

  StatsShard* shard_;
  // Chat only; declared before session_ so that the session (which logs out
  // of the Hub when destroyed) goes first.
  std::unique_ptr<Outbox> outbox_;
  // session_ itself when it is a chat session; declared before it because
  // session_'s initialiser sets it.
  chat::Session* chat_ = nullptr;
  std::unique_ptr<proto::ServerSession> session_;
  ByteBuffer queued_;     // replies not yet handed to a send
  ByteBuffer in_flight_;  // the frozen block of begin_send()
  std::uint64_t requests_counted_ = 0;
  std::uint64_t bytes_received_ = 0;
  std::uint64_t bytes_sent_ = 0;
  Clock::time_point last_activity_;
  std::size_t max_pending_;
  std::chrono::nanoseconds idle_timeout_;
  std::chrono::nanoseconds stall_pause_{0};
  std::chrono::nanoseconds stall_every_{0};
  bool error_counted_ = false;                 // one error class per connection, the first
  ErrorClass counted_error_ = ErrorClass::io;  // that class, when error_counted_
  bool peer_closed_ = false;                   // on_peer_closed() was called
  bool failed_ = false;
};

}  // namespace wsb::server
