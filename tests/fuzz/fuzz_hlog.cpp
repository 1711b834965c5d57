// libFuzzer target: the .hlog reader (core/hdr/log.hpp) on arbitrary text.
//
// Input: byte 0 picks the reading call (0 next(), 1 next(range) with a range
// taken from byte 1, 2 next_absolute(range)); the rest is the log. The only
// outcomes allowed are intervals and LogError: any other exception, a crash
// or a sanitizer report is a finding. Every interval read must re-encode
// (the histogram it holds is a real one).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_support.hpp"
#include "hdr/encoding.hpp"
#include "hdr/log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const int call = data[0] % 3;
  const double range_start = data[1] & 0x0F;
  const double range_end = range_start + (data[1] >> 4);
  std::istringstream in(std::string(reinterpret_cast<const char*>(data + 2), size - 2));
  wsb::hdr::LogReader reader(in);
  try {
    // A bound on intervals keeps one input's work small.
    for (int i = 0; i < 64; ++i) {
      std::optional<wsb::hdr::LogEntry> entry;
      if (call == 0) {
        entry = reader.next();
      } else if (call == 1) {
        entry = reader.next(range_start, range_end);
      } else {
        entry = reader.next_absolute(range_start, range_end);
      }
      if (!entry) break;
      wsb::fuzz::check(entry->line >= 1 && entry->line <= reader.line_number(),
                       "an interval's line number is outside the lines read");
      if (entry->histogram.total_count() >= 0) {
        // Counts that the decoder accepted re-encode and decode to the same
        // histogram; a negative total means a counter wrapped, which the
        // encoder refuses by design.
        try {
          const auto again = wsb::hdr::decode(wsb::hdr::encode(entry->histogram));
          wsb::fuzz::check(again == entry->histogram, "an interval does not survive re-encoding");
        } catch (const std::invalid_argument&) {
          // A negative counter (see encode()): refused, as documented.
        }
      }
    }
  } catch (const wsb::hdr::LogError&) {
    // A malformed line: the documented outcome.
  }
  return 0;
}
