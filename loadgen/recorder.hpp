// What a worker measures, and how the reporter collects it without a lock or
// an allocation on the worker's record path (namespace wsb::loadgen).
//
// Each worker owns a WorkerRecorder: a set of histograms it records into and
// a block of counters. The reporter collects an interval with the protocol of
// hdr::IntervalRecorder (hdr/interval_recorder.hpp): it asks, the worker
// swaps its active histograms for the spare ones between two records, and
// publishes the hand-over. WorkerRecorder implements that protocol itself,
// for the whole set at once, because the worker also copies its counters at
// the same instant: an interval's counts and its histograms then describe
// exactly the same responses (with three separate IntervalRecorders, a
// response recorded between two hand-overs would land in one interval's
// histogram and the other interval's counts).
//
// The counters are atomics only so that the reporter may read them while the
// worker runs (the live totals); the worker, their only writer, updates them
// with a relaxed load and a relaxed store (no locked instruction).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "hdr/histogram.hpp"

namespace wsb::loadgen {

// The histograms every worker keeps. Values are nanoseconds, 1 ns to 1 hour,
// 3 significant figures (hdr::kLatency*, the project-wide configuration).
enum class Series : std::uint8_t {
  latency,      // response time; in open loop measured from the INTENDED send time
  uncorrected,  // open loop only: measured from the actual send time
  connect,      // connect() to connected
  delivery,     // chat: a message's send time (intended, in open loop) to its receipt by each
                // recipient
  count_
};
inline constexpr std::size_t kSeriesCount = static_cast<std::size_t>(Series::count_);
// The .hlog tags: "latency", "latency_uncorrected", "connect", "delivery".
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
  // chat only (kept last, so that the CSV's other error columns keep their place):
  lost,        // a delivery the server ACKed that never arrived (counted at the end of the run)
  duplicated,  // a delivery received a second time
  reordered,   // a delivery that arrived after a later message of its sender's channel
  count_
};
inline constexpr std::size_t kErrorKindCount = static_cast<std::size_t>(ErrorKind::count_);
// The error kinds every protocol has come before this one; the chat ones from it on.
inline constexpr std::size_t kFirstChatError = static_cast<std::size_t>(ErrorKind::lost);
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
  deliveries,
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
  std::uint64_t deliveries = 0;    // chat: messages of other users received and verified
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
  // O(1): exchanges the counters of every histogram.
  void swap(HistogramSet& other) noexcept;

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
  void record(Series s, std::int64_t ns) noexcept { active_[s].record(ns < 0 ? 0 : ns); }
  // Hands the interval over if the reporter asked; call in every loop turn.
  // Recording never hands over by itself, so that the counters and the
  // histograms are always cut at the same point (see above).
  void service() noexcept {
    const std::uint64_t requested = requested_.load(std::memory_order_relaxed);
    if (requested != served_) [[unlikely]] {
      hand_over(requested);
    }
  }
  void add(Count c, std::uint64_t n) noexcept { bump(counts_[static_cast<std::size_t>(c)], n); }
  void error(ErrorKind e) noexcept { bump(errors_[static_cast<std::size_t>(e)], 1); }
  // The number of the last request handed over (requests are numbered 1, 2, ...).
  std::uint64_t served() const noexcept { return served_; }

  // ---- Reporter thread ------------------------------------------------------
  // Asks for the current interval. The histograms of the interval returned
  // before are reset here. Asking again before ready() keeps waiting for the
  // interval already asked for.
  void request() noexcept;
  // The number the next request() will wait for: a new number, or the one
  // still pending. The worker's served() reaches it at the hand-over that
  // answers that request.
  std::uint64_t next_request() const noexcept {
    const std::uint64_t requested = requested_.load(std::memory_order_relaxed);
    return handed_over_.load(std::memory_order_acquire) == requested ? requested + 1 : requested;
  }
  // True once the interval asked for has been handed over.
  bool ready() const noexcept;
  // Only after ready(), until the next request(): the interval's histograms,
  // and the worker's cumulative counters at the moment it handed them over.
  void add_interval_to(HistogramSet& into) const;
  const Counters& counters_at_hand_over() const noexcept { return at_hand_over_; }
  // A relaxed snapshot of the counters now (not aligned with any interval).
  Counters counters() const noexcept;

  // After the worker thread has been joined (or has published that it ended,
  // with release/acquire), the reporter hands the last interval over itself:
  // request(), then this, then add_interval_to().
  void service_after_join() noexcept { service(); }

 private:
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    // Single writer: a load and a store, no read-modify-write instruction.
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void hand_over(std::uint64_t requested) noexcept;

  // Writer-owned, except during the hand-over.
  HistogramSet active_;
  std::uint64_t served_ = 0;
  // Reader-owned between hand-overs.
  HistogramSet spare_;
  Counters at_hand_over_;
  alignas(64) std::atomic<std::uint64_t> requested_{0};
  alignas(64) std::atomic<std::uint64_t> handed_over_{0};
  // Written by the worker only; on their own cache line, away from the
  // reporter's request flag.
  alignas(64) std::array<std::atomic<std::uint64_t>, kCountCount> counts_{};
  std::array<std::atomic<std::uint64_t>, kErrorKindCount> errors_{};
};

// One collection round over all workers: begin_collect() asks each one
// (request()); poll_collect() adds the interval of each worker that has become
// ready() to `into` and stores its counters_at_hand_over() in
// `counters[i]`, and returns true once every worker was collected.
// `collected` (one flag per worker) carries the round's progress between
// calls, so the caller may poll.
void begin_collect(std::span<WorkerRecorder* const> workers, std::span<bool> collected) noexcept;
bool poll_collect(std::span<WorkerRecorder* const> workers, std::span<bool> collected,
                  HistogramSet& into, std::span<Counters> counters);

}  // namespace wsb::loadgen
