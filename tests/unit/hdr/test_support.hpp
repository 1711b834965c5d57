// Helpers shared by the wsb::hdr tests.
#pragma once

#include "hdr/histogram.hpp"

namespace wsb::hdr::test {

// The histogram of the values 1, 2 and 3 that the Java reference outputs
// (log lines, percentile distributions) were printed from: values 1 to
// 3,600,000,000, three significant digits.
inline Histogram one_two_three() {
  Histogram h(1, 3'600'000'000, 3);
  h.record(1);
  h.record(2);
  h.record(3);
  return h;
}

}  // namespace wsb::hdr::test
