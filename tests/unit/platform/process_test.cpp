#include "platform/process.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <iostream>

namespace {

using namespace wsb::platform;

// Burns CPU in this thread until the process has used `target` more CPU
// seconds, or `limit` of wall time passed (the machine may be loaded, so the
// wall time a given amount of CPU takes is unknown). Returns the wall time.
double busy_until_cpu(double target, std::chrono::seconds limit, const ProcessStats& before) {
  volatile std::uint64_t sink = 0;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < limit) {
    // Spin 250 ms between samples: a sample costs kernel time of its own
    // (under Wine a process snapshot is several wineserver requests).
    const auto chunk_end = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
    while (std::chrono::steady_clock::now() < chunk_end) {
      for (int i = 0; i < 100000; ++i)
        sink = sink + static_cast<std::uint64_t>(i);
    }
    const ProcessStats now = sample_process();
    const double used = (now.user_cpu_seconds + now.system_cpu_seconds) -
                        (before.user_cpu_seconds + before.system_cpu_seconds);
    if (used >= target) break;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(ProcessStats, CpuTimeGrowsWithWork) {
  const ProcessStats before = sample_process();
  const double wall = busy_until_cpu(0.2, std::chrono::seconds(30), before);
  const ProcessStats after = sample_process();
  const double used = (after.user_cpu_seconds + after.system_cpu_seconds) -
                      (before.user_cpu_seconds + before.system_cpu_seconds);
  EXPECT_GE(used, 0.2) << "CPU time did not grow in " << wall << " s of spinning";
  // One spinning thread cannot use (much) more CPU than wall time; the slack
  // covers clock-tick granularity.
  EXPECT_LE(used, wall + 0.1);
  // Spinning is user time; the samples in between cost some kernel time, so
  // only most of it must be user time. This catches swapped fields.
  EXPECT_GE(after.user_cpu_seconds - before.user_cpu_seconds, 0.5 * used);
}

TEST(ProcessStats, ThreadCountGrowsWithAThread) {
  const ProcessStats before = sample_process();
  ASSERT_GE(before.threads, 1U);
  std::mutex mutex;
  std::condition_variable cv;
  bool release = false;
  bool running = false;
  std::thread extra([&] {
    std::unique_lock lock(mutex);
    running = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return release; });
  });
  {
    std::unique_lock lock(mutex);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return running; });
  }
  const ProcessStats during = sample_process();
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  extra.join();
  EXPECT_EQ(during.threads, before.threads + 1);
}

TEST(ProcessStats, MemoryAndHandlesAreReported) {
  const ProcessStats before = sample_process();
  EXPECT_GT(before.memory_bytes, 0U);
  EXPECT_GE(before.peak_memory_bytes, before.memory_bytes);
  // Touching 64 MiB raises the resident set and its peak.
  constexpr std::size_t size = 64 << 20;
  auto block = std::make_unique<char[]>(size);
  std::memset(block.get(), 1, size);
  const ProcessStats after = sample_process();
  EXPECT_GE(after.peak_memory_bytes, before.peak_memory_bytes + size / 2);
  volatile char keep = block[size - 1];
  (void)keep;
  // Standard input, output and error at least (or their Windows handles).
  if (running_under_wine() && before.handles == 0) {
    // Wine 8 does not count handles: NtQueryInformationProcess
    // (ProcessHandleCount) is a stub there.
    GTEST_SKIP() << "handle count not available under Wine";
  }
  EXPECT_GE(before.handles, 3U);
}

TEST(ProcessStats, ByIdMatchesSelf) {
  const auto by_id = sample_process(current_process_id());
  ASSERT_TRUE(by_id);
  const ProcessStats self = sample_process();
  EXPECT_GE(by_id->threads, 1U);
  EXPECT_GT(by_id->memory_bytes, 0U);
  // The two samples differ by clock-tick resolution at most.
  EXPECT_NEAR(by_id->user_cpu_seconds + by_id->system_cpu_seconds,
              self.user_cpu_seconds + self.system_cpu_seconds, 0.25);
}

TEST(ProcessStats, MissingProcessIsNullopt) {
  // Above Linux's pid_max limit (2^22) and not a Windows process id in use.
  EXPECT_FALSE(sample_process(ProcessId{1} << 30).has_value());
  EXPECT_FALSE(sample_process(-5).has_value());
}

TEST(Runtime, DescriptionMatchesWineDetection) {
  const std::string description = runtime_description();
  EXPECT_FALSE(description.empty());
  EXPECT_EQ(description.rfind("Wine ", 0) == 0, running_under_wine()) << description;
  std::cout << "runtime: " << description << "\n";
}

}  // namespace
