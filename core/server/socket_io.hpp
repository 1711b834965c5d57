// The socket calls a model makes for a Connection, shared by the models that
// make them alike: receive_once() and send_pending() for readiness models
// (servers/posix: epoll, poll, select, and nonblocking, which makes them
// without asking for readiness first), exchange_blocking() for the blocking
// models of servers/win.
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

// The exchange on a blocking socket, one request after another: before each
// recv() every pending reply byte is sent (a blocking send() can still take
// less than asked, so it loops). Output never piles up, so the connection
// cannot pass --max-pending: a blocking model's backpressure is simply not
// reading meanwhile. Returns once the Connection is finished or wants no more
// input: 0, or, when a send or receive failed, its error code, which is not
// counted yet (the caller decides: a failure during a stop is the stop's
// doing, and a socket timeout may mean an idle client).
//
// When recv() returns 0, end_of_stream_error(s) tells a reset from the peer's
// FIN (Wine reports some resets as a FIN: net::win::error_after_end_of_stream);
// its non-zero code is returned as a failure, while 0 sets `peer_closed` and
// tells the Connection.
using EndOfStreamProbe = int (*)(net::socket_t s) noexcept;
int exchange_blocking(net::socket_t s, Connection& conn, std::span<char> buffer,
                      EndOfStreamProbe end_of_stream_error, bool& peer_closed) noexcept;

}  // namespace wsb::server
