// What the two overlapped models without a completion port share about one
// connection (namespace wsb::kit): server-overlapped-event and
// server-overlapped-routine. Both keep one WSARecv and one WSASend in flight
// per socket at the most, feed their completions to the Connection the same
// way and close the same way; they differ only in how a completion reaches
// the thread (an event it waits on, or a routine run in its alertable wait),
// which stays in the model file. Windows code only, like kit/winsock.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>

#include "kit/mail_list.hpp"
#include "kit/winsock.hpp"
#include "platform/net.hpp"
#include "server/connection.hpp"
#include "server/frame.hpp"
#include "server/stats.hpp"

namespace wsb::kit {

// Each connection owns its receive buffer: the kernel fills it while the
// thread does other things, so it cannot be shared.
inline constexpr ULONG overlapped_receive_buffer = 16 * 1024;
// The largest block handed to one WSASend. The kernel locks the pages of an
// overlapped send's buffer until it completes; a bound keeps that moderate.
inline constexpr std::size_t max_send_block = 1024 * 1024;
// How long a connection we closed (shutdown(SD_SEND)) may take to send its
// FIN back before the socket is closed anyway.
inline constexpr std::chrono::seconds overlapped_linger_limit{2};

// The WSABUF of one WSASend of `block` (what Connection::begin_send()
// froze), at most max_send_block long. WSABUF::buf is not const, but
// WSASend only reads it.
WSABUF send_buffer(std::span<const char> block) noexcept;

struct OverlappedPeer {
  enum class State {
    open,
    lingering,  // our FIN is sent; input is read and dropped until the peer's FIN
    closing,    // operations in flight were cancelled; closesocket() follows their completion
    closed,     // socket closed; the model frees the peer when it may
  };

  // `mail_list`: the serving thread's (chat).
  OverlappedPeer(server::Frame& frame, server::StatsShard& shard, SOCKET s,
                 const net::Endpoint& peer, MailList& mail_list)
      : socket(s),
        address(peer),
        mail(mail_list, this),
        connection(frame, shard),
        buffer(std::make_unique<char[]>(overlapped_receive_buffer)) {
    mail.watch(connection);
  }

  // A receive completed: its error, the peer's FIN (0 bytes) or data, fed to
  // the Connection. Only for an open peer.
  void received(int error, DWORD bytes) noexcept;
  // A send completed. A completed overlapped send normally carries every
  // byte; fewer means the rest of the frozen block goes out with the next
  // WSASend. Only for an open peer.
  void sent(int error, DWORD bytes) noexcept;
  // The Connection is finished (every reply is out, or it failed). True: the
  // socket is to be closed now. False: the peer is lingering, and the model
  // keeps a receive posted to drop input until the peer's FIN.
  bool finish() noexcept;
  // Housekeeping: true when the peer is to be closed, because a lingering
  // close outlived its deadline or an open connection was idle too long
  // (counted as idle_timeout by expire_if_idle()).
  bool due_to_close(Clock::time_point now) noexcept;
  // Chat: moves the mail waiting in the outbox to the Connection's output.
  // True when the model has something to do (a send, or a close).
  bool collect_mail() noexcept { return state == State::open && connection.collect_mail(); }

  SOCKET socket;
  // The peer's address as AcceptEx delivered it (for a debugger: this is how
  // an AcceptEx server learns who connected; nothing in the model needs it).
  net::Endpoint address;
  // Chat: this connection's place on its thread's mail list; before the
  // Connection, so that it outlives it (kit/mail_list.hpp).
  MailTarget mail;
  server::Connection connection;
  std::unique_ptr<char[]> buffer;  // the receive buffer
  State state = State::open;
  bool eof = false;  // a receive completed with 0 bytes
  Clock::time_point linger_deadline;
};

}  // namespace wsb::kit
