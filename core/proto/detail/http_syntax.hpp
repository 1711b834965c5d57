// Pieces of HTTP/1.1 message syntax (RFC 9112) shared by the server session
// and the client driver. Private to wsb_proto.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "proto/detail/ascii.hpp"

namespace wsb::proto::detail {

// Finds the end of a message head (the empty line after the start line and the
// field lines) across any number of chunks, remembering just enough of the
// current line between calls. A line ends with LF; an empty line is "\n" or
// "\r\n". Empty lines before the first non-empty line do not end the head (RFC
// 9112 section 2.2 asks servers to ignore them before a request line).
class HeadScanner {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  // Scans p[0, n) and returns the offset just past the LF that ends the head,
  // or npos if the head does not end within these bytes.
  std::size_t scan(const char* p, std::size_t n) noexcept {
    std::size_t i = 0;
    while (i < n) {
      const void* lf = std::memchr(p + i, '\n', n - i);
      if (lf == nullptr) {
        const std::size_t k = n - i;
        line_is_cr_ = line_len_ == 0 && k == 1 && p[i] == '\r';
        line_len_ += k;
        return npos;
      }
      const std::size_t j = static_cast<std::size_t>(static_cast<const char*>(lf) - p);
      const std::size_t k = j - i;
      const std::size_t total = line_len_ + k;
      const bool empty = total == 0 || (total == 1 && (k == 1 ? p[i] == '\r' : line_is_cr_));
      line_len_ = 0;
      line_is_cr_ = false;
      i = j + 1;
      if (!empty) {
        seen_content_ = true;
      } else if (seen_content_) {
        return i;
      }
    }
    return npos;
  }

  // True once the bytes scanned hold anything but empty lines (or a lone CR
  // that may become one): a peer closing then leaves a request unfinished.
  bool has_content() const noexcept { return seen_content_ || (line_len_ > 0 && !line_is_cr_); }

  // For a trailer section, which the first empty line ends.
  void expect_end_at_first_empty_line() noexcept { seen_content_ = true; }

 private:
  std::size_t line_len_ = 0;   // bytes of the current, unterminated line so far
  bool line_is_cr_ = false;    // the current line so far is exactly "\r"
  bool seen_content_ = false;  // a non-empty line was seen
};

// Splits a complete head into lines. next() returns each line without its LF
// and without one CR before it; a CR anywhere else stays in the line, where
// the character checks reject it as a bare CR.
class LineReader {
 public:
  explicit LineReader(std::string_view head) noexcept : rest_(head) {}

  bool next(std::string_view& line) noexcept {
    if (rest_.empty()) return false;
    const std::size_t lf = rest_.find('\n');
    std::string_view l = lf == std::string_view::npos ? rest_ : rest_.substr(0, lf);
    rest_.remove_prefix(lf == std::string_view::npos ? rest_.size() : lf + 1);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    line = l;
    return true;
  }

 private:
  std::string_view rest_;
};

inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Splits a field line into name and value (OWS trimmed). Returns false unless
// the name is a non-empty token followed directly by ':' and the value holds
// only field characters (no CTL but HTAB, hence no bare CR and no NUL).
inline bool split_field_line(std::string_view line, std::string_view& name,
                             std::string_view& value) noexcept {
  std::size_t i = 0;
  while (i < line.size() && is_tchar(line[i])) {
    ++i;
  }
  if (i == 0 || i == line.size() || line[i] != ':') return false;
  name = line.substr(0, i);
  for (std::size_t j = i + 1; j < line.size(); ++j) {
    if (!is_field_char(line[j])) return false;
  }
  value = trim_ows(line.substr(i + 1));
  return true;
}

// Calls f(element) for each non-empty element of a comma-separated list (RFC
// 9110 section 5.6.1), OWS trimmed. Returns false as soon as f does.
template <typename F>
bool for_each_list_element(std::string_view value, F&& f) {
  while (true) {
    const std::size_t comma = value.find(',');
    const std::string_view element = trim_ows(value.substr(0, comma));
    if (!element.empty() && !f(element)) return false;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

// Parses a Content-Length value: a list of one or more identical decimal
// numbers (RFC 9110 section 8.6 allows accepting "5, 5"). Values too large for
// 64 bits saturate to UINT64_MAX, which every sane limit rejects. Returns false
// for an empty, non-numeric or inconsistent value.
inline bool parse_content_length(std::string_view value, std::uint64_t& out) noexcept {
  bool have = false;
  std::uint64_t first = 0;
  bool ok = for_each_list_element(value, [&](std::string_view e) {
    std::uint64_t v = 0;
    for (char c : e) {
      if (!is_digit(c)) return false;
      const auto d = static_cast<std::uint64_t>(c - '0');
      v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    if (have && v != first) return false;
    first = v;
    have = true;
    return true;
  });
  if (!ok || !have) return false;
  out = first;
  return true;
}

}  // namespace wsb::proto::detail
