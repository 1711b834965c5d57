// The workload of the synchronisation benchmarks (bench_sync.cpp and its
// platform halves bench_sync_win.cpp, bench_sync_posix.cpp), namespace
// wsb::bench.
//
// Seed note 002 ranks the costs of synchronisation, cheapest first:
// volatile read, volatile write, Interlocked functions, SRWLock, critical
// section, kernel objects. Each benchmark here times one use of a primitive:
// a load, a store, an atomic increment, or a lock, an increment of the
// counter it protects, and the unlock. Run with 1 thread the primitive is
// uncontended; with 2 and 4 threads all of them hammer the same object (on
// this 2-core machine, 4 threads also means preemption while holding a lock).
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <mutex>

#include "support.hpp"

namespace wsb::bench {

// 1, 2 and 4 threads on the wall clock. Google Benchmark then divides the
// wall time by the iterations of all threads together: the reported time is
// the inverse of the combined throughput (items_per_second), not the time one
// thread waits for one operation, which is about `threads` times longer while
// every thread has a core of its own.
inline void sync_threads(benchmark::internal::Benchmark* b) {
  b->ThreadRange(1, 4)->UseRealTime();
}

// A lock (any BasicLockable) and the counter it protects, on a line of their
// own, as a server keeps a pool's lock beside the stack top.
template <class Lock>
struct alignas(kCacheLine) Guarded {
  Lock lock;
  std::int64_t counter = 0;
  RunCheck check;
};

// lock(); ++counter; unlock(); per iteration. Afterwards the counter must have
// grown by the iterations of all threads together: a lock that let two
// threads in at once loses increments, and fails the run.
template <class Lock>
void run_lock_loop(benchmark::State& state, Guarded<Lock>& g) {
  for (auto _ : state) {
    g.lock.lock();
    ++g.counter;
    g.lock.unlock();
  }
  state.SetItemsProcessed(state.iterations());
  finish_run(state, g.check, state.iterations(), [&g](std::int64_t total) -> const char* {
    std::lock_guard guard(g.lock);
    const bool exact = g.counter == total;
    g.counter = 0;
    return exact ? nullptr : "the lock let two threads in at once (increments were lost)";
  });
}

}  // namespace wsb::bench
