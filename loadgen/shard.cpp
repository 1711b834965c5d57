#include "shard.hpp"

#include <charconv>
#include <chrono>
#include <cmath>

#include "hdr/log.hpp"
#include "options.hpp"
#include "platform/duration.hpp"
#include "schedule.hpp"

namespace wsb::loadgen {

namespace {

constexpr std::uint32_t kMaxShards = 100'000;
// A start further ahead than this is taken for a typo (a date a year out),
// not a plan: the instance would sit with its connections open until then.
constexpr std::int64_t kMaxStartAheadMs = 24LL * 3600 * 1000;

template <typename T>
bool parse_number(std::string_view text, T& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// Reads `width` digits at text[at], advancing at.
bool digits(std::string_view text, std::size_t& at, std::size_t width, unsigned& value) {
  if (at + width > text.size()) return false;
  if (!parse_number(text.substr(at, width), value)) return false;
  at += width;
  return true;
}

bool expect(std::string_view text, std::size_t& at, std::string_view any_of) {
  if (at >= text.size() || any_of.find(text[at]) == std::string_view::npos) return false;
  ++at;
  return true;
}

// RFC 3339's date-time: full-date "T" full-time, with an optional fraction
// of a second (kept to the millisecond) and "Z" or a numeric offset.
std::optional<std::int64_t> parse_rfc3339(std::string_view text) {
  std::size_t at = 0;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(text, at, 4, year) || !expect(text, at, "-") || !digits(text, at, 2, month) ||
      !expect(text, at, "-") || !digits(text, at, 2, day) || !expect(text, at, "Tt ") ||
      !digits(text, at, 2, hour) || !expect(text, at, ":") || !digits(text, at, 2, minute) ||
      !expect(text, at, ":") || !digits(text, at, 2, second)) {
    return std::nullopt;
  }
  // Second 60 is a leap second; it is read as the next one.
  const std::chrono::year_month_day date{std::chrono::year(static_cast<int>(year)),
                                         std::chrono::month(month), std::chrono::day(day)};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::int64_t ms = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t first = at;
    std::int64_t scale = 100;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      ms += (text[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == first) return std::nullopt;
  }
  std::int64_t offset_min = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    const bool negative = text[at] == '-';
    ++at;
    unsigned oh = 0, om = 0;
    if (!digits(text, at, 2, oh) || !expect(text, at, ":") || !digits(text, at, 2, om) || oh > 23 ||
        om > 59) {
      return std::nullopt;
    }
    offset_min = (negative ? -1 : 1) * static_cast<std::int64_t>(oh * 60 + om);
  } else {
    return std::nullopt;  // RFC 3339 requires the offset: a local time would be ambiguous
  }
  if (at != text.size()) return std::nullopt;
  const std::int64_t days = days_from_civil(year, month, day);
  const std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_min * 60;
  return seconds * 1000 + ms;
}

}  // namespace

std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) noexcept {
  using namespace std::chrono;
  const sys_days date{std::chrono::year(static_cast<int>(year)) / std::chrono::month(month) /
                      std::chrono::day(day)};
  return date.time_since_epoch().count();
}

std::optional<ShardSpec> parse_shard(std::string_view text, std::string* error) {
  const auto slash = text.find('/');
  ShardSpec spec;
  if (slash == std::string_view::npos || !parse_number(text.substr(0, slash), spec.index) ||
      !parse_number(text.substr(slash + 1), spec.count)) {
    *error =
        "not i/N (this instance's index from 0, and the number of instances): " + std::string(text);
    return std::nullopt;
  }
  if (spec.count == 0 || spec.count > kMaxShards) {
    *error = "N must be 1 to " + std::to_string(kMaxShards) + ": " + std::string(text);
    return std::nullopt;
  }
  if (spec.index >= spec.count) {
    *error = "the index must be below N (shards are numbered 0 to N-1): " + std::string(text);
    return std::nullopt;
  }
  return spec;
}

std::optional<std::int64_t> parse_start_at(std::string_view text, std::int64_t now_ms,
                                           std::string* error) {
  if (!text.empty() && text.front() == '+') {
    const auto d = platform::parse_duration(text.substr(1));
    if (!d) {
      *error = "not +DURATION (e.g. +5s): " + std::string(text);
      return std::nullopt;
    }
    return now_ms + std::chrono::duration_cast<std::chrono::milliseconds>(*d).count();
  }
  std::int64_t ms = 0;
  if (parse_number(text, ms)) {
    // Unix seconds (10 digits today) would silently mean January 1970.
    if (ms < 100'000'000'000LL) {
      *error = "Unix time must be in milliseconds (13 digits today): " + std::string(text);
      return std::nullopt;
    }
    return ms;
  }
  if (auto rfc = parse_rfc3339(text)) return rfc;
  *error = "not an RFC 3339 time (2026-12-07T05:00:00Z), Unix milliseconds or +DURATION: " +
           std::string(text);
  return std::nullopt;
}

std::string default_tag(std::string_view host, std::uint32_t shard_index) {
  std::string tag = (host.empty() ? std::string("localhost") : std::string(host)) + ":" +
                    std::to_string(shard_index);
  for (char& c : tag) {
    if (c == ',' || c == ' ' || c == '\r' || c == '\n' || c == '\t') c = '_';
  }
  return tag;
}

std::optional<std::string> apply_shard(Options& o) {
  DistributedOptions& d = o.distributed;
  d.total_connections = o.connections;
  d.total_rate = o.rate;
  if (d.shard_count <= 1) return std::nullopt;
  const std::string which =
      "--shard " + std::to_string(d.shard_index) + "/" + std::to_string(d.shard_count);
  const Share connections = share_of(o.connections, d.shard_count, d.shard_index);
  if (connections.count == 0) {
    return which + ": --connections " + std::to_string(o.connections) +
           " leaves this shard none (give at least one per shard)";
  }
  const double part = static_cast<double>(connections.count) / static_cast<double>(o.connections);
  d.first_connection = connections.first;
  o.connections = static_cast<std::uint32_t>(connections.count);
  o.rate *= part;
  o.connect_rate *= part;
  if (o.requests > 0) {
    const std::uint64_t requests = share_of(o.requests, d.shard_count, d.shard_index).count;
    if (requests == 0) {
      return which + ": --requests " + std::to_string(o.requests) +
             " leaves this shard none (give at least one per shard)";
    }
    o.requests = requests;
  }
  return std::nullopt;
}

std::optional<std::string> finish_distributed(Options& o, const DistributedTexts& texts,
                                              std::int64_t now_ms, std::string_view host) {
  DistributedOptions& d = o.distributed;
  std::string why;
  if (!texts.shard.empty()) {
    const auto spec = parse_shard(texts.shard, &why);
    if (!spec) return "--shard: " + why;
    d.shard_index = spec->index;
    d.shard_count = spec->count;
    d.shard_given = true;
  }
  if (!texts.start_at.empty()) {
    d.start_at_ms = parse_start_at(texts.start_at, now_ms, &why);
    if (!d.start_at_ms) return "--start-at: " + why;
    const std::int64_t warmup_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(o.warmup).count();
    if (*d.start_at_ms < now_ms - warmup_ms) {
      return "--start-at " + texts.start_at + " is " + std::to_string(now_ms - *d.start_at_ms) +
             " ms in the past, more than the warmup (" + std::to_string(warmup_ms) +
             " ms): this instance could not take part in the measured window";
    }
    if (*d.start_at_ms > now_ms + kMaxStartAheadMs) {
      return "--start-at " + texts.start_at + " is more than a day ahead";
    }
  }
  if (d.strict_start && !d.start_at_ms) return "--strict-start needs --start-at";
  if (d.tag.empty()) d.tag = default_tag(host, d.shard_index);
  if (!hdr::is_valid_tag(d.tag)) {
    return "--tag must not contain a comma, a space or a line break: " + d.tag;
  }
  return apply_shard(o);
}

}  // namespace wsb::loadgen
