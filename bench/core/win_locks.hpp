// Windows locks as BasicLockable types (namespace wsb::bench), for the pool
// and synchronisation benchmarks: bench_pool_win.cpp, bench_sync_win.cpp.
// Windows-only; included by *_win.cpp files only.
#pragma once

#include <windows.h>

#include <cstdio>
#include <cstdlib>

namespace wsb::bench {

// A slim reader/writer lock taken exclusively: one pointer-sized word, a
// user-mode compare-and-swap when free, a keyed event in the kernel when not.
class SrwLock {
 public:
  SrwLock() = default;
  SrwLock(const SrwLock&) = delete;
  SrwLock& operator=(const SrwLock&) = delete;
  void lock() noexcept { AcquireSRWLockExclusive(&lock_); }
  void unlock() noexcept { ReleaseSRWLockExclusive(&lock_); }

 private:
  SRWLOCK lock_ = SRWLOCK_INIT;
};

// A critical section; SpinCount 0 means InitializeCriticalSection (the
// system's default spinning), anything else InitializeCriticalSectionAndSpinCount,
// which spins that many times on a multiprocessor before it waits in the kernel.
template <DWORD SpinCount>
class CriticalSectionLock {
 public:
  CriticalSectionLock() noexcept {
    if constexpr (SpinCount == 0) {
      InitializeCriticalSection(&section_);
    } else {
      // Cannot fail since Windows Vista (the documentation says so); the
      // result is checked anyway, because a section that is not initialised
      // must not be used.
      if (!InitializeCriticalSectionAndSpinCount(&section_, SpinCount)) {
        std::fprintf(stderr, "InitializeCriticalSectionAndSpinCount failed: %lu\n", GetLastError());
        std::abort();
      }
    }
  }
  ~CriticalSectionLock() { DeleteCriticalSection(&section_); }
  CriticalSectionLock(const CriticalSectionLock&) = delete;
  CriticalSectionLock& operator=(const CriticalSectionLock&) = delete;
  void lock() noexcept { EnterCriticalSection(&section_); }
  void unlock() noexcept { LeaveCriticalSection(&section_); }

 private:
  CRITICAL_SECTION section_;
};

}  // namespace wsb::bench
