// An accept loop's handling of a failed accept(): kit/accept.hpp.
#include "kit/accept.hpp"

namespace wsb::kit {

server::AcceptFailure AcceptFailures::handle(int code, server::StatsShard& shard) noexcept {
  const server::AcceptFailure next = policy_.decide(code, shard);
  if (next == server::AcceptFailure::fatal) frame_.fail(policy_.fatal_message(code));
  return next;
}

}  // namespace wsb::kit
