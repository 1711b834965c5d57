// The HdrHistogram V2 serialization, byte for byte as Java writes it:
//
//   uncompressed  int32 cookie 0x1c849313, int32 payload length,
//                 int32 normalizing index offset (0), int32 significant figures,
//                 int64 lowest, int64 highest, float64 conversion ratio (1.0),
//                 then the payload (all big-endian);
//   compressed    int32 cookie 0x1c849314, int32 length N, then N bytes of a
//                 zlib (RFC 1950) stream of the whole uncompressed form.
//
// The payload holds counts[0 .. index(max)] as ZigZag LEB128-64b9B numbers;
// Java writes a run of k >= 2 zeros as -k (and a lone zero as 0), while
// HdrHistogram_c writes every run, even of one, as -k. The decoder accepts
// both. A .hlog line carries the compressed form in base64.
//
// The older encodings (V0, V1) and DoubleHistogram are rejected with an error
// that names them.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hdr/histogram.hpp"

namespace wsb::hdr {

// Thrown for any input that is not a well-formed, supported encoding.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::uint32_t kV2EncodingCookie = 0x1c849313;
inline constexpr std::uint32_t kV2CompressedEncodingCookie = 0x1c849314;
// Java's HistogramLogWriter compresses with Deflater.BEST_COMPRESSION; using
// the same level is what makes our log lines identical to Java's.
inline constexpr int kLogCompressionLevel = 9;

// Uncompressed V2 form (Java encodeIntoByteBuffer). Throws
// std::invalid_argument if a counter is negative (only possible after
// wrap-around), which Java refuses to encode as well.
std::vector<std::uint8_t> encode(const Histogram& histogram);

// Compressed V2 form (Java encodeIntoCompressedByteBuffer). level is a zlib
// level, -1 (zlib's default) or 0..9.
std::vector<std::uint8_t> encode_compressed(const Histogram& histogram,
                                            int level = kLogCompressionLevel);

// Decodes either V2 form, chosen by its cookie. bytes must hold exactly one
// histogram: truncated input and trailing bytes both throw DecodeError.
Histogram decode(std::span<const std::uint8_t> bytes);

// Base64 with the standard alphabet and '=' padding, no line breaks.
std::string base64_encode(std::span<const std::uint8_t> bytes);
// Accepts input with or without padding (as java.util.Base64 does); throws
// DecodeError on any other deviation.
std::vector<std::uint8_t> base64_decode(std::string_view text);

// The payload of a .hlog line: base64 of the compressed form.
std::string encode_base64_compressed(const Histogram& histogram, int level = kLogCompressionLevel);
Histogram decode_base64(std::string_view text);

namespace zigzag {

// Appends value as ZigZag LEB128-64b9B: 7 bits per byte, least significant
// first, 0x80 meaning "more", and a ninth byte carrying the last 8 bits.
void put(std::vector<std::uint8_t>& out, std::int64_t value);
// Reads one number at pos and advances pos. Throws DecodeError if the input
// ends inside the number.
std::int64_t get(std::span<const std::uint8_t> in, std::size_t& pos);

}  // namespace zigzag

}  // namespace wsb::hdr
