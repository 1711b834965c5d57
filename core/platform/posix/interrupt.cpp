// SIGINT/SIGTERM handling for platform/interrupt.hpp: a self-pipe written by
// the signal handler and read by a watcher thread.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "platform/interrupt.hpp"

namespace wsb::platform {
namespace {

// The pipe is created once and kept for the life of the process. Closing it
// when a watcher goes away would race with a handler already running on
// another thread, which could then write into a descriptor number that
// meanwhile names something else.
struct SignalPipe {
  int read_end = -1;
  int write_end = -1;
};

// The handler reads only this lock-free atomic (async-signal-safe).
std::atomic<int> g_write_end{-1};
static_assert(std::atomic<int>::is_always_lock_free);

std::atomic<bool> g_watcher_exists{false};

const SignalPipe& signal_pipe() {
  static const SignalPipe pipe = [] {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw std::system_error(errno, std::system_category(), "cannot create the signal pipe");
    }
    return SignalPipe{fds[0], fds[1]};
  }();
  return pipe;
}

extern "C" void on_signal(int signal_number) {
  // Only async-signal-safe work: one write() of one byte. errno is saved
  // because the interrupted code may be about to read it.
  const int saved_errno = errno;
  const int fd = g_write_end.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const unsigned char byte = static_cast<unsigned char>(signal_number);
    // A full pipe means plenty of unread requests already; dropping one is fine.
    const ssize_t written = ::write(fd, &byte, 1);
    (void)written;
  }
  errno = saved_errno;
}

constexpr unsigned char quit_byte = 0;  // never a signal number

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

struct InterruptWatcher::State {
  std::function<void(int)> on_interrupt;
  struct sigaction old_int {};
  struct sigaction old_term {};
  sigset_t old_mask{};
  std::thread watcher;
};

InterruptWatcher::InterruptWatcher(std::function<void(int count)> on_interrupt)
    : state_(std::make_unique<State>()) {
  if (g_watcher_exists.exchange(true)) {
    throw std::logic_error("only one InterruptWatcher may exist at a time");
  }
  bool mask_changed = false;
  try {
    const SignalPipe& pipe = signal_pipe();
    // Requests left over from an earlier watcher are not meant for this one.
    unsigned char stale[64];
    while (::read(pipe.read_end, stale, sizeof stale) > 0) {
    }
    state_->on_interrupt = std::move(on_interrupt);

    // Block the signals here first, so that the watcher thread and every
    // thread this one creates later inherit the mask.
    const sigset_t set = stop_signals();
    if (const int rc = ::pthread_sigmask(SIG_BLOCK, &set, &state_->old_mask); rc != 0) {
      throw std::system_error(rc, std::system_category(), "pthread_sigmask");
    }
    mask_changed = true;

    State* state = state_.get();
    const int read_end = pipe.read_end;
    state_->watcher = std::thread([state, read_end, set] {
      // The only thread with the signals unblocked: the kernel delivers them
      // here, where interrupting poll() costs nothing.
      ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
      int count = 0;
      for (;;) {
        pollfd fd{read_end, POLLIN, 0};
        if (::poll(&fd, 1, -1) < 0) continue;  // EINTR: the handler just wrote a byte
        unsigned char bytes[16];
        const ssize_t n = ::read(read_end, bytes, sizeof bytes);
        for (ssize_t i = 0; i < n; ++i) {
          if (bytes[i] == quit_byte) return;
          state->on_interrupt(++count);
        }
      }
    });
  } catch (...) {
    if (mask_changed) ::pthread_sigmask(SIG_SETMASK, &state_->old_mask, nullptr);
    g_watcher_exists.store(false);
    throw;
  }

  // Nothing below can fail: sigaction only fails for invalid arguments.
  g_write_end.store(signal_pipe().write_end);
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: a thread created before the watcher still has the signals
  // unblocked; restarting its interrupted calls spares it most EINTRs.
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, &state_->old_int);
  ::sigaction(SIGTERM, &action, &state_->old_term);
}

InterruptWatcher::~InterruptWatcher() {
  // Give the signals back to their previous handlers (normally the default
  // action, termination) before the watcher goes.
  ::sigaction(SIGINT, &state_->old_int, nullptr);
  ::sigaction(SIGTERM, &state_->old_term, nullptr);
  const int fd = g_write_end.exchange(-1);
  // The write end is non-blocking; if the pipe were full the watcher is busy
  // reading it and retrying lets the quit byte in.
  while (::write(fd, &quit_byte, 1) != 1) {
    std::this_thread::yield();
  }
  state_->watcher.join();
  ::pthread_sigmask(SIG_SETMASK, &state_->old_mask, nullptr);
  g_watcher_exists.store(false);
}

}  // namespace wsb::platform
