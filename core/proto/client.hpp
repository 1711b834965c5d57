// Client side of the wire protocols, sans I/O: used by the load generator and
// by the server test suites.
//
// A ClientDriver writes requests into an output buffer and verifies the
// response bytes it is fed, incrementally, as they arrive. Requests may be
// pipelined: the driver remembers every outstanding request in order.
// Payloads are lower-case letters taken from a read-only random pool that is
// generated once per configuration (ClientFactory) and shared by every driver
// made from it, so a request costs one random number, not one per byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "proto/buffer.hpp"
#include "proto/protocol.hpp"

namespace wsb::proto {

struct ClientConfig {
  Protocol protocol = Protocol::upper;
  // Body bytes per request, drawn uniformly from [size_min, size_max] for each
  // request (upper: 0..65535; echo: at least 1). Ignored by http.
  std::uint32_t size_min = 16, size_max = 16;
  // Payloads and sizes are reproducible from the seed (and the stream number
  // given to ClientFactory::make).
  std::uint64_t seed = 1;
  std::string http_host = "127.0.0.1";
  std::string http_path = "/";
  // The body every 200 response must carry; nullopt accepts any body (for
  // servers such as nginx serving a file).
  std::optional<std::string> http_expect_body = "Hello, World!";
  // chat (proto/chat_client.hpp): the driver made for stream s is user
  // chat_first_user + s of chat_users, in groups of chat_group_size
  // consecutive ids; chat_private_share of its messages go privately to a
  // random user of another group. The sizes above are payload sizes (at
  // least chat::payload_header).
  std::uint32_t chat_first_user = 1;
  std::uint32_t chat_users = 0;
  std::uint32_t chat_group_size = 10;
  double chat_private_share = 0.0;
};

// Throws std::invalid_argument with a readable message if cfg cannot be used:
// size_min > size_max, upper with size_max > 65535, echo with size_min == 0,
// http with a host or path that is empty or holds whitespace or control bytes.
void validate(const ClientConfig& cfg);

enum class ClientError : std::uint8_t {
  none,
  mismatch,          // a well-formed response that is not the expected one (wrong bytes,
                     // wrong length, a status other than 200, or bytes nobody asked for)
  malformed,         // bytes that do not parse as the protocol (http only)
  unexpected_close,  // the server closed with a response outstanding or incomplete
};

// "none", "mismatch", "malformed", "unexpected_close".
std::string_view name(ClientError e) noexcept;

class ClientDriver {
 public:
  ClientDriver() = default;
  ClientDriver(const ClientDriver&) = delete;
  ClientDriver& operator=(const ClientDriver&) = delete;
  virtual ~ClientDriver() = default;

  // Appends what a new connection sends before its first request (chat's
  // LOGIN) and returns its size; it is answered by nothing that counts as a
  // response. The other protocols send nothing.
  virtual std::size_t write_greeting(ByteBuffer& /*out*/) { return 0; }
  // False while the driver must not write requests yet (chat: until its
  // user and every other one are logged in).
  virtual bool may_write() const noexcept { return true; }

  // Appends one request to `out` and returns its size in bytes.
  virtual std::size_t write_request(ByteBuffer& out) = 0;

  // Verifies response bytes as they arrive. Returns the number of responses
  // completed AND verified in this call; responses complete in FIFO order, so
  // a load generator pops that many send timestamps. On the first failure
  // error() is set and the rest of `in` is ignored (responses completed
  // earlier in the same call still count); later calls return 0. The
  // connection must then be dropped (or the driver reset() for a new one).
  virtual std::size_t feed(std::span<const char> in) = 0;

  // The server closed the connection (recv returned 0). An outstanding or
  // partially received response makes error() unexpected_close. An http
  // response framed by the close itself (no Content-Length, not chunked) is
  // completed by it: the return value counts it (0 or 1), like feed()'s.
  virtual std::size_t on_peer_closed() noexcept = 0;

  // Requests written whose responses are not complete.
  std::size_t outstanding() const noexcept { return outstanding_; }
  // First verification failure (the connection must then be dropped).
  ClientError error() const noexcept { return error_; }
  // Responses completed and verified over the driver's life (reset() keeps it).
  std::uint64_t responses() const noexcept { return responses_; }
  // http: the server said "Connection: close" in a completed response, so it
  // will close and no further request should be written on this connection.
  bool server_closing() const noexcept { return server_closing_; }

  // Forgets outstanding requests, partial responses and the error, ready for a
  // new connection. The payload sequence continues where it was.
  virtual void reset() noexcept {
    outstanding_ = 0;
    error_ = ClientError::none;
    server_closing_ = false;
  }

 protected:
  void fail(ClientError e) noexcept {
    if (error_ == ClientError::none) error_ = e;
  }

  std::size_t outstanding_ = 0;
  ClientError error_ = ClientError::none;
  std::uint64_t responses_ = 0;
  bool server_closing_ = false;
};

namespace detail {
struct PayloadPool;
}
namespace chat {
class Ledger;
}

// Holds a validated configuration and the random payload pool built from its
// seed (256 KiB plus size_max lower-case letters, in lower and upper case).
// make() is const and thread-safe, so one factory serves every connection of
// every load-generator thread; the drivers share the pool read-only.
class ClientFactory {
 public:
  // Validates cfg (see validate()) and builds the pool.
  explicit ClientFactory(ClientConfig cfg);
  const ClientConfig& config() const noexcept { return cfg_; }
  // A driver whose request sizes and payload offsets come from a random
  // sequence seeded by (seed, stream): give each connection its own stream.
  std::unique_ptr<ClientDriver> make(std::uint64_t stream = 0) const;
  // chat: the run's shared ledger (logins, ACKs, deliveries); null otherwise.
  const std::shared_ptr<chat::Ledger>& chat_ledger() const noexcept { return ledger_; }

 private:
  ClientConfig cfg_;
  std::shared_ptr<const detail::PayloadPool> pool_;
  std::shared_ptr<chat::Ledger> ledger_;
};

// Appends one upper request carrying `body` (a u16 little-endian length, then
// the body) to `out`: the framing the upper driver writes, for clients that
// send bytes of their own (tools/client). Throws std::invalid_argument when
// the body is longer than 65535 bytes, which the length field cannot carry.
void append_upper_frame(std::span<const char> body, ByteBuffer& out);

// Convenience for a single driver: ClientFactory(cfg).make(0). Builds a pool
// of its own, so prefer one ClientFactory when making many drivers.
std::unique_ptr<ClientDriver> make_client_driver(const ClientConfig& cfg);

}  // namespace wsb::proto
