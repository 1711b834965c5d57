// The process-wide stdin line reader (portable part). The platform files
// provide the blocking read.
#include "platform/stdin_lines.hpp"

#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "platform/detail.hpp"

namespace wsb::platform {
namespace {

using Callback = std::function<void(std::string_view)>;

// Shared by the reader thread and every subscriber. Allocated once and never
// freed: the detached reader may still be blocked in a read when the process
// exits, and must not find this object destroyed (see stdin_lines.hpp).
struct Hub {
  std::mutex mutex;
  std::list<Callback> subscribers;  // list: iterators stay valid while others come and go
  bool started = false;

  void deliver(std::string_view line) {
    // Callbacks run under the lock, which is what lets ~StdinLines promise
    // that its callback is not running once it returned.
    std::lock_guard lock(mutex);
    for (const Callback& callback : subscribers)
      callback(line);
  }

  void run() {
    detail::prepare_stdin_reading();
    std::string line;
    char buffer[512];
    for (;;) {
      const std::ptrdiff_t n = detail::read_stdin(buffer, sizeof buffer);
      if (n <= 0) break;  // end of input or an error: stop reading, do not stop the server
      for (std::ptrdiff_t i = 0; i < n; ++i) {
        const char c = buffer[i];
        if (c == '\n') {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          deliver(line);
          line.clear();
        } else if (line.size() < 4096) {
          // A line longer than any command is truncated rather than grown
          // without bound; it can only be garbage.
          line += c;
        }
      }
    }
    if (!line.empty()) {
      if (line.back() == '\r') line.pop_back();
      deliver(line);  // a last line without a line break still counts
    }
  }
};

Hub& hub() {
  static Hub* const instance = new Hub;  // intentionally leaked, see Hub
  return *instance;
}

struct Subscription {
  std::list<Callback>::iterator position;
};

}  // namespace

StdinLines::StdinLines(std::function<void(std::string_view line)> on_line) {
  Hub& h = hub();
  std::lock_guard lock(h.mutex);
  auto subscription = std::make_shared<Subscription>();
  subscription->position = h.subscribers.insert(h.subscribers.end(), std::move(on_line));
  subscription_ = subscription;
  if (!h.started) {
    h.started = true;
    std::thread([&h] { h.run(); }).detach();
  }
}

StdinLines::~StdinLines() {
  Hub& h = hub();
  std::lock_guard lock(h.mutex);
  h.subscribers.erase(static_cast<Subscription*>(subscription_.get())->position);
}

}  // namespace wsb::platform
