#include "server/options.hpp"

#include <algorithm>
#include <array>

namespace wsb::server {

std::string_view name(ErrorClass c) noexcept {
  static constexpr std::array<std::string_view, error_class_count> names{
      "malformed", "oversized",     "truncated",          "unsupported", "reset",  "idle_timeout",
      "refused",   "accept_failed", "out_of_descriptors", "io",          "banned", "slow_consumer"};
  const auto index = static_cast<std::size_t>(c);
  return index < names.size() ? names[index] : std::string_view("unknown");
}

ErrorClass classify_io_error(int code) noexcept {
  if (net::is_reset(code)) return ErrorClass::reset;
  if (net::is_out_of_descriptors(code)) return ErrorClass::out_of_descriptors;
  return ErrorClass::io;
}

ErrorClass classify_accept_error(int code) noexcept {
  if (net::is_reset(code)) return ErrorClass::reset;
  if (net::is_out_of_descriptors(code)) return ErrorClass::out_of_descriptors;
  return ErrorClass::accept_failed;
}

std::chrono::steady_clock::duration idle_sweep_interval(const Options& options) noexcept {
  using Duration = std::chrono::steady_clock::duration;
  if (options.idle_timeout.count() <= 0) return Duration::zero();
  return std::clamp<Duration>(std::chrono::duration_cast<Duration>(options.idle_timeout / 8),
                              std::chrono::milliseconds(1), std::chrono::milliseconds(250));
}

}  // namespace wsb::server
