// The few java.util.Formatter and java.util.Date conversions that HdrHistogram's
// text outputs use, reproduced exactly so that our files compare equal to the
// jar's byte for byte.
//
// Java's "%.Nf" does not round the binary value the way C's printf does: it
// takes the shortest decimal string that reads back as the same double (what
// Double.toString prints) and rounds that string HALF_UP. So 1.005 prints as
// "1.01" (printf: "1.00", because the double is 1.00499999999999989...), and
// 0.9997802734375 at 12 decimals ends in ...438 (printf: ...437, round half to
// even on an exact tie).
#pragma once

#include <cstdint>
#include <string>

namespace wsb::hdr {

// Appends value formatted as Java's String.format(Locale.US, "%<width>.<decimals>f")
// (right-aligned in width characters; width 0 means no padding). NaN and
// infinities print as "NaN", "Infinity" and "-Infinity", like Java.
void append_java_fixed(std::string& out, double value, int decimals, int width = 0);
std::string java_fixed(double value, int decimals, int width = 0);

// Appends value as Java's "%<width>d".
void append_java_int(std::string& out, std::int64_t value, int width = 0);

// Java's (long) cast of a double: truncation toward zero, NaN to 0, and
// saturation at the int64 limits (all undefined for a plain C++ cast).
std::int64_t java_d2l(double value) noexcept;

// java.util.Date.toString() of epoch_ms in the UTC time zone, for example
// "Wed Sep 09 15:24:39 UTC 2015". Java prints the JVM's default zone; the
// tools here always print UTC (run Java with -Duser.timezone=UTC to compare).
// Dates before the Gregorian reform of 1582 differ, because Java switches to
// the Julian calendar there; no log is that old.
std::string java_date_utc(std::int64_t epoch_ms);

}  // namespace wsb::hdr
