// HdrHistogram with 64-bit counts, following the Java reference implementation
// (org.HdrHistogram.Histogram, version 2.1.11) wherever the C and Java
// implementations differ, so that every text output and log we write can be
// compared byte for byte with the jar's.
//
// A histogram covers the values 0 .. highest_trackable_value() with a relative
// precision of significant_figures() decimal digits, and never resolves values
// closer together than lowest_discernible_value(). Values are grouped into
// "equivalence ranges" (one counter each); every query answers in terms of
// those ranges, exactly as Java does.
//
// Recording is a few instructions, never allocates, never locks and never
// throws: it is meant to be called on a hot path by the one thread that owns
// the histogram. Sharing a histogram between threads needs the pattern in
// interval_recorder.hpp, not locks.
//
// Unlike Java, recording does not track the minimum and maximum: each would
// be a read-modify-write of a field on every call, a dependency chain through
// memory from one record to the next (a store to the counters may alias the
// fields, so the compiler cannot keep them in registers), and together they
// made recording about 20% slower. min() and max() scan the counters instead;
// that gives Java's answers (it computes them the same way after decoding a
// histogram) at O(counts_length()) per query. The one difference: Java lets
// record(v, 0) raise the maximum; here a zero count changes nothing.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace wsb::hdr {

// The configuration every latency histogram of the project uses: values are
// nanoseconds from 1 ns to one hour, with 3 significant figures (0.1% error).
inline constexpr std::int64_t kLatencyLowestNs = 1;
inline constexpr std::int64_t kLatencyHighestNs = 3'600'000'000'000;
inline constexpr int kLatencySignificantFigures = 3;

// One step of an iteration over a histogram (Java HistogramIterationValue).
struct IterationValue {
  std::int64_t value = 0;             // highest equivalent value of the range reached
  std::int64_t count_at_value = 0;    // count in that equivalence range
  std::int64_t count_added = 0;       // counts passed since the previous step
  std::int64_t cumulative_count = 0;  // counts up to and including this range
  double percentile = 0.0;            // 100 * cumulative_count / total_count
  double percentile_level = 0.0;      // level iterated to (percentile iteration only)
};

class Histogram {
 public:
  // Throws std::invalid_argument when lowest < 1, highest < 2 * lowest,
  // significant_figures is outside 1..5, or the combination would need more
  // than 63 bits of value range (Java's "cannot represent" case).
  Histogram(std::int64_t lowest_discernible_value, std::int64_t highest_trackable_value,
            int significant_figures);

  Histogram(const Histogram&) = default;
  Histogram& operator=(const Histogram&) = default;
  // A moved-from histogram keeps its configuration but owns no counters: it
  // reads as empty, record() returns false, and grow_to_cover() or assigning
  // to it makes it usable again.
  Histogram(Histogram&& other) noexcept;
  Histogram& operator=(Histogram&& other) noexcept;
  ~Histogram() = default;

  // ---- Recording ---------------------------------------------------------

  // Adds count (default 1) to the range holding value. Returns false, and
  // changes nothing, when value is negative, lies beyond the last counter, or
  // count is negative. Like Java, a value is accepted when its equivalence
  // range exists, which can reach well beyond highest_trackable_value() (to
  // the end of the last power-of-two bucket: 3.6e12 accepts up to 4.398e12);
  // highest_recordable_value() is the exact limit. Counters wrap around on
  // overflow (as Java's long arithmetic does) instead of invoking undefined
  // behaviour.
  bool record(std::int64_t value) noexcept { return record(value, 1); }
  bool record(std::int64_t value, std::int64_t count) noexcept;

  // Java recordValueWithExpectedInterval: records value, then, if
  // expected_interval > 0, also value - k * expected_interval for every k >= 1
  // while that is >= expected_interval, to compensate for the samples a
  // stalled measurement loop failed to take (coordinated omission). The fills
  // are added one equivalence range at a time, so the cost is bounded by the
  // number of ranges between expected_interval and value, not by
  // value / expected_interval. Returns false (nothing recorded) when value
  // cannot be recorded.
  bool record_corrected(std::int64_t value, std::int64_t expected_interval,
                        std::int64_t count = 1) noexcept;

  // ---- Combining ---------------------------------------------------------

  // Adds every count of other, range by range (at other's lowest equivalent
  // values, as Java does). Counts that do not fit are dropped and their number
  // returned. The start time becomes the earlier and the end time the later of
  // the two (Java rule).
  std::int64_t add(const Histogram& other);

  // Java addWhileCorrectingForCoordinatedOmission: record_corrected() of
  // highest_equivalent(v) for every recorded range of other. Note that Java
  // feeds the highest equivalent value while HdrHistogram_c feeds the lowest;
  // this follows Java. Returns the number of counts dropped.
  std::int64_t add_while_correcting(const Histogram& other, std::int64_t expected_interval);

  // Grows the histogram so that value becomes recordable, as Java's
  // auto-resizing histograms do before add(): highest_trackable_value() becomes
  // value and the counters array is extended (existing counts keep their
  // index). Does nothing if value is already recordable. Throws
  // std::invalid_argument for a negative value.
  void grow_to_cover(std::int64_t value);

  // Clears counts, min, max, timestamps and tag (Java reset()).
  void reset() noexcept;

  // Exchanges everything, configuration included, in O(1). This is how a
  // filled interval histogram is handed over without copying counters.
  void swap(Histogram& other) noexcept;
  friend void swap(Histogram& a, Histogram& b) noexcept { a.swap(b); }

  // ---- Configuration -----------------------------------------------------

  std::int64_t lowest_discernible_value() const noexcept { return lowest_; }
  std::int64_t highest_trackable_value() const noexcept { return highest_; }
  int significant_figures() const noexcept { return significant_figures_; }
  int unit_magnitude() const noexcept { return unit_magnitude_; }
  int bucket_count() const noexcept { return bucket_count_; }
  int sub_bucket_count() const noexcept { return 1 << (sub_bucket_half_count_magnitude_ + 1); }
  std::size_t counts_length() const noexcept { return static_cast<std::size_t>(counts_len_); }
  // The largest value record() accepts: the top of the last equivalence range.
  std::int64_t highest_recordable_value() const noexcept;
  // True when both histograms map values to counters identically.
  bool same_layout(const Histogram& other) const noexcept {
    return unit_magnitude_ == other.unit_magnitude_ &&
           sub_bucket_half_count_magnitude_ == other.sub_bucket_half_count_magnitude_;
  }

  // ---- Queries -------------------------------------------------------------

  std::int64_t total_count() const noexcept { return total_; }
  // Java rules: 0 for an empty histogram; 0 when anything was recorded in the
  // first range; otherwise the lowest equivalent value of the smallest value.
  // Scans the counters from the bottom.
  std::int64_t min() const noexcept;
  // Java rule: highest equivalent value of the largest value, 0 when empty
  // (so with lowest 1000 a recorded 0 gives 511, the top of the first range).
  // Scans the counters from the top.
  std::int64_t max() const noexcept;
  // Lowest equivalent of the smallest value above the first range, or
  // INT64_MAX when there is none (Java getMinNonZeroValue).
  std::int64_t min_nonzero() const noexcept;
  // Mean and standard deviation over the median equivalent value of every
  // range, summed in double as Java does; 0.0 for an empty histogram.
  double mean() const noexcept;
  double stddev() const noexcept;
  // Java getValueAtPercentile: the highest equivalent value (lowest for p == 0)
  // of the first range whose cumulative count reaches
  // max(1, ceil(nextDown(p) clamped to [0,100] * total / 100)); 0 when empty.
  std::int64_t value_at_percentile(double percentile) const noexcept;
  // Count in the range holding value (Java getCountAtValue: a value beyond the
  // last range reads the last counter; a negative value reads 0).
  std::int64_t count_at(std::int64_t value) const noexcept;
  std::int64_t count_at_index(std::size_t index) const noexcept { return counts_[index]; }
  std::span<const std::int64_t> counts() const noexcept { return {counts_.data(), counts_.size()}; }

  // ---- Equivalence ranges (value >= 0) -------------------------------------

  std::size_t index_of(std::int64_t value) const noexcept {
    return static_cast<std::size_t>(index_of_unchecked(value));
  }
  // Lowest value of the range of counter index (index < counts_length()).
  std::int64_t value_at_index(std::size_t index) const noexcept;
  std::int64_t size_of_equivalent_range(std::int64_t value) const noexcept;
  std::int64_t lowest_equivalent(std::int64_t value) const noexcept;
  std::int64_t highest_equivalent(std::int64_t value) const noexcept;
  std::int64_t median_equivalent(std::int64_t value) const noexcept;
  std::int64_t next_non_equivalent(std::int64_t value) const noexcept;
  bool values_are_equivalent(std::int64_t a, std::int64_t b) const noexcept {
    return lowest_equivalent(a) == lowest_equivalent(b);
  }

  // ---- Iteration -----------------------------------------------------------

  // Java PercentileIterator with the given ticks per half distance (5 in
  // every Java output), including the final 100% step.
  std::vector<IterationValue> percentiles(int ticks_per_half_distance) const;
  // Java RecordedValuesIterator: one step per non-empty range, in value order.
  std::vector<IterationValue> recorded_values() const;

  // ---- Metadata ------------------------------------------------------------

  // Interval timestamps in milliseconds since the epoch. Like Java, the start
  // of a fresh or reset histogram is INT64_MAX and its end is 0, so that add()
  // can keep the earliest start and the latest end.
  std::int64_t start_time_ms() const noexcept { return start_time_ms_; }
  std::int64_t end_time_ms() const noexcept { return end_time_ms_; }
  void set_start_time_ms(std::int64_t ms) noexcept { start_time_ms_ = ms; }
  void set_end_time_ms(std::int64_t ms) noexcept { end_time_ms_ = ms; }
  // An empty tag means "no tag". The log writer rejects tags that contain a
  // comma, a space or a line break.
  const std::string& tag() const noexcept { return tag_; }
  void set_tag(std::string tag) { tag_ = std::move(tag); }

  // Same configuration and the same counts (metadata is not compared).
  friend bool operator==(const Histogram& a, const Histogram& b) noexcept;

 private:
  std::uint64_t index_of_unchecked(std::int64_t value) const noexcept {
    const auto v = static_cast<std::uint64_t>(value);
    // v | sub_bucket_mask_ keeps the bucket index >= 0 for the small values of
    // bucket 0. A negative value, seen as unsigned, lands in a bucket past the
    // end, so the single bounds check in record() also rejects it. The "| 1"
    // changes nothing (the mask has higher bits set) but tells the compiler
    // that the operand is never zero, which removes a branch around BSR.
    const int bucket = leading_zero_count_base_ - std::countl_zero(v | sub_bucket_mask_ | 1u);
    const std::uint64_t sub_bucket = v >> (bucket + unit_magnitude_);
    return (static_cast<std::uint64_t>(bucket + 1) << sub_bucket_half_count_magnitude_) +
           sub_bucket - sub_bucket_half_count_;
  }
  // The counter at `index`, which must be below counts_len_. Indexes are
  // 64-bit (they come from 64-bit values), the vector's are size_t; every
  // index below counts_len_ fits, because the constructor allocated
  // counts_len_ counters.
  std::int64_t& counter(std::uint64_t index) noexcept {
    return counts_[static_cast<std::size_t>(index)];
  }
  std::int64_t counter(std::uint64_t index) const noexcept {
    return counts_[static_cast<std::size_t>(index)];
  }
  void add_at_index(std::uint64_t index, std::int64_t count) noexcept {
    counter(index) = wrapping_add(counter(index), count);
    total_ = wrapping_add(total_, count);
  }
  static std::int64_t wrapping_add(std::int64_t a, std::int64_t b) noexcept {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
  }
  static int buckets_needed(std::int64_t value, int sub_bucket_count_magnitude,
                            int unit_magnitude) noexcept;

  // Configuration (Java AbstractHistogram field names in comments).
  std::int64_t lowest_ = 1;      // lowestDiscernibleValue
  std::int64_t highest_ = 2;     // highestTrackableValue
  int significant_figures_ = 3;  // numberOfSignificantValueDigits
  int unit_magnitude_ = 0;       // unitMagnitude
  int sub_bucket_half_count_magnitude_ = 0;
  int leading_zero_count_base_ = 0;  // 64 - unitMagnitude - subBucketHalfCountMagnitude - 1
  int bucket_count_ = 0;
  std::uint64_t sub_bucket_half_count_ = 0;
  std::uint64_t sub_bucket_mask_ = 0;  // (subBucketCount - 1) << unitMagnitude
  std::uint64_t counts_len_ = 0;

  // State.
  std::vector<std::int64_t> counts_;
  std::int64_t total_ = 0;
  std::int64_t start_time_ms_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t end_time_ms_ = 0;
  std::string tag_;
};

inline bool Histogram::record(std::int64_t value, std::int64_t count) noexcept {
  const std::uint64_t index = index_of_unchecked(value);
  if (index >= counts_len_ || count < 0) [[unlikely]] {
    return false;
  }
  add_at_index(index, count);
  return true;
}

// Walks a histogram in Java PercentileIterator order without allocating.
// The histogram must not change while the iterator is in use.
class PercentileIterator {
 public:
  PercentileIterator(const Histogram& histogram, int ticks_per_half_distance) noexcept;
  // Produces the next step; false when the iteration is over.
  bool next(IterationValue& out) noexcept;

 private:
  bool reached_level() const noexcept;
  void increment_level() noexcept;

  const Histogram* histogram_;
  std::int64_t ticks_per_half_distance_;
  std::int64_t total_;
  std::size_t index_ = 0;
  bool fresh_ = true;
  bool reached_last_ = false;
  std::int64_t count_at_index_ = 0;
  std::int64_t cumulative_ = 0;
  std::int64_t cumulative_at_previous_step_ = 0;
  double level_to_ = 0.0;
};

}  // namespace wsb::hdr
