// Tests that need POSIX calls of their own: real signals, a redirected
// standard input, a pseudo-terminal.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
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

using namespace std::chrono_literals;
using namespace wsb::platform;

using wsb::test::eventually;

bool blocked_in_this_thread(int signal_number) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signal_number) == 1;
}

TEST(InterruptWatcher, DeliversSigtermAndSigintInThreadContext) {
  std::atomic<int> calls{0};
  std::atomic<int> last_count{0};
  std::atomic<bool> wrong_thread{false};
  const auto test_thread = std::this_thread::get_id();
  {
    InterruptWatcher watcher([&](int count) {
      if (std::this_thread::get_id() == test_thread) wrong_thread = true;
      last_count = count;
      ++calls;
    });
    // Process-directed signals, as kill(1) and the terminal send them.
    ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
    ASSERT_TRUE(eventually([&] { return calls.load() == 1; }));
    EXPECT_EQ(last_count.load(), 1);
    ASSERT_EQ(::kill(::getpid(), SIGINT), 0);
    ASSERT_TRUE(eventually([&] { return calls.load() == 2; }));
    EXPECT_EQ(last_count.load(), 2);
    EXPECT_FALSE(wrong_thread.load());
  }
  // Destroyed: the default dispositions are back and the mask is restored.
  struct sigaction current {};
  ::sigaction(SIGTERM, nullptr, &current);
  EXPECT_EQ(current.sa_handler, SIG_DFL);
  EXPECT_FALSE(blocked_in_this_thread(SIGTERM));
  EXPECT_FALSE(blocked_in_this_thread(SIGINT));
}

TEST(InterruptWatcher, LaterThreadsInheritTheBlockedMask) {
  InterruptWatcher watcher([](int) {});
  EXPECT_TRUE(blocked_in_this_thread(SIGTERM));
  bool blocked = false;
  std::thread([&] {
    blocked = blocked_in_this_thread(SIGTERM) && blocked_in_this_thread(SIGINT);
  }).join();
  EXPECT_TRUE(blocked) << "threads created after the watcher would see EINTR from SIGTERM";
}

TEST(InterruptWatcher, OnlyOneAtATime) {
  InterruptWatcher first([](int) {});
  EXPECT_THROW(InterruptWatcher([](int) {}), std::logic_error);
}

TEST(InterruptWatcher, NoCallbackAfterDestruction) {
  std::atomic<int> calls{0};
  {
    InterruptWatcher watcher([&](int) { ++calls; });
  }
  // With the watcher gone SIGTERM would kill the process, so ignore it and
  // check that the old watcher's function is not called.
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGTERM, &ignore, &previous);
  ::kill(::getpid(), SIGTERM);
  std::this_thread::sleep_for(50ms);
  ::sigaction(SIGTERM, &previous, nullptr);
  EXPECT_EQ(calls.load(), 0);
}

TEST(StdinLines, DeliversLinesFromARedirectedStdin) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int saved = ::dup(STDIN_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(::dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
  ::close(fds[0]);

  std::mutex mutex;
  std::vector<std::string> lines;
  auto record = [&](std::string_view line) {
    std::lock_guard lock(mutex);
    lines.emplace_back(line);
  };
  auto count = [&] {
    std::lock_guard lock(mutex);
    return lines.size();
  };
  {
    StdinLines subscription(record);
    const std::string input = "hello\r\n//q\n";
    ASSERT_EQ(::write(fds[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
    ASSERT_TRUE(eventually([&] { return count() == 2; }));
  }
  // Unsubscribed: the next line reaches only the new subscriber.
  std::vector<std::string> later;
  std::mutex later_mutex;
  {
    StdinLines second([&](std::string_view line) {
      std::lock_guard lock(later_mutex);
      later.emplace_back(line);
    });
    const std::string tail = "last line without a break";
    ASSERT_EQ(::write(fds[1], tail.data(), tail.size()), static_cast<ssize_t>(tail.size()));
    ::close(fds[1]);  // end of input: the reader delivers the partial line and ends
    ASSERT_TRUE(eventually([&] {
      std::lock_guard lock(later_mutex);
      return later.size() == 1;
    }));
  }
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
  std::lock_guard lock(mutex);
  EXPECT_EQ(lines, (std::vector<std::string>{"hello", "//q"}));
  EXPECT_EQ(later, (std::vector<std::string>{"last line without a break"}));
}

TEST(Console, TerminalDetectionFollowsTheDescriptor) {
  const int saved = ::dup(STDOUT_FILENO);
  ASSERT_GE(saved, 0);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::dup2(fds[1], STDOUT_FILENO);
  const bool on_pipe = stdout_is_terminal();
  bool on_pty = false;
  bool have_pty = false;
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master >= 0 && ::grantpt(master) == 0 && ::unlockpt(master) == 0) {
    const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    if (slave >= 0) {
      have_pty = true;
      ::dup2(slave, STDOUT_FILENO);
      on_pty = stdout_is_terminal();
      ::close(slave);
    }
  }
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  ::close(fds[0]);
  ::close(fds[1]);
  if (master >= 0) ::close(master);
  EXPECT_FALSE(on_pipe);
  if (!have_pty) GTEST_SKIP() << "no pseudo-terminals available";
  EXPECT_TRUE(on_pty);
  set_console_title("ignored on POSIX");  // documented no-op; must not write anything
}

}  // namespace
