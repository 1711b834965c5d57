// libFuzzer target: the chat protocol's frames (core/proto/chat_wire.hpp).
//
// Input: byte 0 sets the size of the pieces the rest is fed in (1..256), so
// that every way a stream can be cut reaches the frame reader. Each complete
// body is read as a client message and as a server message; whatever reads
// must write back to exactly the same body (the codec neither loses nor
// invents a field), and the reader never holds more than one frame.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "fuzz_support.hpp"
#include "proto/chat_wire.hpp"

namespace {

using wsb::fuzz::check;
namespace chat = wsb::proto::chat;

bool same_frame(const wsb::ByteBuffer& written, std::span<const char> body) {
  if (written.size() != body.size() + 2) return false;
  return std::equal(body.begin(), body.end(), written.data() + 2);
}

void check_body(std::span<const char> body) {
  const auto client = chat::read_client(body);
  if (const auto* m = std::get_if<chat::ClientMessage>(&client)) {
    wsb::ByteBuffer out;
    std::visit([&](const auto& message) { chat::write(out, message); }, *m);
    check(same_frame(out, body), "a client message does not write back to its body");
  }
  if (const auto server = chat::read_server(body)) {
    wsb::ByteBuffer out;
    std::visit([&](const auto& message) { chat::write(out, message); }, *server);
    check(same_frame(out, body), "a server message does not write back to its body");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = std::size_t{data[0]} + 1;
  const std::span<const char> in(reinterpret_cast<const char*>(data) + 1, size - 1);
  chat::FrameReader reader;
  for (std::size_t at = 0; at < in.size(); at += piece) {
    reader.feed(in.subspan(at, std::min(piece, in.size() - at)), [](std::span<const char> body) {
      check(body.size() <= chat::max_body, "a body longer than a frame can carry");
      check_body(body);
      return true;
    });
    check(reader.buffered() <= 2 + chat::max_body, "the reader holds more than one frame");
  }
  return 0;
}
