// --when-full queue for the accepting threads (kit/room.hpp).
#include "kit/room.hpp"

#include <utility>

namespace wsb::kit {

bool client_waiting(SOCKET listener) noexcept {
  fd_set readable;
  readable.fd_count = 1;
  readable.fd_array[0] = listener;
  timeval zero{};
  return ::select(0, &readable, nullptr, nullptr, &zero) == 1;
}

RoomWait::RoomWait(server::Frame& frame, std::function<void()> wake) : frame_(frame) {
  if (!wake) {
    const WSAEVENT room = room_.get();
    wake = [room] { ::WSASetEvent(room); };
  }
  frame_.set_room_hook(std::move(wake));
}

void RoomWait::look(SOCKET listener) noexcept {
  if (waiting_since_) return;
  if (listener == INVALID_SOCKET || client_waiting(listener)) waiting_since_ = Clock::now();
}

bool RoomWait::full(SOCKET listener) noexcept {
  if (frame_.has_room()) return false;
  look(listener);
  return true;
}

bool RoomWait::wait(WSAEVENT stop_event, SOCKET listener) noexcept {
  const WSAEVENT events[2] = {stop_event, room_.get()};
  for (;;) {
    // Reset before looking: a release after this point sets it again.
    ::WSAResetEvent(room_.get());
    if (frame_.stopping()) return false;
    if (frame_.has_room()) return true;
    look(listener);
    // The tick only bounds the cost of a lost hook call and lets a client
    // that arrived meanwhile be seen.
    const DWORD rc = ::WSAWaitForMultipleEvents(2, events, FALSE, 100, FALSE);
    if (rc == WSA_WAIT_EVENT_0) return false;
    if (rc == WSA_WAIT_FAILED) ::Sleep(100);  // not expected; the tick's pace
  }
}

void RoomWait::accepted() noexcept {
  if (!waiting_since_) return;
  frame_.note_waited(Clock::now() - *waiting_since_);
  waiting_since_.reset();
}

}  // namespace wsb::kit
