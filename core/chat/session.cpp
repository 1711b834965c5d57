// The chat protocol's server session: chat/session.hpp.
#include "chat/session.hpp"

#include <variant>

namespace wsb::chat {

namespace wire = proto::chat;

void Session::feed(std::span<const char> in, ByteBuffer& out) {
  if (closing_) return;
  reader_.feed(in, [&](std::span<const char> body) { return handle(body, out); });
}

void Session::on_peer_closed() {
  if (!closing_ && reader_.buffered() != 0) close_with(proto::SessionError::truncated);
  closing_ = true;
  leave();
}

void Session::leave() noexcept {
  if (!logged_in_) return;
  hub_.logout(user_);
  logged_in_ = false;
}

bool Session::handle(std::span<const char> body, ByteBuffer& out) {
  const auto read = wire::read_client(body);
  if (const auto* code = std::get_if<wire::ErrorCode>(&read)) {
    refuse(*code, proto::SessionError::malformed, out);
    return false;
  }
  const auto& message = std::get<wire::ClientMessage>(read);
  if (const auto* m = std::get_if<wire::Login>(&message)) {
    login(*m, out);
  } else if (!logged_in_) {
    refuse(wire::ErrorCode::not_logged_in, proto::SessionError::malformed, out);
  } else if (const auto* p = std::get_if<wire::PrivateMessage>(&message)) {
    relay_private(*p, out);
  } else {
    relay_group(std::get<wire::GroupMessage>(message), out);
  }
  return !closing_;
}

void Session::login(const wire::Login& m, ByteBuffer& out) {
  if (logged_in_) {
    refuse(wire::ErrorCode::already_logged_in, proto::SessionError::malformed, out);
    return;
  }
  const auto online = hub_.login(m.user, m.group, mailbox_);
  if (!online) {
    // Not the client's protocol error: the id is someone else's. The
    // connection closes without a session error and the refusal is counted.
    login_refused_ = true;
    wire::write(out, wire::Error{wire::ErrorCode::user_in_use,
                                 wire::describe(wire::ErrorCode::user_in_use)});
    closing_ = true;
    return;
  }
  user_ = m.user;
  group_ = m.group;
  logged_in_ = true;
  ++requests_;
  wire::write(out, wire::Welcome{m.user, m.group, *online});
}

void Session::relay_private(const wire::PrivateMessage& m, ByteBuffer& out) {
  relay_.clear();
  wire::write(relay_, wire::FromPrivate{user_, m.seq, m.payload});
  const std::uint32_t queued = hub_.send_private(m.to, relay_.readable());
  ++requests_;
  wire::write(out, wire::Ack{m.seq, queued});
}

void Session::relay_group(const wire::GroupMessage& m, ByteBuffer& out) {
  if (m.payload.size() > wire::max_payload(wire::Op::from_group)) {
    refuse(wire::ErrorCode::malformed, proto::SessionError::oversized, out);
    return;
  }
  relay_.clear();
  wire::write(relay_, wire::FromGroup{user_, group_, m.seq, m.payload});
  const std::uint32_t queued = hub_.send_group(user_, group_, relay_.readable());
  ++requests_;
  wire::write(out, wire::Ack{m.seq, queued});
}

void Session::refuse(wire::ErrorCode code, proto::SessionError error, ByteBuffer& out) {
  wire::write(out, wire::Error{code, wire::describe(code)});
  close_with(error);
  leave();
}

}  // namespace wsb::chat
