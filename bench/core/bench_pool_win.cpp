// Seed note 002, claim 1, with the Windows locks (bench_pool.cpp has the
// portable variants and explains the names): the free-index stack under an
// SRWLOCK, and under a CRITICAL_SECTION as in the note's own server.
#include "pool_workload.hpp"
#include "pools.hpp"
#include "win_locks.hpp"

namespace {

using namespace wsb::bench;

template <class T>
using SrwLockPool = LockedPool<T, SrwLock>;
template <class T>
using CriticalSectionPool = LockedPool<T, CriticalSectionLock<0>>;

[[maybe_unused]] const bool registered = [] {
  register_pools<SrwLockPool>("srwlock");
  register_pools<CriticalSectionPool>("critical_section");
  return true;
}();

}  // namespace
