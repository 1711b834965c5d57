// Command-line durations and sizes. Pure C++, no platform code.
#include "platform/duration.hpp"

#include <array>
#include <cstdio>
#include <limits>

namespace wsb::platform {
namespace {

constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
  if (a != 0 && b > max_u64 / a) return false;
  out = a * b;
  return true;
}

bool checked_add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
  if (b > max_u64 - a) return false;
  out = a + b;
  return true;
}

std::uint64_t pow10(int n) noexcept {
  std::uint64_t p = 1;
  for (int i = 0; i < n; ++i)
    p *= 10;
  return p;
}

// A unit in nanoseconds, written as mantissa * 10^exponent so that a decimal
// fraction can be scaled without overflowing 64 bits.
struct Unit {
  std::string_view suffix;
  std::uint64_t mantissa;
  int exponent;
};

constexpr std::array<Unit, 6> units{{
    {"ns", 1, 0},
    {"us", 1, 3},
    {"ms", 1, 6},
    {"s", 1, 9},
    {"m", 6, 10},
    {"h", 36, 11},
}};

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t whole = 0;
  std::size_t whole_digits = 0;
  for (; i < text.size() && is_digit(text[i]); ++i, ++whole_digits) {
    if (!checked_mul(whole, 10, whole) ||
        !checked_add(whole, static_cast<unsigned>(text[i] - '0'), whole)) {
      return std::nullopt;
    }
  }
  // Fraction digits beyond the 17th are below a nanosecond for every unit up
  // to hours and are ignored; 17 digits times the largest mantissa (36) still
  // fit in 64 bits.
  constexpr int max_fraction_digits = 17;
  std::uint64_t fraction = 0;
  int fraction_digits = 0;
  std::size_t fraction_seen = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    for (; i < text.size() && is_digit(text[i]); ++i, ++fraction_seen) {
      if (fraction_digits < max_fraction_digits) {
        fraction = fraction * 10 + static_cast<unsigned>(text[i] - '0');
        ++fraction_digits;
      }
    }
    if (fraction_seen == 0) return std::nullopt;  // "1." is a typo, not a number
  }
  if (whole_digits == 0 && fraction_seen == 0) return std::nullopt;

  const std::string_view suffix = text.substr(i);
  const Unit* unit = &units[3];  // a bare number means seconds
  if (!suffix.empty()) {
    unit = nullptr;
    for (const Unit& u : units) {
      if (u.suffix == suffix) unit = &u;
    }
    if (unit == nullptr) return std::nullopt;
  }

  // whole * unit, then + fraction * unit / 10^fraction_digits, all exact.
  std::uint64_t ns = 0;
  if (!checked_mul(whole, unit->mantissa, ns) || !checked_mul(ns, pow10(unit->exponent), ns)) {
    return std::nullopt;
  }
  std::uint64_t part = fraction * unit->mantissa;
  if (fraction_digits <= unit->exponent) {
    part *= pow10(unit->exponent - fraction_digits);
  } else {
    part /= pow10(fraction_digits - unit->exponent);
  }
  if (!checked_add(ns, part, ns)) return std::nullopt;
  if (ns > static_cast<std::uint64_t>(std::numeric_limits<std::chrono::nanoseconds::rep>::max())) {
    return std::nullopt;
  }
  return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(ns));
}

std::string format_duration(std::chrono::nanoseconds d) {
  if (d.count() == 0) return "0s";
  std::string sign;
  // The magnitude as unsigned, so that the most negative value does not overflow.
  std::uint64_t ns = 0;
  if (d.count() < 0) {
    sign = "-";
    ns = static_cast<std::uint64_t>(-(d.count() + 1)) + 1;
  } else {
    ns = static_cast<std::uint64_t>(d.count());
  }
  // Hours and minutes only when exact: "90m" and "2h" read well, "1.017m" does not.
  constexpr std::uint64_t minute = 60'000'000'000ULL;
  constexpr std::uint64_t hour = 60 * minute;
  if (ns % hour == 0) return sign + std::to_string(ns / hour) + "h";
  if (ns % minute == 0) return sign + std::to_string(ns / minute) + "m";
  struct Small {
    const char* suffix;
    std::uint64_t size;
  };
  constexpr std::array<Small, 4> smalls{
      {{"s", 1'000'000'000}, {"ms", 1'000'000}, {"us", 1'000}, {"ns", 1}}};
  for (const Small& u : smalls) {
    if (ns < u.size) continue;  // the last unit (1 ns) always matches: ns >= 1 here
    // Three decimals, rounded to nearest, trailing zeros removed.
    const std::uint64_t whole = ns / u.size;
    const std::uint64_t rest = ns % u.size;
    std::uint64_t thousandths = u.size >= 1000 ? (rest + u.size / 2000) / (u.size / 1000) : 0;
    std::uint64_t w = whole;
    if (thousandths >= 1000) {
      w += 1;
      thousandths -= 1000;
    }
    std::string text = std::to_string(w);
    if (thousandths != 0) {
      char digits[8];
      std::snprintf(digits, sizeof digits, ".%03u", static_cast<unsigned>(thousandths));
      std::string fraction(digits);
      while (fraction.back() == '0')
        fraction.pop_back();
      text += fraction;
    }
    return sign + text + u.suffix;
  }
  return sign + std::to_string(ns) + "ns";  // not reached
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t value = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    if (!checked_mul(value, 10, value) ||
        !checked_add(value, static_cast<unsigned>(text[i] - '0'), value)) {
      return std::nullopt;
    }
  }
  if (i == 0) return std::nullopt;
  std::string suffix;
  for (; i < text.size(); ++i)
    suffix += lower(text[i]);
  std::uint64_t multiplier = 1;
  if (!suffix.empty() && (suffix[0] == 'k' || suffix[0] == 'm' || suffix[0] == 'g')) {
    multiplier = suffix[0] == 'k' ? (1ULL << 10) : suffix[0] == 'm' ? (1ULL << 20) : (1ULL << 30);
    suffix.erase(0, 1);
    if (suffix == "ib") suffix.clear();
  }
  if (suffix == "b") suffix.clear();
  if (!suffix.empty()) return std::nullopt;
  if (!checked_mul(value, multiplier, value)) return std::nullopt;
  return value;
}

}  // namespace wsb::platform
