// A chat connection's mailbox (namespace wsb::server): where the frames other
// users send to this connection wait, from whichever thread serves the sender,
// until the thread that owns the connection collects them into its reply
// queue (Connection::collect_mail). Every I/O model uses it as it is; what a
// model adds is only its wake function, its way to make the owning thread
// collect soon (add the connection to a list and write the loop's eventfd,
// post a completion, set an event, notify a condition variable...).
//
// Bound: the frames not yet collected may total at most `bound` bytes
// (--max-pending). A post past it marks the outbox overflowed, frees what it
// held and refuses every later post; the owner then drops the connection as a
// slow consumer. So one reader that does not read costs the server at most
// the bound, and never stalls the senders.
//
// Threading: post() from any thread, concurrently with the owner's collect().
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <span>

#include "chat/hub.hpp"
#include "proto/buffer.hpp"

namespace wsb::server {

class Outbox final : public chat::Mailbox {
 public:
  using WakeFunction = void (*)(void* context);

  explicit Outbox(std::size_t bound) noexcept : bound_(bound) {}
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;
  ~Outbox() = default;

  // The model's wake function: post() calls it, on the posting thread and
  // without the outbox's lock held, when the outbox goes from empty to
  // holding a frame and when it overflows. It must not block beyond a short
  // lock, and must not call the Hub or the Connection (the posting thread
  // holds the Hub's lock). Set it before the connection's first receive (the
  // session logs in only then, so no post can come earlier); `context` must
  // stay valid as long as the connection.
  void set_wake(WakeFunction wake, void* context) noexcept {
    wake_ = wake;
    wake_context_ = context;
  }

  // chat::Mailbox: appends one whole frame; false when over the bound (the
  // outbox is then overflowed) or out of memory.
  bool post(std::span<const char> frame) noexcept override;

  // Owner thread: moves every frame held into `out` (in the order posted);
  // returns the bytes moved. Throws only std::bad_alloc from growing `out`
  // (nothing is lost then: the frames stay in the outbox).
  std::size_t collect(ByteBuffer& out);

  // Something is waiting to be collected (a cheap check for the owner).
  bool has_mail() const noexcept { return has_mail_.load(std::memory_order_acquire); }
  // A post went over the bound: the connection must be dropped.
  bool overflowed() const noexcept { return overflowed_.load(std::memory_order_acquire); }

 private:
  void wake_owner() const noexcept {
    if (wake_ != nullptr) wake_(wake_context_);
  }

  const std::size_t bound_;
  WakeFunction wake_ = nullptr;
  void* wake_context_ = nullptr;
  std::mutex lock_;
  ByteBuffer frames_;  // under lock_
  std::atomic<bool> has_mail_{false};
  std::atomic<bool> overflowed_{false};
};

}  // namespace wsb::server
