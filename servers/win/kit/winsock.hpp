// Winsock mechanics that several Windows server models share (namespace
// wsb::kit): event objects, wait timeouts, the reset probe that Wine
// needs, socket timeouts of blocking sockets, and the AcceptEx extension.
//
// Unlike the portable headers in core/platform/, this one is for Windows code
// only. It includes <winsock2.h>, <mswsock.h> and <windows.h>, so only files
// that call the native API themselves (the servers/win/ models) include it;
// it is compiled into wsb_platform on Windows alone.
//
// Each function here is one small piece of mechanics with its reason written
// next to it, so that a model file can call it by name and stay a lesson in
// its own model.
#pragma once

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <mswsock.h>

#include <chrono>
#include <span>
#include <string>
#include <utility>

#include "platform/net.hpp"

namespace wsb::server {
class Connection;
}  // namespace wsb::server

namespace wsb::kit {

using Clock = std::chrono::steady_clock;

// "<call> failed: <error_text(WSAGetLastError())>", for frame.fail() and
// exception messages, e.g. "WSAWaitForMultipleEvents() failed: WSA_INVALID_HANDLE (6): ...".
std::string failure(const char* call);

// A wait's timeout in milliseconds until `deadline`: rounded up (a wait never
// returns before the deadline), 0 when it has passed, and at most
// INFINITE - 1, so that a far deadline never turns into INFINITE.
DWORD milliseconds_until(Clock::time_point deadline, Clock::time_point now) noexcept;

// A WSAEVENT that is closed with its owner. WSACreateEvent makes a
// manual-reset event: it stays signalled until WSAEnumNetworkEvents or
// WSAResetEvent resets it, so waiting on it again never loses a notification.
// Throws NetError when the system has no event object left.
class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  WSAEVENT get() const noexcept { return handle_; }

 private:
  WSAEVENT handle_;
};

// WSAWaitForMultipleEvents reports only the LOWEST signalled index. A thread
// that served just that one and waited again would starve the events at high
// indexes whenever a low one is busy. This serves `first` (what the wait
// returned, minus WSA_WAIT_EVENT_0) and then polls the rest of the array with
// a zero timeout, which again yields the lowest signalled index above the last
// one served, until none is left: one pass serves every signalled event in
// index order, at the cost of one extra wait per signalled event (not one per
// event). Events that serve() appends at `count` or beyond wait for the
// next pass.
// Returns false, with WSAGetLastError() set, when a poll failed.
template <class Serve>
bool serve_signalled(const WSAEVENT* events, DWORD count, DWORD first, Serve&& serve) {
  DWORD index = first;
  for (;;) {
    serve(index);
    const DWORD next = index + 1;
    if (next >= count) return true;
    const DWORD rc = ::WSAWaitForMultipleEvents(count - next, events + next, FALSE, 0, FALSE);
    if (rc == WSA_WAIT_TIMEOUT) return true;
    if (rc == WSA_WAIT_FAILED) return false;
    index = next + (rc - WSA_WAIT_EVENT_0);
  }
}

// One wait of a thread that serves a group of events: WSAWaitForMultipleEvents
// on the first `count` of `events` until one is signalled or `deadline`
// passes, then every signalled one in index order (serve_signalled()).
// Returns false, with WSAGetLastError() set, when a wait failed.
template <class Serve>
bool wait_and_serve(const WSAEVENT* events, DWORD count, Clock::time_point deadline,
                    Serve&& serve) {
  const DWORD rc = ::WSAWaitForMultipleEvents(count, events, FALSE,
                                              milliseconds_until(deadline, Clock::now()), FALSE);
  if (rc == WSA_WAIT_FAILED) return false;
  if (rc == WSA_WAIT_TIMEOUT) return true;
  return serve_signalled(events, count, rc - WSA_WAIT_EVENT_0, std::forward<Serve>(serve));
}

// recv() returned 0: the peer closed its side, or, under Wine 8, reset the
// connection. Wine's server consumes an RST that arrives while no receive is
// pending, and recv() then returns 0 (and FD_CLOSE carries no error) where
// Windows fails with WSAECONNRESET. A zero-byte send() tells the two apart on
// both: it succeeds on a connection the peer only half-closed and fails with
// WSAECONNRESET after a reset. On Windows, where the reset is reported
// anyway, it costs one call per connection.
// Returns the send's error, or 0 for a graceful close (also when the send
// would block, which no reset makes it do).
int error_after_end_of_stream(SOCKET s) noexcept;

// Sends conn's pending output on the non-blocking socket `s` until it is gone
// or send() says WSAEWOULDBLOCK. Returns true in the second case: the output
// left waits for the notification of room. For the models that hear of room
// in the send buffer only after a send() would block (FD_WRITE,
// AFD_POLL_SEND): stopping at a partial send() would wait for a notification
// that never comes. Any other error goes to conn.on_error() (and returns
// false).
bool send_until_would_block(SOCKET s, server::Connection& conn) noexcept;

// Sets SO_RCVTIMEO and SO_SNDTIMEO, for blocking sockets: a recv() or send()
// that makes no progress for that long fails with WSAETIMEDOUT. Windows takes
// a DWORD of milliseconds (POSIX a struct timeval), where 0 means "wait
// forever", so the value is rounded up to at least 1 ms. They only take
// effect on sockets created with WSA_FLAG_OVERLAPPED (ListenerFlags).
// False with WSAGetLastError() set on failure.
bool set_io_timeouts(SOCKET s, std::chrono::nanoseconds timeout) noexcept;

// The clean close of a blocking socket: FIN first (shutdown SD_SEND), then
// reads into `buffer`, dropping what arrives, until the peer's FIN, an error
// or `drain_timeout`, and only then may the caller closesocket(). Closing a
// socket with unread input makes Windows send RST, which can destroy the last
// reply before the peer has read it. When the peer closed first
// (`peer_closed`) there is nothing left to wait for, and only the FIN is
// sent. Changes the socket's timeouts to `drain_timeout`.
void close_gracefully(SOCKET s, bool peer_closed, std::span<char> buffer,
                      std::chrono::nanoseconds drain_timeout) noexcept;

// A Microsoft extension function (AcceptEx, GetAcceptExSockaddrs,
// DisconnectEx, ...). Linking them from mswsock.dll works only for the
// Microsoft provider and costs a lookup per call, so they are asked for from
// the provider behind the socket with SIO_GET_EXTENSION_FUNCTION_POINTER.
// Throws NetError naming the function.
[[noreturn]] void throw_extension_failure(const char* name, int code);
template <class Function>
Function load_extension(SOCKET s, GUID id, const char* name) {
  Function function = nullptr;
  DWORD bytes = 0;
  if (::WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &function, sizeof function,
                 &bytes, nullptr, nullptr) == SOCKET_ERROR) {
    throw_extension_failure(name, ::WSAGetLastError());
  }
  return function;
}

// AcceptEx wants room for each address plus 16 bytes (its documentation);
// SOCKADDR_STORAGE covers IPv4 and IPv6.
inline constexpr DWORD accept_address_slot = sizeof(SOCKADDR_STORAGE) + 16;

// Where AcceptEx writes the local and the remote address. Its layout is
// private to the provider; only accepted_peer() takes it apart.
struct AcceptAddresses {
  char bytes[2 * accept_address_slot]{};
};

// AcceptEx and GetAcceptExSockaddrs, loaded from the listener's provider.
struct AcceptExFunctions {
  LPFN_ACCEPTEX accept_ex = nullptr;
  LPFN_GETACCEPTEXSOCKADDRS get_addresses = nullptr;

  // Throws NetError.
  static AcceptExFunctions load(SOCKET listener);
};

// The socket an AcceptEx accepts into: of the listener's family, overlapped
// like every socket a completion model does I/O on, not inherited by child
// processes, plus `extra_flags` (WSA_FLAG_REGISTERED_IO for RIO).
// INVALID_SOCKET with WSAGetLastError() set on failure.
SOCKET open_accept_socket(int family, DWORD extra_flags = 0) noexcept;

// Posts AcceptEx(listener, accepted) with dwReceiveDataLength 0: it completes
// as soon as a connection is accepted, rather than when its first data
// arrives, so a client that connects and says nothing cannot hold the accept
// (and its socket) forever. Returns 0 when a completion will follow (the call
// is pending, or it succeeded at once, which completes the OVERLAPPED all the
// same), otherwise the error; then nothing is posted.
int start_accept(const AcceptExFunctions& functions, SOCKET listener, SOCKET accepted,
                 AcceptAddresses& addresses, OVERLAPPED* overlapped) noexcept;

// SO_UPDATE_ACCEPT_CONTEXT after a successful AcceptEx. Until then the socket
// does not know its listener: getpeername(), shutdown() and the inherited
// options fail or are missing. (Wine treats the option as a no-op, so
// forgetting it passes there and breaks on Windows.) Returns 0 or the error.
int update_accept_context(SOCKET accepted, SOCKET listener) noexcept;

// The peer's address from an AcceptEx's address buffer (GetAcceptExSockaddrs);
// an empty Endpoint if the provider wrote something unexpected.
net::Endpoint accepted_peer(const AcceptExFunctions& functions,
                            AcceptAddresses& addresses) noexcept;

}  // namespace wsb::kit
