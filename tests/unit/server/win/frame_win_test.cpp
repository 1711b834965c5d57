// Frame stop requests that need Win32 calls (a redirected standard input),
// and the accept failure policy with the Winsock error codes.
// The stdin reader is process-wide and ends at the first end of input, so the
// tests run as death tests, which start this binary again.
#include <winsock2.h>
#include <windows.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "../test_support.hpp"
#include "server/accept_policy.hpp"
#include "server/frame.hpp"

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

// The accept failure policy (server/accept_policy.hpp) with the Winsock
// codes the models see: a reset is retried, a shortage pauses, and anything
// else means that the listener is broken (net::is_listener_failure).
TEST(AcceptPolicy, WinsockCodesRetryPauseOrEndTheLoop) {
  auto frame = test::make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  AcceptPolicy policy(*frame, "accept");
  ::testing::internal::CaptureStderr();
  for (const int code : {WSAECONNRESET, WSAECONNABORTED, WSAENETRESET}) {
    EXPECT_EQ(policy.decide(code, shard), AcceptAction::retry) << code;
  }
  for (const int code : {WSAEMFILE, WSAENOBUFS, static_cast<int>(WSA_NOT_ENOUGH_MEMORY)}) {
    EXPECT_EQ(policy.decide(code, shard), AcceptAction::pause) << code;
  }
  for (const int code : {WSAEINVAL, WSAENOTSOCK, WSAEOPNOTSUPP, WSAENETDOWN, WSAEFAULT}) {
    EXPECT_EQ(policy.decide(code, shard), AcceptAction::stop) << code;
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  // Only the first pause is logged within the second; fatal failures are
  // the caller's to report.
  EXPECT_NE(err.find("test: accept: WSAEMFILE"), std::string::npos) << err;
  EXPECT_NE(err.find("accepting pauses for 100 ms"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), err.size() - 1) << "one line only: " << err;
  EXPECT_EQ(policy.fatal_message(WSAEINVAL).rfind("accept() failed: WSAEINVAL", 0), 0u);
  // decide() alone never stops the frame.
  EXPECT_FALSE(frame->stopping());
  const StatsTotals totals = frame->totals();
  EXPECT_EQ(totals.error(ErrorClass::reset), 3u);
  EXPECT_EQ(totals.error(ErrorClass::out_of_descriptors), 3u);
  EXPECT_EQ(totals.error(ErrorClass::accept_failed), 5u);
  test::finish_captured(*frame);
}

// What the accept loops of servers/win call: handle(), which is decide() plus
// Frame::fail() for a stop. The listener is not looked at on Windows (the
// spare descriptor has nothing to do there, platform/spare_descriptor.hpp).
TEST(AcceptPolicy, HandleRetriesAResetPausesOutOfSocketsAndStopsTheFrameOtherwise) {
  auto frame = test::make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  AcceptPolicy policy(*frame, "accept");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(policy.handle(WSAECONNRESET, net::invalid_socket, shard), AcceptAction::retry);
  EXPECT_EQ(policy.handle(WSAEMFILE, net::invalid_socket, shard), AcceptAction::pause);
  EXPECT_EQ(policy.handle(WSAENOBUFS, net::invalid_socket, shard), AcceptAction::pause);
  EXPECT_FALSE(frame->stopping());
  EXPECT_EQ(policy.handle(WSAEINVAL, net::invalid_socket, shard), AcceptAction::stop);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("test: accept: WSAEMFILE"), std::string::npos) << err;
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
