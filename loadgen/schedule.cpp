#include "schedule.hpp"

#include <algorithm>
#include <cmath>

namespace wsb::loadgen {

Share share_of(std::uint64_t total, std::uint64_t workers, std::uint64_t index) noexcept {
  const std::uint64_t base = total / workers;
  const std::uint64_t extra = total % workers;
  Share s;
  s.count = base + (index < extra ? 1 : 0);
  s.first = index * base + std::min(index, extra);
  return s;
}

OpenSchedule::OpenSchedule(double rate, std::uint64_t connections) noexcept
    : ns_per_request_(1e9 / rate), connections_(static_cast<double>(connections)) {}

std::int64_t OpenSchedule::intended_ns(std::uint64_t connection, std::uint64_t k) const noexcept {
  // In double: (g + k * C) stays an exact integer up to 2^53, far beyond any
  // run, and the product is rounded once.
  const double slot = static_cast<double>(connection) + static_cast<double>(k) * connections_;
  return std::llround(slot * ns_per_request_);
}

ConnectPacer::ConnectPacer(double rate, std::int64_t first_ns) noexcept
    : interval_ns_(rate > 0.0 ? 1e9 / rate : 0.0), next_ns_(static_cast<double>(first_ns)) {}

bool ConnectPacer::try_acquire(std::int64_t now_ns) noexcept {
  if (unlimited()) return true;
  const double now = static_cast<double>(now_ns);
  if (now < next_ns_) return false;
  // Late by more than one interval: restart the grid at now instead of
  // handing out the missed permits in a burst.
  const double base = now - next_ns_ >= interval_ns_ ? now : next_ns_;
  next_ns_ = base + interval_ns_;
  return true;
}

std::int64_t ConnectPacer::next_ns() const noexcept {
  return static_cast<std::int64_t>(std::ceil(next_ns_));
}

std::int64_t reconnect_backoff_ns(unsigned consecutive_failures) noexcept {
  constexpr std::int64_t kFirst = 10'000'000;   // 10 ms
  constexpr std::int64_t kMax = 1'000'000'000;  // 1 s
  if (consecutive_failures == 0) return 0;
  const unsigned shift = std::min(consecutive_failures - 1, 7U);
  return std::min(kFirst << shift, kMax);
}

}  // namespace wsb::loadgen
