// Scheduling arithmetic of the workload, kept free of sockets and clocks so
// that it is unit-tested on its own (namespace wsb::loadgen).
//
// Times are nanoseconds since the run's epoch (the moment the workers were
// started), held in std::int64_t: 292 years of range.
#pragma once

#include <cstdint>

namespace wsb::loadgen {

// The part of `total` that worker `index` of `workers` takes: the first
// total % workers workers take one more than the others, so every share
// differs by at most one and the shares add up to total.
struct Share {
  std::uint64_t first = 0;  // index of the first item of this share
  std::uint64_t count = 0;
};
Share share_of(std::uint64_t total, std::uint64_t workers, std::uint64_t index) noexcept;

// Open-loop schedule (wrk2's model): `rate` requests per second in total over
// `connections` connections. Connection g sends its k-th request (k = 0, 1, ...)
// at the intended time
//     (g + k * connections) / rate   seconds after the epoch,
// so each connection has its own evenly spaced schedule with one request every
// connections / rate seconds, the connections' phases are staggered by
// 1 / rate, and together they form one evenly spaced stream at exactly `rate`.
// Times are computed from k, never accumulated, so they do not drift. Rates
// below the connection count or the thread count simply give long
// per-connection intervals (wrk2 #8, #147 failed there with integer division).
class OpenSchedule {
 public:
  // rate > 0 requests/s, connections >= 1.
  OpenSchedule(double rate, std::uint64_t connections) noexcept;

  std::int64_t intended_ns(std::uint64_t connection, std::uint64_t k) const noexcept;
  // Nanoseconds between two requests of one connection.
  double connection_interval_ns() const noexcept { return ns_per_request_ * connections_; }
  // Nanoseconds between two consecutive requests of the whole stream (1/rate).
  double ns_per_request() const noexcept { return ns_per_request_; }

 private:
  double ns_per_request_;
  double connections_;
};

// Paces connection attempts to a rate without letting a backlog of missed
// permits turn into a burst: after an idle stretch the next permit is
// available at once and the one after it a full interval later.
class ConnectPacer {
 public:
  // rate in connects/s (0 or less: unlimited). The first permit is available
  // at first_ns.
  ConnectPacer(double rate, std::int64_t first_ns) noexcept;

  bool unlimited() const noexcept { return interval_ns_ <= 0.0; }
  // Takes a permit when one is available at now_ns.
  bool try_acquire(std::int64_t now_ns) noexcept;
  // When the next permit becomes available (meaningless when unlimited).
  std::int64_t next_ns() const noexcept;

 private:
  double interval_ns_;
  double next_ns_;
};

// Reconnect back-off after a failed connect: 10 ms, doubling per consecutive
// failure, capped at 1 s, so that a refused target costs a few hundred
// attempts per connection and minute rather than a busy loop.
std::int64_t reconnect_backoff_ns(unsigned consecutive_failures) noexcept;

}  // namespace wsb::loadgen
