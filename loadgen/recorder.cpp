#include "recorder.hpp"

namespace wsb::loadgen {

std::string_view tag(Series s) noexcept {
  switch (s) {
    case Series::latency:
      return "latency";
    case Series::uncorrected:
      return "latency_uncorrected";
    case Series::connect:
      return "connect";
    case Series::delivery:
      return "delivery";
    case Series::count_:
      break;
  }
  return "latency";
}

std::string_view name(ErrorKind e) noexcept {
  switch (e) {
    case ErrorKind::connect_refused:
      return "connect_refused";
    case ErrorKind::connect_timeout:
      return "connect_timeout";
    case ErrorKind::connect_failed:
      return "connect_failed";
    case ErrorKind::reset:
      return "reset";
    case ErrorKind::closed:
      return "closed";
    case ErrorKind::request_timeout:
      return "request_timeout";
    case ErrorKind::mismatch:
      return "mismatch";
    case ErrorKind::io:
      return "io";
    case ErrorKind::lost:
      return "lost";
    case ErrorKind::duplicated:
      return "duplicated";
    case ErrorKind::reordered:
      return "reordered";
    case ErrorKind::count_:
      break;
  }
  return "io";
}

std::uint64_t Counters::errors_total() const noexcept {
  std::uint64_t sum = 0;
  for (const std::uint64_t n : errors)
    sum += n;
  return sum;
}

namespace {

// The scalar fields of Counters in Count order, for loops that treat them alike.
constexpr std::uint64_t Counters::*kFields[] = {
    &Counters::requests,  &Counters::responses,    &Counters::requests_failed,
    &Counters::bytes_out, &Counters::bytes_in,     &Counters::connect_attempts,
    &Counters::connects,  &Counters::churn_closes, &Counters::deliveries};

static_assert(std::size(kFields) == kCountCount);

}  // namespace

Counters& Counters::operator+=(const Counters& other) noexcept {
  for (const auto field : kFields)
    this->*field += other.*field;
  for (std::size_t i = 0; i < kErrorKindCount; ++i)
    errors[i] += other.errors[i];
  return *this;
}

Counters& Counters::operator-=(const Counters& other) noexcept {
  auto sub = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; };
  for (const auto field : kFields)
    this->*field = sub(this->*field, other.*field);
  for (std::size_t i = 0; i < kErrorKindCount; ++i)
    errors[i] = sub(errors[i], other.errors[i]);
  return *this;
}

hdr::Histogram make_latency_histogram() {
  return hdr::Histogram(hdr::kLatencyLowestNs, hdr::kLatencyHighestNs,
                        hdr::kLatencySignificantFigures);
}

HistogramSet::HistogramSet()
    : h_{make_latency_histogram(), make_latency_histogram(), make_latency_histogram(),
         make_latency_histogram()} {
  for (std::size_t i = 0; i < kSeriesCount; ++i)
    h_[i].set_tag(std::string(tag(Series(i))));
}

void HistogramSet::reset() noexcept {
  for (std::size_t i = 0; i < kSeriesCount; ++i) {
    h_[i].reset();
    // reset() clears the tag too (Java rule); the set keeps its tags. Only
    // the reporter resets sets, so the allocation a long tag may need never
    // happens on a worker's record path.
    try {
      h_[i].set_tag(std::string(tag(Series(i))));
    } catch (...) {
      // Out of memory for a tag: the .hlog line goes out untagged.
    }
  }
}

void HistogramSet::swap(HistogramSet& other) noexcept {
  for (std::size_t i = 0; i < kSeriesCount; ++i)
    h_[i].swap(other.h_[i]);
}

void HistogramSet::add(const HistogramSet& other) {
  for (std::size_t i = 0; i < kSeriesCount; ++i)
    h_[i].add(other.h_[i]);
}

WorkerRecorder::WorkerRecorder() = default;

void WorkerRecorder::hand_over(std::uint64_t requested) noexcept {
  // The acquire pairs with request()'s release: the reader's reset of the
  // spare set happened before the worker writes into it. An acquire load
  // rather than a fence: the same order at the same cost on this rare path,
  // and ThreadSanitizer (which does not model fences) sees it.
  (void)requested_.load(std::memory_order_acquire);
  active_.swap(spare_);
  at_hand_over_ = counters();
  served_ = requested;
  handed_over_.store(requested, std::memory_order_release);
}

void WorkerRecorder::request() noexcept {
  const std::uint64_t requested = requested_.load(std::memory_order_relaxed);
  if (handed_over_.load(std::memory_order_acquire) != requested) return;  // still pending
  spare_.reset();
  requested_.store(requested + 1, std::memory_order_release);
}

bool WorkerRecorder::ready() const noexcept {
  const std::uint64_t requested = requested_.load(std::memory_order_relaxed);
  return requested != 0 && handed_over_.load(std::memory_order_acquire) == requested;
}

void WorkerRecorder::add_interval_to(HistogramSet& into) const {
  into.add(spare_);
}

Counters WorkerRecorder::counters() const noexcept {
  Counters c;
  for (std::size_t i = 0; i < kCountCount; ++i) {
    c.*kFields[i] = counts_[i].load(std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    c.errors[i] = errors_[i].load(std::memory_order_relaxed);
  }
  return c;
}

void begin_collect(std::span<WorkerRecorder* const> workers, std::span<bool> collected) noexcept {
  for (std::size_t i = 0; i < workers.size(); ++i) {
    workers[i]->request();
    collected[i] = false;
  }
}

bool poll_collect(std::span<WorkerRecorder* const> workers, std::span<bool> collected,
                  HistogramSet& into, std::span<Counters> counters) {
  bool all = true;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    if (collected[i]) continue;
    if (workers[i]->ready()) {
      workers[i]->add_interval_to(into);
      counters[i] = workers[i]->counters_at_hand_over();
      collected[i] = true;
    } else {
      all = false;
    }
  }
  return all;
}

}  // namespace wsb::loadgen
