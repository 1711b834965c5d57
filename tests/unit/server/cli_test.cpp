#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "platform/net.hpp"
#include "server/frame.hpp"
#include "test_support.hpp"

namespace wsb::server {
namespace {

using namespace std::chrono_literals;
using test::make_frame;
using test::parse_captured;

// Writes `content` to the file `name` in the temporary folder, closed again
// when this returns its path.
std::filesystem::path temp_file(const char* name, const std::string& content) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream out(path, std::ios::binary);
  out << content;
  return path;
}

TEST(Cli, Defaults) {
  auto frame = make_frame({}, 3);
  const Options& o = frame->options();
  EXPECT_EQ(o.bind, "127.0.0.1");
  EXPECT_EQ(o.port, 21234);
  EXPECT_EQ(o.protocol, proto::Protocol::upper);
  EXPECT_EQ(o.threads, 3);  // 0 on the command line means the model's default
  EXPECT_EQ(o.max_connections, 0);
  EXPECT_EQ(o.max_conns_per_ip, 0);
  EXPECT_EQ(o.ban_time, 10s);
  EXPECT_EQ(o.idle_timeout, 0ns);
  EXPECT_EQ(o.duration, 0ns);
  EXPECT_EQ(o.stats_interval, 1s);
  EXPECT_EQ(o.stats_csv, "");
  EXPECT_FALSE(o.quiet);
  EXPECT_EQ(o.max_pending_output, std::size_t{1} << 20);
  EXPECT_EQ(o.backlog, net::default_backlog());
  EXPECT_FALSE(o.stall.has_value());
  EXPECT_EQ(frame->model_name(), "test");
}

TEST(Cli, EveryFlagWithUnits) {
  auto frame = make_frame({"--bind",
                           "::1",
                           "--port",
                           "0",
                           "--protocol",
                           "http",
                           "--threads",
                           "4",
                           "--max-connections",
                           "100",
                           "--max-conns-per-ip",
                           "5",
                           "--ban-time",
                           "2m",
                           "--idle-timeout",
                           "500ms",
                           "--duration",
                           "1.5",
                           "--stats-interval",
                           "2s",
                           "--quiet",
                           "--max-pending",
                           "64k",
                           "--backlog",
                           "16",
                           "--stall",
                           "50/2"});
  const Options& o = frame->options();
  EXPECT_EQ(o.bind, "::1");
  EXPECT_EQ(o.port, 0);
  EXPECT_EQ(o.protocol, proto::Protocol::http);
  EXPECT_EQ(o.threads, 4);
  EXPECT_EQ(o.max_connections, 100);
  EXPECT_EQ(o.max_conns_per_ip, 5);
  EXPECT_EQ(o.ban_time, 120s);
  EXPECT_EQ(o.idle_timeout, 500ms);
  EXPECT_EQ(o.duration, 1500ms);
  EXPECT_EQ(o.stats_interval, 2s);
  EXPECT_TRUE(o.quiet);
  EXPECT_EQ(o.max_pending_output, 65536U);
  EXPECT_EQ(o.backlog, 16);
  ASSERT_TRUE(o.stall.has_value());
  EXPECT_EQ(o.stall->pause, 50ms);
  EXPECT_EQ(o.stall->every, 2s);
}

TEST(Cli, StallTakesUnitsToo) {
  auto frame = make_frame({"--stall", "20ms/500ms", "--protocol", "echo", "--duration", "2m"});
  ASSERT_TRUE(frame->options().stall.has_value());
  EXPECT_EQ(frame->options().stall->pause, 20ms);
  EXPECT_EQ(frame->options().stall->every, 500ms);
  EXPECT_EQ(frame->options().protocol, proto::Protocol::echo);
  EXPECT_EQ(frame->options().duration, 2min);
}

TEST(Cli, UnknownFlagPrintsUsageAndExits2) {
  Frame frame("test", "A model for the unit tests.");
  const auto parsed = parse_captured(frame, {"--no-such-flag"});
  ASSERT_TRUE(parsed.exit_code.has_value());
  EXPECT_EQ(*parsed.exit_code, 2);
  EXPECT_EQ(parsed.out, "");
  EXPECT_NE(parsed.err.find("--no-such-flag"), std::string::npos) << parsed.err;
  EXPECT_NE(parsed.err.find("--port"), std::string::npos) << "no usage in: " << parsed.err;
}

TEST(Cli, BadValuesExit2) {
  const std::vector<std::vector<std::string>> cases{
      {"--duration", "5x"},
      {"--protocol", "ftp"},
      {"--port", "70000"},
      {"--port", "-1"},
      {"--stall", "3000/2"},
      {"--stall", "abc"},
      {"--stall", "0/1"},
      {"--stats-interval", "1ms"},
      {"--bind", "example.com"},
      {"--threads", "-1"},
      {"--max-pending", "1.5M"},
      {"--max-connections", "-3"},
      {"--backlog", "0"},
      {"--idle-timeout", "-1s"},
      {"--port"},
      {"--max-conns-per-ip", "-1"},
      {"--ban-time", "soon"},
      {"unexpected-positional"},
  };
  for (const auto& args : cases) {
    Frame frame("test", "A model for the unit tests.");
    const auto parsed = parse_captured(frame, args);
    ASSERT_TRUE(parsed.exit_code.has_value()) << args[0];
    EXPECT_EQ(*parsed.exit_code, 2) << args[0] << " " << (args.size() > 1 ? args[1] : "");
    EXPECT_FALSE(parsed.err.empty()) << args[0];
  }
}

TEST(Cli, HelpListsEveryFlagWithDefaultsAndExits0) {
  Frame frame("test", "A model for the unit tests.", 2);
  const auto parsed = parse_captured(frame, {"--help"});
  ASSERT_TRUE(parsed.exit_code.has_value());
  EXPECT_EQ(*parsed.exit_code, 0);
  EXPECT_EQ(parsed.err, "");
  for (const char* flag : {"--bind",
                           "--port",
                           "--protocol",
                           "--threads",
                           "--max-connections",
                           "--idle-timeout",
                           "--duration",
                           "--stats-interval",
                           "--stats-csv",
                           "--quiet",
                           "--max-pending",
                           "--backlog",
                           "--stall",
                           "--help",
                           "--version",
                           "A model for the unit tests.",
                           "21234",
                           "127.0.0.1",
                           "upper",
                           "1048576",
                           "model's default (2)",
                           "//q"}) {
    EXPECT_NE(parsed.out.find(flag), std::string::npos) << flag << " missing from\n" << parsed.out;
  }
}

// The --backlog default shown is SOMAXCONN (net::default_backlog()), and
// the help says so rather than promising the system's maximum.
TEST(Cli, BacklogHelpNamesTheDefaultItShows) {
  Frame frame("test", "A model for the unit tests.");
  const auto parsed = parse_captured(frame, {"--help"});
  const std::size_t at = parsed.out.find("--backlog");
  ASSERT_NE(at, std::string::npos) << parsed.out;
  const std::string line = parsed.out.substr(at, parsed.out.find("--stall") - at);
  EXPECT_NE(line.find(std::to_string(net::default_backlog())), std::string::npos) << line;
  EXPECT_NE(line.find("SOMAXCONN as this build's headers define it"), std::string::npos) << line;
}

// --config FILE: CLI11's TOML configuration; the command line overrides it.
TEST(Cli, ConfigFileSetsOptionsAndTheCommandLineOverridesIt) {
  const auto path = temp_file("wsb_unit_server_config.toml",
                              "port = 23456\nprotocol = \"echo\"\nmax-connections = 7\n");
  Frame frame("test", "A model for the unit tests.");
  const auto parsed = parse_captured(frame, {"--config", path.string(), "--protocol", "http"});
  std::filesystem::remove(path);
  ASSERT_FALSE(parsed.exit_code.has_value()) << parsed.err;
  EXPECT_EQ(frame.options().port, 23456);
  EXPECT_EQ(frame.options().max_connections, 7);
  EXPECT_EQ(frame.options().protocol, proto::Protocol::http);
}

TEST(Cli, ConfigFileWithAnUnknownKeyIsAOneLineErrorNamingTheFileExit2) {
  const auto path = temp_file("wsb_unit_server_bad.toml", "port = 23456\nno-such-option = 1\n");
  Frame frame("test", "A model for the unit tests.");
  const auto parsed = parse_captured(frame, {"--config", path.string()});
  std::filesystem::remove(path);
  ASSERT_TRUE(parsed.exit_code.has_value());
  EXPECT_EQ(*parsed.exit_code, 2);
  EXPECT_NE(parsed.err.find(path.string()), std::string::npos) << parsed.err;
  EXPECT_NE(parsed.err.find("no-such-option"), std::string::npos) << parsed.err;
  EXPECT_EQ(parsed.err.find('\n'), parsed.err.size() - 1) << "one line: " << parsed.err;
}

TEST(Cli, AMissingConfigFileIsAOneLineErrorExit2) {
  Frame frame("test", "A model for the unit tests.");
  const auto parsed = parse_captured(frame, {"--config", "/no/such/wsb-config.toml"});
  ASSERT_TRUE(parsed.exit_code.has_value());
  EXPECT_EQ(*parsed.exit_code, 2);
  EXPECT_NE(parsed.err.find("wsb-config.toml"), std::string::npos) << parsed.err;
  EXPECT_EQ(parsed.err.find('\n'), parsed.err.size() - 1) << "one line: " << parsed.err;
}

// --print-config writes a file that --config reads back to the same options.
TEST(Cli, PrintConfigRoundTripsThroughConfig) {
  test::Parsed printed;
  {
    Frame first("test", "A model for the unit tests.");  // one Frame at a time
    printed = parse_captured(first, {"--port", "23457", "--protocol", "echo", "--print-config"});
  }
  ASSERT_TRUE(printed.exit_code.has_value());
  EXPECT_EQ(*printed.exit_code, 0);
  EXPECT_EQ(printed.out.find("print-config"), std::string::npos) << printed.out;
  const auto path = temp_file("wsb_unit_server_printed.toml", printed.out);
  Frame second("test", "A model for the unit tests.");
  const auto parsed = parse_captured(second, {"--config", path.string()});
  std::filesystem::remove(path);
  ASSERT_FALSE(parsed.exit_code.has_value()) << parsed.err << "\nfile:\n" << printed.out;
  EXPECT_EQ(second.options().port, 23457);
  EXPECT_EQ(second.options().protocol, proto::Protocol::echo);
}

TEST(Cli, VersionExits0) {
  Frame frame("test", "A model for the unit tests.");
  const auto parsed = parse_captured(frame, {"--version"});
  ASSERT_TRUE(parsed.exit_code.has_value());
  EXPECT_EQ(*parsed.exit_code, 0);
  EXPECT_NE(parsed.out.find("wsbench"), std::string::npos) << parsed.out;
  EXPECT_NE(parsed.out.find("server-test"), std::string::npos) << parsed.out;
}

TEST(Cli, ModelFlagsAndDefaultMaxConnections) {
  // One Frame at a time: each installs the process's interrupt watcher.
  bool zero_byte_recv = false;
  {
    Frame frame("test", "A model for the unit tests.");
    frame.cli().add_flag("--zero-byte-recv", zero_byte_recv, "A model's own flag");
    frame.set_default_max_connections(64);
    const auto help = parse_captured(frame, {"--help"});
    EXPECT_NE(help.out.find("model's default (64)"), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("--zero-byte-recv"), std::string::npos);
  }
  {
    Frame frame("test", "A model for the unit tests.");
    frame.cli().add_flag("--zero-byte-recv", zero_byte_recv, "A model's own flag");
    frame.set_default_max_connections(64);
    EXPECT_FALSE(parse_captured(frame, {"--zero-byte-recv"}).exit_code.has_value());
    EXPECT_TRUE(zero_byte_recv);
    EXPECT_EQ(frame.options().max_connections, 64);
  }
  {
    Frame frame("test", "A model for the unit tests.");
    frame.set_default_max_connections(64);
    EXPECT_FALSE(parse_captured(frame, {"--max-connections", "10"}).exit_code.has_value());
    EXPECT_EQ(frame.options().max_connections, 10);
  }
}

TEST(Cli, StatsCsvWithAForeignHeaderExits1) {
  const auto path = temp_file("wsb_unit_server_foreign.csv", "a,b,c\n1,2,3\n");
  Frame frame("test", "A model for the unit tests.");
  const auto parsed = parse_captured(frame, {"--stats-csv", path.string()});
  std::filesystem::remove(path);
  ASSERT_TRUE(parsed.exit_code.has_value());
  EXPECT_EQ(*parsed.exit_code, 1);
  EXPECT_NE(parsed.err.find("header"), std::string::npos) << parsed.err;
}

TEST(Cli, StatsCsvInAMissingFolderExits1) {
  const auto path = std::filesystem::temp_directory_path() / "wsb-no-such-folder" / "x.csv";
  Frame frame("test", "A model for the unit tests.");
  const auto parsed = parse_captured(frame, {"--stats-csv", path.string()});
  ASSERT_TRUE(parsed.exit_code.has_value());
  EXPECT_EQ(*parsed.exit_code, 1);
}

// run_model() with `args`: its exit code, whether it called serve (which
// returns 7), and what it wrote to stderr.
struct ModelRun {
  int exit_code = -1;
  bool served = false;
  std::string err;
};

ModelRun run_model_captured(const ModelInfo& model, std::vector<std::string> args) {
  const test::Argv argv(std::move(args));
  ModelRun run;
  ::testing::internal::CaptureStderr();
  run.exit_code = run_model(argv.argc(), argv.argv(), model, [&](Frame&) {
    run.served = true;
    return 7;
  });
  run.err = ::testing::internal::GetCapturedStderr();
  return run;
}

TEST(RunModel, AOneThreadModelRefusesAnyOtherThreadCountExit2) {
  const ModelInfo model{.name = "test",
                        .description = "A model for the unit tests.",
                        .one_thread_reason = "one thread serves every socket"};
  const ModelRun refused = run_model_captured(model, {"--threads", "2"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_FALSE(refused.served);
  EXPECT_EQ(refused.err, "test: --threads must be 1: one thread serves every socket\n");

  const ModelRun served = run_model_captured(model, {"--threads", "1"});
  EXPECT_EQ(served.exit_code, 7);
  EXPECT_TRUE(served.served);
  EXPECT_EQ(served.err, "");
}

TEST(RunModel, AModelWithoutAOneThreadReasonTakesAnyThreadCount) {
  const ModelRun run =
      run_model_captured({"test", "A model for the unit tests.", 1}, {"--threads", "3"});
  EXPECT_EQ(run.exit_code, 7);
  EXPECT_TRUE(run.served);
}

TEST(ErrorClasses, NamesAndClassification) {
  EXPECT_EQ(name(ErrorClass::malformed), "malformed");
  EXPECT_EQ(name(ErrorClass::idle_timeout), "idle_timeout");
  EXPECT_EQ(name(ErrorClass::out_of_descriptors), "out_of_descriptors");
  EXPECT_EQ(name(ErrorClass::io), "io");
  EXPECT_EQ(name(ErrorClass::banned), "banned");
  EXPECT_EQ(name(ErrorClass::count_), "unknown");
  for (std::size_t i = 0; i < error_class_count; ++i) {
    const auto n = name(static_cast<ErrorClass>(i));
    EXPECT_FALSE(n.empty());
    EXPECT_EQ(n.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string_view::npos) << n;
  }
}

}  // namespace
}  // namespace wsb::server
