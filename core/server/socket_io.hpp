// The two socket calls a readiness model makes for a Connection, shared by
// the models that make them alike (servers/posix: epoll, poll, select, and
// nonblocking, which makes them without asking for readiness first).
// Portable: they go through net::recv_some / net::send_some, so the error
// codes are the platform's and are classified by server/options.hpp. The
// model still decides when to call them; these only move the bytes.
#pragma once

#include <span>

#include "platform/net.hpp"
#include "server/connection.hpp"

namespace wsb::server {

// One receive of up to buffer.size() bytes from a non-blocking socket, handed
// to the Connection at once: data to on_received(), the end of the stream to
// on_peer_closed(), a failure to on_error() (classified). Returns false when
// the socket had nothing to give (would block), true otherwise.
bool receive_once(net::socket_t s, std::span<char> buffer, Connection& conn) noexcept;

// Sends what the Connection has pending until nothing is left, the socket
// buffer is full, or the send fails (on_error(), after which nothing is
// pending). Returns false when the socket buffer is full with bytes still
// pending: wait for writability.
bool send_pending(net::socket_t s, Connection& conn) noexcept;

}  // namespace wsb::server
