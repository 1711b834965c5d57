// A chat connection's mailbox: server/outbox.hpp.
#include "server/outbox.hpp"

#include <utility>

namespace wsb::server {

bool Outbox::post(std::span<const char> frame) noexcept {
  bool first = false;
  bool overflow = false;
  {
    std::lock_guard guard(lock_);
    if (overflowed_.load(std::memory_order_relaxed)) return false;
    if (frames_.size() + frame.size() > bound_) {
      overflow = true;
    } else {
      try {
        frames_.append(frame);
        first = !has_mail_.load(std::memory_order_relaxed);
        has_mail_.store(true, std::memory_order_release);
      } catch (...) {
        overflow = true;  // out of memory counts as over the bound: drop the reader
      }
    }
    if (overflow) {
      // What was held will never be sent: the connection is dropped.
      frames_ = ByteBuffer();
      has_mail_.store(false, std::memory_order_relaxed);
      overflowed_.store(true, std::memory_order_release);
    }
  }
  if (first || overflow) wake_owner();
  return !overflow;
}

std::size_t Outbox::collect(ByteBuffer& out) {
  if (!has_mail()) return 0;
  std::lock_guard guard(lock_);
  const std::size_t n = frames_.size();
  if (n == 0) return 0;
  if (out.empty()) {
    std::swap(out, frames_);  // the common case: no copy
  } else {
    out.append(frames_.readable());
    frames_.clear();
  }
  has_mail_.store(false, std::memory_order_relaxed);
  return n;
}

}  // namespace wsb::server
