#include "proto/session.hpp"

#include "proto/detail/sessions.hpp"

namespace wsb::proto {

std::string_view name(SessionError e) noexcept {
  switch (e) {
    case SessionError::none:
      return "none";
    case SessionError::malformed:
      return "malformed";
    case SessionError::oversized:
      return "oversized";
    case SessionError::truncated:
      return "truncated";
    case SessionError::unsupported:
      return "unsupported";
  }
  return "unknown";
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
