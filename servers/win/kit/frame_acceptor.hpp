// The accepting thread of a model whose accepting thread hands each
// connection to another thread and accepts with AcceptEx and events
// (namespace wsb::kit): server-overlapped-event and
// server-overlapped-routine. It owns the EventAcceptor and is its Handler.
// What both do alike is here; which thread serves an accepted socket
// (hand_over()) stays the model's.
#pragma once

#include <string>

#include "kit/event_acceptor.hpp"
#include "kit/hand_over.hpp"
#include "kit/room.hpp"
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
    stop_event_ = stop_event;
    if (const std::string failed = accept_.run(stop_event); !failed.empty()) frame_.fail(failed);
  }

  // --when-full queue, the first act of accepted(): while --max-connections
  // are online a completed AcceptEx is held (and, this thread being blocked,
  // no AcceptEx is posted again): its client waits, connected but unserved,
  // and the clients behind it wait in the backlog, until a release makes
  // room. False at a stop: the caller closes the socket. The wait reported
  // is the held client's (kit/room.hpp).
  bool hold_until_room() noexcept {
    const bool room = room_.wait(stop_event_, INVALID_SOCKET);
    if (room) room_.accepted();
    return room;
  }

  // A failed AcceptEx is counted by its class; the acceptor posts again.
  void accept_failed(int code) noexcept override {
    shard_.error(server::classify_accept_error(code));
  }
  // The acceptor stops with the frame.
  bool stopping() const noexcept override { return frame_.stopping(); }

  // An accepted socket: held while the server is full in queue mode, then
  // admitted and handed to the thread that serves it (admit_and_hand_over).
  void accepted(SOCKET s, const net::Endpoint& peer) noexcept final {
    if (!hold_until_room()) {
      ::closesocket(s);  // a stop: never admitted
      return;
    }
    admit_and_hand_over(frame_, shard_, s,
                        [this, &peer](SOCKET admitted) { return hand_over(admitted, peer); });
  }
  // The model's part: passes an admitted socket to its serving thread. False
  // (or a throw) when it cannot; the connection is then counted, released
  // and closed.
  virtual bool hand_over(SOCKET s, const net::Endpoint& peer) = 0;

  server::Frame& frame_;
  server::StatsShard& shard_;

 private:
  EventAcceptor accept_;
  RoomWait room_{frame_};
  WSAEVENT stop_event_ = nullptr;
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
