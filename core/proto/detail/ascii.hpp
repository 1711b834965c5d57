// Byte classification and case mapping shared by the protocol code. Private to
// wsb_proto: not part of the installed API.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace wsb::proto::detail {

// Byte classes of RFC 9110 section 5.6.2 and RFC 9112, as lookup tables so
// that validation is one load per byte.
struct CharTables {
  std::array<bool, 256> tchar{};        // token characters
  std::array<bool, 256> field_char{};   // VCHAR, obs-text, SP, HTAB: what a field value may hold
  std::array<bool, 256> target_char{};  // VCHAR and obs-text: what a request-target may hold
};

constexpr CharTables make_char_tables() {
  CharTables t;
  for (int c = 0; c < 256; ++c) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool tspecial_ok =
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos &&
        c != 0;
    t.tchar[c] = alnum || tspecial_ok;
    const bool vchar_or_obs = (c >= 0x21 && c <= 0x7E) || c >= 0x80;
    t.target_char[c] = vchar_or_obs;
    t.field_char[c] = vchar_or_obs || c == ' ' || c == '\t';
  }
  return t;
}

inline constexpr CharTables char_tables = make_char_tables();

inline bool is_tchar(char c) noexcept {
  return char_tables.tchar[static_cast<unsigned char>(c)];
}
inline bool is_field_char(char c) noexcept {
  return char_tables.field_char[static_cast<unsigned char>(c)];
}
inline bool is_target_char(char c) noexcept {
  return char_tables.target_char[static_cast<unsigned char>(c)];
}
inline bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// ASCII case-insensitive equality against a lower-case literal, for header
// names and tokens; locale-independent by construction.
inline bool iequals_lower(std::string_view s, std::string_view lower) noexcept {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    if (c != lower[i]) return false;
  }
  return true;
}

inline char to_upper_ascii(char c) noexcept {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - ('a' - 'A')) : c;
}

// Copies n bytes from src to dst with a-z upper-cased and every other byte
// unchanged. Eight bytes at a time with SWAR arithmetic: each byte's low seven
// bits are offset so that bit 7 says ">= 'a'" and "> 'z'"; no addition carries
// into the next byte because a 7-bit value plus at most 0x1F stays below 0x100.
// Loads and stores go through memcpy, so alignment and byte order do not matter
// (every byte is handled independently).
inline void upper_copy(char* dst, const char* src, std::size_t n) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ull;
  constexpr std::uint64_t high = 0x8080808080808080ull;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x;
    std::memcpy(&x, src + i, 8);
    const std::uint64_t low7 = x & ~high;
    const std::uint64_t ge_a = low7 + ones * (0x80 - 'a');
    const std::uint64_t gt_z = low7 + ones * (0x80 - 'z' - 1);
    const std::uint64_t is_lower = ge_a & ~gt_z & ~x & high;
    x ^= is_lower >> 2;  // 0x80 >> 2 == 0x20, the case bit
    std::memcpy(dst + i, &x, 8);
  }
  for (; i < n; ++i)
    dst[i] = to_upper_ascii(src[i]);
}

}  // namespace wsb::proto::detail
