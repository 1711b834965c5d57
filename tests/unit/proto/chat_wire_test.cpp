// The chat protocol's frames (proto/chat_wire.hpp): every message written and
// read back, the bytes of the worked example in docs/protocol.md, every split
// of a stream, and every malformed body.
#include "proto/chat_wire.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace wsb::proto::chat;
using wsb::ByteBuffer;

std::string bytes_of(const ByteBuffer& b) {
  return std::string(b.data(), b.size());
}

std::span<const char> span_of(const std::string& s) {
  return {s.data(), s.size()};
}

// Every frame body `stream` holds, fed in pieces of `piece` bytes.
std::vector<std::string> bodies(const std::string& stream, std::size_t piece) {
  FrameReader reader;
  std::vector<std::string> out;
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    const std::size_t n = std::min(piece, stream.size() - at);
    reader.feed(std::span<const char>(stream.data() + at, n), [&](std::span<const char> body) {
      out.emplace_back(body.begin(), body.end());
      return true;
    });
  }
  EXPECT_EQ(reader.buffered(), 0u);
  return out;
}

TEST(ChatWire, LoginBytesMatchTheWorkedExample) {
  ByteBuffer out;
  write(out, Login{7, 2});
  // length 9, opcode 0x01, user 7, group 2 (u32 little-endian).
  EXPECT_EQ(bytes_of(out), std::string("\x09\x00\x01\x07\x00\x00\x00\x02\x00\x00\x00", 11));
}

TEST(ChatWire, TheWorkedExampleOfDocsProtocolMd) {
  ByteBuffer out;
  write(out, Welcome{7, 2, 2});
  EXPECT_EQ(bytes_of(out),
            std::string("\x0d\x00\x81\x07\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00", 15));
  out.clear();
  const std::string hi = "hi";
  write(out, GroupMessage{1, span_of(hi)});
  EXPECT_EQ(bytes_of(out), std::string("\x07\x00\x03\x01\x00\x00\x00hi", 9));
  out.clear();
  write(out, FromGroup{7, 2, 1, span_of(hi)});
  EXPECT_EQ(bytes_of(out),
            std::string("\x0f\x00\x83\x07\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00hi", 17));
  out.clear();
  write(out, Ack{1, 1});
  EXPECT_EQ(bytes_of(out), std::string("\x09\x00\x85\x01\x00\x00\x00\x01\x00\x00\x00", 11));
}

TEST(ChatWire, ClientMessagesRoundTrip) {
  ByteBuffer out;
  write(out, Login{0x01020304, 9});
  const std::string hello = "hello";
  write(out, PrivateMessage{42, 1, span_of(hello)});
  write(out, GroupMessage{2, {}});
  const std::vector<std::string> got = bodies(bytes_of(out), 1000);
  ASSERT_EQ(got.size(), 3u);

  const auto login = read_client(span_of(got[0]));
  ASSERT_TRUE(std::holds_alternative<ClientMessage>(login));
  const auto& l = std::get<Login>(std::get<ClientMessage>(login));
  EXPECT_EQ(l.user, 0x01020304u);
  EXPECT_EQ(l.group, 9u);

  const auto priv = read_client(span_of(got[1]));
  const auto& p = std::get<PrivateMessage>(std::get<ClientMessage>(priv));
  EXPECT_EQ(p.to, 42u);
  EXPECT_EQ(p.seq, 1u);
  EXPECT_EQ(std::string(p.payload.begin(), p.payload.end()), hello);

  const auto group = read_client(span_of(got[2]));
  const auto& g = std::get<GroupMessage>(std::get<ClientMessage>(group));
  EXPECT_EQ(g.seq, 2u);
  EXPECT_TRUE(g.payload.empty());
}

TEST(ChatWire, ServerMessagesRoundTrip) {
  ByteBuffer out;
  const std::string text = "hi all";
  write(out, Welcome{5, 1, 3});
  write(out, FromPrivate{6, 10, span_of(text)});
  write(out, FromGroup{6, 1, 11, span_of(text)});
  write(out, Ack{11, 9});
  write(out, Error{ErrorCode::user_in_use, describe(ErrorCode::user_in_use)});
  const std::vector<std::string> got = bodies(bytes_of(out), 3);
  ASSERT_EQ(got.size(), 5u);

  const auto w = std::get<Welcome>(*read_server(span_of(got[0])));
  EXPECT_EQ(w.user, 5u);
  EXPECT_EQ(w.group, 1u);
  EXPECT_EQ(w.members_online, 3u);
  const auto fp = std::get<FromPrivate>(*read_server(span_of(got[1])));
  EXPECT_EQ(fp.from, 6u);
  EXPECT_EQ(fp.seq, 10u);
  EXPECT_EQ(std::string(fp.payload.begin(), fp.payload.end()), text);
  const auto fg = std::get<FromGroup>(*read_server(span_of(got[2])));
  EXPECT_EQ(fg.from, 6u);
  EXPECT_EQ(fg.group, 1u);
  EXPECT_EQ(fg.seq, 11u);
  EXPECT_EQ(std::string(fg.payload.begin(), fg.payload.end()), text);
  const auto a = std::get<Ack>(*read_server(span_of(got[3])));
  EXPECT_EQ(a.seq, 11u);
  EXPECT_EQ(a.recipients, 9u);
  const auto e = std::get<Error>(*read_server(span_of(got[4])));
  EXPECT_EQ(e.code, ErrorCode::user_in_use);
  EXPECT_EQ(e.reason, "user id in use");
}

TEST(ChatWire, EverySplitOfAStreamYieldsTheSameFrames) {
  ByteBuffer out;
  const std::string payload(300, 'x');  // a length whose high byte is not 0
  write(out, Login{1, 1});
  write(out, GroupMessage{1, span_of(payload)});
  out.append(std::string("\x00\x00", 2));  // an empty body is still a frame
  write(out, PrivateMessage{2, 2, span_of(payload)});
  const std::string stream = bytes_of(out);
  const std::vector<std::string> whole = bodies(stream, stream.size());
  ASSERT_EQ(whole.size(), 4u);
  EXPECT_TRUE(whole[2].empty());
  for (std::size_t piece = 1; piece < stream.size(); ++piece) {
    EXPECT_EQ(bodies(stream, piece), whole) << "pieces of " << piece << " bytes";
  }
  // Two pieces cut at every position.
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    FrameReader reader;
    std::size_t frames = 0;
    auto count = [&](std::span<const char>) { return ++frames, true; };
    reader.feed(std::span<const char>(stream.data(), cut), count);
    reader.feed(std::span<const char>(stream.data() + cut, stream.size() - cut), count);
    EXPECT_EQ(frames, 4u) << "cut at " << cut;
    EXPECT_EQ(reader.buffered(), 0u);
  }
}

TEST(ChatWire, ReaderHoldsOnlyTheIncompleteFrame) {
  FrameReader reader;
  const std::string head("\xff\xff\x03", 3);  // a 65,535-byte body begins
  reader.feed(span_of(head), [](std::span<const char>) { return true; });
  EXPECT_EQ(reader.buffered(), 3u);
  const std::string rest(65534, 'a');
  std::size_t got = 0;
  reader.feed(span_of(rest), [&](std::span<const char> body) { return got = body.size(), true; });
  EXPECT_EQ(got, 65535u);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(ChatWire, StoppingDropsTheRest) {
  ByteBuffer out;
  write(out, Login{1, 1});
  write(out, Login{2, 1});
  FrameReader reader;
  int calls = 0;
  const std::string s = bytes_of(out);
  reader.feed(span_of(s), [&](std::span<const char>) { return ++calls, false; });
  reader.feed(span_of(s), [&](std::span<const char>) { return ++calls, true; });
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(reader.stopped());
}

TEST(ChatWire, ShortBodiesAreMalformedAndUnknownOpcodesSaidSo) {
  const auto code = [](const std::string& body) {
    const auto r = read_client(span_of(body));
    return std::holds_alternative<ErrorCode>(r) ? std::get<ErrorCode>(r) : ErrorCode{};
  };
  EXPECT_EQ(code(""), ErrorCode::malformed);
  EXPECT_EQ(code(std::string("\x01\x01\x00\x00\x00\x02\x00\x00", 8)), ErrorCode::malformed);
  EXPECT_EQ(code(std::string("\x02\x01\x00\x00\x00\x02\x00\x00", 8)), ErrorCode::malformed);
  EXPECT_EQ(code(std::string("\x03\x01\x00\x00", 4)), ErrorCode::malformed);
  // LOGIN carries nothing after its fields.
  EXPECT_EQ(code(std::string("\x01\x01\x00\x00\x00\x02\x00\x00\x00!", 10)), ErrorCode::malformed);
  EXPECT_EQ(code(std::string("\x81\x00\x00\x00\x00", 5)), ErrorCode::unknown_opcode);
  EXPECT_EQ(code(std::string("\x00", 1)), ErrorCode::unknown_opcode);
  // The fixed fields exactly, with an empty payload, are enough.
  EXPECT_TRUE(std::holds_alternative<ClientMessage>(
      read_client(span_of(std::string("\x03\x01\x00\x00\x00", 5)))));
}

TEST(ChatWire, MalformedServerBodiesAreRejected) {
  EXPECT_FALSE(read_server(span_of("")));
  EXPECT_FALSE(read_server(span_of(std::string("\x85\x01\x00\x00\x00", 5))));  // Ack too short
  EXPECT_FALSE(read_server(span_of(std::string("\x85\x01\x00\x00\x00\x01\x00\x00\x00!", 10))));
  EXPECT_FALSE(read_server(span_of(std::string("\xee\x09", 2))));  // no such error code
  EXPECT_FALSE(read_server(span_of(std::string("\x01\x01\x00\x00\x00\x01\x00\x00\x00", 9))));
}

TEST(ChatWire, OversizedPayloadsThrowBeforeWriting) {
  ByteBuffer out;
  const std::string big(max_payload(Op::group_message) + 1, 'x');
  EXPECT_THROW(write(out, GroupMessage{1, span_of(big)}), std::length_error);
  EXPECT_TRUE(out.empty());
  const std::string fits(max_payload(Op::group_message), 'x');
  write(out, GroupMessage{1, span_of(fits)});
  EXPECT_EQ(out.size(), 2 + max_body);
}

}  // namespace
