// The "has mail" list of a thread that owns connections (namespace wsb::kit),
// for --protocol chat. Windows code only, like kit/winsock.hpp.
//
// A chat message received on one connection is posted into the outboxes of
// its recipients, from the thread that serves the sender; each recipient's
// Connection belongs to the thread that serves it, and only that thread may
// call collect_mail() on it (server/connection.hpp). The outbox calls the
// wake function its model registered (Connection::set_mail_wake) on the
// posting thread. Every Winsock model that serves clients on more than one
// thread does the same there: put the recipient on its owner's list under a
// short lock and, when the list was empty, wake the owner its own way (set
// an event, send a datagram to a wake socket, PostMessage, QueueUserAPC,
// post a completion). The owner takes the list and calls collect_mail() on
// each entry. One wake-up serves every message posted until the owner takes
// the list, so a burst costs one wake-up, not one per message.
#pragma once

#include <algorithm>
#include <mutex>
#include <vector>

namespace wsb::kit {

class MailTarget;

class MailList {
 public:
  // How the owner is woken when its list was empty: called on the posting
  // thread, with `owner`; must not block beyond a short lock.
  using WakeOwner = void (*)(void* owner) noexcept;

  MailList(WakeOwner wake_owner, void* owner) noexcept : wake_owner_(wake_owner), owner_(owner) {}
  MailList(const MailList&) = delete;
  MailList& operator=(const MailList&) = delete;

  // The owner: the targets with mail, each once, so that the owner may close
  // (and destroy) a target while it goes through the others. `all` is set
  // when a target was lost for want of memory: the owner must then collect
  // the mail of every connection it serves.
  std::vector<MailTarget*> take(bool& all) noexcept {
    std::vector<MailTarget*> taken;
    {
      std::lock_guard lock(mutex_);
      taken.swap(targets_);
      all = overflowed_;
      overflowed_ = false;
    }
    std::sort(taken.begin(), taken.end());
    taken.erase(std::unique(taken.begin(), taken.end()), taken.end());
    return taken;
  }

 private:
  friend class MailTarget;

  // Any thread: `target` has mail; wakes the owner when the list was empty.
  // A wake function cannot report an error, so when no memory is left for
  // the target the list remembers that one was lost (take() says so).
  void add(MailTarget* target) noexcept {
    bool was_empty = false;
    {
      std::lock_guard lock(mutex_);
      was_empty = targets_.empty() && !overflowed_;
      try {
        targets_.push_back(target);
      } catch (...) {
        overflowed_ = true;
      }
    }
    if (was_empty) wake_owner_(owner_);
  }

  void forget(const MailTarget* target) noexcept {
    std::lock_guard lock(mutex_);
    targets_.erase(std::remove(targets_.begin(), targets_.end(), target), targets_.end());
  }

  const WakeOwner wake_owner_;
  void* const owner_;
  std::mutex mutex_;
  std::vector<MailTarget*> targets_;  // guarded by mutex_
  bool overflowed_ = false;           // guarded by mutex_
};

// One connection's place on its owner's MailList, and the context of its
// wake function. Declare it before the Connection it serves, so that it is
// destroyed after it: the Connection's destructor logs the user out (no
// post reaches it afterwards), then this leaves the list, so that the list
// never hands out a destroyed target.
class MailTarget {
 public:
  // `entry`: what the owner gets back (its slot or peer for the connection).
  MailTarget(MailList& list, void* entry) noexcept : list_(list), entry_(entry) {}
  ~MailTarget() { list_.forget(this); }
  MailTarget(const MailTarget&) = delete;
  MailTarget& operator=(const MailTarget&) = delete;

  // Registers the wake function for `conn` (Connection::set_mail_wake; a
  // no-op unless --protocol chat).
  template <class Connection>
  void watch(Connection& conn) noexcept {
    conn.set_mail_wake(&MailTarget::wake, this);
  }

  template <class Entry>
  Entry& entry() const noexcept {
    return *static_cast<Entry*>(entry_);
  }

 private:
  static void wake(void* self) noexcept {
    auto& target = *static_cast<MailTarget*>(self);
    target.list_.add(&target);
  }

  MailList& list_;
  void* const entry_;
};

}  // namespace wsb::kit
