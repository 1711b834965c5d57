// What a worker measures, and how the reporter collects it without a lock or
// an allocation on the worker's record path (namespace wsb::loadgen).
//
// Each worker owns a WorkerRecorder: three interval histograms (hdr's
// IntervalRecorder: the worker swaps its active histogram for the spare one
// when the reporter asks, see hdr/interval_recorder.hpp) and a block of
// counters. The counters are atomics only so that the reporter may read them
// while the worker runs; the worker, their only writer, updates them with a
// relaxed load and a relaxed store (no locked instruction).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "hdr/histogram.hpp"
#include "hdr/interval_recorder.hpp"

namespace wsb::loadgen {

// The histograms every worker keeps. Values are nanoseconds, 1 ns to 1 hour,
// 3 significant figures (hdr::kLatency*, the project-wide configuration).
enum class Series : std::uint8_t {
  latency,      // response time; in open loop measured from the INTENDED send time
  uncorrected,  // open loop only: measured from the actual send time
  connect,      // connect() to connected
  count_
};
inline constexpr std::size_t kSeriesCount = static_cast<std::size_t>(Series::count_);
// The .hlog tags: "latency", "latency_uncorrected", "connect".
std::string_view tag(Series s) noexcept;

// Why a connection or a request failed. Each failure is counted once, in one class.
enum class ErrorKind : std::uint8_t {
  connect_refused,  // nothing listens at the target (ECONNREFUSED)
  connect_timeout,  // --connect-timeout passed, or the kernel gave up (ETIMEDOUT)
  connect_failed,   // any other connect failure: no source port left, no descriptor, ...
  reset,            // the server reset an established connection
  closed,           // the server closed with responses outstanding (or a --hold connection)
  request_timeout,  // no response within --timeout
  mismatch,         // a response that is not the expected one, or malformed
  io,               // any other socket error on an established connection
  count_
};
inline constexpr std::size_t kErrorKindCount = static_cast<std::size_t>(ErrorKind::count_);
std::string_view name(ErrorKind e) noexcept;

// The counters of a worker, by index (WorkerRecorder::add).
enum class Count : std::uint8_t {
  requests,
  responses,
  requests_failed,
  bytes_out,
  bytes_in,
  connect_attempts,
  connects,
  churn_closes,
  count_
};
inline constexpr std::size_t kCountCount = static_cast<std::size_t>(Count::count_);

// A copy of a worker's counters (or a sum or difference of such copies).
struct Counters {
  std::uint64_t requests = 0;         // requests written
  std::uint64_t responses = 0;        // responses received and verified
  std::uint64_t requests_failed = 0;  // requests outstanding on connections that failed
  std::uint64_t bytes_out = 0;        // request bytes written
  std::uint64_t bytes_in = 0;         // response bytes received
  std::uint64_t connect_attempts = 0;
  std::uint64_t connects = 0;      // connects that succeeded
  std::uint64_t churn_closes = 0;  // connections closed by --churn after K requests
  std::array<std::uint64_t, kErrorKindCount> errors{};

  std::uint64_t errors_total() const noexcept;
  std::uint64_t error(ErrorKind e) const noexcept { return errors[static_cast<std::size_t>(e)]; }
  Counters& operator+=(const Counters& other) noexcept;
  // Saturates at zero per field, so a difference of two snapshots taken while
  // a worker runs never wraps.
  Counters& operator-=(const Counters& other) noexcept;
};

// The histograms of one interval or of the whole run, one per Series.
class HistogramSet {
 public:
  HistogramSet();
  hdr::Histogram& operator[](Series s) noexcept { return h_[static_cast<std::size_t>(s)]; }
  const hdr::Histogram& operator[](Series s) const noexcept {
    return h_[static_cast<std::size_t>(s)];
  }
  void reset() noexcept;
  void add(const HistogramSet& other);

 private:
  std::array<hdr::Histogram, kSeriesCount> h_;
};

hdr::Histogram make_latency_histogram();

class alignas(64) WorkerRecorder {
 public:
  WorkerRecorder();
  WorkerRecorder(const WorkerRecorder&) = delete;
  WorkerRecorder& operator=(const WorkerRecorder&) = delete;

  // ---- Worker thread only ---------------------------------------------------
  // Negative values (a clock read before the send it measures, impossible with
  // a steady clock) are recorded as 0 rather than dropped.
  void record(Series s, std::int64_t ns) noexcept {
    recorders_[static_cast<std::size_t>(s)]->record(ns < 0 ? 0 : ns);
  }
  // Hands the interval over if the reporter asked; call in every loop turn.
  void service() noexcept {
    for (auto& r : recorders_)
      r->service();
  }
  void add(Count c, std::uint64_t n) noexcept { bump(counts_[static_cast<std::size_t>(c)], n); }
  void error(ErrorKind e) noexcept { bump(errors_[static_cast<std::size_t>(e)], 1); }

  // ---- Reporter thread ------------------------------------------------------
  // Asks for the current interval of every series (see IntervalRecorder).
  void request() noexcept;
  // True once every series has been handed over since the last request().
  bool ready() const noexcept;
  // Adds the handed-over interval to `into` (only after ready()).
  void add_interval_to(HistogramSet& into) const;
  // A relaxed snapshot of the counters.
  Counters counters() const noexcept;

  // After the worker thread has been joined: the reporter takes the last
  // interval itself (request(), then this, then add_interval_to()).
  void service_after_join() noexcept { service(); }

 private:
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    // Single writer: a load and a store, no read-modify-write instruction.
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::array<std::unique_ptr<hdr::IntervalRecorder>, kSeriesCount> recorders_;
  // Written by the worker only; on their own cache line, away from the
  // reporter's request flags inside the interval recorders.
  alignas(64) std::array<std::atomic<std::uint64_t>, kCountCount> counts_{};
  std::array<std::atomic<std::uint64_t>, kErrorKindCount> errors_{};
};

// One collection round over all workers: request() on each, then, as each
// becomes ready(), its interval is added to `into`. Returns true when every
// worker was collected. `collected` (one flag per worker) survives between
// calls of a round, so the caller may poll: begin_collect() starts a round.
void begin_collect(std::span<WorkerRecorder* const> workers, std::span<bool> collected) noexcept;
bool poll_collect(std::span<WorkerRecorder* const> workers, std::span<bool> collected,
                  HistogramSet& into);

}  // namespace wsb::loadgen
