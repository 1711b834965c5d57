// The JSON writer (core/report/json.hpp) and loadgen's --json renderer. The
// schema of a real run's output is checked end to end by
// tests/integration/loadgen/check_json.py against results/README.md.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include "render_json.hpp"
#include "report/json.hpp"

namespace wsb::loadgen {
namespace {

TEST(JsonWriter, NestsIndentsAndSeparates) {
  std::ostringstream out;
  report::JsonWriter j(out);
  j.begin_object();
  j.member("a", 1);
  j.key("b").begin_array().value(true).null().value(2.5).end_array();
  j.key("c").begin_object().end_object();
  j.key("d").begin_array().end_array();
  j.end_object();
  EXPECT_TRUE(j.done());
  EXPECT_EQ(out.str(),
            "{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null,\n    2.5\n  ],\n  \"c\": {},\n"
            "  \"d\": []\n}\n");
}

TEST(JsonWriter, EscapesStringsAndWritesNonFiniteAsNull) {
  EXPECT_EQ(report::json_quote("a\"b\\c\nd\te\x01"), "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  EXPECT_EQ(report::json_quote("µs"), "\"µs\"");  // UTF-8 passes through
  std::ostringstream out;
  report::JsonWriter j(out);
  j.begin_array();
  j.value(std::numeric_limits<double>::quiet_NaN());
  j.value(std::numeric_limits<double>::infinity());
  j.value(std::int64_t{-9'000'000'000'000'000'000});
  j.value(std::uint64_t{18'446'744'073'709'551'615ULL});
  j.value(0.1);
  j.end_array();
  EXPECT_EQ(out.str(),
            "[\n  null,\n  null,\n  -9000000000000000000,\n  18446744073709551615,\n  0.1\n]\n");
}

TEST(JsonWriter, MisuseIsALogicError) {
  std::ostringstream out;
  report::JsonWriter j(out);
  j.begin_object();
  EXPECT_THROW(j.value(1), std::logic_error);  // a member without a key
  EXPECT_THROW(j.end_array(), std::logic_error);
  j.key("x");
  EXPECT_THROW(j.key("y"), std::logic_error);
  j.value(1);
  j.end_object();
  EXPECT_THROW(j.begin_object(), std::logic_error);  // a second top-level value
}

// A closed-loop result with two SLO terms: the object holds the parameters,
// the figures and the verdicts, with null where a figure does not apply.
TEST(RunJson, ClosedLoopRunWithSlo) {
  Options o;
  o.connections = 4;
  o.label = "a \"quoted\" label";
  o.slo_text = "p50=1ms";
  RunResult r;
  r.engine = "epoll";
  r.threads = 2;
  r.target = *net::parse_host_port("127.0.0.1:9");
  r.seconds = 2.0;
  r.totals.requests = 100;
  r.totals.responses = 100;
  r.totals.errors[static_cast<std::size_t>(ErrorKind::reset)] = 3;
  for (int i = 1; i <= 100; ++i)
    r.histograms[Series::latency].record(i * 1000);
  std::vector<SloVerdict> slo(1);
  slo[0].term.text = "p50=1ms";
  slo[0].term.limit = std::chrono::milliseconds(1);
  slo[0].measured_ns = 50'000;
  slo[0].passed = true;
  std::ostringstream out;
  write_run_json(out, o, r, slo, 0);
  const std::string s = out.str();
  for (const char* want :
       {"\"schema\": \"wsbench.loadgen.run/1\"", "\"label\": \"a \\\"quoted\\\" label\"",
        "\"mode\": \"closed\"", "\"rate_per_s\": null", "\"requests_per_s\": 50,",
        "\"uncorrected\": null", "\"count\": 100,", "\"max_us\": 100", "\"reset\": 3",
        "\"total\": 3,", "\"server\": null", "\"measured_us\": 50,", "\"passed\": true\n  },",
        "\"incomplete_reason\": null", "\"exit_code\": 0\n}"}) {
    EXPECT_NE(s.find(want), std::string::npos) << want << "\n" << s;
  }
#ifdef _WIN32
  EXPECT_TRUE(platform_name() == "windows" || platform_name() == "wine") << platform_name();
#else
  EXPECT_EQ(platform_name(), "linux");
#endif
}

}  // namespace
}  // namespace wsb::loadgen
