// Chat users for the black-box suites (namespace wsb::suite): many clients of
// the chat protocol (docs/protocol.md, proto/chat_wire.hpp) on non-blocking
// sockets, driven by one poll(2) loop that every call bounds with a deadline,
// and the verification of every frame they receive. The conformance suite's
// chat scenario (200 users in groups of 10 with private messages) and the
// fault suite's slow consumer use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/chat_wire.hpp"
#include "test_socket.hpp"

namespace wsb::suite {

// What every user does. User i (0-based) has id i + 1 and is in group
// i / group_size + 1. Every user sends group_messages GROUP messages, then
// private_messages PRIVATE ones, to the users group_size * (k + 1) places
// after it (mod users): always another group when there are enough groups.
// Sequence numbers run 1, 2, ... over both kinds, so a recipient sees each
// sender's sequence numbers rise.
struct ChatPlan {
  std::uint32_t users = 200;
  std::uint32_t group_size = 10;
  std::uint32_t group_messages = 5;
  std::uint32_t private_messages = 2;
  std::size_t payload_bytes = 48;
  // At most this many messages per user in flight (0: all at once). A
  // message is in flight until its ACK came and, for a GROUP message, every
  // reading member of the group received it. An ACK alone only says the
  // server queued the message: a sender paced on ACKs can still outrun a
  // reading recipient that the scheduler holds back, and a burst of large
  // messages would pass even a reading recipient's --max-pending.
  std::uint32_t window = 0;
  // Users (0-based) that log in but never read (the slow consumer): they
  // are expected to be dropped by the server, and nothing is verified of
  // what they receive.
  std::vector<std::uint32_t> never_read;
  // SO_RCVBUF of the users that never read (0: the system's default).
  int never_read_buffer = 0;
};

// What a run saw. failure is empty when every user logged in, every message
// was ACKed with the right recipient count, every delivery arrived exactly
// once, in order and intact, and nothing else arrived.
struct ChatReport {
  std::string failure;
  std::uint64_t messages = 0;           // ACKed messages
  std::uint64_t deliveries = 0;         // verified deliveries received
  std::uint64_t lost = 0;               // expected deliveries that never arrived
  std::uint64_t duplicated = 0;         // a sender's sequence number seen twice
  std::uint64_t reordered = 0;          // a sender's sequence number below one seen before
  std::uint64_t corrupt = 0;            // wrong sender, group or payload
  std::uint64_t never_read_closed = 0;  // never-reading users the server closed
};

// The payload of message `seq` from user id `from`: its own bytes, so that a
// delivery can be checked byte for byte.
std::string chat_payload(std::uint32_t from, std::uint32_t seq, std::size_t bytes);

// Connects plan.users users to `target`, logs them all in (every WELCOME
// before any message), then lets every user send its messages at once and
// reads until every ACK and every delivery arrived (then a short grace for
// duplicates) or `deadline` passed. The users that never read only log in
// and stay connected until the end. Closes every connection before it
// returns.
ChatReport run_chat(const Target& target, const ChatPlan& plan, Clock::time_point deadline);

// One whole frame (length and body) as bytes.
std::string chat_frame(const proto::chat::ClientMessage& m);
// A frame with `body` as it is (for malformed ones).
std::string raw_chat_frame(const std::string& body);

// Reads frames from `s` until an ERROR frame (after WELCOMEs, if any) and
// then the end of the connection. Returns "" when that is what came, with `code` the ERROR's;
// otherwise what came instead.
std::string expect_chat_error(const Socket& s, Clock::time_point deadline,
                              proto::chat::ErrorCode& code);

}  // namespace wsb::suite
