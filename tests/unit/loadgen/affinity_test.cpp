// The CPU sets of --server-cpus and --loadgen-cpus (loadgen/affinity.hpp):
// the parser against a given set of usable CPUs, and pinning this process.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "affinity.hpp"

namespace wsb::loadgen {
namespace {

const std::vector<int> kUsable{0, 1, 2, 3, 6};

TEST(CpuSet, NoneIsEmptyAndListsAndRangesAreSortedWithoutRepeats) {
  std::string why;
  EXPECT_EQ(parse_cpu_set("none", &why, kUsable), std::vector<int>{});
  EXPECT_EQ(parse_cpu_set("1", &why, kUsable), std::vector<int>{1});
  EXPECT_EQ(parse_cpu_set("6,2-3,2", &why, kUsable), (std::vector<int>{2, 3, 6}));
  EXPECT_EQ(parse_cpu_set("0-3", &why, kUsable), (std::vector<int>{0, 1, 2, 3}));
}

TEST(CpuSet, UnknownOrMalformedIsRefusedInOneLine) {
  std::string why;
  EXPECT_FALSE(parse_cpu_set("4", &why, kUsable));
  EXPECT_EQ(why, "CPU 4 is not one this process may use (usable: 0-3,6)");
  EXPECT_FALSE(parse_cpu_set("2-5", &why, kUsable));
  EXPECT_NE(why.find("CPU 4"), std::string::npos);
  for (const char* bad : {"", "x", "1-", "-1", "3-1", "1,,2", "1.5", "0x1"}) {
    EXPECT_FALSE(parse_cpu_set(bad, &why, kUsable)) << bad;
    EXPECT_EQ(why.find('\n'), std::string::npos) << bad;
  }
}

TEST(CpuSet, TextAndMaskRoundTrip) {
  EXPECT_EQ(to_string_cpus({}), "none");
  EXPECT_EQ(to_string_cpus({0, 1, 2, 3, 6}), "0-3,6");
  EXPECT_EQ(to_string_cpus({5}), "5");
  EXPECT_EQ(cpu_mask({0, 2, 63, 64}), 0x8000000000000005ULL);
}

TEST(CpuSet, PinningThisProcessNarrowsWhatItMayUse) {
  const std::vector<int> before = usable_cpus();
  ASSERT_FALSE(before.empty());
  // In a thread of its own: its mask dies with it (POSIX pins the calling
  // thread and what it starts; Windows pins the process, restored below).
  std::vector<int> inside;
  std::string failed;
  std::thread([&] {
    failed = pin_this_process({before.back()});
    std::thread([&] { inside = usable_cpus(); }).join();
  }).join();
  EXPECT_EQ(failed, "");
  EXPECT_EQ(inside, std::vector<int>{before.back()}) << "a thread started after the pin";
  EXPECT_EQ(pin_this_process(before), "");
  EXPECT_EQ(usable_cpus(), before);
}

}  // namespace
}  // namespace wsb::loadgen
