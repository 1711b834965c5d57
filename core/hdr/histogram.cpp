#include "hdr/histogram.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace wsb::hdr {

namespace {

std::string config_text(std::int64_t lowest, std::int64_t highest, int significant_figures) {
  return "(lowest " + std::to_string(lowest) + ", highest " + std::to_string(highest) +
         ", significant figures " + std::to_string(significant_figures) + ")";
}

}  // namespace

Histogram::Histogram(std::int64_t lowest_discernible_value, std::int64_t highest_trackable_value,
                     int significant_figures)
    : lowest_(lowest_discernible_value),
      highest_(highest_trackable_value),
      significant_figures_(significant_figures) {
  const std::string config = config_text(lowest_, highest_, significant_figures_);
  if (lowest_ < 1) {
    throw std::invalid_argument("hdr::Histogram: lowest discernible value must be >= 1 " + config);
  }
  // highest >= 2 * lowest, written so that 2 * lowest cannot overflow.
  if (highest_ / 2 < lowest_) {
    throw std::invalid_argument(
        "hdr::Histogram: highest trackable value must be >= 2 * lowest discernible value " +
        config);
  }
  if (significant_figures_ < 1 || significant_figures_ > 5) {
    throw std::invalid_argument("hdr::Histogram: significant figures must be between 1 and 5 " +
                                config);
  }
  // Both references derive the magnitudes through floating-point logarithms;
  // keeping their formulas keeps their answers for every lowest value,
  // including the few (>= 2^48) where this differs from an exact floor(log2).
  const double largest_single_unit = 2.0 * std::pow(10.0, significant_figures_);
  const int sub_bucket_count_magnitude =
      static_cast<int>(std::ceil(std::log(largest_single_unit) / std::log(2.0)));
  unit_magnitude_ = static_cast<int>(std::log(static_cast<double>(lowest_)) / std::log(2.0));
  sub_bucket_half_count_magnitude_ = sub_bucket_count_magnitude - 1;
  if (unit_magnitude_ + sub_bucket_count_magnitude > 62) {
    throw std::invalid_argument(
        "hdr::Histogram: cannot represent that many significant figures beyond the lowest "
        "discernible value " +
        config);
  }
  leading_zero_count_base_ = 64 - unit_magnitude_ - sub_bucket_half_count_magnitude_ - 1;
  sub_bucket_half_count_ = std::uint64_t{1} << sub_bucket_half_count_magnitude_;
  sub_bucket_mask_ = ((std::uint64_t{1} << sub_bucket_count_magnitude) - 1) << unit_magnitude_;
  bucket_count_ = buckets_needed(highest_, sub_bucket_count_magnitude, unit_magnitude_);
  counts_len_ = static_cast<std::uint64_t>(bucket_count_ + 1) << sub_bucket_half_count_magnitude_;
  counts_.assign(static_cast<std::size_t>(counts_len_), 0);
}

Histogram::Histogram(Histogram&& other) noexcept
    : lowest_(other.lowest_),
      highest_(other.highest_),
      significant_figures_(other.significant_figures_),
      unit_magnitude_(other.unit_magnitude_),
      sub_bucket_half_count_magnitude_(other.sub_bucket_half_count_magnitude_),
      leading_zero_count_base_(other.leading_zero_count_base_),
      bucket_count_(other.bucket_count_),
      sub_bucket_half_count_(other.sub_bucket_half_count_),
      sub_bucket_mask_(other.sub_bucket_mask_),
      counts_len_(other.counts_len_),
      counts_(std::move(other.counts_)),
      total_(other.total_),
      start_time_ms_(other.start_time_ms_),
      end_time_ms_(other.end_time_ms_),
      tag_(std::move(other.tag_)) {
  other.counts_.clear();
  other.counts_len_ = 0;
  other.total_ = 0;
}

Histogram& Histogram::operator=(Histogram&& other) noexcept {
  if (this != &other) {
    Histogram moved(std::move(other));
    swap(moved);
  }
  return *this;
}

int Histogram::buckets_needed(std::int64_t value, int sub_bucket_count_magnitude,
                              int unit_magnitude) noexcept {
  std::int64_t smallest_untrackable = std::int64_t{1}
                                      << (sub_bucket_count_magnitude + unit_magnitude);
  int buckets = 1;
  while (smallest_untrackable <= value) {
    if (smallest_untrackable > std::numeric_limits<std::int64_t>::max() / 2) {
      return buckets + 1;
    }
    smallest_untrackable <<= 1;
    ++buckets;
  }
  return buckets;
}

std::int64_t Histogram::highest_recordable_value() const noexcept {
  if (counts_len_ == 0) return -1;
  return highest_equivalent(value_at_index(static_cast<std::size_t>(counts_len_ - 1)));
}

std::int64_t Histogram::value_at_index(std::size_t index) const noexcept {
  int bucket = static_cast<int>(index >> sub_bucket_half_count_magnitude_) - 1;
  std::uint64_t sub_bucket = (index & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
  if (bucket < 0) {
    sub_bucket -= sub_bucket_half_count_;
    bucket = 0;
  }
  return static_cast<std::int64_t>(sub_bucket << (bucket + unit_magnitude_));
}

std::int64_t Histogram::size_of_equivalent_range(std::int64_t value) const noexcept {
  const auto v = static_cast<std::uint64_t>(value);
  const int bucket = leading_zero_count_base_ - std::countl_zero(v | sub_bucket_mask_);
  const std::uint64_t sub_bucket = v >> (bucket + unit_magnitude_);
  // Java and C both widen the range when the sub-bucket index reaches the
  // full count; that cannot happen for a non-negative value, but the rule is
  // kept so that the function is the same one.
  const int extra = sub_bucket >= (sub_bucket_half_count_ << 1) ? 1 : 0;
  return static_cast<std::int64_t>(std::uint64_t{1} << (unit_magnitude_ + bucket + extra));
}

std::int64_t Histogram::lowest_equivalent(std::int64_t value) const noexcept {
  const auto v = static_cast<std::uint64_t>(value);
  const int bucket = leading_zero_count_base_ - std::countl_zero(v | sub_bucket_mask_);
  const int shift = bucket + unit_magnitude_;
  return static_cast<std::int64_t>((v >> shift) << shift);
}

std::int64_t Histogram::next_non_equivalent(std::int64_t value) const noexcept {
  // Unsigned so that the top range of a histogram reaching 2^63 wraps the way
  // Java's long arithmetic does instead of overflowing a signed integer.
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(lowest_equivalent(value)) +
                                   static_cast<std::uint64_t>(size_of_equivalent_range(value)));
}

std::int64_t Histogram::highest_equivalent(std::int64_t value) const noexcept {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(next_non_equivalent(value)) - 1);
}

std::int64_t Histogram::median_equivalent(std::int64_t value) const noexcept {
  return static_cast<std::int64_t>(
      static_cast<std::uint64_t>(lowest_equivalent(value)) +
      (static_cast<std::uint64_t>(size_of_equivalent_range(value)) >> 1));
}

bool Histogram::record_corrected(std::int64_t value, std::int64_t expected_interval,
                                 std::int64_t count) noexcept {
  if (!record(value, count)) return false;
  if (expected_interval <= 0) return true;
  // Java records value - I, value - 2I, ... down to the last one >= I, one
  // call each. Every term that falls into the same range adds to the same
  // counter, so the terms are counted per range: from the current term m down
  // to max(lowest_equivalent(m), I) there are k = (m - floor) / I + 1 of them.
  const std::int64_t interval = expected_interval;
  std::int64_t m = value - interval;  // value >= 0 and interval > 0: no overflow
  while (m >= interval) {
    const std::uint64_t index = index_of_unchecked(m);
    const std::int64_t floor = std::max(value_at_index(static_cast<std::size_t>(index)), interval);
    const std::int64_t k = (m - floor) / interval + 1;
    const auto added = static_cast<std::int64_t>(static_cast<std::uint64_t>(k) *
                                                 static_cast<std::uint64_t>(count));
    add_at_index(index, added);
    m -= k * interval;  // k * interval <= m - floor + interval <= m: no overflow
  }
  return true;
}

std::int64_t Histogram::add(const Histogram& other) {
  std::int64_t dropped = 0;
  if (same_layout(other)) {
    // Identical index mapping: add counter to counter, which is what the
    // general path below amounts to.
    const std::uint64_t n = other.counts_len_;
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::int64_t c = other.counter(i);
      if (c == 0) continue;
      if (i >= counts_len_ || c < 0) {
        dropped = wrapping_add(dropped, c);
        continue;
      }
      add_at_index(i, c);
    }
  } else {
    for (std::uint64_t i = 0; i < other.counts_len_; ++i) {
      const std::int64_t c = other.counter(i);
      if (c == 0) continue;
      if (!record(other.value_at_index(static_cast<std::size_t>(i)), c)) {
        dropped = wrapping_add(dropped, c);
      }
    }
  }
  start_time_ms_ = std::min(start_time_ms_, other.start_time_ms_);
  end_time_ms_ = std::max(end_time_ms_, other.end_time_ms_);
  return dropped;
}

std::int64_t Histogram::add_while_correcting(const Histogram& other,
                                             std::int64_t expected_interval) {
  std::int64_t dropped = 0;
  for (std::uint64_t i = 0; i < other.counts_len_; ++i) {
    const std::int64_t c = other.counter(i);
    if (c == 0) continue;
    const std::int64_t value =
        other.highest_equivalent(other.value_at_index(static_cast<std::size_t>(i)));
    if (!record_corrected(value, expected_interval, c)) dropped = wrapping_add(dropped, c);
  }
  return dropped;
}

void Histogram::grow_to_cover(std::int64_t value) {
  if (value < 0) {
    throw std::invalid_argument("hdr::Histogram::grow_to_cover: negative value " +
                                std::to_string(value));
  }
  if (counts_len_ != 0 && value <= highest_recordable_value()) return;
  const int buckets = buckets_needed(std::max(value, highest_),
                                     sub_bucket_half_count_magnitude_ + 1, unit_magnitude_);
  const std::uint64_t len = static_cast<std::uint64_t>(buckets + 1)
                            << sub_bucket_half_count_magnitude_;
  counts_.resize(static_cast<std::size_t>(len), 0);
  counts_len_ = len;
  bucket_count_ = buckets;
  highest_ = std::max(value, highest_);
}

void Histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  start_time_ms_ = std::numeric_limits<std::int64_t>::max();
  end_time_ms_ = 0;
  tag_.clear();
}

void Histogram::swap(Histogram& other) noexcept {
  using std::swap;
  swap(lowest_, other.lowest_);
  swap(highest_, other.highest_);
  swap(significant_figures_, other.significant_figures_);
  swap(unit_magnitude_, other.unit_magnitude_);
  swap(sub_bucket_half_count_magnitude_, other.sub_bucket_half_count_magnitude_);
  swap(leading_zero_count_base_, other.leading_zero_count_base_);
  swap(bucket_count_, other.bucket_count_);
  swap(sub_bucket_half_count_, other.sub_bucket_half_count_);
  swap(sub_bucket_mask_, other.sub_bucket_mask_);
  swap(counts_len_, other.counts_len_);
  counts_.swap(other.counts_);
  swap(total_, other.total_);
  swap(start_time_ms_, other.start_time_ms_);
  swap(end_time_ms_, other.end_time_ms_);
  tag_.swap(other.tag_);
}

std::int64_t Histogram::min() const noexcept {
  if (total_ == 0 || counts_[0] > 0) return 0;
  return min_nonzero();
}

std::int64_t Histogram::min_nonzero() const noexcept {
  // The first counter holds exactly the values Java leaves out of the minimum
  // (those below 1 << unit_magnitude); every later counter starts above them.
  for (std::uint64_t i = 1; i < counts_len_; ++i) {
    if (counter(i) > 0) return value_at_index(static_cast<std::size_t>(i));
  }
  return std::numeric_limits<std::int64_t>::max();
}

std::int64_t Histogram::max() const noexcept {
  for (std::uint64_t i = counts_len_; i > 0; --i) {
    if (counter(i - 1) > 0) {
      return highest_equivalent(value_at_index(static_cast<std::size_t>(i - 1)));
    }
  }
  return 0;
}

double Histogram::mean() const noexcept {
  if (total_ == 0) return 0.0;
  // Same order of operations as Java's getMean(), so that the double result
  // is bit for bit the same.
  double total_value = 0.0;
  std::int64_t cumulative = 0;
  for (std::uint64_t i = 0; i < counts_len_ && cumulative < total_; ++i) {
    const std::int64_t c = counter(i);
    if (c == 0) continue;
    cumulative += c;
    total_value +=
        static_cast<double>(median_equivalent(value_at_index(static_cast<std::size_t>(i)))) *
        static_cast<double>(c);
  }
  return (total_value * 1.0) / static_cast<double>(total_);
}

double Histogram::stddev() const noexcept {
  if (total_ == 0) return 0.0;
  const double m = mean();
  double geometric_deviation_total = 0.0;
  std::int64_t cumulative = 0;
  for (std::uint64_t i = 0; i < counts_len_ && cumulative < total_; ++i) {
    const std::int64_t c = counter(i);
    if (c == 0) continue;
    cumulative += c;
    const double deviation =
        (static_cast<double>(median_equivalent(value_at_index(static_cast<std::size_t>(i)))) *
         1.0) -
        m;
    geometric_deviation_total += (deviation * deviation) * static_cast<double>(c);
  }
  return std::sqrt(geometric_deviation_total / static_cast<double>(total_));
}

std::int64_t Histogram::value_at_percentile(double percentile) const noexcept {
  // Java: remove one ulp so that a product that lands exactly on an integer is
  // not pushed into the next range by ceil(), then clamp to [0, 100].
  double requested = std::nextafter(percentile, -std::numeric_limits<double>::infinity());
  requested = std::min(std::max(requested, 0.0), 100.0);
  const double wanted = std::ceil((requested * static_cast<double>(total_)) / 100.0);
  // Java's (long) cast maps NaN to 0 and saturates; C++ leaves both undefined,
  // so they are spelled out. The wanted count is never above total_ anyway.
  std::int64_t count_at_percentile = 0;
  if (wanted >= 9.2233720368547758e18) {
    count_at_percentile = std::numeric_limits<std::int64_t>::max();
  } else if (wanted >= 1.0) {
    count_at_percentile = static_cast<std::int64_t>(wanted);
  }
  count_at_percentile = std::max<std::int64_t>(count_at_percentile, 1);
  std::int64_t cumulative = 0;
  for (std::uint64_t i = 0; i < counts_len_; ++i) {
    cumulative += counter(i);
    if (cumulative >= count_at_percentile) {
      const std::int64_t value = value_at_index(static_cast<std::size_t>(i));
      return percentile == 0.0 ? lowest_equivalent(value) : highest_equivalent(value);
    }
  }
  return 0;
}

std::int64_t Histogram::count_at(std::int64_t value) const noexcept {
  if (value < 0 || counts_len_ == 0) return 0;
  const std::uint64_t index = std::min(index_of_unchecked(value), counts_len_ - 1);
  return counter(index);
}

std::vector<IterationValue> Histogram::percentiles(int ticks_per_half_distance) const {
  std::vector<IterationValue> steps;
  PercentileIterator it(*this, ticks_per_half_distance);
  IterationValue v;
  while (it.next(v))
    steps.push_back(v);
  return steps;
}

std::vector<IterationValue> Histogram::recorded_values() const {
  std::vector<IterationValue> steps;
  std::int64_t cumulative = 0;
  for (std::uint64_t i = 0; i < counts_len_ && cumulative < total_; ++i) {
    const std::int64_t c = counter(i);
    if (c == 0) continue;
    cumulative += c;
    IterationValue v;
    v.value = highest_equivalent(value_at_index(static_cast<std::size_t>(i)));
    v.count_at_value = c;
    v.count_added = c;
    v.cumulative_count = cumulative;
    v.percentile = (100.0 * static_cast<double>(cumulative)) / static_cast<double>(total_);
    v.percentile_level = v.percentile;
    steps.push_back(v);
  }
  return steps;
}

bool operator==(const Histogram& a, const Histogram& b) noexcept {
  return a.lowest_ == b.lowest_ && a.highest_ == b.highest_ &&
         a.significant_figures_ == b.significant_figures_ && a.total_ == b.total_ &&
         a.counts_ == b.counts_;
}

// ---- PercentileIterator ------------------------------------------------------

PercentileIterator::PercentileIterator(const Histogram& histogram,
                                       int ticks_per_half_distance) noexcept
    : histogram_(&histogram),
      ticks_per_half_distance_(ticks_per_half_distance),
      total_(histogram.total_count()) {}

bool PercentileIterator::reached_level() const noexcept {
  if (count_at_index_ == 0) return false;
  const double current = (100.0 * static_cast<double>(cumulative_)) / static_cast<double>(total_);
  return current >= level_to_;
}

void PercentileIterator::increment_level() noexcept {
  // Java computes the next level even after the final 100% step, where the
  // formula divides by zero; that value is never used, and converting the
  // resulting infinity to an integer is undefined in C++, so it is skipped.
  if (!(level_to_ < 100.0)) return;
  // Ticks double every time the remaining distance to 100% halves. The
  // truncating conversions are Java's; Java, glibc and mingw-w64 agree on the
  // logarithms at the exact powers of two where this matters.
  const auto halvings =
      static_cast<std::int64_t>(std::log(100.0 / (100.0 - level_to_)) / std::log(2.0));
  const auto half_distance =
      static_cast<std::int64_t>(std::pow(2.0, static_cast<double>(halvings + 1)));
  const std::int64_t reporting_ticks = ticks_per_half_distance_ * half_distance;
  level_to_ += 100.0 / static_cast<double>(reporting_ticks);
}

bool PercentileIterator::next(IterationValue& out) noexcept {
  if (ticks_per_half_distance_ < 1) return false;
  if (cumulative_ >= total_) {
    // Java's extra final step to exactly 100%.
    if (reached_last_ || total_ <= 0) return false;
    level_to_ = 100.0;
    reached_last_ = true;
  }
  const std::span<const std::int64_t> counts = histogram_->counts();
  while (index_ < counts.size()) {
    count_at_index_ = counts[index_];
    if (fresh_) {
      cumulative_ += count_at_index_;
      fresh_ = false;
    }
    if (reached_level()) {
      out.value = histogram_->highest_equivalent(histogram_->value_at_index(index_));
      out.count_at_value = count_at_index_;
      out.count_added = cumulative_ - cumulative_at_previous_step_;
      out.cumulative_count = cumulative_;
      out.percentile = (100.0 * static_cast<double>(cumulative_)) / static_cast<double>(total_);
      out.percentile_level = level_to_;
      cumulative_at_previous_step_ = cumulative_;
      increment_level();
      return true;
    }
    ++index_;
    fresh_ = true;
  }
  // Only reachable when the counts do not add up to the total (Java throws).
  return false;
}

}  // namespace wsb::hdr
