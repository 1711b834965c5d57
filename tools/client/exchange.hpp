// One typed line's round trip with a server, in each protocol, sans I/O:
// which bytes the line becomes on the wire, when its reply is complete, and
// what of the reply is shown. The socket loop is in main.cpp.
//
// Nothing here frames or parses a protocol of its own: the request of an
// upper line is proto::append_upper_frame(), the reply that upper and echo
// must produce is computed by the server session of core/proto (the same
// object every server model runs), and an http line is written and its
// response framed by the http client driver that the load generator uses.
#pragma once

#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "proto/buffer.hpp"
#include "proto/protocol.hpp"

namespace wsb::client {

// The server's reply is not what the protocol requires; what() says how.
class ReplyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Exchange {
 public:
  Exchange() = default;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;
  virtual ~Exchange() = default;

  // Starts the exchange of `line` (without its line ending): appends its
  // request to `out`. Throws std::invalid_argument, with a one-line reason,
  // for a line the protocol cannot carry; nothing is appended then.
  virtual void write_request(std::string_view line, ByteBuffer& out) = 0;

  // Takes reply bytes as they arrive; true once the reply is complete. Throws
  // ReplyError for a reply that breaks the protocol or answers nothing.
  virtual bool feed(std::span<const char> in) = 0;

  // The server closed the connection (recv returned 0) while a reply was
  // awaited; true when that close completed it (an http response framed by
  // the close), false when the reply is cut short.
  virtual bool on_peer_closed() = 0;

  // The completed reply as shown to the user, without a final line ending:
  // upper, the upper-cased body; echo, the line; http, the response with
  // CRLF line endings shown as LF.
  virtual std::string shown_reply() const = 0;

  // http: the last response said "Connection: close", so the server is
  // closing and no further line can be sent on this connection.
  virtual bool server_closing() const noexcept { return false; }
};

// The exchange for `protocol`; `http_host` is the Host field of http requests.
std::unique_ptr<Exchange> make_exchange(proto::Protocol protocol, const std::string& http_host);

}  // namespace wsb::client
