#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "recorder.hpp"

namespace wsb::loadgen {
namespace {

TEST(Counters, AddAndSaturatingSubtract) {
  Counters a;
  a.requests = 10;
  a.errors[static_cast<std::size_t>(ErrorKind::reset)] = 2;
  Counters b;
  b.requests = 3;
  b.responses = 5;
  b.errors[static_cast<std::size_t>(ErrorKind::mismatch)] = 1;
  Counters sum = a;
  sum += b;
  EXPECT_EQ(sum.requests, 13u);
  EXPECT_EQ(sum.responses, 5u);
  EXPECT_EQ(sum.errors_total(), 3u);
  Counters diff = a;
  diff -= b;
  EXPECT_EQ(diff.requests, 7u);
  EXPECT_EQ(diff.responses, 0u);  // saturates, never wraps
  EXPECT_EQ(diff.error(ErrorKind::reset), 2u);
  EXPECT_EQ(diff.error(ErrorKind::mismatch), 0u);
}

TEST(ErrorKind, NamesAreDistinctColumnNames) {
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < kErrorKindCount; ++i)
    names.push_back(name(ErrorKind(i)));
  for (std::size_t i = 0; i < names.size(); ++i) {
    for (std::size_t j = i + 1; j < names.size(); ++j)
      EXPECT_NE(names[i], names[j]);
  }
  EXPECT_EQ(tag(Series::latency), "latency");
  EXPECT_EQ(tag(Series::uncorrected), "latency_uncorrected");
  EXPECT_EQ(tag(Series::connect), "connect");
}

TEST(HistogramSet, UsesTheProjectLatencyConfigurationAndKeepsTags) {
  HistogramSet set;
  for (std::size_t i = 0; i < kSeriesCount; ++i) {
    const hdr::Histogram& h = set[Series(i)];
    EXPECT_EQ(h.lowest_discernible_value(), hdr::kLatencyLowestNs);
    EXPECT_EQ(h.highest_trackable_value(), hdr::kLatencyHighestNs);
    EXPECT_EQ(h.significant_figures(), hdr::kLatencySignificantFigures);
  }
  set[Series::latency].record(1234);
  set.reset();
  EXPECT_EQ(set[Series::latency].total_count(), 0);
  EXPECT_EQ(set[Series::latency].tag(), "latency");
}

TEST(WorkerRecorder, CountersAreReadableWhileWritten) {
  WorkerRecorder r;
  r.add(Count::requests, 5);
  r.add(Count::requests, 2);
  r.add(Count::bytes_in, 100);
  r.error(ErrorKind::request_timeout);
  const Counters c = r.counters();
  EXPECT_EQ(c.requests, 7u);
  EXPECT_EQ(c.bytes_in, 100u);
  EXPECT_EQ(c.error(ErrorKind::request_timeout), 1u);
  EXPECT_EQ(c.errors_total(), 1u);
}

// Several writer threads record continuously while the reporter collects
// intervals; at the end the merged intervals hold every sample exactly once.
TEST(WorkerRecorder, IntervalsFromConcurrentWritersAddUpExactly) {
  constexpr int kWorkers = 3;
  constexpr int kSamples = 200'000;
  std::vector<std::unique_ptr<WorkerRecorder>> recs;
  for (int i = 0; i < kWorkers; ++i)
    recs.push_back(std::make_unique<WorkerRecorder>());
  std::vector<WorkerRecorder*> ptrs;
  for (auto& r : recs)
    ptrs.push_back(r.get());
  std::atomic<int> done{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWorkers; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kSamples; ++i) {
        ptrs[w]->record(Series::latency, 1000 + i % 5000);
        if (i % 3 == 0) ptrs[w]->record(Series::connect, 50'000);
      }
      // Keep servicing until the reporter is done, as a worker loop does.
      done.fetch_add(1);
      while (done.load() < 2 * kWorkers) {
        ptrs[w]->service();
        std::this_thread::yield();
      }
    });
  }
  HistogramSet total;
  bool collected[kWorkers];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int rounds = 0;
  for (;;) {
    const bool writers_finished = done.load() >= kWorkers;
    begin_collect(ptrs, collected);
    HistogramSet interval;
    Counters counters[kWorkers];
    while (!poll_collect(ptrs, collected, interval, counters)) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "a writer never handed over";
      std::this_thread::yield();
    }
    total.add(interval);
    ++rounds;
    if (writers_finished) break;  // this round started after every record
  }
  done.fetch_add(kWorkers);
  for (auto& t : writers)
    t.join();
  EXPECT_GE(rounds, 1);
  EXPECT_EQ(total[Series::latency].total_count(), std::int64_t{kWorkers} * kSamples);
  EXPECT_EQ(total[Series::connect].total_count(), std::int64_t{kWorkers} * ((kSamples + 2) / 3));
  EXPECT_EQ(total[Series::latency].min(), total[Series::latency].lowest_equivalent(1000));
}

// The counters handed over with an interval describe exactly the samples in
// its histograms, however the worker's records and the reporter's requests
// interleave.
TEST(WorkerRecorder, CountersAreCutWithTheHistograms) {
  WorkerRecorder r;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      r.record(Series::latency, 1000);
      r.add(Count::responses, 1);
      r.service();
    }
  });
  WorkerRecorder* ptrs[] = {&r};
  bool collected[1];
  std::uint64_t previous = 0;
  std::int64_t samples = 0;
  for (int round = 0; round < 200; ++round) {
    begin_collect(ptrs, collected);
    HistogramSet interval;
    Counters counters[1];
    while (!poll_collect(ptrs, collected, interval, counters))
      std::this_thread::yield();
    const std::uint64_t delta = counters[0].responses - previous;
    previous = counters[0].responses;
    ASSERT_EQ(static_cast<std::uint64_t>(interval[Series::latency].total_count()), delta) << round;
    samples += interval[Series::latency].total_count();
  }
  stop.store(true);
  writer.join();
  EXPECT_GT(samples, 0);
}

// One collection round of the single worker `r`, answered on this thread by
// its `serve` (service or service_after_join); true, with the interval
// added to `into`, when that one answer completed the round.
bool collect_one(WorkerRecorder& r, void (WorkerRecorder::*serve)(), HistogramSet& into) {
  WorkerRecorder* ptrs[] = {&r};
  bool collected[1];
  begin_collect(ptrs, collected);
  (r.*serve)();
  Counters counters[1];
  return poll_collect(ptrs, collected, into, counters);
}

TEST(WorkerRecorder, CollectAfterJoinTakesTheLastInterval) {
  WorkerRecorder r;
  std::thread([&] {
    for (int i = 0; i < 10; ++i)
      r.record(Series::latency, 100);
  }).join();
  HistogramSet into;
  ASSERT_TRUE(collect_one(r, &WorkerRecorder::service_after_join, into));
  EXPECT_EQ(into[Series::latency].total_count(), 10);
}

TEST(WorkerRecorder, NegativeValuesAreRecordedAsZero) {
  WorkerRecorder r;
  r.record(Series::latency, -5);
  HistogramSet into;
  ASSERT_TRUE(collect_one(r, &WorkerRecorder::service, into));
  EXPECT_EQ(into[Series::latency].total_count(), 1);
  EXPECT_EQ(into[Series::latency].max(), 0);
}

}  // namespace
}  // namespace wsb::loadgen
