// Frame stop requests that need Win32 calls: a redirected standard input.
// The stdin reader is process-wide and ends at the first end of input, so the
// tests run as death tests, which start this binary again.
#include <winsock2.h>
#include <windows.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "../test_support.hpp"
#include "server/frame.hpp"
#include "server/model.hpp"

namespace wsb::server {
namespace {

using namespace std::chrono_literals;
using test::eventually;

// Runs in a fresh process: standard input becomes a pipe that already holds
// `input` and then ends; the frame must stop (or not) by itself.
[[noreturn]] void stop_through_stdin(const std::string& input, bool expect_stop) {
  HANDLE read_end = nullptr;
  HANDLE write_end = nullptr;
  if (!::CreatePipe(&read_end, &write_end, nullptr, 0)) std::_Exit(3);
  DWORD written = 0;
  if (!::WriteFile(write_end, input.data(), static_cast<DWORD>(input.size()), &written, nullptr)) {
    std::_Exit(3);
  }
  ::CloseHandle(write_end);
  ::SetStdHandle(STD_INPUT_HANDLE, read_end);
  Frame frame("test", "x");
  const char* argv[] = {"server-test", "--quiet"};
  if (frame.parse(2, argv)) std::_Exit(4);
  std::atomic<bool> woken{false};
  frame.start([&] { woken = true; });
  const bool stopped = eventually([&] { return woken.load(); }, expect_stop ? 10s : 300ms);
  std::_Exit(stopped == expect_stop ? 0 : 1);
}

TEST(FrameWinDeathTest, SlashSlashQOnStdinStops) {
  EXPECT_EXIT(stop_through_stdin("hello\r\n  //q  \r\n", true), ::testing::ExitedWithCode(0), "");
}

TEST(FrameWinDeathTest, EndOfStdinIsNotAStop) {
  EXPECT_EXIT(stop_through_stdin("//quit\r\nq\r\n", false), ::testing::ExitedWithCode(0), "");
}

// The accept loops' failure policy (server/model.hpp), with the Winsock
// codes the models see.
TEST(AcceptFailure, ResetRetriesOutOfSocketsPausesAnythingElseEndsTheLoop) {
  using model::AcceptFailure;
  using model::on_accept_failure;
  auto frame = test::make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  EXPECT_EQ(on_accept_failure(*frame, shard, WSAECONNRESET), AcceptFailure::retry);
  EXPECT_EQ(on_accept_failure(*frame, shard, WSAEMFILE), AcceptFailure::pause);
  EXPECT_EQ(on_accept_failure(*frame, shard, WSAENOBUFS), AcceptFailure::pause);
  EXPECT_FALSE(frame->stopping());
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(on_accept_failure(*frame, shard, WSAEINVAL), AcceptFailure::fatal);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("accept() failed: WSAEINVAL"), std::string::npos) << err;
  EXPECT_TRUE(frame->stopping());
  const StatsTotals totals = frame->totals();
  EXPECT_EQ(totals.error(ErrorClass::reset), 1u);
  EXPECT_EQ(totals.error(ErrorClass::out_of_descriptors), 2u);
  EXPECT_EQ(totals.error(ErrorClass::accept_failed), 1u);
  test::finish_captured(*frame, 1);
}

}  // namespace
}  // namespace wsb::server
