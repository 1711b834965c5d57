// Seed note 002, claim 2: the cost ranking of synchronisation primitives
// (sync_workload.hpp). This file holds the portable primitives:
//
//   BM_Sync_AtomicLoad       a relaxed load of a shared word (the note's
//                            "volatile read": the same single mov on x86)
//   BM_Sync_AtomicStore      a relaxed store to it ("volatile write")
//   BM_Sync_AtomicFetchAdd   an atomic increment (lock xadd: what
//                            InterlockedIncrement is on x86)
//   BM_Sync_SpinLock         a test-and-test-and-set spin lock
//   BM_Sync_StdMutex         std::mutex (glibc: a futex lock; MinGW's posix
//                            thread model: winpthreads)
//
// The platform primitives (SRWLOCK, CRITICAL_SECTION, kernel objects; futex,
// pthread_rwlock) are in bench_sync_win.cpp and bench_sync_posix.cpp.
// std::atomic with relaxed order stands in for volatile because concurrent
// volatile accesses are a data race in C++; on x86 both compile to the same
// plain load and store.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <immintrin.h>
#define WSB_BENCH_HAVE_PAUSE 1
#endif

#include "support.hpp"
#include "sync_workload.hpp"

namespace {

using namespace wsb::bench;

struct alignas(kCacheLine) SharedWord {
  std::atomic<std::int64_t> value{0};
};
SharedWord shared_word;

void BM_Sync_AtomicLoad(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(shared_word.value.load(std::memory_order_relaxed));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sync_AtomicLoad)->Apply(sync_threads);

void BM_Sync_AtomicStore(benchmark::State& state) {
  std::int64_t i = 0;
  for (auto _ : state)
    shared_word.value.store(++i, std::memory_order_relaxed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sync_AtomicStore)->Apply(sync_threads);

void BM_Sync_AtomicFetchAdd(benchmark::State& state) {
  for (auto _ : state)
    shared_word.value.fetch_add(1, std::memory_order_relaxed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sync_AtomicFetchAdd)->Apply(sync_threads);

// Test-and-test-and-set: waiters spin on a plain load, which stays in their
// own cache while the lock is held, and only try the exchange (which takes
// the line exclusive) once the lock looks free. pause tells an x86 core that
// this is a spin loop (it yields the pipeline to the sibling hyper-thread
// and avoids a memory-order mis-speculation on exit). There is no fallback
// to the kernel: a waiter whose lock holder was preempted spins out its time
// slice, which is what the 4-thread run on 2 cores shows.
class SpinLock {
 public:
  void lock() noexcept {
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
#ifdef WSB_BENCH_HAVE_PAUSE
        _mm_pause();
#endif
      }
    }
  }
  void unlock() noexcept {
    locked_.store(false, std::memory_order_release);
  }

 private:
  std::atomic<bool> locked_{false};
};

void BM_Sync_SpinLock(benchmark::State& state) {
  static Guarded<SpinLock> guarded;
  run_lock_loop(state, guarded);
}
BENCHMARK(BM_Sync_SpinLock)->Apply(sync_threads);

void BM_Sync_StdMutex(benchmark::State& state) {
  static Guarded<std::mutex> guarded;
  run_lock_loop(state, guarded);
}
BENCHMARK(BM_Sync_StdMutex)->Apply(sync_threads);

}  // namespace
