// The group threads of a model whose threads wait with
// WSAWaitForMultipleEvents (namespace wsb::kit): server-event-select and
// server-overlapped-event. Windows code only, like kit/winsock.hpp.
//
// One wait covers at most 64 events, so such a model serves its connections
// in groups, one thread per group. What every group thread does alike is
// here: the hand-over from the accepting thread (GroupInbox, slot 0 of the
// wait), the loop that waits, serves every signalled event and wakes each
// tick for housekeeping, the removal of closed connections after a pass,
// the accepting thread's choice of a group (GroupPool), and with --protocol
// chat the group's mail list (kit/mail_list.hpp): a thread that posts a
// message for a connection of the group puts it on the list and sets the
// group's control event, and the group thread collects its mail. What a
// signalled event means for a connection stays the model's: the hooks below.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "kit/group_inbox.hpp"
#include "kit/mail_list.hpp"
#include "kit/winsock.hpp"
#include "platform/net.hpp"
#include "server/frame.hpp"
#include "server/stats.hpp"

namespace wsb::kit {

// What the accepting thread hands to a group: the socket and, when the
// accepting call tells it (AcceptEx does, accept(s, nullptr, nullptr) does
// not), the peer's address.
struct Accepted {
  SOCKET socket = INVALID_SOCKET;
  net::Endpoint peer;
};

// One group thread. A model derives its group from this class, calls start()
// as the last act of its constructor and stop_and_join() as the first act of
// its destructor (the thread calls the hooks, which use the derived members).
class EventGroup {
 public:
  EventGroup(const EventGroup&) = delete;
  EventGroup& operator=(const EventGroup&) = delete;

  // Accepting thread only: connections assigned and not yet closed.
  std::size_t load() const noexcept { return inbox_.load(); }
  // Accepting thread only: queues an accepted socket and wakes the group
  // thread through its control event. Throws std::bad_alloc.
  void assign(const Accepted& a) { inbox_.assign(a); }
  // Accepting thread, after it stopped accepting: the group closes every
  // connection (and every socket still in the inbox) and its thread ends.
  void request_stop() noexcept { inbox_.request_stop(); }

 protected:
  // `tick`: how often the thread wakes without events, for housekeeping().
  EventGroup(server::Frame& frame, server::StatsShard& shard, std::chrono::milliseconds tick);
  virtual ~EventGroup() = default;

  void start();
  // Stops the thread and waits for it, then closes what was assigned after
  // it ended early (after frame.fail()); its shard is the caller's then.
  void stop_and_join() noexcept;

  // The hooks, called on the group thread. The number of events of the wait
  // (slot 0, the control event, included).
  virtual DWORD event_count() const noexcept = 0;
  // A socket taken from the inbox becomes a connection of the group.
  virtual void adopt(const Accepted& a) = 0;
  // The event at `index` (1 and up) is signalled.
  virtual void serve(DWORD index) = 0;
  // Each tick: idle timeouts, lingering closes, retries.
  virtual void housekeeping(Clock::time_point now) = 0;
  // After each pass: closed connections leave the arrays (compact_group).
  virtual void compact() = 0;
  // After the loop: every connection is closed (the inbox is the base's).
  virtual void close_all() noexcept = 0;
  // Chat: the connection of `target` (a MailTarget made with mail_) has mail:
  // collect it and send it; the connection may be closed already.
  virtual void deliver_mail(MailTarget& target) = 0;
  // Chat: a wake-up was lost for want of memory: every connection collects.
  virtual void deliver_all_mail() = 0;

  // A socket that never became a connection (no memory or no event object
  // for it, `failed`, or a stop): counted as io when `failed`, released and
  // closed.
  void drop(SOCKET s, bool failed) noexcept;

  server::Frame& frame_;
  server::StatsShard& shard_;
  GroupInbox<Accepted> inbox_;
  // Each connection's MailTarget is on this list while it has mail.
  MailList mail_;
  // Group thread only. events_[0] is the control event; the model fills the
  // rest so that a wait result maps to its connection without a search.
  WSAEVENT events_[WSA_MAXIMUM_WAIT_EVENTS]{};

 private:
  void run() noexcept;
  void take_control() noexcept;
  void close_inbox() noexcept;

  const std::chrono::milliseconds tick_;
  std::thread thread_;
};

// Removes the closed entries of `entries` (closed(entry) says which), each
// owning `per_entry` events at events[1 + per_entry * k] and on. It runs
// after a pass: moving the last entry into a hole in the middle of a pass
// would let the scan skip it or visit it twice. The closed entry is
// destroyed here, after the pass that may still look at its events.
template <class Entry, class Closed>
void compact_group(std::vector<std::unique_ptr<Entry>>& entries, WSAEVENT* events,
                   std::size_t per_entry, Closed&& closed) {
  for (std::size_t k = 0; k < entries.size();) {
    if (!closed(*entries[k])) {
      ++k;
      continue;
    }
    const std::size_t last = entries.size() - 1;
    for (std::size_t e = 1; e <= per_entry; ++e) {
      if (k != last) events[per_entry * k + e] = events[per_entry * last + e];
      events[per_entry * last + e] = nullptr;
    }
    if (k != last) entries[k] = std::move(entries[last]);
    entries.pop_back();
  }
}

// The accepting thread's groups: it hands each connection to the least
// loaded group with room and starts another group thread when every group
// is full. Group(frame, shard) must derive from EventGroup.
template <class Group>
class GroupPool {
 public:
  // `initial` group threads start at once (--threads N).
  GroupPool(server::Frame& frame, std::size_t capacity, int initial)
      : frame_(frame), capacity_(capacity) {
    for (int i = 0; i < initial; ++i)
      add();
  }
  ~GroupPool() { stop_all(); }
  GroupPool(const GroupPool&) = delete;
  GroupPool& operator=(const GroupPool&) = delete;

  // The least loaded group that has room; a new group thread when all are
  // full. Throws (no memory, no thread, no event object).
  Group& with_room() {
    Group* best = least_loaded_with_room(groups_, capacity_);
    return best != nullptr ? *best : add();
  }

  // After the last hand-over: every group closes its connections, and its
  // thread is joined.
  void stop_all() noexcept {
    for (auto& group : groups_)
      group->request_stop();
    groups_.clear();
  }

 private:
  Group& add() {
    // The shard is taken here, on the accepting thread, but only the group's
    // thread ever writes to it.
    groups_.push_back(std::make_unique<Group>(frame_, frame_.shard()));
    return *groups_.back();
  }

  server::Frame& frame_;
  const std::size_t capacity_;
  std::vector<std::unique_ptr<Group>> groups_;
};

}  // namespace wsb::kit
