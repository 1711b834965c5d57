#include "hdr/log.hpp"

#include <charconv>
#include <istream>
#include <limits>
#include <ostream>
#include <utility>
#include <vector>

#include "hdr/java_format.hpp"

namespace wsb::hdr {

namespace {

void write_string(std::ostream& out, const std::string& s) {
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

std::int64_t wrapping_sub(std::int64_t a, std::int64_t b) noexcept {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}

// Java's Scanner.nextDouble() in Locale.US, for the forms a log contains.
bool parse_double(std::string_view token, double& value) {
  if (!token.empty() && token.front() == '+') token.remove_prefix(1);
  if (token.empty()) return false;
  const auto result = std::from_chars(token.data(), token.data() + token.size(), value);
  return result.ec == std::errc() && result.ptr == token.data() + token.size();
}

// The reader splits on the same characters as Java's scanner ([ ,\r\n]);
// unlike Java it treats a run of separators as one.
std::vector<std::string_view> split_tokens(std::string_view line) {
  std::vector<std::string_view> tokens;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == ',' || line[i] == '\r'))
      ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != ',' && line[i] != '\r')
      ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
  return tokens;
}

constexpr double kOneYearSeconds = 365 * 24 * 3600.0;

}  // namespace

// ---- LogWriter ------------------------------------------------------------------

bool is_valid_tag(std::string_view tag) noexcept {
  return tag.find_first_of(", \r\n") == std::string_view::npos;
}

void LogWriter::write_comment(std::string_view text) {
  std::string line = "#";
  line.append(text);
  line.push_back('\n');
  write_string(*out_, line);
}

void LogWriter::write_format_version() {
  write_comment("[Histogram log format version 1.3]");
}

void LogWriter::write_start_time(std::int64_t start_time_ms) {
  std::string line = "#[StartTime: ";
  append_java_fixed(line, static_cast<double>(start_time_ms) / 1000.0, 3);
  line.append(" (seconds since epoch), ");
  line.append(java_date_utc(start_time_ms));
  line.append("]\n");
  write_string(*out_, line);
}

void LogWriter::write_base_time(std::int64_t base_time_ms) {
  std::string line = "#[BaseTime: ";
  append_java_fixed(line, static_cast<double>(base_time_ms) / 1000.0, 3);
  line.append(" (seconds since epoch)]\n");
  write_string(*out_, line);
}

void LogWriter::write_legend() {
  write_string(*out_,
               "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
               "\"Interval_Compressed_Histogram\"\n");
}

void LogWriter::write_header(std::int64_t start_time_ms, std::optional<std::int64_t> base_time_ms) {
  write_format_version();
  write_start_time(start_time_ms);
  if (base_time_ms) {
    write_base_time(*base_time_ms);
    set_base_time_ms(*base_time_ms);
  }
  write_legend();
}

void LogWriter::write_interval(const Histogram& histogram, double max_value_unit_ratio) {
  write_interval(
      static_cast<double>(wrapping_sub(histogram.start_time_ms(), base_time_ms_)) / 1000.0,
      static_cast<double>(wrapping_sub(histogram.end_time_ms(), base_time_ms_)) / 1000.0, histogram,
      max_value_unit_ratio);
}

void LogWriter::write_interval(double start_s, double end_s, const Histogram& histogram,
                               double max_value_unit_ratio) {
  std::string line;
  if (!histogram.tag().empty()) {
    if (!is_valid_tag(histogram.tag())) {
      throw std::invalid_argument("hdr log: tag \"" + histogram.tag() +
                                  "\" contains a comma, a space or a line break");
    }
    line.append("Tag=");
    line.append(histogram.tag());
    line.push_back(',');
  }
  append_java_fixed(line, start_s, 3);
  line.push_back(',');
  append_java_fixed(line, end_s - start_s, 3);
  line.push_back(',');
  append_java_fixed(line, static_cast<double>(histogram.max()) / max_value_unit_ratio, 3);
  line.push_back(',');
  line.append(encode_base64_compressed(histogram, kLogCompressionLevel));
  line.push_back('\n');
  write_string(*out_, line);
}

// ---- LogReader ------------------------------------------------------------------

LogError::LogError(std::size_t line, const std::string& what)
    : std::runtime_error("hlog line " + std::to_string(line) + ": " + what), line_(line) {}

std::optional<LogEntry> LogReader::next() {
  return next_in_range(Range::kAll, 0.0, 0.0);
}

std::optional<LogEntry> LogReader::next(double range_start_s, double range_end_s) {
  return next_in_range(Range::kRelative, range_start_s, range_end_s);
}

std::optional<LogEntry> LogReader::next_absolute(double range_start_s, double range_end_s) {
  return next_in_range(Range::kAbsolute, range_start_s, range_end_s);
}

std::optional<LogEntry> LogReader::next_in_range(Range range, double range_start_s,
                                                 double range_end_s) {
  while (!ended_ && std::getline(*in_, line_)) {
    ++line_number_;
    const std::vector<std::string_view> tokens = split_tokens(line_);
    if (tokens.empty()) continue;
    const std::string_view first = tokens[0];
    if (first.front() == '#') {
      // Comments, except that the number after "#[StartTime:" and
      // "#[BaseTime:" is taken (Java HistogramLogScanner).
      double seconds = 0.0;
      if (first == "#[StartTime:" && tokens.size() > 1 && parse_double(tokens[1], seconds)) {
        start_time_s_ = seconds;
        observed_start_time_ = true;
      } else if (first == "#[BaseTime:" && tokens.size() > 1 && parse_double(tokens[1], seconds)) {
        base_time_s_ = seconds;
        observed_base_time_ = true;
      } else {
        std::string_view text = std::string_view(line_).substr(line_.find('#') + 1);
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        comments_.emplace_back(text);
      }
      continue;
    }
    if (first.starts_with("\"StartTimestamp\"")) continue;  // the legend

    std::size_t at = 0;
    std::string tag;
    if (first.starts_with("Tag=")) {
      tag = std::string(first.substr(4));
      at = 1;
    }
    if (tokens.size() < at + 4) {
      throw LogError(line_number_, "expected [Tag=...,]start,length,max,histogram but found " +
                                       std::to_string(tokens.size()) + " fields");
    }
    LogEntry entry{Histogram(1, 2, 1), 0.0, 0.0, 0.0, 0.0, line_number_};
    if (!parse_double(tokens[at], entry.timestamp_s)) {
      throw LogError(line_number_,
                     "start timestamp \"" + std::string(tokens[at]) + "\" is not a number");
    }
    if (!parse_double(tokens[at + 1], entry.length_s)) {
      throw LogError(line_number_,
                     "interval length \"" + std::string(tokens[at + 1]) + "\" is not a number");
    }
    if (!parse_double(tokens[at + 2], entry.max_column)) {
      throw LogError(line_number_,
                     "interval max \"" + std::string(tokens[at + 2]) + "\" is not a number");
    }

    // Java HistogramLogReader: without a StartTime line the first timestamp is
    // the start time; without a BaseTime line, timestamps more than a year
    // before the start time are taken as relative to it, others as absolute.
    if (!observed_start_time_) {
      start_time_s_ = entry.timestamp_s;
      observed_start_time_ = true;
    }
    if (!observed_base_time_) {
      base_time_s_ = entry.timestamp_s < start_time_s_ - kOneYearSeconds ? start_time_s_ : 0.0;
      observed_base_time_ = true;
    }
    entry.absolute_start_s = entry.timestamp_s + base_time_s_;
    const double absolute_end_s = entry.absolute_start_s + entry.length_s;
    if (range != Range::kAll) {
      const double t = range == Range::kAbsolute ? entry.absolute_start_s
                                                 : entry.absolute_start_s - start_time_s_;
      if (t < range_start_s) continue;
      if (t > range_end_s) {
        ended_ = true;
        return std::nullopt;
      }
    }
    try {
      entry.histogram = decode_base64(tokens[at + 3]);
    } catch (const DecodeError& e) {
      throw LogError(line_number_, e.what());
    }
    entry.histogram.set_start_time_ms(java_d2l(entry.absolute_start_s * 1000.0));
    entry.histogram.set_end_time_ms(java_d2l(absolute_end_s * 1000.0));
    entry.histogram.set_tag(std::move(tag));
    return entry;
  }
  return std::nullopt;
}

}  // namespace wsb::hdr
