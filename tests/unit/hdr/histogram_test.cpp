// wsb::hdr::Histogram: configuration, equivalence ranges, recording, the Java
// rules for min/max/mean/percentiles, coordinated-omission correction,
// combining and value semantics. Known answers come from the reference spec
// (/work/shared/reference/hdrhistogram.md) and from the Java jar.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "hdr/histogram.hpp"

namespace {

using wsb::hdr::Histogram;
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

struct Config {
  std::int64_t lowest;
  std::int64_t highest;
  int sigfigs;
};

TEST(HdrHistogram, ConfigurationMatchesJava) {
  // S = 1..5 gives sub-bucket counts 2^5, 2^8, 2^11, 2^15, 2^18.
  const int expected_sub_buckets[] = {32, 256, 2048, 32768, 262144};
  for (int s = 1; s <= 5; ++s) {
    EXPECT_EQ(Histogram(1, 3'600'000'000, s).sub_bucket_count(), expected_sub_buckets[s - 1]) << s;
  }
  // The spec's example, printed by Java as "Buckets = 22, SubBuckets = 2048".
  const Histogram h(1, 3'600'000'000, 3);
  EXPECT_EQ(h.bucket_count(), 22);
  EXPECT_EQ(h.counts_length(), 23552u);
  // The load generator's configuration.
  const Histogram latency(wsb::hdr::kLatencyLowestNs, wsb::hdr::kLatencyHighestNs,
                          wsb::hdr::kLatencySignificantFigures);
  EXPECT_EQ(latency.bucket_count(), 32);
  EXPECT_EQ(latency.counts_length(), 33u * 1024u);
  // Lowest 1000 -> unit magnitude floor(log2(1000)) = 9.
  EXPECT_EQ(Histogram(1000, 1'000'000'000, 2).unit_magnitude(), 9);
  // The largest histogram Java allows still works.
  const Histogram widest(1, kInt64Max, 2);
  EXPECT_EQ(widest.highest_recordable_value(), kInt64Max);
}

TEST(HdrHistogram, InvalidConfigurationThrowsWithReason) {
  auto message = [](std::int64_t l, std::int64_t h, int s) -> std::string {
    try {
      Histogram bad(l, h, s);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message(0, 100, 3).find("lowest discernible value must be >= 1"), std::string::npos);
  EXPECT_NE(message(-5, 100, 3).find(">= 1"), std::string::npos);
  EXPECT_NE(message(10, 19, 3).find(">= 2 * lowest"), std::string::npos);
  EXPECT_NE(message(kInt64Max, kInt64Max, 3).find(">= 2 * lowest"), std::string::npos);
  EXPECT_NE(message(1, 100, 0).find("between 1 and 5"), std::string::npos);
  EXPECT_NE(message(1, 100, 6).find("between 1 and 5"), std::string::npos);
  // unit magnitude 45 + sub-bucket magnitude 18 > 62.
  EXPECT_NE(message(std::int64_t{1} << 45, kInt64Max, 5).find("cannot represent"),
            std::string::npos);
  EXPECT_NO_THROW(Histogram(10, 20, 1));
}

TEST(HdrHistogram, EquivalenceRangesKnownAnswer) {
  const Histogram h(1, 3'600'000'000, 3);
  EXPECT_EQ(h.index_of(10000), 4322u);
  EXPECT_EQ(h.lowest_equivalent(10000), 10000);
  EXPECT_EQ(h.highest_equivalent(10000), 10007);
  EXPECT_EQ(h.median_equivalent(10000), 10004);
  EXPECT_EQ(h.size_of_equivalent_range(10000), 8);
  EXPECT_EQ(h.next_non_equivalent(10000), 10008);
  EXPECT_TRUE(h.values_are_equivalent(10000, 10007));
  EXPECT_FALSE(h.values_are_equivalent(10007, 10008));
  // Below 2048 every value has its own counter.
  for (std::int64_t v = 0; v < 2048; ++v) {
    ASSERT_EQ(h.size_of_equivalent_range(v), 1) << v;
    ASSERT_EQ(h.index_of(v), static_cast<std::size_t>(v));
  }
  EXPECT_EQ(h.size_of_equivalent_range(2048), 2);
}

TEST(HdrHistogram, IndexAndValueAreInverse) {
  for (const Config& c : {Config{1, 3'600'000'000'000, 3}, Config{7, 10'000'000, 2},
                          Config{1000, 1'000'000'000, 5}, Config{1, 1000, 1}}) {
    const Histogram h(c.lowest, c.highest, c.sigfigs);
    for (std::size_t i = 0; i < h.counts_length(); ++i) {
      const std::int64_t v = h.value_at_index(i);
      ASSERT_EQ(h.index_of(v), i);
      ASSERT_EQ(h.lowest_equivalent(v), v);
      if (i + 1 < h.counts_length()) {
        ASSERT_EQ(h.highest_equivalent(v) + 1, h.value_at_index(i + 1));
      }
    }
  }
}

TEST(HdrHistogram, RecordRejectsWhatDoesNotFitAndChangesNothing) {
  Histogram h(1, 3'600'000'000, 3);
  const std::int64_t top = h.highest_recordable_value();
  EXPECT_GE(top, 3'600'000'000);
  EXPECT_TRUE(h.record(top));
  EXPECT_FALSE(h.record(top + 1));
  EXPECT_FALSE(h.record(-1));
  EXPECT_FALSE(h.record(kInt64Min));
  EXPECT_FALSE(h.record(kInt64Max));
  EXPECT_FALSE(h.record(5, -1));
  EXPECT_EQ(h.total_count(), 1);
  EXPECT_EQ(h.max(), top);
  EXPECT_EQ(h.count_at(top), 1);
  // A zero count is accepted and changes nothing (Java would raise the
  // maximum; see histogram.hpp).
  Histogram z(1, 1000, 2);
  EXPECT_TRUE(z.record(77, 0));
  EXPECT_EQ(z.total_count(), 0);
  EXPECT_EQ(z.max(), 0);
}

TEST(HdrHistogram, MinMaxMeanFollowJavaRules) {
  Histogram empty(1, 3'600'000'000, 3);
  EXPECT_EQ(empty.min(), 0);  // C would return INT64_MAX
  EXPECT_EQ(empty.max(), 0);
  EXPECT_EQ(empty.min_nonzero(), kInt64Max);
  EXPECT_EQ(empty.mean(), 0.0);  // C would return NaN
  EXPECT_EQ(empty.stddev(), 0.0);
  EXPECT_EQ(empty.value_at_percentile(50), 0);

  // With lowest 1000 the first range is 0..511: Java's maximum of a zero is 511.
  Histogram coarse(1000, 1'000'000'000, 2);
  coarse.record(0);
  EXPECT_EQ(coarse.max(), 511);
  EXPECT_EQ(coarse.min(), 0);
  coarse.reset();
  coarse.record(1000);
  EXPECT_EQ(coarse.min(), 512);
  EXPECT_EQ(coarse.max(), 1023);
  coarse.record(300);  // first range: min becomes 0
  EXPECT_EQ(coarse.min(), 0);
  EXPECT_EQ(coarse.min_nonzero(), 512);
}

TEST(HdrHistogram, OneTwoThreeKnownAnswers) {
  Histogram h(1, 3'600'000'000, 3);
  h.record(1);
  h.record(2);
  h.record(3);
  EXPECT_EQ(h.total_count(), 3);
  EXPECT_EQ(h.min(), 1);
  EXPECT_EQ(h.max(), 3);
  EXPECT_EQ(h.mean(), 2.0);
  EXPECT_DOUBLE_EQ(h.stddev(), std::sqrt(2.0 / 3.0));
  EXPECT_EQ(h.value_at_percentile(40.0), 2);  // the C rule gives 1
  EXPECT_EQ(h.value_at_percentile(0.0), 1);
  EXPECT_EQ(h.value_at_percentile(33.3333), 1);
  EXPECT_EQ(h.value_at_percentile(33.34), 2);
  EXPECT_EQ(h.value_at_percentile(100.0), 3);
  EXPECT_EQ(h.value_at_percentile(250.0), 3);
  EXPECT_EQ(h.value_at_percentile(-4.0), 1);
  EXPECT_EQ(h.value_at_percentile(std::numeric_limits<double>::quiet_NaN()), 1);
}

TEST(HdrHistogram, PercentileZeroIsLowestEquivalent) {
  Histogram h(1, 3'600'000'000, 3);
  h.record(10003);
  EXPECT_EQ(h.value_at_percentile(0.0), 10000);
  EXPECT_EQ(h.value_at_percentile(1e-9), 10007);
}

// The loop Java runs in recordValueWithExpectedInterval, one record per term.
void naive_corrected(Histogram& h, std::int64_t value, std::int64_t interval, std::int64_t count) {
  if (!h.record(value, count)) return;
  if (interval <= 0) return;
  for (std::int64_t m = value - interval; m >= interval; m -= interval)
    h.record(m, count);
}

TEST(HdrHistogram, RecordCorrectedEqualsJavasLoop) {
  std::mt19937_64 rng(12345);
  for (const Config& c : {Config{1, 3'600'000'000'000, 3}, Config{1000, 100'000'000, 2},
                          Config{7, 10'000'000, 1}, Config{1, 1'000'000, 5}}) {
    Histogram fast(c.lowest, c.highest, c.sigfigs);
    Histogram slow(c.lowest, c.highest, c.sigfigs);
    for (int i = 0; i < 300; ++i) {
      const std::int64_t value = static_cast<std::int64_t>(rng() % 2'000'000);
      // Intervals from tiny (many terms per range, terms in the first unit
      // range) to larger than the value (no terms).
      const std::int64_t interval = static_cast<std::int64_t>(rng() % 5000) - 10;
      const std::int64_t count = static_cast<std::int64_t>(rng() % 3);
      EXPECT_EQ(fast.record_corrected(value, interval, count),
                value <= fast.highest_recordable_value());
      naive_corrected(slow, value, interval, count);
    }
    EXPECT_EQ(fast, slow);
    EXPECT_EQ(fast.min(), slow.min());
    EXPECT_EQ(fast.min_nonzero(), slow.min_nonzero());
    EXPECT_EQ(fast.max(), slow.max());
    EXPECT_GT(fast.total_count(), 300);
  }
}

TEST(HdrHistogram, RecordCorrectedIsBoundedByRangesNotTerms) {
  // One hour in nanoseconds with an expected interval of 1 ns would be 3.6e12
  // Java iterations; per range it is at most the number of counters.
  Histogram h(1, 3'600'000'000'000, 3);
  ASSERT_TRUE(h.record_corrected(3'600'000'000'000, 1));
  EXPECT_EQ(h.total_count(), 3'600'000'000'000);
  EXPECT_EQ(h.min(), 1);
  EXPECT_FALSE(h.record_corrected(-3, 1));
}

TEST(HdrHistogram, AddCombinesCountsAndTimestamps) {
  Histogram a(1, 3'600'000'000, 3);
  Histogram b(1, 3'600'000'000, 3);
  a.record(5, 2);
  a.set_start_time_ms(2000);
  a.set_end_time_ms(3000);
  b.record(0);
  b.record(10003, 4);
  b.set_start_time_ms(1000);
  b.set_end_time_ms(2500);
  EXPECT_EQ(a.add(b), 0);
  EXPECT_EQ(a.total_count(), 7);
  EXPECT_EQ(a.count_at(10000), 4);
  EXPECT_EQ(a.count_at(0), 1);
  EXPECT_EQ(a.min(), 0);
  EXPECT_EQ(a.min_nonzero(), 5);
  EXPECT_EQ(a.max(), 10007);
  EXPECT_EQ(a.start_time_ms(), 1000);
  EXPECT_EQ(a.end_time_ms(), 3000);

  // A different layout: each range is recorded at its lowest equivalent
  // value, and what does not fit is dropped and counted.
  Histogram narrow(1000, 1'000'000, 2);
  EXPECT_EQ(narrow.add(a), 0);
  EXPECT_EQ(narrow.total_count(), 7);
  Histogram big(1, 3'600'000'000, 3);
  big.record(3'000'000'000, 3);
  big.record(12);
  EXPECT_EQ(narrow.add(big), 3);
  EXPECT_EQ(narrow.total_count(), 8);

  // Same layout but a shorter counters array: the tail is dropped.
  Histogram short_range(1, 100'000, 3);
  EXPECT_TRUE(short_range.same_layout(big));
  EXPECT_EQ(short_range.add(big), 3);
  EXPECT_EQ(short_range.total_count(), 1);
  EXPECT_EQ(short_range.max(), 12);
}

TEST(HdrHistogram, AddWhileCorrectingFeedsTheHighestEquivalentValue) {
  Histogram recorded(1, 3'600'000'000, 3);
  recorded.record(10000);
  Histogram corrected(1, 3'600'000'000, 3);
  EXPECT_EQ(corrected.add_while_correcting(recorded, 1000), 0);
  // Java copyCorrectedForCoordinatedOmission: 10007, 9007, ..., 1007.
  EXPECT_EQ(corrected.total_count(), 10);
  for (std::int64_t k = 1; k <= 10; ++k)
    EXPECT_EQ(corrected.count_at(k * 1000 + 7), 1) << k;
  // Correcting while recording feeds the value itself: 10000, 9000, ..., 1000.
  Histogram at_record(1, 3'600'000'000, 3);
  at_record.record_corrected(10000, 1000);
  for (std::int64_t k = 1; k <= 9; ++k)
    EXPECT_EQ(at_record.count_at(k * 1000), 1) << k;
  EXPECT_EQ(at_record.count_at(1007), 0);
}

TEST(HdrHistogram, GrowToCoverKeepsCounts) {
  Histogram h(1, 10'000, 2);
  h.record(9000, 3);
  const int buckets = h.bucket_count();
  EXPECT_FALSE(h.record(5'000'000));
  h.grow_to_cover(5'000'000);
  EXPECT_GT(h.bucket_count(), buckets);
  EXPECT_EQ(h.highest_trackable_value(), 5'000'000);
  EXPECT_TRUE(h.record(5'000'000));
  EXPECT_EQ(h.count_at(9000), 3);
  EXPECT_EQ(h.total_count(), 4);
  h.grow_to_cover(10);  // already recordable: no change
  EXPECT_EQ(h.highest_trackable_value(), 5'000'000);
  EXPECT_THROW(h.grow_to_cover(-1), std::invalid_argument);
}

TEST(HdrHistogram, ResetClearsEverything) {
  Histogram h(1, 1'000'000, 3);
  h.record(100, 5);
  h.set_start_time_ms(10);
  h.set_end_time_ms(20);
  h.set_tag("x");
  h.reset();
  EXPECT_EQ(h.total_count(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.min_nonzero(), kInt64Max);
  EXPECT_EQ(h.count_at(100), 0);
  EXPECT_EQ(h.start_time_ms(), kInt64Max);
  EXPECT_EQ(h.end_time_ms(), 0);
  EXPECT_TRUE(h.tag().empty());
}

TEST(HdrHistogram, CopyMoveAndSwap) {
  Histogram a(1, 1'000'000, 3);
  a.record(42, 2);
  a.set_tag("t");
  Histogram copy = a;
  EXPECT_EQ(copy, a);
  EXPECT_EQ(copy.tag(), "t");
  copy.record(1);
  EXPECT_NE(copy, a);

  Histogram moved = std::move(a);
  EXPECT_EQ(moved.count_at(42), 2);
  // The moved-from histogram reads as empty and records nothing.
  EXPECT_EQ(a.total_count(), 0);  // NOLINT(bugprone-use-after-move): checked on purpose
  EXPECT_EQ(a.min(), 0);
  EXPECT_EQ(a.count_at(42), 0);
  EXPECT_FALSE(a.record(42));
  a = moved;  // assigning makes it whole again
  EXPECT_TRUE(a.record(42));
  EXPECT_EQ(a.count_at(42), 3);
  Histogram revived = std::move(moved);
  moved.grow_to_cover(10);  // so does growing
  EXPECT_TRUE(moved.record(10));

  Histogram other(1000, 10'000'000, 2);
  other.record(5000);
  swap(a, other);
  EXPECT_EQ(a.lowest_discernible_value(), 1000);
  EXPECT_EQ(a.total_count(), 1);
  EXPECT_EQ(other.count_at(42), 3);
  EXPECT_EQ(other.lowest_discernible_value(), 1);
}

TEST(HdrHistogram, CountAtClampsLikeJava) {
  Histogram h(1, 1000, 2);
  const std::int64_t top = h.highest_recordable_value();
  h.record(top, 9);
  EXPECT_EQ(h.count_at(top + 1'000'000), 9);  // Java reads the last counter
  EXPECT_EQ(h.count_at(-1), 0);
}

TEST(HdrHistogram, PercentileIterationSteps) {
  Histogram h(1, 3'600'000'000, 3);
  h.record(1);
  h.record(2);
  h.record(3);
  // Levels and values of Java's outputPercentileDistribution for {1, 2, 3}.
  const std::vector<std::pair<double, std::int64_t>> expected = {
      {0.0, 1},  {10.0, 1}, {20.0, 1}, {30.0, 1}, {40.0, 2}, {50.0, 2},
      {55.0, 2}, {60.0, 2}, {65.0, 2}, {70.0, 3}, {100.0, 3}};
  const auto steps = h.percentiles(5);
  ASSERT_EQ(steps.size(), expected.size());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    EXPECT_DOUBLE_EQ(steps[i].percentile_level, expected[i].first) << i;
    EXPECT_EQ(steps[i].value, expected[i].second) << i;
  }
  EXPECT_EQ(steps.back().cumulative_count, 3);
  EXPECT_TRUE(Histogram(1, 100, 2).percentiles(5).empty());
  EXPECT_TRUE(h.percentiles(0).empty());
}

TEST(HdrHistogram, RecordedValuesVisitNonEmptyRanges) {
  Histogram h(1, 3'600'000'000, 3);
  h.record(10003, 2);
  h.record(5);
  const auto steps = h.recorded_values();
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].value, 5);
  EXPECT_EQ(steps[0].count_at_value, 1);
  EXPECT_EQ(steps[1].value, 10007);
  EXPECT_EQ(steps[1].cumulative_count, 3);
  EXPECT_DOUBLE_EQ(steps[1].percentile, 100.0);
}

TEST(HdrHistogram, CountersWrapInsteadOfOverflowing) {
  Histogram h(1, 1000, 2);
  ASSERT_TRUE(h.record(1, kInt64Max));
  ASSERT_TRUE(h.record(1, 2));  // wraps like Java's long, no undefined behaviour
  EXPECT_EQ(h.count_at(1), kInt64Min + 1);
}

}  // namespace
