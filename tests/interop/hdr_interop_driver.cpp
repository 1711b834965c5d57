// Our side of the HdrHistogram interop test (see HdrInterop.java, which
// writes the same formats with the Java jar, and run_interop.sh, which diffs
// the two). Commands:
//   gen DIR                 deterministic data sets and DIR/plan.txt
//   run PLAN OUT            per-case outputs into OUT
//   writelog PLAN OUT       one .hlog with an interval per case into OUT
//   dumplog HLOG OUT        decode every interval of HLOG into OUT
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "hdr/encoding.hpp"
#include "hdr/histogram.hpp"
#include "hdr/log.hpp"
#include "hdr/output.hpp"

namespace {

using wsb::hdr::Histogram;

constexpr double kPercentiles[] = {-1.0,    0.0,  0.0001, 1.0,  10.0, 25.0,  33.3333, 40.0,  50.0,
                                   66.6667, 75.0, 90.0,   99.0, 99.9, 99.99, 99.999,  100.0, 101.0};
struct Scale {
  double ratio;
  const char* label;  // Java's Double.toString(ratio)
};
constexpr Scale kScales[] = {{1.0, "1.0"}, {1000.0, "1000.0"}, {1000000.0, "1000000.0"}};
constexpr std::int64_t kLogStartMs = 1441812279474;

struct Case {
  std::string name;
  std::int64_t lowest = 0;
  std::int64_t highest = 0;
  int sigfigs = 0;
  std::string values_file;
  std::int64_t interval = 0;
  std::vector<std::int64_t> values;
};

// splitmix64: tiny, seedable, and the same on every platform.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  std::int64_t between(std::int64_t lo, std::int64_t hi) {  // inclusive
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }

 private:
  std::uint64_t state_;
};

std::int64_t clamp_value(double v, std::int64_t highest) {
  if (!(v >= 0.0)) return 0;
  if (v >= static_cast<double>(highest)) return highest;
  return static_cast<std::int64_t>(v);
}

std::vector<std::int64_t> generate(const std::string& kind, std::int64_t highest,
                                   std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::int64_t> v;
  const int n = 10000;
  if (kind == "uniform") {
    const std::int64_t hi = std::min<std::int64_t>(highest, 2'000'000);
    for (int i = 0; i < n; ++i)
      v.push_back(rng.between(std::min<std::int64_t>(20, hi), hi));
  } else if (kind == "exponential") {
    for (int i = 0; i < n; ++i)
      v.push_back(clamp_value(-50'000.0 * std::log1p(-rng.uniform()), highest));
  } else if (kind == "pareto") {
    // Long tail: alpha 1.1 reaches many decades above the 20 000 floor.
    for (int i = 0; i < n; ++i) {
      v.push_back(clamp_value(20'000.0 / std::pow(1.0 - rng.uniform(), 1.0 / 1.1), highest));
    }
  } else if (kind == "constant") {
    for (int i = 0; i < 5000; ++i)
      v.push_back(std::min<std::int64_t>(123'456, highest));
  } else if (kind == "single") {
    v.push_back(std::min<std::int64_t>(42, highest));
  } else if (kind == "bimodal") {
    for (int i = 0; i < n; ++i) {
      const bool slow = rng.uniform() < 0.1;
      const double centre = slow ? 5'000'000.0 : 30'000.0;
      v.push_back(clamp_value(centre * (0.8 + 0.4 * rng.uniform()), highest));
    }
  } else if (kind == "wide") {
    // Log-uniform from 1 to the top of the range (capped at 1e18).
    const double top = std::log(std::min(static_cast<double>(highest), 1e18));
    for (int i = 0; i < n; ++i)
      v.push_back(clamp_value(std::exp(rng.uniform() * top), highest));
  } else if (kind == "zeros") {
    for (int i = 0; i < n; ++i) {
      const double u = rng.uniform();
      v.push_back(u < 0.3   ? 0
                  : u < 0.6 ? rng.between(1, 9)
                            : clamp_value(1e5 * rng.uniform(), highest));
    }
  } else {
    throw std::invalid_argument("unknown distribution " + kind);
  }
  return v;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

int cmd_gen(const std::string& dir) {
  struct Config {
    const char* tag;
    std::int64_t lowest, highest;
    int sigfigs;
    std::vector<const char*> kinds;
  };
  const std::vector<Config> configs = {
      {"loadgen",
       1,
       3'600'000'000'000,
       3,
       {"uniform", "exponential", "pareto", "constant", "single", "bimodal", "wide", "zeros"}},
      {"s1", 1, 3'600'000'000, 1, {"uniform", "exponential", "bimodal", "wide"}},
      {"s2", 1, 3'600'000'000, 2, {"pareto", "wide", "zeros"}},
      {"s4", 1, 3'600'000'000, 4, {"exponential", "constant", "bimodal"}},
      {"s5", 1, 100'000'000, 5, {"uniform", "pareto", "single"}},
      {"l7", 7, 10'000'000'000, 3, {"exponential", "bimodal", "zeros"}},
      {"l1000", 1000, 3'600'000'000'000, 2, {"uniform", "pareto", "wide", "zeros"}},
      {"l1000s5", 1000, 1'000'000'000, 5, {"exponential", "constant"}},
      {"h1hs5", 1, 3'600'000'000'000, 5, {"pareto"}},
      {"tiny", 3, 2000, 1, {"uniform", "zeros"}},
      {"huge", 1, std::numeric_limits<std::int64_t>::max(), 2, {"wide", "pareto"}},
  };
  std::string plan;
  std::uint64_t seed = 1;
  for (const Config& c : configs) {
    for (const char* kind : c.kinds) {
      const std::string name = std::string(c.tag) + "-" + kind;
      const std::vector<std::int64_t> values = generate(kind, c.highest, seed++);
      std::string text;
      std::int64_t max = 0;
      for (std::int64_t v : values) {
        text += std::to_string(v);
        text += '\n';
        max = std::max(max, v);
      }
      const std::string file = dir + "/" + name + ".txt";
      write_text(file, text);
      // Java fills coordinated-omission gaps one value at a time, so the
      // interval is chosen to need at most ~200 fills per value.
      const std::int64_t interval = max / 200 + 1;
      plan += "case " + name + " " + std::to_string(c.lowest) + " " + std::to_string(c.highest) +
              " " + std::to_string(c.sigfigs) + " " + file + " " + std::to_string(interval) + "\n";
    }
  }
  write_text(dir + "/plan.txt", plan);
  return 0;
}

std::vector<Case> read_plan(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<Case> cases;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string word;
    Case c;
    if (!(fields >> word) || word != "case") continue;
    fields >> c.name >> c.lowest >> c.highest >> c.sigfigs >> c.values_file >> c.interval;
    std::ifstream values(c.values_file);
    std::int64_t v = 0;
    while (values >> v)
      c.values.push_back(v);
    cases.push_back(std::move(c));
  }
  return cases;
}

Histogram build(const Case& c) {
  Histogram h(c.lowest, c.highest, c.sigfigs);
  for (std::int64_t v : c.values) {
    if (!h.record(v)) throw std::runtime_error("value out of range in " + c.name);
  }
  return h;
}

std::string hex(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(std::bit_cast<std::uint64_t>(d)));
  return buf;
}

void summary(std::string& out, const Histogram& h) {
  out += "total=" + std::to_string(h.total_count()) + " min=" + std::to_string(h.min()) +
         " max=" + std::to_string(h.max()) + " mean=" + hex(h.mean()) +
         " stddev=" + hex(h.stddev()) + "\n";
  int i = 0;
  for (double p : kPercentiles) {
    out += "p[" + std::to_string(i++) + "]=" + std::to_string(h.value_at_percentile(p)) + "\n";
  }
}

// The lines both logs begin with (comment, format version, start and base
// time at kLogStartMs, legend), as HdrInterop.java writes them too.
void write_log_header(wsb::hdr::LogWriter& w) {
  w.write_comment("[Logged with interop]");
  w.write_format_version();
  w.write_start_time(kLogStartMs);
  w.set_base_time_ms(kLogStartMs);
  w.write_base_time(kLogStartMs);
  w.write_legend();
}

int cmd_run(const std::string& plan, const std::string& out_path) {
  std::string out;
  for (const Case& c : read_plan(plan)) {
    Histogram h = build(c);
    out += "### case " + c.name + " " + std::to_string(c.lowest) + " " + std::to_string(c.highest) +
           " " + std::to_string(c.sigfigs) + "\n";
    out += "## summary\n";
    summary(out, h);
    for (const Scale& s : kScales) {
      out += std::string("## hgrm ") + s.label + "\n";
      wsb::hdr::append_percentile_distribution(out, h, {5, s.ratio, false});
      out += std::string("## csv ") + s.label + "\n";
      wsb::hdr::append_percentile_distribution(out, h, {5, s.ratio, true});
    }
    out += "## hlog\n";
    std::ostringstream log;
    wsb::hdr::LogWriter w(log);
    write_log_header(w);
    h.set_start_time_ms(kLogStartMs + 1000);
    h.set_end_time_ms(kLogStartMs + 2500);
    w.write_interval(h);
    w.write_interval(0.0, 1.0, h, 1.0);
    h.set_tag("tagA");
    w.write_interval(3.25, 4.5, h, 1000.0);
    h.set_tag("");
    out += log.str();
    out += "## corrected " + std::to_string(c.interval) + "\n";
    Histogram corrected(c.lowest, c.highest, c.sigfigs);
    for (std::int64_t v : c.values)
      corrected.record_corrected(v, c.interval);
    out += std::to_string(corrected.total_count()) + " " +
           wsb::hdr::encode_base64_compressed(corrected) + "\n";
    out += "## copycorrected " + std::to_string(c.interval) + "\n";
    Histogram copied(c.lowest, c.highest, c.sigfigs);
    copied.add_while_correcting(h, c.interval);
    out += std::to_string(copied.total_count()) + " " + wsb::hdr::encode_base64_compressed(copied) +
           "\n";
    summary(out, copied);
  }
  write_text(out_path, out);
  return 0;
}

int cmd_writelog(const std::string& plan, const std::string& out_path) {
  std::ostringstream log;
  wsb::hdr::LogWriter w(log);
  write_log_header(w);
  const std::vector<Case> cases = read_plan(plan);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    Histogram h = build(cases[i]);
    const auto offset = static_cast<std::int64_t>(i) * 1000;
    h.set_start_time_ms(kLogStartMs + offset + 7);
    h.set_end_time_ms(kLogStartMs + offset + 1004);
    if (i % 3 == 2) h.set_tag("T" + std::to_string(i % 2));
    w.write_interval(h);
  }
  write_text(out_path, log.str());
  return 0;
}

int cmd_dumplog(const std::string& log_path, const std::string& out_path) {
  std::ifstream in(log_path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + log_path);
  wsb::hdr::LogReader reader(in);
  std::string out;
  int n = 0;
  // Java's no-argument nextIntervalHistogram(): absolute range [0, Long.MAX].
  while (auto entry = reader.next_absolute(0.0, 9.223372036854775807e18)) {
    const Histogram& h = entry->histogram;
    out += "interval " + std::to_string(n++) + " tag=" + (h.tag().empty() ? "-" : h.tag()) +
           " start_ms=" + std::to_string(h.start_time_ms()) +
           " end_ms=" + std::to_string(h.end_time_ms()) +
           " config=" + std::to_string(h.lowest_discernible_value()) + "/" +
           std::to_string(h.highest_trackable_value()) + "/" +
           std::to_string(h.significant_figures()) + "\n";
    summary(out, h);
    for (const wsb::hdr::IterationValue& v : h.recorded_values()) {
      out += std::to_string(v.value) + " " + std::to_string(v.count_at_value) + "\n";
    }
  }
  out += "start_time_s=" + hex(reader.start_time_s()) + "\n";
  write_text(out_path, out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 2 && args[0] == "gen") return cmd_gen(args[1]);
    if (args.size() == 3 && args[0] == "run") return cmd_run(args[1], args[2]);
    if (args.size() == 3 && args[0] == "writelog") return cmd_writelog(args[1], args[2]);
    if (args.size() == 3 && args[0] == "dumplog") return cmd_dumplog(args[1], args[2]);
    std::cerr << "usage: hdr_interop_driver gen DIR | run PLAN OUT | writelog PLAN OUT | "
                 "dumplog HLOG OUT\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hdr_interop_driver: " << e.what() << "\n";
    return 1;
  }
}
