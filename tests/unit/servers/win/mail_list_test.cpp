// The "has mail" list of the Winsock models' chat (kit/mail_list.hpp).
#include "kit/mail_list.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace {

using wsb::kit::MailList;
using wsb::kit::MailTarget;

// A stand-in for a Connection: watch() registers the wake function, which
// the test then calls as an outbox would.
struct FakeConnection {
  void set_mail_wake(void (*fn)(void*) noexcept, void* ctx) noexcept {
    wake = fn;
    context = ctx;
  }
  void post() const noexcept { wake(context); }

  void (*wake)(void*) noexcept = nullptr;
  void* context = nullptr;
};

struct Owner {
  std::atomic<int> wakes{0};
  static void wake(void* self) noexcept { ++static_cast<Owner*>(self)->wakes; }
};

TEST(MailList, WakesTheOwnerOnlyWhenTheListWasEmpty) {
  Owner owner;
  MailList list(&Owner::wake, &owner);
  int entry_a = 0;
  int entry_b = 0;
  MailTarget a(list, &entry_a);
  MailTarget b(list, &entry_b);
  FakeConnection conn_a;
  FakeConnection conn_b;
  a.watch(conn_a);
  b.watch(conn_b);

  conn_a.post();
  conn_b.post();
  conn_a.post();
  EXPECT_EQ(owner.wakes.load(), 1);  // one wake-up for the whole batch

  bool all = true;
  const std::vector<MailTarget*> taken = list.take(all);
  EXPECT_FALSE(all);
  ASSERT_EQ(taken.size(), 2u);  // each target once, however often it was posted to
  EXPECT_TRUE((taken[0] == &a && taken[1] == &b) || (taken[0] == &b && taken[1] == &a));
  // entry() gives back what each target was made with.
  EXPECT_EQ(&a.entry<int>(), &entry_a);
  EXPECT_EQ(&b.entry<int>(), &entry_b);

  conn_b.post();  // the list is empty again: the next post wakes again
  EXPECT_EQ(owner.wakes.load(), 2);
}

TEST(MailList, ADestroyedTargetLeavesTheList) {
  Owner owner;
  MailList list(&Owner::wake, &owner);
  int entry = 0;
  auto target = std::make_unique<MailTarget>(list, &entry);
  FakeConnection conn;
  target->watch(conn);
  conn.post();
  target.reset();
  bool all = true;
  EXPECT_TRUE(list.take(all).empty());
  EXPECT_FALSE(all);
}

TEST(MailList, PostsFromManyThreadsAreAllTaken) {
  Owner owner;
  MailList list(&Owner::wake, &owner);
  constexpr int targets = 16;
  std::vector<int> entries(targets);
  std::vector<std::unique_ptr<MailTarget>> mail;
  std::vector<FakeConnection> conns(targets);
  for (int i = 0; i < targets; ++i) {
    mail.push_back(std::make_unique<MailTarget>(list, &entries[static_cast<std::size_t>(i)]));
    mail.back()->watch(conns[static_cast<std::size_t>(i)]);
  }
  std::vector<std::thread> posters;
  for (int t = 0; t < 4; ++t) {
    posters.emplace_back([&conns] {
      for (int round = 0; round < 100; ++round) {
        for (const FakeConnection& conn : conns)
          conn.post();
      }
    });
  }
  for (std::thread& poster : posters)
    poster.join();
  bool all = true;
  EXPECT_EQ(list.take(all).size(), static_cast<std::size_t>(targets));
  EXPECT_FALSE(all);
  EXPECT_GE(owner.wakes.load(), 1);
}

}  // namespace
