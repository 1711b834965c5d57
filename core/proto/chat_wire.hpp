// The chat protocol on the wire (seed 002's chat server), sans I/O: how its
// frames are cut out of a byte stream, what each message holds, and how each
// is written. docs/protocol.md describes it with a worked example.
//
// A frame is a u16 little-endian body length N (0..65535), then N bytes, as
// in `upper`. The body's first byte is an opcode; integers are u32
// little-endian; a payload is the rest of the body. A body too short for its
// opcode's fixed fields is malformed, and so is an empty body, and so
// are bytes after the fields of a message that carries no payload.
//
// This file knows nothing of users, groups or connections: the server's
// registry decides what a message means, and each I/O model only moves the
// bytes these functions read and write.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "proto/buffer.hpp"

namespace wsb::proto::chat {

// The largest body a frame can carry (the u16 length).
inline constexpr std::size_t max_body = 65535;

enum class Op : std::uint8_t {
  // client to server
  login = 0x01,
  private_message = 0x02,
  group_message = 0x03,
  // server to client
  welcome = 0x81,
  from_private = 0x82,
  from_group = 0x83,
  ack = 0x85,
  error = 0xEE,
};

// The code of an ERROR frame; the server closes the connection after it.
enum class ErrorCode : std::uint8_t {
  malformed = 1,          // a body too short for its opcode, or an empty body
  not_logged_in = 2,      // PRIVATE or GROUP before LOGIN
  user_in_use = 3,        // LOGIN with an id another connection holds
  unknown_opcode = 4,     // an opcode a client may not send
  already_logged_in = 5,  // a second LOGIN on one connection
};

// "malformed", "not logged in", ... (the reason text of an ERROR frame).
std::string_view describe(ErrorCode code) noexcept;

// Client to server. Payload spans point into the frame they were read from.
struct Login {
  std::uint32_t user = 0;
  std::uint32_t group = 0;
};
struct PrivateMessage {
  std::uint32_t to = 0;
  std::uint32_t seq = 0;
  std::span<const char> payload;
};
struct GroupMessage {
  std::uint32_t seq = 0;
  std::span<const char> payload;
};
using ClientMessage = std::variant<Login, PrivateMessage, GroupMessage>;

// Server to client.
struct Welcome {
  std::uint32_t user = 0;
  std::uint32_t group = 0;
  std::uint32_t members_online = 0;  // the new member included
};
struct FromPrivate {
  std::uint32_t from = 0;
  std::uint32_t seq = 0;
  std::span<const char> payload;
};
struct FromGroup {
  std::uint32_t from = 0;
  std::uint32_t group = 0;
  std::uint32_t seq = 0;
  std::span<const char> payload;
};
struct Ack {
  std::uint32_t seq = 0;
  std::uint32_t recipients = 0;  // 0 when a private recipient is offline
};
struct Error {
  ErrorCode code = ErrorCode::malformed;
  std::string_view reason;
};
using ServerMessage = std::variant<Welcome, FromPrivate, FromGroup, Ack, Error>;

// Reads a client's frame body: the message, or the error code the server
// answers it with.
std::variant<ClientMessage, ErrorCode> read_client(std::span<const char> body) noexcept;

// Reads a server's frame body; nullopt when it is not a well-formed server
// message (a client counts that as a protocol error).
std::optional<ServerMessage> read_server(std::span<const char> body) noexcept;

// Each appends one whole frame (length and body) to `out`. A payload or
// reason longer than the frame can carry is a broken invariant of the caller
// and throws std::length_error before anything is appended.
void write(ByteBuffer& out, const Login& m);
void write(ByteBuffer& out, const PrivateMessage& m);
void write(ByteBuffer& out, const GroupMessage& m);
void write(ByteBuffer& out, const Welcome& m);
void write(ByteBuffer& out, const FromPrivate& m);
void write(ByteBuffer& out, const FromGroup& m);
void write(ByteBuffer& out, const Ack& m);
void write(ByteBuffer& out, const Error& m);

// The largest payload a message of `op` can carry in one frame (the frame's
// 65,535 bytes less the opcode and the fixed fields).
std::size_t max_payload(Op op) noexcept;

// Cuts frames out of a byte stream that arrives in pieces of any size. It
// holds at most one incomplete frame, so its memory is bounded by
// 2 + max_body bytes per connection.
class FrameReader {
 public:
  // Consumes every byte of `in` and calls on_body(std::span<const char>) for
  // each complete frame's body, in order. The span is valid only during the
  // call. If on_body returns false, reading stops: the rest of `in` is
  // dropped and every later feed() is ignored (the connection is closing).
  template <class OnBody>
  void feed(std::span<const char> in, OnBody&& on_body);

  // Bytes of an incomplete frame held (length bytes included).
  std::size_t buffered() const noexcept { return partial_.size(); }
  bool stopped() const noexcept { return stopped_; }

 private:
  // The body length of the frame at the front of `bytes`, or nullopt when
  // fewer than two bytes are there.
  static std::optional<std::size_t> body_length(std::span<const char> bytes) noexcept;

  std::vector<char> partial_;
  bool stopped_ = false;
};

template <class OnBody>
void FrameReader::feed(std::span<const char> in, OnBody&& on_body) {
  while (!stopped_ && !in.empty()) {
    if (!partial_.empty() || in.size() < 2) {
      // Complete the held frame first, taking no more than it still needs,
      // so that the frames after it are read in place without a copy.
      const std::size_t have = partial_.size();
      std::size_t need = 2;
      if (const auto n = body_length(partial_)) need = 2 + *n;
      const std::size_t take = need > have ? std::min(need - have, in.size()) : 0;
      partial_.insert(partial_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
      in = in.subspan(take);
      const auto n = body_length(partial_);
      if (!n || partial_.size() < 2 + *n) continue;  // the length became known: go on
      std::vector<char> frame;
      frame.swap(partial_);
      if (!on_body(std::span<const char>(frame).subspan(2))) stopped_ = true;
      continue;
    }
    const std::size_t n = *body_length(in);
    if (in.size() < 2 + n) {
      partial_.assign(in.begin(), in.end());
      return;
    }
    if (!on_body(in.subspan(2, n))) stopped_ = true;
    in = in.subspan(2 + n);
  }
}

}  // namespace wsb::proto::chat
