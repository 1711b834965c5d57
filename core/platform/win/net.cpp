// Winsock 2 implementation of platform/net.hpp.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <string>
#include <type_traits>

#include "platform/detail.hpp"
#include "platform/net.hpp"

namespace wsb::net {

static_assert(std::is_same_v<SOCKET, socket_t>, "SOCKET must be UINT_PTR");
static_assert(INVALID_SOCKET == invalid_socket);

Startup::Startup() {
  WSADATA data{};
  const int rc = ::WSAStartup(MAKEWORD(2, 2), &data);
  if (rc != 0) {
    // WSAStartup returns the error; WSAGetLastError() is not usable before it succeeded.
    throw NetError(rc, "WSAStartup(2.2) failed: " + error_text(rc));
  }
  // wVersion is the version the caller may use. A DLL that only offers an
  // older one succeeds anyway, so the check is ours to make.
  if (LOBYTE(data.wVersion) != 2 || HIBYTE(data.wVersion) != 2) {
    const std::string got =
        std::to_string(LOBYTE(data.wVersion)) + "." + std::to_string(HIBYTE(data.wVersion));
    ::WSACleanup();
    throw NetError(WSAVERNOTSUPPORTED,
                   "Winsock 2.2 is not available (the system offers " + got + ")");
  }
}

Startup::~Startup() {
  ::WSACleanup();
}

int last_error() noexcept {
  return ::WSAGetLastError();
}

std::string error_name(int code) {
  switch (code) {
#define WSB_WSA_NAME(e) \
  case e:               \
    return #e;
    WSB_WSA_NAME(WSAEINTR)
    WSB_WSA_NAME(WSAEBADF)
    WSB_WSA_NAME(WSAEACCES)
    WSB_WSA_NAME(WSAEFAULT)
    WSB_WSA_NAME(WSAEINVAL)
    WSB_WSA_NAME(WSAEMFILE)
    WSB_WSA_NAME(WSAEWOULDBLOCK)
    WSB_WSA_NAME(WSAEINPROGRESS)
    WSB_WSA_NAME(WSAEALREADY)
    WSB_WSA_NAME(WSAENOTSOCK)
    WSB_WSA_NAME(WSAEDESTADDRREQ)
    WSB_WSA_NAME(WSAEMSGSIZE)
    WSB_WSA_NAME(WSAEPROTOTYPE)
    WSB_WSA_NAME(WSAENOPROTOOPT)
    WSB_WSA_NAME(WSAEPROTONOSUPPORT)
    WSB_WSA_NAME(WSAESOCKTNOSUPPORT)
    WSB_WSA_NAME(WSAEOPNOTSUPP)
    WSB_WSA_NAME(WSAEPFNOSUPPORT)
    WSB_WSA_NAME(WSAEAFNOSUPPORT)
    WSB_WSA_NAME(WSAEADDRINUSE)
    WSB_WSA_NAME(WSAEADDRNOTAVAIL)
    WSB_WSA_NAME(WSAENETDOWN)
    WSB_WSA_NAME(WSAENETUNREACH)
    WSB_WSA_NAME(WSAENETRESET)
    WSB_WSA_NAME(WSAECONNABORTED)
    WSB_WSA_NAME(WSAECONNRESET)
    WSB_WSA_NAME(WSAENOBUFS)
    WSB_WSA_NAME(WSAEISCONN)
    WSB_WSA_NAME(WSAENOTCONN)
    WSB_WSA_NAME(WSAESHUTDOWN)
    WSB_WSA_NAME(WSAETIMEDOUT)
    WSB_WSA_NAME(WSAECONNREFUSED)
    WSB_WSA_NAME(WSAEHOSTDOWN)
    WSB_WSA_NAME(WSAEHOSTUNREACH)
    WSB_WSA_NAME(WSAEPROCLIM)
    WSB_WSA_NAME(WSASYSNOTREADY)
    WSB_WSA_NAME(WSAVERNOTSUPPORTED)
    WSB_WSA_NAME(WSANOTINITIALISED)
    WSB_WSA_NAME(WSAEDISCON)
    WSB_WSA_NAME(WSA_INVALID_HANDLE)
    WSB_WSA_NAME(WSA_INVALID_PARAMETER)
    WSB_WSA_NAME(WSA_IO_INCOMPLETE)
    WSB_WSA_NAME(WSA_IO_PENDING)
    WSB_WSA_NAME(WSA_NOT_ENOUGH_MEMORY)
    WSB_WSA_NAME(WSA_OPERATION_ABORTED)
    // Win32 codes that GetQueuedCompletionStatus and GetOverlappedResult
    // report for socket operations (WSAGetOverlappedResult maps most of them
    // to WSA codes, the generic functions do not).
    WSB_WSA_NAME(ERROR_NETNAME_DELETED)
    WSB_WSA_NAME(ERROR_CONNECTION_ABORTED)
    WSB_WSA_NAME(ERROR_CONNECTION_REFUSED)
    WSB_WSA_NAME(ERROR_SEM_TIMEOUT)
    WSB_WSA_NAME(ERROR_NO_SYSTEM_RESOURCES)
    WSB_WSA_NAME(ERROR_ABANDONED_WAIT_0)
#undef WSB_WSA_NAME
    default:
      return {};
  }
}

namespace {

// The system's own description of a Win32/Winsock code, in UTF-8, without the
// trailing period and line break FormatMessage adds.
std::string system_message(int code) {
  wchar_t* buffer = nullptr;
  const DWORD length = ::FormatMessageW(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, static_cast<DWORD>(code), 0, reinterpret_cast<wchar_t*>(&buffer), 0, nullptr);
  std::string text;
  if (length != 0 && buffer != nullptr) {
    const int bytes = ::WideCharToMultiByte(CP_UTF8, 0, buffer, static_cast<int>(length), nullptr,
                                            0, nullptr, nullptr);
    if (bytes > 0) {
      text.resize(static_cast<std::size_t>(bytes));
      ::WideCharToMultiByte(CP_UTF8, 0, buffer, static_cast<int>(length), text.data(), bytes,
                            nullptr, nullptr);
    }
  }
  if (buffer != nullptr) ::LocalFree(buffer);
  while (!text.empty() &&
         (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '.')) {
    text.pop_back();
  }
  if (text.empty()) text = "unknown error";
  return text;
}

}  // namespace

std::string error_text(int code) {
  const std::string name = error_name(code);
  return (name.empty() ? std::string("error") : name) + " (" + std::to_string(code) +
         "): " + system_message(code);
}

bool would_block(int code) noexcept {
  return code == WSAEWOULDBLOCK;
}
bool in_progress(int code) noexcept {
  return code == WSAEWOULDBLOCK || code == WSAEINPROGRESS;
}
bool is_interrupted(int code) noexcept {
  return code == WSAEINTR;
}

bool is_reset(int code) noexcept {
  switch (code) {
    case WSAECONNRESET:
    case WSAECONNABORTED:
    case WSAENETRESET:
    case WSAEDISCON:
    case ERROR_NETNAME_DELETED:     // a reset, as GetQueuedCompletionStatus reports it
    case ERROR_CONNECTION_ABORTED:  // an abort, likewise
      return true;
    default:
      return false;
  }
}

bool is_out_of_descriptors(int code) noexcept {
  return code == WSAEMFILE || code == WSAENOBUFS || code == ERROR_NO_SYSTEM_RESOURCES ||
         code == WSA_NOT_ENOUGH_MEMORY;
}

bool is_listener_failure(int code) noexcept {
  return !is_reset(code) && !is_out_of_descriptors(code);
}

namespace detail {

BindFailure classify_bind_failure(int code) noexcept {
  switch (code) {
    case WSAEADDRINUSE:
      return BindFailure::in_use;
    // Binding a port that another socket holds with SO_EXCLUSIVEADDRUSE, or
    // one inside a range the system excludes (Hyper-V, WinNAT; see
    // "netsh interface ipv4 show excludedportrange protocol=tcp"), fails with
    // WSAEACCES rather than WSAEADDRINUSE.
    case WSAEACCES:
      return BindFailure::access_denied;
    case WSAEADDRNOTAVAIL:
      return BindFailure::not_local;
    default:
      return BindFailure::other;
  }
}

std::string resolver_error_text(int code) {
  // Winsock's getaddrinfo returns Winsock error codes (WSAHOST_NOT_FOUND...).
  return error_text(code);
}

}  // namespace detail

using detail::set_int_option;

bool set_nonblocking(socket_t s, bool on) noexcept {
  u_long mode = on ? 1 : 0;
  return ::ioctlsocket(s, FIONBIO, &mode) == 0;
}

bool set_exclusive_address(socket_t s) noexcept {
  // SO_REUSEADDR on Windows lets another socket bind to a port that is in use
  // and take over its traffic (port stealing). SO_EXCLUSIVEADDRUSE is the
  // opposite: no other socket may bind the address while this one holds it.
  // Its price, in Microsoft's "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE":
  // such a socket "cannot necessarily be reused immediately after socket
  // closure"; if a listener with the option accepted a connection and was
  // then closed, another socket with the option cannot bind the same port
  // "until the original connection becomes inactive". A server restarted at
  // once on its port, as the matrix does, can meet exactly that while the
  // previous run's connections finish closing; open_listener() therefore
  // retries such a bind for a while (bind_retry_for) before it gives up.
  return set_int_option(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1);
}

bool reuse_port_supported() noexcept {
  return false;
}

bool set_reuse_port(socket_t) noexcept {
  // Windows has no SO_REUSEPORT; several threads share one listener instead
  // (AcceptEx on an IOCP spreads the accepts).
  ::WSASetLastError(WSAEOPNOTSUPP);
  return false;
}

bool shutdown_send(socket_t s) noexcept {
  return ::shutdown(s, SD_SEND) == 0;
}

bool close_socket(socket_t s) noexcept {
  return ::closesocket(s) == 0;
}

bool reset_and_close(socket_t s) noexcept {
  linger abort{};
  abort.l_onoff = 1;
  abort.l_linger = 0;
  const bool set = ::setsockopt(s, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&abort),
                                sizeof abort) == 0;
  const bool closed = ::closesocket(s) == 0;
  return set && closed;
}

int default_backlog() noexcept {
  // SOMAXCONN on Windows is 0x7fffffff, a marker that asks the provider for
  // "a reasonable maximum" (about 200 on client editions), not a count.
  return SOMAXCONN;
}

namespace {

// How long a bind that finds its port taken is retried: the connections of a
// server that has just exited keep an exclusively bound port until they are
// inactive (set_exclusive_address()), which takes the peers' closing
// handshakes, not TIME_WAIT's minutes. A port that another live program
// holds is reported this much later.
constexpr auto bind_retry_for = std::chrono::seconds(3);
constexpr DWORD bind_retry_every_ms = 50;

// bind(), retried while it fails because the address is in use (or, the way
// an exclusive binding refuses, access denied). 0 or the last error.
int bind_listener(SOCKET s, const Endpoint& endpoint) noexcept {
  const auto give_up = std::chrono::steady_clock::now() + bind_retry_for;
  for (;;) {
    if (::bind(s, endpoint.address(), endpoint.length) == 0) return 0;
    const int code = ::WSAGetLastError();
    const detail::BindFailure why = detail::classify_bind_failure(code);
    const bool busy =
        why == detail::BindFailure::in_use || why == detail::BindFailure::access_denied;
    // Port 0 never meets a busy port; the system picks a free one.
    if (!busy || endpoint.port() == 0 || std::chrono::steady_clock::now() >= give_up) return code;
    ::Sleep(bind_retry_every_ms);
  }
}

// What listen() is given for a --backlog of `requested`. A plain count is
// capped by the provider (about 200 on client editions, whatever is asked);
// SOMAXCONN_HINT(N), i.e. -N, asks for N itself, which Windows clamps to
// 200..65535 (Microsoft's listen() documentation, Windows 8 and later).
// SOMAXCONN keeps its own meaning. mingw-w64's headers lack the macro; its
// definition is the Windows SDK's (winsock2.h). Wine passes the negative
// value to Linux's listen(), which reads it as "the system maximum".
int listen_backlog(int requested) noexcept {
  if (requested == SOMAXCONN || requested <= 0) return SOMAXCONN;
  return -requested;  // SOMAXCONN_HINT(requested)
}

}  // namespace

socket_t open_listener(const Endpoint& endpoint, int backlog, ListenerFlags flags) {
  using detail::ListenerStep;
  const auto fail = [&](ListenerStep step, int code, std::string_view what, SOCKET s) {
    if (s != INVALID_SOCKET) ::closesocket(s);
    throw NetError(code, detail::describe_listener_failure(step, endpoint, code, what));
  };
  if (!endpoint.is_v4() && !endpoint.is_v6()) {
    throw NetError(WSAEAFNOSUPPORT, "cannot listen: the address is neither IPv4 nor IPv6");
  }
  if (flags.reuse_port) {
    throw NetError(WSAEOPNOTSUPP,
                   "cannot listen on " + to_string(endpoint) +
                       ": Windows has no SO_REUSEPORT; share one listener between threads");
  }
  const int family = endpoint.is_v6() ? AF_INET6 : AF_INET;
  // WSA_FLAG_NO_HANDLE_INHERIT keeps the listener out of child processes
  // (socket() would make an inheritable handle).
  DWORD socket_flags = WSA_FLAG_NO_HANDLE_INHERIT;
  if (flags.overlapped) socket_flags |= WSA_FLAG_OVERLAPPED;
  const SOCKET s = ::WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, socket_flags);
  if (s == INVALID_SOCKET) fail(ListenerStep::socket, ::WSAGetLastError(), "WSASocketW()", s);
  if (!set_exclusive_address(s)) {
    fail(ListenerStep::option, ::WSAGetLastError(), "setsockopt(SO_EXCLUSIVEADDRUSE)", s);
  }
  // Windows already defaults IPv6 sockets to IPv6-only; setting it keeps both
  // platforms identical whatever the defaults.
  if (family == AF_INET6 && !set_int_option(s, IPPROTO_IPV6, IPV6_V6ONLY, 1)) {
    fail(ListenerStep::option, ::WSAGetLastError(), "setsockopt(IPV6_V6ONLY)", s);
  }
  if (const int code = bind_listener(s, endpoint); code != 0) {
    fail(ListenerStep::bind, code, "bind()", s);
  }
  if (::listen(s, listen_backlog(backlog)) != 0) {
    fail(ListenerStep::listen, ::WSAGetLastError(), "listen()", s);
  }
  if (flags.nonblocking && !set_nonblocking(s, true)) {
    fail(ListenerStep::option, ::WSAGetLastError(), "ioctlsocket(FIONBIO)", s);
  }
  return s;
}

void refuse_busy_port(const Endpoint&) {
  // Nothing to check: open_listener() refuses SO_REUSEPORT here, and with
  // SO_EXCLUSIVEADDRUSE every bind over a busy port fails by itself.
}

socket_t accept_connection(socket_t listener, Endpoint* peer) noexcept {
  sockaddr_storage address{};
  int length = sizeof address;
  // Sockets made by accept() are not inheritable when the listener is not.
  const SOCKET s = ::accept(listener, reinterpret_cast<sockaddr*>(&address), &length);
  if (s != INVALID_SOCKET && peer != nullptr) {
    *peer =
        Endpoint::from(reinterpret_cast<const sockaddr*>(&address), length).value_or(Endpoint{});
  }
  return s;
}

socket_t connect_to(const Endpoint& endpoint) {
  const int family = endpoint.is_v6() ? AF_INET6 : AF_INET;
  const SOCKET s = ::WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                                WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) {
    const int code = ::WSAGetLastError();
    throw NetError(code, "cannot create a socket: " + error_text(code));
  }
  if (::connect(s, endpoint.address(), endpoint.length) != 0) {
    const int code = ::WSAGetLastError();
    ::closesocket(s);
    throw NetError(code, "cannot connect to " + to_string(endpoint) + ": " + error_text(code));
  }
  return s;
}

std::ptrdiff_t send_some(socket_t s, std::span<const char> bytes) noexcept {
  const int length = static_cast<int>(std::min<std::size_t>(bytes.size(), INT_MAX));
  const int n = ::send(s, bytes.data(), length, 0);
  return n == SOCKET_ERROR ? -1 : n;
}

std::ptrdiff_t recv_some(socket_t s, std::span<char> bytes) noexcept {
  const int length = static_cast<int>(std::min<std::size_t>(bytes.size(), INT_MAX));
  const int n = ::recv(s, bytes.data(), length, 0);
  return n == SOCKET_ERROR ? -1 : n;
}

}  // namespace wsb::net
