// What a loadgen instance of a distributed run writes about itself in its
// .hlog (namespace wsb::hdr), as two comment lines that Java's tools skip:
//
//   #[wsbench-shard: tag=host-a:0 shard=0/4 protocol=upper mode=open connections=3
//     total_connections=12 rate=250.000 total_rate=1000.000 interval_ms=1000
//     start_at_ms=1796619600000]                                     (one line)
//   #[wsbench-start: offset_ms=0.412 late=0 open_connections=3]
//
// The first is written with the header, the second when the load began
// (only with --start-at). `hdrtool merge --runs` reads them to refuse logs
// of different runs and to list late and missing shards (docs/distributed.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsb::hdr {

struct ShardHeader {
  std::string tag;
  std::uint32_t shard_index = 0;
  std::uint32_t shard_count = 1;
  std::string protocol;
  std::string mode;
  std::uint64_t connections = 0;
  std::uint64_t total_connections = 0;
  double rate = 0.0;  // requests/s of this shard (0: not open loop)
  double total_rate = 0.0;
  std::int64_t interval_ms = 0;
  std::optional<std::int64_t> start_at_ms;
  // From the wsbench-start line, when there was one.
  std::optional<double> start_offset_ms;
  bool late = false;
  std::uint64_t open_connections = 0;
};

// The two comment texts (without the leading '#').
std::string format_shard_line(const ShardHeader& h);
std::string format_start_line(double offset_ms, bool late, std::uint64_t open_connections);

// Reads both lines out of a log's comments (LogReader::comments()). nullopt
// when the log has no wsbench-shard line (not a loadgen log, or an older
// one); throws std::invalid_argument for a malformed one.
std::optional<ShardHeader> parse_shard_header(const std::vector<std::string>& comments);

}  // namespace wsb::hdr
