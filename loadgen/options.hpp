// What a loadgen run is asked to do (namespace wsb::loadgen): the options of
// the command line and the small parsers behind them, which are unit-tested
// on their own (tests/unit/loadgen).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capacity.hpp"
#include "platform/net.hpp"
#include "proto/client.hpp"
#include "proto/protocol.hpp"
#include "shard.hpp"

namespace wsb::loadgen {

// The shape of the load.
enum class Mode : std::uint8_t {
  closed,  // each connection keeps --pipeline requests in flight (default)
  open,    // --rate: requests follow per-connection schedules; latency from intended times
  churn,   // --churn K: connect, K requests, close, again
  hold,    // --hold: open the connections and keep them idle
};

// "closed", "open", "churn", "hold".
std::string_view name(Mode m) noexcept;

// --size N or --size MIN-MAX (byte counts, with the k/m suffixes of
// platform::parse_size): request body sizes drawn uniformly from [min, max].
struct SizeRange {
  std::uint32_t min = 16;
  std::uint32_t max = 16;
  friend bool operator==(const SizeRange&, const SizeRange&) = default;
};
// nullopt when malformed, when min > max, or when a bound exceeds 2^32-1.
std::optional<SizeRange> parse_size_range(std::string_view text);
// "16" or "16-1024", which parse_size_range() reads back.
std::string to_string(const SizeRange& size);

// --source: local addresses to spread connections over, each one giving its
// own ~28 K ephemeral ports. "127.0.0.1-127.0.0.16" (an IPv4 range, both ends
// included, at most 65,536 addresses), "10.0.0.1,10.0.0.2", "::1", or a
// comma-separated mix of single addresses and IPv4 ranges. The endpoints come
// back with port 0. On failure, nullopt and *error says why.
std::optional<std::vector<net::Endpoint>> parse_source_list(std::string_view text,
                                                            std::string* error);

// One --slo term. "p99<=5ms" (or "p99=5ms") bounds a percentile, "max=1s" the maximum and
// "mean=2ms" the mean of the latency (the corrected one in open-loop runs).
struct SloTerm {
  enum class Metric : std::uint8_t { percentile, max, mean };
  Metric metric = Metric::percentile;
  double percentile = 0.0;  // 0 < percentile <= 100 (Metric::percentile only)
  std::chrono::nanoseconds limit{0};
  std::string text;  // the term as the user wrote it, for messages and the CSV
};
// A comma-separated list of terms: "p99<=5ms,p99.9<=20ms,max=1s". Durations
// take platform::parse_duration's units; a bare number is seconds. On
// failure, nullopt and *error names the bad term.
std::optional<std::vector<SloTerm>> parse_slo(std::string_view text, std::string* error);

struct Options {
  // ---- Target -------------------------------------------------------------
  std::string target_text = "127.0.0.1:21234";  // --target HOST:PORT
  net::Endpoint target;                         // parsed from target_text
  // --target NAME:PORT with a host name: resolved (net::resolve) once
  // the socket layer is started; target is set then.
  std::string target_name;
  std::uint16_t target_port = 0;
  proto::Protocol protocol = proto::Protocol::upper;  // --protocol
  std::string http_path = "/";                        // --http-path
  std::string http_host;                              // --http-host (default: the target's address)
  std::string expect_body = "Hello, World!";          // --expect-body
  bool any_body = false;                              // --any-body

  // --spawn NAME|PATH [-- ARGS...]: start the server ourselves.
  std::string spawn;
  std::vector<std::string> spawn_args;
  std::chrono::nanoseconds spawn_timeout{0};  // --spawn-timeout (0: 10 s native, 60 s Wine)

  // ---- Engine and threads -------------------------------------------------
  std::string engine;  // --engine (empty: the platform's default)
  int threads = 0;     // --threads (0: one per core, at most one per connection)

  // ---- Workload -------------------------------------------------------------
  Mode mode = Mode::closed;
  std::uint32_t connections = 10;     // --connections
  std::uint32_t pipeline = 1;         // --pipeline: requests in flight per connection
  std::chrono::nanoseconds think{0};  // --think: pause after each response (closed, churn)
  // --spin: with requests outstanding, a worker polls without sleeping for up
  // to this long before it sleeps (Worker::wait_for_io explains why).
  std::chrono::nanoseconds spin{std::chrono::microseconds(50)};
  double rate = 0.0;                   // --rate: requests/s in total (open loop)
  std::uint32_t churn = 0;             // --churn K: requests per connection before it closes
  bool hold = false;                   // --hold
  double connect_rate = 0.0;           // --connect-rate: connects/s in total (0: unlimited)
  std::chrono::nanoseconds warmup{0};  // --warmup
  std::chrono::nanoseconds duration{std::chrono::seconds(10)};  // --duration
  std::uint64_t requests = 0;  // --requests: total cap after warmup (0: none)
  SizeRange size;              // --size
  std::chrono::nanoseconds timeout{std::chrono::seconds(5)};          // --timeout (request)
  std::chrono::nanoseconds connect_timeout{std::chrono::seconds(5)};  // --connect-timeout
  std::string source_text;                                            // --source
  std::vector<net::Endpoint> sources;                                 // parsed from source_text
  std::uint64_t seed = 1;                                             // --seed: payloads and sizes

  // ---- Chat (--protocol chat: connections are users) ------------------------
  std::uint32_t first_user = 1;   // --first-user: the id of connection 0
  std::uint32_t group_size = 10;  // --group-size: consecutive ids per group
  double private_share = 0.0;     // --private-share: messages sent privately, 0..1

  // ---- Output ---------------------------------------------------------------
  std::chrono::nanoseconds interval{std::chrono::seconds(1)};  // --interval
  bool quiet = false;                                          // --quiet: no live line
  std::string csv;                                             // --csv FILE
  std::string intervals;                                       // --intervals FILE
  std::string hlog;                                            // --hlog FILE
  std::string hgrm;                                            // --hgrm FILE
  std::string json;              // --json FILE: the run as one JSON object ("-": stdout)
  std::string label;             // --label: free text copied into the CSV row
  std::uint64_t max_errors = 0;  // --max-errors
  std::string slo_text;          // --slo
  std::vector<SloTerm> slo;      // parsed from slo_text

  // ---- Capacity search (capacity.hpp) ---------------------------------------
  bool find_capacity = false;  // --find-capacity: needs --slo; each step is an open-loop run
  CapacitySettings capacity;   // --rate-start, --rate-max, --rate-growth, --capacity-precision

  // ---- Isolation (affinity.hpp) ---------------------------------------------
  // --server-cpus / --loadgen-cpus: CPU sets for the spawned server and for
  // loadgen itself; empty: not pinned ("none", the default).
  std::string server_cpus_text = "none";
  std::string loadgen_cpus_text = "none";
  std::vector<int> server_cpus;
  std::vector<int> loadgen_cpus;
  // ---- Distributed runs (shard.hpp) ------------------------------------------
  DistributedOptions distributed;  // --shard, --start-at, --tag, --strict-start
};

// Exit codes of the loadgen process (docs/loadgen.md).
enum ExitCode : int {
  kExitOk = 0,            // the run completed within --max-errors and every --slo
  kExitErrors = 1,        // more errors than --max-errors (or a run-time failure)
  kExitUsage = 2,         // bad command line, or the run cannot fit (descriptors)
  kExitSlo = 3,           // an --slo term was not met
  kExitServerFailed = 4,  // the --spawn server failed to start or died during the run
};

// Parses argv into *options. `engines` are the names --engine accepts and
// --list-engines prints (name, description), the default first. nullopt:
// run. Otherwise the process exit code: 0 after --help, --version or
// --list-engines (printed to stdout), kExitUsage after a usage error (the
// message and the usage text go to stderr).
struct EngineName {
  std::string_view name;
  std::string_view description;
};
std::optional<int> parse_command_line(int argc, const char* const* argv, Options& options,
                                      const std::vector<EngineName>& engines);

// The chat options' part of a client configuration (connections are users).
void set_chat_config(const Options& options, proto::ClientConfig& config);

// The full usage text (what --help prints).
std::string usage_text();

}  // namespace wsb::loadgen
