// The echo protocol, server side: the byte stream comes back unchanged. It has
// no framing, so a "request" is whatever one recv() returned.
#include "proto/detail/sessions.hpp"

namespace wsb::proto::detail {
namespace {

class EchoSession final : public ServerSession {
 public:
  void feed(std::span<const char> in, ByteBuffer& out) override {
    if (closing_ || in.empty()) return;
    out.append(in);
    ++requests_;
  }

  // Nothing is ever held back, so a close is always clean.
  void on_peer_closed() override { closing_ = true; }

  std::size_t buffered() const noexcept override { return 0; }
};

}  // namespace

std::unique_ptr<ServerSession> make_echo_session() {
  return std::make_unique<EchoSession>();
}

}  // namespace wsb::proto::detail
