// The chat core as every model uses it: Connections with --protocol chat,
// their Outbox and its wake function, the slow-consumer bound, and the
// --when-full queue's admission (server/connection.hpp, server/outbox.hpp,
// server/admission.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "proto/chat_wire.hpp"
#include "server/connection.hpp"
#include "server/frame.hpp"
#include "server/outbox.hpp"
#include "test_support.hpp"

namespace wsb::server {
namespace {

namespace wire = proto::chat;
using test::make_frame;

std::string bytes_of(ByteBuffer& b) {
  return std::string(b.readable().data(), b.size());
}

template <class Message>
void send(Connection& c, const Message& m) {
  ByteBuffer b;
  wire::write(b, m);
  c.on_received(b.readable());
}

// Every server message waiting on `c`, read and consumed.
std::vector<wire::ServerMessage> drain(Connection& c) {
  std::vector<wire::ServerMessage> out;
  wire::FrameReader reader;
  const std::span<const char> p = c.pending();
  reader.feed(p, [&](std::span<const char> body) {
    auto m = wire::read_server(body);
    EXPECT_TRUE(m.has_value());
    if (m) out.push_back(*m);
    return true;
  });
  c.on_sent(p.size());
  return out;
}

const char payload[] = "hello";
std::span<const char> hello() {
  return {payload, 5};
}

TEST(ChatConnection, GroupMessageReachesTheOthersThroughTheirOutboxes) {
  auto frame = make_frame({"--quiet", "--protocol", "chat"});
  StatsShard& shard = frame->shard();
  Connection a(*frame, shard), b(*frame, shard), c(*frame, shard);
  int woken = 0;
  const auto wake = [](void* n) { ++*static_cast<int*>(n); };
  for (Connection* x : {&a, &b, &c})
    x->set_mail_wake(wake, &woken);
  send(a, wire::Login{1, 7});
  send(b, wire::Login{2, 7});
  send(c, wire::Login{3, 8});
  EXPECT_EQ(drain(a).size(), 1U);  // WELCOME
  EXPECT_EQ(drain(b).size(), 1U);
  EXPECT_EQ(drain(c).size(), 1U);

  send(a, wire::GroupMessage{42, hello()});
  EXPECT_EQ(woken, 1) << "b's outbox went from empty to full once";
  const auto to_a = drain(a);
  ASSERT_EQ(to_a.size(), 1U);
  EXPECT_EQ(std::get<wire::Ack>(to_a[0]).recipients, 1U);
  EXPECT_FALSE(b.want_write()) << "mail stays in the outbox until the owner collects it";
  EXPECT_TRUE(b.collect_mail());
  const auto to_b = drain(b);
  ASSERT_EQ(to_b.size(), 1U);
  const auto& m = std::get<wire::FromGroup>(to_b[0]);
  EXPECT_EQ(m.from, 1U);
  EXPECT_EQ(m.group, 7U);
  EXPECT_EQ(m.seq, 42U);
  EXPECT_FALSE(c.collect_mail()) << "another group's member got nothing";
  EXPECT_EQ(frame->hub().counts().deliveries, 1U);
}

TEST(ChatConnection, OnSentAndOnReceivedCollectByThemselves) {
  auto frame = make_frame({"--quiet", "--protocol", "chat"});
  StatsShard& shard = frame->shard();
  Connection a(*frame, shard), b(*frame, shard);
  send(a, wire::Login{1, 0});
  send(b, wire::Login{2, 0});
  drain(a);
  // b's WELCOME is still unsent: the private message waits in the outbox and
  // joins the reply queue once the WELCOME went out.
  send(a, wire::PrivateMessage{2, 1, hello()});
  const auto first = drain(b);
  ASSERT_EQ(first.size(), 1U);
  EXPECT_TRUE(std::holds_alternative<wire::Welcome>(first[0]));
  const auto second = drain(b);
  ASSERT_EQ(second.size(), 1U);
  EXPECT_EQ(std::get<wire::FromPrivate>(second[0]).from, 1U);
}

TEST(ChatConnection, ASlowConsumerIsDroppedAndTheSenderGoesOn) {
  auto frame = make_frame({"--quiet", "--protocol", "chat", "--max-pending", "64"});
  StatsShard& shard = frame->shard();
  Connection sender(*frame, shard), reader(*frame, shard);
  send(sender, wire::Login{1, 0});
  send(reader, wire::Login{2, 0});
  drain(sender);
  std::uint32_t acked_to_one = 0;
  for (std::uint32_t seq = 0; seq < 20; ++seq) {
    send(sender, wire::GroupMessage{seq, hello()});
    for (const auto& m : drain(sender))
      acked_to_one += std::get<wire::Ack>(m).recipients;
  }
  EXPECT_FALSE(sender.finished());
  EXPECT_GT(acked_to_one, 0U);
  EXPECT_LT(acked_to_one, 20U) << "posts past the bound are refused";
  EXPECT_TRUE(reader.collect_mail());
  EXPECT_TRUE(reader.finished());
  EXPECT_EQ(reader.close_reason(), "slow_consumer");
  EXPECT_EQ(frame->totals().errors[static_cast<std::size_t>(ErrorClass::slow_consumer)], 1U);
  // Dropped means offline: the id is free again.
  Connection again(*frame, shard);
  send(again, wire::Login{2, 0});
  const auto welcome = drain(again);
  ASSERT_EQ(welcome.size(), 1U);
  EXPECT_TRUE(std::holds_alternative<wire::Welcome>(welcome[0]));
}

TEST(ChatConnection, PostsFromOtherThreadsArriveInOrder) {
  auto frame = make_frame({"--quiet", "--protocol", "chat", "--max-pending", "16m"});
  StatsShard& shard = frame->shard();
  Connection reader(*frame, shard);
  std::atomic<int> wakes{0};
  reader.set_mail_wake([](void* n) { static_cast<std::atomic<int>*>(n)->fetch_add(1); }, &wakes);
  send(reader, wire::Login{100, 0});
  drain(reader);
  constexpr int senders = 4, messages = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < senders; ++t) {
    threads.emplace_back([&, t] {
      StatsShard& own = frame->shard();
      Connection s(*frame, own);
      send(s, wire::Login{static_cast<std::uint32_t>(t + 1), 1});
      for (std::uint32_t seq = 0; seq < messages; ++seq)
        send(s, wire::PrivateMessage{100, seq, hello()});
    });
  }
  for (auto& t : threads)
    t.join();
  std::vector<std::uint32_t> next(senders + 1, 0);
  reader.collect_mail();
  int received = 0;
  for (const auto& m : drain(reader)) {
    const auto& p = std::get<wire::FromPrivate>(m);
    EXPECT_EQ(p.seq, next[p.from]++) << "from " << p.from;
    ++received;
  }
  EXPECT_EQ(received, senders * messages);
  EXPECT_GE(wakes.load(), 1);
}

TEST(Outbox, RefusesEverythingOnceOverflowedAndWakesTheOwner) {
  Outbox box(10);
  int woken = 0;
  box.set_wake([](void* n) { ++*static_cast<int*>(n); }, &woken);
  const char six[] = "abcdef";
  EXPECT_TRUE(box.post({six, 6}));
  EXPECT_EQ(woken, 1);
  EXPECT_TRUE(box.has_mail());
  EXPECT_FALSE(box.post({six, 6}));
  EXPECT_EQ(woken, 2) << "an overflow wakes the owner, to drop the connection";
  EXPECT_TRUE(box.overflowed());
  EXPECT_FALSE(box.has_mail()) << "what it held is freed";
  EXPECT_FALSE(box.post({six, 1}));
  ByteBuffer out;
  EXPECT_EQ(box.collect(out), 0U);
}

TEST(Outbox, CollectAppendsAfterWhatIsQueued) {
  Outbox box(100);
  ByteBuffer out;
  out.append(std::string_view("12"));
  const char abc[] = "abc";
  box.post({abc, 3});
  box.post({abc, 2});
  EXPECT_EQ(box.collect(out), 5U);
  EXPECT_EQ(bytes_of(out), "12abcab");
  EXPECT_FALSE(box.has_mail());
}

TEST(Admission, QueueModeHasNoRoomAtTheLimitAndMakesRoomOnRelease) {
  auto frame = make_frame({"--quiet", "--max-connections", "2", "--when-full", "queue"});
  StatsShard& shard = frame->shard();
  std::atomic<int> hooks{0};
  frame->set_room_hook([&] { hooks.fetch_add(1); });
  EXPECT_TRUE(frame->has_room());
  ASSERT_TRUE(frame->admit(shard));
  ASSERT_TRUE(frame->admit(shard));
  EXPECT_FALSE(frame->has_room());
  std::atomic<bool> got_room{false};
  std::thread waiter([&] { got_room = frame->wait_for_room(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_FALSE(got_room.load());
  frame->release(shard);
  waiter.join();
  EXPECT_TRUE(got_room.load());
  EXPECT_EQ(hooks.load(), 1);
  EXPECT_TRUE(frame->has_room());
  frame->release(shard);
  EXPECT_EQ(hooks.load(), 1) << "only a release from the limit makes room";
  frame->note_waited(std::chrono::milliseconds(5));
  frame->note_waited(std::chrono::milliseconds(3));
  testing::internal::CaptureStdout();
  frame->finish();
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("queue.waited: 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("queue.longest_wait_ms: 5.0\n"), std::string::npos) << out;
}

TEST(Admission, RefuseModeAlwaysHasRoom) {
  auto frame = make_frame({"--quiet", "--max-connections", "1"});
  StatsShard& shard = frame->shard();
  ASSERT_TRUE(frame->admit(shard));
  EXPECT_TRUE(frame->has_room()) << "refuse mode: the model accepts and the admission refuses";
  EXPECT_FALSE(frame->admit(shard));
}

TEST(Admission, WaitForRoomEndsWithAStop) {
  auto queued = make_frame({"--quiet", "--max-connections", "1", "--when-full", "queue"});
  ASSERT_TRUE(queued->admit(queued->shard()));
  queued->request_stop();
  EXPECT_FALSE(queued->wait_for_room());
}

TEST(Admission, WhenFullRejectsOtherWords) {
  Frame frame("test", "A model for the unit tests.", 1);
  const auto parsed = test::parse_captured(frame, {"--when-full", "wait"});
  EXPECT_EQ(parsed.exit_code, 2);
}

}  // namespace
}  // namespace wsb::server
