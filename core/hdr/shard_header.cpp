#include "hdr/shard_header.hpp"

#include <charconv>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "hdr/java_format.hpp"

namespace wsb::hdr {

namespace {

constexpr std::string_view kShardPrefix = "[wsbench-shard: ";
constexpr std::string_view kStartPrefix = "[wsbench-start: ";

std::string fixed3(double v) {
  std::string s;
  append_java_fixed(s, v, 3);
  return s;
}

// "key=value key=value]" -> map; throws on a token without '='.
std::map<std::string, std::string, std::less<>> fields(std::string_view text,
                                                       std::string_view prefix) {
  text.remove_prefix(prefix.size());
  if (text.empty() || text.back() != ']') {
    throw std::invalid_argument("unterminated " + std::string(prefix) + "...] line");
  }
  text.remove_suffix(1);
  std::map<std::string, std::string, std::less<>> out;
  while (!text.empty()) {
    const auto space = text.find(' ');
    const std::string_view token = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
    if (token.empty()) continue;
    const auto eq = token.find('=');
    if (eq == std::string_view::npos) {
      throw std::invalid_argument("malformed field \"" + std::string(token) + "\" in " +
                                  std::string(prefix) + "...]");
    }
    out.emplace(std::string(token.substr(0, eq)), std::string(token.substr(eq + 1)));
  }
  return out;
}

template <typename T>
T parse_number(std::string_view key, const std::string& text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    throw std::invalid_argument("wsbench line: " + std::string(key) + "=" + text +
                                " is not a number");
  }
  return value;
}

template <typename T>
T number(const std::map<std::string, std::string, std::less<>>& f, std::string_view key) {
  const auto it = f.find(key);
  if (it == f.end()) throw std::invalid_argument("wsbench line without " + std::string(key));
  return parse_number<T>(key, it->second);
}

double real(const std::map<std::string, std::string, std::less<>>& f, std::string_view key) {
  const auto it = f.find(key);
  if (it == f.end()) throw std::invalid_argument("wsbench line without " + std::string(key));
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0') {
    throw std::invalid_argument("wsbench line: " + std::string(key) + "=" + it->second +
                                " is not a number");
  }
  return v;
}

std::string text_of(const std::map<std::string, std::string, std::less<>>& f,
                    std::string_view key) {
  const auto it = f.find(key);
  if (it == f.end()) throw std::invalid_argument("wsbench-shard line without " + std::string(key));
  return it->second;
}

}  // namespace

std::string format_shard_line(const ShardHeader& h) {
  std::string s(kShardPrefix);
  s += "tag=" + h.tag + " shard=" + std::to_string(h.shard_index) + "/" +
       std::to_string(h.shard_count) + " protocol=" + h.protocol + " mode=" + h.mode +
       " connections=" + std::to_string(h.connections) +
       " total_connections=" + std::to_string(h.total_connections) + " rate=" + fixed3(h.rate) +
       " total_rate=" + fixed3(h.total_rate) + " interval_ms=" + std::to_string(h.interval_ms);
  if (h.start_at_ms) s += " start_at_ms=" + std::to_string(*h.start_at_ms);
  s += "]";
  return s;
}

std::string format_start_line(double offset_ms, bool late, std::uint64_t open_connections) {
  return std::string(kStartPrefix) + "offset_ms=" + fixed3(offset_ms) +
         " late=" + (late ? "1" : "0") + " open_connections=" + std::to_string(open_connections) +
         "]";
}

std::optional<ShardHeader> parse_shard_header(const std::vector<std::string>& comments) {
  std::optional<ShardHeader> header;
  for (const std::string& c : comments) {
    if (c.starts_with(kShardPrefix)) {
      const auto f = fields(c, kShardPrefix);
      ShardHeader h;
      h.tag = text_of(f, "tag");
      const std::string shard = text_of(f, "shard");
      const auto slash = shard.find('/');
      if (slash == std::string::npos) throw std::invalid_argument("wsbench-shard: shard=" + shard);
      h.shard_index = parse_number<std::uint32_t>("shard", shard.substr(0, slash));
      h.shard_count = parse_number<std::uint32_t>("shard", shard.substr(slash + 1));
      h.protocol = text_of(f, "protocol");
      h.mode = text_of(f, "mode");
      h.connections = number<std::uint64_t>(f, "connections");
      h.total_connections = number<std::uint64_t>(f, "total_connections");
      h.rate = real(f, "rate");
      h.total_rate = real(f, "total_rate");
      h.interval_ms = number<std::int64_t>(f, "interval_ms");
      if (f.count("start_at_ms") != 0) h.start_at_ms = number<std::int64_t>(f, "start_at_ms");
      header = h;
    } else if (c.starts_with(kStartPrefix) && header) {
      const auto f = fields(c, kStartPrefix);
      header->start_offset_ms = real(f, "offset_ms");
      header->late = text_of(f, "late") == "1";
      header->open_connections = number<std::uint64_t>(f, "open_connections");
    }
  }
  return header;
}

}  // namespace wsb::hdr
