// hdrtool's command line and commands, run in-process with string streams, a
// fake clock and temporary files, so that they are tested on every platform.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hdr/encoding.hpp"
#include "hdr/histogram.hpp"
#include "hdr/log.hpp"
#include "hdr/output.hpp"
#include "hdr/shard_header.hpp"
#include "hdrtool.hpp"

namespace {

using wsb::hdr::Histogram;

constexpr const char* kOneTwoThree = "HISTFAAAACN42pNpmSzMwMDAwgABzFCaEURcm7yEwf4DVISJiQkAY5YEkQ==";

// A log with StartTime 0 whose intervals, each named by what precedes its
// length ("0.000" or "Tag=b,1.000"), last a second and hold 1, 2 and 3.
std::string one_two_three_log(std::initializer_list<const char*> starts) {
  std::string log = "#[StartTime: 0.000 (seconds since epoch), x]\n";
  for (const char* start : starts)
    log += std::string(start) + ",1.000,0.000," + kOneTwoThree + "\n";
  return log;
}

// A clock that stands still.
struct FakeClock {
  std::int64_t wall = 1'441'812'279'474;
  std::int64_t steady = 0;
  wsb::hdrtool::Clock clock() {
    return {[this] { return wall; }, [this] { return steady; }};
  }
};

struct Result {
  int status = -1;
  std::string out;
  std::string err;
};

Result hdrtool(std::vector<std::string> args, const std::string& input = "",
               FakeClock* clock = nullptr) {
  FakeClock still;
  args.insert(args.begin(), "hdrtool");
  std::vector<const char*> argv;
  for (const std::string& a : args)
    argv.push_back(a.c_str());
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  Result r;
  r.status = wsb::hdrtool::main(static_cast<int>(argv.size()), argv.data(), in, out, err,
                                (clock ? clock : &still)->clock());
  r.out = out.str();
  r.err = err.str();
  return r;
}

// A file in the temporary directory, removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& name, const std::string& content = "")
      : path_((std::filesystem::temp_directory_path() / ("wsb_hdrtool_test_" + name)).string()) {
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<wsb::hdr::LogEntry> read_log(const std::string& text) {
  std::istringstream in(text);
  wsb::hdr::LogReader reader(in);
  std::vector<wsb::hdr::LogEntry> entries;
  while (auto e = reader.next())
    entries.push_back(std::move(*e));
  return entries;
}

TEST(Hdrtool, HelpAndUsageErrors) {
  Result help = hdrtool({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("record"), std::string::npos);
  EXPECT_NE(help.out.find("nanoseconds"), std::string::npos);
  Result report_help = hdrtool({"report", "--help"});
  EXPECT_EQ(report_help.status, 0);
  EXPECT_NE(report_help.out.find("--scale"), std::string::npos);
  EXPECT_NE(report_help.out.find("raw"), std::string::npos);
  // A subcommand's usage line names the program, as a user types it.
  EXPECT_NE(report_help.out.find("hdrtool report"), std::string::npos) << report_help.out;
  Result version = hdrtool({"--version"});
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out.rfind("hdrtool (wsbench ", 0), 0u) << version.out;

  for (const std::vector<std::string>& bad : {std::vector<std::string>{},
                                              {"frobnicate"},
                                              {"record", "--bogus"},
                                              {"report"},
                                              {"report", "x.hlog", "--scale", "-1"},
                                              {"record", "--sigfigs", "abc"},
                                              {"record", "--sigfigs", "6"},
                                              {"record", "--lowest", "10", "--highest", "15"},
                                              {"record", "--tag", "a,b"}}) {
    Result r = hdrtool(bad);
    EXPECT_EQ(r.status, 2) << (bad.empty() ? "" : bad.back());
    EXPECT_NE(r.err.find("Usage"), std::string::npos) << r.err;
  }
}

TEST(Hdrtool, RecordWritesTheJavaLogLine) {
  Result r = hdrtool({"record", "--highest", "3600000000"}, "1\n2\n3\n");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(
      r.out,
      "#[Logged with hdrtool " WSB_VERSION_FOR_TESTS
      "]\n"
      "#[Histogram log format version 1.3]\n"
      "#[StartTime: 1441812279.474 (seconds since epoch), Wed Sep 09 15:24:39 UTC 2015]\n"
      "#[BaseTime: 1441812279.474 (seconds since epoch)]\n"
      "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
      "0.000,0.000,0.000," +
          std::string(kOneTwoThree) + "\n");
}

TEST(Hdrtool, RecordReportsBadLinesWithTheirNumbers) {
  Result r = hdrtool({"record", "--start-time-ms", "0", "--tag", "run1"},
                     "10\n  20 \r\nabc\n\n-5\n99999999999999999999\n4000000000000000\n30\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("line 3: \"abc\" is not an integer"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 5: \"-5\" is negative"), std::string::npos);
  EXPECT_NE(r.err.find("line 6: \"99999999999999999999\" is out of the 64-bit range"),
            std::string::npos);
  EXPECT_NE(r.err.find("line 7: \"4000000000000000\" exceeds"), std::string::npos);
  EXPECT_NE(r.err.find("4 of 8 lines"), std::string::npos);
  const auto entries = read_log(r.out);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].histogram.total_count(), 3);  // the good lines are kept
  EXPECT_EQ(entries[0].histogram.tag(), "run1");
  EXPECT_EQ(entries[0].histogram.max(), 30);
}

TEST(Hdrtool, RecordCutsIntervalsByArrivalTime) {
  // record reads the steady clock once at the start, once per line and once
  // at the end of input; these are the times it sees.
  const std::vector<std::int64_t> times = {0, 0, 400, 800, 1200, 3600, 3700, 3800, 3900, 4200};
  std::size_t call = 0;
  const wsb::hdrtool::Clock clock{[] { return std::int64_t{1'441'812'279'474}; },
                                  [&] { return times[std::min(call++, times.size() - 1)]; }};
  std::istringstream in("1\n2\n3\n4\n5\n6\n7\n8\n");
  std::ostringstream out;
  std::ostringstream err;
  const char* argv[] = {"hdrtool", "record", "--interval-ms", "1000"};
  ASSERT_EQ(wsb::hdrtool::main(4, argv, in, out, err, clock), 0) << err.str();
  EXPECT_EQ(call, times.size());
  const auto entries = read_log(out.str());
  // [0,1000): lines 1-3. [1000,2000): line 4. [2000,3000): nothing arrived,
  // written empty. [3000,4000): lines 5-8. [4000,4200): the partial last one.
  const std::vector<std::int64_t> expected_counts = {3, 1, 0, 4, 0};
  ASSERT_EQ(entries.size(), expected_counts.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].histogram.total_count(), expected_counts[i]) << i;
    EXPECT_DOUBLE_EQ(entries[i].timestamp_s, static_cast<double>(i)) << i;
    EXPECT_DOUBLE_EQ(entries[i].length_s, i + 1 < entries.size() ? 1.0 : 0.2) << i;
  }
  EXPECT_EQ(entries[3].histogram.min(), 5);
}

TEST(Hdrtool, ReportMatchesTheDistributionOfTheSum) {
  Result rec = hdrtool({"record", "--highest", "3600000000"}, "1\n2\n3\n");
  ASSERT_EQ(rec.status, 0);
  Result rep = hdrtool({"report", "-", "--scale", "1"}, rec.out);
  ASSERT_EQ(rep.status, 0) << rep.err;
  Histogram expected(1, 3'600'000'000, 3);
  expected.record(1);
  expected.record(2);
  expected.record(3);
  EXPECT_EQ(rep.out,
            "#[StartTime: 1441812279.474 (seconds since epoch), Wed Sep 09 15:24:39 UTC 2015]\n" +
                wsb::hdr::percentile_distribution(expected));
  Result csv = hdrtool({"report", "-", "--csv", "--scale", "1000"}, rec.out);
  EXPECT_EQ(csv.out,
            "#[StartTime: 1441812279.474 (seconds since epoch), Wed Sep 09 15:24:39 UTC 2015]\n" +
                wsb::hdr::percentile_distribution(expected, {5, 1000.0, true}));
}

TEST(Hdrtool, ReportSumsMatchingTagsAndHandlesEmptyAndBadLogs) {
  const std::string log = one_two_three_log({"0.000", "Tag=b,1.000", "Tag=b,2.000"});
  Result untagged = hdrtool({"report", "-"}, log);
  ASSERT_EQ(untagged.status, 0);
  // StartTime 0 prints no StartTime line (Java's rule).
  EXPECT_EQ(untagged.out.rfind("       Value", 0), 0u);
  EXPECT_NE(untagged.out.find("Total count    =            3]"), std::string::npos);
  Result tagged = hdrtool({"report", "-", "--tag", "b"}, log);
  EXPECT_NE(tagged.out.find("Total count    =            6]"), std::string::npos);
  // Nothing to report is an error naming what the log holds, not an empty
  // distribution that reads "Total count = 0".
  Result none = hdrtool({"report", "-", "--tag", "zzz"}, log);
  EXPECT_EQ(none.status, 1);
  EXPECT_EQ(none.out, "");
  EXPECT_NE(none.err.find("no interval tagged \"zzz\" (tags in the log: (untagged), b)"),
            std::string::npos)
      << none.err;
  Result empty = hdrtool({"report", "-"}, "#[StartTime: 0.000 (seconds since epoch), x]\n");
  EXPECT_EQ(empty.status, 1);
  EXPECT_NE(empty.err.find("no intervals"), std::string::npos) << empty.err;
  Result bad = hdrtool({"report", "-"}, log + "3.000,oops,0.000," + kOneTwoThree + "\n");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("line 5"), std::string::npos) << bad.err;
  Result missing = hdrtool({"report", "/nonexistent/dir/x.hlog"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("cannot open"), std::string::npos);
}

// loadgen tags every interval (latency, uncorrected, connect): without --tag
// each tag is reported in turn and headed by its name; with --tag one alone.
TEST(Hdrtool, ReportOfATaggedOnlyLogReportsEveryTag) {
  const std::string log =
      one_two_three_log({"Tag=latency,0.000", "Tag=connect,0.000", "Tag=latency,1.000"});
  Result all = hdrtool({"report", "-"}, log);
  ASSERT_EQ(all.status, 0) << all.err;
  const auto latency = all.out.find("#[Tag: latency]\n");
  const auto connect = all.out.find("#[Tag: connect]\n");
  ASSERT_NE(latency, std::string::npos) << all.out;
  ASSERT_NE(connect, std::string::npos) << all.out;
  EXPECT_LT(latency, connect);
  EXPECT_NE(all.out.find("Total count    =            6]"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("Total count    =            3]", connect), std::string::npos);
  Result one = hdrtool({"report", "-", "--tag", "connect"}, log);
  EXPECT_EQ(one.status, 0);
  EXPECT_EQ(one.out.find("#[Tag:"), std::string::npos);
  // One CSV holds one distribution: several tags need --tag.
  Result csv = hdrtool({"report", "-", "--csv"}, log);
  EXPECT_EQ(csv.status, 1);
  EXPECT_NE(csv.err.find("choose one with --tag"), std::string::npos) << csv.err;
}

TEST(Hdrtool, ReportJsonHoldsEveryDistribution) {
  // StartTime 0: none (Java's rule), so start_time_s is null.
  const std::string log = one_two_three_log({"Tag=latency,0.000", "Tag=connect,0.000"});
  Result j = hdrtool({"report", "-", "--json", "--scale", "1"}, log);
  ASSERT_EQ(j.status, 0) << j.err;
  EXPECT_EQ(j.out.rfind("{\n  \"schema\": \"wsbench.hdrtool.report/1\",", 0), 0u) << j.out;
  EXPECT_NE(j.out.find("\"start_time_s\": null"), std::string::npos) << j.out;
  EXPECT_NE(j.out.find("\"tag\": \"latency\""), std::string::npos);
  EXPECT_NE(j.out.find("\"tag\": \"connect\""), std::string::npos);
  EXPECT_NE(j.out.find("\"count\": 3,"), std::string::npos);
  EXPECT_NE(j.out.find("\"max\": 3,"), std::string::npos);
  EXPECT_NE(j.out.find("\"percentile\": 50,\n          \"value\": 2\n"), std::string::npos)
      << j.out;
  EXPECT_EQ(hdrtool({"report", "-", "--json", "--csv"}, log).status, 2);
}

TEST(Hdrtool, MergeIsTheExactUnion) {
  FakeClock early;
  early.wall = 1'700'000'000'000;
  FakeClock late;
  late.wall = 1'700'000'005'500;
  Result a = hdrtool({"record"}, "100\n200\n", &early);
  Result b = hdrtool({"record", "--tag", "B"}, "300\n300\n7\n", &late);
  TempFile fa("merge_a.hlog", a.out);
  TempFile fb("merge_b.hlog", b.out);
  Result m = hdrtool({"merge", fb.path(), fa.path()});
  ASSERT_EQ(m.status, 0) << m.err;
  const auto entries = read_log(m.out);
  ASSERT_EQ(entries.size(), 2u);
  // Ordered by start time under the earliest StartTime, tags kept.
  EXPECT_EQ(entries[0].histogram.total_count(), 2);
  EXPECT_DOUBLE_EQ(entries[0].timestamp_s, 0.0);
  EXPECT_EQ(entries[0].histogram.start_time_ms(), 1'700'000'000'000);
  EXPECT_EQ(entries[1].histogram.tag(), "B");
  EXPECT_DOUBLE_EQ(entries[1].timestamp_s, 5.5);
  EXPECT_EQ(entries[1].histogram.count_at(300), 2);
  EXPECT_NE(m.out.find("#[StartTime: 1700000000.000"), std::string::npos);
  Result missing = hdrtool({"merge", fa.path(), "/nonexistent/x.hlog"});
  EXPECT_EQ(missing.status, 2);
}

TEST(Hdrtool, DecodeDumpsLogsAndBase64) {
  Result one = hdrtool({"decode", kOneTwoThree});
  ASSERT_EQ(one.status, 0) << one.err;
  EXPECT_EQ(one.out,
            "histogram count=3 min=1 p50=2 p90=3 p99=3 p99.9=3 p99.99=3 max=3 mean=2.000 "
            "stddev=0.816 config=1/3600000000/3\n");
  Result values = hdrtool({"decode", "--values", kOneTwoThree});
  EXPECT_NE(values.out.find("\n  1 1\n  2 1\n  3 1\n"), std::string::npos);
  Result rec = hdrtool({"record", "--tag", "t"}, "5\n");
  Result log = hdrtool({"decode", "-"}, rec.out);
  ASSERT_EQ(log.status, 0);
  EXPECT_EQ(log.out.rfind("interval 1 tag=t start=0.000 length=0.000 count=1 min=5", 0), 0u)
      << log.out;
  EXPECT_NE(log.out.find("start_time=1441812279.474 (Wed Sep 09 15:24:39 UTC 2015)"),
            std::string::npos);
  EXPECT_EQ(hdrtool({"decode", "HISTnonsense"}).status, 1);
  EXPECT_EQ(hdrtool({"decode", "no-such-file.hlog"}).status, 1);
}

}  // namespace

// ---- merge --runs -----------------------------------------------------------------

namespace runs {

constexpr std::int64_t kStartMs = 1'800'000'000'000;

wsb::hdr::ShardHeader header(std::uint32_t index, std::uint32_t count) {
  wsb::hdr::ShardHeader h;
  h.tag = "host:" + std::to_string(index);
  h.shard_index = index;
  h.shard_count = count;
  h.protocol = "upper";
  h.mode = "open";
  h.connections = 4 / count;
  h.total_connections = 4;
  h.rate = 1000.0 / count;
  h.total_rate = 1000.0;
  h.interval_ms = 1000;
  h.start_at_ms = kStartMs;
  return h;
}

// One run: `intervals` one-second intervals of latency (and connect) values.
struct Run {
  std::vector<Histogram> latency;
  std::vector<Histogram> connect;
};

Run make_run(int intervals) {
  Run run;
  std::uint64_t x = 12345;
  for (int i = 0; i < intervals; ++i) {
    Histogram lat(1, 3'600'000'000'000, 3), con(1, 3'600'000'000'000, 3);
    lat.set_tag("latency");
    con.set_tag("connect");
    for (int n = 0; n < 500 + 37 * i; ++n) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      lat.record(static_cast<std::int64_t>(20'000 + (x >> 40) % 5'000'000));
    }
    con.record(40'000 + i);
    run.latency.push_back(std::move(lat));
    run.connect.push_back(std::move(con));
  }
  return run;
}

// The log of one instance holding `part` of every bucket (0: floor half,
// 1: the rest; -1: all), with its intervals shifted by shift_s.
std::string log_of(const Run& run, const wsb::hdr::ShardHeader& h, int part, double shift_s = 0.0) {
  std::ostringstream out;
  wsb::hdr::LogWriter w(out);
  w.write_header(kStartMs, kStartMs);
  w.write_comment(wsb::hdr::format_shard_line(h));
  // Shard 1 of 3 was late in this made-up run.
  const bool late = h.shard_index == 1 && h.shard_count == 3;
  w.write_comment(wsb::hdr::format_start_line(0.25 * (h.shard_index + 1), late, h.connections));
  auto piece = [part](const Histogram& whole) {
    if (part < 0) return whole;
    Histogram p(1, 3'600'000'000'000, 3);
    p.set_tag(whole.tag());
    for (const wsb::hdr::IterationValue& v : whole.recorded_values()) {
      const std::int64_t half = v.count_at_value / 2;
      p.record(v.value, part == 0 ? half : v.count_at_value - half);
    }
    return p;
  };
  for (std::size_t i = 0; i < run.latency.size(); ++i) {
    const double start = static_cast<double>(i) + shift_s;
    w.write_interval(start, start + 1.0, piece(run.latency[i]));
    w.write_interval(start, start + 1.0, piece(run.connect[i]));
  }
  return out.str();
}

std::vector<std::string> split_csv_row(const std::string& csv) {
  const std::string row = csv.substr(csv.find('\n') + 1);
  std::vector<std::string> fields;
  std::stringstream s(row.substr(0, row.find('\n')));
  std::string f;
  while (std::getline(s, f, ','))
    fields.push_back(f);
  return fields;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace runs

TEST(HdrtoolMergeRuns, OneRunSplitTwoWaysGivesExactlyTheUnsplitFigures) {
  const runs::Run run = runs::make_run(5);
  TempFile whole("runs_whole.hlog", runs::log_of(run, runs::header(0, 1), -1));
  TempFile a("runs_a.hlog", runs::log_of(run, runs::header(0, 2), 0));
  TempFile b("runs_b.hlog", runs::log_of(run, runs::header(1, 2), 1));
  TempFile hgrm1("runs_1.hgrm"), hgrm2("runs_2.hgrm"), csv1("runs_1.csv"), csv2("runs_2.csv");
  std::filesystem::remove(csv1.path());
  std::filesystem::remove(csv2.path());

  const Result one =
      hdrtool({"merge", "--runs", whole.path(), "--hgrm", hgrm1.path(), "--csv", csv1.path()});
  ASSERT_EQ(one.status, 0) << one.err;
  const Result two = hdrtool(
      {"merge", "--runs", b.path(), a.path(), "--hgrm", hgrm2.path(), "--csv", csv2.path()});
  ASSERT_EQ(two.status, 0) << two.err;

  // The distribution, byte for byte; and it is the unsplit log's report.
  const std::string unsplit = runs::slurp(hgrm1.path());
  EXPECT_EQ(runs::slurp(hgrm2.path()), unsplit);
  const Result report = hdrtool({"report", whole.path(), "--tag", "latency"});
  ASSERT_EQ(report.status, 0);
  EXPECT_EQ(report.out.substr(report.out.find('\n') + 1), unsplit);

  // Count, window, rate and percentiles of the summary row; only the shard
  // columns (0-3) and the start offsets (14, 15) tell the two apart.
  const auto r1 = runs::split_csv_row(runs::slurp(csv1.path()));
  const auto r2 = runs::split_csv_row(runs::slurp(csv2.path()));
  ASSERT_EQ(r1.size(), wsb::hdrtool::merge_csv_header().size());
  ASSERT_EQ(r2.size(), r1.size());
  for (std::size_t i = 4; i < r1.size(); ++i) {
    if (i == 14 || i == 15) continue;
    EXPECT_EQ(r2[i], r1[i]) << wsb::hdrtool::merge_csv_header()[i];
  }
  std::int64_t total = 0;
  for (const Histogram& h : run.latency)
    total += h.total_count();
  EXPECT_EQ(r1[11], std::to_string(total));  // count
  EXPECT_EQ(r1[10], "5.000");                // window_s
  EXPECT_EQ(r2[0], "2");
  EXPECT_EQ(r2[2], "");  // no missing shard

  // The merged logs hold the same intervals, aligned on absolute time.
  const auto m1 = read_log(one.out);
  const auto m2 = read_log(two.out);
  ASSERT_EQ(m1.size(), 10u);
  ASSERT_EQ(m2.size(), m1.size());
  for (std::size_t i = 0; i < m1.size(); ++i) {
    EXPECT_EQ(m2[i].histogram, m1[i].histogram) << i;
    EXPECT_DOUBLE_EQ(m2[i].absolute_start_s, m1[i].absolute_start_s);
  }
}

TEST(HdrtoolMergeRuns, TakesOnlyTheCommonWindowAndListsMissingAndLateShards) {
  const runs::Run run = runs::make_run(5);
  // Shard 1 began 2 s late: the common window is the 3 s in which both measured.
  TempFile a("runs_w_a.hlog", runs::log_of(run, runs::header(0, 3), 0));
  const std::string text = runs::log_of(run, runs::header(1, 3), 1, 2.0);
  TempFile b("runs_w_b.hlog", text);
  TempFile csv("runs_w.csv");
  std::filesystem::remove(csv.path());
  const Result r = hdrtool({"merge", "--runs", a.path(), b.path(), "--csv", csv.path()});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto row = runs::split_csv_row(runs::slurp(csv.path()));
  EXPECT_EQ(row[2], "2");       // missing_shards
  EXPECT_EQ(row[3], "host:1");  // late_shards
  EXPECT_EQ(row[10], "3.000");  // window_s
  // Shard a holds the floor halves, b the rest; a's intervals 2..4 and b's
  // (shifted by 2 s) 0..2 lie in the window [2 s, 5 s].
  std::int64_t in_window = 0, outside = 0;
  for (std::size_t i = 0; i < 5; ++i) {
    std::int64_t a_part = 0;
    for (const wsb::hdr::IterationValue& v : run.latency[i].recorded_values())
      a_part += v.count_at_value / 2;
    const std::int64_t b_part = run.latency[i].total_count() - a_part;
    (i >= 2 ? in_window : outside) += a_part;
    (i <= 2 ? in_window : outside) += b_part;
  }
  EXPECT_EQ(row[11], std::to_string(in_window));
  EXPECT_EQ(row[12], std::to_string(outside));
  EXPECT_NE(r.err.find("missing shards: 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("late shards: host:1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("outside the window left out"), std::string::npos) << r.err;
}

TEST(HdrtoolMergeRuns, RefusesLogsOfDifferentRunsInOneLine) {
  const runs::Run run = runs::make_run(2);
  TempFile a("runs_x_a.hlog", runs::log_of(run, runs::header(0, 2), 0));
  auto other = runs::header(1, 2);
  other.protocol = "echo";
  TempFile b("runs_x_b.hlog", runs::log_of(run, other, 1));
  Result r = hdrtool({"merge", "--runs", a.path(), b.path()});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("protocol"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  // Histograms of other settings (2 significant figures).
  std::string two_figures;
  {
    std::ostringstream out;
    wsb::hdr::LogWriter w(out);
    w.write_header(runs::kStartMs, runs::kStartMs);
    w.write_comment(wsb::hdr::format_shard_line(runs::header(1, 2)));
    Histogram h(1, 3'600'000'000'000, 2);
    h.set_tag("latency");
    h.record(1000);
    w.write_interval(0.0, 1.0, h);
    two_figures = out.str();
  }
  TempFile c("runs_x_c.hlog", two_figures);
  r = hdrtool({"merge", "--runs", a.path(), c.path()});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("other settings"), std::string::npos) << r.err;

  // The same shard twice.
  r = hdrtool({"merge", "--runs", a.path(), a.path()});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("again"), std::string::npos) << r.err;
}

TEST(HdrtoolMergeRuns, CsvHeaderMatchesResultsReadme) {
  std::ifstream readme(std::string(WSB_SOURCE_DIR_FOR_TESTS) + "/results/README.md");
  ASSERT_TRUE(readme) << "results/README.md";
  std::string line;
  bool in_section = false;
  std::vector<std::string> documented;
  while (std::getline(readme, line)) {
    if (line.rfind("## ", 0) == 0)
      in_section = line.find("hdrtool merge --runs --csv") != std::string::npos;
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    documented.push_back(line.substr(3, line.find('`', 3) - 3));
  }
  EXPECT_EQ(wsb::hdrtool::merge_csv_header(), documented);
}
