#include "report.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

#include "hdr/output.hpp"
#include "platform/duration.hpp"
#include "report/csv.hpp"

#ifndef WSB_VERSION
#error "WSB_VERSION must be defined by the build (the project version)"
#endif

namespace wsb::loadgen {

namespace {

std::string fixed(double v, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

std::string us(std::int64_t ns) {
  return fixed(static_cast<double>(ns) / 1e3, 3);
}
std::string us(double ns) {
  return fixed(ns / 1e3, 3);
}

std::string seconds_text(std::chrono::nanoseconds d) {
  return fixed(static_cast<double>(d.count()) / 1e9, 3);
}

// "2024-05-01T12:34:56.789Z", through the C++20 calendar (no gmtime_r /
// gmtime_s split between platforms).
std::string iso_time(std::int64_t ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> tp{milliseconds(ms)};
  const auto day = floor<days>(tp);
  const year_month_day ymd(day);
  const hh_mm_ss<milliseconds> hms(tp - day);
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buffer;
}

double per_second(std::uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

constexpr std::array<double, 7> kSpectrum{50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0};

// The latency columns of one histogram: min, p50, p90, p99, p99.9, p99.99,
// max, mean, stddev, in microseconds.
std::vector<std::string> latency_fields(const hdr::Histogram& h) {
  if (h.total_count() == 0) return std::vector<std::string>(9);
  return {us(h.min()),
          us(h.value_at_percentile(50.0)),
          us(h.value_at_percentile(90.0)),
          us(h.value_at_percentile(99.0)),
          us(h.value_at_percentile(99.9)),
          us(h.value_at_percentile(99.99)),
          us(h.max()),
          us(h.mean()),
          us(h.stddev())};
}
constexpr std::array<const char*, 9> kLatencySuffixes{"min_us", "p50_us",  "p90_us",
                                                      "p99_us", "p999_us", "p9999_us",
                                                      "max_us", "mean_us", "stddev_us"};

}  // namespace

std::string platform_kind() {
  return platform::running_under_wine() ? "wine" : "native";
}

std::string format_latency(std::int64_t ns) {
  const double v = static_cast<double>(ns);
  auto three = [](double x, const char* unit) {
    const int decimals = x >= 100 ? 0 : x >= 10 ? 1 : 2;
    return fixed(x, decimals) + unit;
  };
  if (ns < 1000) return std::to_string(ns) + "ns";
  if (v < 999.5e3) return three(v / 1e3, "us");
  if (v < 999.5e6) return three(v / 1e6, "ms");
  return three(v / 1e9, "s");
}

std::vector<SloVerdict> evaluate_slo(const std::vector<SloTerm>& terms,
                                     const hdr::Histogram& latency) {
  std::vector<SloVerdict> out;
  for (const SloTerm& term : terms) {
    SloVerdict v;
    v.term = term;
    switch (term.metric) {
      case SloTerm::Metric::percentile:
        v.measured_ns = latency.value_at_percentile(term.percentile);
        break;
      case SloTerm::Metric::max:
        v.measured_ns = latency.max();
        break;
      case SloTerm::Metric::mean:
        v.measured_ns = std::llround(latency.mean());
        break;
    }
    // An empty histogram meets no objective: nothing was answered.
    v.passed = latency.total_count() > 0 && v.measured_ns <= term.limit.count();
    out.push_back(std::move(v));
  }
  return out;
}

std::string_view incomplete_reason(const RunResult& result) noexcept {
  if (result.server_died) return "server_died";
  if (result.target_lost) return result.never_connected ? "target_refused" : "target_lost";
  if (!result.failures.empty()) return "worker_failed";
  if (result.interrupted) return "interrupted";
  return "";
}

int exit_code(const Options& options, const RunResult& result, const std::vector<SloVerdict>& slo) {
  if (result.server_died || result.target_lost) return kExitServerFailed;
  if (!result.failures.empty()) return kExitErrors;
  if (result.totals.errors_total() > options.max_errors) return kExitErrors;
  if (std::any_of(slo.begin(), slo.end(), [](const SloVerdict& v) { return !v.passed; })) {
    return kExitSlo;
  }
  return kExitOk;
}

double rate_shortfall_percent(const Options& options, const RunResult& result) {
  if (options.mode != Mode::open || result.seconds <= 0) return 0.0;
  const double achieved = per_second(result.totals.requests, result.seconds);
  return std::max(0.0, 100.0 * (options.rate - achieved) / options.rate);
}

// ---- Text -------------------------------------------------------------------------

std::string live_line(const IntervalReport& interval, Mode mode) {
  const double length = interval.end_s - interval.start_s;
  const hdr::Histogram& h = (*interval.histograms)[Series::latency];
  char buffer[256];
  if (mode == Mode::hold) {
    std::snprintf(
        buffer, sizeof buffer, "[%7.1fs] conns %llu connects/s %.0f connect p99 %s errors %llu",
        interval.end_s, static_cast<unsigned long long>(interval.open_connections),
        per_second(interval.delta.connects, length),
        format_latency((*interval.histograms)[Series::connect].value_at_percentile(99.0)).c_str(),
        static_cast<unsigned long long>(interval.delta.errors_total()));
  } else {
    std::snprintf(buffer, sizeof buffer,
                  "[%7.1fs] conns %llu req/s %.0f p50 %s p99 %s errors %llu%s", interval.end_s,
                  static_cast<unsigned long long>(interval.open_connections),
                  per_second(interval.delta.responses, length),
                  format_latency(h.value_at_percentile(50.0)).c_str(),
                  format_latency(h.value_at_percentile(99.0)).c_str(),
                  static_cast<unsigned long long>(interval.delta.errors_total()),
                  interval.phase == Phase::warmup ? " (warmup)" : "");
  }
  return buffer;
}

namespace {

void append_histogram_text(std::ostringstream& out, const char* title, const hdr::Histogram& h) {
  out << "  " << title << " (" << h.total_count() << " samples)\n";
  if (h.total_count() == 0) {
    out << "    none\n";
    return;
  }
  char buffer[200];
  std::snprintf(buffer, sizeof buffer, "    %-10s %-10s %-10s %-10s\n", "min", "mean", "stddev",
                "max");
  out << buffer;
  std::snprintf(buffer, sizeof buffer, "    %-10s %-10s %-10s %-10s\n",
                format_latency(h.min()).c_str(), format_latency(std::llround(h.mean())).c_str(),
                format_latency(std::llround(h.stddev())).c_str(), format_latency(h.max()).c_str());
  out << buffer;
  out << "    percentiles:";
  for (const double p : kSpectrum) {
    std::snprintf(buffer, sizeof buffer, " %g%% %s", p,
                  format_latency(h.value_at_percentile(p)).c_str());
    out << buffer;
  }
  out << "\n";
}

}  // namespace

std::string summary_text(const Options& options, const RunResult& result,
                         const std::vector<SloVerdict>& slo) {
  std::ostringstream out;
  const Counters& t = result.totals;
  out << "loadgen " << WSB_VERSION << ": " << name(options.mode) << " run against "
      << net::to_string(result.target) << " (" << proto::name(options.protocol) << ", engine "
      << result.engine << ", " << platform_kind() << ")\n";
  out << "  " << result.threads << " threads, " << options.connections << " connections";
  switch (options.mode) {
    case Mode::closed:
      out << ", pipeline " << options.pipeline;
      if (options.think.count() > 0) out << ", think " << platform::format_duration(options.think);
      break;
    case Mode::open:
      out << ", rate " << fixed(options.rate, options.rate < 10 ? 2 : 0) << " req/s, pipeline "
          << options.pipeline;
      break;
    case Mode::churn:
      out << ", " << options.churn << " requests per connection";
      break;
    case Mode::hold:
      break;
  }
  if (options.warmup.count() > 0) out << ", warmup " << platform::format_duration(options.warmup);
  out << "\n";

  if (options.mode != Mode::hold) {
    append_histogram_text(
        out,
        options.mode == Mode::open ? "Latency, corrected (from intended send times)" : "Latency",
        result.histograms[Series::latency]);
    if (options.mode == Mode::open) {
      append_histogram_text(out, "Latency, uncorrected (from actual send times)",
                            result.histograms[Series::uncorrected]);
    }
  }
  append_histogram_text(out, "Connect time", result.histograms[Series::connect]);

  char buffer[256];
  if (options.mode != Mode::hold) {
    std::snprintf(buffer, sizeof buffer,
                  "  %llu requests, %llu responses in %.2fs, %.2f MB sent, %.2f MB received\n",
                  static_cast<unsigned long long>(t.requests),
                  static_cast<unsigned long long>(t.responses), result.seconds,
                  static_cast<double>(t.bytes_out) / 1e6, static_cast<double>(t.bytes_in) / 1e6);
    out << buffer;
    std::snprintf(
        buffer, sizeof buffer, "  Requests/sec: %.2f\n  Transfer/sec: %.2f MB out, %.2f MB in\n",
        per_second(t.responses, result.seconds), per_second(t.bytes_out, result.seconds) / 1e6,
        per_second(t.bytes_in, result.seconds) / 1e6);
    out << buffer;
    if (t.requests_failed + result.unfinished > 0) {
      out << "  Requests lost with failed connections: " << t.requests_failed
          << ", unanswered at the end: " << result.unfinished << "\n";
    }
    if (options.mode == Mode::open) {
      const double shortfall = rate_shortfall_percent(options, result);
      std::snprintf(buffer, sizeof buffer, "  Rate: requested %.2f/s, achieved %.2f/s%s\n",
                    options.rate, per_second(t.requests, result.seconds),
                    shortfall > 1.0 ? " (SHORT by more than 1%)" : "");
      out << buffer;
    }
    if (options.mode == Mode::churn) {
      out << "  Connections closed after " << options.churn << " requests: " << t.churn_closes
          << "\n";
    }
  } else {
    out << "  Established " << result.established << " of " << options.connections
        << " connections";
    if (result.establish_s) out << " in " << fixed(*result.establish_s, 3) << "s";
    out << "\n";
    out << "  loadgen resident memory with all connections open: "
        << fixed(static_cast<double>(result.loadgen_memory_held_bytes) / 1e6, 1) << " MB\n";
  }
  out << "  Connects: " << t.connects << " of " << t.connect_attempts << " attempts\n";
  out << "  Errors: " << t.errors_total();
  if (t.errors_total() > 0) {
    out << " (";
    bool first = true;
    for (std::size_t i = 0; i < kErrorKindCount; ++i) {
      if (t.errors[i] == 0) continue;
      out << (first ? "" : ", ") << name(ErrorKind(i)) << " " << t.errors[i];
      first = false;
    }
    out << ")";
  }
  out << "\n";
  std::snprintf(buffer, sizeof buffer, "  loadgen: cpu %.2fs user %.2fs sys, peak memory %.1f MB\n",
                result.self.user_cpu_seconds, result.self.system_cpu_seconds,
                static_cast<double>(result.self.peak_memory_bytes) / 1e6);
  out << buffer;
  if (result.server) {
    const ServerResult& s = *result.server;
    std::snprintf(buffer, sizeof buffer,
                  "  server %s%s: cpu %.2fs user %.2fs sys, peak memory %.1f MB, %llu threads, "
                  "stopped by %s\n",
                  s.model.c_str(), s.wine ? " (under Wine)" : "", s.cpu_user_s, s.cpu_system_s,
                  static_cast<double>(s.peak_memory_bytes) / 1e6,
                  static_cast<unsigned long long>(s.peak_threads), s.stopped_by.c_str());
    out << buffer;
    if (options.mode == Mode::hold && result.established > 0 && s.memory_held_bytes > 0) {
      const double per =
          (static_cast<double>(s.memory_held_bytes) - static_cast<double>(s.memory_before_bytes)) /
          static_cast<double>(result.established);
      out << "  server memory per held connection: " << fixed(per, 0) << " bytes (sampled "
          << (s.memory_held_by == "online" ? "when the server reported every connection online"
              : s.memory_held_by == "stable"
                  ? "when its memory had stopped growing for 1 s"
                  : "at the end of the hold: it never reported every connection online")
          << ")\n";
    }
    if (const auto requests = s.stat("requests")) {
      out << "  server counted " << *requests << " requests";
      if (const auto errors = s.stat("errors")) out << ", " << *errors << " errors";
      out << "\n";
    }
  }
  if (result.server_died) out << "  THE SERVER DIED DURING THE RUN: the report is partial\n";
  if (result.target_lost && !result.server_died) {
    out << (result.never_connected
                ? "  NOTHING ACCEPTED A CONNECTION at " + net::to_string(result.target) +
                      " (connection refused): the report is empty\n"
                : "  THE SERVER AT " + net::to_string(result.target) +
                      " WENT AWAY (connections ended, reconnects refused): the report is "
                      "partial\n");
  }
  if (const std::string_view why = incomplete_reason(result); !why.empty()) {
    out << "  INCOMPLETE (" << why << ")\n";
  }
  if (result.interrupted) out << "  Interrupted: the report covers the run until Ctrl-C\n";
  for (const std::string& f : result.failures)
    out << "  FAILED: " << f << "\n";
  for (const SloVerdict& v : slo) {
    out << "  SLO " << v.term.text << ": measured " << format_latency(v.measured_ns)
        << (v.passed ? " ok" : " FAILED") << "\n";
  }
  return out.str();
}

// ---- CSV ------------------------------------------------------------------------

namespace {

struct Column {
  std::string name;
  std::function<std::string()> value;
};

std::vector<Column> columns(const Options* o, const RunResult* r,
                            const std::vector<SloVerdict>* slo, int code) {
  // Built once with null pointers for the header: the lambdas are only
  // called for a row, where the pointers are set.
  std::vector<Column> c;
  auto add = [&](std::string name, std::function<std::string()> value) {
    c.push_back({std::move(name), std::move(value)});
  };
  auto num = [](auto v) { return std::to_string(v); };
  const Counters* t = r ? &r->totals : nullptr;
  const ServerResult* s = r && r->server ? &*r->server : nullptr;

  add("timestamp", [=] { return iso_time(r->start_ms); });
  add("tool", [] { return std::string("loadgen"); });
  add("version", [] { return std::string(WSB_VERSION); });
  add("platform", [] { return platform_kind(); });
  add("os", [] { return platform::runtime_description(); });
  add("label", [=] { return o->label; });
  add("target", [=] { return net::to_string(r->target); });
  add("protocol", [=] { return std::string(proto::name(o->protocol)); });
  add("mode", [=] { return std::string(name(o->mode)); });
  add("engine", [=] { return r->engine; });
  add("threads", [=] { return num(r->threads); });
  add("connections", [=] { return num(o->connections); });
  add("pipeline", [=] { return num(o->pipeline); });
  add("rate", [=] { return o->mode == Mode::open ? fixed(o->rate, 3) : std::string(); });
  add("churn", [=] { return num(o->churn); });
  add("think_s", [=] { return seconds_text(o->think); });
  add("spin_s", [=] { return seconds_text(o->spin); });
  add("connect_rate", [=] { return fixed(o->connect_rate, 3); });
  add("warmup_s", [=] { return seconds_text(o->warmup); });
  add("duration_s", [=] { return seconds_text(o->duration); });
  add("requests_limit", [=] { return num(o->requests); });
  add("size_min", [=] { return num(o->size.min); });
  add("size_max", [=] { return num(o->size.max); });
  add("timeout_s", [=] { return seconds_text(o->timeout); });
  add("connect_timeout_s", [=] { return seconds_text(o->connect_timeout); });
  add("sources", [=] { return num(o->sources.size()); });
  add("http_path",
      [=] { return o->protocol == proto::Protocol::http ? o->http_path : std::string(); });
  add("any_body", [=] { return std::string(o->any_body ? "1" : "0"); });
  add("seed", [=] { return num(o->seed); });

  add("elapsed_s", [=] { return fixed(r->seconds, 3); });
  add("requests", [=] { return num(t->requests); });
  add("responses", [=] { return num(t->responses); });
  add("requests_failed", [=] { return num(t->requests_failed); });
  add("unfinished", [=] { return num(r->unfinished); });
  add("bytes_out", [=] { return num(t->bytes_out); });
  add("bytes_in", [=] { return num(t->bytes_in); });
  add("requests_per_s", [=] { return fixed(per_second(t->responses, r->seconds), 2); });
  add("tx_mb_per_s", [=] { return fixed(per_second(t->bytes_out, r->seconds) / 1e6, 3); });
  add("rx_mb_per_s", [=] { return fixed(per_second(t->bytes_in, r->seconds) / 1e6, 3); });
  add("rate_achieved", [=] {
    return o->mode == Mode::open ? fixed(per_second(t->requests, r->seconds), 2) : std::string();
  });
  add("rate_shortfall_pct", [=] {
    return o->mode == Mode::open ? fixed(rate_shortfall_percent(*o, *r), 2) : std::string();
  });
  add("errors", [=] { return num(t->errors_total()); });
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    add("errors_" + std::string(name(ErrorKind(i))), [=] { return num(t->errors[i]); });
  }
  add("connect_attempts", [=] { return num(t->connect_attempts); });
  add("connects", [=] { return num(t->connects); });
  add("churn_closes", [=] { return num(t->churn_closes); });
  for (std::size_t i = 0; i < kLatencySuffixes.size(); ++i) {
    add(std::string("latency_") + kLatencySuffixes[i], [=] {
      return o->mode == Mode::hold ? std::string()
                                   : latency_fields(r->histograms[Series::latency])[i];
    });
  }
  for (std::size_t i = 0; i < kLatencySuffixes.size(); ++i) {
    add(std::string("uncorrected_") + kLatencySuffixes[i], [=] {
      return o->mode == Mode::open ? latency_fields(r->histograms[Series::uncorrected])[i]
                                   : std::string();
    });
  }
  add("connect_p50_us", [=] {
    const hdr::Histogram& h = r->histograms[Series::connect];
    return h.total_count() ? us(h.value_at_percentile(50.0)) : std::string();
  });
  add("connect_p99_us", [=] {
    const hdr::Histogram& h = r->histograms[Series::connect];
    return h.total_count() ? us(h.value_at_percentile(99.0)) : std::string();
  });
  add("connect_max_us", [=] {
    const hdr::Histogram& h = r->histograms[Series::connect];
    return h.total_count() ? us(h.max()) : std::string();
  });
  add("established", [=] { return o->mode == Mode::hold ? num(r->established) : std::string(); });
  add("establish_s", [=] {
    return o->mode == Mode::hold && r->establish_s ? fixed(*r->establish_s, 3) : std::string();
  });
  add("loadgen_cpu_user_s", [=] { return fixed(r->self.user_cpu_seconds, 3); });
  add("loadgen_cpu_system_s", [=] { return fixed(r->self.system_cpu_seconds, 3); });
  add("loadgen_peak_rss_bytes", [=] { return num(r->self.peak_memory_bytes); });
  add("loadgen_held_rss_bytes",
      [=] { return o->mode == Mode::hold ? num(r->loadgen_memory_held_bytes) : std::string(); });
  auto server = [&](std::string name, std::function<std::string(const ServerResult&)> f) {
    add(std::move(name), [=] { return s ? f(*s) : std::string(); });
  };
  server("server_model", [](const ServerResult& x) { return x.model; });
  server("server_program", [](const ServerResult& x) { return x.program; });
  server("server_platform",
         [](const ServerResult& x) { return std::string(x.wine ? "wine" : "native"); });
  server("server_cpu_user_s", [](const ServerResult& x) { return fixed(x.cpu_user_s, 3); });
  server("server_cpu_system_s", [](const ServerResult& x) { return fixed(x.cpu_system_s, 3); });
  server("server_peak_rss_bytes",
         [](const ServerResult& x) { return std::to_string(x.peak_memory_bytes); });
  server("server_threads", [](const ServerResult& x) { return std::to_string(x.peak_threads); });
  server("server_rss_before_bytes",
         [](const ServerResult& x) { return std::to_string(x.memory_before_bytes); });
  server("server_rss_held_bytes", [=](const ServerResult& x) {
    return o->mode == Mode::hold ? std::to_string(x.memory_held_bytes) : std::string();
  });
  server("server_rss_held_by", [=](const ServerResult& x) {
    return o->mode == Mode::hold ? x.memory_held_by : std::string();
  });
  server("server_bytes_per_connection", [=](const ServerResult& x) {
    if (o->mode != Mode::hold || r->established == 0 || x.memory_held_bytes == 0)
      return std::string();
    return fixed(
        (static_cast<double>(x.memory_held_bytes) - static_cast<double>(x.memory_before_bytes)) /
            static_cast<double>(r->established),
        0);
  });
  server("server_requests", [](const ServerResult& x) { return x.stat("requests").value_or(""); });
  server("server_errors", [](const ServerResult& x) { return x.stat("errors").value_or(""); });
  server("server_stop",
         [](const ServerResult& x) { return x.died ? std::string("died") : x.stopped_by; });
  add("slo", [=] { return o->slo_text; });
  add("slo_passed", [=] {
    if (slo->empty()) return std::string();
    return std::string(
        std::all_of(slo->begin(), slo->end(), [](const SloVerdict& v) { return v.passed; }) ? "1"
                                                                                            : "0");
  });
  add("interrupted", [=] { return std::string(r->interrupted ? "1" : "0"); });
  add("complete", [=] { return std::string(incomplete_reason(*r).empty() ? "1" : "0"); });
  add("incomplete_reason", [=] { return std::string(incomplete_reason(*r)); });
  add("exit_code", [=] { return num(code); });
  return c;
}

}  // namespace

std::vector<std::string> csv_header() {
  std::vector<std::string> names;
  for (const Column& c : columns(nullptr, nullptr, nullptr, 0))
    names.push_back(c.name);
  return names;
}

std::vector<std::string> csv_row(const Options& options, const RunResult& result,
                                 const std::vector<SloVerdict>& slo, int code) {
  std::vector<std::string> values;
  for (const Column& c : columns(&options, &result, &slo, code))
    values.push_back(c.value());
  return values;
}

void check_csv_file(const std::string& path) {
  const std::string problem = report::check_csv_file(path, csv_header());
  if (!problem.empty()) throw std::runtime_error("--csv " + path + " " + problem);
}

std::vector<std::string> interval_csv_header() {
  std::vector<std::string> h{"time_s",      "phase",     "interval_s",     "connections",
                             "requests",    "responses", "requests_per_s", "tx_mb_per_s",
                             "rx_mb_per_s", "errors",    "connects"};
  for (const char* s : kLatencySuffixes)
    h.push_back(std::string("latency_") + s);
  for (const char* s : kLatencySuffixes)
    h.push_back(std::string("uncorrected_") + s);
  h.push_back("connect_p50_us");
  h.push_back("connect_p99_us");
  h.push_back("connect_max_us");
  return h;
}

std::vector<std::string> interval_csv_row(const IntervalReport& iv) {
  const double length = iv.end_s - iv.start_s;
  const Counters& d = iv.delta;
  std::vector<std::string> row{fixed(iv.end_s, 3),
                               iv.phase == Phase::warmup ? "warmup" : "measure",
                               fixed(length, 3),
                               std::to_string(iv.open_connections),
                               std::to_string(d.requests),
                               std::to_string(d.responses),
                               fixed(per_second(d.responses, length), 2),
                               fixed(per_second(d.bytes_out, length) / 1e6, 3),
                               fixed(per_second(d.bytes_in, length) / 1e6, 3),
                               std::to_string(d.errors_total()),
                               std::to_string(d.connects)};
  for (auto& f : latency_fields((*iv.histograms)[Series::latency]))
    row.push_back(std::move(f));
  for (auto& f : latency_fields((*iv.histograms)[Series::uncorrected]))
    row.push_back(std::move(f));
  const hdr::Histogram& c = (*iv.histograms)[Series::connect];
  row.push_back(c.total_count() ? us(c.value_at_percentile(50.0)) : "");
  row.push_back(c.total_count() ? us(c.value_at_percentile(99.0)) : "");
  row.push_back(c.total_count() ? us(c.max()) : "");
  return row;
}

// ---- Interval files ---------------------------------------------------------------

struct IntervalOutputs::Impl {
  std::ofstream intervals;
  std::unique_ptr<report::CsvWriter> intervals_csv;
  std::ofstream hlog;
  std::unique_ptr<hdr::LogWriter> hlog_writer;
  std::string intervals_path, hlog_path;
};

IntervalOutputs::IntervalOutputs(const Options& options, std::int64_t start_ms)
    : impl_(std::make_unique<Impl>()) {
  if (!options.intervals.empty()) {
    impl_->intervals_path = options.intervals;
    impl_->intervals.open(options.intervals, std::ios::binary | std::ios::trunc);
    if (!impl_->intervals)
      throw std::runtime_error("--intervals: cannot write " + options.intervals);
    impl_->intervals_csv = std::make_unique<report::CsvWriter>(impl_->intervals);
    for (const std::string& h : interval_csv_header())
      impl_->intervals_csv->field(h);
    impl_->intervals_csv->end_row();
  }
  if (!options.hlog.empty()) {
    impl_->hlog_path = options.hlog;
    impl_->hlog.open(options.hlog, std::ios::binary | std::ios::trunc);
    if (!impl_->hlog) throw std::runtime_error("--hlog: cannot write " + options.hlog);
    impl_->hlog_writer = std::make_unique<hdr::LogWriter>(impl_->hlog);
    impl_->hlog_writer->write_comment(std::string("[Logged with loadgen ") + WSB_VERSION + "]");
    impl_->hlog_writer->write_header(start_ms, start_ms);
  }
}

IntervalOutputs::~IntervalOutputs() = default;

void IntervalOutputs::write(const IntervalReport& interval, Mode mode) {
  if (impl_->intervals_csv) {
    for (const std::string& f : interval_csv_row(interval))
      impl_->intervals_csv->field(f);
    impl_->intervals_csv->end_row();
    impl_->intervals.flush();
  }
  if (impl_->hlog_writer && interval.phase != Phase::warmup) {
    const double start =
        static_cast<double>(interval.start_ms - impl_->hlog_writer->base_time_ms()) / 1e3;
    const double end =
        static_cast<double>(interval.end_ms - impl_->hlog_writer->base_time_ms()) / 1e3;
    if (mode != Mode::hold) {
      impl_->hlog_writer->write_interval(start, end, (*interval.histograms)[Series::latency]);
    }
    if (mode == Mode::open) {
      impl_->hlog_writer->write_interval(start, end, (*interval.histograms)[Series::uncorrected]);
    }
    impl_->hlog_writer->write_interval(start, end, (*interval.histograms)[Series::connect]);
    impl_->hlog.flush();
  }
}

void IntervalOutputs::close() {
  if (impl_->intervals.is_open()) {
    impl_->intervals.close();
    if (!impl_->intervals)
      throw std::runtime_error("--intervals: writing " + impl_->intervals_path + " failed");
  }
  if (impl_->hlog.is_open()) {
    impl_->hlog.close();
    if (!impl_->hlog) throw std::runtime_error("--hlog: writing " + impl_->hlog_path + " failed");
  }
}

void write_hgrm(const std::string& path, const RunResult& result, Mode mode) {
  hdr::DistributionOptions ms;
  ms.value_unit_scaling_ratio = 1e6;
  auto write = [&](const std::filesystem::path& p, const hdr::Histogram& h) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("--hgrm: cannot write " + p.string());
    hdr::write_percentile_distribution(out, h, ms);
    out.close();
    if (!out) throw std::runtime_error("--hgrm: writing " + p.string() + " failed");
  };
  const Series main = mode == Mode::hold ? Series::connect : Series::latency;
  write(path, result.histograms[main]);
  if (mode == Mode::open) {
    std::filesystem::path p(path);
    std::filesystem::path other =
        p.parent_path() / (p.stem().string() + ".uncorrected" + p.extension().string());
    write(other, result.histograms[Series::uncorrected]);
  }
}

}  // namespace wsb::loadgen
