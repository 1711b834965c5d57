// Frame stop requests that need Win32 calls: a redirected standard input.
// The stdin reader is process-wide and ends at the first end of input, so the
// tests run as death tests, which start this binary again.
#include <windows.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "../test_support.hpp"
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

}  // namespace
}  // namespace wsb::server
