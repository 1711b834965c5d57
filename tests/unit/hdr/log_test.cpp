// .hlog writing (Java HistogramLogWriter's exact lines) and reading (Java
// HistogramLogReader's rules for start time, base time and tags).
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include <gtest/gtest.h>

#include "hdr/encoding.hpp"
#include "hdr/histogram.hpp"
#include "hdr/java_format.hpp"
#include "hdr/log.hpp"
#include "test_support.hpp"

namespace {

using wsb::hdr::Histogram;
using wsb::hdr::LogError;
using wsb::hdr::LogReader;
using wsb::hdr::LogWriter;
using wsb::hdr::test::one_two_three;

constexpr const char* kOneTwoThree = "HISTFAAAACN42pNpmSzMwMDAwgABzFCaEURcm7yEwf4DVISJiQkAY5YEkQ==";

TEST(HdrLog, WriterMatchesJavaLineForLine) {
  std::ostringstream out;
  LogWriter w(out);
  w.write_comment("[Logged with interop]");
  w.write_format_version();
  w.write_start_time(1441812279474);
  w.set_base_time_ms(1441812279474);
  w.write_base_time(1441812279474);
  w.write_legend();
  Histogram h = one_two_three();
  h.set_start_time_ms(1441812279474 + 1000);
  h.set_end_time_ms(1441812279474 + 2500);
  w.write_interval(h);                 // relative to the base time, default ratio 1e6
  w.write_interval(0.0, 1.0, h, 1.0);  // the spec's observed Java line
  h.set_tag("tagA");
  w.write_interval(3.25, 4.5, h, 1000.0);
  EXPECT_EQ(
      out.str(),
      "#[Logged with interop]\n"
      "#[Histogram log format version 1.3]\n"
      "#[StartTime: 1441812279.474 (seconds since epoch), Wed Sep 09 15:24:39 UTC 2015]\n"
      "#[BaseTime: 1441812279.474 (seconds since epoch)]\n"
      "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
      "1.000,1.500,0.000," +
          std::string(kOneTwoThree) + "\n0.000,1.000,3.000," + kOneTwoThree +
          "\nTag=tagA,3.250,1.250,0.003," + kOneTwoThree + "\n");
}

TEST(HdrLog, WriterRejectsTagsWithSeparators) {
  std::ostringstream out;
  LogWriter w(out);
  Histogram h(1, 1000, 2);
  for (const char* bad : {"a b", "a,b", "a\nb", "a\rb", " "}) {
    h.set_tag(bad);
    EXPECT_THROW(w.write_interval(0.0, 1.0, h), std::invalid_argument) << bad;
  }
  EXPECT_TRUE(out.str().empty());
  EXPECT_TRUE(wsb::hdr::is_valid_tag("Tag_1-x.y"));
}

TEST(HdrLog, RoundTripKeepsCountsTimestampsAndTags) {
  std::ostringstream out;
  LogWriter w(out);
  w.write_header(1'700'000'000'000, 1'700'000'000'000);
  Histogram a(1, 3'600'000'000'000, 3);
  a.record(123'456, 7);
  a.set_start_time_ms(1'700'000'000'000);
  a.set_end_time_ms(1'700'000'001'000);
  Histogram b(1000, 1'000'000'000, 2);
  b.record(999'999);
  b.set_start_time_ms(1'700'000'001'000);
  b.set_end_time_ms(1'700'000'002'250);
  b.set_tag("slow");
  w.write_interval(a);
  w.write_interval(b);

  std::istringstream in(out.str());
  LogReader r(in);
  auto first = r.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->histogram, a);
  EXPECT_EQ(first->histogram.start_time_ms(), 1'700'000'000'000);
  EXPECT_EQ(first->histogram.end_time_ms(), 1'700'000'001'000);
  EXPECT_TRUE(first->histogram.tag().empty());
  EXPECT_EQ(first->line, 5u);
  auto second = r.next();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->histogram, b);
  EXPECT_EQ(second->histogram.tag(), "slow");
  EXPECT_EQ(second->histogram.end_time_ms(), 1'700'000'002'250);
  EXPECT_DOUBLE_EQ(second->timestamp_s, 1.0);
  EXPECT_DOUBLE_EQ(second->length_s, 1.25);
  EXPECT_EQ(second->max_column,
            std::stod(wsb::hdr::java_fixed(static_cast<double>(b.max()) / 1e6, 3)));
  EXPECT_FALSE(r.next());
  EXPECT_DOUBLE_EQ(r.start_time_s(), 1'700'000'000.0);
  EXPECT_TRUE(r.observed_base_time());
}

TEST(HdrLog, RelativeAndAbsoluteTimestampRule) {
  const std::string line = std::string(",1.000,0.003,") + kOneTwoThree + "\n";
  // A StartTime and no BaseTime: a small timestamp is more than a year before
  // the start time, so timestamps are relative to it.
  {
    std::istringstream in("#[StartTime: 1441812279.474 (seconds since epoch), x]\n2.500" + line);
    LogReader r(in);
    const auto e = r.next();
    ASSERT_TRUE(e);
    EXPECT_DOUBLE_EQ(e->absolute_start_s, 1441812281.974);
    // (long)(seconds * 1000) as in Java, which may truncate to ...973.
    EXPECT_NEAR(static_cast<double>(e->histogram.start_time_ms()), 1441812281974.0, 1.0);
  }
  // Absolute timestamps are taken as they are.
  {
    std::istringstream in("#[StartTime: 1441812279.474 (seconds since epoch), x]\n1441812280.000" +
                          line);
    LogReader r(in);
    const auto e = r.next();
    ASSERT_TRUE(e);
    EXPECT_DOUBLE_EQ(e->absolute_start_s, 1441812280.0);
  }
  // No StartTime: the first timestamp becomes the start time.
  {
    std::istringstream in("7.000" + line + "8.000" + line);
    LogReader r(in);
    ASSERT_TRUE(r.next());
    EXPECT_DOUBLE_EQ(r.start_time_s(), 7.0);
    const auto e = r.next();
    ASSERT_TRUE(e);
    EXPECT_DOUBLE_EQ(e->absolute_start_s, 8.0);
  }
  // An explicit BaseTime wins.
  {
    std::istringstream in(
        "#[StartTime: 100.000 (seconds since epoch), x]\n#[BaseTime: 90.000 (seconds since "
        "epoch)]\n"
        "1.000" +
        line);
    LogReader r(in);
    const auto e = r.next();
    ASSERT_TRUE(e);
    EXPECT_DOUBLE_EQ(e->absolute_start_s, 91.0);
  }
}

TEST(HdrLog, RangesFollowJava) {
  std::string log =
      "#[StartTime: 1000.000 (seconds since epoch), x]\n#[BaseTime: 1000.000 (seconds since "
      "epoch)]\n";
  for (int t = 0; t < 6; ++t)
    log += std::to_string(t) + ".000,1.000,0.003," + kOneTwoThree + "\n";
  {
    std::istringstream in(log);
    LogReader r(in);
    int n = 0;
    while (auto e = r.next(2.0, 4.0)) {
      EXPECT_GE(e->timestamp_s, 2.0);
      EXPECT_LE(e->timestamp_s, 4.0);
      ++n;
    }
    EXPECT_EQ(n, 3);
    EXPECT_FALSE(r.next());  // the log ended at the first interval after the range
  }
  {
    std::istringstream in(log);
    LogReader r(in);
    int n = 0;
    while (r.next_absolute(1003.0, 1e18))
      ++n;
    EXPECT_EQ(n, 3);
  }
}

TEST(HdrLog, CommentsBlankLinesAndCrLfAreAccepted) {
  std::istringstream in(std::string("#[Histogram log format version 1.3]\r\n") + "# a comment\r\n" +
                        "\r\n" +
                        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_"
                        "Compressed_Histogram\"\r\n" +
                        "Tag=x,0.000,1.000,0.003," + kOneTwoThree + "\r\n");
  LogReader r(in);
  const auto e = r.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->histogram, one_two_three());
  EXPECT_EQ(e->histogram.tag(), "x");
  EXPECT_EQ(e->line, 5u);
}

TEST(HdrLog, MalformedLinesReportTheirLineNumber) {
  auto error_of = [](const std::string& log) -> std::pair<std::size_t, std::string> {
    std::istringstream in(log);
    LogReader r(in);
    try {
      while (r.next()) {
      }
    } catch (const LogError& e) {
      return {e.line(), e.what()};
    }
    return {0, ""};
  };
  const std::string good = std::string("0.000,1.000,0.003,") + kOneTwoThree + "\n";
  auto [line, what] = error_of("#c\n" + good + "x,1.000,0.003," + kOneTwoThree + "\n");
  EXPECT_EQ(line, 3u);
  EXPECT_NE(what.find("hlog line 3"), std::string::npos);
  EXPECT_NE(what.find("not a number"), std::string::npos);
  std::tie(line, what) = error_of(good + "1.000,1.000\n");
  EXPECT_EQ(line, 2u);
  EXPECT_NE(what.find("fields"), std::string::npos);
  std::tie(line, what) = error_of(good + good + "2.000,1.000,0.003,HISTFAAAACN42pNpm\n");
  EXPECT_EQ(line, 3u);
  std::tie(line, what) =
      error_of("0.000,1.000,0.003,HISTiQAAAB942pNpmSzMwMDAyAABzFAazL82eQmD/QeoCABVgwSI\n");
  EXPECT_EQ(line, 1u);
}

}  // namespace
