// Frame stop requests that need POSIX calls: real signals and a redirected
// standard input. Tests that must start from a fresh process (the stdin
// reader is process-wide and ends at the first end of input) run as death
// tests, which re-execute this binary.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "server/frame.hpp"
#include "../test_support.hpp"

namespace wsb::server {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::finish_captured;
using test::make_frame;

TEST(FramePosix, SigtermStopsAndWakes) {
  auto frame = make_frame({"--quiet"});
  std::atomic<int> wakes{0};
  frame->start([&] { ++wakes; });
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  ASSERT_TRUE(eventually([&] { return wakes.load() == 1; }));
  EXPECT_TRUE(frame->stopping());
  finish_captured(*frame);
}

TEST(FramePosix, ModelThreadsDoNotSeeTheSignal) {
  // Threads created after the Frame inherit the blocked mask, so a model's
  // blocking call is not interrupted (no EINTR) by a stop request.
  auto frame = make_frame({"--quiet"});
  frame->start([] {});
  std::atomic<int> interrupted{0};
  std::atomic<bool> done{false};
  std::thread model([&] {
    while (!done) {
      // sleep() returns early (non-zero) only when a handled signal
      // interrupts this thread.
      if (::usleep(20000) != 0) ++interrupted;
    }
  });
  std::this_thread::sleep_for(30ms);
  ::kill(::getpid(), SIGTERM);
  ASSERT_TRUE(eventually([&] { return frame->stopping(); }));
  std::this_thread::sleep_for(60ms);
  done = true;
  model.join();
  EXPECT_EQ(interrupted.load(), 0);
  finish_captured(*frame);
}

// Runs in a fresh process (death test): standard input becomes a pipe that
// already holds "//q", then the frame must stop by itself.
[[noreturn]] void stop_through_stdin(const std::string& input, bool expect_stop) {
  int fds[2];
  if (::pipe(fds) != 0 || ::dup2(fds[0], STDIN_FILENO) != STDIN_FILENO) ::_exit(3);
  if (::write(fds[1], input.data(), input.size()) != static_cast<ssize_t>(input.size())) ::_exit(3);
  ::close(fds[1]);  // then end of input, which must not stop anything by itself
  Frame frame("test", "x");
  const char* argv[] = {"server-test", "--quiet"};
  if (frame.parse(2, argv)) ::_exit(4);
  std::atomic<bool> woken{false};
  frame.start([&] { woken = true; });
  const bool stopped = eventually([&] { return woken.load(); }, expect_stop ? 10s : 300ms);
  ::_exit(stopped == expect_stop ? 0 : 1);
}

TEST(FramePosixDeathTest, SlashSlashQOnStdinStops) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(stop_through_stdin("hello\n  //q  \r\n", true), ::testing::ExitedWithCode(0), "");
}

TEST(FramePosixDeathTest, EndOfStdinIsNotAStop) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(stop_through_stdin("//quit\nq\n", false), ::testing::ExitedWithCode(0), "");
}

// Runs in a fresh process: a shutdown that never finishes, then Ctrl-C.
[[noreturn]] void interrupt_a_stuck_shutdown() {
  Frame frame("test", "x");
  const char* argv[] = {"server-test", "--quiet"};
  if (frame.parse(2, argv)) ::_exit(4);
  frame.start([] {});
  frame.request_stop();
  ::kill(::getpid(), SIGINT);
  std::this_thread::sleep_for(10s);
  ::_exit(5);
}

TEST(FramePosixDeathTest, SecondInterruptExitsAtOnce) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(interrupt_a_stuck_shutdown(), ::testing::ExitedWithCode(130), "second interrupt");
}

}  // namespace
}  // namespace wsb::server
