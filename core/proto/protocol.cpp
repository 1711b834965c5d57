#include "proto/protocol.hpp"

#include "util/enum_names.hpp"

namespace wsb::proto {
namespace {

constexpr auto kProtocolNames = enum_names<Protocol>({
    {Protocol::upper, "upper"},
    {Protocol::echo, "echo"},
    {Protocol::http, "http"},
    {Protocol::chat, "chat"},
});
static_assert(kProtocolNames.names_each_of(Protocol::upper, Protocol::chat));

}  // namespace

std::string_view name(Protocol p) noexcept {
  return kProtocolNames.name(p, "unknown");
}

std::optional<Protocol> parse_protocol(std::string_view s) noexcept {
  return kProtocolNames.parse(s);
}

}  // namespace wsb::proto
