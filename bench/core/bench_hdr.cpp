// Micro-benchmarks of wsb::hdr: the record path (the only part on a load
// generator's hot path; target <= 5 ns per value), percentile queries, the
// compressed encoding written once per interval, and the per-second merge of
// per-thread histograms.
//
// Values come from the same generator as bench/core/java/HdrRecordTiming.java
// (splitmix64, fixed seed, integer-only arithmetic), so that
// bench/core/hdr_vs_java.sh compares both implementations on identical data.
#include <benchmark/benchmark.h>

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "hdr/encoding.hpp"
#include "hdr/histogram.hpp"
#include "hdr/interval_recorder.hpp"
#include "hdr/output.hpp"

namespace {

using wsb::hdr::Histogram;

// 64 Ki values: enough variety to defeat branch prediction on the value
// pattern, small enough (512 KiB) to stay in cache next to the counters.
constexpr std::size_t kValues = 1 << 16;

enum Distribution : int { kUniform = 0, kLatency = 1, kConstant = 2 };
constexpr const char* kNames[] = {"uniform", "latency", "constant"};

class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

// uniform:  1 ns .. 1 ms, evenly.
// latency:  20-30 us, doubled k times with probability 2^-(k+1) (k <= 20):
//           a long tail up to about 30 s, as loopback round trips look.
// constant: every value the same (best case for the caches).
std::vector<std::int64_t> make_values(int distribution) {
  SplitMix64 rng(0x5eed0000 + static_cast<std::uint64_t>(distribution));
  std::vector<std::int64_t> values(kValues);
  for (std::int64_t& v : values) {
    switch (distribution) {
      case kUniform:
        v = 1 + static_cast<std::int64_t>(rng.next() % 1'000'000);
        break;
      case kLatency: {
        const auto base = 20'000 + static_cast<std::int64_t>(rng.next() % 10'000);
        const int doublings = std::countr_zero(rng.next() | (std::uint64_t{1} << 20));
        v = base << doublings;
        break;
      }
      default:
        v = 123'456;
        break;
    }
  }
  return values;
}

Histogram latency_histogram() {
  return Histogram(wsb::hdr::kLatencyLowestNs, wsb::hdr::kLatencyHighestNs,
                   wsb::hdr::kLatencySignificantFigures);
}

// Counts per value reported as "per_value" (seconds, shown as e.g. "1.9n").
void report_per_value(benchmark::State& state, std::size_t per_iteration) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_iteration));
  state.counters["per_value"] = benchmark::Counter(
      static_cast<double>(per_iteration),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// Records every value into `recorder` (a Histogram or an IntervalRecorder)
// once an iteration; returns how many values it rejected.
template <class Recorder>
std::int64_t record_each_iteration(benchmark::State& state, Recorder& recorder,
                                   const std::vector<std::int64_t>& values) {
  std::int64_t rejected = 0;
  for (auto _ : state) {
    for (const std::int64_t v : values)
      rejected += recorder.record(v) ? 0 : 1;
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(rejected);
  return rejected;
}

void BM_HdrRecord(benchmark::State& state) {
  const auto distribution = static_cast<int>(state.range(0));
  const std::vector<std::int64_t> values = make_values(distribution);
  Histogram h = latency_histogram();
  const std::int64_t rejected = record_each_iteration(state, h, values);
  benchmark::DoNotOptimize(h.total_count());
  if (rejected != 0) state.SkipWithError("values were rejected");
  state.SetLabel(kNames[distribution]);
  report_per_value(state, values.size());
}
BENCHMARK(BM_HdrRecord)->DenseRange(kUniform, kConstant);

// The same through IntervalRecorder, whose extra cost is one relaxed atomic
// load per value (the handover check).
void BM_HdrIntervalRecorderRecord(benchmark::State& state) {
  const std::vector<std::int64_t> values = make_values(kLatency);
  wsb::hdr::IntervalRecorder rec(wsb::hdr::kLatencyLowestNs, wsb::hdr::kLatencyHighestNs,
                                 wsb::hdr::kLatencySignificantFigures);
  record_each_iteration(state, rec, values);
  state.SetLabel(kNames[kLatency]);
  report_per_value(state, values.size());
}
BENCHMARK(BM_HdrIntervalRecorderRecord);

// Recording with coordinated-omission correction at an expected interval of
// 100 us: most latency values need no fill, the tail needs many.
void BM_HdrRecordCorrected(benchmark::State& state) {
  const std::vector<std::int64_t> values = make_values(kLatency);
  Histogram h = latency_histogram();
  for (auto _ : state) {
    for (const std::int64_t v : values)
      h.record_corrected(v, 100'000);
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(h.total_count());
  state.SetLabel(kNames[kLatency]);
  report_per_value(state, values.size());
}
BENCHMARK(BM_HdrRecordCorrected);

Histogram filled(int significant_figures) {
  Histogram h(wsb::hdr::kLatencyLowestNs, wsb::hdr::kLatencyHighestNs, significant_figures);
  const std::vector<std::int64_t> values = make_values(kLatency);
  for (int round = 0; round < 16; ++round) {
    for (const std::int64_t v : values)
      h.record(v);
  }
  return h;
}

// One query walks the counters up to the percentile; the argument is the
// number of significant figures (the counters array grows 8x per figure).
void BM_HdrValueAtPercentile(benchmark::State& state) {
  const Histogram h = filled(static_cast<int>(state.range(0)));
  const double percentiles[] = {50.0, 90.0, 99.0, 99.9, 99.99};
  for (auto _ : state) {
    for (const double p : percentiles)
      benchmark::DoNotOptimize(h.value_at_percentile(p));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 5));
}
BENCHMARK(BM_HdrValueAtPercentile)->DenseRange(2, 4);

// What a log writer pays per interval: V2 encoding plus zlib. The argument is
// the zlib level (9 is what Java's log writer uses).
void BM_HdrEncodeCompressed(benchmark::State& state) {
  const Histogram h = filled(3);
  const int level = static_cast<int>(state.range(0));
  std::size_t compressed = 0;
  for (auto _ : state) {
    const std::vector<std::uint8_t> bytes = wsb::hdr::encode_compressed(h, level);
    compressed = bytes.size();
    benchmark::DoNotOptimize(bytes.data());
  }
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * wsb::hdr::encode(h).size()));
  state.counters["compressed_bytes"] = static_cast<double>(compressed);
}
BENCHMARK(BM_HdrEncodeCompressed)->Arg(1)->Arg(6)->Arg(9);

// The load generator's per-second merge of one thread's interval histogram.
// Argument 0: same configuration (counter-to-counter); 1: a different one
// (each range re-recorded).
void BM_HdrMerge(benchmark::State& state) {
  const Histogram source = filled(3);
  Histogram total =
      state.range(0) == 0 ? latency_histogram() : Histogram(1, wsb::hdr::kLatencyHighestNs, 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(total.add(source));
    benchmark::ClobberMemory();
  }
  state.SetLabel(state.range(0) == 0 ? "same layout" : "different layout");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * source.counts_length()));
}
BENCHMARK(BM_HdrMerge)->Arg(0)->Arg(1);

// Rendering a .hgrm report (done once per run, not on a hot path).
void BM_HdrPercentileDistribution(benchmark::State& state) {
  const Histogram h = filled(3);
  std::string out;
  for (auto _ : state) {
    out.clear();
    wsb::hdr::append_percentile_distribution(out, h);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_HdrPercentileDistribution);

}  // namespace
