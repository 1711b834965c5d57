#include "hdr/java_format.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <string_view>

namespace wsb::hdr {

namespace {

// The decimal digits d1 d2 ... dn of a positive double and its exponent e,
// meaning 0.d1d2...dn * 10^e, as java.lang.FloatingDecimal produces them:
// for integers see integer_digits(), otherwise the shortest digit string that
// reads back as the same double. Zero is "0" with e = 0, as in Java.
struct Digits {
  std::array<char, 32> d{};
  int n = 0;
  int exponent = 0;
};

// FloatingDecimal does not use its general shortest-digits algorithm for a
// double that holds an integer below 2^63. It prints the integer's exact
// decimal digits, except that from 2^54 up it first rounds away (half up)
// the decimal digits a power of two that size cannot resolve: as many as
// 2^(e - 54) has digits beyond the first, where 2^e <= value < 2^(e+1), and
// none when e - 54 < 2. Below 2^54 this gives the shortest digits anyway;
// above, it differs: 2^56 + 2^52 prints as 76561193665298432, not as the
// shortest 7656119366529843 (followed by a zero).
Digits integer_digits(std::uint64_t value) {
  const int binary_exponent = 63 - std::countl_zero(value);
  int insignificant = 0;
  if (binary_exponent > 53) {
    const int p2 = binary_exponent - 54;
    if (p2 > 1) {
      for (std::uint64_t pow2 = std::uint64_t{1} << p2; pow2 >= 10; pow2 /= 10)
        ++insignificant;
    }
  }
  int exponent = 0;
  if (insignificant > 0) {
    std::uint64_t pow10 = 1;
    for (int i = 0; i < insignificant; ++i)
      pow10 *= 10;
    const std::uint64_t residue = value % pow10;
    value /= pow10;
    exponent += insignificant;
    if (residue >= pow10 / 2) ++value;
  }
  // Digits without trailing zeros; each dropped zero raises the exponent.
  while (value % 10 == 0) {
    value /= 10;
    ++exponent;
  }
  std::array<char, 24> reversed{};
  int n = 0;
  for (; value != 0; value /= 10)
    reversed[static_cast<std::size_t>(n++)] = static_cast<char>('0' + value % 10);
  Digits out;
  for (int i = 0; i < n; ++i)
    out.d[static_cast<std::size_t>(i)] = reversed[static_cast<std::size_t>(n - 1 - i)];
  out.n = n;
  out.exponent = exponent + n;
  return out;
}

Digits shortest_digits(double positive) {
  Digits out;
  if (positive == 0.0) {
    out.d[0] = '0';
    out.n = 1;
    out.exponent = 0;
    return out;
  }
  if (positive >= 1.0 && positive < 0x1.0p63 && positive == std::floor(positive)) {
    return integer_digits(static_cast<std::uint64_t>(positive));
  }
  // Scientific shortest form: "d[.ddd]e[+-]xx".
  std::array<char, 64> buf{};
  const auto result =
      std::to_chars(buf.data(), buf.data() + buf.size(), positive, std::chars_format::scientific);
  const std::string_view text(buf.data(), static_cast<std::size_t>(result.ptr - buf.data()));
  const std::size_t e = text.find('e');
  for (std::size_t i = 0; i < e; ++i) {
    if (text[i] != '.') out.d[static_cast<std::size_t>(out.n++)] = text[i];
  }
  int exp10 = 0;
  std::from_chars(text.data() + e + 1 + (text[e + 1] == '+' ? 1 : 0), text.data() + text.size(),
                  exp10);
  out.exponent = exp10 + 1;
  return out;
}

// java.util.FormattedFloatingDecimal.applyPrecision: rounds the digit string
// HALF_UP so that prec digits remain; returns the (possibly incremented)
// exponent. prec < 0 or prec >= n leaves the digits alone.
int apply_precision(int exponent, Digits& g, int prec) {
  char* digits = g.d.data();
  const int n = g.n;
  if (prec >= n || prec < 0) return exponent;
  if (prec == 0) {
    if (digits[0] >= '5') {
      digits[0] = '1';
      std::fill(digits + 1, digits + n, '0');
      return exponent + 1;
    }
    std::fill(digits, digits + n, '0');
    return exponent;
  }
  if (digits[prec] >= '5') {
    int i = prec - 1;
    char q = digits[i];
    if (q == '9') {
      while (q == '9' && i > 0)
        q = digits[--i];
      if (q == '9') {
        // Carry out of the first digit: 99.9 -> 100.
        digits[0] = '1';
        std::fill(digits + 1, digits + n, '0');
        return exponent + 1;
      }
    }
    digits[i] = static_cast<char>(q + 1);
    std::fill(digits + i + 1, digits + n, '0');
  } else {
    std::fill(digits + prec, digits + n, '0');
  }
  return exponent;
}

// FormattedFloatingDecimal.fillDecimal followed by Formatter.addZeros.
void fill_decimal(std::string& out, const Digits& g, int exponent, int precision) {
  const char* digits = g.d.data();
  const int n = g.n;
  const std::size_t start = out.size();
  if (exponent > 0) {
    if (n < exponent) {
      out.append(digits, static_cast<std::size_t>(n));
      out.append(static_cast<std::size_t>(exponent - n), '0');
    } else {
      out.append(digits, static_cast<std::size_t>(exponent));
      const int t = std::min(n - exponent, precision);
      if (t > 0) {
        out.push_back('.');
        out.append(digits + exponent, static_cast<std::size_t>(t));
      }
    }
  } else {
    const int zeros = std::max(0, std::min(-exponent, precision));
    const int t = std::max(0, std::min(n, precision + exponent));
    if (zeros > 0 || t > 0) {
      out.append("0.");
      out.append(static_cast<std::size_t>(zeros), '0');
      out.append(digits, static_cast<std::size_t>(t));
    } else {
      out.push_back('0');
    }
  }
  // addZeros: pad the fraction to the requested precision.
  const std::string_view written(out.data() + start, out.size() - start);
  const std::size_t dot = written.find('.');
  const int have = dot == std::string_view::npos ? 0 : static_cast<int>(written.size() - dot - 1);
  if (have < precision) {
    if (dot == std::string_view::npos) out.push_back('.');
    out.append(static_cast<std::size_t>(precision - have), '0');
  }
}

void pad_left(std::string& out, std::size_t start, int width) {
  const std::size_t written = out.size() - start;
  if (width > 0 && written < static_cast<std::size_t>(width)) {
    out.insert(start, static_cast<std::size_t>(width) - written, ' ');
  }
}

}  // namespace

void append_java_fixed(std::string& out, double value, int decimals, int width) {
  const std::size_t start = out.size();
  if (std::isnan(value)) {
    out.append("NaN");
  } else {
    // Java prints the sign of -0.0 as well (Double.compare(-0.0, 0.0) < 0).
    if (std::signbit(value)) out.push_back('-');
    const double magnitude = std::fabs(value);
    if (std::isinf(magnitude)) {
      out.append("Infinity");
    } else {
      Digits g = shortest_digits(magnitude);
      const int exponent = apply_precision(g.exponent, g, g.exponent + decimals);
      fill_decimal(out, g, exponent, decimals);
    }
  }
  pad_left(out, start, width);
}

std::string java_fixed(double value, int decimals, int width) {
  std::string s;
  append_java_fixed(s, value, decimals, width);
  return s;
}

void append_java_int(std::string& out, std::int64_t value, int width) {
  std::array<char, 24> buf{};
  const auto result = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  const std::size_t n = static_cast<std::size_t>(result.ptr - buf.data());
  if (width > 0 && n < static_cast<std::size_t>(width)) {
    out.append(static_cast<std::size_t>(width) - n, ' ');
  }
  out.append(buf.data(), n);
}

std::int64_t java_d2l(double value) noexcept {
  if (std::isnan(value)) return 0;
  if (value >= 9.2233720368547758e18) return std::numeric_limits<std::int64_t>::max();
  if (value <= -9.2233720368547758e18) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(value);
}

std::string java_date_utc(std::int64_t epoch_ms) {
  using namespace std::chrono;
  // floor() so that instants before 1970 land on the right second and day.
  const sys_time<milliseconds> t{milliseconds{epoch_ms}};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{floor<seconds>(t) - day};
  static constexpr const char* kWeekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto two = [](std::string& s, long v) {
    s.push_back(static_cast<char>('0' + v / 10));
    s.push_back(static_cast<char>('0' + v % 10));
  };
  std::string s;
  s.append(kWeekdays[weekday{day}.c_encoding()]);
  s.push_back(' ');
  s.append(kMonths[static_cast<unsigned>(ymd.month()) - 1]);
  s.push_back(' ');
  two(s, static_cast<long>(static_cast<unsigned>(ymd.day())));
  s.push_back(' ');
  two(s, static_cast<long>(hms.hours().count()));
  s.push_back(':');
  two(s, static_cast<long>(hms.minutes().count()));
  s.push_back(':');
  two(s, static_cast<long>(hms.seconds().count()));
  s.append(" UTC ");
  // SimpleDateFormat's "yyyy" pads to four digits.
  const int y = static_cast<int>(ymd.year());
  std::string year = std::to_string(y < 0 ? -y : y);
  if (year.size() < 4) year.insert(0, 4 - year.size(), '0');
  if (y < 0) year.insert(0, 1, '-');
  s.append(year);
  return s;
}

}  // namespace wsb::hdr
