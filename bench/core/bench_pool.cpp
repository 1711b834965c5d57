// Seed note 002, claim 1: an IOCP server should keep its per-socket and
// per-I/O contexts in pools (preallocated arrays with a stack of free
// indices) instead of allocating them with new and delete. Measured here
// for the portable pools; bench_pool_win.cpp adds the Windows locks (SRWLOCK
// and the note's own CRITICAL_SECTION). The workload is in pool_workload.hpp,
// the pools in pools.hpp.
//
//   BM_PoolSocket/<variant>/held:H/real_time/threads:T   240-byte contexts
//   BM_PoolIo/<variant>/held:H/real_time/threads:T       OVERLAPPED + 4 KiB
//
// Variants: new_delete (the C++ heap), std_mutex (the note's design with
// std::mutex), lock_free (Treiber stack of tagged indices) and thread_cache
// (per-thread caches in front of a locked global stack).
#include <mutex>

#include "pool_workload.hpp"
#include "pools.hpp"

namespace {

using namespace wsb::bench;

template <class T>
using StdMutexPool = LockedPool<T, std::mutex>;

[[maybe_unused]] const bool registered = [] {
  register_pools<NewDeletePool>("new_delete");
  register_pools<StdMutexPool>("std_mutex");
  register_pools<LockFreePool>("lock_free");
  register_pools<CachedPool>("thread_cache");
  return true;
}();

}  // namespace
