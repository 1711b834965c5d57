// Random payloads for the client drivers. Private to wsb_proto.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace wsb::proto::detail {

// SplitMix64 (Steele, Lea and Flood, 2014): one 64-bit multiply-xorshift step
// per number, statistically good enough for payloads and sizes, and trivially
// reproducible from a seed on every platform.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Maps 32 random bits onto [0, range) by multiply-shift (Lemire): no
  // division, and a bias below range / 2^32, irrelevant here.
  static std::uint64_t scale(std::uint32_t bits, std::uint64_t range) noexcept {
    return (static_cast<std::uint64_t>(bits) * range) >> 32;
  }

 private:
  std::uint64_t state_;
};

// Read-only random text shared by every driver of one configuration. A request
// body is the slice [offset, offset + size) of `lower`, with offset uniform in
// [0, window]; `upper` holds the same letters upper-cased, so verifying an
// upper reply is a memcmp.
struct PayloadPool {
  static constexpr std::size_t window = 256 * 1024;

  PayloadPool(std::uint64_t seed, std::size_t max_size, bool with_upper);

  std::vector<char> lower;
  std::vector<char> upper;  // empty unless with_upper
};

// A FIFO of pending requests on a ring that only grows (power-of-two sizes),
// so pipelining costs no allocation once the deepest pipeline was seen.
template <typename T>
class Ring {
 public:
  bool empty() const noexcept { return count_ == 0; }
  std::size_t size() const noexcept { return count_; }
  T& front() noexcept { return slots_[head_]; }
  void push(const T& v) {
    if (count_ == slots_.size()) grow();
    slots_[(head_ + count_) & (slots_.size() - 1)] = v;
    ++count_;
  }
  void pop() noexcept {
    head_ = (head_ + 1) & (slots_.size() - 1);
    --count_;
  }
  void clear() noexcept { head_ = count_ = 0; }

 private:
  void grow() {
    std::vector<T> bigger(slots_.empty() ? 16 : slots_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i)
      bigger[i] = slots_[(head_ + i) & (slots_.size() - 1)];
    slots_.swap(bigger);
    head_ = 0;
  }

  std::vector<T> slots_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

}  // namespace wsb::proto::detail
