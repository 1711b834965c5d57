// hdrtool merge --runs: the exact merge of a distributed run's instance logs
// (hdrtool.hpp, run_merge_runs; docs/distributed.md).
//
// HdrHistograms add exactly, so the merged distribution is the one a single
// loadgen would have recorded for the same requests. What needs care is
// time: instances that did not measure over the same span cannot be summed
// into a rate (vegeta #210: runs started at different times gave "9 req/s
// over 21 minutes"). So the merge takes only the common window, in which
// every instance was measuring, and reports what lay outside it.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "hdr/java_format.hpp"
#include "hdr/output.hpp"
#include "hdr/shard_header.hpp"
#include "hdrtool.hpp"
#include "report/csv.hpp"

namespace wsb::hdrtool {

namespace {

// A refusal of the inputs as given (exit 2), as opposed to a log that
// cannot be read (exit 1).
struct Mismatch : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Interval {
  double start_s;  // absolute, seconds since the epoch
  double length_s;
  hdr::Histogram histogram;
};

struct Shard {
  std::string path;
  std::optional<hdr::ShardHeader> header;
  std::vector<Interval> intervals;
  double first_s = 0.0;                         // its measured span: first interval start ...
  double last_s = 0.0;                          // ... to last interval end
  std::map<std::string, std::int64_t> outside;  // counts left out, per tag

  std::string name() const { return header ? header->tag + " (" + path + ")" : path; }
};

std::string config_of(const hdr::Histogram& h) {
  return std::to_string(h.lowest_discernible_value()) + "/" +
         std::to_string(h.highest_trackable_value()) + "/" +
         std::to_string(h.significant_figures());
}

Shard read_shard(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot open " + path);
  hdr::LogReader reader(file);
  Shard shard;
  shard.path = path;
  try {
    while (auto entry = reader.next()) {
      shard.intervals.push_back(
          {entry->absolute_start_s, entry->length_s, std::move(entry->histogram)});
    }
    shard.header = hdr::parse_shard_header(reader.comments());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  if (shard.intervals.empty()) throw std::runtime_error(path + ": no intervals");
  shard.first_s = shard.intervals.front().start_s;
  shard.last_s = shard.intervals.front().start_s + shard.intervals.front().length_s;
  for (const Interval& iv : shard.intervals) {
    shard.first_s = std::min(shard.first_s, iv.start_s);
    shard.last_s = std::max(shard.last_s, iv.start_s + iv.length_s);
  }
  return shard;
}

// The settings every instance of one run shares; a difference means the
// logs are not of one run (or not of the same kind of run) and summing them
// would mean nothing.
void check_same_run(const std::vector<Shard>& shards) {
  const Shard& first = shards.front();
  const std::string config = config_of(first.intervals.front().histogram);
  std::set<std::uint32_t> indexes;
  for (const Shard& s : shards) {
    for (const Interval& iv : s.intervals) {
      if (config_of(iv.histogram) != config) {
        throw Mismatch(s.path + " has histograms of other settings than " + first.path + " (" +
                       config_of(iv.histogram) + " vs " + config + ", lowest/highest/sigfigs)");
      }
    }
    if (s.header.has_value() != first.header.has_value()) {
      throw Mismatch((s.header ? first.path : s.path) +
                     " has no wsbench-shard line (not a loadgen log): it cannot be checked "
                     "against the others");
    }
    if (!s.header) continue;
    const hdr::ShardHeader& a = *first.header;
    const hdr::ShardHeader& b = *s.header;
    auto differ = [&](const char* what, const std::string& x, const std::string& y) {
      if (x != y) {
        throw Mismatch(s.path + " and " + first.path + " are not of one run: " + what + " " + y +
                       " vs " + x);
      }
    };
    differ("protocol", a.protocol, b.protocol);
    differ("mode", a.mode, b.mode);
    differ("total connections", std::to_string(a.total_connections),
           std::to_string(b.total_connections));
    differ("total rate", std::to_string(a.total_rate), std::to_string(b.total_rate));
    differ("interval_ms", std::to_string(a.interval_ms), std::to_string(b.interval_ms));
    differ("shard count", std::to_string(a.shard_count), std::to_string(b.shard_count));
    differ("start_at_ms", a.start_at_ms ? std::to_string(*a.start_at_ms) : "none",
           b.start_at_ms ? std::to_string(*b.start_at_ms) : "none");
    if (!indexes.insert(b.shard_index).second) {
      throw Mismatch(s.path + " is shard " + std::to_string(b.shard_index) + "/" +
                     std::to_string(b.shard_count) + " again");
    }
  }
}

struct Merged {
  double window_start_s = 0.0;
  double window_end_s = 0.0;
  double slot_s = 1.0;
  std::vector<std::string> tags;  // in order of first appearance
  // slot -> tag -> histogram
  std::map<std::int64_t, std::map<std::string, hdr::Histogram>> slots;
  std::map<std::string, hdr::Histogram> totals;
};

hdr::Histogram empty_like(const hdr::Histogram& h) {
  return hdr::Histogram(h.lowest_discernible_value(), h.highest_trackable_value(),
                        h.significant_figures());
}

void add_into(std::map<std::string, hdr::Histogram>& sums, const hdr::Histogram& h) {
  auto it = sums.find(h.tag());
  if (it == sums.end()) {
    it = sums.emplace(h.tag(), empty_like(h)).first;
    it->second.set_tag(h.tag());
  }
  it->second.grow_to_cover(h.max());
  it->second.add(h);
}

// The interval length the slots use: the run's --interval when the logs say
// it, else the most common interval length (to the millisecond).
double slot_length(const std::vector<Shard>& shards) {
  if (shards.front().header && shards.front().header->interval_ms > 0) {
    return static_cast<double>(shards.front().header->interval_ms) / 1000.0;
  }
  std::map<std::int64_t, int> lengths;
  for (const Shard& s : shards)
    for (const Interval& iv : s.intervals)
      ++lengths[std::llround(iv.length_s * 1000.0)];
  const auto most = std::max_element(lengths.begin(), lengths.end(),
                                     [](auto& a, auto& b) { return a.second < b.second; });
  return static_cast<double>(std::max<std::int64_t>(most->first, 1)) / 1000.0;
}

Merged merge(std::vector<Shard>& shards) {
  Merged m;
  m.window_start_s = shards.front().first_s;
  m.window_end_s = shards.front().last_s;
  for (const Shard& s : shards) {
    m.window_start_s = std::max(m.window_start_s, s.first_s);
    m.window_end_s = std::min(m.window_end_s, s.last_s);
  }
  if (m.window_end_s <= m.window_start_s) {
    throw Mismatch(
        "the logs have no common window: no moment in which every instance was "
        "measuring (were they started with one --start-at?)");
  }
  m.slot_s = slot_length(shards);
  for (Shard& s : shards) {
    for (const Interval& iv : s.intervals) {
      const std::string& tag = iv.histogram.tag();
      if (std::find(m.tags.begin(), m.tags.end(), tag) == m.tags.end()) m.tags.push_back(tag);
      const double mid = iv.start_s + iv.length_s / 2.0;
      if (mid < m.window_start_s || mid > m.window_end_s) {
        s.outside[tag] += iv.histogram.total_count();
        continue;
      }
      const auto slot = static_cast<std::int64_t>(std::floor((mid - m.window_start_s) / m.slot_s));
      add_into(m.slots[slot], iv.histogram);
      add_into(m.totals, iv.histogram);
    }
  }
  return m;
}

void write_merged_log(std::ostream& out, const Merged& m, const std::vector<Shard>& shards,
                      double max_value_unit_ratio) {
  const std::int64_t base_ms = hdr::java_d2l(std::floor(m.window_start_s * 1000.0));
  const double base_s = static_cast<double>(base_ms) / 1000.0;
  hdr::LogWriter writer(out);
  writer.write_comment("[Logged with hdrtool " WSB_HDRTOOL_VERSION " merge --runs]");
  writer.write_header(base_ms, base_ms);
  for (const Shard& s : shards) {
    if (s.header) writer.write_comment(hdr::format_shard_line(*s.header));
  }
  for (const auto& [slot, sums] : m.slots) {
    const double start = m.window_start_s + static_cast<double>(slot) * m.slot_s;
    const double end = std::min(start + m.slot_s, m.window_end_s);
    for (const std::string& tag : m.tags) {
      const auto it = sums.find(tag);
      if (it == sums.end()) continue;
      writer.write_interval(start - base_s, end - base_s, it->second, max_value_unit_ratio);
    }
  }
}

std::string fixed3(double v) {
  std::string s;
  hdr::append_java_fixed(s, v, 3);
  return s;
}

// Missing shard indexes ("1 3") and late shards' tags, when the logs say.
std::string missing_shards(const std::vector<Shard>& shards) {
  if (!shards.front().header) return "";
  std::set<std::uint32_t> present;
  for (const Shard& s : shards)
    present.insert(s.header->shard_index);
  std::string out;
  for (std::uint32_t i = 0; i < shards.front().header->shard_count; ++i) {
    if (present.count(i) == 0) out += (out.empty() ? "" : " ") + std::to_string(i);
  }
  return out;
}

std::string late_shards(const std::vector<Shard>& shards) {
  std::string out;
  for (const Shard& s : shards) {
    if (s.header && s.header->late) out += (out.empty() ? "" : " ") + s.header->tag;
  }
  return out;
}

std::vector<std::string> csv_row(const Merged& m, const std::vector<Shard>& shards,
                                 const hdr::Histogram& h, const std::string& tag) {
  const std::optional<hdr::ShardHeader>& header = shards.front().header;
  const double window = m.window_end_s - m.window_start_s;
  std::int64_t outside = 0;
  double offset_min = 0.0, offset_max = 0.0;
  bool any_offset = false;
  for (const Shard& s : shards) {
    const auto it = s.outside.find(tag);
    if (it != s.outside.end()) outside += it->second;
    if (s.header && s.header->start_offset_ms) {
      const double o = *s.header->start_offset_ms;
      offset_min = any_offset ? std::min(offset_min, o) : o;
      offset_max = any_offset ? std::max(offset_max, o) : o;
      any_offset = true;
    }
  }
  auto ms = [&h](double p) { return fixed3(static_cast<double>(h.value_at_percentile(p)) / 1e6); };
  return {std::to_string(shards.size()),
          header ? std::to_string(header->shard_count) : "",
          missing_shards(shards),
          late_shards(shards),
          header ? header->protocol : "",
          header ? header->mode : "",
          header ? std::to_string(header->total_connections) : "",
          header && header->total_rate > 0 ? fixed3(header->total_rate) : "",
          tag,
          fixed3(m.window_start_s),
          fixed3(window),
          std::to_string(h.total_count()),
          std::to_string(outside),
          fixed3(static_cast<double>(h.total_count()) / window),
          any_offset ? fixed3(offset_min) : "",
          any_offset ? fixed3(offset_max) : "",
          fixed3(static_cast<double>(h.min()) / 1e6),
          fixed3(h.mean() / 1e6),
          ms(50.0),
          ms(90.0),
          ms(99.0),
          ms(99.9),
          ms(99.99),
          fixed3(static_cast<double>(h.max()) / 1e6)};
}

// What the user reads on stderr: the window, each shard's start, what was
// left out, late and missing shards.
void write_summary(std::ostream& err, const Merged& m, const std::vector<Shard>& shards,
                   const hdr::Histogram& h, const std::string& tag) {
  const double window = m.window_end_s - m.window_start_s;
  err << "hdrtool merge: " << shards.size() << " logs, common window " << fixed3(window)
      << " s from " << hdr::java_date_utc(hdr::java_d2l(m.window_start_s * 1000.0)) << "; " << tag
      << ": " << h.total_count() << " values, "
      << fixed3(static_cast<double>(h.total_count()) / window) << " per second\n";
  for (const Shard& s : shards) {
    err << "  " << s.name() << ": measured " << fixed3(s.first_s - m.window_start_s) << " s to "
        << fixed3(s.last_s - m.window_start_s) << " s of the window";
    if (s.header && s.header->start_offset_ms) {
      err << ", began " << fixed3(*s.header->start_offset_ms) << " ms after --start-at"
          << (s.header->late ? " (LATE)" : "");
    }
    const auto it = s.outside.find(tag);
    if (it != s.outside.end() && it->second > 0) {
      err << ", " << it->second << " values outside the window left out";
    }
    err << "\n";
  }
  const std::string missing = missing_shards(shards);
  if (!missing.empty()) err << "hdrtool merge: missing shards: " << missing << "\n";
  const std::string late = late_shards(shards);
  if (!late.empty()) err << "hdrtool merge: late shards: " << late << "\n";
}

void write_outputs(const MergeOptions& options, const Merged& m, const std::vector<Shard>& shards,
                   std::ostream& out, std::ostream& err) {
  write_merged_log(out, m, shards, options.max_value_unit_ratio);
  const auto it = m.totals.find(options.tag);
  if (it == m.totals.end()) {
    if (!options.hgrm.empty() || !options.csv.empty()) {
      throw std::runtime_error("no interval tagged \"" + options.tag +
                               "\" in the common window (--tag chooses another)");
    }
    return;
  }
  const hdr::Histogram& h = it->second;
  write_summary(err, m, shards, h, options.tag);
  if (!options.hgrm.empty()) {
    std::ofstream file(options.hgrm, std::ios::binary | std::ios::trunc);
    hdr::DistributionOptions ms;
    ms.value_unit_scaling_ratio = 1e6;
    hdr::write_percentile_distribution(file, h, ms);
    file.close();
    if (!file) throw std::runtime_error("--hgrm: cannot write " + options.hgrm);
  }
  if (!options.csv.empty()) {
    report::append_row(options.csv, merge_csv_header(), csv_row(m, shards, h, options.tag));
  }
}

}  // namespace

std::vector<std::string> merge_csv_header() {
  return {"shards",
          "shards_expected",
          "missing_shards",
          "late_shards",
          "protocol",
          "mode",
          "connections",
          "rate",
          "tag",
          "window_start_s",
          "window_s",
          "count",
          "outside_count",
          "per_s",
          "start_offset_min_ms",
          "start_offset_max_ms",
          "min_ms",
          "mean_ms",
          "p50_ms",
          "p90_ms",
          "p99_ms",
          "p99_9_ms",
          "p99_99_ms",
          "max_ms"};
}

int run_merge_runs(const MergeOptions& options, std::ostream& out, std::ostream& err) {
  std::vector<Shard> shards;
  try {
    for (const std::string& path : options.inputs)
      shards.push_back(read_shard(path));
    check_same_run(shards);
    if (!options.csv.empty()) {
      const std::string problem = report::check_csv_file(options.csv, merge_csv_header());
      if (!problem.empty()) throw Mismatch("--csv " + options.csv + " " + problem);
    }
    const Merged m = merge(shards);
    write_outputs(options, m, shards, out, err);
  } catch (const Mismatch& e) {
    err << "hdrtool merge: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    err << "hdrtool merge: " << e.what() << "\n";
    return kExitDataError;
  }
  out.flush();
  if (!out) {
    err << "hdrtool merge: write error\n";
    return kExitDataError;
  }
  return kExitOk;
}

}  // namespace wsb::hdrtool
