#include "hdr/output.hpp"

#include <ostream>

#include "hdr/java_format.hpp"

namespace wsb::hdr {

void append_percentile_distribution(std::string& out, const Histogram& histogram,
                                    const DistributionOptions& options) {
  const int sf = histogram.significant_figures();
  const double ratio = options.value_unit_scaling_ratio;
  if (options.csv) {
    out.append("\"Value\",\"Percentile\",\"TotalCount\",\"1/(1-Percentile)\"\n");
  } else {
    // "%12s %14s %10s %14s\n\n"
    out.append("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
  }
  PercentileIterator it(histogram, options.ticks_per_half_distance);
  IterationValue step;
  while (it.next(step)) {
    const double value = static_cast<double>(step.value) / ratio;
    const double percentile = step.percentile_level / 100.0;
    // Java picks the short last-line format by comparing the level with
    // exactly 100.0, not by position.
    const bool last = step.percentile_level == 100.0;
    if (options.csv) {
      // "%.<sf>f,%.12f,%d,%.2f\n" and "%.<sf>f,%.12f,%d,Infinity\n"
      append_java_fixed(out, value, sf);
      out.push_back(',');
      append_java_fixed(out, percentile, 12);
      out.push_back(',');
      append_java_int(out, step.cumulative_count);
      out.push_back(',');
      if (last) {
        out.append("Infinity");
      } else {
        append_java_fixed(out, 1 / (1.0 - percentile), 2);
      }
    } else {
      // "%12.<sf>f %2.12f %10d %14.2f\n" and "%12.<sf>f %2.12f %10d\n"
      append_java_fixed(out, value, sf, 12);
      out.push_back(' ');
      append_java_fixed(out, percentile, 12, 2);
      out.push_back(' ');
      append_java_int(out, step.cumulative_count, 10);
      if (!last) {
        out.push_back(' ');
        append_java_fixed(out, 1 / (1.0 - percentile), 2, 14);
      }
    }
    out.push_back('\n');
  }
  if (!options.csv) {
    out.append("#[Mean    = ");
    append_java_fixed(out, histogram.mean() / ratio, sf, 12);
    out.append(", StdDeviation   = ");
    append_java_fixed(out, histogram.stddev() / ratio, sf, 12);
    out.append("]\n#[Max     = ");
    append_java_fixed(out, static_cast<double>(histogram.max()) / ratio, sf, 12);
    out.append(", Total count    = ");
    append_java_int(out, histogram.total_count(), 12);
    out.append("]\n#[Buckets = ");
    append_java_int(out, histogram.bucket_count(), 12);
    out.append(", SubBuckets     = ");
    append_java_int(out, histogram.sub_bucket_count(), 12);
    out.append("]\n");
  }
}

std::string percentile_distribution(const Histogram& histogram,
                                    const DistributionOptions& options) {
  std::string out;
  append_percentile_distribution(out, histogram, options);
  return out;
}

void write_percentile_distribution(std::ostream& out, const Histogram& histogram,
                                   const DistributionOptions& options) {
  const std::string text = percentile_distribution(histogram, options);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

std::string start_time_comment(double start_time_s) {
  std::string s = "#[StartTime: ";
  append_java_fixed(s, start_time_s, 3);
  s.append(" (seconds since epoch), ");
  s.append(java_date_utc(java_d2l(start_time_s * 1000.0)));
  s.append("]\n");
  return s;
}

}  // namespace wsb::hdr
