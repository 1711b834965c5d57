#include "render_common.hpp"

#include <cstdio>

#include "platform/process.hpp"

namespace wsb::loadgen {

std::string fixed(double v, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

std::string us(std::int64_t ns) {
  return fixed(static_cast<double>(ns) / 1e3, 3);
}
std::string us(double ns) {
  return fixed(ns / 1e3, 3);
}

std::string seconds_text(std::chrono::nanoseconds d) {
  return fixed(static_cast<double>(d.count()) / 1e9, 3);
}

// Through the C++20 calendar, so that no gmtime_r / gmtime_s split between
// platforms is needed.
std::string iso_time(std::int64_t ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> tp{milliseconds(ms)};
  const auto day = floor<days>(tp);
  const year_month_day ymd(day);
  const hh_mm_ss<milliseconds> hms(tp - day);
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buffer;
}

double per_second(std::uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

std::vector<std::string> latency_fields(const hdr::Histogram& h) {
  if (h.total_count() == 0) return std::vector<std::string>(9);
  return {us(h.min()),
          us(h.value_at_percentile(50.0)),
          us(h.value_at_percentile(90.0)),
          us(h.value_at_percentile(99.0)),
          us(h.value_at_percentile(99.9)),
          us(h.value_at_percentile(99.99)),
          us(h.max()),
          us(h.mean()),
          us(h.stddev())};
}

std::string platform_kind() {
  return platform::running_under_wine() ? "wine" : "native";
}

std::string format_latency(std::int64_t ns) {
  const double v = static_cast<double>(ns);
  auto three = [](double x, const char* unit) {
    const int decimals = x >= 100 ? 0 : x >= 10 ? 1 : 2;
    return fixed(x, decimals) + unit;
  };
  if (ns < 1000) return std::to_string(ns) + "ns";
  if (v < 999.5e3) return three(v / 1e3, "us");
  if (v < 999.5e6) return three(v / 1e6, "ms");
  return three(v / 1e9, "s");
}

}  // namespace wsb::loadgen
