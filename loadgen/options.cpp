// The loadgen command line (CLI11) and its value parsers.
#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <iostream>
#include <limits>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "platform/duration.hpp"
#include "proto/client.hpp"

#ifndef WSB_VERSION
#error "WSB_VERSION must be defined by the build (the project version)"
#endif

namespace wsb::loadgen {

std::string_view name(Mode m) noexcept {
  switch (m) {
    case Mode::closed:
      return "closed";
    case Mode::open:
      return "open";
    case Mode::churn:
      return "churn";
    case Mode::hold:
      return "hold";
  }
  return "closed";
}

namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto at = s.find(separator);
    parts.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

std::optional<std::uint32_t> parse_u32_size(std::string_view text) {
  const auto v = platform::parse_size(trim(text));
  if (!v || *v > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return static_cast<std::uint32_t>(*v);
}

// IPv4 endpoint -> host-order address, and back. Endpoint hides sockaddr, so
// the conversion goes through the text form, which is exact for IPv4.
std::optional<std::uint32_t> ipv4_value(std::string_view literal) {
  const auto parts = split(literal, '.');
  if (parts.size() != 4) return std::nullopt;
  std::uint32_t value = 0;
  for (const std::string_view part : parts) {
    unsigned octet = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), octet);
    if (ec != std::errc() || end != part.data() + part.size() || part.empty() || octet > 255) {
      return std::nullopt;
    }
    value = value << 8 | octet;
  }
  return value;
}

std::string ipv4_text(std::uint32_t value) {
  return std::to_string(value >> 24) + "." + std::to_string(value >> 16 & 0xFF) + "." +
         std::to_string(value >> 8 & 0xFF) + "." + std::to_string(value & 0xFF);
}

}  // namespace

std::optional<SizeRange> parse_size_range(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) {
    const auto v = parse_u32_size(text);
    if (!v) return std::nullopt;
    return SizeRange{*v, *v};
  }
  const auto lo = parse_u32_size(text.substr(0, dash));
  const auto hi = parse_u32_size(text.substr(dash + 1));
  if (!lo || !hi || *lo > *hi) return std::nullopt;
  return SizeRange{*lo, *hi};
}

std::string to_string(const SizeRange& size) {
  if (size.min == size.max) return std::to_string(size.min);
  return std::to_string(size.min) + "-" + std::to_string(size.max);
}

std::optional<std::vector<net::Endpoint>> parse_source_list(std::string_view text,
                                                            std::string* error) {
  constexpr std::uint64_t kMaxAddresses = 65536;
  std::vector<net::Endpoint> out;
  auto fail = [&](std::string why) -> std::optional<std::vector<net::Endpoint>> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  if (trim(text).empty()) return fail("empty address list");
  for (std::string_view item : split(text, ',')) {
    item = trim(item);
    if (item.empty()) return fail("empty entry in the address list");
    // An IPv6 literal contains ':' and never '-', so a dash means an IPv4 range.
    const auto dash = item.find('-');
    if (dash == std::string_view::npos) {
      auto endpoint = net::parse_endpoint(item, 0);
      if (!endpoint) return fail("not an IPv4 or IPv6 address: " + std::string(item));
      out.push_back(*endpoint);
    } else {
      const std::string_view first_text = trim(item.substr(0, dash));
      const std::string_view last_text = trim(item.substr(dash + 1));
      const auto first = ipv4_value(first_text);
      const auto last = ipv4_value(last_text);
      if (!first || !last) {
        return fail("a range needs two IPv4 addresses (A.B.C.D-A.B.C.E): " + std::string(item));
      }
      if (*first > *last) return fail("range runs backwards: " + std::string(item));
      if (std::uint64_t{*last} - *first + 1 > kMaxAddresses) {
        return fail("range holds more than 65536 addresses: " + std::string(item));
      }
      for (std::uint64_t v = *first; v <= *last; ++v) {
        out.push_back(*net::parse_endpoint(ipv4_text(static_cast<std::uint32_t>(v)), 0));
      }
    }
    if (out.size() > kMaxAddresses) return fail("more than 65536 source addresses");
  }
  return out;
}

std::optional<std::vector<SloTerm>> parse_slo(std::string_view text, std::string* error) {
  std::vector<SloTerm> terms;
  auto fail = [&](std::string why) -> std::optional<std::vector<SloTerm>> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  if (trim(text).empty()) return fail("empty --slo");
  for (std::string_view item : split(text, ',')) {
    item = trim(item);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      return fail("not METRIC=DURATION (e.g. p99=5ms): " + std::string(item));
    }
    const std::string_view metric = trim(item.substr(0, eq));
    const auto limit = platform::parse_duration(trim(item.substr(eq + 1)));
    if (!limit) return fail("not a duration in " + std::string(item));
    SloTerm term;
    term.limit = *limit;
    term.text = std::string(item);
    if (metric == "max") {
      term.metric = SloTerm::Metric::max;
    } else if (metric == "mean") {
      term.metric = SloTerm::Metric::mean;
    } else if (metric.size() >= 2 && metric[0] == 'p') {
      const std::string_view digits = metric.substr(1);
      double p = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
      if (ec != std::errc() || end != digits.data() + digits.size() || !(p > 0.0) || p > 100.0) {
        return fail("percentile must be in (0, 100]: " + std::string(item));
      }
      term.metric = SloTerm::Metric::percentile;
      term.percentile = p;
    } else {
      return fail("unknown metric (use pNN, max or mean): " + std::string(item));
    }
    terms.push_back(std::move(term));
  }
  return terms;
}

namespace {

// CLI11 validators that accept what the parsers above accept.
CLI::Validator duration_validator(bool allow_zero) {
  return CLI::Validator(
      [allow_zero](std::string& text) -> std::string {
        const auto d = platform::parse_duration(text);
        if (!d) return "not a duration: " + text + " (e.g. 500ms, 3s, 2m)";
        if (!allow_zero && d->count() == 0) return "must be above zero";
        return {};
      },
      "DURATION");
}

std::chrono::nanoseconds duration_of(const std::string& text) {
  return *platform::parse_duration(text);
}

struct Texts {
  std::string protocol = "upper";
  std::string think = "0s", warmup = "0s", duration = "10s", timeout = "5s", connect_timeout = "5s",
              interval = "1s", spawn_timeout = "0s", spin = "50us";
  std::string size = "16";
  std::string expect_body;
  bool list_engines = false;
  bool version = false;
};

void build(CLI::App& app, Options& o, Texts& t) {
  app.description(
      "loadgen drives a server with request/response traffic and measures it: latency in\n"
      "HdrHistograms (nanoseconds), throughput, errors by class, CPU and memory.\n"
      "Modes: closed loop (default), open loop (--rate), churn (--churn), hold (--hold).\n"
      "Durations take units: 500ms, 3s, 2m, 250us (a bare number is seconds).");
  app.set_version_flag("--version", std::string("loadgen (wsbench ") + WSB_VERSION + ")");
  app.add_flag("--list-engines", t.list_engines, "List the engines of this build and exit");

  auto* target =
      app.add_option("--target", o.target_text, "Server address HOST:PORT (IPv6 in brackets)")
          ->capture_default_str()
          ->group("Target");
  app.add_option("--protocol", t.protocol, "Wire protocol: upper, echo or http")
      ->check(CLI::IsMember({"upper", "echo", "http"}))
      ->capture_default_str()
      ->group("Target");
  app.add_option("--http-path", o.http_path, "HTTP request path")
      ->capture_default_str()
      ->group("Target");
  app.add_option("--http-host", o.http_host, "HTTP Host header (default: the target HOST:PORT)")
      ->group("Target");
  auto* expect =
      app.add_option("--expect-body", t.expect_body,
                     "HTTP: the body every 200 response must carry (default: Hello, World!)")
          ->group("Target");
  auto* any = app.add_flag("--any-body", o.any_body,
                           "HTTP: accept any response body (nginx serving a file)")
                  ->group("Target");
  expect->excludes(any);
  auto* spawn =
      app.add_option("--spawn", o.spawn,
                     "Start this server and drive it: a model name (epoll -> server-epoll beside "
                     "loadgen; wine:iocp -> build/windows-cross/bin/server-iocp.exe under Wine; "
                     "native:NAME forces the native one) or a path. Arguments after -- go to it; "
                     "--port 0 and --protocol are added.")
          ->group("Target");
  app.add_option("--spawn-timeout", t.spawn_timeout,
                 "How long the spawned server may take to print its ready line "
                 "(default 10s, 60s under Wine)")
      ->check(duration_validator(true))
      ->needs(spawn)
      ->group("Target");
  app.add_option("server-args", o.spawn_args, "Arguments for the --spawn server (after --)")
      ->group("Target");
  target->excludes(spawn);

  app.add_option("--engine", o.engine,
                 "I/O engine (see --list-engines; default: the first that runs here, but "
                 "epoll for a closed-loop run with one connection per worker)")
      ->group("Engine");
  app.add_option("--spin", t.spin,
                 "With requests outstanding, poll this long without sleeping (yielding the "
                 "core to any other runnable thread) before sleeping until a reply; 0: sleep "
                 "at once. A sleeping worker costs the server a wake-up per reply.")
      ->check(duration_validator(true))
      ->capture_default_str()
      ->group("Engine");
  app.add_option("--threads", o.threads,
                 "Worker threads, each with its own engine and connections "
                 "(default: one per core)")
      ->check(CLI::Range(0, 1024))
      ->group("Engine");

  app.add_option("--connections,-c", o.connections, "Concurrent connections")
      ->check(CLI::Range(1U, 10'000'000U))
      ->capture_default_str()
      ->group("Workload");
  app.add_option("--pipeline", o.pipeline, "Requests in flight per connection")
      ->check(CLI::Range(1U, 1'000'000U))
      ->capture_default_str()
      ->group("Workload");
  app.add_option("--think", t.think, "Closed loop and churn: pause after each response")
      ->check(duration_validator(true))
      ->group("Workload");
  auto* rate = app.add_option("--rate,-R", o.rate,
                              "Open loop: requests per second in total, spread over the "
                              "connections' own evenly spaced schedules")
                   ->check(CLI::PositiveNumber)
                   ->group("Workload");
  auto* churn = app.add_option("--churn", o.churn,
                               "Churn: each connection makes K requests, closes, reconnects")
                    ->check(CLI::Range(1U, 4'000'000'000U))
                    ->group("Workload");
  auto* hold =
      app.add_flag("--hold", o.hold, "Hold: open the connections and keep them idle for --duration")
          ->group("Workload");
  rate->excludes(churn)->excludes(hold);
  churn->excludes(hold);
  app.add_option("--connect-rate", o.connect_rate,
                 "Connects per second in total, for the first connections and every "
                 "reconnect (default 0: unlimited)")
      ->check(CLI::NonNegativeNumber)
      ->group("Workload");
  app.add_option("--warmup", t.warmup, "Run this long before measuring (results exclude it)")
      ->check(duration_validator(true))
      ->group("Workload");
  app.add_option("--duration,-d", t.duration,
                 "Measured time after the warmup (0: until --requests or Ctrl-C)")
      ->check(duration_validator(true))
      ->capture_default_str()
      ->group("Workload");
  app.add_option("--requests,-n", o.requests,
                 "Stop after this many requests in total (after the warmup)")
      ->group("Workload");
  app.add_option("--size", t.size, "Request body bytes: N or MIN-MAX (upper, echo)")
      ->capture_default_str()
      ->group("Workload");
  app.add_option("--timeout", t.timeout,
                 "A response later than this is a request timeout; the connection is "
                 "closed and reopened")
      ->check(duration_validator(false))
      ->capture_default_str()
      ->group("Workload");
  app.add_option("--connect-timeout", t.connect_timeout, "Connect attempts give up after this")
      ->check(duration_validator(false))
      ->capture_default_str()
      ->group("Workload");
  app.add_option("--source", o.source_text,
                 "Local addresses to connect from, e.g. 127.0.0.1-127.0.0.16 or a,b,c "
                 "(each gives ~28K ephemeral ports)")
      ->group("Workload");
  app.add_option("--seed", o.seed, "Seed of the request payloads and sizes")
      ->capture_default_str()
      ->group("Workload");

  app.add_option("--interval", t.interval, "Reporting interval (live line, --intervals, --hlog)")
      ->check(duration_validator(false))
      ->capture_default_str()
      ->group("Output");
  app.add_flag("--quiet,-q", o.quiet, "No live line on stderr")->group("Output");
  app.add_option("--csv", o.csv, "Append one row for the run to this CSV file")->group("Output");
  app.add_option("--intervals", o.intervals, "Write one CSV row per interval to this file")
      ->group("Output");
  app.add_option("--hlog", o.hlog, "Write interval histograms to this .hlog file (format 1.3)")
      ->group("Output");
  app.add_option("--hgrm", o.hgrm, "Write the latency percentile distribution (.hgrm)")
      ->group("Output");
  app.add_option("--label", o.label, "Free text copied into the CSV row")->group("Output");
  app.add_option("--max-errors", o.max_errors, "Errors tolerated before the exit code becomes 1")
      ->capture_default_str()
      ->group("Output");
  app.add_option("--slo", o.slo_text,
                 "Latency objectives, e.g. p99=5ms,p99.9=20ms,max=1s,mean=2ms; exit 3 if missed")
      ->group("Output");
}

std::optional<std::string> finish(Options& o, const Texts& t,
                                  const std::vector<EngineName>& engines) {
  o.protocol = *proto::parse_protocol(t.protocol);
  o.think = duration_of(t.think);
  o.warmup = duration_of(t.warmup);
  o.duration = duration_of(t.duration);
  o.timeout = duration_of(t.timeout);
  o.connect_timeout = duration_of(t.connect_timeout);
  o.interval = duration_of(t.interval);
  o.spawn_timeout = duration_of(t.spawn_timeout);
  o.spin = duration_of(t.spin);
  if (!t.expect_body.empty()) o.expect_body = t.expect_body;

  if (o.spawn.empty()) {
    const auto endpoint = net::parse_host_port(o.target_text);
    if (!endpoint) return "--target: not HOST:PORT with a numeric address: " + o.target_text;
    if (endpoint->port() == 0) return "--target: the port must not be 0";
    o.target = *endpoint;
  }
  if (o.spawn.empty() && !o.spawn_args.empty()) return "arguments after -- need --spawn";

  const auto size = parse_size_range(t.size);
  if (!size) return "--size: not N or MIN-MAX (byte counts, MIN <= MAX): " + t.size;
  o.size = *size;

  if (o.rate > 0) o.mode = Mode::open;
  if (o.churn > 0) o.mode = Mode::churn;
  if (o.hold) o.mode = Mode::hold;
  if (o.mode == Mode::hold && (o.pipeline != 1 || o.think.count() != 0 || o.requests != 0)) {
    return "--hold keeps connections idle: it takes no --pipeline, --think or --requests";
  }
  if (o.mode == Mode::open && o.think.count() != 0) {
    return "--think is for closed loop and churn; an open-loop schedule sets its own pace";
  }
  if (o.mode == Mode::open && !std::isfinite(o.rate)) return "--rate: not a finite number";
  if (o.duration.count() == 0 && o.requests == 0 && o.mode != Mode::hold) {
    return "--duration 0 needs --requests (or the run would never end on its own)";
  }
  if (o.interval < std::chrono::milliseconds(10)) return "--interval: at least 10ms";

  if (!o.source_text.empty()) {
    std::string why;
    auto sources = parse_source_list(o.source_text, &why);
    if (!sources) return "--source: " + why;
    o.sources = std::move(*sources);
  }
  if (!o.slo_text.empty()) {
    std::string why;
    auto slo = parse_slo(o.slo_text, &why);
    if (!slo) return "--slo: " + why;
    o.slo = std::move(*slo);
  }
  if (!o.engine.empty()) {
    if (std::none_of(engines.begin(), engines.end(),
                     [&](const EngineName& e) { return e.name == o.engine; })) {
      std::string names;
      for (const EngineName& e : engines)
        names += (names.empty() ? "" : ", ") + std::string(e.name);
      return "--engine: " + o.engine + " is not built into this loadgen (available: " + names + ")";
    }
  }

  // The drivers check sizes against the protocol (upper bodies fit in 16
  // bits; echo needs at least one byte) and the HTTP host and path.
  proto::ClientConfig cfg;
  cfg.protocol = o.protocol;
  cfg.size_min = o.size.min;
  cfg.size_max = o.size.max;
  cfg.http_path = o.http_path;
  cfg.http_host = o.http_host.empty() ? std::string("localhost") : o.http_host;
  try {
    proto::validate(cfg);
  } catch (const std::exception& e) {
    return std::string(e.what());
  }

  if (o.threads == 0) {
    o.threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  }
  // A thread without a connection would only cost a stack and an engine.
  o.threads = static_cast<int>(std::min<std::uint64_t>(o.threads, o.connections));
  return std::nullopt;
}

}  // namespace

std::string usage_text() {
  CLI::App app("loadgen", "loadgen");
  Options o;
  Texts t;
  build(app, o, t);
  return app.help();
}

std::optional<int> parse_command_line(int argc, const char* const* argv, Options& options,
                                      const std::vector<EngineName>& engines) {
  CLI::App app("loadgen", "loadgen");
  Texts t;
  build(app, options, t);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::CallForVersion& v) {
    std::cout << v.what() << "\n";
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    std::cerr << "loadgen: " << e.what() << "\n\n" << app.help();
    return kExitUsage;
  }
  if (t.list_engines) {
    for (const EngineName& e : engines) {
      std::cout << e.name << "  " << e.description << "\n";
    }
    return kExitOk;
  }
  if (const auto problem = finish(options, t, engines)) {
    std::cerr << "loadgen: " << *problem << "\n\n" << app.help();
    return kExitUsage;
  }
  return std::nullopt;
}

}  // namespace wsb::loadgen
