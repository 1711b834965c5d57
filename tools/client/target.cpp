// --target resolution (see target.hpp): literals read directly, names
// through net::resolve().
#include "target.hpp"

#include <charconv>
#include <stdexcept>

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
    try {
      target.endpoints = net::resolve(std::string(host), port);
    } catch (const net::NetError& e) {
      throw std::invalid_argument(e.what());  // a --target that names nothing is a usage error
    }
  }
  return target;
}

}  // namespace wsb::client
