// Small client-side socket helpers for the suite's single-connection checks
// (namespace wsb::suite). Every call is bounded by a deadline; sockets are
// non-blocking and waited on with poll(2), so no call can hang a test.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/client.hpp"

namespace wsb::suite {

using Clock = std::chrono::steady_clock;

// Where the server listens, as parsed from its ready line.
struct Target {
  sockaddr_storage address{};
  socklen_t length = 0;
  std::string text;  // "127.0.0.1:40123" or "[::1]:40123", for messages
};

// A numeric IPv4 or IPv6 address (no names are resolved) and a port.
std::optional<Target> make_target(const std::string& host, std::uint16_t port);

// "ECONNRESET (Connection reset by peer)".
std::string errno_text(int code);

// Owns one socket descriptor.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) noexcept : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(other.release()) {}
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  int fd() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Orderly close (FIN once queued data is sent).
  void close() noexcept;
  // Abortive close: SO_LINGER {1, 0} makes close() send RST and drop queued data.
  void abort() noexcept;

 private:
  int fd_ = -1;
};

// A non-blocking TCP socket (TCP_NODELAY on) connected to `target` before
// `deadline`, with SO_RCVBUF set first when receive_buffer > 0. On failure
// returns an invalid Socket and sets `error`.
Socket connect_to(const Target& target, Clock::time_point deadline, std::string& error,
                  int receive_buffer = 0);

// Sends until the socket stays unwritable for `stall` (the peer stopped
// reading and every buffer on the way is full), everything is sent, or
// `deadline` passes. Returns the bytes sent; -1 with `error` set on an error.
std::ptrdiff_t send_until_stalled(const Socket& s, std::string_view bytes,
                                  std::chrono::milliseconds stall, Clock::time_point deadline,
                                  std::string& error);

// Sends every byte before `deadline`. False with `error` set otherwise.
bool send_all(const Socket& s, std::string_view bytes, Clock::time_point deadline,
              std::string& error);

// How a connection ended, as seen by wait_for_close().
enum class PeerEnd : std::uint8_t { eof, reset, timeout, other_error };
std::string_view name(PeerEnd e) noexcept;

// Reads (and discards, counting them in *discarded) until the server closes
// the connection or `deadline` passes. `error` receives the errno text of an
// error end.
PeerEnd wait_for_close(const Socket& s, Clock::time_point deadline, std::size_t* discarded,
                       std::string* error = nullptr);

// Reads until `text` holds at least `min_bytes`, the peer closes, or
// `deadline`. Returns how it stopped: nullopt while the connection is still
// open (enough bytes or the deadline), else how it ended.
std::optional<PeerEnd> read_some(const Socket& s, std::string& text, std::size_t min_bytes,
                                 Clock::time_point deadline);

// Writes `count` requests from `driver`, one at a time, waiting for each
// verified response before the next. Returns an empty string on success,
// else what went wrong.
std::string round_trips(const Socket& s, proto::ClientDriver& driver, std::size_t count,
                        Clock::time_point deadline);

}  // namespace wsb::suite
