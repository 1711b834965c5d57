// What every renderer of a run shares (namespace wsb::loadgen): number and
// time formatting, the latency columns of a histogram and the platform name.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "hdr/histogram.hpp"

namespace wsb::loadgen {

// v with the given number of decimals ("%.*f").
std::string fixed(double v, int decimals);
// Nanoseconds as microseconds with three decimals.
std::string us(std::int64_t ns);
std::string us(double ns);
// A duration as seconds with three decimals.
std::string seconds_text(std::chrono::nanoseconds d);
// "2024-05-01T12:34:56.789Z".
std::string iso_time(std::int64_t ms);
// n per second; 0 for an empty interval.
double per_second(std::uint64_t n, double seconds);

// The percentiles the summary prints.
inline constexpr std::array<double, 7> kSpectrum{50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0};

// The latency columns of one histogram: min, p50, p90, p99, p99.9, p99.99,
// max, mean, stddev, in microseconds (empty strings for an empty histogram).
std::vector<std::string> latency_fields(const hdr::Histogram& h);
inline constexpr std::array<const char*, 9> kLatencySuffixes{"min_us", "p50_us",  "p90_us",
                                                             "p99_us", "p999_us", "p9999_us",
                                                             "max_us", "mean_us", "stddev_us"};

// "1.23ms", "456us", "12.3s": three significant digits.
std::string format_latency(std::int64_t ns);

// "native", or "wine" when this loadgen is a Windows build under Wine.
std::string platform_kind();

}  // namespace wsb::loadgen
