#include <gtest/gtest.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "render_common.hpp"
#include "render_csv.hpp"
#include "render_intervals.hpp"
#include "render_text.hpp"
#include "verdicts.hpp"
#include "report/csv.hpp"

namespace wsb::loadgen {
namespace {

using namespace std::chrono_literals;

// The first cell of every table row under `heading` in results/README.md,
// without its backticks: the documented column names, in order.
std::vector<std::string> documented_columns(const std::string& heading) {
  std::ifstream in(std::string(WSB_SOURCE_DIR) + "/results/README.md");
  EXPECT_TRUE(in) << "results/README.md is missing";
  std::vector<std::string> columns;
  std::string line;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      in_section = line == heading;
      continue;
    }
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    const auto end = line.find('`', 3);
    columns.push_back(line.substr(3, end - 3));
  }
  return columns;
}

TEST(CsvSchema, HeaderMatchesResultsReadme) {
  const std::vector<std::string> documented = documented_columns("## loadgen run CSV (`--csv`)");
  EXPECT_EQ(csv_header(), documented);
}

TEST(CsvSchema, IntervalHeaderMatchesResultsReadme) {
  EXPECT_EQ(interval_csv_header(), documented_columns("## loadgen interval CSV (`--intervals`)"));
}

TEST(CsvSchema, ColumnNamesAreUnique) {
  const auto header = csv_header();
  EXPECT_EQ(std::set<std::string>(header.begin(), header.end()).size(), header.size());
}

RunResult sample_result() {
  RunResult r;
  r.engine = "fake";
  r.threads = 2;
  r.target = *net::parse_host_port("127.0.0.1:21234");
  r.start_ms = 1'700'000'000'123;
  r.seconds = 2.0;
  r.totals.requests = 1000;
  r.totals.responses = 998;
  r.totals.requests_failed = 2;
  r.totals.bytes_out = 18'000;
  r.totals.bytes_in = 18'000;
  r.totals.errors[static_cast<std::size_t>(ErrorKind::reset)] = 1;
  for (int i = 1; i <= 1000; ++i)
    r.histograms[Series::latency].record(i * 1000);
  return r;
}

TEST(CsvSchema, RowHasOneValuePerColumnAndTheRightValues) {
  Options o;
  o.label = "with,comma";
  const RunResult r = sample_result();
  const auto header = csv_header();
  const auto row = csv_row(o, r, {}, 1);
  ASSERT_EQ(row.size(), header.size());
  auto value = [&](const std::string& column) {
    for (std::size_t i = 0; i < header.size(); ++i) {
      if (header[i] == column) return row[i];
    }
    ADD_FAILURE() << "no column " << column;
    return std::string();
  };
  EXPECT_EQ(value("timestamp"), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(value("tool"), "loadgen");
  EXPECT_EQ(value("label"), "with,comma");
  EXPECT_EQ(value("mode"), "closed");
  EXPECT_EQ(value("requests"), "1000");
  EXPECT_EQ(value("responses"), "998");
  EXPECT_EQ(value("requests_per_s"), "499.00");
  EXPECT_EQ(value("errors"), "1");
  EXPECT_EQ(value("errors_reset"), "1");
  EXPECT_EQ(value("latency_min_us"), "1.000");
  EXPECT_EQ(value("latency_max_us"), "1000.447");  // highest equivalent of 1,000,000 ns
  EXPECT_EQ(value("uncorrected_p99_us"), "");      // closed loop
  EXPECT_EQ(value("server_model"), "");            // not spawned
  EXPECT_EQ(value("rate"), "");
  EXPECT_EQ(value("exit_code"), "1");
}

// The chat columns come last, after every column of the other protocols,
// and are empty for them.
TEST(CsvSchema, ChatColumnsComeLastAndOnlyForChat) {
  const auto header = csv_header();
  const auto at = [&](const std::string& column) {
    return std::find(header.begin(), header.end(), column) - header.begin();
  };
  EXPECT_GT(at("group_size"), at("exit_code"));
  EXPECT_EQ(at("delivery_stddev_us"), static_cast<std::ptrdiff_t>(header.size()) - 1);
  EXPECT_LT(at("errors_io"), at("connect_attempts"));
  EXPECT_GT(at("errors_lost"), at("exit_code"));

  RunResult r = sample_result();
  r.totals.deliveries = 9000;
  r.totals.errors[static_cast<std::size_t>(ErrorKind::lost)] = 3;
  for (int i = 1; i <= 100; ++i)
    r.histograms[Series::delivery].record(i * 10'000);
  Options o;
  auto value = [&](const std::vector<std::string>& row, const std::string& column) {
    return row[static_cast<std::size_t>(at(column))];
  };
  const auto plain = csv_row(o, r, {}, 1);
  EXPECT_EQ(value(plain, "deliveries"), "");
  EXPECT_EQ(value(plain, "delivery_p50_us"), "");
  o.protocol = proto::Protocol::chat;
  o.group_size = 100;
  o.private_share = 0.25;
  const auto chat = csv_row(o, r, {}, 1);
  EXPECT_EQ(value(chat, "group_size"), "100");
  EXPECT_EQ(value(chat, "private_share"), "0.250");
  EXPECT_EQ(value(chat, "deliveries"), "9000");
  EXPECT_EQ(value(chat, "deliveries_per_s"), "4500.00");
  EXPECT_EQ(value(chat, "errors_lost"), "3");
  EXPECT_EQ(value(chat, "errors_duplicated"), "0");
  EXPECT_EQ(value(chat, "delivery_max_us"), "1000.447");
  EXPECT_EQ(value(chat, "errors"), "4") << "reset 1 and lost 3";
}

TEST(CsvSchema, AppendedFileRoundTrips) {
  const auto path =
      std::filesystem::temp_directory_path() /
      ("lg_csv_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + ".csv");
  std::filesystem::remove(path);
  Options o;
  const RunResult r = sample_result();
  check_csv_file(path.string());  // a new file is fine
  report::append_row(path, csv_header(), csv_row(o, r, {}, 0));
  report::append_row(path, csv_header(), csv_row(o, r, {}, 0));
  check_csv_file(path.string());  // our own header is fine
  std::string content;
  {
    // Closed before the file is removed (Windows refuses to remove open files).
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    content = text.str();
  }
  std::size_t pos = 0;
  EXPECT_EQ(report::parse_record(content, pos), csv_header());
  EXPECT_EQ(report::parse_record(content, pos).size(), csv_header().size());
  EXPECT_EQ(report::parse_record(content, pos).size(), csv_header().size());
  std::filesystem::remove(path);
}

TEST(CsvSchema, RefusesAFileWithAnotherHeader) {
  const auto path = std::filesystem::temp_directory_path() / "lg_csv_other_header.csv";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << "timestamp,tool,something_else\n1,2,3\n";
  }
  try {
    check_csv_file(path.string());
    ADD_FAILURE() << "a different header was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("column 3"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(Slo, Evaluation) {
  hdr::Histogram h = make_latency_histogram();
  for (int i = 1; i <= 1000; ++i)
    h.record(i * 1'000'000LL);  // 1..1000 ms
  std::string why;
  const auto terms = *parse_slo("p50=600ms,p99=900ms,max=2s,mean=400ms", &why);
  const auto v = evaluate_slo(terms, h);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_TRUE(v[0].passed);   // p50 ~ 500 ms
  EXPECT_FALSE(v[1].passed);  // p99 ~ 990 ms
  EXPECT_TRUE(v[2].passed);   // max ~ 1 s
  EXPECT_FALSE(v[3].passed);  // mean ~ 500 ms
  EXPECT_NEAR(static_cast<double>(v[1].measured_ns), 990e6, 1e6);
  // Nothing recorded meets no objective.
  EXPECT_FALSE(evaluate_slo(terms, make_latency_histogram())[0].passed);
}

TEST(ExitCode, Precedence) {
  Options o;
  RunResult r = sample_result();  // one error
  std::vector<SloVerdict> failed_slo(1);
  failed_slo[0].passed = false;
  EXPECT_EQ(exit_code(o, r, {}), kExitErrors);
  o.max_errors = 1;
  EXPECT_EQ(exit_code(o, r, {}), kExitOk);
  EXPECT_EQ(exit_code(o, r, failed_slo), kExitSlo);
  o.max_errors = 0;
  EXPECT_EQ(exit_code(o, r, failed_slo), kExitErrors);
  r.server_died = true;
  EXPECT_EQ(exit_code(o, r, failed_slo), kExitServerFailed);
  r.server_died = false;
  o.max_errors = 10;
  r.failures.push_back("worker 0: broken");
  EXPECT_EQ(exit_code(o, r, {}), kExitErrors);
}

TEST(RateShortfall, OnlyInOpenLoop) {
  Options o;
  RunResult r = sample_result();  // 1000 requests in 2 s
  EXPECT_EQ(rate_shortfall_percent(o, r), 0.0);
  o.mode = Mode::open;
  o.rate = 1000;
  EXPECT_NEAR(rate_shortfall_percent(o, r), 50.0, 1e-9);
  o.rate = 400;
  EXPECT_EQ(rate_shortfall_percent(o, r), 0.0);
}

TEST(Text, FormatLatencyHasThreeSignificantDigits) {
  EXPECT_EQ(format_latency(0), "0ns");
  EXPECT_EQ(format_latency(999), "999ns");
  EXPECT_EQ(format_latency(1234), "1.23us");
  EXPECT_EQ(format_latency(12'345), "12.3us");
  EXPECT_EQ(format_latency(123'456), "123us");
  EXPECT_EQ(format_latency(1'234'567), "1.23ms");
  EXPECT_EQ(format_latency(999'999), "1.00ms");
  EXPECT_EQ(format_latency(12'345'678'901), "12.3s");
}

TEST(Text, ChatLiveLineAndSummaryShowDeliveries) {
  HistogramSet h;
  h[Series::latency].record(100'000);
  h[Series::delivery].record(2'000'000);
  IntervalReport iv;
  iv.start_s = 1.0;
  iv.end_s = 2.0;
  iv.delta.responses = 300;
  iv.delta.deliveries = 2700;
  iv.histograms = &h;
  iv.open_connections = 200;
  const std::string line = live_line(iv, Mode::closed, true);
  EXPECT_NE(line.find("msg/s 300"), std::string::npos) << line;
  EXPECT_NE(line.find("deliv/s 2700"), std::string::npos) << line;
  EXPECT_NE(line.find("deliv p99 2.00ms"), std::string::npos) << line;
  const auto row = interval_csv_row(iv);
  const auto header = interval_csv_header();
  ASSERT_EQ(row.size(), header.size());
  EXPECT_EQ(row[static_cast<std::size_t>(std::find(header.begin(), header.end(), "deliveries") -
                                         header.begin())],
            "2700");

  Options o;
  o.protocol = proto::Protocol::chat;
  RunResult r = sample_result();
  r.totals.deliveries = 9000;
  r.totals.errors[static_cast<std::size_t>(ErrorKind::reordered)] = 2;
  r.histograms[Series::delivery].record(2'000'000);
  const std::string text = summary_text(o, r, {});
  EXPECT_NE(text.find("ACK latency"), std::string::npos) << text;
  EXPECT_NE(text.find("Delivery latency (send to each recipient) (1 samples)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("Deliveries: 9000 (4500.00/sec); lost 0, duplicated 0, reordered 2"),
            std::string::npos)
      << text;
}

TEST(Text, LiveLineAndSummaryMentionTheEssentials) {
  HistogramSet h;
  h[Series::latency].record(100'000);
  IntervalReport iv;
  iv.phase = Phase::warmup;
  iv.start_s = 1.0;
  iv.end_s = 2.0;
  iv.delta.responses = 5000;
  iv.histograms = &h;
  iv.open_connections = 7;
  const std::string line = live_line(iv, Mode::closed);
  EXPECT_NE(line.find("conns 7"), std::string::npos) << line;
  EXPECT_NE(line.find("req/s 5000"), std::string::npos) << line;
  EXPECT_NE(line.find("p99 100us"), std::string::npos) << line;
  EXPECT_NE(line.find("warmup"), std::string::npos) << line;
  EXPECT_EQ(interval_csv_row(iv).size(), interval_csv_header().size());

  Options o;
  o.mode = Mode::open;
  o.rate = 1000;
  const RunResult r = sample_result();
  const std::string text = summary_text(o, r, {});
  EXPECT_NE(text.find("corrected"), std::string::npos);
  EXPECT_NE(text.find("uncorrected"), std::string::npos);
  EXPECT_NE(text.find("SHORT"), std::string::npos);  // 500/s of the 1000 asked
  EXPECT_NE(text.find("reset 1"), std::string::npos);
}

}  // namespace
}  // namespace wsb::loadgen
