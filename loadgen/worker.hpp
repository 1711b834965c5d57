// A worker thread of the load generator (namespace wsb::loadgen): it owns a
// share of the connections, their client drivers and its own engine, and
// runs every connection's state machine (connect, send, verify, time out,
// reconnect, churn) on the engine's callbacks and its own timers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engines/engine.hpp"
#include "options.hpp"
#include "proto/chat_client.hpp"
#include "proto/client.hpp"
#include "recorder.hpp"

namespace wsb::loadgen {

// The run's phases, in order; the reporter moves them forward.
enum class Phase : int {
  ready,    // --start-at: connections are opened, nothing is sent until the start time
  warmup,   // load runs, results are discarded at its end
  measure,  // load runs and is recorded
  drain,    // no new requests; outstanding responses are awaited until the drain deadline
  stop,     // end at once (the spawned server died, or the run failed)
};

// What the reporter shares with every worker.
struct RunControl {
  Clock::time_point epoch;  // time 0 of every schedule
  std::atomic<Phase> phase{Phase::warmup};
  // Nanoseconds since the epoch when the load began: 0, or with --start-at
  // the end of the ready phase. Open-loop schedules count from it. Written
  // before the phase leaves Phase::ready (release), read after (acquire).
  std::atomic<std::int64_t> load_start_ns{0};
  // Nanoseconds since the epoch after which a draining worker stops waiting.
  std::atomic<std::int64_t> drain_deadline_ns{0};
  // When (ns since the epoch) a connect last succeeded and last was refused,
  // over all workers; -1 for never. A refusal newer than the last success
  // while no connection is open means nothing listens at the target any
  // more (or never did): the reporter ends the run then instead of letting
  // the connections retry until --duration is over.
  std::atomic<std::int64_t> last_connect_ok_ns{-1};
  std::atomic<std::int64_t> last_refused_ns{-1};
};

struct WorkerSetup {
  const Options* options = nullptr;
  const proto::ClientFactory* factory = nullptr;
  const EngineInfo* engine = nullptr;
  RunControl* control = nullptr;
  net::Endpoint target;
  unsigned index = 0;    // this worker
  unsigned workers = 1;  // all workers
  // The global indexes of this worker's connections: [first, first + count).
  std::uint64_t first_connection = 0;
  std::uint32_t connections = 0;
  // --requests share of this worker, counted from the measure phase on
  // (nullopt: no cap; 0 is a real share when --requests < --threads).
  std::optional<std::uint64_t> request_quota;
};

class Worker final : private EngineHandler {
 public:
  explicit Worker(const WorkerSetup& setup);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread; join() waits for it. The thread ends by itself once
  // the phase is drain (and it has drained) or stop, when its --requests quota
  // is done, or when its engine fails.
  void start();
  void join();

  // Makes the worker look at the phase and the recorder soon. Any thread.
  void wake() noexcept;
  // Reporter: the hand-over that answers recorder request number `request`
  // ends the warmup for this worker. From that exact point on its requests
  // count toward its --requests quota, so the quota and the measured counters
  // (cut at the same hand-over) agree to the request.
  void measure_from(std::uint64_t request) noexcept {
    measure_from_.store(request, std::memory_order_release);
  }

  WorkerRecorder& recorder() noexcept { return recorder_; }
  // True once the thread has ended (its loop returned).
  bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  // True once the --requests quota of this worker is completely answered.
  bool quota_done() const noexcept { return quota_done_.load(std::memory_order_acquire); }
  // Connections connected right now (relaxed; for the live line).
  std::uint32_t open_connections() const noexcept { return open_.load(std::memory_order_relaxed); }
  // Nanoseconds after the epoch when every connection of this worker had been
  // connected at least once; -1 until then.
  std::int64_t all_connected_ns() const noexcept {
    return all_connected_ns_.load(std::memory_order_acquire);
  }
  // Valid after join(): why the worker failed (empty if it did not), and the
  // requests still unanswered when it ended.
  const std::string& failure() const noexcept { return failure_; }
  std::uint64_t unfinished() const noexcept { return unfinished_; }

 private:
  struct Conn;
  enum class TimerKind : std::uint8_t;

  void run();
  void loop();
  std::int64_t now_ns() const noexcept;
  Phase phase() const noexcept { return control_->phase.load(std::memory_order_acquire); }
  bool may_send() noexcept;

  // Connection state machine.
  void queue_connect(ConnId id) noexcept;
  void start_connects(std::int64_t now) noexcept;
  void connection_failed(ConnId id, ErrorKind kind, bool abort) noexcept;
  void connection_lost(ConnId id) noexcept;
  void send_requests(ConnId id, std::int64_t now) noexcept;
  // Counts what send_requests() wrote and flushes it (or drops the
  // connection when writing ran out of memory).
  void finish_sending(ConnId id, std::uint64_t n, std::uint64_t bytes, bool out_of_memory) noexcept;
  // Moves the send time of this turn's requests to now, just before the
  // poll() that hands them to the kernel (engines that send in poll()).
  void stamp_unsent() noexcept;
  void responses(ConnId id, std::size_t n, std::int64_t now) noexcept;
  void after_responses(ConnId id, std::int64_t now) noexcept;
  void set_timer(ConnId id, std::int64_t when, TimerKind kind) noexcept;
  void run_timers(std::int64_t now) noexcept;
  void scan_timeouts(std::int64_t now) noexcept;
  // engine_->poll(deadline), after spinning for up to --spin when requests
  // are outstanding (see the definition).
  void wait_for_io(Clock::time_point deadline);
  void close_all() noexcept;
  // chat: the driver of a connection (only when the run's protocol is chat).
  proto::chat::ChatDriver& chat_driver(ConnId id) noexcept;
  // chat: the first open-loop schedule index of connection g that is due at
  // or after `now` (ns since the epoch): a user's schedule starts once every
  // user is logged in, not at the epoch.
  std::uint64_t first_index_due_from(std::uint64_t g, std::int64_t now) const noexcept;

  // EngineHandler.
  void on_connected(ConnId id, Failure failure, int code) noexcept override;
  void on_data(ConnId id, const char* data, std::size_t size) noexcept override;
  void on_closed(ConnId id, Failure failure, int code) noexcept override;

  WorkerSetup setup_;
  const Options& options_;
  proto::chat::Ledger* ledger_ = nullptr;  // chat only: the run's shared ledger
  RunControl* control_;
  WorkerRecorder recorder_;
  std::vector<Conn> conns_;
  struct State;
  std::unique_ptr<State> state_;

  std::mutex engine_mutex_;  // guards engine_ for wake() against its destruction
  std::unique_ptr<Engine> engine_;

  // Engine callbacks so far: how wait_for_io() sees that a poll did something.
  std::uint64_t events_ = 0;

  std::thread thread_;
  std::atomic<std::uint64_t> measure_from_{0};
  std::atomic<bool> finished_{false};
  std::atomic<bool> quota_done_{false};
  std::atomic<std::uint32_t> open_{0};
  std::atomic<std::int64_t> all_connected_ns_{-1};
  std::string failure_;
  std::uint64_t unfinished_ = 0;
};

}  // namespace wsb::loadgen
