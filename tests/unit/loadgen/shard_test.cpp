// --shard, --start-at, --tag and --strict-start (loadgen/shard.hpp): the
// parsers, the share an instance takes, and that N shards' open-loop
// schedules are together exactly the unsplit run's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "options.hpp"
#include "schedule.hpp"
#include "shard.hpp"

namespace wsb::loadgen {
namespace {

constexpr std::int64_t kNow = 1'796'619'600'000;  // 2026-12-07T05:00:00Z

TEST(Shard, ParsesIndexOfCount) {
  std::string why;
  const auto s = parse_shard("2/4", &why);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->index, 2u);
  EXPECT_EQ(s->count, 4u);
  for (const char* bad : {"5/4", "4/4", "1/0", "x/4", "1", "-1/4", "1/4/2", "", "1/"}) {
    EXPECT_FALSE(parse_shard(bad, &why)) << bad;
    EXPECT_FALSE(why.empty());
  }
}

TEST(StartAt, ReadsRfc3339UnixMsAndRelative) {
  std::string why;
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
  EXPECT_EQ(parse_start_at("2026-12-07T05:00:00Z", kNow, &why), kNow);
  EXPECT_EQ(parse_start_at("2026-12-07t05:00:00.250z", kNow, &why), kNow + 250);
  EXPECT_EQ(parse_start_at("2026-12-07 06:00:00.5+01:00", kNow, &why), kNow + 500);
  EXPECT_EQ(parse_start_at("2026-12-07T04:30:00-00:30", kNow, &why), kNow);
  EXPECT_EQ(parse_start_at("1796619600123", kNow, &why), kNow + 123);
  EXPECT_EQ(parse_start_at("+5s", kNow, &why), kNow + 5000);
  EXPECT_EQ(parse_start_at("+250ms", kNow, &why), kNow + 250);
  for (const char* bad : {"2026-12-07T05:13:20", "2026-13-07T05:13:20Z", "1796619600", "+", "+fast",
                          "tomorrow", "2026-12-07T05:13:20Zx", "2026-02-30T00:00:00Z", ""}) {
    EXPECT_FALSE(parse_start_at(bad, kNow, &why)) << bad;
  }
}

TEST(Shard, TakesItsShareOfConnectionsRateAndRequests) {
  Options o;
  o.connections = 10;
  o.rate = 1000;
  o.connect_rate = 100;
  o.requests = 7;
  o.mode = Mode::open;
  o.distributed.shard_index = 1;
  o.distributed.shard_count = 4;
  ASSERT_FALSE(apply_shard(o));
  // 10 over 4: 3, 3, 2, 2; shard 1 holds connections 3, 4, 5.
  EXPECT_EQ(o.connections, 3u);
  EXPECT_EQ(o.distributed.first_connection, 3u);
  EXPECT_DOUBLE_EQ(o.rate, 300.0);
  EXPECT_DOUBLE_EQ(o.connect_rate, 30.0);
  EXPECT_EQ(o.requests, 2u);
  EXPECT_EQ(o.distributed.total_connections, 10u);
  EXPECT_DOUBLE_EQ(o.distributed.total_rate, 1000.0);
}

TEST(Shard, RefusesAnEmptyShare) {
  Options o;
  o.connections = 3;
  o.distributed.shard_index = 3;
  o.distributed.shard_count = 4;
  EXPECT_TRUE(apply_shard(o));
}

TEST(Shard, ShardsTogetherFollowTheUnsplitSchedule) {
  // Every (connection, k) of the unsplit run is sent by exactly one shard at
  // exactly the unsplit time, so N instances do not send in lock-step.
  const double rate = 1000;
  const std::uint32_t connections = 10;
  const OpenSchedule whole(rate, connections);
  std::vector<std::int64_t> expected, merged;
  for (std::uint64_t g = 0; g < connections; ++g)
    for (std::uint64_t k = 0; k < 20; ++k)
      expected.push_back(whole.intended_ns(g, k));
  for (std::uint32_t i = 0; i < 4; ++i) {
    Options o;
    o.connections = connections;
    o.rate = rate;
    o.mode = Mode::open;
    o.distributed.shard_index = i;
    o.distributed.shard_count = 4;
    ASSERT_FALSE(apply_shard(o));
    // What Worker builds: the whole run's schedule, its own connections.
    const OpenSchedule schedule(o.distributed.total_rate, o.distributed.total_connections);
    for (std::uint64_t c = 0; c < o.connections; ++c)
      for (std::uint64_t k = 0; k < 20; ++k)
        merged.push_back(schedule.intended_ns(o.distributed.first_connection + c, k));
    // This shard alone keeps its own rate: its connections' share of the whole.
    EXPECT_NEAR(o.rate, rate * o.connections / connections, 1e-9);
  }
  std::sort(expected.begin(), expected.end());
  std::sort(merged.begin(), merged.end());
  EXPECT_EQ(merged, expected);
  // Shard 1 starts 3 slots (3/10 of the per-connection interval) after shard 0.
  Options o;
  o.connections = connections;
  o.distributed.shard_index = 1;
  o.distributed.shard_count = 4;
  ASSERT_FALSE(apply_shard(o));
  EXPECT_EQ(whole.intended_ns(o.distributed.first_connection, 0), 3'000'000);
}

TEST(Distributed, FinishChecksTheStartAndTag) {
  Options o;
  DistributedTexts t;
  t.shard = "1/2";
  t.start_at = "+2s";
  ASSERT_FALSE(finish_distributed(o, t, kNow, "host a"));
  EXPECT_EQ(o.distributed.tag, "host_a:1");
  EXPECT_EQ(o.distributed.start_at_ms, kNow + 2000);

  Options past;
  t.start_at = "2026-12-07T04:59:50Z";  // 10 s ago
  const auto why = finish_distributed(past, t, kNow, "h");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("in the past"), std::string::npos) << *why;
  Options warm;
  warm.warmup = std::chrono::seconds(15);  // within the warmup: allowed, late
  EXPECT_FALSE(finish_distributed(warm, t, kNow, "h"));

  Options strict;
  strict.distributed.strict_start = true;
  EXPECT_TRUE(finish_distributed(strict, DistributedTexts{}, kNow, "h"));
  Options tagged;
  tagged.distributed.tag = "a,b";
  EXPECT_TRUE(finish_distributed(tagged, DistributedTexts{}, kNow, "h"));
}

}  // namespace
}  // namespace wsb::loadgen
