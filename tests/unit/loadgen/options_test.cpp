#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "affinity.hpp"
#include "options.hpp"
#include "platform/net.hpp"
#include "sys.hpp"

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
  std::string out, err;
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
  p.out = testing::internal::GetCapturedStdout();
  p.err = testing::internal::GetCapturedStderr();
  return p;
}

// The arguments on one line, to name the case in a failure message.
std::string joined(const std::vector<std::string>& args) {
  std::string line;
  for (const auto& a : args)
    line += a + " ";
  return line;
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

TEST(CommandLine, DistributedOptions) {
  const Parsed p = parse({"-c", "10", "--rate", "1000", "--shard", "1/4", "--start-at", "+3s",
                          "--tag", "rack-a:1", "--strict-start"});
  ASSERT_FALSE(p.code) << p.err;
  EXPECT_EQ(p.options.connections, 3u);  // 10 over 4: 3, 3, 2, 2
  EXPECT_DOUBLE_EQ(p.options.rate, 300.0);
  EXPECT_EQ(p.options.distributed.shard_index, 1u);
  EXPECT_EQ(p.options.distributed.shard_count, 4u);
  EXPECT_EQ(p.options.distributed.tag, "rack-a:1");
  EXPECT_TRUE(p.options.distributed.strict_start);
  ASSERT_TRUE(p.options.distributed.start_at_ms);
  // No --shard: a run alone, tagged with the host name.
  const Parsed alone = parse({});
  EXPECT_EQ(alone.options.distributed.shard_count, 1u);
  EXPECT_NE(alone.options.distributed.tag.find(":0"), std::string::npos);
}

TEST(CommandLine, DistributedBadInputIsAOneLineUsageError) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--shard", "5/4"},
                                               {"--start-at", "2020-01-01T00:00:00Z"},
                                               {"--start-at", "soon"},
                                               {"--strict-start"},
                                               {"-c", "2", "--shard", "2/4"},
                                               {"--tag", "a b"}}) {
    const Parsed p = parse(args);
    EXPECT_EQ(p.code, kExitUsage) << args[0];
    // The first line is the whole error; the usage text follows it.
    EXPECT_EQ(p.err.rfind("loadgen: --", 0), 0u) << p.err.substr(0, 200);
  }
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
    EXPECT_EQ(parse(args).code, std::optional<int>(kExitUsage)) << joined(args);
  }
}

TEST(CommandLine, ChatTakesGroupsAndAPrivateShare) {
  const Parsed p = parse({"--protocol", "chat", "-c", "200", "--group-size", "10",
                          "--private-share", "0.2", "--first-user", "1001"});
  ASSERT_FALSE(p.code) << p.err;
  EXPECT_EQ(p.options.protocol, proto::Protocol::chat);
  EXPECT_EQ(p.options.group_size, 10u);
  EXPECT_DOUBLE_EQ(p.options.private_share, 0.2);
  EXPECT_EQ(p.options.first_user, 1001u);
  proto::ClientConfig cfg;
  set_chat_config(p.options, cfg);
  EXPECT_EQ(cfg.chat_users, 200u);
  EXPECT_EQ(cfg.chat_first_user, 1001u);
  EXPECT_EQ(cfg.chat_group_size, 10u);
  EXPECT_EQ(parse({"--protocol", "chat", "--rate", "100"}).options.mode, Mode::open);
}

TEST(CommandLine, ChatUsageErrorsExitWithTwo) {
  const std::vector<std::vector<std::string>> bad{
      {"--protocol", "chat", "--churn", "2"},
      {"--protocol", "chat", "--hold"},
      {"--protocol", "chat", "--group-size", "0"},
      {"--protocol", "chat", "--private-share", "1.5"},
      {"--protocol", "chat", "-c", "10", "--private-share", "0.1"},  // one group: nobody else
      {"--protocol", "chat", "--size", "8"},  // no room for the sequence and send time
      {"--protocol", "chat", "--first-user", "0"},
  };
  for (const auto& args : bad) {
    const Parsed p = parse(args);
    EXPECT_EQ(p.code, std::optional<int>(kExitUsage)) << joined(args);
    EXPECT_NE(p.err.find("loadgen"), std::string::npos) << joined(args) << p.err;
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

TEST(CommandLine, JsonTakesAFileOrStdout) {
  EXPECT_EQ(parse({"--json", "-"}).options.json, "-");
  EXPECT_EQ(parse({"--json", "run.json"}).options.json, "run.json");
  EXPECT_EQ(parse({}).options.json, "");
}

// What a newcomer reads: the usage line names the server's arguments, the
// notes of linked options stay out of the option column, and the exit codes,
// examples and the documentation are named.
TEST(CommandLine, HelpNamesExitCodesExamplesAndTheDocs) {
  const Parsed p = parse({"--help"});
  EXPECT_NE(p.out.find("Usage: loadgen [OPTIONS] [-- SERVER ARGS...]"), std::string::npos) << p.out;
  EXPECT_EQ(p.out.find("[server-args...]"), std::string::npos);
  EXPECT_EQ(p.out.find("Excludes:"), std::string::npos);
  EXPECT_EQ(p.out.find("Needs:"), std::string::npos);
  EXPECT_NE(p.out.find("(excludes --spawn)"), std::string::npos);
  for (const char* code : {"Exit codes: 0", "; 1 ", "; 2 ", "; 3 ", "; 4 "}) {
    EXPECT_NE(p.out.find(code), std::string::npos) << code;
  }
  EXPECT_NE(p.out.find("Examples:"), std::string::npos);
  EXPECT_NE(p.out.find("docs/loadgen.md"), std::string::npos);
  EXPECT_NE(p.out.find("default 0: one per core"), std::string::npos);
  EXPECT_NE(p.out.find("default 0s: measure from the first connect"), std::string::npos);
}

// A TOML scenario file in the test's temporary folder, removed after.
class ConfigFile {
 public:
  ConfigFile(const std::string& name, const std::string& text)
      : path_((std::filesystem::temp_directory_path() / ("wsb_loadgen_config_" + name)).string()) {
    std::ofstream(path_, std::ios::binary) << text;
  }
  ~ConfigFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Config, EveryLongOptionIsAKeyAndTheCommandLineWins) {
  const ConfigFile file("good.toml",
                        "# a scenario\nconnections = 7\nrate = 300\nduration = \"3s\"\n"
                        "connect-rate = 50\nlabel = \"from the file\"\nquiet = true\n");
  const Parsed p = parse({"--config", file.path(), "-d", "2s"});
  ASSERT_FALSE(p.code) << p.err;
  EXPECT_EQ(p.options.connections, 7u);
  EXPECT_EQ(p.options.mode, Mode::open);
  EXPECT_DOUBLE_EQ(p.options.rate, 300.0);
  EXPECT_DOUBLE_EQ(p.options.connect_rate, 50.0);
  EXPECT_EQ(p.options.label, "from the file");
  EXPECT_TRUE(p.options.quiet);
  EXPECT_EQ(p.options.duration, 2s);  // the command line overrides the file
}

TEST(Config, PrintConfigWritesWhatWasGiven) {
  const Parsed p = parse({"-c", "100", "--rate", "5000", "--label", "x y", "--print-config"});
  EXPECT_EQ(p.code, std::optional<int>(0));
  EXPECT_NE(p.out.find("connections=100"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("rate=5000"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("label=\"x y\""), std::string::npos) << p.out;
  EXPECT_EQ(p.out.find("print-config"), std::string::npos) << p.out;
  // What it printed reads back as the same options.
  const ConfigFile file("printed.toml", p.out);
  const Parsed again = parse({"--config", file.path()});
  ASSERT_FALSE(again.code) << again.err;
  EXPECT_EQ(again.options.connections, 100u);
  EXPECT_DOUBLE_EQ(again.options.rate, 5000.0);
  EXPECT_EQ(again.options.label, "x y");
}

TEST(Config, UnknownKeyAndMissingFileAreOneLineErrors) {
  const ConfigFile file("unknown.toml", "connections = 5\n\nconections = 7\n");
  const Parsed unknown = parse({"--config", file.path()});
  EXPECT_EQ(unknown.code, std::optional<int>(kExitUsage));
  EXPECT_EQ(unknown.err, "loadgen: --config " + file.path() +
                             ":3: unknown key \"conections\" (the keys are loadgen's long "
                             "options without --)\n");
  const Parsed missing = parse({"--config", file.path() + ".missing"});
  EXPECT_EQ(missing.code, std::optional<int>(kExitUsage));
  EXPECT_EQ(missing.err.rfind("loadgen: --config " + file.path() + ".missing: ", 0), 0u)
      << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
}

TEST(Config, ABadValueInTheFileNamesTheFileAndLine) {
  const ConfigFile file("value.toml", "# scenario\nduration = \"3s\"\nconnections = \"many\"\n");
  const Parsed p = parse({"--config", file.path()});
  EXPECT_EQ(p.code, std::optional<int>(kExitUsage));
  EXPECT_EQ(p.err.rfind("loadgen: --config " + file.path() + ":3: --connections: ", 0), 0u)
      << p.err;
  EXPECT_EQ(std::count(p.err.begin(), p.err.end(), '\n'), 1) << p.err;
  // A value the option's own parser refuses after CLI11 took it.
  const ConfigFile size("size.toml", "size = \"9-3\"\n");
  const Parsed r = parse({"--config", size.path()});
  EXPECT_EQ(r.code, std::optional<int>(kExitUsage));
  EXPECT_EQ(r.err.rfind("loadgen: --config " + size.path() + ":1: --size: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // The same mistake on the command line is the command line's, with usage.
  const ConfigFile good("fine.toml", "duration = \"3s\"\n");
  const Parsed q = parse({"--config", good.path(), "-c", "many"});
  EXPECT_EQ(q.code, std::optional<int>(kExitUsage));
  EXPECT_EQ(q.err.rfind("loadgen: --connections: ", 0), 0u) << q.err;
  EXPECT_NE(q.err.find("Usage:"), std::string::npos);
}

// --target takes a host name too; it is resolved when the run starts.
TEST(CommandLine, TargetTakesAHostName) {
  const Parsed p = parse({"--target", "loopback-name.example:8080"});
  ASSERT_FALSE(p.code) << p.err;
  EXPECT_EQ(p.options.target_name, "loopback-name.example");
  EXPECT_EQ(p.options.target_port, 8080);
  EXPECT_EQ(parse({"--target", "name:0"}).code, std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"--target", "bad_name:80"}).code, std::optional<int>(kExitUsage));
}

// ---- --find-capacity and the CPU sets (issue 16) --------------------------

TEST(CommandLine, SloTakesLessOrEqualAndTheOlderEquals) {
  std::string why;
  const auto terms = parse_slo("p99<=5ms, p99.9=20ms,max<=1s", &why);
  ASSERT_TRUE(terms) << why;
  ASSERT_EQ(terms->size(), 3u);
  EXPECT_EQ((*terms)[0].percentile, 99.0);
  EXPECT_EQ((*terms)[0].limit, 5ms);
  EXPECT_EQ((*terms)[1].limit, 20ms);
  EXPECT_EQ((*terms)[2].metric, SloTerm::Metric::max);
  for (const char* bad : {"p99<5ms", "p99<=", "p99<=soon", "q99<=5ms", "p0<=1ms"}) {
    EXPECT_FALSE(parse_slo(bad, &why)) << bad;
  }
}

TEST(CommandLine, FindCapacityBecomesAnOpenLoopAtTheStartRate) {
  const Parsed p =
      parse({"--find-capacity", "--slo", "p99<=5ms", "--rate-start", "500", "--rate-max", "9000",
             "--rate-growth", "1.5", "--capacity-precision", "2%"});
  ASSERT_FALSE(p.code) << p.err;
  EXPECT_TRUE(p.options.find_capacity);
  EXPECT_EQ(p.options.mode, Mode::open);
  EXPECT_EQ(p.options.rate, 500.0);
  EXPECT_EQ(p.options.capacity.rate_start, 500.0);
  EXPECT_EQ(p.options.capacity.rate_max, 9000.0);
  EXPECT_EQ(p.options.capacity.growth, 1.5);
  EXPECT_DOUBLE_EQ(p.options.capacity.precision, 0.02);
  EXPECT_DOUBLE_EQ(parse({"--capacity-precision", "5"}).options.capacity.precision, 0.05);
}

TEST(CommandLine, FindCapacityRefusesWhatCannotDescribeItsSteps) {
  const std::vector<std::vector<std::string>> bad{
      {"--find-capacity"},  // no --slo
      {"--find-capacity", "--slo", "p99<=5parsecs"},
      {"--find-capacity", "--slo", "p99 under 5ms"},
      {"--find-capacity", "--slo", "p99<=5ms", "--rate", "100"},
      {"--find-capacity", "--slo", "p99<=5ms", "--hold"},
      {"--find-capacity", "--slo", "p99<=5ms", "--json", "-"},
      {"--find-capacity", "--slo", "p99<=5ms", "--rate-start", "900", "--rate-max", "800"},
      {"--find-capacity", "--slo", "p99<=5ms", "--rate-growth", "1"},
      {"--find-capacity", "--slo", "p99<=5ms", "--rate-start", "0"},
      {"--capacity-precision", "0"},
      {"--capacity-precision", "much"},
  };
  for (const auto& args : bad) {
    const Parsed p = parse(args);
    EXPECT_EQ(p.code, std::optional<int>(kExitUsage)) << joined(args);
    EXPECT_EQ(p.err.rfind("loadgen: ", 0), 0u) << joined(args) << p.err;
  }
  // The first line names the problem (the usage text follows it).
  const Parsed p = parse({"--find-capacity", "--slo", "p99 under 5ms"});
  EXPECT_NE(p.err.substr(0, p.err.find('\n')).find("--slo"), std::string::npos) << p.err;
}

TEST(CommandLine, CpuSetsDefaultToNoneAndSetTheThreadCount) {
  const Parsed none = parse({});
  ASSERT_FALSE(none.code);
  EXPECT_TRUE(none.options.server_cpus.empty());
  EXPECT_TRUE(none.options.loadgen_cpus.empty());
  const int cpu = usable_cpus().front();
  const Parsed p = parse({"--loadgen-cpus", std::to_string(cpu), "-c", "8"});
  ASSERT_FALSE(p.code) << p.err;
  EXPECT_EQ(p.options.loadgen_cpus, std::vector<int>{cpu});
  EXPECT_EQ(p.options.threads, 1);  // one per core of loadgen's set
  EXPECT_EQ(
      parse({"--loadgen-cpus", std::to_string(cpu), "--threads", "3", "-c", "8"}).options.threads,
      3);
}

TEST(CommandLine, UnknownCpuIsAUsageErrorNamingIt) {
  const Parsed p = parse({"--spawn", "epoll", "--server-cpus", "100000"});
  EXPECT_EQ(p.code, std::optional<int>(kExitUsage));
  EXPECT_EQ(p.err.rfind("loadgen: --server-cpus: CPU 100000 is not one", 0), 0u) << p.err;
  EXPECT_EQ(parse({"--loadgen-cpus", "0-"}).code, std::optional<int>(kExitUsage));
  // A server set without a server to pin.
  EXPECT_EQ(parse({"--server-cpus", std::to_string(usable_cpus().front())}).code,
            std::optional<int>(kExitUsage));
}

}  // namespace
}  // namespace wsb::loadgen
