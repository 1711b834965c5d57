// The chat protocol's server session (chat/session.hpp): what it answers,
// what it relays through the Hub, and how it closes.
#include "chat/session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_mailbox.hpp"

namespace {

namespace wire = wsb::proto::chat;
using wsb::ByteBuffer;
using wsb::chat::Hub;
using wsb::chat::Session;
using wsb::chat::test::TestMailbox;
using wsb::proto::SessionError;

std::string frame_of(const auto& message) {
  ByteBuffer b;
  wire::write(b, message);
  return std::string(b.data(), b.size());
}

std::span<const char> bytes(const std::string& s) {
  return {s.data(), s.size()};
}

// The server messages of a stream of frames.
std::vector<wire::ServerMessage> messages(const std::string& stream, std::string& storage) {
  storage = stream;
  std::vector<wire::ServerMessage> out;
  wire::FrameReader reader;
  reader.feed(bytes(storage), [&](std::span<const char> body) {
    const auto m = wire::read_server(body);
    EXPECT_TRUE(m.has_value());
    if (m) out.push_back(*m);
    return true;
  });
  return out;
}

struct Client {
  TestMailbox mailbox;
  Session session;
  ByteBuffer out;

  explicit Client(Hub& hub) : session(hub, mailbox) {}
  void send(const std::string& frames) { session.feed(bytes(frames), out); }
  std::string replies() { return std::string(out.data(), out.size()); }
};

TEST(ChatSession, LoginIsWelcomedWithTheGroupCount) {
  Hub hub;
  Client a(hub), b(hub);
  a.send(frame_of(wire::Login{1, 7}));
  b.send(frame_of(wire::Login{2, 7}));
  EXPECT_EQ(a.replies(), frame_of(wire::Welcome{1, 7, 1}));
  EXPECT_EQ(b.replies(), frame_of(wire::Welcome{2, 7, 2}));
  EXPECT_TRUE(a.session.logged_in());
  EXPECT_EQ(a.session.requests(), 1u);
}

TEST(ChatSession, GroupMessageIsRelayedToTheOthersThenAcked) {
  Hub hub;
  Client a(hub), b(hub), c(hub);
  a.send(frame_of(wire::Login{1, 7}));
  b.send(frame_of(wire::Login{2, 7}));
  c.send(frame_of(wire::Login{3, 7}));
  a.out.clear();
  const std::string text = "hello group";
  a.send(frame_of(wire::GroupMessage{42, bytes(text)}));
  EXPECT_EQ(a.replies(), frame_of(wire::Ack{42, 2}));
  const std::string relayed = frame_of(wire::FromGroup{1, 7, 42, bytes(text)});
  EXPECT_EQ(b.mailbox.frames(), std::vector<std::string>{relayed});
  EXPECT_EQ(c.mailbox.frames(), std::vector<std::string>{relayed});
  EXPECT_TRUE(a.mailbox.frames().empty());
}

TEST(ChatSession, PrivateMessageReachesOneUserOrAcksZero) {
  Hub hub;
  Client a(hub), b(hub);
  a.send(frame_of(wire::Login{1, 7}));
  b.send(frame_of(wire::Login{2, 8}));
  a.out.clear();
  const std::string text = "psst";
  a.send(frame_of(wire::PrivateMessage{2, 5, bytes(text)}) +
         frame_of(wire::PrivateMessage{3, 6, bytes(text)}));
  EXPECT_EQ(a.replies(), frame_of(wire::Ack{5, 1}) + frame_of(wire::Ack{6, 0}));
  EXPECT_EQ(b.mailbox.frames(),
            std::vector<std::string>{frame_of(wire::FromPrivate{1, 5, bytes(text)})});
}

TEST(ChatSession, FramesSplitAnywhereGiveTheSameReplies) {
  const std::string text = "split me";
  const std::string stream = frame_of(wire::Login{1, 7}) +
                             frame_of(wire::GroupMessage{1, bytes(text)}) +
                             frame_of(wire::PrivateMessage{1, 2, bytes(text)});
  std::string whole;
  {
    Hub hub;
    Client a(hub);
    a.send(stream);
    whole = a.replies();
  }
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    Hub hub;
    Client a(hub);
    a.send(stream.substr(0, cut));
    a.send(stream.substr(cut));
    EXPECT_EQ(a.replies(), whole) << "cut at " << cut;
  }
}

// Each protocol error: the ERROR code, the session's error class, closing.
struct ErrorCase {
  const char* name;
  std::string input;
  wire::ErrorCode code;
  SessionError error;
};

TEST(ChatSession, ProtocolErrorsAnswerErrorAndClose) {
  const std::string logged_in = frame_of(wire::Login{1, 7});
  const std::vector<ErrorCase> cases = {
      {"empty body", std::string("\x00\x00", 2), wire::ErrorCode::malformed,
       SessionError::malformed},
      {"short login", std::string("\x03\x00\x01\x01\x00", 5), wire::ErrorCode::malformed,
       SessionError::malformed},
      {"message before login", frame_of(wire::GroupMessage{1, {}}), wire::ErrorCode::not_logged_in,
       SessionError::malformed},
      {"unknown opcode", std::string("\x01\x00\x7f", 3), wire::ErrorCode::unknown_opcode,
       SessionError::malformed},
      {"second login", logged_in + frame_of(wire::Login{2, 7}), wire::ErrorCode::already_logged_in,
       SessionError::malformed},
  };
  for (const ErrorCase& c : cases) {
    Hub hub;
    Client a(hub);
    a.send(c.input + frame_of(wire::GroupMessage{9, {}}));  // ignored after the error
    std::string storage;
    const auto replies = messages(a.replies(), storage);
    ASSERT_FALSE(replies.empty()) << c.name;
    const auto* error = std::get_if<wire::Error>(&replies.back());
    ASSERT_NE(error, nullptr) << c.name;
    EXPECT_EQ(error->code, c.code) << c.name;
    EXPECT_TRUE(a.session.closing()) << c.name;
    EXPECT_EQ(a.session.error(), c.error) << c.name;
    EXPECT_FALSE(a.session.logged_in()) << c.name;
    EXPECT_EQ(hub.counts().online, 0u) << c.name;
  }
}

TEST(ChatSession, AnIdInUseIsRefusedWithoutASessionError) {
  Hub hub;
  Client a(hub), b(hub);
  a.send(frame_of(wire::Login{1, 7}));
  b.send(frame_of(wire::Login{1, 8}));
  std::string storage;
  const auto replies = messages(b.replies(), storage);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(std::get<wire::Error>(replies[0]).code, wire::ErrorCode::user_in_use);
  EXPECT_TRUE(b.session.closing());
  EXPECT_EQ(b.session.error(), SessionError::none);
  EXPECT_TRUE(b.session.login_refused());
  EXPECT_TRUE(a.session.logged_in());  // the holder of the id is untouched
}

TEST(ChatSession, ClosingFreesTheIdAndAHalfFrameIsTruncated) {
  Hub hub;
  {
    Client a(hub);
    a.send(frame_of(wire::Login{1, 7}) + std::string("\x05\x00\x03", 3));
    EXPECT_EQ(a.session.buffered(), 3u);
    a.session.on_peer_closed();
    EXPECT_EQ(a.session.error(), SessionError::truncated);
    EXPECT_EQ(hub.counts().online, 0u);
  }
  Client b(hub);
  b.send(frame_of(wire::Login{1, 7}));
  EXPECT_EQ(b.replies(), frame_of(wire::Welcome{1, 7, 1}));
}

TEST(ChatSession, AGroupPayloadTooLongToRelayIsOversized) {
  Hub hub;
  Client a(hub);
  a.send(frame_of(wire::Login{1, 7}));
  const std::string big(wire::max_payload(wire::Op::from_group) + 1, 'x');
  a.send(frame_of(wire::GroupMessage{1, bytes(big)}));
  EXPECT_TRUE(a.session.closing());
  EXPECT_EQ(a.session.error(), SessionError::oversized);
}

}  // namespace
