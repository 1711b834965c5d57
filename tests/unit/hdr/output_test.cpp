// Java's %.Nf and Date.toString(), and outputPercentileDistribution. The
// expected strings were printed by Java 17 with hdrhistogram.jar 2.1.11
// (String.format(Locale.US, ...), new Date(ms) in UTC, and
// outputPercentileDistribution(System.out, 5, ratio, csv)).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "hdr/histogram.hpp"
#include "hdr/java_format.hpp"
#include "hdr/output.hpp"
#include "test_support.hpp"

namespace {

using wsb::hdr::Histogram;
using wsb::hdr::java_fixed;
using wsb::hdr::test::one_two_three;

TEST(HdrJavaFormat, FixedRoundsHalfUpOnTheShortestDecimal) {
  struct Case {
    double value;
    int decimals;
    const char* java;
  };
  const double inf = std::numeric_limits<double>::infinity();
  const Case cases[] = {
      {0.9997802734375, 12, "0.999780273438"},  // glibc: ...437
      {1.005, 2, "1.01"},                       // glibc: 1.00
      {0.125, 2, "0.13"},                       // glibc: 0.12 (ties to even)
      {2.5, 0, "3"},
      {0.5, 0, "1"},
      {9.9995, 3, "10.000"},
      {0.0, 3, "0.000"},
      {-0.0, 3, "-0.000"},
      {-1.5, 0, "-2"},
      {1e-7, 3, "0.000"},
      {0.0005, 3, "0.001"},
      {0.00049999, 3, "0.000"},
      {123456789.0, 2, "123456789.00"},
      {std::numeric_limits<double>::quiet_NaN(), 3, "NaN"},
      {inf, 2, "Infinity"},
      {-inf, 2, "-Infinity"},
      {76561193665298432.0, 2, "76561193665298432.00"},    // exact digits, not shortest
      {310748374288564224.0, 2, "310748374288564220.00"},  // one digit rounded away
      {0.3, 1, "0.3"},
      {99.95, 1, "100.0"},
      {1e22, 1, "10000000000000000000000.0"},
      {5e-324, 3, "0.000"},
      {0.006, 2, "0.01"},
      {1234.5, 0, "1235"},
      {0.045, 2, "0.05"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(java_fixed(c.value, c.decimals), c.java) << c.value << " %." << c.decimals << "f";
  }
  EXPECT_EQ(java_fixed(3.14159, 2, 12), "        3.14");
  EXPECT_EQ(java_fixed(-3.14159, 2, 3), "-3.14");
  std::string s = "x";
  wsb::hdr::append_java_int(s, 42, 5);
  wsb::hdr::append_java_int(s, std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(s, "x   42-9223372036854775808");
}

TEST(HdrJavaFormat, DateToStringInUtc) {
  EXPECT_EQ(wsb::hdr::java_date_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
  EXPECT_EQ(wsb::hdr::java_date_utc(1441812279474), "Wed Sep 09 15:24:39 UTC 2015");
  EXPECT_EQ(wsb::hdr::java_date_utc(-1), "Wed Dec 31 23:59:59 UTC 1969");
  EXPECT_EQ(wsb::hdr::java_date_utc(951782400000), "Tue Feb 29 00:00:00 UTC 2000");
  EXPECT_EQ(wsb::hdr::java_date_utc(253402300799999), "Fri Dec 31 23:59:59 UTC 9999");
}

TEST(HdrJavaFormat, D2lSaturatesLikeJava) {
  EXPECT_EQ(wsb::hdr::java_d2l(1.9), 1);
  EXPECT_EQ(wsb::hdr::java_d2l(-1.9), -1);
  EXPECT_EQ(wsb::hdr::java_d2l(std::numeric_limits<double>::quiet_NaN()), 0);
  EXPECT_EQ(wsb::hdr::java_d2l(1e300), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(wsb::hdr::java_d2l(-1e300), std::numeric_limits<std::int64_t>::min());
}

TEST(HdrOutput, TextDistributionMatchesJava) {
  EXPECT_EQ(wsb::hdr::percentile_distribution(one_two_three()),
            "       Value     Percentile TotalCount 1/(1-Percentile)\n"
            "\n"
            "       1.000 0.000000000000          1           1.00\n"
            "       1.000 0.100000000000          1           1.11\n"
            "       1.000 0.200000000000          1           1.25\n"
            "       1.000 0.300000000000          1           1.43\n"
            "       2.000 0.400000000000          2           1.67\n"
            "       2.000 0.500000000000          2           2.00\n"
            "       2.000 0.550000000000          2           2.22\n"
            "       2.000 0.600000000000          2           2.50\n"
            "       2.000 0.650000000000          2           2.86\n"
            "       3.000 0.700000000000          3           3.33\n"
            "       3.000 1.000000000000          3\n"
            "#[Mean    =        2.000, StdDeviation   =        0.816]\n"
            "#[Max     =        3.000, Total count    =            3]\n"
            "#[Buckets =           22, SubBuckets     =         2048]\n");
}

TEST(HdrOutput, CsvDistributionMatchesJava) {
  EXPECT_EQ(wsb::hdr::percentile_distribution(one_two_three(), {5, 1.0, true}),
            "\"Value\",\"Percentile\",\"TotalCount\",\"1/(1-Percentile)\"\n"
            "1.000,0.000000000000,1,1.00\n"
            "1.000,0.100000000000,1,1.11\n"
            "1.000,0.200000000000,1,1.25\n"
            "1.000,0.300000000000,1,1.43\n"
            "2.000,0.400000000000,2,1.67\n"
            "2.000,0.500000000000,2,2.00\n"
            "2.000,0.550000000000,2,2.22\n"
            "2.000,0.600000000000,2,2.50\n"
            "2.000,0.650000000000,2,2.86\n"
            "3.000,0.700000000000,3,3.33\n"
            "3.000,1.000000000000,3,Infinity\n");
}

// Lowest 1000, two significant figures, values k * 997 recorded k times
// (k = 1..50) plus one zero, printed in thousands.
Histogram coarse() {
  Histogram h(1000, 100'000'000, 2);
  for (std::int64_t k = 1; k <= 50; ++k)
    h.record(k * 997, k);
  h.record(0);
  return h;
}

TEST(HdrOutput, ScaledCoarseDistributionMatchesJava) {
  const Histogram h = coarse();
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 50175);
  EXPECT_EQ(h.value_at_percentile(99), 50175);
  EXPECT_EQ(wsb::hdr::percentile_distribution(h, {5, 1000.0, false}),
            "       Value     Percentile TotalCount 1/(1-Percentile)\n"
            "\n"
            "        0.51 0.000000000000          1           1.00\n"
            "       16.38 0.100000000000        137           1.11\n"
            "       23.04 0.200000000000        277           1.25\n"
            "       28.16 0.300000000000        407           1.43\n"
            "       32.26 0.400000000000        529           1.67\n"
            "       36.35 0.500000000000        667           2.00\n"
            "       37.38 0.550000000000        704           2.22\n"
            "       38.91 0.600000000000        781           2.50\n"
            "       40.96 0.650000000000        862           2.86\n"
            "       41.98 0.700000000000        904           3.33\n"
            "       44.03 0.750000000000        991           4.00\n"
            "       44.03 0.775000000000        991           4.44\n"
            "       45.06 0.800000000000       1036           5.00\n"
            "       46.08 0.825000000000       1082           5.71\n"
            "       47.10 0.850000000000       1129           6.67\n"
            "       47.10 0.875000000000       1129           8.00\n"
            "       48.13 0.887500000000       1177           8.89\n"
            "       48.13 0.900000000000       1177          10.00\n"
            "       48.13 0.912500000000       1177          11.43\n"
            "       49.15 0.925000000000       1226          13.33\n"
            "       49.15 0.937500000000       1226          16.00\n"
            "       49.15 0.943750000000       1226          17.78\n"
            "       49.15 0.950000000000       1226          20.00\n"
            "       49.15 0.956250000000       1226          22.86\n"
            "       50.18 0.962500000000       1276          26.67\n"
            "       50.18 1.000000000000       1276\n"
            "#[Mean    =        33.52, StdDeviation   =        11.89]\n"
            "#[Max     =        50.18, Total count    =         1276]\n"
            "#[Buckets =           11, SubBuckets     =          256]\n");
  // Java's getMean() and getStdDeviation() for the same data, to the bit.
  EXPECT_EQ(h.mean(), 33519.54858934169);
  EXPECT_EQ(h.stddev(), 11887.19529617456);
}

TEST(HdrOutput, EmptyDistributionHasOnlyHeaderAndFooter) {
  EXPECT_EQ(wsb::hdr::percentile_distribution(Histogram(1, 1'000'000, 2)),
            "       Value     Percentile TotalCount 1/(1-Percentile)\n"
            "\n"
            "#[Mean    =         0.00, StdDeviation   =         0.00]\n"
            "#[Max     =         0.00, Total count    =            0]\n"
            "#[Buckets =           13, SubBuckets     =          256]\n");
  EXPECT_EQ(wsb::hdr::percentile_distribution(Histogram(1, 1'000'000, 2), {5, 1.0, true}),
            "\"Value\",\"Percentile\",\"TotalCount\",\"1/(1-Percentile)\"\n");
}

TEST(HdrOutput, StartTimeComment) {
  EXPECT_EQ(wsb::hdr::start_time_comment(1441812279.474),
            "#[StartTime: 1441812279.474 (seconds since epoch), Wed Sep 09 15:24:39 UTC 2015]\n");
}

}  // namespace
