// Helpers shared by the libFuzzer targets of this folder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

namespace wsb::fuzz {

// A broken invariant is a finding: print why and abort, which libFuzzer
// records as a crash with the input that caused it.
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

// Splits `total` bytes into chunks whose sizes come from a small
// pseudo-random sequence seeded by `seed` (one input byte), so that the same
// input always splits the same way and every split is reachable. Chunks are
// 1..max_chunk bytes; seed 0 means one chunk of everything.
inline std::vector<std::size_t> chunk_sizes(std::size_t total, std::uint8_t seed,
                                            std::size_t max_chunk = 64) {
  std::vector<std::size_t> sizes;
  if (seed == 0) {
    if (total > 0) sizes.push_back(total);
    return sizes;
  }
  std::uint32_t state = 0x9E3779B9u ^ seed;
  while (total > 0) {
    // xorshift32: cheap, and good enough to vary chunk boundaries.
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    const std::size_t n = 1 + state % max_chunk;
    const std::size_t take = n < total ? n : total;
    sizes.push_back(take);
    total -= take;
  }
  return sizes;
}

// Calls feed(chunk) for consecutive chunks of `bytes` split by chunk_sizes().
template <class Feed>
void feed_in_chunks(std::span<const char> bytes, std::uint8_t seed, Feed&& feed) {
  std::size_t at = 0;
  for (const std::size_t n : chunk_sizes(bytes.size(), seed)) {
    feed(bytes.subspan(at, n));
    at += n;
  }
}

}  // namespace wsb::fuzz
