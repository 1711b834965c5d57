// libFuzzer target: the HdrHistogram V2 decoders (core/hdr/encoding.hpp):
// decode() of the uncompressed and compressed forms, base64_decode() and
// decode_base64(), and ZigZag LEB128 reads.
//
// Input: byte 0 picks the decoder (0 decode, 1 base64 then decode, 2 zigzag);
// the rest is its input. Only DecodeError may come out of a decoder. A
// histogram that decodes must encode again (when no counter is negative) and
// decode to an equal histogram, and base64 must round-trip.
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string_view>

#include "fuzz_support.hpp"
#include "hdr/encoding.hpp"

namespace {

using wsb::fuzz::check;
namespace hdr = wsb::hdr;

void round_trip(const hdr::Histogram& h) {
  try {
    const auto plain = hdr::encode(h);
    check(hdr::decode(plain) == h, "decode(encode(h)) != h");
    check(hdr::decode(hdr::encode_compressed(h, 1)) == h, "compressed round trip differs");
  } catch (const std::invalid_argument&) {
    // A negative counter: encode() refuses it, as documented.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::span<const std::uint8_t> in(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      try {
        round_trip(hdr::decode(in));
      } catch (const hdr::DecodeError&) {
      }
      break;
    case 1: {
      const std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
      try {
        const auto bytes = hdr::base64_decode(text);
        const std::string again = hdr::base64_encode(bytes);
        check(hdr::base64_decode(again) == bytes, "base64 round trip differs");
        round_trip(hdr::decode(bytes));
      } catch (const hdr::DecodeError&) {
      }
      break;
    }
    default: {
      std::size_t pos = 0;
      try {
        while (pos < in.size()) {
          const std::size_t before = pos;
          (void)hdr::zigzag::get(in, pos);
          check(pos > before && pos - before <= 9, "a ZigZag number took 0 or more than 9 bytes");
        }
      } catch (const hdr::DecodeError&) {
      }
      break;
    }
  }
  return 0;
}
