// What the POSIX event loops share around their loop (kit/event_loop.hpp):
// the poll timeout of a wait, the loop's two timers, and the dense list of
// connections, over real loopback sockets.
#include "kit/event_loop.hpp"

#include <gtest/gtest.h>

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
  EXPECT_EQ(frame->online(), 2u);
  list.close_all(shard);
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(frame->online(), 0u);
  EXPECT_EQ(frame->totals().closed, 3u);
  EXPECT_EQ(server::test::receive_all(a.client), "") << "the client sees the close";
}

}  // namespace
}  // namespace wsb::kit
