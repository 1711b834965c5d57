// The chat server's registry of users and groups (namespace wsb::chat):
// who is online, in which group, and how a message reaches the connections
// of its recipients, whichever threads serve them. Portable and shared by
// every I/O model: what a model adds is only its Mailbox, its own way to get
// a frame onto a connection that another thread may own (a lock on that
// connection's output, or a hand-over to the owning thread and a wake-up).
//
// Threading: every member may be called from any thread. Logins and logouts
// take the registry's lock exclusively; sends take it shared, so senders in
// different threads deliver at the same time, and a Mailbox cannot log out
// (and so cannot be destroyed) while a send is delivering to it.
//
// Order: a sender's messages are delivered one after the other by the thread
// that serves the sender, each post() completing before the next message is
// read, so every recipient receives a sender's messages in the order sent as
// long as each Mailbox keeps what it is posted in order.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <vector>

namespace wsb::chat {

// A logged-in connection as the registry sees it.
class Mailbox {
 public:
  // Queues one whole frame for the connection; called from any thread, also
  // concurrently with the connection's own thread. Returns false when the
  // frame was not queued because the connection's unsent output is over its
  // bound (--max-pending): the mailbox then has the connection dropped as a
  // slow consumer (and counts it), so that one slow reader never stalls its
  // group or grows the server's memory without bound. Must not block on
  // anything but a short lock, and must not call back into the Hub.
  virtual bool post(std::span<const char> frame) noexcept = 0;

 protected:
  ~Mailbox() = default;
};

// What a server reports about its chat traffic.
struct HubCounts {
  std::uint64_t online = 0;       // users logged in now
  std::uint64_t online_peak = 0;  // the most at one time
  std::uint64_t messages = 0;     // PRIVATE and GROUP messages relayed
  std::uint64_t deliveries = 0;   // frames queued to recipients
  std::uint64_t undelivered = 0;  // posts refused by a recipient over its bound
};

class Hub {
 public:
  Hub() = default;
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Logs `user` in to `group` with `mailbox`. Returns the number of the
  // group's members online now, the new one included, or nullopt when
  // another connection holds the id (the caller answers ERROR 3).
  std::optional<std::uint32_t> login(std::uint32_t user, std::uint32_t group, Mailbox& mailbox);

  // Frees `user`'s id (another connection may log in with it); after it
  // returns, no thread uses that user's mailbox any more. A user that is not
  // logged in is ignored.
  void logout(std::uint32_t user) noexcept;

  // Queues `frame` (a FROM_PRIVATE) for user `to`; returns 1 if it was
  // queued, 0 when `to` is offline or refused it.
  std::uint32_t send_private(std::uint32_t to, std::span<const char> frame) noexcept;

  // Queues `frame` (a FROM_GROUP) for every online member of `group` except
  // `from`; returns how many queued it.
  std::uint32_t send_group(std::uint32_t from, std::uint32_t group,
                           std::span<const char> frame) noexcept;

  HubCounts counts() const noexcept;

 private:
  struct User {
    Mailbox* mailbox;
    std::uint32_t group;
  };
  struct Member {
    std::uint32_t user;
    Mailbox* mailbox;
  };

  bool deliver(Mailbox& to, std::span<const char> frame) noexcept;

  mutable std::shared_mutex lock_;
  std::unordered_map<std::uint32_t, User> users_;
  std::unordered_map<std::uint32_t, std::vector<Member>> groups_;
  std::uint64_t online_peak_ = 0;  // under lock_ (exclusive)
  std::atomic<std::uint64_t> messages_{0};
  std::atomic<std::uint64_t> deliveries_{0};
  std::atomic<std::uint64_t> undelivered_{0};
};

}  // namespace wsb::chat
