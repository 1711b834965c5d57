// The chat registry: chat/hub.hpp.
#include "chat/hub.hpp"

#include <algorithm>
#include <mutex>

namespace wsb::chat {

std::optional<std::uint32_t> Hub::login(std::uint32_t user, std::uint32_t group, Mailbox& mailbox) {
  std::unique_lock guard(lock_);
  if (users_.count(user) != 0) return std::nullopt;
  std::vector<Member>& members = groups_[group];
  members.push_back(Member{user, &mailbox});
  try {
    users_.emplace(user, User{&mailbox, group});
  } catch (...) {
    members.pop_back();  // nothing half-done survives an allocation failure
    throw;
  }
  online_peak_ = std::max<std::uint64_t>(online_peak_, users_.size());
  return static_cast<std::uint32_t>(members.size());
}

void Hub::logout(std::uint32_t user) noexcept {
  std::unique_lock guard(lock_);
  const auto it = users_.find(user);
  if (it == users_.end()) return;
  const auto group = groups_.find(it->second.group);
  if (group != groups_.end()) {
    std::vector<Member>& members = group->second;
    // Swap-and-pop: a group's order of delivery does not matter, and a
    // member leaving a group of thousands must not shift them all.
    const auto m = std::find_if(members.begin(), members.end(),
                                [&](const Member& x) { return x.user == user; });
    if (m != members.end()) {
      *m = members.back();
      members.pop_back();
    }
    if (members.empty()) groups_.erase(group);
  }
  users_.erase(it);
}

bool Hub::deliver(Mailbox& to, std::span<const char> frame) noexcept {
  if (to.post(frame)) {
    deliveries_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  undelivered_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

std::uint32_t Hub::send_private(std::uint32_t to, std::span<const char> frame) noexcept {
  messages_.fetch_add(1, std::memory_order_relaxed);
  std::shared_lock guard(lock_);
  const auto it = users_.find(to);
  if (it == users_.end()) return 0;
  return deliver(*it->second.mailbox, frame) ? 1 : 0;
}

std::uint32_t Hub::send_group(std::uint32_t from, std::uint32_t group,
                              std::span<const char> frame) noexcept {
  messages_.fetch_add(1, std::memory_order_relaxed);
  std::shared_lock guard(lock_);
  const auto it = groups_.find(group);
  if (it == groups_.end()) return 0;
  std::uint32_t queued = 0;
  for (const Member& m : it->second) {
    if (m.user != from && deliver(*m.mailbox, frame)) ++queued;
  }
  return queued;
}

HubCounts Hub::counts() const noexcept {
  HubCounts c;
  {
    std::shared_lock guard(lock_);
    c.online = users_.size();
    c.online_peak = online_peak_;
  }
  c.messages = messages_.load(std::memory_order_relaxed);
  c.deliveries = deliveries_.load(std::memory_order_relaxed);
  c.undelivered = undelivered_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace wsb::chat
