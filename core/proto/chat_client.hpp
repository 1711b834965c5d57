// The client side of the chat protocol for the load generator's fan-out
// workload, sans I/O: each connection is one user that logs in, sends
// private and group messages, and verifies every delivery it receives.
//
// Users are numbered first_user .. first_user + users - 1; consecutive ids
// form groups of group_size (the last group may be smaller). A message goes
// privately, with probability private_share, to a random user of another
// group, else to the sender's group. Its payload carries what the recipient
// needs to verify it on its own:
//   u32 channel sequence, u64 send time (steady-clock ns), then filler bytes
//   that are a function of (sender, wire sequence, position).
// The channel sequence counts, from 1, the sender's group messages (every
// member of the group receives all of them) or its private messages to one
// recipient, so each recipient sees every channel without gaps, and a
// message that arrives after a later one of its channel was overtaken. The wire
// sequence (the frame's own) numbers all of a sender's messages and matches
// ACKs, which arrive in the order the messages were sent.
//
// What cannot be seen by one connection alone is shared in a Ledger, one per
// run: how many users are logged in (nobody sends before all of them are,
// since a group message reaches only the members online), how many messages
// are still waiting for their ACK and how many deliveries the ACKs promised
// and arrived (the drain waits for both), and, at the end, each user's
// channels, from which reconcile() counts the deliveries that were ACKed and
// never arrived.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "proto/buffer.hpp"
#include "proto/chat_wire.hpp"
#include "proto/client.hpp"

namespace wsb::proto::chat {

// The fixed part of a message's payload: channel sequence and send time.
inline constexpr std::size_t payload_header = 12;

// Who is who: the users of a run and their groups.
struct Population {
  std::uint32_t first_user = 1;
  std::uint32_t users = 0;
  std::uint32_t group_size = 10;

  bool contains(std::uint32_t user) const noexcept {
    return user >= first_user && user - first_user < users;
  }
  // Groups are numbered from 1 (a group id of 0 would read as "none").
  std::uint32_t group_of(std::uint32_t user) const noexcept {
    return (user - first_user) / group_size + 1;
  }
  std::uint32_t groups() const noexcept { return (users + group_size - 1) / group_size; }
  std::uint32_t group_first(std::uint32_t group) const noexcept {
    return first_user + (group - 1) * group_size;
  }
  std::uint32_t group_members(std::uint32_t group) const noexcept;
};

// What one recipient knows of one channel (a sender's group messages, or its
// private messages to this recipient).
class ChannelTrack {
 public:
  enum class Verdict : std::uint8_t { in_order, late, duplicate, too_far };
  // Classifies an arriving channel sequence: the next expected one, one
  // that skipped ahead (the ones skipped are remembered as missing), a
  // missing one arriving late (out of order), or one already received.
  Verdict receive(std::uint32_t seq);
  // Sequences 1..acked that never arrived.
  std::uint64_t missing_up_to(std::uint32_t acked) const noexcept;

 private:
  std::uint32_t next_ = 1;
  std::vector<std::uint32_t> missing_;  // ascending
};

class ChatDriver;

// Shared by every user of a run; thread-safe.
class Ledger {
 public:
  explicit Ledger(const Population& population) : population_(population) {}
  const Population& population() const noexcept { return population_; }

  // True once every user has been welcomed at least once.
  bool all_online() const noexcept {
    return welcomed_.load(std::memory_order_acquire) >= population_.users;
  }
  // True when no message waits for its ACK and every delivery the ACKs
  // promised has arrived (or more: deliveries of messages whose sender's
  // connection failed before the ACK are counted too).
  bool settled() const noexcept {
    return in_flight_.load(std::memory_order_acquire) == 0 &&
           delivered_.load(std::memory_order_acquire) >= promised_.load(std::memory_order_acquire);
  }
  std::uint64_t promised() const noexcept { return promised_.load(std::memory_order_relaxed); }
  std::uint64_t delivered() const noexcept { return delivered_.load(std::memory_order_relaxed); }

  // Deliveries ACKed (by a recipient count that included them) and never
  // received, over every (sender, recipient) pair. Only once no driver is
  // in use any more (the workers have been joined).
  std::uint64_t reconcile() const;

 private:
  friend class ChatDriver;
  void attach(std::uint32_t user, const ChatDriver* driver);
  void detach(std::uint32_t user, const ChatDriver* driver) noexcept;

  Population population_;
  std::atomic<std::uint64_t> welcomed_{0};
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::uint64_t> promised_{0};
  std::atomic<std::uint64_t> delivered_{0};
  std::mutex mutex_;  // guards drivers_
  std::unordered_map<std::uint32_t, const ChatDriver*> drivers_;
};

// How a recipient reports what it received; implemented by the load generator.
class DeliverySink {
 public:
  virtual ~DeliverySink() = default;
  // A delivery that passed every check, first of its kind; sent_ns is the
  // send time the sender wrote into it (steady-clock ns).
  virtual void delivered(std::int64_t sent_ns) noexcept = 0;
  // One that was already received, or one that came after a later message
  // of the same sender.
  virtual void duplicated() noexcept = 0;
  virtual void reordered() noexcept = 0;
};

struct ChatConfig {
  Population population;
  double private_share = 0.0;  // 0..1
};

class ChatDriver final : public ClientDriver {
 public:
  // The user is population.first_user + stream. Registers with the ledger.
  ChatDriver(const ClientConfig& cfg, std::uint64_t stream, std::shared_ptr<Ledger> ledger);
  ~ChatDriver() override;

  std::uint32_t user() const noexcept { return user_; }
  std::uint32_t group() const noexcept { return group_; }
  // The sink of deliveries; without one they are verified and counted in
  // the ledger only.
  void set_sink(DeliverySink* sink) noexcept { sink_ = sink; }
  // The send time (steady-clock ns) the next message carries: the time it
  // is meant to go out (open loop) or is written (closed loop).
  void set_send_time(std::int64_t ns) noexcept { send_time_ = ns; }

  // ClientDriver: the LOGIN is the greeting; messages are requests, ACKs
  // their responses; WELCOME and deliveries complete no request.
  std::size_t write_greeting(ByteBuffer& out) override;
  bool may_write() const noexcept override { return welcomed_ && ledger_->all_online(); }
  std::size_t write_request(ByteBuffer& out) override;
  std::size_t feed(std::span<const char> in) override;
  std::size_t on_peer_closed() noexcept override;
  void reset() noexcept override;

  // Deliveries verified and received for the first time.
  std::uint64_t deliveries() const noexcept { return deliveries_; }
  // For Ledger::reconcile(): channel sequences of this sender that the
  // server ACKed, and what this recipient received from a sender.
  std::uint32_t group_acked() const noexcept { return group_acked_; }
  const std::unordered_map<std::uint32_t, std::uint32_t>& private_acked() const noexcept {
    return private_acked_;
  }
  std::uint64_t missing_from(std::uint32_t sender, bool is_private,
                             std::uint32_t acked) const noexcept;

 private:
  struct Pending {
    std::uint32_t wire_seq;
    std::uint32_t to;  // 0 for a group message
    std::uint32_t channel_seq;
  };
  // A recipient gets only one channel of each sender (private messages go
  // to other groups), but keeping both makes no assumption of it.
  struct Peer {
    ChannelTrack group, priv;
  };

  // One frame body; false stops reading (the driver failed).
  bool on_body(std::span<const char> body, std::size_t& acks);
  bool on_ack(const Ack& ack);
  bool on_delivery(std::uint32_t from, std::uint32_t wire_seq, bool is_private,
                   std::span<const char> payload);
  std::uint32_t pick_recipient() noexcept;
  std::uint64_t next_random() noexcept;
  void abandon_pending() noexcept;

  ChatConfig cfg_;
  std::uint32_t size_min_, size_max_;
  std::shared_ptr<Ledger> ledger_;
  DeliverySink* sink_ = nullptr;
  std::uint32_t user_, group_;
  std::uint64_t rng_;
  std::int64_t send_time_ = 0;
  FrameReader reader_;
  bool login_sent_ = false, welcomed_ = false, ever_welcomed_ = false;
  std::deque<Pending> pending_;
  std::uint32_t wire_seq_ = 0;
  std::uint32_t group_sent_ = 0, group_acked_ = 0;
  std::unordered_map<std::uint32_t, std::uint32_t> private_sent_, private_acked_;
  std::unordered_map<std::uint32_t, Peer> peers_;
  std::uint64_t deliveries_ = 0;
  std::vector<char> scratch_;
};

// The filler byte at `position` of a payload of (sender, wire_seq).
char filler(std::uint32_t sender, std::uint32_t wire_seq, std::size_t position) noexcept;

}  // namespace wsb::proto::chat
