// The workload of the pool benchmarks (bench_pool.cpp, bench_pool_win.cpp):
// what a server does with its contexts, run against each pool of pools.hpp
// under 1, 2, 4 and 8 threads.
//
// Each benchmark thread plays one server thread. It holds `held` contexts (the
// argument "held": connections open, or I/O operations in flight, per
// thread), and each iteration is one event: take a fresh context (accept,
// post), fill in what a server writes into it, and return one of the held
// ones (close, completion). Per-socket contexts are returned in random order,
// since connections end whenever their clients leave; per-I/O contexts in the
// order they were taken, since operations on a socket complete in order.
// The thread count is the contention: every thread works on the same pool.
//
// Limitation: a thread returns only contexts it took itself. Under IOCP a
// completion, and so the release of its I/O context, may run on any worker;
// that moves memory between threads' caches (glibc arenas, CachedPool
// caches), which this workload does not exercise.
//
// Reported: items_per_second is events (one acquire plus one release) per
// second over all threads together, since the benchmarks use real time; the
// reported time is its inverse (wall time over the events of all threads).
#pragma once

#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "pools.hpp"
#include "support.hpp"

namespace wsb::bench {

inline constexpr int kPoolMaxThreads = 8;

template <class Context>
struct ChurnTraits;

template <>
struct ChurnTraits<SocketContext> {
  static constexpr const char* kName = "BM_PoolSocket";
  static constexpr std::array<std::int64_t, 2> kHeld = {64, 1024};
  static constexpr bool kFifo = false;
  // What a server writes when it accepts: the socket, the state, an empty
  // list of I/O contexts (the peer address is written by AcceptEx or
  // accept() itself, so it is not counted here).
  static void prepare(SocketContext& c, std::uint32_t owner, std::uint64_t step) noexcept {
    c.socket = step;
    c.owner = owner;
    c.state = 1;
    std::memset(c.io_list, 0, sizeof c.io_list);
  }
};

template <>
struct ChurnTraits<IoContext> {
  static constexpr const char* kName = "BM_PoolIo";
  static constexpr std::array<std::int64_t, 2> kHeld = {4, 64};
  static constexpr bool kFifo = true;
  // What a server writes before it posts an operation: a zeroed OVERLAPPED
  // (a reused one must be cleared), the WSABUF, the operation and the socket.
  // The buffer itself is written by the kernel, not here.
  static void prepare(IoContext& c, std::uint32_t owner, std::uint64_t /*step*/) noexcept {
    std::memset(c.overlapped, 0, sizeof c.overlapped);
    c.wsabuf[0] = sizeof c.buffer;
    c.wsabuf[1] = reinterpret_cast<std::uintptr_t>(c.buffer);
    c.socket = nullptr;
    c.owner = owner;
    c.op = 1;
  }
};

// Enough for kPoolMaxThreads threads that each hold the largest `held` and
// keep a full CachedPool cache besides.
template <class Context>
inline constexpr std::size_t kPoolCapacity =
    kPoolMaxThreads*(static_cast<std::size_t>(ChurnTraits<Context>::kHeld.back()) +
                     CachedPool<Context>::kCacheCapacity);

template <class Pool, class Context>
void BM_PoolChurn(benchmark::State& state) {
  using Traits = ChurnTraits<Context>;
  // One pool per pool type, shared by the threads of every run (a function
  // local static is constructed exactly once even when threads race to it).
  // Each run returns everything it took, so every run starts from a full pool.
  static Pool pool(kPoolCapacity<Context>);
  static RunCheck run_check;

  const auto held_count = static_cast<std::size_t>(state.range(0));
  const auto me = static_cast<std::uint32_t>(state.thread_index() + 1);

  // The order in which held sockets close: a fixed pseudo-random sequence
  // (xorshift32, seeded per thread), precomputed so that every pool pays the
  // same single load for it.
  constexpr std::size_t kVictims = 4096;
  std::vector<std::uint32_t> victims(kVictims);
  std::uint32_t x = 0x9E3779B9u * me;
  for (auto& v : victims) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    v = static_cast<std::uint32_t>(x % held_count);
  }

  typename Pool::Cache cache;
  std::vector<Context*> held(held_count, nullptr);
  for (auto& slot : held) {
    slot = pool.acquire(cache);
    if (slot == nullptr) {
      state.SkipWithError("the pool ran out while filling the held contexts");
      break;
    }
    Traits::prepare(*slot, me, 0);
  }

  std::uint64_t step = 0;
  std::size_t cursor = 0;
  std::uint64_t foreign = 0;
  for (auto _ : state) {
    Context* fresh = pool.acquire(cache);
    if (fresh == nullptr) {
      state.SkipWithError("the pool ran out");
      break;
    }
    Traits::prepare(*fresh, me, step);
    benchmark::DoNotOptimize(fresh);
    const std::size_t victim = Traits::kFifo ? cursor : victims[step % kVictims];
    Context* old = held[victim];
    // A pool that handed one context to two threads shows up here, when the
    // other thread has overwritten the owner.
    foreign += old->owner != me;
    pool.release(cache, old);
    held[victim] = fresh;
    if (++cursor == held_count) cursor = 0;
    ++step;
  }
  state.SetItemsProcessed(state.iterations());

  for (Context* c : held) {
    if (c == nullptr) continue;
    foreign += c->owner != me;
    pool.release(cache, c);
  }
  pool.detach(cache);
  if (foreign != 0) state.SkipWithError("a context was held by two threads at once");

  // Once every thread has returned its contexts, the pool must hold each
  // slot exactly once again.
  finish_run(state, run_check, 0, [](std::int64_t) -> const char* {
    return pool.verify_full() ? nullptr : "the pool lost or duplicated a slot";
  });
}

// The argument generator: every `held` value of the context type, each under
// 1, 2, 4 and 8 threads, timed by the wall clock (so that items_per_second is
// the throughput of all threads together).
template <class Context>
void pool_arguments(benchmark::internal::Benchmark* b) {
  b->ArgName("held");
  for (const std::int64_t held : ChurnTraits<Context>::kHeld)
    b->Arg(held);
  b->ThreadRange(1, kPoolMaxThreads)->UseRealTime();
}

// Registers BM_PoolSocket/<variant> and BM_PoolIo/<variant> for one pool
// template, e.g. register_pools<NewDeletePool>("new_delete").
template <template <class> class PoolOf>
void register_pools(const std::string& variant) {
  benchmark::RegisterBenchmark(
      (std::string(ChurnTraits<SocketContext>::kName) + "/" + variant).c_str(),
      &BM_PoolChurn<PoolOf<SocketContext>, SocketContext>)
      ->Apply(pool_arguments<SocketContext>);
  benchmark::RegisterBenchmark((std::string(ChurnTraits<IoContext>::kName) + "/" + variant).c_str(),
                               &BM_PoolChurn<PoolOf<IoContext>, IoContext>)
      ->Apply(pool_arguments<IoContext>);
}

}  // namespace wsb::bench
