#include "server/stats.hpp"

namespace wsb::server {

std::uint64_t StatsTotals::errors_total() const noexcept {
  std::uint64_t total = 0;
  for (const std::uint64_t n : errors)
    total += n;
  return total;
}

void StatsShard::add_to(StatsTotals& totals) const noexcept {
  constexpr auto relaxed = std::memory_order_relaxed;
  totals.requests += requests_.load(relaxed);
  totals.bytes_in += bytes_in_.load(relaxed);
  totals.bytes_out += bytes_out_.load(relaxed);
  totals.accepted += accepted_.load(relaxed);
  totals.closed += closed_.load(relaxed);
  for (std::size_t i = 0; i < errors_.size(); ++i)
    totals.errors[i] += errors_[i].load(relaxed);
}

}  // namespace wsb::server
