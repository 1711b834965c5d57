// One load-generation run (namespace wsb::loadgen): starts the workers,
// moves the phases (warmup, measure, drain), collects an interval from every
// worker each --interval and hands it to the caller, and returns the merged
// result. The caller owns everything around it: the command line, the
// spawned server, the outputs.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>

#include "engines/engine.hpp"
#include "options.hpp"
#include "proto/client.hpp"
#include "result.hpp"

namespace wsb::loadgen {

// Why a run should end early; set from other threads (the interrupt watcher,
// the spawned server's monitor).
class RunSignals {
 public:
  void interrupt() noexcept;
  void server_died() noexcept;
  bool interrupted() const noexcept;
  bool server_dead() const noexcept;
  // Sleeps until `until` or until a signal arrives (returns at once if one
  // already did).
  void wait_until(Clock::time_point until);

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool interrupted_ = false;
  bool server_dead_ = false;
};

struct RunHooks {
  // Called on the reporter thread for every interval (warmup ones included).
  std::function<void(const IntervalReport&)> on_interval;
  // --hold: called once when every connection has been established, with
  // the number open at that moment.
  std::function<void(std::uint64_t open)> on_all_established;
  // --start-at: called once when the load begins (or was due to begin, for
  // a late instance), before any request is sent.
  std::function<void(const StartOutcome&)> on_load_start;
  // Called once when the load ends, before any connection is closed.
  std::function<void()> on_load_end;
};

// Runs the load. `engine` must be available (checked by the caller), target
// is the address to connect to, factory makes the connections' drivers.
RunResult run_load(const Options& options, const EngineInfo& engine, const net::Endpoint& target,
                   const proto::ClientFactory& factory, RunSignals& signals, const RunHooks& hooks);

}  // namespace wsb::loadgen
