// Seed note 002, claim 2, the Windows primitives the note ranks
// (sync_workload.hpp explains the workload; the portable ones, including the
// relaxed load and store that stand in for the note's volatile accesses, are
// in bench_sync.cpp):
//
//   BM_Sync_InterlockedIncrement      InterlockedIncrement on a shared LONG
//   BM_Sync_SrwLockExclusive          AcquireSRWLockExclusive / Release
//   BM_Sync_CriticalSection           Enter/LeaveCriticalSection (InitializeCriticalSection)
//   BM_Sync_CriticalSectionSpin4000   the same with InitializeCriticalSectionAndSpinCount(4000)
//   BM_Sync_KernelMutex               WaitForSingleObject / ReleaseMutex on a mutex
//   BM_Sync_KernelEventLock           an auto-reset event used as a lock:
//                                     WaitForSingleObject takes it, SetEvent gives it back
//   BM_Sync_KernelEventSetNoWaiter    SetEvent with nobody waiting: one kernel call
//   BM_Sync_KernelEventPingPong       two threads wake each other through two events
//
// Under Wine the kernel objects live in wineserver, a separate process: each
// wait and each SetEvent is a request to it over a socket, so these figures
// are Wine's, not Windows'.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "support.hpp"
#include "sync_workload.hpp"
#include "win_locks.hpp"

namespace {

using namespace wsb::bench;

// A wait of 10 s on an object of these benchmarks means its holder or
// partner is gone: a broken invariant, so abort with the reason instead of
// hanging (the benchmark's threads cannot be abandoned cleanly).
void wait_or_die(HANDLE object, const char* what) noexcept {
  const DWORD r = WaitForSingleObject(object, 10'000);
  if (r == WAIT_OBJECT_0) return;
  std::fprintf(stderr, "%s: WaitForSingleObject returned %lu (GetLastError %lu)\n", what, r,
               GetLastError());
  std::abort();
}

void set_or_die(HANDLE event) noexcept {
  if (!SetEvent(event)) {
    std::fprintf(stderr, "SetEvent failed: %lu\n", GetLastError());
    std::abort();
  }
}

HANDLE create_or_die(HANDLE handle, const char* what) noexcept {
  if (handle == nullptr) {
    std::fprintf(stderr, "%s failed: %lu\n", what, GetLastError());
    std::abort();
  }
  return handle;
}

struct alignas(kCacheLine) SharedLong {
  volatile LONG value = 0;
};
SharedLong shared_long;

void BM_Sync_InterlockedIncrement(benchmark::State& state) {
  for (auto _ : state)
    InterlockedIncrement(&shared_long.value);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sync_InterlockedIncrement)->Apply(sync_threads);

void BM_Sync_SrwLockExclusive(benchmark::State& state) {
  static Guarded<SrwLock> guarded;
  run_lock_loop(state, guarded);
}
BENCHMARK(BM_Sync_SrwLockExclusive)->Apply(sync_threads);

void BM_Sync_CriticalSection(benchmark::State& state) {
  static Guarded<CriticalSectionLock<0>> guarded;
  run_lock_loop(state, guarded);
}
BENCHMARK(BM_Sync_CriticalSection)->Apply(sync_threads);

void BM_Sync_CriticalSectionSpin4000(benchmark::State& state) {
  static Guarded<CriticalSectionLock<4000>> guarded;
  run_lock_loop(state, guarded);
}
BENCHMARK(BM_Sync_CriticalSectionSpin4000)->Apply(sync_threads);

// A kernel mutex: every acquire and release is a system call, contended or not.
class KernelMutexLock {
 public:
  KernelMutexLock()
      : mutex_(create_or_die(CreateMutexW(nullptr, FALSE, nullptr), "CreateMutexW")) {}
  ~KernelMutexLock() { CloseHandle(mutex_); }
  KernelMutexLock(const KernelMutexLock&) = delete;
  KernelMutexLock& operator=(const KernelMutexLock&) = delete;
  void lock() noexcept { wait_or_die(mutex_, "BM_Sync_KernelMutex"); }
  void unlock() noexcept {
    if (!ReleaseMutex(mutex_)) {
      std::fprintf(stderr, "ReleaseMutex failed: %lu\n", GetLastError());
      std::abort();
    }
  }

 private:
  HANDLE mutex_;
};

void BM_Sync_KernelMutex(benchmark::State& state) {
  static Guarded<KernelMutexLock> guarded;
  run_lock_loop(state, guarded);
}
BENCHMARK(BM_Sync_KernelMutex)->Apply(sync_threads);

// An auto-reset event, created signalled, is a binary semaphore: a satisfied
// wait resets it (takes the lock), SetEvent signals it (releases it) and
// wakes at most one waiter. This is the seed notes' use of events.
class KernelEventLock {
 public:
  KernelEventLock()
      : event_(create_or_die(CreateEventW(nullptr, FALSE, TRUE, nullptr), "CreateEventW")) {}
  ~KernelEventLock() { CloseHandle(event_); }
  KernelEventLock(const KernelEventLock&) = delete;
  KernelEventLock& operator=(const KernelEventLock&) = delete;
  void lock() noexcept { wait_or_die(event_, "BM_Sync_KernelEventLock"); }
  void unlock() noexcept { set_or_die(event_); }

 private:
  HANDLE event_;
};

void BM_Sync_KernelEventLock(benchmark::State& state) {
  static Guarded<KernelEventLock> guarded;
  run_lock_loop(state, guarded);
}
BENCHMARK(BM_Sync_KernelEventLock)->Apply(sync_threads);

// A manual-reset event nobody waits for: SetEvent on an event that is already
// signalled changes nothing, so this is the bare cost of the call.
void BM_Sync_KernelEventSetNoWaiter(benchmark::State& state) {
  static const HANDLE event =
      create_or_die(CreateEventW(nullptr, TRUE, FALSE, nullptr), "CreateEventW");
  for (auto _ : state)
    benchmark::DoNotOptimize(SetEvent(event));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sync_KernelEventSetNoWaiter)->Apply(sync_threads);

// Thread 0 signals `ping` and waits for `pong`; thread 1 waits for `ping` and
// signals `pong`. Each event is set at most once before it is consumed, so no
// signal is lost to an auto-reset event that was already set, and both
// threads run the same number of iterations, so both events end a run
// unsignalled. Google Benchmark divides the wall time by the iterations of
// both threads, so the reported time is one hand-over (a SetEvent that wakes
// a waiting thread, and its wait returning), and items are hand-overs.
void BM_Sync_KernelEventPingPong(benchmark::State& state) {
  static const HANDLE ping =
      create_or_die(CreateEventW(nullptr, FALSE, FALSE, nullptr), "CreateEventW");
  static const HANDLE pong =
      create_or_die(CreateEventW(nullptr, FALSE, FALSE, nullptr), "CreateEventW");
  const bool first = state.thread_index() == 0;
  for (auto _ : state) {
    if (first) {
      set_or_die(ping);
      wait_or_die(pong, "BM_Sync_KernelEventPingPong");
    } else {
      wait_or_die(ping, "BM_Sync_KernelEventPingPong");
      set_or_die(pong);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sync_KernelEventPingPong)->Threads(2)->UseRealTime();

}  // namespace
