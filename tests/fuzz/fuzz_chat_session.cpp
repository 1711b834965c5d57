// libFuzzer target: the chat server's session and registry together
// (core/chat/session.hpp, core/chat/hub.hpp), three connections at once.
//
// Input: byte 0 seeds how the rest is cut into chunks (fuzz_support.hpp);
// chunk i goes to connection i % 3, so logins, relays between the three,
// logouts and malformed frames interleave in every order. Invariants: each
// connection's output is whole server frames that read back, nothing follows
// an ERROR, a mailbox receives only whole FROM_PRIVATE / FROM_GROUP frames,
// an ACK never counts more recipients than the other two connections, a
// session holds at most one incomplete frame, and the registry's online
// count is the number of logged-in sessions (zero once all have left).
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <variant>

#include "chat/hub.hpp"
#include "chat/session.hpp"
#include "fuzz_support.hpp"
#include "proto/chat_wire.hpp"

namespace {

using wsb::fuzz::check;
namespace chat = wsb::proto::chat;

// Keeps what other users post, to be checked frame by frame.
class CollectingMailbox final : public wsb::chat::Mailbox {
 public:
  bool post(std::span<const char> frame) noexcept override {
    frames.append(frame);
    return true;
  }
  wsb::ByteBuffer frames;
};

// Calls on_message for each whole frame of `bytes`; every frame must read as
// a server message and nothing may be left incomplete.
template <class OnMessage>
void read_server_frames(const wsb::ByteBuffer& bytes, OnMessage&& on_message) {
  chat::FrameReader reader;
  reader.feed(bytes.readable(), [&](std::span<const char> body) {
    const auto m = chat::read_server(body);
    check(m.has_value(), "the server wrote a frame that does not read back");
    on_message(*m);
    return true;
  });
  check(reader.buffered() == 0, "the server wrote an incomplete frame");
}

void check_output(const wsb::ByteBuffer& out) {
  bool after_error = false;
  read_server_frames(out, [&](const chat::ServerMessage& m) {
    check(!after_error, "a frame follows an ERROR");
    if (std::holds_alternative<chat::Error>(m)) after_error = true;
    if (const auto* ack = std::get_if<chat::Ack>(&m)) {
      check(ack->recipients <= 2, "an ACK counts more recipients than there are others");
    }
  });
}

void check_mailbox(const CollectingMailbox& box) {
  read_server_frames(box.frames, [](const chat::ServerMessage& m) {
    check(
        std::holds_alternative<chat::FromPrivate>(m) || std::holds_alternative<chat::FromGroup>(m),
        "a mailbox received something other than a relayed message");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::span<const char> in(reinterpret_cast<const char*>(data) + 1, size - 1);
  wsb::chat::Hub hub;
  std::array<CollectingMailbox, 3> boxes;
  std::array<std::unique_ptr<wsb::chat::Session>, 3> sessions;
  std::array<wsb::ByteBuffer, 3> outputs;
  for (std::size_t i = 0; i < 3; ++i)
    sessions[i] = std::make_unique<wsb::chat::Session>(hub, boxes[i]);
  std::size_t next = 0;
  wsb::fuzz::feed_in_chunks(in, data[0], [&](std::span<const char> chunk) {
    const std::size_t i = next++ % 3;
    sessions[i]->feed(chunk, outputs[i]);
    check(sessions[i]->buffered() <= 2 + chat::max_body, "a session holds more than one frame");
    std::uint64_t logged_in = 0;
    for (const auto& s : sessions)
      logged_in += s->logged_in() ? 1 : 0;
    check(hub.counts().online == logged_in, "the registry's online count is not the sessions'");
  });
  for (std::size_t i = 0; i < 3; ++i) {
    check_output(outputs[i]);
    check_mailbox(boxes[i]);
    sessions[i]->on_peer_closed();
    check(!sessions[i]->logged_in(), "a closed session is still logged in");
  }
  check(hub.counts().online == 0, "users are online after every connection closed");
  return 0;
}
