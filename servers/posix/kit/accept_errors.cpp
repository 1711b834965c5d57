// The accept failure handling of the POSIX models: kit/accept_errors.hpp.
#include "kit/accept_errors.hpp"

#include <string>

#include "platform/net.hpp"

namespace wsb::kit {

AcceptErrors::AcceptErrors(const server::Frame& frame, std::string_view call)
    : policy_(frame, call) {}

AcceptAction AcceptErrors::handle(int code, int listener, server::StatsShard& shard) noexcept {
  if (net::is_out_of_descriptors(code)) {
    switch (spare_.shed(listener)) {
      case net::SpareDescriptor::Outcome::shed:
        shard.error(server::classify_accept_error(code));  // one client turned away
        policy_.log()(policy_.frame(),
                      std::string(policy_.call()) + ": " + net::error_text(code) +
                          ": connection closed at once (raise the limit with ulimit -n)");
        return AcceptAction::retry;  // more may be waiting
      case net::SpareDescriptor::Outcome::none_waiting:
        // Nothing was lost: the next client makes the listener ready again.
        return AcceptAction::wait;
      case net::SpareDescriptor::Outcome::no_spare:
        break;  // the policy's pause
    }
  }
  switch (policy_.decide(code, shard)) {
    case server::AcceptFailure::retry:
      return AcceptAction::retry;
    case server::AcceptFailure::pause:
      return AcceptAction::pause;
    case server::AcceptFailure::fatal:
      // No errno is fatal on POSIX (net::is_listener_failure says why).
      // Should one become so, this loop has no way to end the server (the
      // frame is const here), so it says so and pauses.
      policy_.log()(policy_.frame(), policy_.fatal_message(code));
      break;
  }
  return AcceptAction::pause;
}

}  // namespace wsb::kit
