// The upper protocol, server side: u16 little-endian length + body; the reply
// has the same framing with a-z upper-cased.
//
// Because the reply is byte-for-byte the same length as the request and every
// reply byte depends only on the request byte at the same position (length
// bytes are copied, body bytes upper-cased), the session streams: each fed byte
// produces one output byte immediately. It keeps only the frame state (which
// byte of the length it is in, or how much body is left), never request bytes.
#include <algorithm>
#include <cstdint>

#include "proto/detail/ascii.hpp"
#include "proto/detail/sessions.hpp"

namespace wsb::proto::detail {
namespace {

class UpperSession final : public ServerSession {
 public:
  void feed(std::span<const char> in, ByteBuffer& out) override {
    if (closing_ || in.empty()) return;
    const char* src = in.data();
    const std::size_t n = in.size();
    char* dst = out.prepare(n).data();
    std::size_t i = 0;
    while (i < n) {
      switch (phase_) {
        case Phase::length_low:
          if (n - i >= 2) {
            dst[i] = src[i];
            dst[i + 1] = src[i + 1];
            start_body(byte(src[i]) | (byte(src[i + 1]) << 8));
            i += 2;
          } else {
            dst[i] = src[i];
            length_low_ = byte(src[i]);
            phase_ = Phase::length_high;
            ++i;
          }
          break;
        case Phase::length_high:
          dst[i] = src[i];
          start_body(length_low_ | (byte(src[i]) << 8));
          ++i;
          break;
        case Phase::body: {
          const std::size_t take = std::min<std::size_t>(n - i, body_left_);
          upper_copy(dst + i, src + i, take);
          i += take;
          body_left_ -= static_cast<std::uint32_t>(take);
          if (body_left_ == 0) finish_frame();
          break;
        }
      }
    }
    out.commit(n);
  }

  void on_peer_closed() override {
    if (phase_ != Phase::length_low) close_with(SessionError::truncated);
    closing_ = true;
  }

  // The low length byte is state, not buffered input: it was already echoed.
  std::size_t buffered() const noexcept override { return 0; }

 private:
  enum class Phase : std::uint8_t { length_low, length_high, body };

  // The length is assembled from two bytes, least significant first, so the
  // result does not depend on the host's byte order or alignment.
  static std::uint32_t byte(char c) noexcept { return static_cast<unsigned char>(c); }

  void start_body(std::uint32_t length) noexcept {
    body_left_ = length;
    if (length == 0) {
      finish_frame();
    } else {
      phase_ = Phase::body;
    }
  }

  void finish_frame() noexcept {
    ++requests_;
    phase_ = Phase::length_low;
  }

  Phase phase_ = Phase::length_low;
  std::uint32_t length_low_ = 0;
  std::uint32_t body_left_ = 0;
};

}  // namespace

std::unique_ptr<ServerSession> make_upper_session() {
  return std::make_unique<UpperSession>();
}

}  // namespace wsb::proto::detail
