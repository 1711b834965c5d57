// Seed note 002, claim 2, the Linux primitives (sync_workload.hpp explains
// the workload; the portable ones are in bench_sync.cpp):
//
//   BM_Sync_PthreadRwLockWrite   pthread_rwlock_wrlock / unlock
//   BM_Sync_FutexWakeNoWaiter    futex(FUTEX_WAKE) with nobody waiting: the
//                                price of entering the kernel at all, as
//                                SetEvent on an event nobody waits for
//   BM_Sync_FutexPingPong        two threads hand a turn back and forth,
//                                each sleeping in FUTEX_WAIT until woken:
//                                the analogue of the note's "kernel objects",
//                                a wake-up plus a context switch per step
//
// futex is Linux-only, like the epoll and io_uring models built from the
// same WSB_PLATFORM ("posix").
#include <benchmark/benchmark.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "support.hpp"
#include "sync_workload.hpp"

namespace {

using namespace wsb::bench;

class RwLockWrite {
 public:
  RwLockWrite() = default;
  RwLockWrite(const RwLockWrite&) = delete;
  RwLockWrite& operator=(const RwLockWrite&) = delete;
  ~RwLockWrite() { pthread_rwlock_destroy(&lock_); }
  void lock() noexcept { pthread_rwlock_wrlock(&lock_); }
  void unlock() noexcept { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_ = PTHREAD_RWLOCK_INITIALIZER;
};

void BM_Sync_PthreadRwLockWrite(benchmark::State& state) {
  static Guarded<RwLockWrite> guarded;
  run_lock_loop(state, guarded);
}
BENCHMARK(BM_Sync_PthreadRwLockWrite)->Apply(sync_threads);

// glibc has no futex() wrapper; the raw system call it is. The word is
// private to this process, hence the _PRIVATE operations (no hashing by
// physical page).
long futex(std::uint32_t* word, int op, std::uint32_t value, const timespec* timeout) noexcept {
  return syscall(SYS_futex, word, op, value, timeout, nullptr, 0);
}

void BM_Sync_FutexWakeNoWaiter(benchmark::State& state) {
  alignas(kCacheLine) static std::uint32_t word = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(futex(&word, FUTEX_WAKE_PRIVATE, 1, nullptr));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sync_FutexWakeNoWaiter)->Apply(sync_threads);

// Whose turn it is (0 or 1). The threads alternate strictly, and each runs
// the same number of iterations, so after every run the turn is back at 0.
alignas(kCacheLine) std::uint32_t turn_word = 0;

// Sleeps until the turn is `mine`. FUTEX_WAIT returns at once when the word
// no longer holds the value we saw (EAGAIN), and may wake spuriously, so it
// is re-checked in a loop. Waiting 10 s means the partner is gone: a broken
// invariant of the benchmark, so it aborts rather than hang.
void wait_for_turn(std::uint32_t mine) {
  std::atomic_ref<std::uint32_t> turn(turn_word);
  const timespec slice{1, 0};
  for (int waited_s = 0;;) {
    const std::uint32_t seen = turn.load(std::memory_order_acquire);
    if (seen == mine) return;
    if (futex(&turn_word, FUTEX_WAIT_PRIVATE, seen, &slice) == -1 && errno == ETIMEDOUT &&
        ++waited_s == 10) {
      std::fprintf(stderr, "BM_Sync_FutexPingPong: no wake-up for 10 s\n");
      std::abort();
    }
  }
}

void BM_Sync_FutexPingPong(benchmark::State& state) {
  const auto mine = static_cast<std::uint32_t>(state.thread_index());
  std::atomic_ref<std::uint32_t> turn(turn_word);
  for (auto _ : state) {
    wait_for_turn(mine);
    turn.store(mine ^ 1u, std::memory_order_release);
    futex(&turn_word, FUTEX_WAKE_PRIVATE, 1, nullptr);
  }
  // Each iteration of each thread is one hand-over, and Google Benchmark
  // divides the wall time by the iterations of both threads: the reported
  // time is one hand-over (a wake-up of a sleeping thread), items_per_second
  // their rate.
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sync_FutexPingPong)->Threads(2)->UseRealTime();

}  // namespace
