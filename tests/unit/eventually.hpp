// Waiting in a test for something another thread does (namespace
// wsb::test), shared by the unit tests of every folder: a fixed sleep would
// either slow every run down or fail on a loaded machine.
#pragma once

#include <chrono>
#include <thread>

namespace wsb::test {

// Polls pred() every 2 ms until it holds (true) or `limit` has passed (false).
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace wsb::test
