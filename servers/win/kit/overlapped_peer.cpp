// One connection of the overlapped models without a completion port
// (kit/overlapped_peer.hpp).
#include "kit/overlapped_peer.hpp"

#include <algorithm>

#include "server/options.hpp"

namespace wsb::kit {

WSABUF send_buffer(std::span<const char> block) noexcept {
  return WSABUF{static_cast<ULONG>(std::min(block.size(), max_send_block)),
                const_cast<char*>(block.data())};
}

void OverlappedPeer::received(int error, DWORD bytes) noexcept {
  if (error != 0) {
    connection.on_error(server::classify_io_error(error));
  } else if (bytes == 0) {
    eof = true;
    connection.on_peer_closed();
  } else {
    connection.on_received({buffer.get(), bytes});
  }
}

void OverlappedPeer::sent(int error, DWORD bytes) noexcept {
  if (error != 0) {
    connection.on_error(server::classify_io_error(error));
  } else {
    connection.on_sent(bytes);
  }
}

bool OverlappedPeer::finish() noexcept {
  if (connection.failed() || eof) {
    // A failed connection is closed at once (cancelling what is in flight).
    // After the peer's FIN there is nothing left to read, so a graceful close
    // needs no lingering either.
    if (!connection.failed()) ::shutdown(socket, SD_SEND);
    return true;
  }
  // We end the connection (HTTP "Connection: close", a protocol error): send
  // our FIN behind the replies, then read and drop input until the peer's
  // FIN, so that unread data does not turn closesocket() into a reset.
  ::shutdown(socket, SD_SEND);
  state = State::lingering;
  linger_deadline = Clock::now() + overlapped_linger_limit;
  return false;
}

bool OverlappedPeer::due_to_close(Clock::time_point now) noexcept {
  if (state == State::lingering) return now >= linger_deadline;
  return state == State::open && connection.expire_if_idle(now);
}

}  // namespace wsb::kit
