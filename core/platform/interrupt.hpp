// Console stop requests (namespace wsb::platform): Ctrl-C, SIGTERM, closing the
// console window.
//
// POSIX: SIGINT and SIGTERM get a handler that only writes the signal number
// to a pipe (write() is async-signal-safe; nothing else happens in signal
// context). A watcher thread reads the pipe and calls the handler function in
// normal thread context. The constructor also blocks both signals in the
// calling thread, and the watcher thread unblocks them in its own mask: when
// the watcher is created before any other thread (as the server frame does, in
// main), every later thread inherits the blocked mask, so the kernel delivers
// the signals to the watcher and never interrupts a model's epoll_wait() or
// poll() with EINTR. Threads that existed earlier still work through the pipe.
//
// Windows: SetConsoleCtrlHandler. CTRL_C_EVENT and CTRL_BREAK_EVENT call the
// handler function (on the thread the system creates for the event).
// CTRL_CLOSE_EVENT (the console window is closing) also calls it, then holds
// the system's thread until the watcher is destroyed or about 4.5 s pass: the
// system terminates the process when the handler returns (and after 5 s in any
// case), so waiting gives the server time to print its final statistics.
//
// Only one InterruptWatcher may exist at a time; a second one throws
// std::logic_error.
#pragma once

#include <functional>
#include <memory>

namespace wsb::platform {

class InterruptWatcher {
 public:
  // on_interrupt(n) is called for the n-th stop request (n = 1, 2, ...), never
  // concurrently with itself, and never after the destructor returned.
  explicit InterruptWatcher(std::function<void(int count)> on_interrupt);
  // Restores the previous signal dispositions and signal mask (POSIX) or
  // removes the console handler (Windows). Must run on the constructing thread.
  ~InterruptWatcher();
  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace wsb::platform
