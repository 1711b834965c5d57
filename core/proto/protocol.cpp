#include "proto/protocol.hpp"

namespace wsb::proto {

std::string_view name(Protocol p) noexcept {
  switch (p) {
    case Protocol::upper:
      return "upper";
    case Protocol::echo:
      return "echo";
    case Protocol::http:
      return "http";
    case Protocol::chat:
      return "chat";
  }
  return "unknown";
}

std::optional<Protocol> parse_protocol(std::string_view s) noexcept {
  for (Protocol p : {Protocol::upper, Protocol::echo, Protocol::http, Protocol::chat}) {
    if (s == name(p)) return p;
  }
  return std::nullopt;
}

}  // namespace wsb::proto
