// What the POSIX event loops share around their loop (kit/event_loop.hpp):
// the poll timeout of a wait, the loop's two timers, and the dense list of
// connections, over real loopback sockets.
#include "kit/event_loop.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include <poll.h>

#include "kit/loop_listener.hpp"
#include "kit/loop_mail.hpp"

#include <chrono>
#include <optional>
#include <thread>

#include "../../server/test_support.hpp"
#include "platform/net.hpp"
#include "server/accept_policy.hpp"

namespace wsb::kit {
namespace {

using namespace std::chrono_literals;
using server::test::make_frame;

TEST(TimeoutMs, RoundsUpAndMeansNoTimeoutForNullopt) {
  EXPECT_EQ(timeout_ms(std::nullopt), -1);
  EXPECT_EQ(timeout_ms(LoopTimers::Clock::duration::zero()), 0);
  EXPECT_EQ(timeout_ms(1us), 1);
  EXPECT_EQ(timeout_ms(1500us), 2);
  EXPECT_EQ(timeout_ms(250ms), 250);
}

TEST(LoopTimers, WithoutIdleTimeoutOrPauseThereIsNothingToWaitFor) {
  server::Options options;
  LoopTimers timers(options);
  int sweeps = 0;
  int resumes = 0;
  EXPECT_EQ(timers.run_due([&](auto) { ++sweeps; }, [&] { ++resumes; }), std::nullopt);
  EXPECT_EQ(sweeps + resumes, 0);
  EXPECT_FALSE(timers.accept_paused());
}

TEST(LoopTimers, AnAcceptPauseEndsOnceWithOneResume) {
  server::Options options;
  LoopTimers timers(options);
  timers.pause_accepting();
  EXPECT_TRUE(timers.accept_paused());
  int resumes = 0;
  const auto wait = timers.run_due([](auto) {}, [&] { ++resumes; });
  ASSERT_TRUE(wait.has_value());
  EXPECT_LE(*wait, server::AcceptPolicy::pause_for);
  EXPECT_EQ(resumes, 0) << "not before the pause has passed";
  std::this_thread::sleep_for(server::AcceptPolicy::pause_for + 10ms);
  EXPECT_EQ(timers.run_due([](auto) {}, [&] { ++resumes; }), std::nullopt);
  EXPECT_EQ(resumes, 1);
  EXPECT_FALSE(timers.accept_paused());
  timers.run_due([](auto) {}, [&] { ++resumes; });
  EXPECT_EQ(resumes, 1) << "resumed once only";
}

TEST(LoopTimers, TheIdleSweepIsDueEveryIntervalAndMissedOnesAreNotReplayed) {
  server::Options options;
  options.idle_timeout = 8ms;  // a sweep every 1 ms (idle_sweep_interval)
  LoopTimers timers(options);
  int sweeps = 0;
  const auto wait = timers.run_due([&](auto) { ++sweeps; }, [] {});
  ASSERT_TRUE(wait.has_value());
  EXPECT_LE(*wait, 1ms);
  const int before = sweeps;
  std::this_thread::sleep_for(5ms);  // several intervals pass
  timers.run_due([&](auto) { ++sweeps; }, [] {});
  EXPECT_EQ(sweeps, before + 1) << "one sweep per call, however many intervals passed";
}

TEST(ConnectionList, AClosedEntryIsReplacedByTheLastAndEveryCloseIsCounted) {
  auto frame = make_frame({"--quiet"});
  server::StatsShard& shard = frame->shard();
  ConnectionList list(*frame);
  server::test::LoopbackPair a;
  server::test::LoopbackPair b;
  server::test::LoopbackPair c;
  for (server::test::LoopbackPair* pair : {&a, &b, &c}) {
    ASSERT_TRUE(admit_accepted(*frame, shard, pair->server));
    list.add(pair->server, shard);
  }
  const int last = c.server;
  a.server = b.server = c.server = net::invalid_socket;  // the list closes them
  ASSERT_EQ(list.size(), 3u);
  list.close(0, shard);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].fd, last);
  EXPECT_EQ(list.find(last), std::optional<std::size_t>(0)) << "found at its new index";
  EXPECT_EQ(list.find(a.client), std::nullopt);
  EXPECT_EQ(frame->online(), 2u);
  list.close_all(shard);
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(frame->online(), 0u);
  EXPECT_EQ(frame->totals().closed, 3u);
  EXPECT_EQ(server::test::receive_all(a.client), "") << "the client sees the close";
}

struct TestSlot {
  std::optional<server::Connection> conn;
  int mark = 0;
};

TEST(DescriptorTable, FindsAConnectionByItsDescriptorAndClosesIt) {
  auto frame = make_frame({"--quiet"});
  server::StatsShard& shard = frame->shard();
  DescriptorTable<TestSlot> table(*frame);
  server::test::LoopbackPair a;
  server::test::LoopbackPair b;
  for (server::test::LoopbackPair* pair : {&a, &b}) {
    ASSERT_TRUE(admit_accepted(*frame, shard, pair->server));
    TestSlot* slot = table.add(pair->server, shard);
    ASSERT_NE(slot, nullptr);
    slot->mark = pair->server;
  }
  EXPECT_EQ(table[a.server].mark, a.server);
  EXPECT_EQ(table[b.server].mark, b.server);
  std::vector<int> seen;
  table.for_each([&](int fd, TestSlot& slot) {
    EXPECT_EQ(slot.mark, fd);
    seen.push_back(fd);
  });
  EXPECT_EQ(seen.size(), 2u);
  const int closed = a.server;
  table.close(closed, shard);
  a.server = net::invalid_socket;  // the table closed it
  EXPECT_FALSE(table[closed].conn.has_value());
  EXPECT_EQ(frame->online(), 1u);
  seen.clear();
  table.for_each([&](int fd, TestSlot&) { seen.push_back(fd); });
  EXPECT_EQ(seen, std::vector<int>{b.server}) << "a closed slot is not visited";
  EXPECT_EQ(server::test::receive_all(a.client), "") << "the client sees the close";
  table.close(b.server, shard);
  b.server = net::invalid_socket;
  EXPECT_EQ(frame->online(), 0u);
}

TEST(LoopListener, APassTakesEveryWaitingClientAndEndsAtEagain) {
  auto frame = make_frame({"--quiet", "--port", "0"});
  server::StatsShard& shard = frame->shard();
  LoopListener listener(*frame, frame->open_listener({.nonblocking = true}));
  LoopTimers timers(frame->options());
  std::vector<net::socket_t> clients;
  for (int i = 0; i < 3; ++i)
    clients.push_back(net::connect_to(frame->listen_endpoint()));
  // The three connections are established (queued) once connect returned.
  std::vector<int> taken;
  const AcceptPass pass = listener.accept_pass(shard, timers, [&](int fd) { taken.push_back(fd); });
  EXPECT_EQ(pass.accepted, 3);
  EXPECT_EQ(taken.size(), 3u);
  EXPECT_FALSE(pass.failed);
  EXPECT_FALSE(pass.paused);
  EXPECT_FALSE(timers.accept_paused());
  const AcceptPass empty =
      listener.accept_pass(shard, timers, [&](int fd) { taken.push_back(fd); });
  EXPECT_EQ(empty.accepted, 0) << "nobody waiting: EAGAIN ends the pass";
  for (const int fd : taken)
    net::close_socket(fd);
  for (const net::socket_t c : clients)
    net::close_socket(c);
}

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

TEST(LoopMail, AWakeNotesTheDescriptorAndRingsOnceUntilTaken) {
  LoopMail mail;
  EXPECT_FALSE(mail.pending());
  EXPECT_FALSE(readable(mail.fd()));
  void* seven = mail.address(7);
  void* nine = mail.address(9);
  EXPECT_EQ(mail.address(7), seven) << "one address per descriptor, reused";
  LoopMail::wake(seven);
  LoopMail::wake(nine);
  LoopMail::wake(seven);
  EXPECT_TRUE(mail.pending());
  EXPECT_TRUE(readable(mail.fd()));
  std::vector<int> fds;
  EXPECT_FALSE(mail.take(fds)) << "no room was signalled";
  EXPECT_EQ(fds, (std::vector<int>{7, 9, 7}));
  EXPECT_FALSE(mail.pending());
  EXPECT_FALSE(readable(mail.fd())) << "take() drains the eventfd";
  EXPECT_FALSE(mail.take(fds));
  EXPECT_TRUE(fds.empty());
}

TEST(LoopMail, RoomIsSignalledOnceAndWakesTheLoop) {
  LoopMail mail;
  mail.wake_for_room();
  mail.wake_for_room();
  EXPECT_TRUE(readable(mail.fd()));
  std::vector<int> fds;
  EXPECT_TRUE(mail.take(fds));
  EXPECT_TRUE(fds.empty());
  EXPECT_FALSE(mail.take(fds)) << "taken already";
}

TEST(LoopMail, APostFromAnotherThreadIsNeverMissed) {
  LoopMail mail;
  void* address = mail.address(3);
  constexpr int posts = 20000;
  std::thread poster([&] {
    for (int i = 0; i < posts; ++i)
      LoopMail::wake(address);
  });
  std::size_t taken = 0;
  std::vector<int> fds;
  const auto limit = std::chrono::steady_clock::now() + 10s;
  while (taken < posts && std::chrono::steady_clock::now() < limit) {
    pollfd p{mail.fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) == 1) {
      mail.take(fds);
      taken += fds.size();
    }
  }
  poster.join();
  EXPECT_EQ(taken, static_cast<std::size_t>(posts)) << "a post was left without a wake-up";
}

}  // namespace
}  // namespace wsb::kit
