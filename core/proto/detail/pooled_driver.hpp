// What the upper and echo client drivers share (namespace wsb::proto::detail):
// drawing request slices from the payload pool and remembering them in
// order. Private to wsb_proto (upper_client.cpp, echo_client.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "proto/client.hpp"
#include "proto/detail/payload.hpp"

namespace wsb::proto::detail {

// Mixes the stream number into the seed so that drivers of one factory draw
// independent sequences (SplitMix64 of adjacent states would overlap).
inline std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
  Rng mix(seed ^ (stream * 0xD1B54A32D192ED03ull));
  mix.next();
  return mix.next();
}

// A request's slice of the payload pool.
struct Slice {
  std::uint32_t offset = 0;
  std::uint32_t size = 0;
};

// What the upper and echo drivers share: drawing request slices and
// remembering them in order.
class PooledDriver : public ClientDriver {
 public:
  PooledDriver(const ClientConfig& cfg, std::uint64_t stream,
               std::shared_ptr<const PayloadPool> pool)
      : pool_(std::move(pool)),
        rng_(stream_seed(cfg.seed, stream)),
        size_min_(cfg.size_min),
        size_span_(static_cast<std::uint64_t>(cfg.size_max) - cfg.size_min + 1) {}

  // The connection ended: a failure if a reply was still due.
  std::size_t on_peer_closed() noexcept override {
    if (outstanding_ > 0) fail(ClientError::unexpected_close);
    return 0;
  }

  void reset() noexcept override {
    ClientDriver::reset();
    pending_.clear();
    received_ = 0;
  }

 protected:
  Slice draw() noexcept {
    const std::uint64_t r = rng_.next();
    Slice s;
    s.size = size_min_ +
             static_cast<std::uint32_t>(Rng::scale(static_cast<std::uint32_t>(r), size_span_));
    s.offset = static_cast<std::uint32_t>(
        Rng::scale(static_cast<std::uint32_t>(r >> 32), PayloadPool::window + 1));
    return s;
  }

  // The request bytes of a drawn slice.
  std::span<const char> request(const Slice& s) const noexcept {
    return std::span<const char>(pool_->lower.data() + s.offset, s.size);
  }

  // Checks as much of the front request's reply body as [p, p + n) holds
  // against `expected` (the pool copy the reply must equal) and consumes it.
  // False after failing the driver on a mismatch.
  bool verify_body(const std::vector<char>& expected, const char*& p, std::size_t& n) noexcept {
    const Slice& s = pending_.front();
    const std::size_t take = std::min(n, std::size_t{s.size} - received_);
    if (std::memcmp(p, expected.data() + s.offset + received_, take) != 0) {
      fail(ClientError::mismatch);
      return false;
    }
    p += take;
    n -= take;
    received_ += take;
    return true;
  }

  // What a driver's read_reply step found of the front request's reply.
  enum class Reply { incomplete, complete, failed };

  // The feed() loop of both drivers: hands [in] to `read_reply(p, n)`, which
  // consumes what it can of the front request's reply and says whether that
  // reply is complete (or failed the driver), until the input is used up.
  // Bytes with no request pending are a mismatch. Returns the replies
  // completed.
  template <class ReadReply>
  std::size_t feed_replies(std::span<const char> in, ReadReply read_reply) noexcept {
    if (error_ != ClientError::none) return 0;
    const char* p = in.data();
    std::size_t n = in.size();
    std::size_t done = 0;
    while (n > 0) {
      if (pending_.empty()) {
        fail(ClientError::mismatch);  // a reply to nothing
        return done;
      }
      const Reply reply = read_reply(p, n);
      if (reply == Reply::failed) return done;
      if (reply == Reply::complete) {
        complete();
        ++done;
      }
    }
    return done;
  }

  void push(const Slice& s) {
    pending_.push(s);
    ++outstanding_;
  }

  void complete() noexcept {
    pending_.pop();
    --outstanding_;
    ++responses_;
    received_ = 0;
  }

  std::shared_ptr<const PayloadPool> pool_;
  Ring<Slice> pending_;
  std::size_t received_ = 0;  // body bytes of pending_.front() verified so far

 private:
  Rng rng_;
  std::uint32_t size_min_;
  std::uint64_t size_span_;
};

}  // namespace wsb::proto::detail
