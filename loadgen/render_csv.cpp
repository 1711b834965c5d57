#include "render_csv.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "affinity.hpp"
#include "platform/process.hpp"
#include "render_common.hpp"
#include "report/csv.hpp"

#ifndef WSB_VERSION
#error "WSB_VERSION must be defined by the build (the project version)"
#endif

namespace wsb::loadgen {

namespace {

struct Column {
  std::string name;
  std::function<std::string()> value;
};

// The columns, built once with null pointers for the header: the lambdas
// are only called for a row, where the pointers are set. Each group below
// appends its columns in the order of results/README.md.
struct Columns {
  Columns(const Options* options, const RunResult* result, const std::vector<SloVerdict>* verdicts,
          int exit_code, CapacityRow capacity_row = {})
      : cap(capacity_row),
        o(options),
        r(result),
        slo(verdicts),
        code(exit_code),
        t(result ? &result->totals : nullptr),
        s(result && result->server ? &*result->server : nullptr) {}

  CapacityRow cap;
  const Options* o;
  const RunResult* r;
  const std::vector<SloVerdict>* slo;
  int code;
  const Counters* t;
  const ServerResult* s;
  std::vector<Column> list;

  void add(std::string name, std::function<std::string()> value) {
    list.push_back({std::move(name), std::move(value)});
  }
  static std::string num(auto v) { return std::to_string(v); }

  void parameters() {
    add("timestamp", [this] { return iso_time(r->start_ms); });
    add("tool", [] { return std::string("loadgen"); });
    add("version", [] { return std::string(WSB_VERSION); });
    add("platform", [] { return platform_kind(); });
    add("os", [] { return platform::runtime_description(); });
    add("label", [this] { return o->label; });
    add("target", [this] { return net::to_string(r->target); });
    add("protocol", [this] { return std::string(proto::name(o->protocol)); });
    add("mode", [this] { return std::string(name(o->mode)); });
    add("engine", [this] { return r->engine; });
    add("threads", [this] { return num(r->threads); });
    add("connections", [this] { return num(o->connections); });
    add("pipeline", [this] { return num(o->pipeline); });
    add("rate", [this] { return o->mode == Mode::open ? fixed(o->rate, 3) : std::string(); });
    add("churn", [this] { return num(o->churn); });
    add("think_s", [this] { return seconds_text(o->think); });
    add("spin_s", [this] { return seconds_text(o->spin); });
    add("connect_rate", [this] { return fixed(o->connect_rate, 3); });
    add("warmup_s", [this] { return seconds_text(o->warmup); });
    add("duration_s", [this] { return seconds_text(o->duration); });
    add("requests_limit", [this] { return num(o->requests); });
    add("size_min", [this] { return num(o->size.min); });
    add("size_max", [this] { return num(o->size.max); });
    add("timeout_s", [this] { return seconds_text(o->timeout); });
    add("connect_timeout_s", [this] { return seconds_text(o->connect_timeout); });
    add("sources", [this] { return num(o->sources.size()); });
    add("http_path",
        [this] { return o->protocol == proto::Protocol::http ? o->http_path : std::string(); });
    add("any_body", [this] { return std::string(o->any_body ? "1" : "0"); });
    add("seed", [this] { return num(o->seed); });
  }

  void results() {
    add("elapsed_s", [this] { return fixed(r->seconds, 3); });
    add("requests", [this] { return num(t->requests); });
    add("responses", [this] { return num(t->responses); });
    add("requests_failed", [this] { return num(t->requests_failed); });
    add("unfinished", [this] { return num(r->unfinished); });
    add("bytes_out", [this] { return num(t->bytes_out); });
    add("bytes_in", [this] { return num(t->bytes_in); });
    add("requests_per_s", [this] { return fixed(per_second(t->responses, r->seconds), 2); });
    add("tx_mb_per_s", [this] { return fixed(per_second(t->bytes_out, r->seconds) / 1e6, 3); });
    add("rx_mb_per_s", [this] { return fixed(per_second(t->bytes_in, r->seconds) / 1e6, 3); });
    add("rate_achieved", [this] {
      return o->mode == Mode::open ? fixed(per_second(t->requests, r->seconds), 2) : std::string();
    });
    add("rate_shortfall_pct", [this] {
      return o->mode == Mode::open ? fixed(rate_shortfall_percent(*o, *r), 2) : std::string();
    });
    add("errors", [this] { return num(t->errors_total()); });
    for (std::size_t i = 0; i < kErrorKindCount; ++i) {
      add("errors_" + std::string(name(ErrorKind(i))), [this, i] { return num(t->errors[i]); });
    }
    add("connect_attempts", [this] { return num(t->connect_attempts); });
    add("connects", [this] { return num(t->connects); });
    add("churn_closes", [this] { return num(t->churn_closes); });
  }

  void latencies() {
    for (std::size_t i = 0; i < kLatencySuffixes.size(); ++i) {
      add(std::string("latency_") + kLatencySuffixes[i], [this, i] {
        return o->mode == Mode::hold ? std::string()
                                     : latency_fields(r->histograms[Series::latency])[i];
      });
    }
    for (std::size_t i = 0; i < kLatencySuffixes.size(); ++i) {
      add(std::string("uncorrected_") + kLatencySuffixes[i], [this, i] {
        return o->mode == Mode::open ? latency_fields(r->histograms[Series::uncorrected])[i]
                                     : std::string();
      });
    }
    add("connect_p50_us", [this] {
      const hdr::Histogram& h = r->histograms[Series::connect];
      return h.total_count() ? us(h.value_at_percentile(50.0)) : std::string();
    });
    add("connect_p99_us", [this] {
      const hdr::Histogram& h = r->histograms[Series::connect];
      return h.total_count() ? us(h.value_at_percentile(99.0)) : std::string();
    });
    add("connect_max_us", [this] {
      const hdr::Histogram& h = r->histograms[Series::connect];
      return h.total_count() ? us(h.max()) : std::string();
    });
    add("established",
        [this] { return o->mode == Mode::hold ? num(r->established) : std::string(); });
    add("establish_s", [this] {
      return o->mode == Mode::hold && r->establish_s ? fixed(*r->establish_s, 3) : std::string();
    });
  }

  void processes() {
    add("loadgen_cpu_user_s", [this] { return fixed(r->self.user_cpu_seconds, 3); });
    add("loadgen_cpu_system_s", [this] { return fixed(r->self.system_cpu_seconds, 3); });
    add("loadgen_peak_rss_bytes", [this] { return num(r->self.peak_memory_bytes); });
    add("loadgen_held_rss_bytes", [this] {
      return o->mode == Mode::hold ? num(r->loadgen_memory_held_bytes) : std::string();
    });
  }

  void server() {
    auto server = [this](std::string name, std::function<std::string(const ServerResult&)> f) {
      add(std::move(name), [this, f] { return s ? f(*s) : std::string(); });
    };
    server("server_model", [](const ServerResult& x) { return x.model; });
    server("server_program", [](const ServerResult& x) { return x.program; });
    server("server_platform",
           [](const ServerResult& x) { return std::string(x.wine ? "wine" : "native"); });
    // Empty when the platform cannot tell them (ServerResult::cpu_known).
    server("server_cpu_user_s", [](const ServerResult& x) {
      return x.cpu_known ? fixed(x.cpu_user_s, 3) : std::string();
    });
    server("server_cpu_system_s", [](const ServerResult& x) {
      return x.cpu_known ? fixed(x.cpu_system_s, 3) : std::string();
    });
    server("server_peak_rss_bytes",
           [](const ServerResult& x) { return std::to_string(x.peak_memory_bytes); });
    server("server_threads", [](const ServerResult& x) { return std::to_string(x.peak_threads); });
    server("server_rss_before_bytes",
           [](const ServerResult& x) { return std::to_string(x.memory_before_bytes); });
    server("server_rss_held_bytes", [this](const ServerResult& x) {
      return o->mode == Mode::hold ? std::to_string(x.memory_held_bytes) : std::string();
    });
    server("server_rss_held_by", [this](const ServerResult& x) {
      return o->mode == Mode::hold ? x.memory_held_by : std::string();
    });
    server("server_bytes_per_connection", [this](const ServerResult& x) {
      if (o->mode != Mode::hold || r->established == 0 || x.memory_held_bytes == 0)
        return std::string();
      return fixed(
          (static_cast<double>(x.memory_held_bytes) - static_cast<double>(x.memory_before_bytes)) /
              static_cast<double>(r->established),
          0);
    });
    server("server_requests",
           [](const ServerResult& x) { return x.stat("requests").value_or(""); });
    server("server_errors", [](const ServerResult& x) { return x.stat("errors").value_or(""); });
    server("server_stop",
           [](const ServerResult& x) { return x.died ? std::string("died") : x.stopped_by; });
  }

  void verdicts() {
    add("slo", [this] { return o->slo_text; });
    add("slo_passed", [this] {
      if (slo->empty()) return std::string();
      return std::string(
          std::all_of(slo->begin(), slo->end(), [](const SloVerdict& v) { return v.passed; })
              ? "1"
              : "0");
    });
    add("interrupted", [this] { return std::string(r->interrupted ? "1" : "0"); });
    add("complete", [this] { return std::string(incomplete_reason(*r).empty() ? "1" : "0"); });
    add("incomplete_reason", [this] { return std::string(incomplete_reason(*r)); });
    add("exit_code", [this] { return num(code); });
  }

  // Context switches over each process's life (like the CPU columns), and
  // per response of the measured window.
  void mechanisms() {
    auto per_response = [this](std::optional<std::uint64_t> n) {
      if (!n || t->responses == 0) return std::string();
      return fixed(static_cast<double>(*n) / static_cast<double>(t->responses), 3);
    };
    add("loadgen_context_switches", [this] {
      return r->self_context_switches ? num(*r->self_context_switches) : std::string();
    });
    add("loadgen_context_switches_per_response",
        [this, per_response] { return per_response(r->self_context_switches); });
    add("server_context_switches",
        [this] { return s && s->context_switches ? num(*s->context_switches) : std::string(); });
    add("server_context_switches_per_response",
        [this, per_response] { return s ? per_response(s->context_switches) : std::string(); });
  }

  void isolation() {
    add("loadgen_cpus", [this] { return to_string_cpus(o->loadgen_cpus); });
    add("server_cpus",
        [this] { return o->spawn.empty() ? std::string() : to_string_cpus(o->server_cpus); });
    add("wineserver_pinning", [this] { return s ? s->wineserver_pinning : std::string(); });
  }

  void capacity() {
    auto step = [this](std::string name, std::function<std::string(const CapacityStep&)> f) {
      add(std::move(name), [this, f] { return cap.step ? f(*cap.step) : std::string(); });
    };
    step("capacity_step", [](const CapacityStep& x) { return std::to_string(x.index); });
    step("capacity_phase", [](const CapacityStep& x) { return std::string(name(x.phase)); });
    step("capacity_step_passed",
         [](const CapacityStep& x) { return std::string(x.verdict.passed() ? "1" : "0"); });
    step("capacity_failed_by", [](const CapacityStep& x) { return x.verdict.failed_by(); });
    add("capacity", [this] {
      return cap.outcome && cap.outcome->capacity ? fixed(*cap.outcome->capacity, 2)
                                                  : std::string();
    });
    add("capacity_bound",
        [this] { return cap.outcome ? std::string(name(cap.outcome->bound)) : std::string(); });
  }
};

std::unique_ptr<Columns> columns(const Options* o, const RunResult* r,
                                 const std::vector<SloVerdict>* slo, int code,
                                 CapacityRow cap = {}) {
  // On the heap: the columns' lambdas hold its address.
  auto c = std::make_unique<Columns>(o, r, slo, code, cap);
  c->parameters();
  c->results();
  c->latencies();
  c->processes();
  c->server();
  c->verdicts();
  // Appended after the original columns, so that older readers that go by
  // position still find theirs.
  c->mechanisms();
  c->isolation();
  c->capacity();
  return c;
}

}  // namespace

std::vector<std::string> csv_header() {
  std::vector<std::string> names;
  const auto all = columns(nullptr, nullptr, nullptr, 0);
  for (const Column& c : all->list)
    names.push_back(c.name);
  return names;
}

std::vector<std::string> csv_row(const Options& options, const RunResult& result,
                                 const std::vector<SloVerdict>& slo, int code,
                                 const CapacityRow& capacity) {
  std::vector<std::string> values;
  const auto all = columns(&options, &result, &slo, code, capacity);
  for (const Column& c : all->list)
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

}  // namespace wsb::loadgen
