// The EventAcceptor::Handler of a model whose accepting thread hands each
// connection to another thread (namespace wsb::kit): server-overlapped-event
// and server-overlapped-routine. What both do alike is here; what an
// accepted socket becomes (accepted()) stays the model's.
#pragma once

#include "kit/event_acceptor.hpp"
#include "server/frame.hpp"
#include "server/options.hpp"
#include "server/stats.hpp"

namespace wsb::kit {

class FrameAcceptorHandler : public EventAcceptor::Handler {
 protected:
  // The accepting thread's shard is taken here, on the thread that
  // constructs the handler and later runs the EventAcceptor.
  explicit FrameAcceptorHandler(server::Frame& frame) : frame_(frame), shard_(frame.shard()) {}
  ~FrameAcceptorHandler() = default;

  // A failed AcceptEx is counted by its class; the acceptor posts again.
  void accept_failed(int code) noexcept override {
    shard_.error(server::classify_accept_error(code));
  }
  // The acceptor stops with the frame.
  bool stopping() const noexcept override { return frame_.stopping(); }

  server::Frame& frame_;
  server::StatsShard& shard_;
};

}  // namespace wsb::kit
