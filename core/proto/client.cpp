// Client drivers for the upper and echo protocols, the payload pool and the
// factory. The http driver is in http_client.cpp.
#include "proto/client.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "proto/detail/ascii.hpp"
#include "proto/detail/payload.hpp"
#include "proto/detail/sessions.hpp"

namespace wsb::proto {

namespace detail {

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

namespace {

// Mixes the stream number into the seed so that drivers of one factory draw
// independent sequences (SplitMix64 of adjacent states would overlap).
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
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

class UpperDriver final : public PooledDriver {
 public:
  using PooledDriver::PooledDriver;

  std::size_t write_request(ByteBuffer& out) override {
    const Slice s = draw();
    append_upper_frame(std::span<const char>(pool_->lower.data() + s.offset, s.size), out);
    push(s);
    return 2 + std::size_t{s.size};
  }

  std::size_t feed(std::span<const char> in) override {
    if (error_ != ClientError::none) return 0;
    const char* p = in.data();
    std::size_t n = in.size();
    std::size_t done = 0;
    while (n > 0) {
      if (pending_.empty()) {
        fail(ClientError::mismatch);  // a reply to nothing
        return done;
      }
      const Slice& s = pending_.front();
      if (length_bytes_ < 2) {
        // The length is checked byte by byte, least significant first, so a
        // split anywhere in it needs no reassembly.
        const auto expected =
            static_cast<unsigned char>(length_bytes_ == 0 ? s.size & 0xFF : s.size >> 8);
        if (static_cast<unsigned char>(*p) != expected) {
          fail(ClientError::mismatch);
          return done;
        }
        ++p;
        --n;
        if (++length_bytes_ < 2 || s.size > 0) continue;
      } else {
        const std::size_t take = std::min(n, std::size_t{s.size} - received_);
        if (std::memcmp(p, pool_->upper.data() + s.offset + received_, take) != 0) {
          fail(ClientError::mismatch);
          return done;
        }
        p += take;
        n -= take;
        received_ += take;
        if (received_ < s.size) continue;
      }
      complete();
      length_bytes_ = 0;
      ++done;
    }
    return done;
  }

  std::size_t on_peer_closed() noexcept override {
    if (outstanding_ > 0) fail(ClientError::unexpected_close);
    return 0;
  }

  void reset() noexcept override {
    PooledDriver::reset();
    length_bytes_ = 0;
  }

 private:
  int length_bytes_ = 0;  // bytes of the front reply's length field verified so far
};

class EchoDriver final : public PooledDriver {
 public:
  using PooledDriver::PooledDriver;

  std::size_t write_request(ByteBuffer& out) override {
    const Slice s = draw();
    out.append(std::span<const char>(pool_->lower.data() + s.offset, s.size));
    push(s);
    return s.size;
  }

  // The echoed stream has no framing: the bytes of the front request are
  // expected until all of them came back, then those of the next one.
  std::size_t feed(std::span<const char> in) override {
    if (error_ != ClientError::none) return 0;
    const char* p = in.data();
    std::size_t n = in.size();
    std::size_t done = 0;
    while (n > 0) {
      if (pending_.empty()) {
        fail(ClientError::mismatch);
        return done;
      }
      const Slice& s = pending_.front();
      const std::size_t take = std::min(n, std::size_t{s.size} - received_);
      if (std::memcmp(p, pool_->lower.data() + s.offset + received_, take) != 0) {
        fail(ClientError::mismatch);
        return done;
      }
      p += take;
      n -= take;
      received_ += take;
      if (received_ == s.size) {
        complete();
        ++done;
      }
    }
    return done;
  }

  std::size_t on_peer_closed() noexcept override {
    if (outstanding_ > 0) fail(ClientError::unexpected_close);
    return 0;
  }
};

bool is_http_token_text(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_target_char(c); });
}

}  // namespace
}  // namespace detail

// The largest echo request: the pool holds 256 KiB plus this many bytes, and
// bigger single requests belong to a streaming tool, not a request driver.
constexpr std::uint32_t max_echo_size = 16u * 1024 * 1024;

void validate(const ClientConfig& cfg) {
  if (cfg.protocol != Protocol::http) {
    if (cfg.size_min > cfg.size_max) {
      throw std::invalid_argument("request size: minimum " + std::to_string(cfg.size_min) +
                                  " exceeds maximum " + std::to_string(cfg.size_max));
    }
    if (cfg.protocol == Protocol::upper && cfg.size_max > 65535) {
      throw std::invalid_argument("upper: request size " + std::to_string(cfg.size_max) +
                                  " exceeds the 16-bit length field (65535)");
    }
    if (cfg.protocol == Protocol::echo && cfg.size_min == 0) {
      throw std::invalid_argument(
          "echo: request size must be at least 1 (an empty request has no "
          "echo to wait for)");
    }
    if (cfg.protocol == Protocol::echo && cfg.size_max > max_echo_size) {
      throw std::invalid_argument("echo: request size " + std::to_string(cfg.size_max) +
                                  " exceeds " + std::to_string(max_echo_size));
    }
  } else {
    if (!detail::is_http_token_text(cfg.http_host)) {
      throw std::invalid_argument("http: host '" + cfg.http_host +
                                  "' must be non-empty visible ASCII");
    }
    if (!detail::is_http_token_text(cfg.http_path)) {
      throw std::invalid_argument("http: path '" + cfg.http_path +
                                  "' must be non-empty visible ASCII");
    }
  }
}

std::string_view name(ClientError e) noexcept {
  switch (e) {
    case ClientError::none:
      return "none";
    case ClientError::mismatch:
      return "mismatch";
    case ClientError::malformed:
      return "malformed";
    case ClientError::unexpected_close:
      return "unexpected_close";
  }
  return "unknown";
}

ClientFactory::ClientFactory(ClientConfig cfg) : cfg_(std::move(cfg)) {
  validate(cfg_);
  if (cfg_.protocol != Protocol::http) {
    pool_ = std::make_shared<const detail::PayloadPool>(cfg_.seed, cfg_.size_max,
                                                        cfg_.protocol == Protocol::upper);
  }
}

std::unique_ptr<ClientDriver> ClientFactory::make(std::uint64_t stream) const {
  switch (cfg_.protocol) {
    case Protocol::upper:
      return std::make_unique<detail::UpperDriver>(cfg_, stream, pool_);
    case Protocol::echo:
      return std::make_unique<detail::EchoDriver>(cfg_, stream, pool_);
    case Protocol::http:
      return detail::make_http_driver(cfg_);
  }
  return nullptr;
}

void append_upper_frame(std::span<const char> body, ByteBuffer& out) {
  if (body.size() > 65535) {
    throw std::invalid_argument("upper: a body of " + std::to_string(body.size()) +
                                " bytes exceeds the 16-bit length field (65535)");
  }
  char* dst = out.prepare(2 + body.size()).data();
  dst[0] = static_cast<char>(body.size() & 0xFF);
  dst[1] = static_cast<char>(body.size() >> 8);
  std::memcpy(dst + 2, body.data(), body.size());
  out.commit(2 + body.size());
}

std::unique_ptr<ClientDriver> make_client_driver(const ClientConfig& cfg) {
  return ClientFactory(cfg).make(0);
}

}  // namespace wsb::proto
