// The client driver of the echo protocol: requests drawn from the payload
// pool, the echoed stream checked byte for byte against them.
#include <memory>

#include "proto/detail/pooled_driver.hpp"
#include "proto/detail/sessions.hpp"

namespace wsb::proto::detail {
namespace {

class EchoDriver final : public PooledDriver {
 public:
  using PooledDriver::PooledDriver;

  std::size_t write_request(ByteBuffer& out) override {
    const Slice s = draw();
    out.append(request(s));
    push(s);
    return s.size;
  }

  // The echoed stream has no framing: the bytes of the front request are
  // expected until all of them came back, then those of the next one.
  std::size_t feed(std::span<const char> in) override {
    return feed_replies(in, [this](const char*& p, std::size_t& n) {
      if (!verify_body(pool_->lower, p, n)) return Reply::failed;
      return received_ == pending_.front().size ? Reply::complete : Reply::incomplete;
    });
  }
};

}  // namespace

std::unique_ptr<ClientDriver> make_echo_driver(const ClientConfig& cfg, std::uint64_t stream,
                                               std::shared_ptr<const PayloadPool> pool) {
  return std::make_unique<EchoDriver>(cfg, stream, std::move(pool));
}

}  // namespace wsb::proto::detail
