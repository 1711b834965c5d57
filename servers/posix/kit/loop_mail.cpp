// The hand-over of mail and room to a POSIX event loop: kit/loop_mail.hpp.
#include "kit/loop_mail.hpp"

#include <unistd.h>

#include <cstdint>
#include <new>

namespace wsb::kit {

void* LoopMail::address(int fd) {
  const auto index = static_cast<std::size_t>(fd);
  if (index >= addresses_.size()) addresses_.resize(index + 1);
  if (!addresses_[index]) addresses_[index] = std::make_unique<Address>(Address{this, fd});
  return addresses_[index].get();
}

void LoopMail::wake(void* address) noexcept {
  const auto* a = static_cast<const Address*>(address);
  a->mail->post(a->fd);
}

void LoopMail::post(int fd) noexcept {
  bool first = false;
  {
    std::lock_guard lock(lock_);
    first = posted_.empty() && !room_;
    try {
      posted_.push_back(fd);
    } catch (const std::bad_alloc&) {
      // Out of memory the descriptor cannot be noted (the list keeps its
      // capacity between takes, so only its growth can fail). The mail is
      // not lost: the connection's own next receive or send collects it
      // (Connection::on_received and on_sent call collect_mail()).
    }
  }
  pending_.store(true, std::memory_order_release);
  if (first) doorbell_.signal();
}

void LoopMail::wake_for_room() noexcept {
  bool first = false;
  {
    std::lock_guard lock(lock_);
    first = posted_.empty() && !room_;
    room_ = true;
  }
  pending_.store(true, std::memory_order_release);
  if (first) doorbell_.signal();
}

bool LoopMail::take(std::vector<int>& fds) noexcept {
  fds.clear();
  std::uint64_t count = 0;
  // EAGAIN when nothing was written: nothing to drain.
  [[maybe_unused]] const ssize_t n = ::read(doorbell_.fd(), &count, sizeof count);
  pending_.store(false, std::memory_order_relaxed);
  std::lock_guard lock(lock_);
  fds.swap(posted_);
  const bool room = room_;
  room_ = false;
  return room;
}

}  // namespace wsb::kit
