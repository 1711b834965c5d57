#include "proto/session.hpp"

#include "proto/detail/sessions.hpp"
#include "util/enum_names.hpp"

namespace wsb::proto {
namespace {

constexpr auto kSessionErrorNames = enum_names<SessionError>({
    {SessionError::none, "none"},
    {SessionError::malformed, "malformed"},
    {SessionError::oversized, "oversized"},
    {SessionError::truncated, "truncated"},
    {SessionError::unsupported, "unsupported"},
});
static_assert(kSessionErrorNames.names_each_of(SessionError::none, SessionError::unsupported));

}  // namespace

std::string_view name(SessionError e) noexcept {
  return kSessionErrorNames.name(e, "unknown");
}

std::unique_ptr<ServerSession> make_server_session(Protocol p, const SessionLimits& limits) {
  switch (p) {
    case Protocol::upper:
      return detail::make_upper_session();
    case Protocol::echo:
      return detail::make_echo_session();
    case Protocol::http:
      return detail::make_http_session(limits);
    case Protocol::chat:
      // A chat session relays through a registry of users shared by every
      // connection (chat::Hub), which this factory does not have:
      // server::Connection creates chat::Session itself.
      break;
  }
  return nullptr;
}

}  // namespace wsb::proto
