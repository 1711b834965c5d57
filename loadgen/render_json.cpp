#include "render_json.hpp"

#include <algorithm>
#include <charconv>
#include <ostream>

#include "platform/process.hpp"
#include "render_common.hpp"
#include "report/json.hpp"

#ifndef WSB_VERSION
#error "WSB_VERSION must be defined by the build (the project version)"
#endif

namespace wsb::loadgen {

namespace {

using report::JsonWriter;

double seconds(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e9;
}

double micros(double ns) {
  return ns / 1e3;
}

// The percentiles of the "percentiles" arrays: the summary's spectrum and
// the points between, so that a plot of the distribution needs no .hgrm.
constexpr std::array<double, 17> kJsonSpectrum{0.0,    10.0,   25.0,    50.0,    75.0,  90.0,
                                               95.0,   99.0,   99.5,    99.9,    99.95, 99.99,
                                               99.995, 99.999, 99.9995, 99.9999, 100.0};

// A latency histogram: its summary figures in microseconds and its spectrum;
// null when the series does not apply to this mode.
void write_histogram(JsonWriter& j, std::string_view name, const hdr::Histogram* h) {
  j.key(name);
  if (h == nullptr) {
    j.null();
    return;
  }
  const bool any = h->total_count() > 0;
  auto figure = [&](std::string_view key, double ns) {
    j.key(key);
    if (any) {
      j.value(micros(ns));
    } else {
      j.null();
    }
  };
  j.begin_object();
  j.member("count", static_cast<std::uint64_t>(h->total_count()));
  figure("min_us", static_cast<double>(h->min()));
  figure("mean_us", h->mean());
  figure("stddev_us", h->stddev());
  figure("max_us", static_cast<double>(h->max()));
  j.key("percentiles").begin_array();
  if (any) {
    for (const double p : kJsonSpectrum) {
      j.begin_object();
      j.member("percentile", p);
      j.member("value_us", micros(static_cast<double>(h->value_at_percentile(p))));
      j.end_object();
    }
  }
  j.end_array();
  j.end_object();
}

// A value only meaningful in some modes: null in the others.
template <class T>
void member_if(JsonWriter& j, std::string_view key, bool applies, const T& v) {
  j.key(key);
  if (applies) {
    j.value(v);
  } else {
    j.null();
  }
}

void write_parameters(JsonWriter& j, const Options& o, const RunResult& r) {
  j.key("parameters").begin_object();
  j.member("label", o.label);
  j.member("target", net::to_string(r.target));
  j.member("spawn", o.spawn);
  j.member("protocol", std::string(proto::name(o.protocol)));
  j.member("mode", std::string(name(o.mode)));
  j.member("engine", r.engine);
  j.member("threads", r.threads);
  j.member("connections", o.connections);
  j.member("pipeline", o.pipeline);
  member_if(j, "rate_per_s", o.mode == Mode::open, o.rate);
  member_if(j, "churn_requests", o.mode == Mode::churn, o.churn);
  j.member("think_s", seconds(o.think));
  j.member("spin_s", seconds(o.spin));
  j.member("connect_rate_per_s", o.connect_rate);
  j.member("warmup_s", seconds(o.warmup));
  j.member("duration_s", seconds(o.duration));
  j.member("requests_limit", static_cast<std::uint64_t>(o.requests));
  j.member("size_min_bytes", o.size.min);
  j.member("size_max_bytes", o.size.max);
  j.member("timeout_s", seconds(o.timeout));
  j.member("connect_timeout_s", seconds(o.connect_timeout));
  j.member("interval_s", seconds(o.interval));
  j.member("sources", static_cast<std::uint64_t>(o.sources.size()));
  member_if(j, "http_path", o.protocol == proto::Protocol::http, o.http_path);
  j.member("any_body", o.any_body);
  j.member("seed", static_cast<std::uint64_t>(o.seed));
  j.member("max_errors", static_cast<std::uint64_t>(o.max_errors));
  j.member("slo", o.slo_text);
  j.end_object();
}

void write_results(JsonWriter& j, const Options& o, const RunResult& r) {
  const Counters& t = r.totals;
  const bool open = o.mode == Mode::open;
  const bool hold = o.mode == Mode::hold;
  j.key("results").begin_object();
  j.member("elapsed_s", r.seconds);
  j.member("requests", static_cast<std::uint64_t>(t.requests));
  j.member("responses", static_cast<std::uint64_t>(t.responses));
  j.member("requests_failed", static_cast<std::uint64_t>(t.requests_failed));
  j.member("unfinished", static_cast<std::uint64_t>(r.unfinished));
  j.member("bytes_out", static_cast<std::uint64_t>(t.bytes_out));
  j.member("bytes_in", static_cast<std::uint64_t>(t.bytes_in));
  j.member("requests_per_s", per_second(t.responses, r.seconds));
  j.member("tx_mb_per_s", per_second(t.bytes_out, r.seconds) / 1e6);
  j.member("rx_mb_per_s", per_second(t.bytes_in, r.seconds) / 1e6);
  member_if(j, "rate_achieved_per_s", open, per_second(t.requests, r.seconds));
  member_if(j, "rate_shortfall_pct", open, rate_shortfall_percent(o, r));
  j.member("connect_attempts", static_cast<std::uint64_t>(t.connect_attempts));
  j.member("connects", static_cast<std::uint64_t>(t.connects));
  j.member("churn_closes", static_cast<std::uint64_t>(t.churn_closes));
  member_if(j, "established", hold, static_cast<std::uint64_t>(r.established));
  member_if(j, "establish_s", hold && r.establish_s.has_value(), r.establish_s.value_or(0.0));
  j.end_object();
}

void write_latency(JsonWriter& j, const Options& o, const RunResult& r) {
  j.key("latency").begin_object();
  // In open loop "latency" is the corrected one (from each request's
  // intended send time), as in the CSV's latency_* columns.
  write_histogram(j, "latency", o.mode == Mode::hold ? nullptr : &r.histograms[Series::latency]);
  write_histogram(j, "uncorrected",
                  o.mode == Mode::open ? &r.histograms[Series::uncorrected] : nullptr);
  write_histogram(j, "connect", &r.histograms[Series::connect]);
  j.end_object();
}

void write_errors(JsonWriter& j, const Counters& t) {
  j.key("errors").begin_object();
  j.member("total", static_cast<std::uint64_t>(t.errors_total()));
  j.key("by_class").begin_object();
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    j.member(name(ErrorKind(i)), static_cast<std::uint64_t>(t.errors[i]));
  }
  j.end_object();
  j.end_object();
}

void write_loadgen_process(JsonWriter& j, const Options& o, const RunResult& r) {
  j.key("loadgen").begin_object();
  j.member("cpu_user_s", r.self.user_cpu_seconds);
  j.member("cpu_system_s", r.self.system_cpu_seconds);
  j.member("peak_rss_bytes", static_cast<std::uint64_t>(r.self.peak_memory_bytes));
  member_if(j, "held_rss_bytes", o.mode == Mode::hold,
            static_cast<std::uint64_t>(r.loadgen_memory_held_bytes));
  j.end_object();
}

// A server statistic that is a whole number, else null.
void stat_member(JsonWriter& j, std::string_view key, const ServerResult& s) {
  j.key(key);
  const auto text = s.stat(key);
  std::uint64_t v = 0;
  if (text) {
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec == std::errc() && end == text->data() + text->size()) {
      j.value(v);
      return;
    }
  }
  j.null();
}

void write_server(JsonWriter& j, const Options& o, const RunResult& r) {
  j.key("server");
  if (!r.server) {
    j.null();
    return;
  }
  const ServerResult& s = *r.server;
  const bool hold = o.mode == Mode::hold;
  j.begin_object();
  j.member("model", s.model);
  j.member("program", s.program);
  j.member("platform", std::string(s.wine ? "wine" : "native"));
  // null when unknown (a Windows loadgen under Wine: ServerResult::cpu_known).
  member_if(j, "cpu_user_s", s.cpu_known, s.cpu_user_s);
  member_if(j, "cpu_system_s", s.cpu_known, s.cpu_system_s);
  j.member("peak_rss_bytes", static_cast<std::uint64_t>(s.peak_memory_bytes));
  j.member("threads", static_cast<std::uint64_t>(s.peak_threads));
  j.member("rss_before_bytes", static_cast<std::uint64_t>(s.memory_before_bytes));
  member_if(j, "rss_held_bytes", hold, static_cast<std::uint64_t>(s.memory_held_bytes));
  member_if(j, "rss_held_by", hold, s.memory_held_by);
  const bool per_connection = hold && r.established > 0 && s.memory_held_bytes > 0;
  member_if(j, "bytes_per_connection", per_connection,
            per_connection ? (static_cast<double>(s.memory_held_bytes) -
                              static_cast<double>(s.memory_before_bytes)) /
                                 static_cast<double>(r.established)
                           : 0.0);
  stat_member(j, "requests", s);
  stat_member(j, "errors", s);
  j.member("stop", s.died ? std::string("died") : s.stopped_by);
  j.key("stats").begin_object();
  for (const auto& [key, value] : s.stats)
    j.member(key, value);
  j.end_object();
  j.end_object();
}

void write_slo(JsonWriter& j, const std::vector<SloVerdict>& slo) {
  j.key("slo").begin_object();
  j.key("terms").begin_array();
  for (const SloVerdict& v : slo) {
    j.begin_object();
    j.member("term", v.term.text);
    j.member("limit_us", micros(static_cast<double>(v.term.limit.count())));
    j.member("measured_us", micros(static_cast<double>(v.measured_ns)));
    j.member("passed", v.passed);
    j.end_object();
  }
  j.end_array();
  const bool all =
      std::all_of(slo.begin(), slo.end(), [](const SloVerdict& v) { return v.passed; });
  member_if(j, "passed", !slo.empty(), all);
  j.end_object();
}

}  // namespace

std::string platform_name() {
  if (platform::running_under_wine()) return "wine";
#ifdef _WIN32
  return "windows";
#else
  return "linux";
#endif
}

void write_run_json(std::ostream& out, const Options& options, const RunResult& result,
                    const std::vector<SloVerdict>& slo, int exit_code) {
  JsonWriter j(out);
  j.begin_object();
  j.member("schema", kJsonSchema);
  j.member("tool", "loadgen");
  j.member("version", WSB_VERSION);
  j.member("timestamp", iso_time(result.start_ms));
  j.member("platform", platform_name());
  j.member("os", platform::runtime_description());
  write_parameters(j, options, result);
  write_results(j, options, result);
  write_latency(j, options, result);
  write_errors(j, result.totals);
  write_loadgen_process(j, options, result);
  write_server(j, options, result);
  write_slo(j, slo);
  const std::string_view why = incomplete_reason(result);
  j.member("interrupted", result.interrupted);
  j.member("complete", why.empty());
  member_if(j, "incomplete_reason", !why.empty(), std::string(why));
  j.key("failures").begin_array();
  for (const std::string& f : result.failures)
    j.value(f);
  j.end_array();
  j.member("exit_code", exit_code);
  j.end_object();
}

}  // namespace wsb::loadgen
