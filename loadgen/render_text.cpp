#include "render_text.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "affinity.hpp"
#include "platform/duration.hpp"
#include "render_common.hpp"

#ifndef WSB_VERSION
#error "WSB_VERSION must be defined by the build (the project version)"
#endif

namespace wsb::loadgen {

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

// The run's shape: target, protocol, engine, threads, connections, mode.
void append_setup(std::ostringstream& out, const Options& options, const RunResult& result) {
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
}

void append_histograms(std::ostringstream& out, const Options& options, const RunResult& result) {
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
}

// Requests, rates and errors (a hold run: what was established instead).
void append_counts(std::ostringstream& out, const Options& options, const RunResult& result) {
  const Counters& t = result.totals;
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
}

// CPU and memory of loadgen and of the spawned server.
// Context switches per response, and the CPU sets, when there are any.
void append_mechanisms(std::ostringstream& out, const Options& options, const RunResult& result) {
  const ServerResult* s = result.server ? &*result.server : nullptr;
  auto per = [&result](std::uint64_t n) {
    return result.totals.responses == 0
               ? std::string("-")
               : fixed(static_cast<double>(n) / static_cast<double>(result.totals.responses), 3);
  };
  if (result.self_context_switches || (s && s->context_switches)) {
    out << "  context switches per response:";
    if (result.self_context_switches) out << " loadgen " << per(*result.self_context_switches);
    if (s && s->context_switches) out << " server " << per(*s->context_switches);
    out << " (over each process's life)\n";
  }
  if (!options.loadgen_cpus.empty() || !options.server_cpus.empty()) {
    out << "  pinned: loadgen to CPUs " << to_string_cpus(options.loadgen_cpus)
        << ", server to CPUs " << to_string_cpus(options.server_cpus) << "\n";
    if (s && !s->wineserver_pinning.empty())
      out << "  wineserver: " << s->wineserver_pinning << "\n";
  }
}

void append_processes(std::ostringstream& out, const Options& options, const RunResult& result) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, "  loadgen: cpu %.2fs user %.2fs sys, peak memory %.1f MB\n",
                result.self.user_cpu_seconds, result.self.system_cpu_seconds,
                static_cast<double>(result.self.peak_memory_bytes) / 1e6);
  out << buffer;
  append_mechanisms(out, options, result);
  if (result.server) {
    const ServerResult& s = *result.server;
    const std::string cpu =
        s.cpu_known ? fixed(s.cpu_user_s, 2) + "s user " + fixed(s.cpu_system_s, 2) + "s sys"
                    : std::string("unknown under Wine");
    std::snprintf(buffer, sizeof buffer,
                  "  server %s%s: cpu %s, peak memory %.1f MB, %llu threads, stopped by %s\n",
                  s.model.c_str(), s.wine ? " (under Wine)" : "", cpu.c_str(),
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
}

// How the run ended, when not as planned, and the SLO verdicts.
void append_verdicts(std::ostringstream& out, const RunResult& result,
                     const std::vector<SloVerdict>& slo) {
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
}

}  // namespace

std::string summary_text(const Options& options, const RunResult& result,
                         const std::vector<SloVerdict>& slo) {
  std::ostringstream out;
  append_setup(out, options, result);
  append_histograms(out, options, result);
  append_counts(out, options, result);
  append_processes(out, options, result);
  append_verdicts(out, result, slo);
  return out.str();
}

}  // namespace wsb::loadgen
