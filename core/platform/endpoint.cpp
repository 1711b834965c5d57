// Portable parts of the socket shim: text forms of endpoints and the messages
// of listener failures. The platform files supply the numeric conversions.
#include <charconv>
#include <string>
#include <utility>

#include "platform/detail.hpp"
#include "platform/net.hpp"

namespace wsb::net {

NetError::NetError(int code, std::string message)
    : std::system_error(code, std::system_category(), message), message_(std::move(message)) {}

const char* NetError::what() const noexcept {
  return message_.c_str();
}

std::optional<Endpoint> parse_endpoint(std::string_view host, std::uint16_t port) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    // Brackets only make sense around an IPv6 literal.
    if (host.find(':') == std::string_view::npos) return std::nullopt;
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty()) return std::nullopt;
  return detail::numeric_endpoint(host, port);
}

std::optional<Endpoint> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(0, close + 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    // An IPv6 literal without brackets is ambiguous ("::1:80"), so refuse it.
    if (host.find(':') != std::string_view::npos) return std::nullopt;
    port_text = text.substr(colon + 1);
  }
  if (port_text.empty() || port_text.size() > 5) return std::nullopt;
  unsigned port = 0;
  const auto* end = port_text.data() + port_text.size();
  const auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
  if (ec != std::errc{} || ptr != end || port > 65535) return std::nullopt;
  return parse_endpoint(host, static_cast<std::uint16_t>(port));
}

std::string host_to_string(const Endpoint& endpoint) {
  return detail::numeric_host(endpoint);
}

std::string to_string(const Endpoint& endpoint) {
  std::string host = detail::numeric_host(endpoint);
  std::string text = endpoint.is_v6() ? "[" + host + "]" : std::move(host);
  text += ':';
  text += std::to_string(endpoint.port());
  return text;
}

namespace detail {

std::string describe_listener_failure(ListenerStep step, const Endpoint& endpoint, int code,
                                      std::string_view what) {
  const std::string host = numeric_host(endpoint);
  const std::string port = std::to_string(endpoint.port());
  const std::string name = error_name(code);
  const std::string tag = " (" + (name.empty() ? std::to_string(code) : name) + ")";
  if (step == ListenerStep::bind) {
    switch (classify_bind_failure(code)) {
      case BindFailure::in_use:
        return "port " + port + " on " + host + " is in use" + tag +
               ": choose another with --port (or --port 0 to let the system pick one)";
      case BindFailure::access_denied:
        return "port " + port + " on " + host + " may not be used" + tag +
               ": another program holds it exclusively, it lies in a range the system "
               "reserves, or it is below 1024 and needs privileges; choose another with --port";
      case BindFailure::not_local:
        return "address " + host + " does not belong to this machine" + tag +
               ": choose another with --bind (e.g. 127.0.0.1 or ::1)";
      case BindFailure::other:
        break;
    }
  }
  return "cannot listen on " + to_string(endpoint) + ": " + std::string(what) +
         " failed: " + error_text(code);
}

}  // namespace detail
}  // namespace wsb::net
