// What a client of a readiness model is made of (namespace wsb::kit):
// server-select and server-async-select. Windows code only, like
// kit/winsock.hpp.
//
// Both serve a non-blocking socket on the thread that owns it, take chat
// mail through that thread's MailList, and end a clean connection with a
// lingering close; how readiness is learnt (select() or window messages)
// stays the model's, and so do the flags it keeps about it.
#pragma once

#include "kit/mail_list.hpp"
#include "kit/winsock.hpp"
#include "server/connection.hpp"
#include "server/frame.hpp"
#include "server/lingering_close.hpp"
#include "server/stats.hpp"

namespace wsb::kit {

struct SocketClient {
  // The mail list's entry for this connection is this SocketClient: a model
  // that derives from it casts the entry back to its own type.
  SocketClient(SOCKET s, server::Frame& frame, server::StatsShard& shard, MailList& mail_list)
      : socket(s), mail(mail_list, this), conn(frame, shard) {
    mail.watch(conn);
  }

  SOCKET socket;
  // Chat: this connection's place on its thread's mail list; before the
  // Connection, so that it outlives it (kit/mail_list.hpp).
  MailTarget mail;
  server::Connection conn;
  // After a clean finish: our FIN, then input is read and discarded until
  // the peer's FIN (server/lingering_close.hpp).
  server::LingeringClose linger{};
};

}  // namespace wsb::kit
