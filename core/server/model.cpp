// An accept loop's handling of a failed accept(): server/model.hpp.
#include "server/model.hpp"

namespace wsb::server::model {

AcceptFailure AcceptFailures::handle(int code, StatsShard& shard) noexcept {
  const AcceptFailure next = policy_.decide(code, shard);
  if (next == AcceptFailure::fatal) frame_.fail(policy_.fatal_message(code));
  return next;
}

}  // namespace wsb::server::model
