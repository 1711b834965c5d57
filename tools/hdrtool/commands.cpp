#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <map>
#include <istream>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hdr/encoding.hpp"
#include "hdr/java_format.hpp"
#include "hdr/output.hpp"
#include "hdrtool.hpp"
#include "report/json.hpp"

namespace wsb::hdrtool {

namespace {

constexpr std::string_view kLoggedWith = "[Logged with hdrtool " WSB_HDRTOOL_VERSION "]";
// Bad lines reported one by one before the rest are only counted.
constexpr int kMaxReportedBadLines = 20;

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

void write(std::ostream& out, const std::string& s) {
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

// An opened input: the named file, or `in` for "-".
class Input {
 public:
  Input(const std::string& path, std::istream& in) {
    if (path == "-") {
      stream_ = &in;
    } else {
      // Binary, so that a log written on Windows (CRLF) reads the same on
      // Linux and the other way round: the reader strips the CR itself.
      file_ = std::make_unique<std::ifstream>(path, std::ios::binary);
      if (*file_) stream_ = file_.get();
    }
  }
  bool ok() const { return stream_ != nullptr; }
  std::istream& stream() { return *stream_; }

 private:
  std::unique_ptr<std::ifstream> file_;
  std::istream* stream_ = nullptr;
};

std::string name_of(const std::string& path) {
  return path == "-" ? "<stdin>" : path;
}

}  // namespace

Clock system_clock() {
  return Clock{[] {
                 return std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                     .count();
               },
               [] {
                 return std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                     .count();
               }};
}

// ---- record -------------------------------------------------------------------

int run_record(const RecordOptions& options, std::istream& in, std::ostream& out, std::ostream& err,
               const Clock& clock) {
  hdr::Histogram histogram(options.lowest, options.highest, options.significant_figures);
  if (!hdr::is_valid_tag(options.tag)) {
    throw std::invalid_argument("--tag must not contain a comma, a space or a line break");
  }
  const std::int64_t start_wall = options.start_time_ms ? *options.start_time_ms : clock.wall_ms();
  const std::int64_t start_steady = clock.steady_ms();
  hdr::LogWriter writer(out);
  writer.write_comment(kLoggedWith);
  writer.write_header(start_wall, start_wall);

  // Interval boundaries are kept relative to the start, in milliseconds.
  std::int64_t interval_start = 0;
  auto emit = [&](std::int64_t interval_end) {
    histogram.set_start_time_ms(start_wall + interval_start);
    histogram.set_end_time_ms(start_wall + interval_end);
    histogram.set_tag(options.tag);
    writer.write_interval(histogram, options.max_value_unit_ratio);
    histogram.reset();
    interval_start = interval_end;
  };
  // Closes every interval that ended by `now`; intervals in which nothing
  // arrived are written empty, so that the log has no gaps.
  auto close_finished = [&](std::int64_t now) {
    if (options.interval_ms <= 0) return;
    while (now >= interval_start + options.interval_ms)
      emit(interval_start + options.interval_ms);
  };

  std::string line;
  std::size_t line_number = 0;
  int bad_lines = 0;
  while (std::getline(in, line)) {
    ++line_number;
    close_finished(clock.steady_ms() - start_steady);
    const std::string_view text = trim(line);
    if (text.empty()) continue;
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    std::string problem;
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      problem =
          ec == std::errc::result_out_of_range ? "is out of the 64-bit range" : "is not an integer";
    } else if (value < 0) {
      problem = "is negative";
    } else if (!histogram.record(value)) {
      problem = "exceeds the highest recordable value " +
                std::to_string(histogram.highest_recordable_value()) + " (raise --highest)";
    }
    if (!problem.empty()) {
      if (++bad_lines <= kMaxReportedBadLines) {
        err << "hdrtool record: line " << line_number << ": \"" << text << "\" " << problem << "\n";
      }
    }
  }
  const std::int64_t end = clock.steady_ms() - start_steady;
  close_finished(end);
  if (options.interval_ms <= 0 || end > interval_start || histogram.total_count() > 0) {
    emit(std::max(end, interval_start));
  }
  out.flush();
  if (bad_lines > kMaxReportedBadLines) {
    err << "hdrtool record: ... and " << (bad_lines - kMaxReportedBadLines) << " more bad lines\n";
  }
  if (bad_lines > 0) {
    err << "hdrtool record: " << bad_lines << " of " << line_number << " lines were not recorded\n";
    return kExitDataError;
  }
  if (!out) {
    err << "hdrtool record: write error\n";
    return kExitDataError;
  }
  return kExitOk;
}

// ---- report -------------------------------------------------------------------

namespace {

// The intervals of a log summed per tag ("" for untagged), in the order in
// which each tag first appears.
struct TagSums {
  std::vector<std::string> order;
  std::map<std::string, hdr::Histogram> sums;
  double start_time_s = 0.0;
};

void add_interval(TagSums& tags, hdr::Histogram interval, const ReportOptions& options) {
  if (options.correct_interval > 0) {
    hdr::Histogram corrected(interval.lowest_discernible_value(),
                             interval.highest_trackable_value(), interval.significant_figures());
    corrected.add_while_correcting(interval, options.correct_interval);
    interval = std::move(corrected);
  }
  auto it = tags.sums.find(interval.tag());
  if (it == tags.sums.end()) {
    // Like Java: the sum takes the first interval's configuration and grows
    // when a later interval holds larger values.
    tags.order.push_back(interval.tag());
    it = tags.sums
             .emplace(interval.tag(), hdr::Histogram(interval.lowest_discernible_value(),
                                                     interval.highest_trackable_value(),
                                                     interval.significant_figures()))
             .first;
  }
  it->second.grow_to_cover(interval.max());
  it->second.add(interval);
}

// Reads every interval in the time range. Java filters on the tag of the
// histogram it accumulates; when it corrects for coordinated omission that
// is a copy without the tag (HdrHistogram 2.1.11), so -tag then matches
// nothing. We keep the logged tag, which add_interval() sums by.
TagSums read_tags(hdr::LogReader& reader, const ReportOptions& options) {
  TagSums tags;
  while (auto entry = reader.next(options.start_s, options.end_s)) {
    add_interval(tags, std::move(entry->histogram), options);
    if (tags.start_time_s == 0.0 && reader.start_time_s() != 0.0) {
      tags.start_time_s = reader.start_time_s();
    }
  }
  return tags;
}

std::string tag_list(const TagSums& tags) {
  std::string out;
  for (const std::string& t : tags.order)
    out += (out.empty() ? "" : ", ") + (t.empty() ? std::string("(untagged)") : t);
  return out;
}

// The tags to report: --tag alone; without it the untagged intervals (as
// Java does) when there are any, else every tag in turn (loadgen tags all of
// its intervals: latency, uncorrected, connect). Empty after a one-line
// error: nothing to report is an error, not a distribution of zero values.
std::vector<std::string> chosen_tags(const TagSums& tags, const ReportOptions& options,
                                     std::ostream& err) {
  const std::string input = name_of(options.input);
  if (tags.order.empty()) {
    err << "hdrtool report: " << input << ": no intervals"
        << (options.start_s > 0.0 || options.end_s < 1e300 ? " in the --start/--end range" : "")
        << "\n";
    return {};
  }
  if (options.tag_given) {
    if (tags.sums.count(options.tag) != 0) return {options.tag};
    err << "hdrtool report: " << input << ": no interval tagged \"" << options.tag
        << "\" (tags in the log: " << tag_list(tags) << ")\n";
    return {};
  }
  if (tags.sums.count("") != 0) return {""};
  if (options.csv && tags.order.size() > 1) {
    err << "hdrtool report: " << input << ": every interval is tagged (" << tag_list(tags)
        << "); CSV holds one distribution: choose one with --tag\n";
    return {};
  }
  return tags.order;
}

void write_report_json(std::ostream& out, const TagSums& tags,
                       const std::vector<std::string>& chosen, const ReportOptions& options);

}  // namespace

int run_report(const ReportOptions& options, std::istream& in, std::ostream& out,
               std::ostream& err) {
  Input input(options.input, in);
  if (!input.ok()) {
    err << "hdrtool report: cannot open " << options.input << "\n";
    return kExitDataError;
  }
  hdr::LogReader reader(input.stream());
  TagSums tags;
  try {
    tags = read_tags(reader, options);
  } catch (const hdr::LogError& e) {
    err << "hdrtool report: " << name_of(options.input) << ": " << e.what() << "\n";
    return kExitDataError;
  }
  const std::vector<std::string> chosen = chosen_tags(tags, options, err);
  if (chosen.empty()) return kExitDataError;
  if (options.json) {
    write_report_json(out, tags, chosen, options);
  } else {
    std::string text;
    if (tags.start_time_s != 0.0) text += hdr::start_time_comment(tags.start_time_s);
    for (const std::string& tag : chosen) {
      // Several distributions in one output: each says which tag it sums.
      if (chosen.size() > 1) text += "#[Tag: " + tag + "]\n";
      hdr::append_percentile_distribution(text, tags.sums.at(tag),
                                          {options.ticks_per_half, options.scale, options.csv});
    }
    write(out, text);
  }
  out.flush();
  if (!out) {
    err << "hdrtool report: write error\n";
    return kExitDataError;
  }
  return kExitOk;
}

namespace {

// The percentiles of report --json: those of loadgen --json.
constexpr double kJsonSpectrum[] = {0.0,    10.0,   25.0,    50.0,    75.0,  90.0,
                                    95.0,   99.0,   99.5,    99.9,    99.95, 99.99,
                                    99.995, 99.999, 99.9995, 99.9999, 100.0};

void write_report_json(std::ostream& out, const TagSums& tags,
                       const std::vector<std::string>& chosen, const ReportOptions& options) {
  report::JsonWriter j(out);
  const double scale = options.scale;
  j.begin_object();
  j.member("schema", "wsbench.hdrtool.report/1");
  j.member("input", name_of(options.input));
  j.member("scale", scale);
  j.key("start_time_s");
  if (tags.start_time_s != 0.0) {
    j.value(tags.start_time_s);
  } else {
    j.null();
  }
  j.key("distributions").begin_array();
  for (const std::string& tag : chosen) {
    const hdr::Histogram& h = tags.sums.at(tag);
    j.begin_object();
    j.key("tag");
    if (tag.empty()) {
      j.null();
    } else {
      j.value(tag);
    }
    j.member("count", static_cast<std::uint64_t>(h.total_count()));
    j.member("min", static_cast<double>(h.min()) / scale);
    j.member("mean", h.mean() / scale);
    j.member("stddev", h.stddev() / scale);
    j.member("max", static_cast<double>(h.max()) / scale);
    j.key("percentiles").begin_array();
    for (const double p : kJsonSpectrum) {
      j.begin_object();
      j.member("percentile", p);
      j.member("value", static_cast<double>(h.value_at_percentile(p)) / scale);
      j.end_object();
    }
    j.end_array();
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

}  // namespace

// ---- merge --------------------------------------------------------------------

int run_merge(const MergeOptions& options, std::ostream& out, std::ostream& err) {
  struct Item {
    double absolute_start_s;
    double length_s;
    hdr::Histogram histogram;
  };
  std::vector<Item> items;
  std::optional<std::int64_t> start_ms;
  for (const std::string& path : options.inputs) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
      err << "hdrtool merge: cannot open " << path << "\n";
      return kExitDataError;
    }
    hdr::LogReader reader(file);
    try {
      while (auto entry = reader.next()) {
        items.push_back({entry->absolute_start_s, entry->length_s, std::move(entry->histogram)});
      }
    } catch (const hdr::LogError& e) {
      err << "hdrtool merge: " << path << ": " << e.what() << "\n";
      return kExitDataError;
    }
    if (reader.observed_start_time()) {
      const std::int64_t ms = hdr::java_d2l(reader.start_time_s() * 1000.0);
      start_ms = start_ms ? std::min(*start_ms, ms) : ms;
    }
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.absolute_start_s < b.absolute_start_s;
  });
  const std::int64_t base_ms = start_ms.value_or(0);
  const double base_s = static_cast<double>(base_ms) / 1000.0;
  hdr::LogWriter writer(out);
  writer.write_comment(kLoggedWith);
  writer.write_header(base_ms, base_ms);
  for (const Item& item : items) {
    // Written from the absolute seconds, not from the histogram's truncated
    // milliseconds, so that each interval keeps its logged start and length.
    const double start_s = item.absolute_start_s - base_s;
    writer.write_interval(start_s, start_s + item.length_s, item.histogram,
                          options.max_value_unit_ratio);
  }
  out.flush();
  if (!out) {
    err << "hdrtool merge: write error\n";
    return kExitDataError;
  }
  return kExitOk;
}

// ---- decode -------------------------------------------------------------------

namespace {

void describe(std::string& s, const hdr::Histogram& h, bool values) {
  s += " count=" + std::to_string(h.total_count()) + " min=" + std::to_string(h.min());
  static constexpr std::pair<const char*, double> kPercentiles[] = {
      {"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9}, {"p99.99", 99.99}};
  for (const auto& [label, p] : kPercentiles) {
    s += std::string(" ") + label + "=" + std::to_string(h.value_at_percentile(p));
  }
  s += " max=" + std::to_string(h.max()) + " mean=";
  hdr::append_java_fixed(s, h.mean(), 3);
  s += " stddev=";
  hdr::append_java_fixed(s, h.stddev(), 3);
  s += " config=" + std::to_string(h.lowest_discernible_value()) + "/" +
       std::to_string(h.highest_trackable_value()) + "/" + std::to_string(h.significant_figures()) +
       "\n";
  if (values) {
    for (const hdr::IterationValue& v : h.recorded_values()) {
      s += "  " + std::to_string(v.value) + " " + std::to_string(v.count_at_value) + "\n";
    }
  }
}

}  // namespace

int run_decode(const DecodeOptions& options, std::istream& in, std::ostream& out,
               std::ostream& err) {
  Input input(options.input, in);
  std::string text;
  if (!input.ok()) {
    // Not a file: one base64 histogram, as found in the last column of a log.
    const std::string_view b64 = trim(options.input);
    if (!b64.starts_with("HIST")) {
      err << "hdrtool decode: " << options.input
          << " is neither a readable file nor a base64 histogram (HIST...)\n";
      return kExitDataError;
    }
    try {
      const hdr::Histogram h = hdr::decode_base64(b64);
      text += "histogram";
      describe(text, h, options.values);
    } catch (const hdr::DecodeError& e) {
      err << "hdrtool decode: " << e.what() << "\n";
      return kExitDataError;
    }
  } else {
    hdr::LogReader reader(input.stream());
    int n = 0;
    try {
      while (auto entry = reader.next()) {
        const hdr::Histogram& h = entry->histogram;
        text += "interval " + std::to_string(++n) + " tag=" + (h.tag().empty() ? "-" : h.tag()) +
                " start=";
        hdr::append_java_fixed(text, entry->absolute_start_s - reader.start_time_s(), 3);
        text += " length=";
        hdr::append_java_fixed(text, entry->length_s, 3);
        describe(text, h, options.values);
      }
    } catch (const hdr::LogError& e) {
      write(out, text);
      err << "hdrtool decode: " << name_of(options.input) << ": " << e.what() << "\n";
      return kExitDataError;
    }
    if (reader.observed_start_time()) {
      text += "start_time=";
      hdr::append_java_fixed(text, reader.start_time_s(), 3);
      text += " (" + hdr::java_date_utc(hdr::java_d2l(reader.start_time_s() * 1000.0)) + ")\n";
    }
  }
  write(out, text);
  out.flush();
  return out ? kExitOk : kExitDataError;
}

}  // namespace wsb::hdrtool
