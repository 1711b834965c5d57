// Percentile distribution output, exactly as Java's
// AbstractHistogram.outputPercentileDistribution writes it: the .hgrm text
// form (with its mean / max / buckets footer) and the CSV form (with
// "Infinity" in the last line and no footer).
#pragma once

#include <iosfwd>
#include <string>

#include "hdr/histogram.hpp"

namespace wsb::hdr {

struct DistributionOptions {
  // Java's outputPercentileDistribution(out, ticks, ratio, csv). Every Java
  // tool uses 5 ticks per half distance.
  int ticks_per_half_distance = 5;
  // Printed values are recorded values divided by this ratio (1 prints raw
  // values; 1000 turns nanoseconds into microseconds; 1e6 into milliseconds).
  double value_unit_scaling_ratio = 1.0;
  bool csv = false;
};

// Appends the distribution to out.
void append_percentile_distribution(std::string& out, const Histogram& histogram,
                                    const DistributionOptions& options = {});
std::string percentile_distribution(const Histogram& histogram,
                                    const DistributionOptions& options = {});
void write_percentile_distribution(std::ostream& out, const Histogram& histogram,
                                   const DistributionOptions& options = {});

// The line HistogramLogProcessor prints before the distribution when the log
// has a non-zero start time:
// "#[StartTime: %.3f (seconds since epoch), <Date.toString()>]\n".
std::string start_time_comment(double start_time_s);

}  // namespace wsb::hdr
