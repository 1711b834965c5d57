// --target resolution (see target.hpp). getaddrinfo is the same call in
// Winsock and POSIX; only the header that declares it differs.
#include "target.hpp"

#include <charconv>
#include <stdexcept>

#if defined(_WIN32)
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <netdb.h>
#include <sys/socket.h>
#endif

namespace wsb::client {
namespace {

// Splits "HOST:PORT" / "[V6]:PORT"; the host keeps its brackets.
void split(std::string_view text, std::string_view& host, std::uint16_t& port) {
  const std::size_t colon = text.rfind(':');
  const std::string_view why = "--target must be HOST:PORT (e.g. 127.0.0.1:21234, [::1]:80)";
  if (colon == std::string_view::npos || colon == 0) throw std::invalid_argument(std::string(why));
  host = text.substr(0, colon);
  const bool bracketed = host.front() == '[' && host.back() == ']' && host.size() > 2;
  if (!bracketed && host.find_first_of("[]:") != std::string_view::npos) {
    throw std::invalid_argument(std::string(why));
  }
  const std::string_view digits = text.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || value == 0 ||
      value > 65535) {
    throw std::invalid_argument("--target: port '" + std::string(digits) +
                                "' is not a number from 1 to 65535");
  }
  port = static_cast<std::uint16_t>(value);
}

std::vector<net::Endpoint> look_up(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
#if defined(_WIN32)
    const std::string reason = net::error_text(rc);  // a Winsock error code
#else
    const std::string reason = ::gai_strerror(rc);
#endif
    throw std::invalid_argument("cannot resolve host '" + host + "': " + reason);
  }
  std::vector<net::Endpoint> endpoints;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    auto endpoint = net::Endpoint::from(a->ai_addr, static_cast<int>(a->ai_addrlen));
    if (!endpoint) continue;  // neither IPv4 nor IPv6
    endpoint->set_port(port);
    endpoints.push_back(*endpoint);
  }
  ::freeaddrinfo(found);
  if (endpoints.empty()) {
    throw std::invalid_argument("cannot resolve host '" + host +
                                "': it has no IPv4 or IPv6 address");
  }
  return endpoints;
}

}  // namespace

Target resolve_target(std::string_view text) {
  std::string_view host;
  std::uint16_t port = 0;
  split(text, host, port);
  Target target;
  target.host = std::string(host);
  if (auto literal = net::parse_host_port(text)) {
    target.endpoints.push_back(*literal);
  } else {
    target.endpoints = look_up(std::string(host), port);
  }
  return target;
}

}  // namespace wsb::client
