// Durations and sizes given on command lines (namespace wsb::platform).
// Portable code with no platform dependency.
//
// Time is measured with std::chrono::steady_clock everywhere in the project:
// it is monotonic, and on Windows the standard libraries implement it with
// QueryPerformanceCounter (on Linux with clock_gettime(CLOCK_MONOTONIC)), so no
// clock shim is needed.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsb::platform {

// "500ms", "3s", "2m", "1h", "250us", "100ns", "1.5s", or a bare number meaning
// seconds ("1.5" = 1.5 s). Decimals are allowed with every unit and are
// converted exactly (no floating point), truncating below one nanosecond.
// Negative values, empty strings, unknown units and values that overflow
// std::chrono::nanoseconds give nullopt.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

// The same number, with units, read back by parse_duration(): picks the largest
// unit that keeps three significant decimals, e.g. "1.5s", "250ms", "2m",
// "120us", "0s".
std::string format_duration(std::chrono::nanoseconds d);

// A byte count: a bare number, or one followed by k, m or g (binary multiples:
// 1k = 1024), optionally followed by "iB" or "B" ("64k", "1M", "1MiB", "512B").
// Case-insensitive. nullopt when malformed or above 2^64-1.
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace wsb::platform
