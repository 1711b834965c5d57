// The payload pool the upper and echo drivers draw requests from:
// proto/detail/payload.hpp.
#include "proto/detail/payload.hpp"

#include "proto/detail/ascii.hpp"

namespace wsb::proto::detail {

PayloadPool::PayloadPool(std::uint64_t seed, std::size_t max_size, bool with_upper)
    : lower(window + max_size) {
  // Eight letters per random number: each byte b maps to 'a' + b * 26 / 256.
  Rng rng(seed);
  std::size_t i = 0;
  while (i < lower.size()) {
    std::uint64_t bits = rng.next();
    for (int k = 0; k < 8 && i < lower.size(); ++k, ++i, bits >>= 8) {
      lower[i] = static_cast<char>('a' + ((bits & 0xFF) * 26 >> 8));
    }
  }
  if (with_upper) {
    upper.resize(lower.size());
    upper_copy(upper.data(), lower.data(), lower.size());
  }
}

}  // namespace wsb::proto::detail
