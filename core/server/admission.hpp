// Admission of accepted connections (namespace wsb::server): --max-connections
// with --when-full (refuse, or queue: the models stop accepting while full and
// the kernel's accept queue is the waiting line), and per client address
// --max-conns-per-ip with a --ban-time ban (seed 002's defence;
// docs/reliability.md). It also keeps the online and peak counts and what the
// waiting line's clients waited.
// One of the three jobs of the Frame (server/frame.hpp), which owns one and
// whose admit() and release() calls it answers.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "platform/net.hpp"
#include "server/options.hpp"
#include "server/stats.hpp"

namespace wsb::server {

class Admission {
 public:
  // `options` is read at each call, so it may be filled in after
  // construction (by the command line's parse()).
  explicit Admission(const Options& options) noexcept : options_(options) {}

  // See Frame::admit and Frame::release: the same contracts.
  bool admit(StatsShard& shard) noexcept;
  void release(StatsShard& shard) noexcept;
  bool admit(StatsShard& shard, net::socket_t s) noexcept;
  void release(StatsShard& shard, net::socket_t s) noexcept;
  // admit(shard, s) that also says why it refused: sets `refusal` to the
  // class it counted (refused or banned) when it returns false.
  bool admit(StatsShard& shard, net::socket_t s, ErrorClass& refusal) noexcept;

  std::uint64_t online() const noexcept { return online_.load(std::memory_order_relaxed); }
  std::uint64_t peak_online() const noexcept { return peak_.load(std::memory_order_relaxed); }

  // See Frame::has_room, set_room_hook, wait_for_room and note_waited.
  using Clock = std::chrono::steady_clock;
  bool has_room() const noexcept;
  void set_room_hook(std::function<void()> hook);
  bool wait_for_room(const std::atomic<bool>& stopping) noexcept;
  void note_waited(Clock::duration waited) noexcept;
  std::uint64_t waited() const noexcept { return waited_.load(std::memory_order_relaxed); }
  std::chrono::nanoseconds longest_wait() const noexcept {
    return std::chrono::nanoseconds(longest_wait_ns_.load(std::memory_order_relaxed));
  }

 private:
  // The connections online and the ban of one peer address.
  struct PeerAddress {
    int online = 0;
    Clock::time_point banned_until{};
  };

  bool admit_from(StatsShard& shard, net::socket_t s, const std::string& key, ErrorClass& refusal);
  // A release made room in queue mode: wakes wait_for_room() and runs the hook.
  void made_room() noexcept;

  const Options& options_;
  std::atomic<std::uint64_t> online_{0};
  std::atomic<std::uint64_t> peak_{0};
  // --max-conns-per-ip only: each peer address's entry, and the address of
  // each socket admitted with one, so that release(shard, socket) finds it.
  std::mutex mutex_;
  std::map<std::string, PeerAddress, std::less<>> peers_;
  std::map<net::socket_t, std::string> peer_of_socket_;
  // --when-full queue: the room hook (set before any model thread runs, so
  // read without a lock), the condition blocking accept threads wait on, and
  // what the queued connections waited.
  std::mutex room_mutex_;
  std::condition_variable room_;
  std::function<void()> room_hook_;
  std::atomic<std::uint64_t> waited_{0};
  std::atomic<std::uint64_t> longest_wait_ns_{0};
};

}  // namespace wsb::server
