// Admission of accepted connections (namespace wsb::server): --max-connections,
// and per client address --max-conns-per-ip with a --ban-time ban (seed 002's
// defence; docs/reliability.md). It also keeps the online and peak counts.
// One of the three jobs of the Frame (server/frame.hpp), which owns one and
// whose admit() and release() calls it answers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
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

 private:
  using Clock = std::chrono::steady_clock;

  // The connections online and the ban of one peer address.
  struct PeerAddress {
    int online = 0;
    Clock::time_point banned_until{};
  };

  bool admit_from(StatsShard& shard, net::socket_t s, const std::string& key, ErrorClass& refusal);

  const Options& options_;
  std::atomic<std::uint64_t> online_{0};
  std::atomic<std::uint64_t> peak_{0};
  // --max-conns-per-ip only: each peer address's entry, and the address of
  // each socket admitted with one, so that release(shard, socket) finds it.
  std::mutex mutex_;
  std::map<std::string, PeerAddress, std::less<>> peers_;
  std::map<net::socket_t, std::string> peer_of_socket_;
};

}  // namespace wsb::server
