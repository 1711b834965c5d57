// Tests that need Win32 calls of their own: a redirected standard input and
// standard output, console control events.
#include <windows.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../../eventually.hpp"
#include "platform/console.hpp"
#include "platform/interrupt.hpp"
#include "platform/stdin_lines.hpp"

namespace {

using namespace wsb::platform;

using wsb::test::eventually;

TEST(InterruptWatcher, OnlyOneAtATime) {
  InterruptWatcher first([](int) {});
  EXPECT_THROW(InterruptWatcher([](int) {}), std::logic_error);
}

TEST(InterruptWatcher, CtrlBreakReachesTheHandler) {
  // GenerateConsoleCtrlEvent needs a console. Under CTest (and under Wine
  // without a terminal) the process may have none; allocating one of our own
  // gives the event a target that is shared with nobody else.
  if (::GetConsoleWindow() == nullptr && !::AllocConsole()) {
    GTEST_SKIP() << "no console available";
  }
  std::atomic<int> calls{0};
  InterruptWatcher watcher([&](int) { ++calls; });
  // Process group 0: every process attached to this console, i.e. this one
  // (the console was allocated above, or belongs to the test run).
  if (!::GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, 0)) {
    GTEST_SKIP() << "GenerateConsoleCtrlEvent failed: " << ::GetLastError();
  }
  EXPECT_TRUE(eventually([&] { return calls.load() == 1; }));
}

TEST(StdinLines, DeliversLinesFromARedirectedStdin) {
  HANDLE read_end = nullptr;
  HANDLE write_end = nullptr;
  ASSERT_TRUE(::CreatePipe(&read_end, &write_end, nullptr, 0));
  const HANDLE saved = ::GetStdHandle(STD_INPUT_HANDLE);
  ASSERT_TRUE(::SetStdHandle(STD_INPUT_HANDLE, read_end));

  std::mutex mutex;
  std::vector<std::string> lines;
  {
    StdinLines subscription([&](std::string_view line) {
      std::lock_guard lock(mutex);
      lines.emplace_back(line);
    });
    const std::string input = "hello\r\n//q\nlast";
    DWORD written = 0;
    ASSERT_TRUE(
        ::WriteFile(write_end, input.data(), static_cast<DWORD>(input.size()), &written, nullptr));
    ::CloseHandle(write_end);  // end of input: the partial last line is delivered
    ASSERT_TRUE(eventually([&] {
      std::lock_guard lock(mutex);
      return lines.size() == 3;
    }));
  }
  ::SetStdHandle(STD_INPUT_HANDLE, saved);
  ::CloseHandle(read_end);
  std::lock_guard lock(mutex);
  EXPECT_EQ(lines, (std::vector<std::string>{"hello", "//q", "last"}));
}

TEST(Console, PipeIsNotATerminal) {
  HANDLE read_end = nullptr;
  HANDLE write_end = nullptr;
  ASSERT_TRUE(::CreatePipe(&read_end, &write_end, nullptr, 0));
  const HANDLE saved = ::GetStdHandle(STD_OUTPUT_HANDLE);
  ::SetStdHandle(STD_OUTPUT_HANDLE, write_end);
  const bool on_pipe = stdout_is_terminal();
  ::SetStdHandle(STD_OUTPUT_HANDLE, saved);
  ::CloseHandle(read_end);
  ::CloseHandle(write_end);
  EXPECT_FALSE(on_pipe);
  set_console_title("wsbench unit test");  // harmless with or without a console
}

}  // namespace
