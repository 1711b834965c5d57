#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "spawn.hpp"

namespace wsb::loadgen {
namespace {

namespace fs = std::filesystem;

TEST(ReadyLine, ParsesTheFrameContract) {
  const auto r = parse_ready_line("listening 127.0.0.1:40123 model=epoll protocol=upper");
  ASSERT_TRUE(r);
  EXPECT_EQ(net::to_string(r->endpoint), "127.0.0.1:40123");
  EXPECT_EQ(r->model, "epoll");
  EXPECT_EQ(r->protocol, "upper");
  const auto v6 = parse_ready_line("listening [::1]:80 model=iocp protocol=http\r");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->endpoint.is_v6());
  EXPECT_EQ(v6->model, "iocp");
  EXPECT_EQ(v6->protocol, "http");
}

TEST(ReadyLine, RejectsOtherLines) {
  for (const char* bad :
       {"", "listening", "listening 127.0.0.1:0 model=x", "listening 127.0.0.1:80",
        "Listening 127.0.0.1:80 model=x", "listening host:80 model=x", "started on 127.0.0.1:80"}) {
    EXPECT_FALSE(parse_ready_line(bad)) << bad;
  }
}

TEST(StatLine, SplitsAtTheFirstColonSpace) {
  const auto s = parse_stat_line("errors.reset: 0");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->first, "errors.reset");
  EXPECT_EQ(s->second, "0");
  const auto p = parse_stat_line("platform: Wine 8.0 on Linux: x86_64\r");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->first, "platform");
  EXPECT_EQ(p->second, "Wine 8.0 on Linux: x86_64");
  EXPECT_FALSE(parse_stat_line("no separator"));
  EXPECT_FALSE(parse_stat_line(": value"));
  EXPECT_FALSE(parse_stat_line("Bad Key: 1"));
}

class Resolve : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("lg_spawn_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
    fs::remove_all(root_);
    fs::create_directories(bin_());
    fs::create_directories(source_() / "cmake");
    fs::create_directories(source_() / "build" / "windows-cross" / "bin");
    touch(bin_() / "server-epoll");
    touch(bin_() / "server-select");
    touch(source_() / "cmake" / "wine-emulator.sh");
    touch(source_() / "build" / "windows-cross" / "bin" / "server-iocp.exe");
    touch(source_() / "build" / "windows-cross" / "bin" / "server-select.exe");
  }
  void TearDown() override { fs::remove_all(root_); }
  static void touch(const fs::path& p) { std::ofstream(p) << "x"; }
  fs::path bin_() const { return root_ / "bin"; }
  fs::path source_() const { return root_ / "src"; }

  fs::path root_;
};

TEST_F(Resolve, BareNameIsTheNativeServerBesideLoadgen) {
  const ServerCommand c = resolve_server("epoll", bin_(), source_(), false);
  EXPECT_FALSE(c.wine);
  ASSERT_EQ(c.argv.size(), 1u);
  EXPECT_EQ(fs::path(c.argv[0]), bin_() / "server-epoll");
}

TEST_F(Resolve, BareNameFallsBackToWineWhenNoNativeOneExists) {
  const ServerCommand c = resolve_server("iocp", bin_(), source_(), false);
  EXPECT_TRUE(c.wine);
  ASSERT_EQ(c.argv.size(), 2u);
  EXPECT_EQ(fs::path(c.argv[0]), source_() / "cmake" / "wine-emulator.sh");
  EXPECT_EQ(fs::path(c.argv[1]), source_() / "build" / "windows-cross" / "bin" / "server-iocp.exe");
  EXPECT_EQ(fs::path(c.program), fs::path(c.argv[1]));
}

TEST_F(Resolve, PrefixesChooseBetweenSameNamedModels) {
  EXPECT_FALSE(resolve_server("select", bin_(), source_(), false).wine);
  EXPECT_TRUE(resolve_server("wine:select", bin_(), source_(), false).wine);
  EXPECT_FALSE(resolve_server("native:select", bin_(), source_(), false).wine);
  EXPECT_THROW(resolve_server("native:iocp", bin_(), source_(), false), SpawnError);
}

TEST_F(Resolve, WindowsBuildLooksForExeBesideItself) {
  touch(bin_() / "server-iocp.exe");
  const ServerCommand c = resolve_server("iocp", bin_(), source_(), true);
  EXPECT_FALSE(c.wine);
  EXPECT_EQ(fs::path(c.argv[0]), bin_() / "server-iocp.exe");
  EXPECT_THROW(resolve_server("wine:iocp", bin_(), source_(), true), SpawnError);
}

TEST_F(Resolve, PathsAreTakenAsTheyAre) {
  const ServerCommand c =
      resolve_server((bin_() / "server-epoll").string(), bin_(), source_(), false);
  EXPECT_FALSE(c.wine);
  const ServerCommand w =
      resolve_server((source_() / "build" / "windows-cross" / "bin" / "server-iocp.exe").string(),
                     bin_(), source_(), false);
  EXPECT_TRUE(w.wine);
  EXPECT_THROW(resolve_server((bin_() / "missing").string(), bin_(), source_(), false), SpawnError);
}

TEST_F(Resolve, UnknownNamesSayWhereTheyLooked) {
  try {
    resolve_server("nosuch", bin_(), source_(), false);
    ADD_FAILURE() << "resolved a missing server";
  } catch (const SpawnError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("server-nosuch"), std::string::npos) << what;
    EXPECT_NE(what.find("windows-cross"), std::string::npos) << what;
  }
  EXPECT_THROW(resolve_server("bad name", bin_(), source_(), false), SpawnError);
  EXPECT_THROW(resolve_server("", bin_(), source_(), false), SpawnError);
}

}  // namespace
}  // namespace wsb::loadgen
