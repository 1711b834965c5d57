// Server statistics without locks on the hot path (namespace wsb::server).
//
// Every I/O thread owns one StatsShard (Frame::shard()) and is its only
// writer. The counters are std::atomic only so that the reporter thread may
// read them concurrently: the owner updates them with a relaxed load and a
// relaxed store (no read-modify-write, hence no locked instruction), and the
// reporter sums relaxed loads of all shards. A sum read while threads run is
// not a consistent snapshot across counters, which is fine for rates.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "server/options.hpp"

namespace wsb::server {

class Connection;
class Frame;

// Totals summed over all shards.
struct StatsTotals {
  std::uint64_t requests = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t accepted = 0;  // admitted connections
  std::uint64_t closed = 0;    // admitted connections released again
  std::array<std::uint64_t, error_class_count> errors{};

  std::uint64_t errors_total() const noexcept;
  std::uint64_t error(ErrorClass c) const noexcept { return errors[static_cast<std::size_t>(c)]; }
};

// Aligned to a cache line of its own so that two threads' shards never share
// one (64 bytes on every x86 and most ARM cores; the standard's
// hardware_destructive_interference_size is avoided because GCC warns that its
// value may differ between compiler versions).
class alignas(64) StatsShard {
 public:
  StatsShard() = default;
  StatsShard(const StatsShard&) = delete;
  StatsShard& operator=(const StatsShard&) = delete;

  // Owner thread only.
  void requests(std::uint64_t n) noexcept { add(requests_, n); }
  void bytes_in(std::uint64_t n) noexcept { add(bytes_in_, n); }
  void bytes_out(std::uint64_t n) noexcept { add(bytes_out_, n); }
  void error(ErrorClass c) noexcept { add(errors_[static_cast<std::size_t>(c)], 1); }
  void accepted() noexcept { add(accepted_, 1); }
  void closed() noexcept { add(closed_, 1); }

  // Any thread: adds this shard's counters to `totals` (relaxed loads).
  void add_to(StatsTotals& totals) const noexcept;

 private:
  friend class Connection;
  friend class Frame;

  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> bytes_in_{0};
  std::atomic<std::uint64_t> bytes_out_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> closed_{0};
  std::array<std::atomic<std::uint64_t>, error_class_count> errors_{};
  // --stall: when the owner thread pauses next (owner thread only, so plain).
  std::chrono::steady_clock::time_point next_stall_{};
};

}  // namespace wsb::server
