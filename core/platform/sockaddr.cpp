// The portable half of net::Endpoint, the numeric address helpers of
// platform/detail.hpp and the socket name and option calls: the same code for
// BSD sockets and Winsock, which only differ in the headers that declare
// sockaddr_in, htons, inet_pton and TCP_NODELAY. Those come from
// native_sockets.hpp in the platform folder CMake compiles (posix/ or win/),
// which is on this target's private include path.
#include <cstring>
#include <string>

#include "native_sockets.hpp"
#include "platform/detail.hpp"
#include "platform/net.hpp"

namespace wsb::net {

static_assert(sizeof(sockaddr_storage) <= sizeof(Endpoint{}.storage));
static_assert(alignof(sockaddr_storage) <= alignof(Endpoint));

sockaddr* Endpoint::address() noexcept {
  return reinterpret_cast<sockaddr*>(storage);
}
const sockaddr* Endpoint::address() const noexcept {
  return reinterpret_cast<const sockaddr*>(storage);
}
bool Endpoint::is_v4() const noexcept {
  return length > 0 && address()->sa_family == AF_INET;
}
bool Endpoint::is_v6() const noexcept {
  return length > 0 && address()->sa_family == AF_INET6;
}

std::uint16_t Endpoint::port() const noexcept {
  if (is_v4()) return ntohs(reinterpret_cast<const sockaddr_in*>(storage)->sin_port);
  if (is_v6()) return ntohs(reinterpret_cast<const sockaddr_in6*>(storage)->sin6_port);
  return 0;
}

void Endpoint::set_port(std::uint16_t port) noexcept {
  if (is_v4()) reinterpret_cast<sockaddr_in*>(storage)->sin_port = htons(port);
  if (is_v6()) reinterpret_cast<sockaddr_in6*>(storage)->sin6_port = htons(port);
}

std::optional<Endpoint> Endpoint::from(const sockaddr* address, int length) noexcept {
  if (address == nullptr || length <= 0 ||
      static_cast<std::size_t>(length) > sizeof(Endpoint{}.storage)) {
    return std::nullopt;
  }
  Endpoint e;
  std::memcpy(e.storage, address, static_cast<std::size_t>(length));
  e.length = length;
  if (e.is_v4() && length >= static_cast<int>(sizeof(sockaddr_in))) return e;
  if (e.is_v6() && length >= static_cast<int>(sizeof(sockaddr_in6))) return e;
  return std::nullopt;
}

namespace {

// getsockname() or getpeername(). A template, because the two declarations
// differ: Winsock's take a SOCKET and an int* and are __stdcall on 32-bit
// Windows; the BSD ones take an int and a socklen_t* (ws2tcpip.h declares
// socklen_t as int, so the one spelling of the length fits both).
template <class Query>
std::optional<Endpoint> query_name(socket_t s, Query query) noexcept {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (query(s, reinterpret_cast<sockaddr*>(&address), &length) != 0) return std::nullopt;
  return Endpoint::from(reinterpret_cast<const sockaddr*>(&address), static_cast<int>(length));
}

}  // namespace

std::optional<Endpoint> local_endpoint(socket_t s) noexcept {
  return query_name(s, ::getsockname);
}
std::optional<Endpoint> peer_endpoint(socket_t s) noexcept {
  return query_name(s, ::getpeername);
}

bool set_nodelay(socket_t s, bool on) noexcept {
  return detail::set_int_option(s, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

namespace detail {

bool set_int_option(socket_t s, int level, int name, int value) noexcept {
  // Winsock takes the value as const char*, POSIX as const void*, which a
  // const char* converts to.
  return ::setsockopt(s, level, name, reinterpret_cast<const char*>(&value), sizeof value) == 0;
}

std::optional<Endpoint> numeric_endpoint(std::string_view literal, std::uint16_t port) {
  const std::string text(literal);  // inet_pton needs a terminated string
  Endpoint e;
  auto* v4 = reinterpret_cast<sockaddr_in*>(e.storage);
  if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    e.length = sizeof(sockaddr_in);
    return e;
  }
  e = Endpoint{};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(e.storage);
  if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    e.length = sizeof(sockaddr_in6);
    return e;
  }
  return std::nullopt;
}

std::string numeric_host(const Endpoint& endpoint) {
  char text[INET6_ADDRSTRLEN] = {};
  const void* address = nullptr;
  int family = 0;
  if (endpoint.is_v4()) {
    family = AF_INET;
    address = &reinterpret_cast<const sockaddr_in*>(endpoint.storage)->sin_addr;
  } else if (endpoint.is_v6()) {
    family = AF_INET6;
    address = &reinterpret_cast<const sockaddr_in6*>(endpoint.storage)->sin6_addr;
  } else {
    return "(none)";
  }
  if (::inet_ntop(family, address, text, sizeof text) == nullptr) return "(invalid)";
  return text;
}

}  // namespace detail

std::vector<Endpoint> resolve(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    throw NetError(rc, "cannot resolve host '" + host + "': " + detail::resolver_error_text(rc));
  }
  std::vector<Endpoint> endpoints;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    auto endpoint = Endpoint::from(a->ai_addr, static_cast<int>(a->ai_addrlen));
    if (!endpoint) continue;  // neither IPv4 nor IPv6
    endpoint->set_port(port);
    endpoints.push_back(*endpoint);
  }
  ::freeaddrinfo(found);
  if (endpoints.empty()) {
    throw NetError(0, "cannot resolve host '" + host + "': it has no IPv4 or IPv6 address");
  }
  return endpoints;
}

}  // namespace wsb::net
