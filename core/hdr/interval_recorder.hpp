// Interval recording without locks: one writer thread records into its own
// histogram, and a reader thread (the reporter) collects a completed interval
// every so often, for example once a second.
//
// The writer swaps the histograms itself, between two records, when the
// reader asks for it. The writer's record path therefore touches only its own
// histogram plus one relaxed atomic load, and never waits; the reader never
// reads a histogram the writer may still be writing. The price is that the
// handover happens at the writer's next record() or service() call, so a
// writer that may go quiet must call service() from its event loop (each
// time it wakes up is enough).
//
//   writer thread                         reader thread (each second)
//   -------------                         ---------------------------
//   rec.record(latency_ns);               rec.request();
//   ...                                   ... later (next tick, or poll):
//   rec.service();  // in the event loop  if (const Histogram* h = rec.ready()) {
//                                           total.add(*h);  // merge
//                                         }
//
// Protocol. request() publishes (release) that the reader is done with the
// spare histogram and wants the active one. The writer, seeing a new request
// (acquire), swaps the active and spare histograms in O(1) and publishes the
// handover (release). ready() returns the spare, now holding the completed
// interval, once it sees the handover (acquire); it stays valid until the
// next request(), which resets it for the writer's next swap.
#pragma once

#include <atomic>
#include <cstdint>

#include "hdr/histogram.hpp"

namespace wsb::hdr {

class IntervalRecorder {
 public:
  IntervalRecorder(std::int64_t lowest_discernible_value, std::int64_t highest_trackable_value,
                   int significant_figures)
      : active_(lowest_discernible_value, highest_trackable_value, significant_figures),
        spare_(lowest_discernible_value, highest_trackable_value, significant_figures) {}

  IntervalRecorder(const IntervalRecorder&) = delete;
  IntervalRecorder& operator=(const IntervalRecorder&) = delete;

  // ---- Writer thread only --------------------------------------------------

  bool record(std::int64_t value) noexcept {
    service();
    return active_.record(value);
  }
  bool record(std::int64_t value, std::int64_t count) noexcept {
    service();
    return active_.record(value, count);
  }
  bool record_corrected(std::int64_t value, std::int64_t expected_interval) noexcept {
    service();
    return active_.record_corrected(value, expected_interval);
  }
  // Hands the active histogram over if the reader asked for it.
  void service() noexcept {
    const std::uint64_t requested = requested_.load(std::memory_order_relaxed);
    if (requested != served_) [[unlikely]] {
      hand_over(requested);
    }
  }

  // ---- Reader thread only --------------------------------------------------

  // Asks for the current interval. Any histogram returned by ready() before
  // is reset here and must no longer be used. Calling request() again before
  // ready() returned the previous interval simply keeps waiting for it.
  void request() noexcept {
    const std::uint64_t requested = requested_.load(std::memory_order_relaxed);
    if (handed_over_.load(std::memory_order_acquire) != requested) return;  // still pending
    spare_.reset();
    requested_.store(requested + 1, std::memory_order_release);
  }
  // The completed interval once the writer has handed it over, else nullptr.
  const Histogram* ready() const noexcept {
    const std::uint64_t requested = requested_.load(std::memory_order_relaxed);
    return requested != 0 && handed_over_.load(std::memory_order_acquire) == requested ? &spare_
                                                                                       : nullptr;
  }

  // ---- Either thread, when the other is known not to run -------------------

  // After the writer thread has been joined, the reader may call service()
  // itself to collect the last interval, or read the active histogram here.
  Histogram& active_unsynchronized() noexcept { return active_; }

 private:
  void hand_over(std::uint64_t requested) noexcept {
    // The acquire pairs with request()'s release: the reader's reset of the
    // spare happened before we start writing into it. An acquire load (rather
    // than a fence after service()'s relaxed load) orders the same way, costs
    // the same on this rare path, and is what ThreadSanitizer understands: it
    // does not model fences, so it would report the reset as a race.
    (void)requested_.load(std::memory_order_acquire);
    active_.swap(spare_);
    served_ = requested;
    handed_over_.store(requested, std::memory_order_release);
  }

  // Writer-owned, except during the handover described above.
  alignas(64) Histogram active_;
  std::uint64_t served_ = 0;  // writer-private copy of the last request served
  // Reader-owned between handovers.
  alignas(64) Histogram spare_;
  alignas(64) std::atomic<std::uint64_t> requested_{0};
  alignas(64) std::atomic<std::uint64_t> handed_over_{0};
};

}  // namespace wsb::hdr
