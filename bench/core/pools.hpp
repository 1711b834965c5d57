// Context pools for the benchmarks of seed note 002 (bench_pool.cpp,
// bench_pool_win.cpp), namespace wsb::bench.
//
// The note's IOCP server keeps its per-socket and per-I/O contexts in pools:
// an array of preallocated objects and a stack of the indices that are free,
// protected by a critical section. The pools here are that design and the
// usual alternatives, all with one interface so that one workload template
// measures each of them:
//
//   typename Pool::Cache cache;        // one per thread, owned by the thread
//   T* p = pool.acquire(cache);        // nullptr when the pool is exhausted
//   pool.release(cache, p);            // p came from this pool
//   pool.detach(cache);                // before the thread stops using the pool
//   bool ok = pool.verify_full();      // every slot free exactly once (no thread attached)
//
// Only CachedPool keeps anything in its Cache; the others ignore it. The pools
// never grow: a server sizes them for its connection limit at start-up, and a
// benchmark that ran out would be measuring something else.
//
// These classes exist for the benchmarks only: each is a few lines, with the
// checks a benchmark needs (index_of() aborts on a foreign pointer,
// verify_full() finds lost or duplicated slots after a run), not a general
// allocator.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "support.hpp"

namespace wsb::bench {

// A per-socket context as in the note's design: the socket, the peer's
// address, the application's state for the connection, the list of its I/O
// contexts in flight, and its index: 240 bytes. It is deliberately not
// over-aligned: operator new for an over-aligned type takes the aligned
// allocation path of the C library, which a real server's context would not.
struct SocketContext {
  std::uint64_t socket;      // SOCKET (64 bits on x64) or a file descriptor
  std::uint32_t owner;       // the benchmark thread holding it (checked on release)
  std::uint32_t state;       // connection state machine
  std::byte peer[128];       // sockaddr_storage
  std::uint64_t user[8];     // the application's per-connection state
  std::uint64_t io_list[4];  // head, tail and count of the I/O contexts in flight
};
static_assert(sizeof(SocketContext) == 240);

// A per-I/O context: an OVERLAPPED first (so that the OVERLAPPED* a completion
// returns is the context's address), the WSABUF that describes the buffer,
// the operation, the socket context it belongs to, and a 4 KiB buffer. The
// sizes are those of the x64 Windows structures (OVERLAPPED 32 bytes, WSABUF
// 16 bytes); the portable benchmark does not include <windows.h> for them.
struct IoContext {
  std::byte overlapped[32];
  std::uint64_t wsabuf[2];
  SocketContext* socket;
  std::uint32_t owner;  // the benchmark thread holding it (checked on release)
  std::uint32_t op;     // accept, recv or send
  std::byte buffer[4096];
};
// 64 bytes of header on a 64-bit target (a 32-bit one has a smaller pointer).
static_assert(sizeof(void*) != 8 || sizeof(IoContext) == 64 + 4096);

namespace detail {

// The pool's objects, value-initialised (so every page is touched before a
// measurement starts, as in a server that allocates its pools at start-up),
// in one array that starts on a cache line.
template <class T>
class SlotArray {
 public:
  explicit SlotArray(std::size_t count)
      : count_(count),
        base_(static_cast<T*>(::operator new (sizeof(T) * count, std::align_val_t{kCacheLine}))) {
    std::uninitialized_value_construct_n(base_, count);
  }
  ~SlotArray() {
    std::destroy_n(base_, count_);
    ::operator delete (base_, std::align_val_t{kCacheLine});
  }
  SlotArray(const SlotArray&) = delete;
  SlotArray& operator=(const SlotArray&) = delete;

  std::size_t size() const noexcept { return count_; }
  T* at(std::uint32_t index) noexcept { return base_ + index; }

  // The index of p, which must point to an element of this array. A pointer
  // from elsewhere is a broken invariant of the benchmark: abort. (Compared
  // as integers, because relational operators on pointers into different
  // arrays are unspecified.)
  std::uint32_t index_of(const T* p) const noexcept {
    const auto offset =
        reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(base_);
    const std::size_t index = offset / sizeof(T);
    if (offset % sizeof(T) != 0 || index >= count_) std::abort();
    return static_cast<std::uint32_t>(index);
  }

 private:
  std::size_t count_;
  T* base_;
};

// True when `indices` holds each of 0..count-1 exactly once.
inline bool is_permutation_of_all(const std::uint32_t* indices, std::size_t n, std::size_t count) {
  if (n != count) return false;
  std::vector<bool> seen(count, false);
  for (std::size_t i = 0; i < n; ++i) {
    if (indices[i] >= count || seen[indices[i]]) return false;
    seen[indices[i]] = true;
  }
  return true;
}

}  // namespace detail

// The baseline: every context from the C++ heap (glibc malloc natively, the
// C runtime's malloc over HeapAlloc with MinGW).
template <class T>
class NewDeletePool {
 public:
  struct Cache {};
  explicit NewDeletePool(std::size_t /*capacity*/) {}
  // Default-initialised, like a pooled object that keeps its old contents:
  // the workload writes the same fields into either.
  T* acquire(Cache&) { return new T; }
  void release(Cache&, T* p) noexcept { delete p; }
  void detach(Cache&) noexcept {}
  bool verify_full() const { return true; }
};

// The note's design: a stack of free indices under one lock. Lock is any
// BasicLockable: std::mutex here, SRWLOCK and CRITICAL_SECTION wrappers in
// bench_pool_win.cpp.
template <class T, class Lock>
class LockedPool {
 public:
  struct Cache {};
  explicit LockedPool(std::size_t capacity) : slots_(capacity), free_(capacity) {
    // Index 0 on top, so that a fresh pool hands out slots in address order.
    for (std::size_t i = 0; i < capacity; ++i)
      free_[i] = static_cast<std::uint32_t>(capacity - 1 - i);
    top_ = capacity;
  }
  T* acquire(Cache&) {
    std::lock_guard guard(lock_);
    if (top_ == 0) return nullptr;
    return slots_.at(free_[--top_]);
  }
  void release(Cache&, T* p) noexcept {
    const std::uint32_t index = slots_.index_of(p);
    std::lock_guard guard(lock_);
    free_[top_++] = index;
  }
  void detach(Cache&) noexcept {}
  bool verify_full() {
    std::lock_guard guard(lock_);
    return detail::is_permutation_of_all(free_.data(), top_, slots_.size());
  }

 private:
  detail::SlotArray<T> slots_;
  std::vector<std::uint32_t> free_;
  // The lock and the top of the stack share one line, which every thread
  // writes; nothing read on the fast path by other threads lives beside it.
  alignas(kCacheLine) Lock lock_;
  std::size_t top_ = 0;
};

// A Treiber stack of free indices: one compare-and-swap on a shared head per
// acquire and per release, no lock.
//
// ABA: a thread reads head = A with next B, is delayed, and meanwhile A is
// taken, B is taken, A is returned. A plain CAS from A to B would now succeed
// and install B, which is in use. The head therefore carries a 32-bit tag
// beside the index, incremented by every successful CAS, and the stale CAS
// fails because the tag moved. The tag wraps after 2^32 operations; the CAS
// could then succeed wrongly only if a thread were delayed between its load
// and its CAS for exactly a multiple of 2^32 operations of the others (over
// three minutes at the rates measured here), which we accept, as every
// tagged-index stack does. The next-index array is atomic because a delayed
// thread reads next[A] while another thread may be writing it; the value it
// reads then is stale, and its CAS fails.
template <class T>
class LockFreePool {
 public:
  struct Cache {};
  explicit LockFreePool(std::size_t capacity)
      : slots_(capacity), next_(std::make_unique<std::atomic<std::uint32_t>[]>(capacity)) {
    if (capacity >= kEmpty) std::abort();
    // Slot i links to i + 1, so a fresh pool hands out slots in address order.
    for (std::size_t i = 0; i < capacity; ++i) {
      const auto following = i + 1 < capacity ? static_cast<std::uint32_t>(i + 1) : kEmpty;
      next_[i].store(following, std::memory_order_relaxed);
    }
    head_.store(pack(0, capacity == 0 ? kEmpty : 0), std::memory_order_release);
  }

  T* acquire(Cache&) noexcept {
    // Acquire: reading next[index] and the slot's contents must see what the
    // thread that pushed the index wrote before its release CAS. Every change
    // of head_ is a read-modify-write, so the release sequence of that push
    // reaches whichever later value this load returns.
    std::uint64_t head = head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t index = index_of_head(head);
      if (index == kEmpty) return nullptr;
      const std::uint32_t next = next_[index].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(head, pack(tag_of_head(head) + 1, next),
                                      std::memory_order_acquire, std::memory_order_acquire)) {
        return slots_.at(index);
      }
    }
  }

  void release(Cache&, T* p) noexcept {
    const std::uint32_t index = slots_.index_of(p);
    std::uint64_t head = head_.load(std::memory_order_relaxed);
    do {
      next_[index].store(index_of_head(head), std::memory_order_relaxed);
    } while (!head_.compare_exchange_weak(head, pack(tag_of_head(head) + 1, index),
                                          std::memory_order_release, std::memory_order_relaxed));
  }

  void detach(Cache&) noexcept {}

  // Walks the free list (no thread may use the pool meanwhile).
  bool verify_full() {
    std::vector<std::uint32_t> indices;
    std::uint32_t index = index_of_head(head_.load(std::memory_order_acquire));
    // At most size() + 1 steps: a cycle or a duplicate shows up as one extra.
    while (index != kEmpty && indices.size() <= slots_.size()) {
      if (index >= slots_.size()) return false;
      indices.push_back(index);
      index = next_[index].load(std::memory_order_relaxed);
    }
    return detail::is_permutation_of_all(indices.data(), indices.size(), slots_.size());
  }

 private:
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFFu;
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
                "the tagged head must be one lock-free 64-bit word");

  static std::uint64_t pack(std::uint32_t tag, std::uint32_t index) noexcept {
    return (std::uint64_t{tag} << 32) | index;
  }
  static std::uint32_t index_of_head(std::uint64_t head) noexcept {
    return static_cast<std::uint32_t>(head);
  }
  static std::uint32_t tag_of_head(std::uint64_t head) noexcept {
    return static_cast<std::uint32_t>(head >> 32);
  }

  detail::SlotArray<T> slots_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> next_;
  // Last and aligned: the class's size is then a multiple of the line, so
  // nothing that follows a pool shares the head's line either.
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};
};

// A per-thread cache in front of a locked global stack, the shape of
// tcmalloc's and of most production pools: a thread takes and returns
// contexts in its own Cache without any shared write, and moves kBatch
// indices at a time to or from the global stack under its lock. The Cache is
// an object the thread owns (an IOCP worker would keep it on its stack), not
// a thread_local, so it costs no TLS lookup and can be flushed explicitly by
// detach(). Contexts released by a thread other than the one that took them
// simply join the releasing thread's cache.
template <class T>
class CachedPool {
 public:
  static constexpr std::uint32_t kBatch = 32;
  // Slots a thread may hold in its cache at most (what a pool's capacity
  // must allow per thread beyond the contexts it has in use).
  static constexpr std::uint32_t kCacheCapacity = 2 * kBatch;

  struct alignas(kCacheLine) Cache {
    std::uint32_t count = 0;
    std::uint32_t items[kCacheCapacity];
  };

  explicit CachedPool(std::size_t capacity) : slots_(capacity), free_(capacity) {
    for (std::size_t i = 0; i < capacity; ++i)
      free_[i] = static_cast<std::uint32_t>(capacity - 1 - i);
    top_ = capacity;
  }

  T* acquire(Cache& cache) {
    if (cache.count == 0 && !refill(cache)) return nullptr;
    return slots_.at(cache.items[--cache.count]);
  }

  void release(Cache& cache, T* p) {
    const std::uint32_t index = slots_.index_of(p);
    if (cache.count == kCacheCapacity) spill(cache, kBatch);
    cache.items[cache.count++] = index;
  }

  void detach(Cache& cache) { spill(cache, cache.count); }

  bool verify_full() {
    std::lock_guard guard(lock_);
    return detail::is_permutation_of_all(free_.data(), top_, slots_.size());
  }

 private:
  bool refill(Cache& cache) {
    std::lock_guard guard(lock_);
    const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(kBatch, top_));
    top_ -= n;
    std::memcpy(cache.items, free_.data() + top_, n * sizeof(std::uint32_t));
    cache.count = n;
    return n != 0;
  }

  // Returns the n least recently released indices (the bottom of the cache)
  // to the global stack and keeps the most recent ones, whose contexts are
  // the likeliest to be in this core's cache.
  void spill(Cache& cache, std::uint32_t n) {
    {
      std::lock_guard guard(lock_);
      std::memcpy(free_.data() + top_, cache.items, n * sizeof(std::uint32_t));
      top_ += n;
    }
    std::memmove(cache.items, cache.items + n, (cache.count - n) * sizeof(std::uint32_t));
    cache.count -= n;
  }

  detail::SlotArray<T> slots_;
  std::vector<std::uint32_t> free_;
  alignas(kCacheLine) std::mutex lock_;
  std::size_t top_ = 0;
};

}  // namespace wsb::bench
