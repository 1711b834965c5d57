// Console control events for platform/interrupt.hpp.
#include <windows.h>

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "platform/interrupt.hpp"

namespace wsb::platform {
namespace {

// The system calls the handler on a thread of its own, so the handler and the
// watcher's destructor meet under this mutex: once the destructor has cleared
// g_state, no callback is running or will run.
std::mutex g_mutex;
std::function<void(int)>* g_state = nullptr;
int g_count = 0;

// Set when the watcher is destroyed, so that a CTRL_CLOSE_EVENT handler waiting
// for the server to finish may return. Created once and never closed: the
// system's handler thread may still be waiting on it.
HANDLE finished_event() {
  static const HANDLE event = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  return event;
}

BOOL WINAPI on_console_event(DWORD type) {
  switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
    case CTRL_CLOSE_EVENT: {
      {
        std::lock_guard lock(g_mutex);
        if (g_state == nullptr) return FALSE;  // not ours any more: default handling
        (*g_state)(++g_count);
      }
      if (type == CTRL_CLOSE_EVENT) {
        // The process is terminated as soon as this handler returns (and
        // after about 5 s regardless). Waiting lets the server finish and
        // print its statistics.
        ::WaitForSingleObject(finished_event(), 4500);
      }
      return TRUE;
    }
    default:
      // Logoff and shutdown events reach services only; let the default
      // handler deal with anything else.
      return FALSE;
  }
}

}  // namespace

struct InterruptWatcher::State {
  std::function<void(int)> on_interrupt;
};

InterruptWatcher::InterruptWatcher(std::function<void(int count)> on_interrupt)
    : state_(std::make_unique<State>()) {
  state_->on_interrupt = std::move(on_interrupt);
  {
    std::lock_guard lock(g_mutex);
    if (g_state != nullptr) throw std::logic_error("only one InterruptWatcher may exist at a time");
    g_state = &state_->on_interrupt;
    g_count = 0;
  }
  const HANDLE event = finished_event();
  if (event != nullptr) ::ResetEvent(event);
  // A process started with CREATE_NEW_PROCESS_GROUP has Ctrl-C disabled
  // (it inherits "ignore Ctrl-C"); re-enable it so the handler sees it.
  ::SetConsoleCtrlHandler(nullptr, FALSE);
  if (!::SetConsoleCtrlHandler(on_console_event, TRUE)) {
    std::lock_guard lock(g_mutex);
    g_state = nullptr;
    throw std::runtime_error("SetConsoleCtrlHandler failed");
  }
}

InterruptWatcher::~InterruptWatcher() {
  ::SetConsoleCtrlHandler(on_console_event, FALSE);
  {
    std::lock_guard lock(g_mutex);
    g_state = nullptr;
  }
  if (const HANDLE event = finished_event()) ::SetEvent(event);
}

}  // namespace wsb::platform
