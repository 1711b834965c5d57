// The frame's policy for a failed accept() (server/model.hpp).
#include "server/model.hpp"

#include "platform/net.hpp"

namespace wsb::server::model {

AcceptFailure on_accept_failure(Frame& frame, StatsShard& shard, int code) noexcept {
  const ErrorClass c = classify_accept_error(code);
  shard.error(c);
  if (c == ErrorClass::reset) return AcceptFailure::retry;
  if (c == ErrorClass::out_of_descriptors) return AcceptFailure::pause;
  frame.fail("accept() failed: " + net::error_text(code));
  return AcceptFailure::fatal;
}

}  // namespace wsb::server::model
