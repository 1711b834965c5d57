// The client driver of the upper protocol: requests drawn from the payload
// pool, replies checked byte for byte against the pool's upper-case copy.
#include <memory>

#include "proto/detail/pooled_driver.hpp"
#include "proto/detail/sessions.hpp"

namespace wsb::proto::detail {
namespace {

class UpperDriver final : public PooledDriver {
 public:
  using PooledDriver::PooledDriver;

  std::size_t write_request(ByteBuffer& out) override {
    const Slice s = draw();
    append_upper_frame(request(s), out);
    push(s);
    return 2 + std::size_t{s.size};
  }

  std::size_t feed(std::span<const char> in) override {
    return feed_replies(in, [this](const char*& p, std::size_t& n) {
      const Slice& s = pending_.front();
      if (length_bytes_ < 2) {
        // The length is checked byte by byte, least significant first, so a
        // split anywhere in it needs no reassembly.
        const auto expected =
            static_cast<unsigned char>(length_bytes_ == 0 ? s.size & 0xFF : s.size >> 8);
        if (static_cast<unsigned char>(*p) != expected) {
          fail(ClientError::mismatch);
          return Reply::failed;
        }
        ++p;
        --n;
        if (++length_bytes_ < 2 || s.size > 0) return Reply::incomplete;
      } else {
        if (!verify_body(pool_->upper, p, n)) return Reply::failed;
        if (received_ < s.size) return Reply::incomplete;
      }
      length_bytes_ = 0;
      return Reply::complete;
    });
  }

  void reset() noexcept override {
    PooledDriver::reset();
    length_bytes_ = 0;
  }

 private:
  int length_bytes_ = 0;  // bytes of the front reply's length field verified so far
};

}  // namespace

std::unique_ptr<ClientDriver> make_upper_driver(const ClientConfig& cfg, std::uint64_t stream,
                                                std::shared_ptr<const PayloadPool> pool) {
  return std::make_unique<UpperDriver>(cfg, stream, std::move(pool));
}

}  // namespace wsb::proto::detail
