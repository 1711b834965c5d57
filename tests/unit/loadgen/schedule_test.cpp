#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "schedule.hpp"

namespace wsb::loadgen {
namespace {

TEST(Share, SharesDifferByAtMostOneAndCoverEverything) {
  for (std::uint64_t total : {0ULL, 1ULL, 7ULL, 10ULL, 10000ULL, 10001ULL}) {
    for (std::uint64_t workers : {1ULL, 2ULL, 3ULL, 16ULL}) {
      std::uint64_t next = 0;
      for (std::uint64_t i = 0; i < workers; ++i) {
        const Share s = share_of(total, workers, i);
        EXPECT_EQ(s.first, next) << total << "/" << workers << "#" << i;
        EXPECT_TRUE(s.count == total / workers || s.count == total / workers + 1);
        next += s.count;
      }
      EXPECT_EQ(next, total);
    }
  }
}

TEST(OpenSchedule, EachConnectionIsEvenlySpaced) {
  const OpenSchedule s(1000.0, 10);  // 100 requests/s per connection
  EXPECT_DOUBLE_EQ(s.connection_interval_ns(), 10'000'000.0);
  for (std::uint64_t g = 0; g < 10; ++g) {
    for (std::uint64_t k = 1; k < 100; ++k) {
      EXPECT_EQ(s.intended_ns(g, k) - s.intended_ns(g, k - 1), 10'000'000);
    }
  }
}

TEST(OpenSchedule, ConnectionsInterleaveIntoOneEvenStream) {
  // Together the connections' schedules are one stream at exactly the rate:
  // sorted, consecutive intended times are 1/rate apart.
  const OpenSchedule s(2000.0, 7);
  std::vector<std::int64_t> times;
  for (std::uint64_t g = 0; g < 7; ++g) {
    for (std::uint64_t k = 0; k < 300; ++k)
      times.push_back(s.intended_ns(g, k));
  }
  std::sort(times.begin(), times.end());
  for (std::size_t i = 1; i < times.size(); ++i) {
    EXPECT_EQ(times[i] - times[i - 1], 500'000) << i;
  }
  EXPECT_EQ(times.front(), 0);
}

TEST(OpenSchedule, RateBelowConnectionsAndThreadsStillWorks) {
  // wrk2 #8 / #147: integer division made rates below the thread or
  // connection count send nothing. Here 1 request/s over 10 connections means
  // one request every 10 s per connection, phases 1 s apart.
  const OpenSchedule s(1.0, 10);
  EXPECT_EQ(s.intended_ns(0, 0), 0);
  EXPECT_EQ(s.intended_ns(3, 0), 3'000'000'000);
  EXPECT_EQ(s.intended_ns(3, 1), 13'000'000'000);
  // In the first 10 s every connection sends exactly once: 10 requests.
  int in_first_ten_seconds = 0;
  for (std::uint64_t g = 0; g < 10; ++g) {
    for (std::uint64_t k = 0; k < 5; ++k) {
      if (s.intended_ns(g, k) < 10'000'000'000) ++in_first_ten_seconds;
    }
  }
  EXPECT_EQ(in_first_ten_seconds, 10);
  // Fractional rates too: 0.5/s on one connection.
  EXPECT_EQ(OpenSchedule(0.5, 1).intended_ns(0, 3), 6'000'000'000);
}

TEST(OpenSchedule, NoDriftOverLongRuns) {
  // 3 requests/s: the interval is not a whole number of nanoseconds, yet the
  // millionth request is exactly where the rate puts it.
  const OpenSchedule s(3.0, 1);
  EXPECT_EQ(s.intended_ns(0, 3'000'000), 1'000'000'000'000'000);
  EXPECT_EQ(s.intended_ns(0, 1), 333'333'333);
  EXPECT_EQ(s.intended_ns(0, 2), 666'666'667);
}

TEST(ConnectPacer, UnlimitedAlwaysGrants) {
  ConnectPacer p(0.0, 0);
  EXPECT_TRUE(p.unlimited());
  for (int i = 0; i < 1000; ++i)
    EXPECT_TRUE(p.try_acquire(0));
}

TEST(ConnectPacer, GrantsAtTheRate) {
  ConnectPacer p(1000.0, 0);  // one per millisecond
  int granted = 0;
  for (std::int64_t t = 0; t < 100'000'000; t += 10'000) {  // 100 ms in 10 us steps
    if (p.try_acquire(t)) ++granted;
  }
  EXPECT_EQ(granted, 100);
}

TEST(ConnectPacer, NoBurstAfterIdleness) {
  ConnectPacer p(1000.0, 0);
  EXPECT_TRUE(p.try_acquire(0));
  // Idle for a second: one permit now, the next one a full interval later,
  // not a thousand at once.
  EXPECT_TRUE(p.try_acquire(1'000'000'000));
  EXPECT_FALSE(p.try_acquire(1'000'000'000));
  EXPECT_FALSE(p.try_acquire(1'000'500'000));
  EXPECT_EQ(p.next_ns(), 1'001'000'000);
  EXPECT_TRUE(p.try_acquire(1'001'000'000));
}

TEST(ConnectPacer, FirstPermitAtThePhase) {
  ConnectPacer p(10.0, 50'000'000);
  EXPECT_FALSE(p.try_acquire(49'999'999));
  EXPECT_TRUE(p.try_acquire(50'000'000));
  EXPECT_EQ(p.next_ns(), 150'000'000);
}

TEST(ReconnectBackoff, DoublesFromTenMillisecondsToOneSecond) {
  EXPECT_EQ(reconnect_backoff_ns(0), 0);
  EXPECT_EQ(reconnect_backoff_ns(1), 10'000'000);
  EXPECT_EQ(reconnect_backoff_ns(2), 20'000'000);
  EXPECT_EQ(reconnect_backoff_ns(7), 640'000'000);
  EXPECT_EQ(reconnect_backoff_ns(8), 1'000'000'000);
  EXPECT_EQ(reconnect_backoff_ns(1000), 1'000'000'000);
}

}  // namespace
}  // namespace wsb::loadgen
