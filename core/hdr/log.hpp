// Histogram logs (.hlog), format 1.3, written exactly as Java's
// HistogramLogWriter writes them and read with HistogramLogReader's rules:
//
//   #[Histogram log format version 1.3]
//   #[StartTime: 1441812279.474 (seconds since epoch), Wed Sep 09 15:24:39 UTC 2015]
//   #[BaseTime: 1441812279.474 (seconds since epoch)]            (optional)
//   "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//   [Tag=<tag>,]<start s>,<length s>,<max / ratio>,<base64 compressed histogram>
//
// Each interval line gives its start (seconds, relative to the base time),
// its length (seconds) and its maximum divided by a "max value unit ratio"
// (1e6 by default, so that nanoseconds print as milliseconds), all "%.3f".
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hdr/encoding.hpp"
#include "hdr/histogram.hpp"

namespace wsb::hdr {

// Java HistogramLogWriter's default for the third column.
inline constexpr double kDefaultMaxValueUnitRatio = 1e6;

class LogWriter {
 public:
  // Writes to out, which must outlive the writer. Each call writes whole
  // lines; the writer never flushes.
  explicit LogWriter(std::ostream& out) : out_(&out) {}

  // "#<text>\n" (Java outputComment). A conventional first line is
  // "[Logged with <tool> <version>]".
  void write_comment(std::string_view text);
  // "#[Histogram log format version 1.3]\n"
  void write_format_version();
  // "#[StartTime: %.3f (seconds since epoch), <date>]\n" with the date as
  // java.util.Date.toString() in UTC.
  void write_start_time(std::int64_t start_time_ms);
  // "#[BaseTime: %.3f (seconds since epoch)]\n". Only writes the line; call
  // set_base_time_ms() to make the interval timestamps relative to it.
  void write_base_time(std::int64_t base_time_ms);
  // The column legend line.
  void write_legend();

  // The usual header: version, start time, base time (when given, which also
  // sets it as the base for interval timestamps) and legend.
  void write_header(std::int64_t start_time_ms, std::optional<std::int64_t> base_time_ms);

  void set_base_time_ms(std::int64_t base_time_ms) noexcept { base_time_ms_ = base_time_ms; }
  std::int64_t base_time_ms() const noexcept { return base_time_ms_; }

  // Java outputIntervalHistogram(histogram): start and end come from the
  // histogram's timestamps, made relative to the base time.
  void write_interval(const Histogram& histogram,
                      double max_value_unit_ratio = kDefaultMaxValueUnitRatio);
  // Java outputIntervalHistogram(start, end, histogram, ratio): start is
  // written as given, the length as end - start. The histogram's tag, if any,
  // is written as "Tag=<tag>,"; a tag containing a comma, a space or a line
  // break throws std::invalid_argument (Java means to, but its check misses
  // most such tags).
  void write_interval(double start_s, double end_s, const Histogram& histogram,
                      double max_value_unit_ratio = kDefaultMaxValueUnitRatio);

 private:
  std::ostream* out_;
  std::int64_t base_time_ms_ = 0;
};

// A malformed log line. line() is 1-based.
class LogError : public std::runtime_error {
 public:
  LogError(std::size_t line, const std::string& what);
  std::size_t line() const noexcept { return line_; }

 private:
  std::size_t line_;
};

// One interval of a log.
struct LogEntry {
  // Start and end timestamps (ms since the epoch) and tag set as Java's reader
  // sets them: start = (long)((timestamp + base) * 1000), end likewise with
  // the interval length added.
  Histogram histogram;
  double timestamp_s = 0.0;       // first column, as written
  double length_s = 0.0;          // second column
  double max_column = 0.0;        // third column (max / ratio), as written
  double absolute_start_s = 0.0;  // timestamp_s + base time
  std::size_t line = 0;           // 1-based line number in the log
};

class LogReader {
 public:
  // Reads from in, which must outlive the reader.
  explicit LogReader(std::istream& in) : in_(&in) {}

  // The next interval, whatever its time; nullopt at the end of the log.
  // Throws LogError for a malformed line (including a payload that does not
  // decode), where Java would stop or throw depending on the fault.
  std::optional<LogEntry> next();
  // Java nextIntervalHistogram(start, end): skips intervals that start (in
  // seconds after the log's start time) before range_start_s, and ends the
  // log at the first one that starts after range_end_s.
  std::optional<LogEntry> next(double range_start_s, double range_end_s);
  // Java nextAbsoluteIntervalHistogram(start, end): the same with absolute
  // times (seconds since the epoch).
  std::optional<LogEntry> next_absolute(double range_start_s, double range_end_s);

  // Java getStartTimeSec(): the StartTime comment if one was read, else the
  // first interval's timestamp, else 0.
  double start_time_s() const noexcept { return start_time_s_; }
  bool observed_start_time() const noexcept { return observed_start_time_; }
  double base_time_s() const noexcept { return base_time_s_; }
  bool observed_base_time() const noexcept { return observed_base_time_; }
  // The text of every other comment line read so far (after its '#',
  // without the line break), in order: what a tool wrote about the run
  // (loadgen's "[wsbench-shard: ...]", shard_header.hpp).
  const std::vector<std::string>& comments() const noexcept { return comments_; }
  // Number of lines read so far.
  std::size_t line_number() const noexcept { return line_number_; }

 private:
  enum class Range { kAll, kRelative, kAbsolute };
  std::optional<LogEntry> next_in_range(Range range, double range_start_s, double range_end_s);

  std::istream* in_;
  std::string line_;
  std::size_t line_number_ = 0;
  bool ended_ = false;
  double start_time_s_ = 0.0;
  double base_time_s_ = 0.0;
  bool observed_start_time_ = false;
  bool observed_base_time_ = false;
  std::vector<std::string> comments_;
};

// True when tag can be written in a log (no comma, space, CR or LF).
bool is_valid_tag(std::string_view tag) noexcept;

}  // namespace wsb::hdr
