// V2 encodings, ZigZag LEB128, base64 and the rejection of everything else.
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hdr/encoding.hpp"
#include "hdr/histogram.hpp"

namespace {

using wsb::hdr::DecodeError;
using wsb::hdr::Histogram;
using Bytes = std::vector<std::uint8_t>;

Bytes from_hex(const std::string& hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string decode_error(const Bytes& bytes) {
  try {
    wsb::hdr::decode(bytes);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "";
}

void put_be32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    b[at + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

// A V2 header for (1, 3.6e9, 3) followed by payload.
Bytes v2_block(const Bytes& payload) {
  Bytes b = from_hex(
      "1c849313000000000000000000000003"
      "0000000000000001"
      "00000000d693a400"
      "3ff0000000000000");
  put_be32(b, 4, static_cast<std::uint32_t>(payload.size()));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

TEST(HdrEncoding, EmptyHistogramKnownAnswer) {
  const Histogram h(1, 3'600'000'000, 3);
  EXPECT_EQ(wsb::hdr::encode(h), from_hex("1c84931300000001000000000000000300000000000000010000000"
                                          "0d693a4003ff000000000000000"));
  const Bytes compressed = wsb::hdr::encode_compressed(h);
  // zlib header of level 9, as Java's log writer uses.
  EXPECT_EQ(compressed[8], 0x78);
  EXPECT_EQ(compressed[9], 0xDA);
  EXPECT_EQ(wsb::hdr::encode_base64_compressed(h),
            "HISTFAAAAB942pNpmSzMwMDAyAABzFAazL82eQmD/QeoCABVgwSI");
}

TEST(HdrEncoding, OneTwoThreeKnownAnswer) {
  Histogram h(1, 3'600'000'000, 3);
  h.record(1);
  h.record(2);
  h.record(3);
  const std::string b64 = "HISTFAAAACN42pNpmSzMwMDAwgABzFCaEURcm7yEwf4DVISJiQkAY5YEkQ==";
  EXPECT_EQ(wsb::hdr::encode_base64_compressed(h), b64);
  const Histogram back = wsb::hdr::decode_base64(b64);
  EXPECT_EQ(back, h);
  EXPECT_EQ(back.min(), 1);
  EXPECT_EQ(back.max(), 3);
  // Java writes the lone zero at index 0 as 0: payload 00 02 02 02.
  const Bytes plain = wsb::hdr::encode(h);
  EXPECT_EQ(Bytes(plain.begin() + 40, plain.end()), from_hex("00020202"));
}

TEST(HdrEncoding, ZigZagKnownVectors) {
  struct Vector {
    std::int64_t value;
    std::string hex;
  };
  const Vector vectors[] = {
      {0, "00"},
      {-1, "01"},
      {1, "02"},
      {63, "7e"},
      {-64, "7f"},
      {64, "8001"},
      {300, "d804"},
      {-300, "d704"},
      {std::int64_t{1} << 55,
       "8080808080808080"
       "01"},
      {std::numeric_limits<std::int64_t>::max(), "feffffffffffffffff"},
      {std::numeric_limits<std::int64_t>::min(), "ffffffffffffffffff"},
  };
  for (const Vector& v : vectors) {
    Bytes out;
    wsb::hdr::zigzag::put(out, v.value);
    EXPECT_EQ(out, from_hex(v.hex)) << v.value;
    std::size_t pos = 0;
    EXPECT_EQ(wsb::hdr::zigzag::get(out, pos), v.value);
    EXPECT_EQ(pos, out.size());
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10000; ++i) {
    const auto value = static_cast<std::int64_t>(rng()) >> (rng() % 64);
    Bytes out;
    wsb::hdr::zigzag::put(out, value);
    std::size_t pos = 0;
    ASSERT_EQ(wsb::hdr::zigzag::get(out, pos), value);
  }
  Bytes truncated = from_hex("8080");
  std::size_t pos = 0;
  EXPECT_THROW(wsb::hdr::zigzag::get(truncated, pos), DecodeError);
}

TEST(HdrEncoding, DecodesJavaAndCZeroRuns) {
  // counts: [0]=0, [1]=5, [2..4]=0, [5]=7.
  // Java: a lone zero as 0, a run of three as -3. C: every run as -k.
  Bytes java_payload;
  Bytes c_payload;
  for (std::int64_t v : {0, 5, -3, 7})
    wsb::hdr::zigzag::put(java_payload, v);
  for (std::int64_t v : {-1, 5, -3, 7})
    wsb::hdr::zigzag::put(c_payload, v);
  const Histogram from_java = wsb::hdr::decode(v2_block(java_payload));
  const Histogram from_c = wsb::hdr::decode(v2_block(c_payload));
  EXPECT_EQ(from_java, from_c);
  EXPECT_EQ(from_java.count_at(1), 5);
  EXPECT_EQ(from_java.count_at(5), 7);
  EXPECT_EQ(from_java.total_count(), 12);
  EXPECT_EQ(from_java.min(), 1);
  EXPECT_EQ(from_java.max(), 5);
  EXPECT_EQ(wsb::hdr::encode(from_java), v2_block(java_payload));
}

TEST(HdrEncoding, RoundTripsEveryConfiguration) {
  std::mt19937_64 rng(99);
  struct Config {
    std::int64_t lowest, highest;
    int sigfigs;
  };
  for (const Config& c :
       {Config{1, 3'600'000'000'000, 3}, Config{1, 3'600'000'000, 1}, Config{1, 3'600'000'000, 2},
        Config{1, 100'000'000, 4}, Config{1, 10'000'000, 5}, Config{7, 10'000'000'000, 3},
        Config{1000, 3'600'000'000'000, 2},
        Config{1, std::numeric_limits<std::int64_t>::max(), 2}}) {
    Histogram h(c.lowest, c.highest, c.sigfigs);
    for (int i = 0; i < 2000; ++i) {
      // Log-uniform values with runs of zeros of every length between them.
      const int bits = 1 + static_cast<int>(rng() % 62);
      const auto value = static_cast<std::int64_t>(rng() >> (64 - bits));
      if (value <= h.highest_recordable_value()) {
        h.record(value, static_cast<std::int64_t>(rng() % 1000));
      }
    }
    for (const Bytes& bytes :
         {wsb::hdr::encode(h), wsb::hdr::encode_compressed(h, 9), wsb::hdr::encode_compressed(h, 1),
          wsb::hdr::encode_compressed(h, -1)}) {
      const Histogram back = wsb::hdr::decode(bytes);
      EXPECT_EQ(back, h) << c.sigfigs;
      EXPECT_EQ(back.min(), h.min());
      EXPECT_EQ(back.max(), h.max());
      EXPECT_EQ(back.highest_trackable_value(), c.highest);
    }
    EXPECT_EQ(wsb::hdr::decode_base64(wsb::hdr::encode_base64_compressed(h)), h);
  }
  EXPECT_THROW(wsb::hdr::encode_compressed(Histogram(1, 100, 2), 10), std::invalid_argument);
}

TEST(HdrEncoding, RejectsOtherEncodingsByName) {
  Bytes b = wsb::hdr::encode(Histogram(1, 1000, 2));
  put_be32(b, 0, 0x1c849301);
  EXPECT_NE(decode_error(b).find("V1"), std::string::npos);
  put_be32(b, 0, 0x1c849322);  // V1 compressed with a word-size nibble
  EXPECT_NE(decode_error(b).find("V1"), std::string::npos);
  put_be32(b, 0, 0x1c849308);
  EXPECT_NE(decode_error(b).find("V0"), std::string::npos);
  put_be32(b, 0, 0x0c72124f);
  EXPECT_NE(decode_error(b).find("DoubleHistogram"), std::string::npos);
  put_be32(b, 0, 0xdeadbeef);
  EXPECT_NE(decode_error(b).find("not an HdrHistogram encoding"), std::string::npos);
  EXPECT_NE(decode_error(Bytes{0x1c}).find("too few"), std::string::npos);
}

TEST(HdrEncoding, RejectsCorruptInput) {
  Histogram h(1, 3'600'000'000, 3);
  for (std::int64_t v = 1; v < 5000; v += 7)
    h.record(v * 13, v);
  const Bytes plain = wsb::hdr::encode(h);
  const Bytes compressed = wsb::hdr::encode_compressed(h);

  // Truncated, in the header, in the payload, in the zlib stream.
  EXPECT_NE(decode_error(Bytes(plain.begin(), plain.begin() + 20)).find("too few"),
            std::string::npos);
  EXPECT_NE(decode_error(Bytes(plain.begin(), plain.end() - 1)).find("payload"), std::string::npos);
  EXPECT_FALSE(decode_error(Bytes(compressed.begin(), compressed.end() - 5)).empty());
  Bytes short_length = compressed;
  put_be32(short_length, 4, static_cast<std::uint32_t>(compressed.size() - 8 - 5));
  EXPECT_FALSE(decode_error(Bytes(short_length.begin(), short_length.end() - 5)).empty());
  // Any flipped byte of the zlib stream is caught (checksum or format).
  for (std::size_t i = 8; i < compressed.size(); ++i) {
    Bytes flipped = compressed;
    flipped[i] ^= 0x5a;
    ASSERT_FALSE(decode_error(flipped).empty()) << "flipped byte " << i;
  }
  // A compressed length beyond the buffer.
  Bytes long_length = compressed;
  put_be32(long_length, 4, 1'000'000);
  EXPECT_NE(decode_error(long_length).find("exceeds"), std::string::npos);

  // More counts than counters, and zero runs past the end.
  Bytes payload;
  for (int i = 0; i < 23553; ++i)
    wsb::hdr::zigzag::put(payload, 1);
  EXPECT_NE(decode_error(v2_block(payload)).find("more than"), std::string::npos);
  payload.clear();
  wsb::hdr::zigzag::put(payload, -23553);
  EXPECT_NE(decode_error(v2_block(payload)).find("zeros"), std::string::npos);
  payload.clear();
  wsb::hdr::zigzag::put(payload, std::numeric_limits<std::int64_t>::min());
  EXPECT_NE(decode_error(v2_block(payload)).find("zeros"), std::string::npos);

  // Header fields: a forged payload length, an offset, a bad configuration.
  Bytes forged = v2_block(Bytes{0});
  put_be32(forged, 4, 0x7fffffff);
  EXPECT_NE(decode_error(forged).find("larger than any encoding"), std::string::npos);
  Bytes offset = v2_block(Bytes{0});
  put_be32(offset, 8, 3);
  EXPECT_NE(decode_error(offset).find("normalizing index offset"), std::string::npos);
  Bytes bad_config = v2_block(Bytes{0});
  put_be32(bad_config, 12, 9);
  EXPECT_NE(decode_error(bad_config).find("invalid header"), std::string::npos);
}

TEST(HdrEncoding, Base64Vectors) {
  auto enc = [](const std::string& s) {
    return wsb::hdr::base64_encode(Bytes(s.begin(), s.end()));
  };
  auto dec = [](const std::string& s) {
    const Bytes b = wsb::hdr::base64_decode(s);
    return std::string(b.begin(), b.end());
  };
  // RFC 4648 section 10.
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(enc(plain), encoded);
    EXPECT_EQ(dec(encoded), plain);
  }
  const Bytes all = [] {
    Bytes b;
    for (int i = 0; i < 256; ++i)
      b.push_back(static_cast<std::uint8_t>(i));
    return b;
  }();
  EXPECT_EQ(wsb::hdr::base64_decode(wsb::hdr::base64_encode(all)), all);
  // Padding is optional, as for java.util.Base64.
  EXPECT_EQ(dec("Zm9vYg"), "foob");
  EXPECT_THROW(wsb::hdr::base64_decode("Zm9v!g=="), DecodeError);
  EXPECT_THROW(wsb::hdr::base64_decode("Zm9vY"), DecodeError);
  EXPECT_THROW(wsb::hdr::base64_decode("Zm9vYg="), DecodeError);
  EXPECT_THROW(wsb::hdr::base64_decode("Zm=9"), DecodeError);
  // Bytes after the histogram are not ignored.
  EXPECT_THROW(wsb::hdr::decode_base64("HISTFAAAACN42pNpmSzMwMDAwgABzFCaEURcm7yEwf4DVISJiQkAY5YEkQ"
                                       "AAAA"),
               DecodeError);
}

}  // namespace
