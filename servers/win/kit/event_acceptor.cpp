// AcceptEx with event notification (kit/event_acceptor.hpp).
#include "kit/event_acceptor.hpp"

namespace wsb::kit {

// One posted AcceptEx: its event and OVERLAPPED, the socket it accepts into,
// and the buffer that receives the local and remote address. It must stay
// where it is from the AcceptEx call until its completion is harvested: the
// kernel writes into it.
struct EventAcceptor::Pending {
  Pending() { overlapped.hEvent = event.get(); }
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;

  Event event;
  WSAOVERLAPPED overlapped{};
  SOCKET socket = INVALID_SOCKET;
  bool in_flight = false;
  AcceptAddresses addresses;
};

EventAcceptor::EventAcceptor(SOCKET listener, int family, Handler& handler)
    : listener_(listener),
      family_(family),
      handler_(handler),
      functions_(AcceptExFunctions::load(listener)),
      accepts_(std::make_unique<Pending[]>(posted_accepts)) {}

EventAcceptor::~EventAcceptor() = default;

std::string EventAcceptor::run(WSAEVENT stop_event) {
  constexpr DWORD count = 1 + posted_accepts;
  WSAEVENT events[count];
  events[0] = stop_event;
  for (std::size_t i = 0; i < posted_accepts; ++i)
    events[1 + i] = accepts_[i].event.get();
  std::string failed;
  auto next_tick = Clock::now();
  for (;;) {
    // Post every AcceptEx that is not in flight: after a completion (at
    // once, see repost()), and again each tick after a failure.
    const auto now = Clock::now();
    if (now >= next_tick) {
      for (std::size_t i = 0; i < posted_accepts; ++i) {
        if (!accepts_[i].in_flight) repost(accepts_[i]);
      }
      next_tick = now + tick;
    }
    const DWORD rc =
        ::WSAWaitForMultipleEvents(count, events, FALSE, milliseconds_until(next_tick, now), FALSE);
    if (rc == WSA_WAIT_FAILED) {
      failed = failure("WSAWaitForMultipleEvents()");
      break;
    }
    if (rc == WSA_WAIT_EVENT_0 || handler_.stopping()) break;
    if (rc == WSA_WAIT_TIMEOUT) continue;
    // A handful of accepts: asking each for its result is cheaper than
    // another wait per signalled event, and just as fair.
    for (std::size_t i = 0; i < posted_accepts; ++i) {
      Pending& a = accepts_[i];
      if (a.in_flight && harvest(a)) repost(a);
    }
  }
  cancel_all();
  return failed;
}

// The accept-failure policy's back-off (server/accept_policy.hpp), for an
// AcceptEx that fails as it is posted: when the client it would have taken
// reset while queued, the next one may be fine, so it is posted again at
// once (AcceptAction::retry); any other failure (no socket, no buffers)
// waits for the next tick, which is the policy's pause. The bound keeps a
// storm of resets from holding the thread here.
void EventAcceptor::repost(Pending& a) noexcept {
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int code = post(a);
    if (code == 0 || !net::is_reset(code)) return;
  }
}

int EventAcceptor::post(Pending& a) noexcept {
  a.socket = open_accept_socket(family_);
  if (a.socket == INVALID_SOCKET) {
    const int code = ::WSAGetLastError();
    handler_.accept_failed(code);
    return code;
  }
  a.overlapped = WSAOVERLAPPED{};
  a.overlapped.hEvent = a.event.get();
  if (const int code = start_accept(functions_, listener_, a.socket, a.addresses, &a.overlapped);
      code != 0) {
    ::closesocket(a.socket);
    a.socket = INVALID_SOCKET;
    handler_.accept_failed(code);
    return code;
  }
  // An immediate success signals the event as well; it is harvested like a
  // pending one.
  a.in_flight = true;
  return 0;
}

// True when the AcceptEx completed (successfully or not).
bool EventAcceptor::harvest(Pending& a) noexcept {
  DWORD bytes = 0;
  DWORD flags = 0;
  const BOOL ok = ::WSAGetOverlappedResult(listener_, &a.overlapped, &bytes, FALSE, &flags);
  const int code = ok ? 0 : ::WSAGetLastError();
  if (!ok && code == WSA_IO_INCOMPLETE) return false;
  ::WSAResetEvent(a.event.get());
  a.in_flight = false;
  const SOCKET s = a.socket;
  a.socket = INVALID_SOCKET;
  if (!ok) {
    ::closesocket(s);
    handler_.accept_failed(code);
    return true;
  }
  if (const int error = update_accept_context(s, listener_); error != 0) {
    handler_.accept_failed(error);
    ::closesocket(s);
    return true;
  }
  handler_.accepted(s, accepted_peer(functions_, a.addresses));
  return true;
}

void EventAcceptor::cancel_all() noexcept {
  ::CancelIoEx(reinterpret_cast<HANDLE>(listener_), nullptr);
  // Cancelled AcceptEx calls complete at once in practice, but the stop must
  // stay bounded: Windows ends a console process about 5 s after a close
  // event, and the final statistics are printed after this. An accept still
  // in flight at the deadline owns its OVERLAPPED and address buffer, which
  // the kernel may still write, so instead of freeing them under it the
  // whole block is left allocated (a deliberate leak, once, while the
  // process stops).
  const auto deadline = Clock::now() + cancel_wait;
  bool abandoned = false;
  for (std::size_t i = 0; i < posted_accepts; ++i) {
    Pending& a = accepts_[i];
    if (!a.in_flight) continue;
    const WSAEVENT event = a.event.get();
    const DWORD rc = ::WSAWaitForMultipleEvents(1, &event, TRUE,
                                                milliseconds_until(deadline, Clock::now()), FALSE);
    if (rc != WSA_WAIT_EVENT_0) {
      abandoned = true;
      continue;
    }
    a.in_flight = false;
    ::closesocket(a.socket);
    a.socket = INVALID_SOCKET;
  }
  if (abandoned) static_cast<void>(accepts_.release());
}

}  // namespace wsb::kit
