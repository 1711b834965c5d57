#include "hdr/encoding.hpp"

#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <string>

#include <zlib.h>

namespace wsb::hdr {

namespace {

constexpr std::size_t kHeaderSize = 40;
constexpr std::size_t kCompressedHeaderSize = 8;
constexpr std::size_t kMaxZigZagBytes = 9;

// Cookie bases: the cookie with its word-size nibble (0xF0) cleared.
constexpr std::uint32_t kV2Base = 0x1c849303;
constexpr std::uint32_t kV2CompressedBase = 0x1c849304;
constexpr std::uint32_t kV1Base = 0x1c849301;
constexpr std::uint32_t kV1CompressedBase = 0x1c849302;
constexpr std::uint32_t kV0Base = 0x1c849308;
constexpr std::uint32_t kV0CompressedBase = 0x1c849309;
constexpr std::uint32_t kDoubleCookie = 0x0c72124e;
constexpr std::uint32_t kDoubleCompressedCookie = 0x0c72124f;

std::string hex32(std::uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4)
    s.push_back(kDigits[(v >> shift) & 0xF]);
  return s;
}

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(v >> shift));
}

void put_be64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(v >> shift));
}

void patch_be32(std::vector<std::uint8_t>& out, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out[at + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

std::uint32_t get_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::uint64_t get_be64(const std::uint8_t* p) {
  return (std::uint64_t{get_be32(p)} << 32) | get_be32(p + 4);
}

// Names the encodings we recognise but do not support, so that the error says
// what the input is rather than only that it is wrong.
[[noreturn]] void reject_cookie(std::uint32_t cookie) {
  const std::uint32_t base = cookie & ~std::uint32_t{0xF0};
  std::string what;
  if (cookie == kDoubleCookie || cookie == kDoubleCompressedCookie) {
    what = "a DoubleHistogram encoding, which is not supported";
  } else if (base == kV1Base || base == kV1CompressedBase) {
    what = "a V1 histogram encoding, which is not supported (only V2)";
  } else if (base == kV0Base || base == kV0CompressedBase) {
    what = "a V0 histogram encoding, which is not supported (only V2)";
  } else {
    what = "not an HdrHistogram encoding";
  }
  throw DecodeError("hdr decode: cookie " + hex32(cookie) + " is " + what);
}

struct Header {
  std::uint32_t payload_length;
  std::int32_t significant_figures;
  std::int64_t lowest;
  std::int64_t highest;
};

Header parse_header(const std::uint8_t* p) {
  const std::uint32_t cookie = get_be32(p);
  if ((cookie & ~std::uint32_t{0xF0}) != kV2Base) reject_cookie(cookie);
  Header h{};
  h.payload_length = get_be32(p + 4);
  const std::uint32_t normalizing_index_offset = get_be32(p + 8);
  h.significant_figures = static_cast<std::int32_t>(get_be32(p + 12));
  h.lowest = static_cast<std::int64_t>(get_be64(p + 16));
  h.highest = static_cast<std::int64_t>(get_be64(p + 24));
  // The conversion ratio at p + 32 only matters to DoubleHistogram's inner
  // histograms; an integer histogram ignores it, as Java does.
  if (normalizing_index_offset != 0) {
    throw DecodeError("hdr decode: normalizing index offset " +
                      std::to_string(static_cast<std::int32_t>(normalizing_index_offset)) +
                      " is not supported (only shifted Java histograms write one)");
  }
  if (h.payload_length > static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max())) {
    throw DecodeError("hdr decode: negative payload length");
  }
  return h;
}

Histogram make_histogram(const Header& h) {
  try {
    return Histogram(h.lowest, h.highest, h.significant_figures);
  } catch (const std::invalid_argument& e) {
    throw DecodeError(std::string("hdr decode: invalid header: ") + e.what());
  }
}

// Upper bound of a well-formed payload for this histogram: every counter
// written at full width.
std::uint64_t max_payload_length(const Histogram& h) {
  return static_cast<std::uint64_t>(h.counts_length()) * kMaxZigZagBytes;
}

void fill_counts(Histogram& histogram, std::span<const std::uint8_t> payload) {
  const std::uint64_t length = histogram.counts_length();
  std::uint64_t index = 0;
  std::size_t pos = 0;
  while (pos < payload.size()) {
    const std::int64_t value = zigzag::get(payload, pos);
    if (value < 0) {
      // A run of zeros. -value cannot overflow a uint64_t even for INT64_MIN.
      const std::uint64_t zeros = std::uint64_t{0} - static_cast<std::uint64_t>(value);
      if (zeros > length - index) {
        throw DecodeError("hdr decode: a run of " + std::to_string(zeros) +
                          " zeros runs past the histogram's " + std::to_string(length) +
                          " counters");
      }
      index += zeros;
      continue;
    }
    if (index >= length) {
      throw DecodeError("hdr decode: the payload holds more than the histogram's " +
                        std::to_string(length) + " counters");
    }
    if (value > 0)
      histogram.record(histogram.value_at_index(static_cast<std::size_t>(index)), value);
    ++index;
  }
}

Histogram decode_uncompressed(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) {
    throw DecodeError("hdr decode: " + std::to_string(bytes.size()) +
                      " bytes are too few for a V2 header (40)");
  }
  const Header header = parse_header(bytes.data());
  Histogram histogram = make_histogram(header);
  if (header.payload_length > max_payload_length(histogram)) {
    throw DecodeError("hdr decode: payload length " + std::to_string(header.payload_length) +
                      " is larger than any encoding of this histogram");
  }
  if (header.payload_length > bytes.size() - kHeaderSize) {
    throw DecodeError("hdr decode: the buffer holds " + std::to_string(bytes.size() - kHeaderSize) +
                      " payload bytes, the header announces " +
                      std::to_string(header.payload_length));
  }
  if (header.payload_length < bytes.size() - kHeaderSize) {
    throw DecodeError(
        "hdr decode: " + std::to_string(bytes.size() - kHeaderSize - header.payload_length) +
        " bytes follow the histogram");
  }
  fill_counts(histogram, bytes.subspan(kHeaderSize, header.payload_length));
  return histogram;
}

// Inflates a zlib stream that must expand to exactly a V2 header plus the
// payload length that header announces, and must end there (which is also
// when zlib verifies the Adler-32 checksum).
class Inflater {
 public:
  explicit Inflater(std::span<const std::uint8_t> input) {
    std::memset(&stream_, 0, sizeof stream_);
    if (inflateInit(&stream_) != Z_OK) throw DecodeError("hdr decode: zlib inflateInit failed");
    // zlib's next_in is not const-qualified in every build; it never writes.
    stream_.next_in = const_cast<Bytef*>(input.data());
    stream_.avail_in = static_cast<uInt>(input.size());
  }
  ~Inflater() { inflateEnd(&stream_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Fills out completely; returns zlib's last status.
  int read(std::span<std::uint8_t> out) {
    stream_.next_out = out.data();
    stream_.avail_out = static_cast<uInt>(out.size());
    int status = Z_OK;
    while (stream_.avail_out > 0) {
      status = inflate(&stream_, Z_NO_FLUSH);
      if (status == Z_STREAM_END) break;
      if (status == Z_BUF_ERROR) break;  // no progress possible: the input ran out
      if (status != Z_OK) {
        const std::string detail =
            stream_.msg != nullptr ? std::string(stream_.msg) : "status " + std::to_string(status);
        throw DecodeError("hdr decode: corrupt zlib stream: " + detail);
      }
    }
    if (stream_.avail_out > 0) {
      throw DecodeError("hdr decode: the compressed data ends " +
                        std::to_string(stream_.avail_out) + " bytes early");
    }
    return status;
  }

  // Confirms that the stream ends here, checksum included.
  void expect_end(int last_status) {
    if (last_status == Z_STREAM_END) return;
    std::uint8_t extra = 0;
    stream_.next_out = &extra;
    stream_.avail_out = 1;
    const int status = inflate(&stream_, Z_FINISH);
    if (status == Z_STREAM_END && stream_.avail_out == 1) return;
    if (stream_.avail_out == 0) {
      throw DecodeError("hdr decode: the compressed data is longer than the header announces");
    }
    throw DecodeError(std::string("hdr decode: corrupt or truncated zlib stream") +
                      (stream_.msg ? std::string(": ") + stream_.msg : std::string()));
  }

 private:
  z_stream stream_;
};

Histogram decode_compressed(std::span<const std::uint8_t> bytes) {
  const std::uint32_t length = get_be32(bytes.data() + 4);
  if (length > bytes.size() - kCompressedHeaderSize) {
    throw DecodeError("hdr decode: the compressed length " + std::to_string(length) +
                      " exceeds the " + std::to_string(bytes.size() - kCompressedHeaderSize) +
                      " bytes present");
  }
  if (length < bytes.size() - kCompressedHeaderSize) {
    throw DecodeError(
        "hdr decode: " + std::to_string(bytes.size() - kCompressedHeaderSize - length) +
        " bytes follow the compressed histogram");
  }
  Inflater inflater(bytes.subspan(kCompressedHeaderSize, length));
  std::array<std::uint8_t, kHeaderSize> header_bytes{};
  int status = inflater.read(header_bytes);
  const Header header = parse_header(header_bytes.data());
  Histogram histogram = make_histogram(header);
  // The bound keeps a forged length from making us allocate without limit.
  if (header.payload_length > max_payload_length(histogram)) {
    throw DecodeError("hdr decode: payload length " + std::to_string(header.payload_length) +
                      " is larger than any encoding of this histogram");
  }
  std::vector<std::uint8_t> payload(header.payload_length);
  if (!payload.empty()) {
    if (status == Z_STREAM_END) {
      throw DecodeError("hdr decode: the compressed data ends before the payload");
    }
    status = inflater.read(payload);
  }
  inflater.expect_end(status);
  fill_counts(histogram, payload);
  return histogram;
}

}  // namespace

namespace zigzag {

void put(std::vector<std::uint8_t>& out, std::int64_t value) {
  // (v << 1) ^ (v >> 63), in unsigned arithmetic so that the shift of a
  // negative number is well defined; >> of a negative int64 is arithmetic in
  // C++20.
  std::uint64_t v =
      (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
  for (int i = 0; i < 8; ++i) {
    if ((v >> 7) == 0) {
      out.push_back(static_cast<std::uint8_t>(v));
      return;
    }
    out.push_back(static_cast<std::uint8_t>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));  // the ninth byte: 8 bits, no flag
}

std::int64_t get(std::span<const std::uint8_t> in, std::size_t& pos) {
  std::uint64_t v = 0;
  for (int i = 0; i < 9; ++i) {
    if (pos >= in.size()) throw DecodeError("hdr decode: the payload ends inside a number");
    const std::uint8_t byte = in[pos++];
    if (i == 8) {
      v |= std::uint64_t{byte} << 56;
      break;
    }
    v |= std::uint64_t{byte & 0x7Fu} << (7 * i);
    if ((byte & 0x80) == 0) break;
  }
  return static_cast<std::int64_t>((v >> 1) ^ (std::uint64_t{0} - (v & 1)));
}

}  // namespace zigzag

std::vector<std::uint8_t> encode(const Histogram& histogram) {
  const std::size_t limit = histogram.index_of(histogram.max()) + 1;
  const std::span<const std::int64_t> counts = histogram.counts();
  if (limit > counts.size()) {
    throw std::invalid_argument("hdr encode: the histogram has no counters");
  }
  std::vector<std::uint8_t> out;
  out.reserve(kHeaderSize + 16);
  put_be32(out, kV2EncodingCookie);
  put_be32(out, 0);  // payload length, patched below
  put_be32(out, 0);  // normalizing index offset
  put_be32(out, static_cast<std::uint32_t>(histogram.significant_figures()));
  put_be64(out, static_cast<std::uint64_t>(histogram.lowest_discernible_value()));
  put_be64(out, static_cast<std::uint64_t>(histogram.highest_trackable_value()));
  put_be64(out, std::bit_cast<std::uint64_t>(1.0));  // integer-to-double conversion ratio
  std::size_t i = 0;
  while (i < limit) {
    const std::int64_t count = counts[i++];
    if (count < 0) {
      throw std::invalid_argument("hdr encode: cannot encode a negative count at index " +
                                  std::to_string(i - 1));
    }
    if (count == 0) {
      std::int64_t zeros = 1;
      while (i < limit && counts[i] == 0) {
        ++zeros;
        ++i;
      }
      // Java writes a lone zero as itself and only longer runs as -k.
      zigzag::put(out, zeros > 1 ? -zeros : 0);
    } else {
      zigzag::put(out, count);
    }
  }
  patch_be32(out, 4, static_cast<std::uint32_t>(out.size() - kHeaderSize));
  return out;
}

std::vector<std::uint8_t> encode_compressed(const Histogram& histogram, int level) {
  if (level < Z_DEFAULT_COMPRESSION || level > Z_BEST_COMPRESSION) {
    throw std::invalid_argument("hdr encode: zlib level must be -1 or 0..9, got " +
                                std::to_string(level));
  }
  const std::vector<std::uint8_t> plain = encode(histogram);
  uLongf compressed_length = compressBound(static_cast<uLong>(plain.size()));
  std::vector<std::uint8_t> out(kCompressedHeaderSize + compressed_length);
  // compress2() is deflateInit(level) (window 15 bits, memory level 8, default
  // strategy) plus one Z_FINISH, exactly what java.util.zip.Deflater does.
  const int status = compress2(out.data() + kCompressedHeaderSize, &compressed_length, plain.data(),
                               static_cast<uLong>(plain.size()), level);
  if (status != Z_OK) {
    throw std::runtime_error("hdr encode: zlib compress2 failed with status " +
                             std::to_string(status));
  }
  out.resize(kCompressedHeaderSize + compressed_length);
  patch_be32(out, 0, kV2CompressedEncodingCookie);
  patch_be32(out, 4, static_cast<std::uint32_t>(compressed_length));
  return out;
}

Histogram decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 4) {
    throw DecodeError("hdr decode: " + std::to_string(bytes.size()) +
                      " bytes are too few for a histogram");
  }
  const std::uint32_t cookie = get_be32(bytes.data());
  const std::uint32_t base = cookie & ~std::uint32_t{0xF0};
  if (base == kV2CompressedBase) {
    if (bytes.size() < kCompressedHeaderSize) {
      throw DecodeError("hdr decode: truncated compressed histogram header");
    }
    return decode_compressed(bytes);
  }
  if (base == kV2Base) return decode_uncompressed(bytes);
  reject_cookie(cookie);
}

// ---- base64 -------------------------------------------------------------------

namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n =
        (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out.push_back(kBase64Alphabet[n & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = std::uint32_t{bytes[i]} << 16;
    if (rest == 2) n |= std::uint32_t{bytes[i + 1]} << 8;
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::vector<std::uint8_t> base64_decode(std::string_view text) {
  std::size_t end = text.size();
  std::size_t padding = 0;
  while (end > 0 && text[end - 1] == '=' && padding < 2) {
    --end;
    ++padding;
  }
  if (padding > 0 && (end + padding) % 4 != 0) {
    throw DecodeError("base64: padding does not complete a 4-character group");
  }
  if (end % 4 == 1) throw DecodeError("base64: truncated input (a lone trailing character)");
  std::vector<std::uint8_t> out;
  out.reserve(end / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < end; ++i) {
    const int v = base64_value(text[i]);
    if (v < 0) {
      throw DecodeError("base64: invalid character at offset " + std::to_string(i));
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (std::uint32_t{1} << bits) - 1;
    }
  }
  return out;
}

std::string encode_base64_compressed(const Histogram& histogram, int level) {
  return base64_encode(encode_compressed(histogram, level));
}

Histogram decode_base64(std::string_view text) {
  const std::vector<std::uint8_t> bytes = base64_decode(text);
  return decode(bytes);
}

}  // namespace wsb::hdr
