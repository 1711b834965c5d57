// The chat client driver and its ledger, without sockets: a small relay in
// the test plays the server, so that every delivery can be dropped,
// duplicated or reordered on purpose, and every byte stream split anywhere.
#include "proto/chat_client.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "proto/chat_wire.hpp"
#include "proto/client.hpp"

namespace wsb::proto::chat {
namespace {

std::string bytes_of(const ByteBuffer& b) {
  return std::string(b.data(), b.size());
}

std::string frame(const auto& message) {
  ByteBuffer b;
  write(b, message);
  return bytes_of(b);
}

ClientConfig chat_config(std::uint32_t users, std::uint32_t group_size, double private_share) {
  ClientConfig cfg;
  cfg.protocol = Protocol::chat;
  cfg.chat_users = users;
  cfg.chat_group_size = group_size;
  cfg.chat_private_share = private_share;
  cfg.size_min = 12;
  cfg.size_max = 40;
  return cfg;
}

struct Sink final : DeliverySink {
  std::vector<std::int64_t> sent;
  int duplicates = 0, reorders = 0;
  void delivered(std::int64_t sent_ns) noexcept override { sent.push_back(sent_ns); }
  void duplicated() noexcept override { ++duplicates; }
  void reordered() noexcept override { ++reorders; }
};

// The server's side, sans I/O: it reads the clients' frames and queues the
// server's answer frames per user, one string per frame, for the test to
// pass on (or not) as it likes.
class Relay {
 public:
  explicit Relay(const Population& pop) : pop_(pop) {}

  void from_client(std::uint32_t user, std::span<const char> bytes) {
    readers_[user].feed(bytes, [&](std::span<const char> body) {
      const auto m = read_client(body);
      const auto* msg = std::get_if<ClientMessage>(&m);
      if (msg == nullptr) throw std::logic_error("client sent a bad frame");
      handle(user, *msg);
      return true;
    });
  }
  std::vector<std::string>& frames_to(std::uint32_t user) { return out_[user]; }

 private:
  void handle(std::uint32_t user, const ClientMessage& m) {
    if (const auto* l = std::get_if<Login>(&m)) {
      online_.push_back(user);
      std::uint32_t members = 0;
      for (const std::uint32_t u : online_)
        members += pop_.group_of(u) == l->group;
      out_[user].push_back(frame(Welcome{l->user, l->group, members}));
    } else if (const auto* p = std::get_if<PrivateMessage>(&m)) {
      out_[p->to].push_back(frame(FromPrivate{user, p->seq, p->payload}));
      out_[user].push_back(frame(Ack{p->seq, 1}));
    } else if (const auto* g = std::get_if<GroupMessage>(&m)) {
      std::uint32_t n = 0;
      for (const std::uint32_t u : online_) {
        if (u == user || pop_.group_of(u) != pop_.group_of(user)) continue;
        out_[u].push_back(frame(FromGroup{user, pop_.group_of(user), g->seq, g->payload}));
        ++n;
      }
      out_[user].push_back(frame(Ack{g->seq, n}));
    }
  }

  Population pop_;
  std::map<std::uint32_t, FrameReader> readers_;
  std::map<std::uint32_t, std::vector<std::string>> out_;
  std::vector<std::uint32_t> online_;
};

// A run of `users` drivers against the relay.
struct World {
  explicit World(const ClientConfig& cfg)
      : factory(cfg), relay(factory.chat_ledger()->population()) {
    for (std::uint32_t i = 0; i < cfg.chat_users; ++i) {
      auto d = factory.make(i);
      drivers.emplace_back(static_cast<ChatDriver*>(d.release()));
      drivers.back()->set_sink(&sinks[drivers.back()->user()]);
    }
  }
  ChatDriver& user(std::uint32_t id) { return *drivers.at(id - 1); }
  void send(ChatDriver& d, bool greeting) {
    ByteBuffer out;
    if (greeting) {
      d.write_greeting(out);
    } else {
      d.write_request(out);
    }
    relay.from_client(d.user(), out.readable());
  }
  // Hands each user what the relay queued for it, whole frames at once.
  std::size_t deliver_all() {
    std::size_t acks = 0;
    for (auto& d : drivers) {
      auto& frames = relay.frames_to(d->user());
      for (const std::string& f : frames)
        acks += d->feed(f);
      frames.clear();
    }
    return acks;
  }
  void login_all() {
    for (auto& d : drivers)
      send(*d, true);
    deliver_all();
  }
  // User `id` writes `count` requests (messages) to the relay.
  void send_requests(std::uint32_t id, int count) {
    for (int i = 0; i < count; ++i)
      send(user(id), false);
  }

  ClientFactory factory;
  Relay relay;
  std::vector<std::unique_ptr<ChatDriver>> drivers;
  std::map<std::uint32_t, Sink> sinks;
};

// Ten users in one group, every message to the group, all logged in.
struct LoggedInGroupOfTen : World {
  LoggedInGroupOfTen() : World(chat_config(10, 10, 0.0)) { login_all(); }
};

TEST(ChatPopulation, GroupsAreConsecutiveIdsAndTheLastMayBeSmaller) {
  const Population pop{101, 25, 10};
  EXPECT_EQ(pop.groups(), 3u);
  EXPECT_EQ(pop.group_of(101), 1u);
  EXPECT_EQ(pop.group_of(110), 1u);
  EXPECT_EQ(pop.group_of(111), 2u);
  EXPECT_EQ(pop.group_of(125), 3u);
  EXPECT_EQ(pop.group_first(3), 121u);
  EXPECT_EQ(pop.group_members(2), 10u);
  EXPECT_EQ(pop.group_members(3), 5u);
  EXPECT_TRUE(pop.contains(125));
  EXPECT_FALSE(pop.contains(126));
  EXPECT_FALSE(pop.contains(100));
}

TEST(ChatChannelTrack, ClassifiesEveryArrival) {
  ChannelTrack t;
  EXPECT_EQ(t.receive(1), ChannelTrack::Verdict::in_order);
  EXPECT_EQ(t.receive(1), ChannelTrack::Verdict::duplicate);
  EXPECT_EQ(t.receive(4), ChannelTrack::Verdict::in_order);  // 2 and 3 now missing
  EXPECT_EQ(t.missing_up_to(4), 2u);
  EXPECT_EQ(t.missing_up_to(2), 1u);
  EXPECT_EQ(t.missing_up_to(6), 4u);  // 2, 3, 5, 6
  EXPECT_EQ(t.receive(3), ChannelTrack::Verdict::late);
  EXPECT_EQ(t.receive(3), ChannelTrack::Verdict::duplicate);
  EXPECT_EQ(t.missing_up_to(4), 1u);
  EXPECT_EQ(t.receive(1000000), ChannelTrack::Verdict::too_far);
}

TEST(ChatClient, LogsInFirstAndWritesOnlyOnceEveryUserIsWelcomed) {
  World w(chat_config(3, 10, 0.0));
  ChatDriver& a = w.user(1);
  EXPECT_FALSE(a.may_write());
  ByteBuffer out;
  EXPECT_EQ(a.write_greeting(out), 11u);
  EXPECT_EQ(bytes_of(out), frame(Login{1, 1}));
  w.relay.from_client(1, out.readable());
  w.deliver_all();
  EXPECT_FALSE(a.may_write()) << "users 2 and 3 are not online yet";
  w.send(w.user(2), true);
  w.send(w.user(3), true);
  EXPECT_EQ(w.deliver_all(), 0u) << "a WELCOME completes no request";
  EXPECT_TRUE(a.may_write());
  EXPECT_EQ(a.outstanding(), 0u);
}

TEST(ChatClient, AWelcomeForSomeoneElseIsAMismatch) {
  World w(chat_config(2, 10, 0.0));
  ByteBuffer out;
  w.user(1).write_greeting(out);
  EXPECT_EQ(w.user(1).feed(frame(Welcome{2, 1, 1})), 0u);
  EXPECT_EQ(w.user(1).error(), ClientError::mismatch);
}

TEST(ChatClient, ACleanRunDeliversEverythingOnceAndInOrder) {
  World w(chat_config(25, 10, 0.3));
  w.login_all();
  std::uint64_t sent = 0;
  for (int round = 0; round < 20; ++round) {
    for (auto& d : w.drivers) {
      d->set_send_time(1000 + round);
      w.send(*d, false);
      ++sent;
    }
    EXPECT_EQ(w.deliver_all(), w.drivers.size());
  }
  const Ledger& ledger = *w.factory.chat_ledger();
  EXPECT_TRUE(ledger.settled());
  EXPECT_GT(ledger.promised(), sent);  // group messages fan out
  EXPECT_EQ(ledger.delivered(), ledger.promised());
  EXPECT_EQ(ledger.reconcile(), 0u);
  std::uint64_t delivered = 0;
  for (auto& [user, sink] : w.sinks) {
    EXPECT_EQ(sink.duplicates, 0);
    EXPECT_EQ(sink.reorders, 0);
    delivered += sink.sent.size();
    for (const std::int64_t t : sink.sent) {
      EXPECT_GE(t, 1000);
      EXPECT_LT(t, 1020);
    }
  }
  EXPECT_EQ(delivered, ledger.delivered());
  for (auto& d : w.drivers)
    EXPECT_EQ(d->error(), ClientError::none);
}

TEST(ChatClient, PrivateMessagesGoToAnotherGroupOnly) {
  World w(chat_config(30, 10, 1.0));
  w.login_all();
  for (int i = 0; i < 200; ++i)
    w.send(w.user(15), false);
  std::size_t received_by_own_group = 0, received = 0;
  for (std::uint32_t u = 1; u <= 30; ++u) {
    const std::size_t n = w.relay.frames_to(u).size();
    if (u == 15) continue;
    received += n;
    if (u >= 11 && u <= 20) received_by_own_group += n;
  }
  EXPECT_EQ(received, 200u);
  EXPECT_EQ(received_by_own_group, 0u);
  w.deliver_all();
  EXPECT_EQ(w.factory.chat_ledger()->reconcile(), 0u);
}

// Everything user 2 is sent in one stream (its WELCOME, its ACKs, the
// deliveries from 1 and 3), fed in two pieces split at every byte, and byte
// by byte: the outcome is the same.
TEST(ChatClient, EverySplitOfTheStreamGivesTheSameOutcome) {
  const ClientConfig cfg = chat_config(3, 10, 0.0);
  World w(cfg);
  w.login_all();
  for (int i = 0; i < 3; ++i) {
    for (auto& d : w.drivers)
      w.send(*d, false);
  }
  std::string stream = frame(Welcome{2, 1, 3});
  for (const std::string& f : w.relay.frames_to(2))
    stream += f;
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    ClientFactory factory(cfg);
    auto d = factory.make(1);
    ByteBuffer out;
    d->write_greeting(out);
    for (int i = 0; i < 3; ++i) {
      // Not yet allowed (users 1 and 3 are not welcomed in this ledger), but
      // the frames are what matters here: the same as in `w`.
      d->write_request(out);
    }
    std::size_t acks = d->feed(std::span<const char>(stream).first(split));
    acks += d->feed(std::span<const char>(stream).subspan(split));
    ASSERT_EQ(d->error(), ClientError::none) << "split " << split;
    EXPECT_EQ(acks, 3u) << "split " << split;
    EXPECT_EQ(static_cast<ChatDriver&>(*d).deliveries(), 6u) << "split " << split;
  }
  ClientFactory factory(cfg);
  auto d = factory.make(1);
  ByteBuffer out;
  d->write_greeting(out);
  for (int i = 0; i < 3; ++i)
    d->write_request(out);
  std::size_t acks = 0;
  for (const char c : stream)
    acks += d->feed(std::span<const char>(&c, 1));
  EXPECT_EQ(acks, 3u);
  EXPECT_EQ(static_cast<ChatDriver&>(*d).deliveries(), 6u);
}

TEST(ChatClient, ADroppedDeliveryIsLost) {
  LoggedInGroupOfTen w;
  w.send_requests(1, 5);
  auto& to4 = w.relay.frames_to(4);
  ASSERT_EQ(to4.size(), 5u);
  to4.erase(to4.begin() + 2);  // user 4 never gets the third message
  w.deliver_all();
  const Ledger& ledger = *w.factory.chat_ledger();
  EXPECT_EQ(ledger.reconcile(), 1u);
  EXPECT_FALSE(ledger.settled());
  EXPECT_EQ(w.sinks[4].reorders, 0) << "a gap is not a reordering";
  EXPECT_EQ(w.user(4).error(), ClientError::none);
}

TEST(ChatClient, TheLastDeliveryDroppedIsLostToo) {
  LoggedInGroupOfTen w;
  w.send_requests(1, 5);
  w.relay.frames_to(9).pop_back();
  w.deliver_all();
  EXPECT_EQ(w.factory.chat_ledger()->reconcile(), 1u);
}

TEST(ChatClient, ADroppedPrivateDeliveryIsLost) {
  World w(chat_config(20, 10, 1.0));
  w.login_all();
  for (int i = 0; i < 30; ++i)
    w.send(w.user(3), false);
  std::uint32_t victim = 0;
  for (std::uint32_t u = 11; u <= 20 && victim == 0; ++u) {
    if (!w.relay.frames_to(u).empty()) victim = u;
  }
  ASSERT_NE(victim, 0u);
  w.relay.frames_to(victim).erase(w.relay.frames_to(victim).begin());
  w.deliver_all();
  EXPECT_EQ(w.factory.chat_ledger()->reconcile(), 1u);
}

TEST(ChatClient, AnAckForFewerRecipientsCountsTheMissingOnesLost) {
  LoggedInGroupOfTen w;
  w.send(w.user(1), false);
  for (std::uint32_t u = 2; u <= 10; ++u)
    w.relay.frames_to(u).clear();  // the server kept it
  w.relay.frames_to(1).back() = frame(Ack{1, 0});
  EXPECT_EQ(w.deliver_all(), 1u);
  EXPECT_EQ(w.user(1).error(), ClientError::none);
  EXPECT_EQ(w.factory.chat_ledger()->reconcile(), 9u);
}

TEST(ChatClient, ADuplicatedDeliveryIsCountedAndNotDeliveredTwice) {
  LoggedInGroupOfTen w;
  w.send_requests(1, 3);
  auto& to5 = w.relay.frames_to(5);
  to5.push_back(to5[1]);
  w.deliver_all();
  EXPECT_EQ(w.sinks[5].duplicates, 1);
  EXPECT_EQ(w.sinks[5].sent.size(), 3u);
  EXPECT_EQ(w.sinks[5].reorders, 0);
  EXPECT_EQ(w.factory.chat_ledger()->reconcile(), 0u);
}

TEST(ChatClient, SwappedDeliveriesAreReorderedNotLost) {
  LoggedInGroupOfTen w;
  w.send_requests(1, 4);
  auto& to7 = w.relay.frames_to(7);
  std::swap(to7[1], to7[2]);
  w.deliver_all();
  EXPECT_EQ(w.sinks[7].reorders, 1);
  EXPECT_EQ(w.sinks[7].duplicates, 0);
  EXPECT_EQ(w.sinks[7].sent.size(), 4u);
  EXPECT_EQ(w.factory.chat_ledger()->reconcile(), 0u);
  EXPECT_TRUE(w.factory.chat_ledger()->settled());
}

TEST(ChatClient, CorruptedPayloadsAndForeignFramesAreMismatches) {
  LoggedInGroupOfTen w;
  w.send(w.user(1), false);
  std::string delivery = w.relay.frames_to(3).at(0);
  delivery.back() ^= 0x20;  // one filler byte changed
  EXPECT_EQ(w.user(3).feed(delivery), 0u);
  EXPECT_EQ(w.user(3).error(), ClientError::mismatch);

  const std::string good = w.relay.frames_to(4).at(0);
  const auto payload = std::span<const char>(good).subspan(2 + 1 + 12);
  // From a group that is not the recipient's.
  EXPECT_EQ(w.user(4).feed(frame(FromGroup{1, 2, 1, payload})), 0u);
  EXPECT_EQ(w.user(4).error(), ClientError::mismatch);
  // Privately from a member of the recipient's own group.
  EXPECT_EQ(w.user(5).feed(frame(FromPrivate{1, 1, payload})), 0u);
  EXPECT_EQ(w.user(5).error(), ClientError::mismatch);
  // From a user outside the run.
  EXPECT_EQ(w.user(6).feed(frame(FromGroup{99, 1, 1, payload})), 0u);
  EXPECT_EQ(w.user(6).error(), ClientError::mismatch);
  // An ERROR frame.
  EXPECT_EQ(w.user(7).feed(frame(Error{ErrorCode::not_logged_in, "not logged in"})), 0u);
  EXPECT_EQ(w.user(7).error(), ClientError::mismatch);
  // Bytes that are no server message at all.
  EXPECT_EQ(w.user(8).feed(std::string("\x01\x00\x01", 3)), 0u);
  EXPECT_EQ(w.user(8).error(), ClientError::mismatch);
}

TEST(ChatClient, AcksMustMatchTheMessagesInOrder) {
  LoggedInGroupOfTen w;
  ByteBuffer out;
  ChatDriver& a = w.user(1);
  a.write_request(out);
  a.write_request(out);
  EXPECT_EQ(a.outstanding(), 2u);
  EXPECT_EQ(a.feed(frame(Ack{2, 9})), 0u);
  EXPECT_EQ(a.error(), ClientError::mismatch);

  ChatDriver& b = w.user(2);
  b.write_request(out);
  EXPECT_EQ(b.feed(frame(Ack{1, 10})), 0u) << "more recipients than the group has";
  EXPECT_EQ(b.error(), ClientError::mismatch);

  ChatDriver& c = w.user(3);
  EXPECT_EQ(c.feed(frame(Ack{1, 1})), 0u) << "an ACK of nothing";
  EXPECT_EQ(c.error(), ClientError::mismatch);
}

TEST(ChatClient, AServerCloseWithMessagesOutstandingIsUnexpected) {
  LoggedInGroupOfTen w;
  EXPECT_EQ(w.user(1).on_peer_closed(), 0u);
  EXPECT_EQ(w.user(1).error(), ClientError::none);
  ByteBuffer out;
  w.user(2).write_request(out);
  w.user(2).on_peer_closed();
  EXPECT_EQ(w.user(2).error(), ClientError::unexpected_close);
}

TEST(ChatClient, ResetGivesUpTheUnackedMessagesAndLogsInAgain) {
  LoggedInGroupOfTen w;
  ByteBuffer out;
  ChatDriver& a = w.user(1);
  a.write_request(out);
  EXPECT_FALSE(w.factory.chat_ledger()->settled());
  a.reset();
  EXPECT_TRUE(w.factory.chat_ledger()->settled());
  EXPECT_EQ(a.outstanding(), 0u);
  EXPECT_FALSE(a.may_write()) << "a new connection logs in again";
  out.clear();
  a.write_greeting(out);
  EXPECT_EQ(bytes_of(out), frame(Login{1, 1}));
  EXPECT_EQ(a.feed(frame(Welcome{1, 1, 10})), 0u);
  EXPECT_TRUE(a.may_write());
}

TEST(ChatClient, TheConfigurationIsChecked) {
  EXPECT_THROW(ClientFactory(chat_config(0, 10, 0.0)), std::invalid_argument);
  EXPECT_THROW(ClientFactory(chat_config(10, 0, 0.0)), std::invalid_argument);
  EXPECT_THROW(ClientFactory(chat_config(10, 10, 0.5)), std::invalid_argument)
      << "one group: nobody to write to privately";
  EXPECT_THROW(ClientFactory(chat_config(20, 10, 1.5)), std::invalid_argument);
  ClientConfig small = chat_config(20, 10, 0.0);
  small.size_min = 11;
  EXPECT_THROW(ClientFactory{small}, std::invalid_argument);
  ClientConfig big = chat_config(20, 10, 0.0);
  big.size_max = 65535;
  EXPECT_THROW(ClientFactory{big}, std::invalid_argument);
  EXPECT_NO_THROW(ClientFactory(chat_config(20, 10, 0.2)));
}

}  // namespace
}  // namespace wsb::proto::chat
