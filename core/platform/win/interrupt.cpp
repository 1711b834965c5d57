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

// The events after which Windows ends the process once the handler returns,
// or after a grace period at the latest: about 5 s for CTRL_CLOSE_EVENT, and
// the system's kill timeouts for logoff and shutdown. Microsoft's
// SetConsoleCtrlHandler documentation: logoff and shutdown events do reach a
// console process, unless it has loaded user32.dll or gdi32.dll (the
// WSAAsyncSelect model does, so it only sees Ctrl-C, Ctrl-Break and close).
bool ends_process(DWORD type) noexcept {
  return type == CTRL_CLOSE_EVENT || type == CTRL_LOGOFF_EVENT || type == CTRL_SHUTDOWN_EVENT;
}

// How long a handler for such an event waits for the server to finish: under
// the 5 s after which a console close ends the process, so that the final
// statistics are printed. Every model bounds its stop below this
// (docs/design.md).
constexpr DWORD kFinishWaitMs = 4500;

BOOL WINAPI on_console_event(DWORD type) {
  if (type != CTRL_C_EVENT && type != CTRL_BREAK_EVENT && !ends_process(type)) return FALSE;
  {
    std::lock_guard lock(g_mutex);
    if (g_state == nullptr) return FALSE;  // not ours any more: default handling
    (*g_state)(++g_count);
  }
  // The process is terminated as soon as this handler returns. Waiting lets
  // the server finish and print its statistics.
  if (ends_process(type)) ::WaitForSingleObject(finished_event(), kFinishWaitMs);
  return TRUE;
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
