// Sockets behind one small portable interface (namespace wsb::net).
//
// This header and its siblings in core/platform/ are the only portable headers
// that know which platform they are built for, and this file holds the only
// conditional: the native socket type. Everything else is declared once here
// and implemented twice, in core/platform/win/ (Winsock 2) and
// core/platform/posix/ (BSD sockets); CMake compiles one of the two folders.
//
// The header deliberately includes no platform header. <winsock2.h> drags
// <windows.h> and its macros into every file that includes it, so sockaddr is
// only forward-declared and Endpoint carries suitably sized, aligned storage.
// Model files that call the native API include the native headers themselves.
//
// Error codes are the platform's own numbers (WSAGetLastError() or errno), so a
// model can compare them with WSAEWOULDBLOCK or EAGAIN directly; the
// predicates below classify them portably.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

// Declared by <winsock2.h> and <sys/socket.h> alike; only pointers are used here.
struct sockaddr;

namespace wsb::net {

#if defined(_WIN32)
// SOCKET is UINT_PTR: 64 bits wide on x64, so it must never be stored in an int
// or a DWORD (the seeds' bug of squeezing pointers into 32 bits).
using socket_t = std::uintptr_t;
inline constexpr socket_t invalid_socket = ~socket_t{0};  // INVALID_SOCKET
#else
using socket_t = int;
inline constexpr socket_t invalid_socket = -1;
#endif

// Initialises the socket library for the lifetime of the object.
//
// Windows: WSAStartup(2.2) and WSACleanup. A DLL that cannot provide exactly
// version 2.2 is rejected with a NetError, as the Winsock documentation asks
// (wVersion is what the caller may use; a lower one means missing functions).
// POSIX: ignores SIGPIPE for the process, because send() on a socket the peer
// has reset raises SIGPIPE, whose default action kills the server; with it
// ignored the call fails with EPIPE and the connection is counted and closed.
// (send_some() also passes MSG_NOSIGNAL where it exists, but models that call
// send()/write()/writev() directly rely on this.)
// Instances may nest (Winsock counts them). Destroy one only after every socket
// it covers is closed: on Windows the last WSACleanup closes (resets) every
// socket still open in the process.
class Startup {
 public:
  Startup();
  ~Startup();
  Startup(const Startup&) = delete;
  Startup& operator=(const Startup&) = delete;
};

// The calling thread's last socket error: WSAGetLastError() or errno.
int last_error() noexcept;

// The symbolic name of a socket error code, e.g. "WSAECONNRESET" or
// "ECONNRESET"; empty when the code is not a known socket/system error name.
std::string error_name(int code);

// A readable description with the symbolic name, e.g.
// "WSAECONNRESET (10054): An existing connection was forcibly closed by the remote host"
// on Windows (text from FormatMessage) or
// "ECONNRESET (104): Connection reset by peer" on POSIX (text from strerror).
std::string error_text(int code);

// The operation would block on a non-blocking socket (WSAEWOULDBLOCK, EAGAIN,
// EWOULDBLOCK). Not an error: wait for readiness and retry.
bool would_block(int code) noexcept;
// A connect() on a non-blocking socket is in progress (WSAEWOULDBLOCK on
// Windows, EINPROGRESS on POSIX).
bool in_progress(int code) noexcept;
// The call was interrupted by a signal (EINTR, WSAEINTR): retry it.
bool is_interrupted(int code) noexcept;
// The peer reset or aborted the connection: WSAECONNRESET, WSAECONNABORTED,
// WSAENETRESET, WSAEDISCON, ERROR_NETNAME_DELETED (64, what IOCP reports for
// a reset), ERROR_CONNECTION_ABORTED; ECONNRESET, ECONNABORTED, EPIPE,
// ENETRESET on POSIX.
bool is_reset(int code) noexcept;
// The process or system ran out of socket descriptors or buffer space:
// WSAEMFILE, WSAENOBUFS; EMFILE, ENFILE, ENOBUFS, ENOMEM on POSIX. An accept
// loop that sees this must back off, or a level-triggered listener spins.
bool is_out_of_descriptors(int code) noexcept;
// accept() failed for a reason that lies with the listener or the socket
// layer, not with the one connection it tried to take, and that is neither a
// reset nor a shortage (above): every later call would fail the same way, so
// the accept loop ends. Windows: every other code, since Winsock's accept()
// reports trouble of the pending connection only as WSAECONNRESET, and its
// other documented failures (WSAEINVAL, WSAENOTSOCK, WSAEOPNOTSUPP,
// WSAENETDOWN, WSAEFAULT, WSANOTINITIALISED) concern the listener or Winsock
// itself. POSIX: none. Linux accept() also passes on network errors of the
// pending connection (accept(2): EPROTO, ENETDOWN, EHOSTUNREACH, EOPNOTSUPP
// and more, to be retried), and they share codes with failures of the
// listener, so no code proves the listener broken.
bool is_listener_failure(int code) noexcept;

// A set-up failure of the socket layer. code() is the platform error number;
// what() is a complete sentence naming the address and, where one exists, the
// remedy, e.g. "port 21234 on 127.0.0.1 is in use (EADDRINUSE): choose another
// with --port".
class NetError : public std::system_error {
 public:
  NetError(int code, std::string message);
  const char* what() const noexcept override;

 private:
  std::string message_;
};

// An IPv4 or IPv6 socket address.
struct Endpoint {
  // Large and aligned enough for sockaddr_storage on every platform (128
  // bytes, 8-byte alignment; the platform files static_assert it).
  alignas(8) std::byte storage[128]{};
  // The used length of storage, as passed to bind/connect (socklen_t on POSIX,
  // int on Windows).
  int length = 0;

  sockaddr* address() noexcept;
  const sockaddr* address() const noexcept;
  bool is_v4() const noexcept;
  bool is_v6() const noexcept;
  // The port in host byte order (0 when the endpoint is empty).
  std::uint16_t port() const noexcept;
  void set_port(std::uint16_t port) noexcept;

  // Copies a native address; nullopt when length is out of range or the
  // family is neither IPv4 nor IPv6.
  static std::optional<Endpoint> from(const sockaddr* address, int length) noexcept;
};

// Parses a numeric IPv4 ("127.0.0.1") or IPv6 ("::1", with or without
// brackets) literal, or "localhost" (always 127.0.0.1: no resolver is
// consulted, so tests and benchmarks never depend on DNS or /etc/hosts).
// Scope ids ("fe80::1%eth0") are not accepted.
std::optional<Endpoint> parse_endpoint(std::string_view host, std::uint16_t port);

// Parses "host:port" with the host as above; IPv6 needs brackets:
// "127.0.0.1:21234", "[::1]:80", "localhost:8080". The port must be 0..65535.
std::optional<Endpoint> parse_host_port(std::string_view text);

// Looks up a host name (getaddrinfo, IPv4 and IPv6) and returns its
// addresses with `port`, in the resolver's order of preference. Throws
// NetError with the resolver's own message when the name does not resolve
// or has no IPv4 or IPv6 address. Needs a Startup on Windows.
std::vector<Endpoint> resolve(const std::string& host, std::uint16_t port);

// "127.0.0.1:21234" or "[::1]:80", which parse_host_port() reads back.
std::string to_string(const Endpoint& endpoint);
// The address alone: "127.0.0.1" or "::1".
std::string host_to_string(const Endpoint& endpoint);

// getsockname() / getpeername(); nullopt on error (see last_error()).
std::optional<Endpoint> local_endpoint(socket_t s) noexcept;
std::optional<Endpoint> peer_endpoint(socket_t s) noexcept;

// Socket options. Each returns false on failure with last_error() set; none throws,
// so they may be used on the accept path.
bool set_nodelay(socket_t s, bool on = true) noexcept;  // TCP_NODELAY
// ioctlsocket(FIONBIO) on Windows, fcntl(O_NONBLOCK) on POSIX. Note that on
// Windows WSAEventSelect/WSAAsyncSelect force the socket non-blocking and it
// cannot be made blocking again while they are active.
bool set_nonblocking(socket_t s, bool on) noexcept;
// Makes a later bind() fail when another socket holds the address.
// Windows: SO_EXCLUSIVEADDRUSE. There SO_REUSEADDR means something else and is
// dangerous: it lets a second socket bind (steal) a port that is in use.
// POSIX: SO_REUSEADDR. There it only lets a listener bind while connections of
// a previous run sit in TIME_WAIT; binding over an active listener still fails,
// which is the exclusive behaviour wanted.
bool set_exclusive_address(socket_t s) noexcept;
// SO_REUSEPORT (Linux >= 3.9): several listeners on one port, the kernel
// spreading connections between them. Windows has no equivalent; there it
// returns false and last_error() is WSAEOPNOTSUPP.
bool set_reuse_port(socket_t s) noexcept;
bool reuse_port_supported() noexcept;
// shutdown(SD_SEND / SHUT_WR): sends FIN after the queued data, the first step
// of a graceful close.
bool shutdown_send(socket_t s) noexcept;
// closesocket() / close(). Returns false (last_error() set) on failure; the
// descriptor is released either way.
bool close_socket(socket_t s) noexcept;
// An abortive close: SO_LINGER {on, 0 s} then close, so the peer gets a RST
// instead of a FIN and its next recv/send fails with a reset. Only for fault
// injection and for killing a stale peer; never for a normal close, which
// would throw away data still queued for sending.
bool reset_and_close(socket_t s) noexcept;

// The platform's "as many as the system allows" listen backlog (SOMAXCONN).
int default_backlog() noexcept;

struct ListenerFlags {
  // Windows: create the socket with WSASocketW(..., WSA_FLAG_OVERLAPPED) so it
  // can be used with overlapped I/O, AcceptEx and IOCP. Without it the
  // listener (and every socket accept() returns from it) is NOT overlapped,
  // unlike one made by socket(), which sets the flag implicitly. That matters
  // beyond overlapped I/O: SO_RCVTIMEO/SO_SNDTIMEO only take effect on
  // overlapped sockets (documented by Microsoft, and so under Wine), so the
  // blocking models ask for it too. Ignored on POSIX.
  bool overlapped = false;
  // Put the listener in non-blocking mode.
  bool nonblocking = false;
  // SO_REUSEPORT (POSIX): allows one listener per thread on the same port.
  // Windows has no such option: open_listener throws NetError.
  bool reuse_port = false;
};

// socket + SO_EXCLUSIVEADDRUSE/SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen.
// The socket is not inherited by child processes (WSA_FLAG_NO_HANDLE_INHERIT,
// SOCK_CLOEXEC). IPv6 listeners are IPv6-only (IPV6_V6ONLY=1) on both
// platforms, whose defaults differ. Throws NetError naming the address and the
// remedy on failure, e.g.
// "port 21234 on 127.0.0.1 is in use (EADDRINUSE): choose another with --port".
socket_t open_listener(const Endpoint& endpoint, int backlog, ListenerFlags flags = {});

// Throws the NetError of a busy port (as open_listener() would) when any
// socket is bound to the endpoint's address and port; does nothing for port 0
// or when the check cannot be made (open_listener() then reports the cause).
// Call it before the first of several SO_REUSEPORT listeners: that option lets
// every socket of the same user that also sets it bind the port, so a second
// server started on a busy port would silently share it instead of failing.
// POSIX binds a plain socket (SO_REUSEADDR, no SO_REUSEPORT) once and closes
// it. Two servers starting in the same instant can still both pass. Windows
// has no SO_REUSEPORT (open_listener() refuses it) and every bind there is
// exclusive (SO_EXCLUSIVEADDRUSE), so it does nothing.
void refuse_busy_port(const Endpoint& endpoint);

// accept() returning a socket that is not inherited by child processes
// (accept4 SOCK_CLOEXEC on Linux). invalid_socket on failure, with
// last_error() set; *peer receives the peer address when not null. Whether the
// new socket inherits the listener's non-blocking mode differs (Windows: yes,
// Linux: no), so a model sets the mode it needs explicitly.
socket_t accept_connection(socket_t listener, Endpoint* peer = nullptr) noexcept;

// A blocking TCP connect (for tests and simple tools). Throws NetError.
socket_t connect_to(const Endpoint& endpoint);

// One send()/recv() call (retried after EINTR on POSIX). Returns the byte
// count (recv: 0 means the peer closed), or -1 with last_error() set. Lengths
// above INT_MAX are clamped (Winsock takes int), so a caller loops on partial
// transfers anyway. send_some never raises SIGPIPE (MSG_NOSIGNAL on Linux).
std::ptrdiff_t send_some(socket_t s, std::span<const char> bytes) noexcept;
std::ptrdiff_t recv_some(socket_t s, std::span<char> bytes) noexcept;

}  // namespace wsb::net
