// A Mailbox for tests: it keeps every frame posted to it, under a lock, and
// refuses frames once `bound` bytes are held (a slow consumer).
#pragma once

#include <cstddef>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "chat/hub.hpp"

namespace wsb::chat::test {

class TestMailbox final : public Mailbox {
 public:
  explicit TestMailbox(std::size_t bound = std::numeric_limits<std::size_t>::max())
      : bound_(bound) {}

  bool post(std::span<const char> frame) noexcept override {
    std::lock_guard guard(lock_);
    if (held_ + frame.size() > bound_) return false;
    held_ += frame.size();
    frames_.emplace_back(frame.begin(), frame.end());
    return true;
  }

  std::vector<std::string> frames() const {
    std::lock_guard guard(lock_);
    return frames_;
  }

 private:
  mutable std::mutex lock_;
  std::size_t bound_;
  std::size_t held_ = 0;
  std::vector<std::string> frames_;
};

}  // namespace wsb::chat::test
