// The accepting thread of a model whose accepting thread hands each
// connection to another thread and accepts with AcceptEx and events
// (namespace wsb::kit): server-overlapped-event and
// server-overlapped-routine. It owns the EventAcceptor and is its Handler.
// What both do alike is here; what an accepted socket becomes (accepted())
// stays the model's.
#pragma once

#include <string>

#include "kit/event_acceptor.hpp"
#include "server/frame.hpp"
#include "server/options.hpp"
#include "server/stats.hpp"

namespace wsb::kit {

class FrameAcceptorHandler : public EventAcceptor::Handler {
 protected:
  // The accepting thread's shard is taken here, on the thread that
  // constructs the handler and later runs the EventAcceptor.
  // `listener`: the frame's overlapped listener.
  FrameAcceptorHandler(server::Frame& frame, SOCKET listener)
      : frame_(frame),
        shard_(frame.shard()),
        accept_(listener, frame.listen_endpoint().is_v6() ? AF_INET6 : AF_INET, *this) {}
  ~FrameAcceptorHandler() = default;

  // Accepts until `stop_event` is set (by the frame's wake callback; it
  // belongs to main() so that it outlives every call of that callback); a
  // failure that ends it early fails the frame.
  void accept_until(WSAEVENT stop_event) {
    if (const std::string failed = accept_.run(stop_event); !failed.empty()) frame_.fail(failed);
  }

  // A failed AcceptEx is counted by its class; the acceptor posts again.
  void accept_failed(int code) noexcept override {
    shard_.error(server::classify_accept_error(code));
  }
  // The acceptor stops with the frame.
  bool stopping() const noexcept override { return frame_.stopping(); }

  server::Frame& frame_;
  server::StatsShard& shard_;

 private:
  EventAcceptor accept_;
};

// The body of main() of such a model, after the frame parsed its command
// line: an overlapped listener (AcceptEx needs one), the stop event the
// frame's wake callback sets, and Acceptor(frame, listener, --threads)
// running on this thread until the stop. Returns the frame's exit code.
template <class Acceptor>
int accept_until_stopped(server::Frame& frame) {
  const SOCKET listener = frame.open_listener({.overlapped = true});
  // Declared before the acceptor and the frame's start: it must outlive every
  // call of the wake callback.
  const Event stop_event;
  {
    Acceptor acceptor(frame, listener, frame.options().threads);
    frame.start([&stop_event] { ::WSASetEvent(stop_event.get()); });
    acceptor.run(stop_event.get());
  }
  ::closesocket(listener);
  return frame.finish();
}

}  // namespace wsb::kit
