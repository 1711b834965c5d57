// Winsock mechanics shared by the Windows server models (platform/win/winsock.hpp).
#include "kit/winsock.hpp"

#include <algorithm>
#include <string>

#include "server/connection.hpp"
#include "server/options.hpp"

namespace wsb::kit {

std::string failure(const char* call) {
  const int code = ::WSAGetLastError();
  return std::string(call) + " failed: " + net::error_text(code);
}

DWORD milliseconds_until(Clock::time_point deadline, Clock::time_point now) noexcept {
  if (deadline <= now) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<DWORD>(std::min<long long>(ms, INFINITE - 1));
}

Event::Event() : handle_(::WSACreateEvent()) {
  if (handle_ == WSA_INVALID_EVENT) {
    throw net::NetError(::WSAGetLastError(), failure("WSACreateEvent()"));
  }
}

Event::~Event() {
  ::WSACloseEvent(handle_);
}

int error_after_end_of_stream(SOCKET s) noexcept {
  if (::send(s, "", 0, 0) != SOCKET_ERROR) return 0;
  const int code = ::WSAGetLastError();
  return code == WSAEWOULDBLOCK ? 0 : code;
}

bool send_until_would_block(SOCKET s, server::Connection& conn) noexcept {
  while (conn.want_write()) {
    const std::ptrdiff_t n = net::send_some(s, conn.pending());
    if (n < 0) {
      const int code = ::WSAGetLastError();
      if (code == WSAEWOULDBLOCK) return true;
      conn.on_error(server::classify_io_error(code));
      return false;
    }
    conn.on_sent(static_cast<std::size_t>(n));
  }
  return false;
}

bool set_io_timeouts(SOCKET s, std::chrono::nanoseconds timeout) noexcept {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
  const DWORD value = static_cast<DWORD>(std::clamp<decltype(ms)>(ms, 1, 0x7FFFFFFF));
  const char* raw = reinterpret_cast<const char*>(&value);
  return ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, raw, sizeof value) == 0 &&
         ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, raw, sizeof value) == 0;
}

void close_gracefully(SOCKET s, bool peer_closed, std::span<char> buffer,
                      std::chrono::nanoseconds drain_timeout) noexcept {
  if (!net::shutdown_send(s) || peer_closed) return;
  if (!set_io_timeouts(s, drain_timeout)) return;
  const Clock::time_point deadline = Clock::now() + drain_timeout;
  while (Clock::now() < deadline) {
    if (net::recv_some(s, buffer) <= 0) break;  // FIN, error or timeout
  }
}

void throw_extension_failure(const char* name, int code) {
  throw net::NetError(code, std::string("WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER, ") + name +
                                ") failed: " + net::error_text(code));
}

AcceptExFunctions AcceptExFunctions::load(SOCKET listener) {
  AcceptExFunctions f;
  f.accept_ex = load_extension<LPFN_ACCEPTEX>(listener, WSAID_ACCEPTEX, "AcceptEx");
  f.get_addresses = load_extension<LPFN_GETACCEPTEXSOCKADDRS>(listener, WSAID_GETACCEPTEXSOCKADDRS,
                                                              "GetAcceptExSockaddrs");
  return f;
}

SOCKET open_accept_socket(int family, DWORD extra_flags) noexcept {
  return ::WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT | extra_flags);
}

int start_accept(const AcceptExFunctions& functions, SOCKET listener, SOCKET accepted,
                 AcceptAddresses& addresses, OVERLAPPED* overlapped) noexcept {
  DWORD received = 0;
  if (functions.accept_ex(listener, accepted, addresses.bytes, 0, accept_address_slot,
                          accept_address_slot, &received, overlapped)) {
    return 0;
  }
  const int code = ::WSAGetLastError();
  return code == ERROR_IO_PENDING ? 0 : code;
}

int update_accept_context(SOCKET accepted, SOCKET listener) noexcept {
  if (::setsockopt(accepted, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                   reinterpret_cast<const char*>(&listener), sizeof listener) == SOCKET_ERROR) {
    return ::WSAGetLastError();
  }
  return 0;
}

net::Endpoint accepted_peer(const AcceptExFunctions& functions,
                            AcceptAddresses& addresses) noexcept {
  sockaddr* local = nullptr;
  sockaddr* remote = nullptr;
  int local_length = 0;
  int remote_length = 0;
  functions.get_addresses(addresses.bytes, 0, accept_address_slot, accept_address_slot, &local,
                          &local_length, &remote, &remote_length);
  return net::Endpoint::from(remote, remote_length).value_or(net::Endpoint{});
}

}  // namespace wsb::kit
