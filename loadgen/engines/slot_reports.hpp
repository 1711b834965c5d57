// What every engine needs to keep two promises of the contract in
// engines/engine.hpp (namespace wsb::loadgen): no callback from connect(),
// flush() or close(), and no late event of a closed connection under a
// reused slot.
//
// Generations. Each slot carries a generation that the engine advances
// whenever the slot's connection ends or a new one starts. A record of
// (slot, generation), taken when an operation or event was set up, names one
// connection: when the slot's generation has moved on, the record is stale
// and must not reach the handler. SlotToken packs the pair into the 64 bits
// an epoll event or a completion key carries.
//
// Deferred reports. A failure that connect() or flush() finds at once (and a
// connect that succeeds at once) cannot be reported from inside the call; it
// is queued here and delivered by the next poll(). A slot has at most one
// report that matters: a new one can only come from a later connect(), which
// advances the generation and so makes the older one stale; queueing a
// report for a slot that already has one replaces it. The queue holds every
// slot once at most, so it never allocates after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "engines/engine.hpp"

namespace wsb::loadgen {

// (slot, generation) in 64 bits: the slot in the low half, the generation
// in the high half.
struct SlotToken {
  static constexpr std::uint64_t pack(ConnId id, std::uint32_t generation) noexcept {
    return std::uint64_t{generation} << 32 | id;
  }
  static constexpr ConnId slot(std::uint64_t token) noexcept {
    return static_cast<ConnId>(token & 0xFFFFFFFFu);
  }
  static constexpr std::uint32_t generation(std::uint64_t token) noexcept {
    return static_cast<std::uint32_t>(token >> 32);
  }
};

// A slot of an engine that keeps one record of type Conn per open
// connection (io_uring, IOCP): the connection open in it, if any, the output
// the workload appends to, and the generation.
template <class Conn>
struct ConnSlot {
  Conn* conn = nullptr;
  ByteBuffer out;
  std::uint32_t generation = 0;

  // Ends the slot's connection: a new generation makes its queued reports
  // and late events stale, and its unsent output goes. Returns the record
  // (nullptr when none was open), which the engine still has to detach.
  Conn* end() noexcept {
    ++generation;
    out.clear();
    return std::exchange(conn, nullptr);
  }
};

// Which callback a deferred report becomes.
enum class ReportKind : std::uint8_t { connected, closed };

struct DeferredReport {
  ConnId id = 0;
  std::uint32_t generation = 0;  // the slot's generation when it was queued
  ReportKind kind = ReportKind::connected;
  Failure failure = Failure::none;
  int code = 0;
};

class DeferredReports {
 public:
  explicit DeferredReports(std::uint32_t capacity) : slots_(capacity) {
    queue_.reserve(capacity);
    batch_.reserve(capacity);
  }

  // Queues (or replaces) the report of slot `id`, taken at `generation`.
  void add(ConnId id, std::uint32_t generation, ReportKind kind, Failure failure,
           int code) noexcept {
    Entry& e = slots_[id];
    e.report = {id, generation, kind, failure, code};
    if (e.queued) return;
    e.queued = true;
    queue_.push_back(id);  // within the reserved capacity: each slot once at most
  }

  // add() at the current generation of slot `id` of the engine's `slots`.
  template <class Slots>
  requires requires(const Slots& slots) { slots[ConnId{}].generation; }
  void add(const Slots& slots, ConnId id, ReportKind kind, Failure failure, int code) noexcept {
    add(id, slots[id].generation, kind, failure, code);
  }

  bool empty() const noexcept { return queue_.empty(); }

  // Forgets every queued report (the engine is going away).
  void clear() noexcept {
    for (const ConnId id : queue_)
      slots_[id].queued = false;
    queue_.clear();
  }

  // Delivers every queued report whose generation is still the slot's
  // (current(id)), by calling deliver(report); returns how many it
  // delivered. Reports that the callbacks queue wait for the next call,
  // unless they replace the report of a slot still in this batch.
  template <class Current, class Deliver>
  std::size_t deliver(Current current, Deliver deliver) noexcept {
    if (queue_.empty()) return 0;
    batch_.swap(queue_);
    std::size_t n = 0;
    for (const ConnId id : batch_) {
      Entry& e = slots_[id];
      if (!e.queued) continue;
      e.queued = false;
      if (e.report.generation != current(id)) continue;  // closed meanwhile
      ++n;
      const DeferredReport report = e.report;  // a callback may queue a new one
      deliver(report);
    }
    batch_.clear();
    return n;
  }

  // deliver() for an engine: the reports whose generation is still their
  // slot's in `slots` go to `handler` (on_connected or on_closed, by their
  // kind), each after `settle(slot, report)`, which does what the engine
  // must do to a slot whose connection the report ends.
  template <class Slots, class Settle>
  std::size_t deliver(Slots& slots, EngineHandler& handler, Settle settle) noexcept {
    return deliver([&slots](ConnId id) { return slots[id].generation; },
                   [&](const DeferredReport& d) {
                     settle(slots[d.id], d);
                     if (d.kind == ReportKind::connected) {
                       handler.on_connected(d.id, d.failure, d.code);
                     } else {
                       handler.on_closed(d.id, d.failure, d.code);
                     }
                   });
  }

 private:
  struct Entry {
    bool queued = false;
    DeferredReport report;
  };
  std::vector<Entry> slots_;
  std::vector<ConnId> queue_;
  std::vector<ConnId> batch_;
};

}  // namespace wsb::loadgen
