// The hand-over between an accepting thread and the group threads of a model
// whose threads wait with WSAWaitForMultipleEvents (namespace wsb::kit):
// server-event-select and server-overlapped-event. Windows code only, like
// platform/win/winsock.hpp.
//
// One wait covers at most WSA_MAXIMUM_WAIT_EVENTS (64) handles, so such a
// model serves its connections in groups, one thread per group, and slot 0 of
// every group's wait is the group's control event. The accepting thread puts
// each accepted socket in the inbox of the least loaded group with room
// (least_loaded_with_room()) and sets the control event; the group thread
// wakes at slot 0 and takes the inbox. The same event carries the stop
// request.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "kit/winsock.hpp"

namespace wsb::kit {

template <class Item>
class GroupInbox {
 public:
  // The control event, slot 0 of the group thread's wait: signalled by
  // assign() and request_stop(), reset by take().
  WSAEVENT event() const noexcept { return control_.get(); }

  // Accepting thread only: items assigned and not yet closed (closed()). Only
  // the accepting thread increases it, so a value below a group's limit stays
  // below it until that thread's next assign().
  std::size_t load() const noexcept { return assigned_.load(std::memory_order_acquire); }

  // Accepting thread only: queues an accepted socket for the group and wakes
  // the group thread. Throws std::bad_alloc.
  void assign(const Item& item) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(item);
    }
    assigned_.fetch_add(1, std::memory_order_acq_rel);
    ::WSASetEvent(control_.get());
  }

  // Accepting thread, after it stopped accepting: the group closes
  // everything and its thread ends.
  void request_stop() noexcept {
    stop_.store(true, std::memory_order_release);
    ::WSASetEvent(control_.get());
  }
  bool stop_requested() const noexcept { return stop_.load(std::memory_order_acquire); }

  // Any thread: wakes the group thread without an item (chat mail for one of
  // its connections, kit/mail_list.hpp); take() resets the event all the same.
  void wake() noexcept { ::WSASetEvent(control_.get()); }

  // Group thread, when the control event is signalled: resets it and takes
  // what has been assigned. Reset before taking: an item assigned after this
  // point sets the event again, so it cannot be left behind unnoticed.
  std::vector<Item> take() {
    ::WSAResetEvent(control_.get());
    return take_left();
  }
  // At the end, for closing: whatever was assigned and never taken.
  std::vector<Item> take_left() {
    std::vector<Item> taken;
    std::lock_guard lock(mutex_);
    taken.swap(items_);
    return taken;
  }

  // Group thread: one assigned item's socket is closed.
  void closed() noexcept { assigned_.fetch_sub(1, std::memory_order_acq_rel); }

 private:
  Event control_;
  std::mutex mutex_;
  std::vector<Item> items_;  // guarded by mutex_
  std::atomic<std::size_t> assigned_{0};
  std::atomic<bool> stop_{false};
};

// The group with the lowest load() below `capacity`, or nullptr when every
// group is full (the caller then starts another group thread).
template <class Group>
Group* least_loaded_with_room(const std::vector<std::unique_ptr<Group>>& groups,
                              std::size_t capacity) noexcept {
  Group* best = nullptr;
  for (const auto& group : groups) {
    if (group->load() < capacity && (best == nullptr || group->load() < best->load())) {
      best = group.get();
    }
  }
  return best;
}

}  // namespace wsb::kit
