// Helpers shared by the bench-core files of seed note 002 (pools and
// synchronisation), namespace wsb::bench.
#pragma once

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>

namespace wsb::bench {

// The cache-line size of every x86-64 and ARMv8 server core. Not
// std::hardware_destructive_interference_size: GCC warns (-Winterference-size)
// that its value may change between compiler versions, which would change the
// layout of anything using it.
inline constexpr std::size_t kCacheLine = 64;

// The end of a multi-threaded run, checked once. Google Benchmark has a
// barrier before the first iteration and after the last, but none after the
// code that follows the loop, where each thread returns what it holds; so
// every thread reports here, and thread 0 waits (at most 10 s, so that a
// thread that never arrives cannot hang the run) until all have, then calls
// verify(total) with the sum of the `ops` the threads reported. verify returns
// nullptr or an error message, which fails the run (SkipWithError). One
// RunCheck per benchmark function: its runs never overlap.
struct RunCheck {
  std::atomic<int> done{0};
  std::atomic<std::int64_t> ops{0};
};

template <class Verify>
void finish_run(benchmark::State& state, RunCheck& check, std::int64_t ops, Verify verify) {
  check.ops.fetch_add(ops, std::memory_order_relaxed);
  check.done.fetch_add(1, std::memory_order_acq_rel);
  if (state.thread_index() != 0) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (check.done.load(std::memory_order_acquire) < state.threads() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  if (check.done.load(std::memory_order_acquire) < state.threads()) {
    state.SkipWithError("a benchmark thread did not finish within 10 s of the others");
  } else if (const char* error = verify(check.ops.load(std::memory_order_relaxed))) {
    state.SkipWithError(error);
  }
  check.ops.store(0, std::memory_order_relaxed);
  check.done.store(0, std::memory_order_relaxed);
}

}  // namespace wsb::bench
