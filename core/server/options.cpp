#include "server/options.hpp"

#include <array>

namespace wsb::server {

std::string_view name(ErrorClass c) noexcept {
  static constexpr std::array<std::string_view, error_class_count> names{
      "malformed",    "oversized", "truncated",     "unsupported",        "reset",
      "idle_timeout", "refused",   "accept_failed", "out_of_descriptors", "io",
      "banned"};
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

}  // namespace wsb::server
