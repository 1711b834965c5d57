#include "platform/duration.hpp"

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using wsb::platform::format_duration;
using wsb::platform::parse_duration;
using wsb::platform::parse_size;

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parse_duration("100ns"), 100ns);
  EXPECT_EQ(parse_duration("250us"), 250us);
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("3s"), 3s);
  EXPECT_EQ(parse_duration("2m"), 2min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("0"), 0ns);
  EXPECT_EQ(parse_duration("0ms"), 0ns);
}

TEST(ParseDuration, BareNumberMeansSeconds) {
  EXPECT_EQ(parse_duration("10"), 10s);
  EXPECT_EQ(parse_duration("1.5"), 1500ms);
  EXPECT_EQ(parse_duration(".25"), 250ms);
}

TEST(ParseDuration, DecimalsAreExact) {
  EXPECT_EQ(parse_duration("1.5ms"), 1500us);
  EXPECT_EQ(parse_duration("0.1s"), 100ms);  // exact, unlike 0.1 as a double
  EXPECT_EQ(parse_duration("1.5h"), 90min);
  EXPECT_EQ(parse_duration("0.001us"), 1ns);
  EXPECT_EQ(parse_duration("0.0004us"), 0ns);  // below a nanosecond truncates
  EXPECT_EQ(parse_duration("2.123456789s"), 2123456789ns);
  EXPECT_EQ(parse_duration("0.000000000000000000001h"), 0ns);  // more than 17 decimals
  EXPECT_EQ(parse_duration("1.0000000001h"), 1h + 360ns);
}

TEST(ParseDuration, RejectsMalformedInput) {
  for (const char* bad : {"", "s", "ms", "-1s", "1.", "1..5s", "1 s", "1sec", "5x", " 3s", "3s ",
                          "1e3", "+1s", "1,5s", "0x10"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(ParseDuration, RejectsOverflow) {
  EXPECT_FALSE(parse_duration("9999999999999999999999ns").has_value());
  EXPECT_FALSE(parse_duration("3000000h").has_value());  // about 342 years: > 2^63 ns
  EXPECT_TRUE(parse_duration("2000000h").has_value());   // about 228 years still fits
}

TEST(FormatDuration, PicksReadableUnits) {
  EXPECT_EQ(format_duration(0ns), "0s");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(2min), "2m");
  EXPECT_EQ(format_duration(90min), "90m");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(61s), "61s");
  EXPECT_EQ(format_duration(120us), "120us");
  EXPECT_EQ(format_duration(1234567ns), "1.235ms");
  EXPECT_EQ(format_duration(7ns), "7ns");
  EXPECT_EQ(format_duration(-3s), "-3s");
  EXPECT_EQ(format_duration(std::chrono::nanoseconds::min()).front(), '-');
}

TEST(FormatDuration, ReadsBack) {
  for (const std::chrono::nanoseconds d : {0ns, 1ns, 999ns, 1000ns, 1500000ns, 3000000000ns}) {
    const auto text = format_duration(d);
    EXPECT_EQ(parse_duration(text), d) << text;
  }
  for (const std::chrono::nanoseconds d :
       {std::chrono::nanoseconds(2min), std::chrono::nanoseconds(90min),
        std::chrono::nanoseconds(5h), std::chrono::nanoseconds(61s)}) {
    const auto text = format_duration(d);
    EXPECT_EQ(parse_duration(text), d) << text;
  }
}

TEST(ParseSize, AcceptsBinarySuffixes) {
  EXPECT_EQ(parse_size("0"), 0U);
  EXPECT_EQ(parse_size("1048576"), 1048576U);
  EXPECT_EQ(parse_size("64k"), 65536U);
  EXPECT_EQ(parse_size("64K"), 65536U);
  EXPECT_EQ(parse_size("1M"), 1048576U);
  EXPECT_EQ(parse_size("1MiB"), 1048576U);
  EXPECT_EQ(parse_size("2g"), 2ULL << 30);
  EXPECT_EQ(parse_size("512B"), 512U);
  EXPECT_EQ(parse_size("3kb"), 3072U);
}

TEST(ParseSize, RejectsMalformedInput) {
  for (const char* bad :
       {"", "k", "1.5M", "-1", "1T", "1 k", "1kk", "18446744073709551616", "17179869184G"}) {
    EXPECT_FALSE(parse_size(bad).has_value()) << bad;
  }
  EXPECT_EQ(parse_size("18446744073709551615"), 18446744073709551615ULL);
}

}  // namespace
