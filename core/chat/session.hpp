// The chat protocol's server session (namespace wsb::chat): one per
// connection, fed the bytes received like every other protocol's session
// (proto/session.hpp). Its own replies (WELCOME, ACK, ERROR) go to the
// connection's output; messages for other users go through the Hub to their
// mailboxes. The wire format is proto/chat_wire.hpp; docs/protocol.md
// describes the protocol.
//
// Threading: like every session, used by the thread serving its connection;
// the Hub is what other threads share.
#pragma once

#include <cstdint>
#include <span>

#include "chat/hub.hpp"
#include "proto/buffer.hpp"
#include "proto/chat_wire.hpp"
#include "proto/session.hpp"

namespace wsb::chat {

class Session final : public proto::ServerSession {
 public:
  // `mailbox` is how other users' messages reach this connection; it must
  // outlive the session's login (leave() or the destructor ends it).
  Session(Hub& hub, Mailbox& mailbox) : hub_(hub), mailbox_(mailbox) {}
  ~Session() override { leave(); }

  // Handles every complete frame: LOGIN answers WELCOME (or ERROR 3 when the
  // id is in use), PRIVATE and GROUP are relayed and answered with an ACK
  // once queued to every recipient. A protocol error answers ERROR and
  // closes; a GROUP payload too long to relay in a FROM_GROUP frame (over
  // proto::chat::max_payload(Op::from_group) bytes) is ERROR 1 and
  // SessionError::oversized.
  void feed(std::span<const char> in, ByteBuffer& out) override;

  // The peer closed: the session closes and its user logs out; an incomplete
  // frame makes the error truncated.
  void on_peer_closed() override;

  // At most one incomplete frame (2 + 65,535 bytes).
  std::size_t buffered() const noexcept override { return reader_.buffered(); }

  // Logs the user out, if logged in, so that the id is free at once and no
  // more messages are posted to this connection's mailbox.
  void leave() noexcept;

  bool logged_in() const noexcept { return logged_in_; }
  // Logins refused because the id was in use (0 or 1).
  bool login_refused() const noexcept { return login_refused_; }

 private:
  // One frame's body; false once the session is closing.
  bool handle(std::span<const char> body, ByteBuffer& out);
  void login(const proto::chat::Login& m, ByteBuffer& out);
  void relay_private(const proto::chat::PrivateMessage& m, ByteBuffer& out);
  void relay_group(const proto::chat::GroupMessage& m, ByteBuffer& out);
  // Answers ERROR `code` and closes with `error` as the session's error.
  void refuse(proto::chat::ErrorCode code, proto::SessionError error, ByteBuffer& out);

  Hub& hub_;
  Mailbox& mailbox_;
  proto::chat::FrameReader reader_;
  // The frame relayed to others, built once per message and reused.
  ByteBuffer relay_;
  std::uint32_t user_ = 0;
  std::uint32_t group_ = 0;
  bool logged_in_ = false;
  bool login_refused_ = false;
};

}  // namespace wsb::chat
