// The wire protocols every server speaks and the load generator drives.
// docs/protocol.md describes them on the wire.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace wsb::proto {

enum class Protocol : std::uint8_t {
  upper,  // u16 little-endian length + body; the reply upper-cases a-z (the seeds' protocol)
  echo,   // the raw byte stream echoed back unchanged
  http,   // HTTP/1.1 keep-alive, every request answered with "Hello, World!"
  chat,   // seed 002's chat: login by id, private and group messages relayed (core/chat)
};

// "upper", "echo", "http" or "chat".
std::string_view name(Protocol p) noexcept;

// The inverse of name(); exact, lower-case match. nullopt for anything else.
std::optional<Protocol> parse_protocol(std::string_view s) noexcept;

// The port servers listen on and the load generator connects to by default.
inline constexpr std::uint16_t default_port = 21234;

}  // namespace wsb::proto
