#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "options.hpp"
#include "platform/net.hpp"

namespace wsb::loadgen {
namespace {

using namespace std::chrono_literals;

TEST(SizeRange, SingleValueAndRange) {
  EXPECT_EQ(parse_size_range("16"), (SizeRange{16, 16}));
  EXPECT_EQ(parse_size_range("0"), (SizeRange{0, 0}));
  EXPECT_EQ(parse_size_range("16-1024"), (SizeRange{16, 1024}));
  EXPECT_EQ(parse_size_range("1k-64k"), (SizeRange{1024, 65536}));
  EXPECT_EQ(parse_size_range(" 8 - 9 "), (SizeRange{8, 9}));
  EXPECT_EQ(to_string(SizeRange{16, 16}), "16");
  EXPECT_EQ(to_string(SizeRange{1, 2}), "1-2");
}

TEST(SizeRange, RejectsMalformed) {
  for (const char* bad : {"", "-", "5-", "-5", "10-5", "abc", "1-2-3", "5000000000", "1.5"}) {
    EXPECT_FALSE(parse_size_range(bad)) << bad;
  }
}

TEST(SourceList, Ipv4RangeIncludesBothEnds) {
  std::string why;
  const auto list = parse_source_list("127.0.0.1-127.0.0.16", &why);
  ASSERT_TRUE(list) << why;
  ASSERT_EQ(list->size(), 16u);
  EXPECT_EQ(net::host_to_string(list->front()), "127.0.0.1");
  EXPECT_EQ(net::host_to_string(list->back()), "127.0.0.16");
  for (const auto& e : *list)
    EXPECT_EQ(e.port(), 0);
}

TEST(SourceList, RangeCrossesOctetBoundary) {
  const auto list = parse_source_list("10.0.0.254-10.0.1.1", nullptr);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ(net::host_to_string((*list)[1]), "10.0.0.255");
  EXPECT_EQ(net::host_to_string((*list)[2]), "10.0.1.0");
}

TEST(SourceList, MixedListAndIpv6) {
  const auto list = parse_source_list("127.0.0.1, ::1,127.0.0.5-127.0.0.6", nullptr);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 4u);
  EXPECT_TRUE((*list)[1].is_v6());
  EXPECT_EQ(net::host_to_string((*list)[3]), "127.0.0.6");
}

TEST(SourceList, RejectsBadInput) {
  std::string why;
  for (const char* bad : {"", "1.2.3", "127.0.0.2-127.0.0.1", "::1-::2", "a,,b",
                          "10.0.0.0-10.1.0.0", "127.0.0.1-", "300.0.0.1"}) {
    why.clear();
    EXPECT_FALSE(parse_source_list(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(Slo, ParsesPercentilesMaxAndMean) {
  std::string why;
  const auto terms = parse_slo("p99=5ms,p99.9=20ms, max=1s,mean=250us,p100=2s", &why);
  ASSERT_TRUE(terms) << why;
  ASSERT_EQ(terms->size(), 5u);
  EXPECT_EQ((*terms)[0].metric, SloTerm::Metric::percentile);
  EXPECT_DOUBLE_EQ((*terms)[0].percentile, 99.0);
  EXPECT_EQ((*terms)[0].limit, 5ms);
  EXPECT_DOUBLE_EQ((*terms)[1].percentile, 99.9);
  EXPECT_EQ((*terms)[1].limit, 20ms);
  EXPECT_EQ((*terms)[2].metric, SloTerm::Metric::max);
  EXPECT_EQ((*terms)[2].limit, 1s);
  EXPECT_EQ((*terms)[3].metric, SloTerm::Metric::mean);
  EXPECT_EQ((*terms)[3].limit, 250us);
  EXPECT_DOUBLE_EQ((*terms)[4].percentile, 100.0);
  EXPECT_EQ((*terms)[0].text, "p99=5ms");
}

TEST(Slo, RejectsBadTerms) {
  for (const char* bad : {"", "p99", "p99=", "p99=fast", "p0=1ms", "p101=1ms", "q99=1ms", "p=1ms",
                          "p99=5ms,", "p-1=1ms", "p99x=1ms"}) {
    std::string why;
    EXPECT_FALSE(parse_slo(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

// parse_command_line with a fixed engine list, capturing nothing: the tests
// only look at the exit code and the options.
struct Parsed {
  std::optional<int> code;
  Options options;
};
Parsed parse(std::vector<std::string> args) {
  args.insert(args.begin(), "loadgen");
  std::vector<const char*> argv;
  for (const auto& a : args)
    argv.push_back(a.c_str());
  Parsed p;
  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  p.code = parse_command_line(static_cast<int>(argv.size()), argv.data(), p.options,
                              {{"fake", "a test engine"}, {"other", "another"}});
  testing::internal::GetCapturedStdout();
  testing::internal::GetCapturedStderr();
  return p;
}

TEST(CommandLine, Defaults) {
  const Parsed p = parse({});
  ASSERT_FALSE(p.code);
  EXPECT_EQ(p.options.mode, Mode::closed);
  EXPECT_EQ(p.options.connections, 10u);
  EXPECT_EQ(p.options.pipeline, 1u);
  EXPECT_EQ(p.options.duration, 10s);
  EXPECT_EQ(p.options.timeout, 5s);
  EXPECT_EQ(p.options.spin, 50us);
  EXPECT_EQ(p.options.size, (SizeRange{16, 16}));
  EXPECT_EQ(net::to_string(p.options.target), "127.0.0.1:21234");
  EXPECT_GE(p.options.threads, 1);
  EXPECT_LE(p.options.threads, 10);
}

TEST(CommandLine, ModesFromFlags) {
  EXPECT_EQ(parse({"--rate", "500"}).options.mode, Mode::open);
  EXPECT_EQ(parse({"--churn", "3"}).options.mode, Mode::churn);
  EXPECT_EQ(parse({"--hold"}).options.mode, Mode::hold);
  EXPECT_DOUBLE_EQ(parse({"-R", "0.5"}).options.rate, 0.5);
}

TEST(CommandLine, ThreadsNeverExceedConnections) {
  const Parsed p = parse({"--threads", "8", "-c", "3"});
  ASSERT_FALSE(p.code);
  EXPECT_EQ(p.options.threads, 3);
}

TEST(CommandLine, SpawnTakesArgumentsAfterDoubleDash) {
  const Parsed p = parse({"--spawn", "epoll", "--", "--threads", "2", "--stall", "300/2"});
  ASSERT_FALSE(p.code);
  EXPECT_EQ(p.options.spawn, "epoll");
  EXPECT_EQ(p.options.spawn_args, (std::vector<std::string>{"--threads", "2", "--stall", "300/2"}));
}

TEST(CommandLine, UsageErrorsExitWithTwo) {
  const std::vector<std::vector<std::string>> bad{
      {"--bogus"},
      {"--rate", "100", "--churn", "2"},
      {"--rate", "100", "--hold"},
      {"--rate", "0"},
      {"--rate", "100", "--think", "1ms"},
      {"--hold", "--pipeline", "4"},
      {"--target", "nowhere"},
      {"--target", "127.0.0.1:0"},
      {"--target", "127.0.0.1:1", "--spawn", "epoll"},
      {"--size", "9-3"},
      {"--size", "70000"},                    // upper bodies fit in 16 bits
      {"--protocol", "echo", "--size", "0"},  // echo needs a byte to echo
      {"--protocol", "gopher"},
      {"--connections", "0"},
      {"--pipeline", "0"},
      {"--duration", "0"},  // would never end
      {"--duration", "fast"},
      {"--timeout", "0"},
      {"--interval", "1ms"},
      {"--spin", "soon"},
      {"--slo", "p99"},
      {"--source", "1.2.3.4-1.2.3.1"},
      {"--engine", "missing"},
      {"--any-body", "--expect-body", "x"},
      {"stray"},  // server arguments without --spawn
  };
  for (const auto& args : bad) {
    std::string joined;
    for (const auto& a : args)
      joined += a + " ";
    EXPECT_EQ(parse(args).code, std::optional<int>(kExitUsage)) << joined;
  }
}

TEST(CommandLine, HelpVersionAndEngineListExitZero) {
  EXPECT_EQ(parse({"--help"}).code, std::optional<int>(0));
  EXPECT_EQ(parse({"--version"}).code, std::optional<int>(0));
  EXPECT_EQ(parse({"--list-engines"}).code, std::optional<int>(0));
  EXPECT_FALSE(parse({"--engine", "other"}).code);
}

TEST(CommandLine, SpinTakesADurationAndZero) {
  EXPECT_EQ(parse({"--spin", "0"}).options.spin, 0s);
  EXPECT_EQ(parse({"--spin", "200us"}).options.spin, 200us);
}

TEST(CommandLine, DurationZeroWithRequestsIsAllowed) {
  const Parsed p = parse({"--duration", "0", "--requests", "100"});
  ASSERT_FALSE(p.code);
  EXPECT_EQ(p.options.requests, 100u);
}

}  // namespace
}  // namespace wsb::loadgen
