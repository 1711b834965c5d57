// --log-connections (namespace wsb::server): one line on stderr per accepted,
// refused and closed connection, like the seeds' servers' "accept new client,
// IP ... Port ...":
//
//   connection accepted 127.0.0.1:40312
//   connection refused 127.0.0.1:40313 reason=refused
//   connection closed 127.0.0.1:40312 reason=peer_closed received=12 sent=12
//
// A refusal's reason is "refused" (--max-connections were online) or "banned"
// (--max-conns-per-ip). A close's reason is Connection::close_reason():
// "peer_closed", "server_closed", or the error class the connection counted
// (reset, malformed, idle_timeout...). The bytes are the connection's own
// (Connection::bytes_received/bytes_sent). A model that closes a socket
// without handing its Connection to Frame::release() (e.g. one refused or
// never served) gets "reason=unknown" and no byte counts.
//
// One of the Frame's jobs (server/frame.hpp): the Frame calls it from
// admit(shard, socket) and release(shard, socket[, connection]). Each line is
// written with one call on the stream, so lines of different threads never
// interleave mid-line. The peer's address is read once, at the accept, and
// kept until the release, because a reset socket no longer has one.
#pragma once

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "platform/net.hpp"
#include "server/options.hpp"

namespace wsb::server {

class Connection;

class ConnectionLog {
 public:
  // `options` is read at each call (options.log_connections), so it may be
  // filled in after construction. Lines go to `out`.
  explicit ConnectionLog(const Options& options, std::FILE* out = stderr) noexcept
      : options_(options), out_(out) {}

  bool enabled() const noexcept { return options_.log_connections; }

  // The peer of a just accepted socket as "addr:port" ("[::1]:40312"), or
  // "unknown" when it cannot be read (the peer already reset).
  static std::string peer_of(net::socket_t s);

  // The Frame admitted `s`: remembers its peer and prints the accept line.
  void accepted(net::socket_t s, const std::string& peer) noexcept;
  // The Frame refused a connection from `peer` for `why` (refused, banned).
  void refused(const std::string& peer, ErrorClass why) noexcept;
  // `s`, admitted earlier, is released; `conn` is its Connection, or null
  // when the model has none to give. Prints the close line.
  void closed(net::socket_t s, const Connection* conn) noexcept;

  // The lines, without the newline (for tests).
  static std::string accepted_line(std::string_view peer);
  static std::string refused_line(std::string_view peer, ErrorClass why);
  static std::string closed_line(std::string_view peer, const Connection* conn);

 private:
  void print(std::string line) noexcept;

  const Options& options_;
  std::FILE* out_;
  std::mutex mutex_;  // guards peers_
  std::map<net::socket_t, std::string> peers_;
};

}  // namespace wsb::server
