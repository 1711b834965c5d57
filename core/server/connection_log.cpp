// --log-connections: server/connection_log.hpp.
#include "server/connection_log.hpp"

#include <utility>

#include "server/connection.hpp"

namespace wsb::server {

std::string ConnectionLog::peer_of(net::socket_t s) {
  const auto peer = net::peer_endpoint(s);
  return peer ? net::to_string(*peer) : std::string("unknown");
}

std::string ConnectionLog::accepted_line(std::string_view peer) {
  return "connection accepted " + std::string(peer);
}

std::string ConnectionLog::refused_line(std::string_view peer, ErrorClass why) {
  return "connection refused " + std::string(peer) + " reason=" + std::string(name(why));
}

std::string ConnectionLog::closed_line(std::string_view peer, const Connection* conn) {
  std::string line = "connection closed " + std::string(peer) + " reason=";
  if (conn == nullptr) return line + "unknown";
  line += conn->close_reason();
  line += " received=" + std::to_string(conn->bytes_received());
  line += " sent=" + std::to_string(conn->bytes_sent());
  return line;
}

void ConnectionLog::accepted(net::socket_t s, const std::string& peer) noexcept {
  try {
    {
      std::lock_guard lock(mutex_);
      peers_[s] = peer;
    }
    print(accepted_line(peer));
  } catch (...) {
    // Out of memory: the connection is served without its log line.
  }
}

void ConnectionLog::refused(const std::string& peer, ErrorClass why) noexcept {
  try {
    print(refused_line(peer, why));
  } catch (...) {
  }
}

void ConnectionLog::closed(net::socket_t s, const Connection* conn) noexcept {
  try {
    std::string peer = "unknown";
    {
      std::lock_guard lock(mutex_);
      const auto it = peers_.find(s);
      if (it != peers_.end()) {
        peer = std::move(it->second);
        peers_.erase(it);
      }
    }
    print(closed_line(peer, conn));
  } catch (...) {
  }
}

void ConnectionLog::print(std::string line) noexcept {
  line += '\n';
  // One fwrite per line: the C library locks the stream for the whole call,
  // so lines of different threads (and the live line) do not interleave.
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace wsb::server
