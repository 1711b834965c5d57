// The loadgen command line (CLI11) and its value parsers.
#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "affinity.hpp"
#include "platform/duration.hpp"
#include "proto/client.hpp"
#include "sys.hpp"

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
    // "p99<=5ms" says what the term means; "p99=5ms" is the older spelling.
    const auto le = item.find("<=");
    const auto eq = le != std::string_view::npos ? le : item.find('=');
    if (eq == std::string_view::npos) {
      return fail("not METRIC<=DURATION (e.g. p99<=5ms): " + std::string(item));
    }
    const std::string_view metric = trim(item.substr(0, eq));
    const auto limit =
        platform::parse_duration(trim(item.substr(eq + (le != std::string_view::npos ? 2 : 1))));
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
  std::string capacity_precision = "5";
  std::string expect_body;
  DistributedTexts distributed;
  bool list_engines = false;
  bool print_config = false;
};

// CLI11's help with three changes: the "Needs:" and "Excludes:" notes move
// from the option column (which they overflow) to the end of the
// description, and the usage line names the server's arguments as what they
// are: everything after "--".
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* opt) const override {
    std::string out;
    if (opt->get_type_size() != 0) {
      if (!opt->get_type_name().empty()) out += " " + opt->get_type_name();
      if (!opt->get_default_str().empty()) out += "=" + opt->get_default_str();
      if (opt->get_expected_max() == CLI::detail::expected_max_vector_size) out += " ...";
    }
    return out;
  }
  std::string make_option_desc(const CLI::Option* opt) const override {
    std::string out = opt->get_description();
    auto list = [&out](const char* what, const std::set<CLI::Option*>& options) {
      if (options.empty()) return;
      out += std::string(" (") + what;
      for (const CLI::Option* o : options)
        out += " " + o->get_name();
      out += ")";
    };
    list("needs", opt->get_needs());
    list("excludes", opt->get_excludes());
    return out;
  }
  std::string make_usage(const CLI::App*, std::string name) const override {
    return "\nUsage: " + name + " [OPTIONS] [-- SERVER ARGS...]\n";
  }
};

constexpr const char* kFooter =
    "Exit codes: 0 the run completed within --max-errors and every --slo; 1 more errors than\n"
    "--max-errors, a worker or output failure; 2 a bad command line or config file, or the run\n"
    "does not fit (descriptors); 3 an --slo term missed (--find-capacity: even at\n"
    "--rate-start); 4 the server failed: --spawn could not start it, it died, or the target\n"
    "refused every connect or went away.\n"
    "\n"
    "Examples:\n"
    "  closed loop against server-epoll, 100 connections for 10 s:\n"
    "    loadgen --spawn epoll -c 100 -d 10s\n"
    "  open loop at 20,000 requests/s against a running server, exit 3 if p99 > 5 ms:\n"
    "    loadgen --target 127.0.0.1:8080 --rate 20000 --slo p99=5ms\n"
    "  hold 10,000 idle connections for 30 s (memory per connection):\n"
    "    loadgen --spawn threads -c 10000 --hold -d 30s\n"
    "  the highest rate at which server-epoll keeps p99 within 5 ms (a search of short steps):\n"
    "    loadgen --spawn epoll --find-capacity --slo 'p99<=5ms' -c 50 --warmup 1s -d 3s\n"
    "  a scenario file (scenarios/), and the run as JSON on stdout:\n"
    "    loadgen --config scenarios/open-loop-slo.toml --spawn epoll --json -\n"
    "\n"
    "docs/loadgen.md describes every option, the outputs and the exit codes.";

void add_chat_options(CLI::App& app, Options& o) {
  app.add_option("--group-size", o.group_size,
                 "chat: users per group (consecutive ids; the last group may be smaller)")
      ->check(CLI::Range(1u, 0xFFFFFFFFu))
      ->capture_default_str()
      ->group("Chat");
  app.add_option("--private-share", o.private_share,
                 "chat: share of messages sent privately to a random user of another group")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group("Chat");
  app.add_option("--first-user", o.first_user, "chat: the user id of the first connection")
      ->check(CLI::Range(1u, 0xFFFFFFFFu))
      ->capture_default_str()
      ->group("Chat");
}

void add_target_options(CLI::App& app, Options& o, Texts& t) {
  auto* target = app.add_option("--target", o.target_text,
                                "Server address HOST:PORT (a host name is resolved; IPv6 "
                                "literals in brackets)")
                     ->capture_default_str()
                     ->group("Target");
  app.add_option("--protocol", t.protocol, "Wire protocol: upper, echo, http or chat")
      ->check(CLI::IsMember({"upper", "echo", "http", "chat"}))
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
}

void add_engine_options(CLI::App& app, Options& o, Texts& t) {
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
                 "Worker threads, each with its own engine and connections (default 0: one "
                 "per core; never more than --connections)")
      ->check(CLI::Range(0, 1024))
      ->group("Engine");
}

void add_load_shape_options(CLI::App& app, Options& o, Texts& t) {
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
}

void add_workload_options(CLI::App& app, Options& o, Texts& t) {
  add_load_shape_options(app, o, t);
  app.add_option("--warmup", t.warmup,
                 "Run this long before measuring; the results exclude it (default 0s: "
                 "measure from the first connect)")
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
  app.add_option(
         "--size", t.size,
         "Request body bytes: N or MIN-MAX (upper, echo; chat: message payload, at least 12)")
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
  add_chat_options(app, o);
}

void add_output_options(CLI::App& app, Options& o, Texts& t) {
  app.add_option("--interval", t.interval, "Reporting interval (live line, --intervals, --hlog)")
      ->check(duration_validator(false))
      ->capture_default_str()
      ->group("Output");
  app.add_flag("--quiet,-q", o.quiet, "No live line on stderr")->group("Output");
  app.add_option("--csv", o.csv, "Append one row for the run to this CSV file")->group("Output");
  app.add_option("--json", o.json,
                 "Write the run as one JSON object to this file (-: stdout, and the summary "
                 "goes to stderr)")
      ->group("Output");
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
                 "Latency objectives, e.g. p99<=5ms,p99.9<=20ms,max<=1s,mean<=2ms; exit 3 if "
                 "missed")
      ->group("Output");
}

void add_capacity_options(CLI::App& app, Options& o, Texts& t) {
  app.add_flag("--find-capacity", o.find_capacity,
               "Find the highest open-loop rate that keeps --slo with no errors and no rate "
               "shortfall: steps of --warmup + --duration each; exit 0 found, 3 none")
      ->group("Capacity");
  app.add_option("--rate-start", o.capacity.rate_start, "Requests/s of the first step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group("Capacity");
  app.add_option("--rate-max", o.capacity.rate_max, "The ramp stops at this rate (requests/s)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group("Capacity");
  app.add_option("--rate-growth", o.capacity.growth, "Each ramp step offers this times the last")
      ->check(CLI::Range(1.01, 100.0))
      ->capture_default_str()
      ->group("Capacity");
  app.add_option("--capacity-trials", o.capacity.trials,
                 "A rate's verdict is the majority of this many steps at it (odd; they stop once "
                 "the majority is known): one stall of the machine does not decide a rate")
      ->check(CLI::IsMember({1, 3, 5, 7}))
      ->capture_default_str()
      ->group("Capacity");
  app.add_option("--capacity-precision", t.capacity_precision,
                 "Bisect until the passing and failing rates are this close (percent)")
      ->capture_default_str()
      ->group("Capacity");
}

void add_isolation_options(CLI::App& app, Options& o) {
  app.add_option("--server-cpus", o.server_cpus_text,
                 "Pin the --spawn server (all its threads; under Wine wineserver too) to these "
                 "CPUs, e.g. 0 or 2-3,6; none: not pinned")
      ->capture_default_str()
      ->group("Isolation");
  app.add_option("--loadgen-cpus", o.loadgen_cpus_text,
                 "Pin loadgen's workers to these CPUs (--threads defaults to their count); "
                 "none: not pinned")
      ->capture_default_str()
      ->group("Isolation");
}

// Running as one of several instances (docs/distributed.md, shard.hpp).
void add_distributed_options(CLI::App& app, Options& o, Texts& t) {
  app.add_option("--shard", t.distributed.shard,
                 "i/N: be instance i (from 0) of N, taking its share of --connections, --rate, "
                 "--connect-rate and --requests")
      ->group("Distributed");
  app.add_option("--start-at", t.distributed.start_at,
                 "Open every connection first, then begin the load (the warmup included) at "
                 "this wall-clock time: RFC 3339 (2026-12-07T05:00:00Z), Unix ms, or +5s")
      ->group("Distributed");
  app.add_option("--tag", o.distributed.tag,
                 "Name of this instance in the .hlog and CSV (default: HOST:SHARD)")
      ->group("Distributed");
  app.add_flag("--strict-start", o.distributed.strict_start,
               "Exit 1 when this instance was not ready (every connection open) by --start-at")
      ->group("Distributed");
}

void build(CLI::App& app, Options& o, Texts& t) {
  app.description(
      "loadgen drives a server with request/response traffic and measures it: latency in\n"
      "HdrHistograms (nanoseconds), throughput, errors by class, CPU and memory.\n"
      "Modes: closed loop (default), open loop (--rate), churn (--churn), hold (--hold).\n"
      "Durations take units: 500ms, 3s, 2m, 250us (a bare number is seconds).");
  app.formatter(std::make_shared<HelpFormatter>());
  app.footer(kFooter);
  app.set_version_flag("--version", std::string("loadgen (wsbench ") + WSB_VERSION + ")")
      ->configurable(false);
  app.add_flag("--list-engines", t.list_engines, "List the engines of this build and exit")
      ->configurable(false);
  // A scenario file: TOML whose keys are the long options without their
  // dashes; what the command line gives overrides the file.
  app.set_config("--config", "",
                 "Read options from this TOML file (keys: the long options "
                 "without --); the command line overrides it");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.add_flag("--print-config", t.print_config,
               "Print the options given (command line and --config) as a config file and exit")
      ->configurable(false);
  add_target_options(app, o, t);
  add_engine_options(app, o, t);
  add_workload_options(app, o, t);
  add_output_options(app, o, t);
  add_capacity_options(app, o, t);
  add_isolation_options(app, o);
  add_distributed_options(app, o, t);
}

// "name:port" with a host name (letters, digits, '-', '.') and a port of
// 1-65535; nullopt for anything else.
std::optional<std::pair<std::string, std::uint16_t>> host_name_and_port(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  const bool name_chars = std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (!name_chars || ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return std::nullopt;
  }
  return std::make_pair(std::string(host), static_cast<std::uint16_t>(port));
}

// --find-capacity: the settings are checked, and the run becomes an open
// loop at --rate-start (each step sets its own rate). What cannot describe a
// series of steps (one JSON object, one histogram file) is refused.
std::optional<std::string> finish_capacity(Options& o, const Texts& t) {
  std::string_view precision = trim(t.capacity_precision);
  if (!precision.empty() && precision.back() == '%') precision.remove_suffix(1);
  double percent = 0;
  const auto [end, ec] =
      std::from_chars(precision.data(), precision.data() + precision.size(), percent);
  if (ec != std::errc() || end != precision.data() + precision.size() || !(percent > 0.0) ||
      percent > 100.0) {
    return "--capacity-precision: a percentage in (0, 100], e.g. 5 or 5%: " + t.capacity_precision;
  }
  o.capacity.precision = percent / 100.0;
  if (!o.find_capacity) return std::nullopt;
  if (o.slo_text.empty()) return "--find-capacity needs --slo (e.g. --slo p99<=5ms)";
  if (o.rate > 0 || o.churn > 0 || o.hold || o.requests > 0) {
    return "--find-capacity sets the rate of each step: it takes no --rate, --churn, --hold or "
           "--requests";
  }
  if (!o.json.empty() || !o.hlog.empty() || !o.hgrm.empty() || !o.intervals.empty()) {
    return "--find-capacity writes one CSV row per step (--csv); it takes no --json, --hlog, "
           "--hgrm or --intervals";
  }
  if (o.capacity.rate_max < o.capacity.rate_start) return "--rate-max is below --rate-start";
  o.rate = o.capacity.rate_start;
  return std::nullopt;
}

std::optional<std::string> finish_isolation(Options& o) {
  std::string why;
  const auto server = parse_cpu_set(o.server_cpus_text, &why);
  if (!server) return "--server-cpus: " + why;
  const auto self = parse_cpu_set(o.loadgen_cpus_text, &why);
  if (!self) return "--loadgen-cpus: " + why;
  if (!server->empty() && o.spawn.empty()) return "--server-cpus needs --spawn";
  o.server_cpus = *server;
  o.loadgen_cpus = *self;
  // Workers default to the cores of loadgen's own set.
  if (o.threads == 0 && !o.loadgen_cpus.empty())
    o.threads = static_cast<int>(o.loadgen_cpus.size());
  return std::nullopt;
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
    if (const auto endpoint = net::parse_host_port(o.target_text)) {
      if (endpoint->port() == 0) return "--target: the port must not be 0";
      o.target = *endpoint;
    } else if (auto named = host_name_and_port(o.target_text)) {
      o.target_name = std::move(named->first);
      o.target_port = named->second;
    } else {
      return "--target: not HOST:PORT (an address, or a host name, and a port 1-65535): " +
             o.target_text;
    }
  }
  if (o.spawn.empty() && !o.spawn_args.empty()) return "arguments after -- need --spawn";

  const auto size = parse_size_range(t.size);
  if (!size) return "--size: not N or MIN-MAX (byte counts, MIN <= MAX): " + t.size;
  o.size = *size;

  if (const auto problem = finish_capacity(o, t)) return problem;
  if (const auto problem = finish_isolation(o)) return problem;
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
  if (o.protocol == proto::Protocol::chat && (o.mode == Mode::churn || o.mode == Mode::hold)) {
    return "--protocol chat: every connection is a user that stays logged in; no --churn or "
           "--hold";
  }
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
  set_chat_config(o, cfg);
  try {
    proto::validate(cfg);
  } catch (const std::exception& e) {
    return std::string(e.what());
  }

  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  if (auto problem = finish_distributed(o, t.distributed, now_ms, host_name())) return problem;

  if (o.threads == 0) {
    o.threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  }
  // A thread without a connection would only cost a stack and an engine.
  o.threads = static_cast<int>(std::min<std::uint64_t>(o.threads, o.connections));
  return std::nullopt;
}

}  // namespace

void set_chat_config(const Options& options, proto::ClientConfig& config) {
  config.chat_first_user = options.first_user;
  config.chat_users = options.connections;
  config.chat_group_size = options.group_size;
  config.chat_private_share = options.private_share;
}

std::string usage_text() {
  CLI::App app("loadgen", "loadgen");
  Options o;
  Texts t;
  build(app, o, t);
  return app.help();
}

namespace {

// The line of a config file on which `key` is set, or 0 when it cannot be
// told: CLI11 names an unknown key but not where it stands.
int line_of_key(const std::string& path, std::string_view key) {
  std::ifstream in(path);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::string_view text = trim(line);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.substr(0, key.size()) != key) continue;
    text = trim(text.substr(key.size()));
    // "key = value", or a line that is the key alone (CLI11 reads it as a flag).
    if (text.empty() || text.front() == '=') return number;
  }
  return 0;
}

std::string config_path(const CLI::App& app) {
  const CLI::Option* config = app.get_config_ptr();
  return config && config->count() > 0 ? config->as<std::string>() : std::string();
}

// The one-line error about a --config file: its name, the line when known.
int report_config_error(const std::string& path, int line, const std::string& what) {
  std::cerr << "loadgen: --config " << path;
  if (line > 0) std::cerr << ":" << line;
  std::cerr << ": " << what << "\n";
  return kExitUsage;
}

// A refused value ("--connections: Value abc not in range ...", from CLI11
// or from finish()) that came from the --config file rather than the command
// line: a config error naming the file and line. nullopt when the command
// line gave it, or when the message names no single option.
std::optional<int> config_value_error(const CLI::App& app, int argc, const char* const* argv,
                                      const std::string& what) {
  const std::string path = config_path(app);
  const auto colon = what.find(':');
  if (path.empty() || what.rfind("--", 0) != 0 || colon == std::string::npos) return std::nullopt;
  const std::string name = what.substr(2, colon - 2);
  const CLI::Option* option = app.get_option_no_throw("--" + name);
  if (option == nullptr) return std::nullopt;
  std::vector<std::string> spellings;
  for (const std::string& l : option->get_lnames())
    spellings.push_back("--" + l);
  for (const std::string& s : option->get_snames())
    spellings.push_back("-" + s);
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    for (const std::string& spelled : spellings) {
      if (arg.rfind(spelled, 0) == 0) return std::nullopt;  // "--x", "--x=v", "-cV"
    }
  }
  return report_config_error(path, line_of_key(path, name), what);
}

// A --config file that cannot be read or holds an unknown key: one line
// naming the file (and the line, where it can be found).
int config_error(const CLI::App& app, const CLI::ParseError& e) {
  const std::string path = config_path(app);
  std::string what = e.what();
  int line = 0;
  static constexpr std::string_view kExtras = "INI was not able to parse ";
  if (what.rfind(kExtras, 0) == 0) {
    const std::string key = what.substr(kExtras.size());
    line = line_of_key(path, key);
    what = "unknown key \"" + key + "\" (the keys are loadgen's long options without --)";
  }
  return report_config_error(path, line, what);
}

}  // namespace

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
  } catch (const CLI::ConfigError& e) {
    return config_error(app, e);
  } catch (const CLI::FileError& e) {
    return config_error(app, e);
  } catch (const CLI::ParseError& e) {
    if (const auto code = config_value_error(app, argc, argv, e.what())) return *code;
    std::cerr << "loadgen: " << e.what() << "\n\n" << app.help();
    return kExitUsage;
  }
  if (t.list_engines) {
    for (const EngineName& e : engines) {
      std::cout << e.name << "  " << e.description << "\n";
    }
    return kExitOk;
  }
  if (t.print_config) {
    std::cout << app.config_to_str(false, false);
    return kExitOk;
  }
  if (const auto problem = finish(options, t, engines)) {
    // A value that CLI11 took but finish() refuses ("--size: ...") may come
    // from the --config file too.
    if (const auto code = config_value_error(app, argc, argv, *problem)) return *code;
    std::cerr << "loadgen: " << *problem << "\n\n" << app.help();
    return kExitUsage;
  }
  return std::nullopt;
}

}  // namespace wsb::loadgen
