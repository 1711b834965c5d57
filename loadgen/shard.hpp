// One loadgen as one instance of a run spread over N machines (namespace
// wsb::loadgen): --shard i/N takes this instance's share of the load,
// --start-at TIME begins every instance's measured phase at the same moment
// on the wall clock, and --tag names the instance in its outputs, so that
// `hdrtool merge --runs` can merge the instances' logs exactly
// (docs/distributed.md).
//
// An instance is a pure function of (index, count, start time): it needs no
// coordinator and talks to no other instance. The parsers here are free of
// clocks and sockets and are unit-tested on their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsb::loadgen {

struct Options;

struct DistributedOptions {
  std::uint32_t shard_index = 0;  // --shard i/N: i
  std::uint32_t shard_count = 1;  //               N
  bool shard_given = false;
  // --start-at, resolved to ms since the epoch when the command line is read.
  std::optional<std::int64_t> start_at_ms;
  std::string tag;            // --tag (default: "<host name>:<shard index>")
  bool strict_start = false;  // --strict-start: a late start makes the exit code 1

  // Set by apply_shard(): the global index of this instance's first
  // connection, and the whole run's connections and rate, which the open-loop
  // schedule is built from (see apply_shard()).
  std::uint64_t first_connection = 0;
  std::uint32_t total_connections = 0;
  double total_rate = 0.0;
};

// "i/N" with 0 <= i < N <= 100000. nullopt, and *error says why, otherwise.
struct ShardSpec {
  std::uint32_t index = 0;
  std::uint32_t count = 1;
};
std::optional<ShardSpec> parse_shard(std::string_view text, std::string* error);

// --start-at: an RFC 3339 time ("2026-12-07T05:00:00Z", "...T05:00:00.250+01:00";
// a space may stand for the T), Unix milliseconds ("1796619600000"), or "+D"
// from now_ms with a duration D ("+5s", "+500ms"). Returns ms since the epoch;
// nullopt and *error for anything else.
std::optional<std::int64_t> parse_start_at(std::string_view text, std::int64_t now_ms,
                                           std::string* error);

// Days from 1970-01-01 to the given proleptic Gregorian date.
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) noexcept;

// Cuts options down to shard i of N (nothing to do for 0/1) and fills the
// distributed fields above. This instance takes share_of(connections, N, i)
// connections (the remainder goes to the first shards), the same share of
// --requests, and of --rate and --connect-rate the part its connections
// carry (rate * its connections / all connections), so every connection of
// every shard keeps the per-connection interval of the unsplit run.
//
// In open loop the instance keeps the unsplit run's schedule and follows it
// for its own connections only: connection g of C (global index) sends at
// (g + k*C) / R. The N instances together therefore send exactly the stream
// one instance would, and instance i is offset from instance 0 by
// first_connection / R, i/N of the per-connection interval C/R when the
// shares are equal, so that the instances do not send in lock-step.
//
// Returns an error (for a usage message) when the share would be empty.
std::optional<std::string> apply_shard(Options& options);

// Everything the command line's distributed options need once the rest is
// parsed: --shard and --start-at read (now_ms is the wall clock), a start
// more than --warmup in the past refused (it could never be kept), the
// default tag made from `host`, the tag checked, and apply_shard(). Returns
// a one-line error for the usage message.
struct DistributedTexts {
  std::string shard;     // --shard
  std::string start_at;  // --start-at
};
std::optional<std::string> finish_distributed(Options& options, const DistributedTexts& texts,
                                              std::int64_t now_ms, std::string_view host);

// The default --tag: "<host>:<index>". Characters a tag may not hold (a
// comma, a space, a line break) become '_'.
std::string default_tag(std::string_view host, std::uint32_t shard_index);

// The outcome of --start-at, once the measured phase (or the warmup) began.
struct StartOutcome {
  std::int64_t start_at_ms = 0;  // the time asked for
  double offset_ms = 0.0;        // when it began, minus start_at_ms (wall clock)
  bool late = false;             // not every connection was open by start_at_ms
  std::uint64_t open_at_start = 0;
};

}  // namespace wsb::loadgen
