// Admission of accepted connections: server/admission.hpp.
#include "server/admission.hpp"

#include <algorithm>

namespace wsb::server {
namespace {

// The part of a peer address that identifies the client: its IP, without
// the port. Empty when the address cannot be read.
std::string address_key(net::socket_t s) {
  const auto peer = net::peer_endpoint(s);
  return peer ? net::host_to_string(*peer) : std::string();
}

}  // namespace

bool Admission::admit(StatsShard& shard) noexcept {
  const int limit = options_.max_connections;
  const std::uint64_t now_online = online_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (limit > 0 && now_online > static_cast<std::uint64_t>(limit)) {
    online_.fetch_sub(1, std::memory_order_relaxed);
    shard.error(ErrorClass::refused);
    return false;
  }
  shard.accepted();
  std::uint64_t peak = peak_.load(std::memory_order_relaxed);
  while (now_online > peak &&
         !peak_.compare_exchange_weak(peak, now_online, std::memory_order_relaxed)) {
  }
  return true;
}

void Admission::release(StatsShard& shard) noexcept {
  const std::uint64_t was_online = online_.fetch_sub(1, std::memory_order_relaxed);
  shard.closed();
  const int limit = options_.max_connections;
  if (options_.when_full == WhenFull::queue && limit > 0 &&
      was_online >= static_cast<std::uint64_t>(limit)) {
    made_room();
  }
}

bool Admission::has_room() const noexcept {
  const int limit = options_.max_connections;
  return options_.when_full != WhenFull::queue || limit <= 0 ||
         online() < static_cast<std::uint64_t>(limit);
}

void Admission::set_room_hook(std::function<void()> hook) {
  room_hook_ = std::move(hook);
}

void Admission::made_room() noexcept {
  room_.notify_all();
  if (room_hook_) room_hook_();
}

bool Admission::wait_for_room(const std::atomic<bool>& stopping) noexcept {
  // The wait is in slices so that a stop request, which does not notify this
  // condition, ends it within one slice.
  constexpr auto slice = std::chrono::milliseconds(20);
  std::unique_lock lock(room_mutex_);
  while (!has_room()) {
    if (stopping.load(std::memory_order_relaxed)) return false;
    room_.wait_for(lock, slice);
  }
  return !stopping.load(std::memory_order_relaxed);
}

void Admission::note_waited(Clock::duration waited) noexcept {
  waited_.fetch_add(1, std::memory_order_relaxed);
  const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count()));
  std::uint64_t longest = longest_wait_ns_.load(std::memory_order_relaxed);
  while (ns > longest &&
         !longest_wait_ns_.compare_exchange_weak(longest, ns, std::memory_order_relaxed)) {
  }
}

bool Admission::admit(StatsShard& shard, net::socket_t s) noexcept {
  ErrorClass refusal{};
  return admit(shard, s, refusal);
}

bool Admission::admit(StatsShard& shard, net::socket_t s, ErrorClass& refusal) noexcept {
  // admit(shard) refuses for one reason only.
  refusal = ErrorClass::refused;
  if (options_.max_conns_per_ip <= 0) return admit(shard);
  try {
    // A peer that already reset has no address any more; it is admitted
    // without a per-address count and fails on its first receive.
    const std::string key = address_key(s);
    if (key.empty()) return admit(shard);
    return admit_from(shard, s, key, refusal);
  } catch (...) {
    // Out of memory for the tables: refuse rather than serve unchecked.
    shard.error(ErrorClass::refused);
    return false;
  }
}

bool Admission::admit_from(StatsShard& shard, net::socket_t s, const std::string& key,
                           ErrorClass& refusal) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  PeerAddress& peer = peers_[key];
  if (now < peer.banned_until || peer.online >= options_.max_conns_per_ip) {
    if (now >= peer.banned_until) {
      peer.banned_until = now + std::chrono::duration_cast<Clock::duration>(options_.ban_time);
    }
    if (peer.online == 0 && now >= peer.banned_until) peers_.erase(key);
    shard.error(ErrorClass::banned);
    refusal = ErrorClass::banned;
    return false;
  }
  if (!admit(shard)) {
    if (peer.online == 0 && now >= peer.banned_until) peers_.erase(key);
    return false;
  }
  ++peer.online;
  peer_of_socket_[s] = key;
  return true;
}

void Admission::release(StatsShard& shard, net::socket_t s) noexcept {
  if (options_.max_conns_per_ip > 0) {
    std::lock_guard lock(mutex_);
    const auto it = peer_of_socket_.find(s);
    if (it != peer_of_socket_.end()) {
      const auto peer = peers_.find(it->second);
      if (peer != peers_.end() && --peer->second.online == 0 &&
          Clock::now() >= peer->second.banned_until) {
        peers_.erase(peer);
      }
      peer_of_socket_.erase(it);
    }
  }
  release(shard);
}

}  // namespace wsb::server
