// Server side of the wire protocols, sans I/O.
//
// A server model owns one ServerSession per connection. It hands the session
// every chunk recv() returned and sends whatever the session appended to the
// connection's output buffer. The session never sees a socket, so the same
// object serves all fifteen I/O models and the unit tests.
//
// Threading: a session is used by one thread at a time (the one serving the
// connection); it has no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "proto/buffer.hpp"
#include "proto/protocol.hpp"

namespace wsb::proto {

// Why a session stopped with an error. Servers count connections by class.
enum class SessionError : std::uint8_t {
  none,         // no error (still open, or a clean close)
  malformed,    // protocol violation (http: 400 Bad Request, 505 HTTP Version Not Supported)
  oversized,    // a bound was exceeded (http: 431 head too large, 413 body too large)
  truncated,    // the peer closed in the middle of a request
  unsupported,  // valid but not implemented (http: Transfer-Encoding in a request, 501)
};

// "none", "malformed", "oversized", "truncated", "unsupported".
std::string_view name(SessionError e) noexcept;

struct SessionLimits {
  // http: bytes of a request head, from the request line through the empty
  // line that ends it (including any empty lines ignored before the request
  // line). A longer head is answered with 431 and the connection closes.
  std::size_t max_http_head = 8 * 1024;
  // http: the largest Content-Length a request may announce. Bodies are read
  // and discarded, never buffered; a larger one is answered with 413 and the
  // connection closes.
  std::uint64_t max_http_body = 1024 * 1024;
};

class ServerSession {
 public:
  ServerSession() = default;
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;
  virtual ~ServerSession() = default;

  // Consumes every byte of `in` (keeping any partial request internally) and
  // appends the replies to `out`. After closing() becomes true, further input
  // is ignored. Never throws except std::bad_alloc from growing `out`.
  virtual void feed(std::span<const char> in, ByteBuffer& out) = 0;

  // The peer sent FIN (recv returned 0). closing() becomes true; if a partial
  // request was buffered, error() becomes truncated.
  virtual void on_peer_closed() = 0;

  // Bytes of a partial request held inside the session (not counting `out`).
  // Bounded per protocol: upper 0, echo 0, http <= limits.max_http_head.
  virtual std::size_t buffered() const noexcept = 0;

  // Stop reading; send what is in `out`, then close.
  bool closing() const noexcept { return closing_; }
  // Why it is closing with an error (none for a clean close).
  SessionError error() const noexcept { return error_; }
  // Complete requests answered so far (echo: non-empty chunks fed).
  std::uint64_t requests() const noexcept { return requests_; }

 protected:
  void close_with(SessionError e) noexcept {
    closing_ = true;
    if (error_ == SessionError::none) error_ = e;
  }

  bool closing_ = false;
  SessionError error_ = SessionError::none;
  std::uint64_t requests_ = 0;
};

// Creates the session for protocol p. The protocols' exact behaviour:
//
// upper: a request is a u16 little-endian body length N (0..65535) and N
//   bytes; the reply has the same framing with a-z upper-cased and every other
//   byte unchanged. The reply is streamed: it is exactly as long as the
//   request and each reply byte depends only on the request byte at the same
//   position, so every byte fed produces its reply byte at once (length bytes
//   copied, body bytes upper-cased). The session keeps only the frame state,
//   never request bytes, so buffered() is 0 and a 64 KiB frame costs no memory.
//   Consequently, if the peer closes inside a frame, the part of the reply
//   already produced is in `out` and error() is truncated; a server may close
//   without waiting for that output to drain (the peer gave up on the request).
//
// echo: every byte fed is appended to `out` unchanged.
//
// http: HTTP/1.1 (RFC 9112) with keep-alive and pipelining. Every request gets
//   "HTTP/1.1 200 OK\r\nServer: wsbench\r\nContent-Type: text/plain\r\n"
//   "Content-Length: 13\r\n\r\nHello, World!". Decisions, following RFC 9112:
//   - A line ends with LF; one CR before it is dropped (RFC 9112 section 2.2
//     lets a recipient accept a bare LF, as nginx does). A CR anywhere else
//     (a "bare CR") is malformed. Empty lines before a request line are ignored
//     (section 2.2 robustness), but count towards max_http_head.
//   - The request line must be exactly method SP target SP HTTP/d.d with a
//     token method and a target of visible ASCII or bytes >= 0x80 (no CTL, SP
//     or DEL); otherwise 400. A well-formed version whose major is not 1 gets
//     505 (RFC 9110 section 15.6.6); HTTP/1.2 and later minors are served as
//     HTTP/1.1 (RFC 9110 section 6.2).
//   - A field line must be token ":" OWS value OWS, with no whitespace before
//     the colon and no control characters except HTAB in the value; otherwise
//     400. obs-fold (a line starting with SP or HTAB) is rejected with 400, the
//     choice section 5.2 allows. Field names are matched case-insensitively.
//   - HTTP/1.1 requests need exactly one Host field (section 3.2); otherwise 400.
//   - Content-Length: the body is read and discarded, and the reply is sent
//     once it is complete. Repeated identical values are accepted, differing or
//     non-numeric ones get 400, values over max_http_body get 413.
//   - Transfer-Encoding in a request gets 501 Not Implemented: chunked request
//     bodies are not supported, and section 6.1 asks for 501 for a transfer
//     coding the server does not understand.
//   - "Connection: close" (or HTTP/1.0 without "Connection: keep-alive") is
//     answered with the same 200 reply plus "Connection: close", then closing().
//     HTTP/1.0 with keep-alive gets the reply plus "Connection: keep-alive",
//     which HTTP/1.0 clients such as ab -k require.
//   - A head over max_http_head bytes gets 431.
//   Every error reply carries "Connection: close" and an empty body; the
//   session is then closing() with error() malformed (400, 505), oversized
//   (413, 431) or unsupported (501).
//
// chat: returns nullptr. A chat session relays through a registry shared by
// every connection, so it is made with that registry (chat::Session,
// core/chat/session.hpp); server::Connection does so.
std::unique_ptr<ServerSession> make_server_session(Protocol p, const SessionLimits& limits = {});

}  // namespace wsb::proto
