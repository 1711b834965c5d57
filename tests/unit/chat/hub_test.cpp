// The chat registry (chat/hub.hpp): logins, groups, delivery, counts, and the
// order of a sender's messages at each recipient when many threads send.
#include "chat/hub.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test_mailbox.hpp"

namespace {

using wsb::chat::Hub;
using wsb::chat::test::TestMailbox;

std::span<const char> bytes(const std::string& s) {
  return {s.data(), s.size()};
}

TEST(ChatHub, LoginCountsTheGroupAndRefusesAnIdInUse) {
  Hub hub;
  TestMailbox a, b, c;
  EXPECT_EQ(hub.login(1, 10, a), 1u);
  EXPECT_EQ(hub.login(2, 10, b), 2u);
  EXPECT_EQ(hub.login(3, 11, c), 1u);
  EXPECT_EQ(hub.login(1, 11, c), std::nullopt);
  hub.logout(1);
  EXPECT_EQ(hub.login(1, 11, a), 2u);  // the id is free again, in another group
  EXPECT_EQ(hub.counts().online, 3u);
  EXPECT_EQ(hub.counts().online_peak, 3u);
}

TEST(ChatHub, GroupMessagesReachEveryOtherOnlineMember) {
  Hub hub;
  TestMailbox a, b, c, other;
  hub.login(1, 10, a);
  hub.login(2, 10, b);
  hub.login(3, 10, c);
  hub.login(4, 20, other);
  EXPECT_EQ(hub.send_group(1, 10, bytes("m1")), 2u);
  EXPECT_TRUE(a.frames().empty());
  EXPECT_EQ(b.frames(), std::vector<std::string>{"m1"});
  EXPECT_EQ(c.frames(), std::vector<std::string>{"m1"});
  EXPECT_TRUE(other.frames().empty());
  hub.logout(2);
  EXPECT_EQ(hub.send_group(1, 10, bytes("m2")), 1u);
  EXPECT_EQ(b.frames().size(), 1u);
  const auto counts = hub.counts();
  EXPECT_EQ(counts.messages, 2u);
  EXPECT_EQ(counts.deliveries, 3u);
}

TEST(ChatHub, PrivateMessagesGoToOneUserAndZeroWhenOffline) {
  Hub hub;
  TestMailbox a, b;
  hub.login(1, 10, a);
  hub.login(2, 20, b);
  EXPECT_EQ(hub.send_private(2, bytes("p")), 1u);
  EXPECT_EQ(b.frames(), std::vector<std::string>{"p"});
  EXPECT_EQ(hub.send_private(99, bytes("p")), 0u);
  hub.logout(2);
  EXPECT_EQ(hub.send_private(2, bytes("p")), 0u);
}

TEST(ChatHub, ARefusingMailboxIsNotCountedAndTheOthersGoOn) {
  Hub hub;
  TestMailbox sender, slow(3), fast;
  hub.login(1, 10, sender);
  hub.login(2, 10, slow);
  hub.login(3, 10, fast);
  EXPECT_EQ(hub.send_group(1, 10, bytes("abc")), 2u);
  EXPECT_EQ(hub.send_group(1, 10, bytes("def")), 1u);  // slow holds 3 bytes: refused
  EXPECT_EQ(fast.frames().size(), 2u);
  EXPECT_EQ(hub.counts().undelivered, 1u);
}

// Every sender's messages arrive at every recipient in the order sent, with
// each sender in its own thread and all sending at once.
TEST(ChatHub, ConcurrentSendersKeepTheirOrderAtEachRecipient) {
  constexpr std::uint32_t users = 8;
  constexpr std::uint32_t per_sender = 2000;
  Hub hub;
  std::vector<TestMailbox> boxes(users);
  for (std::uint32_t u = 0; u < users; ++u)
    hub.login(u, 1, boxes[u]);
  std::vector<std::thread> senders;
  for (std::uint32_t u = 0; u < users; ++u) {
    senders.emplace_back([&hub, u] {
      for (std::uint32_t seq = 0; seq < per_sender; ++seq) {
        char frame[8];
        std::memcpy(frame, &u, 4);
        std::memcpy(frame + 4, &seq, 4);
        hub.send_group(u, 1, std::span<const char>(frame, 8));
      }
    });
  }
  for (auto& t : senders)
    t.join();
  for (std::uint32_t r = 0; r < users; ++r) {
    std::vector<std::uint32_t> next(users, 0);
    const auto frames = boxes[r].frames();
    ASSERT_EQ(frames.size(), (users - 1) * per_sender);
    for (const std::string& f : frames) {
      std::uint32_t from = 0, seq = 0;
      std::memcpy(&from, f.data(), 4);
      std::memcpy(&seq, f.data() + 4, 4);
      ASSERT_NE(from, r);
      ASSERT_EQ(seq, next[from]) << "recipient " << r << ", sender " << from;
      ++next[from];
    }
  }
  EXPECT_EQ(hub.counts().deliveries, std::uint64_t{users} * (users - 1) * per_sender);
}

}  // namespace
