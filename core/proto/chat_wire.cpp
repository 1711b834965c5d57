// The chat protocol's frames: proto/chat_wire.hpp.
#include "proto/chat_wire.hpp"

#include <initializer_list>
#include <stdexcept>

namespace wsb::proto::chat {
namespace {

// Reads the fixed fields of a body front to back; any read past the end sets
// short_ and yields 0, so a parser reads every field and checks once.
class Fields {
 public:
  explicit Fields(std::span<const char> body) : rest_(body) {}

  std::uint8_t u8() noexcept {
    if (rest_.empty()) return fail();
    const auto v = static_cast<std::uint8_t>(rest_[0]);
    rest_ = rest_.subspan(1);
    return v;
  }
  std::uint32_t u32() noexcept {
    if (rest_.size() < 4) return fail();
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
      v = (v << 8) | static_cast<std::uint8_t>(rest_[i]);
    rest_ = rest_.subspan(4);
    return v;
  }
  // The rest of the body (the payload).
  std::span<const char> rest() const noexcept { return rest_; }
  bool too_short() const noexcept { return short_; }

 private:
  std::uint8_t fail() noexcept {
    short_ = true;
    rest_ = {};
    return 0;
  }

  std::span<const char> rest_;
  bool short_ = false;
};

// Writes one frame: the u16 length, then the body, in one prepared block.
class FrameWriter {
 public:
  FrameWriter(Op op, std::size_t fixed_fields, std::size_t payload) {
    const std::size_t body = 1 + fixed_fields + payload;
    if (body > max_body) throw std::length_error("chat frame body over 65535 bytes");
    size_ = 2 + body;
    u16(static_cast<std::uint16_t>(body));
    u8(static_cast<std::uint8_t>(op));
  }
  void u8(std::uint8_t v) { bytes_[at_++] = static_cast<char>(v); }
  void u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v & 0xFF));
    u8(static_cast<std::uint8_t>(v >> 8));
  }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
      u8(static_cast<std::uint8_t>((v >> (8 * i)) & 0xFF));
  }
  // Appends the frame to `out`: the header fields, then `payload`.
  void finish(ByteBuffer& out, std::span<const char> payload) {
    const std::span<char> dst = out.prepare(size_);
    std::copy(bytes_, bytes_ + at_, dst.begin());
    std::copy(payload.begin(), payload.end(), dst.begin() + static_cast<std::ptrdiff_t>(at_));
    out.commit(at_ + payload.size());
  }

 private:
  // Length, opcode and at most three u32 fields.
  char bytes_[2 + 1 + 12] = {};
  std::size_t at_ = 0;
  std::size_t size_ = 0;
};

// Writes a frame whose fixed fields are all u32 (every one but ERROR's),
// followed by `payload`.
void write_u32_frame(ByteBuffer& out, Op op, std::initializer_list<std::uint32_t> fields,
                     std::span<const char> payload = {}) {
  FrameWriter w(op, 4 * fields.size(), payload.size());
  for (const std::uint32_t v : fields)
    w.u32(v);
  w.finish(out, payload);
}

ClientMessage read_login(Fields& f) {
  Login m;
  m.user = f.u32();
  m.group = f.u32();
  return m;
}

ClientMessage read_private(Fields& f) {
  PrivateMessage m;
  m.to = f.u32();
  m.seq = f.u32();
  m.payload = f.rest();
  return m;
}

ClientMessage read_group(Fields& f) {
  GroupMessage m;
  m.seq = f.u32();
  m.payload = f.rest();
  return m;
}

std::optional<ServerMessage> read_error(Fields& f) {
  const std::uint8_t code = f.u8();
  if (f.too_short() || code < 1 || code > 5) return std::nullopt;
  const std::span<const char> reason = f.rest();
  return Error{static_cast<ErrorCode>(code), std::string_view(reason.data(), reason.size())};
}

}  // namespace

std::string_view describe(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::malformed:
      return "malformed frame";
    case ErrorCode::not_logged_in:
      return "not logged in";
    case ErrorCode::user_in_use:
      return "user id in use";
    case ErrorCode::unknown_opcode:
      return "unknown opcode";
    case ErrorCode::already_logged_in:
      return "already logged in";
  }
  return "unknown error";
}

std::variant<ClientMessage, ErrorCode> read_client(std::span<const char> body) noexcept {
  Fields f(body);
  const std::uint8_t op = f.u8();
  if (f.too_short()) return ErrorCode::malformed;
  ClientMessage m;
  switch (static_cast<Op>(op)) {
    case Op::login:
      m = read_login(f);
      break;
    case Op::private_message:
      m = read_private(f);
      break;
    case Op::group_message:
      m = read_group(f);
      break;
    default:
      return ErrorCode::unknown_opcode;
  }
  if (f.too_short()) return ErrorCode::malformed;
  // LOGIN has no payload: bytes after its fields are a malformed frame too.
  if (std::holds_alternative<Login>(m) && !f.rest().empty()) return ErrorCode::malformed;
  return m;
}

std::optional<ServerMessage> read_server(std::span<const char> body) noexcept {
  Fields f(body);
  const std::uint8_t op = f.u8();
  ServerMessage m;
  switch (static_cast<Op>(op)) {
    case Op::welcome:
      m = Welcome{f.u32(), f.u32(), f.u32()};
      break;
    case Op::from_private: {
      FromPrivate p{f.u32(), f.u32(), {}};
      p.payload = f.rest();
      m = p;
      break;
    }
    case Op::from_group: {
      FromGroup g{f.u32(), f.u32(), f.u32(), {}};
      g.payload = f.rest();
      m = g;
      break;
    }
    case Op::ack:
      m = Ack{f.u32(), f.u32()};
      break;
    case Op::error:
      return read_error(f);
    default:
      return std::nullopt;
  }
  if (f.too_short()) return std::nullopt;
  // Welcome and Ack have no payload: trailing bytes are a malformed frame.
  if ((op == static_cast<std::uint8_t>(Op::welcome) || op == static_cast<std::uint8_t>(Op::ack)) &&
      !f.rest().empty())
    return std::nullopt;
  return m;
}

std::size_t max_payload(Op op) noexcept {
  switch (op) {
    case Op::private_message:
      return max_body - 1 - 8;
    case Op::group_message:
      return max_body - 1 - 4;
    case Op::from_private:
      return max_body - 1 - 8;
    case Op::from_group:
      return max_body - 1 - 12;
    case Op::error:
      return max_body - 1 - 1;
    default:
      return 0;
  }
}

void write(ByteBuffer& out, const Login& m) {
  write_u32_frame(out, Op::login, {m.user, m.group});
}

void write(ByteBuffer& out, const PrivateMessage& m) {
  write_u32_frame(out, Op::private_message, {m.to, m.seq}, m.payload);
}

void write(ByteBuffer& out, const GroupMessage& m) {
  write_u32_frame(out, Op::group_message, {m.seq}, m.payload);
}

void write(ByteBuffer& out, const Welcome& m) {
  write_u32_frame(out, Op::welcome, {m.user, m.group, m.members_online});
}

void write(ByteBuffer& out, const FromPrivate& m) {
  write_u32_frame(out, Op::from_private, {m.from, m.seq}, m.payload);
}

void write(ByteBuffer& out, const FromGroup& m) {
  write_u32_frame(out, Op::from_group, {m.from, m.group, m.seq}, m.payload);
}

void write(ByteBuffer& out, const Ack& m) {
  write_u32_frame(out, Op::ack, {m.seq, m.recipients});
}

void write(ByteBuffer& out, const Error& m) {
  FrameWriter w(Op::error, 1, m.reason.size());
  w.u8(static_cast<std::uint8_t>(m.code));
  w.finish(out, std::span<const char>(m.reason.data(), m.reason.size()));
}

std::optional<std::size_t> FrameReader::body_length(std::span<const char> bytes) noexcept {
  if (bytes.size() < 2) return std::nullopt;
  return static_cast<std::size_t>(static_cast<std::uint8_t>(bytes[0])) |
         (static_cast<std::size_t>(static_cast<std::uint8_t>(bytes[1])) << 8);
}

}  // namespace wsb::proto::chat
