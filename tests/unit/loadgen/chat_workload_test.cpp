// The chat workload over the whole run (run_load: workers, login barrier,
// closed and open loop, drain, reconciliation) against the real chat server
// core (chat::Hub, chat::Session) behind an in-memory engine: no socket is
// opened, every worker's engine shares one Hub, and deliveries cross
// workers as they would cross a server's threads. A mailbox that loses,
// duplicates or swaps frames on purpose shows that each error class is
// found by the run, not only by the driver's unit tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "chat/hub.hpp"
#include "chat/session.hpp"
#include "run.hpp"

namespace wsb::loadgen {
namespace {

using namespace std::chrono_literals;

// What the mailboxes do wrong, counted over all of them: the n-th post
// (from 1) of the whole run is lost, sent twice, or held back and sent after
// the next one to the same connection.
struct Faults {
  std::uint64_t lose = 0, duplicate = 0, swap = 0;
};
Faults g_faults;
std::atomic<std::uint64_t> g_posts{0};
chat::Hub* g_hub = nullptr;

class ChatEngine final : public Engine {
 public:
  ChatEngine(const EngineConfig& config, EngineHandler& handler)
      : handler_(handler), slots_(config.capacity) {
    for (ConnId id = 0; id < config.capacity; ++id) {
      slots_[id] = std::make_unique<Slot>();
      slots_[id]->engine = this;
      slots_[id]->id = id;
    }
  }
  ~ChatEngine() override {
    for (auto& s : slots_)
      s->session.reset();  // logs out before the mailboxes go
  }

  std::string_view name() const noexcept override { return "chat-fake"; }

  void connect(ConnId id, const net::Endpoint&, const net::Endpoint*) override {
    Slot& s = *slots_[id];
    s.session = std::make_unique<chat::Session>(*g_hub, s);
    push({id, generation(id, true), Event::connected, {}});
  }

  ByteBuffer& output(ConnId id) noexcept override { return slots_[id]->out; }

  void flush(ConnId id) noexcept override {
    Slot& s = *slots_[id];
    if (!s.session || s.out.empty()) return;
    ByteBuffer reply;
    s.session->feed(s.out.readable(), reply);
    s.out.clear();
    if (!reply.empty()) push({id, generation(id, false), Event::data, bytes(reply)});
  }

  void close(ConnId id, CloseMode) noexcept override {
    Slot& s = *slots_[id];
    s.session.reset();  // logs out: no more posts to this slot
    generation(id, true);
    s.out.clear();
  }

  void poll(Clock::time_point deadline) override {
    std::deque<Event> ready;
    {
      std::unique_lock lock(mutex_);
      cv_.wait_until(lock, deadline, [&] { return !events_.empty() || woken_; });
      woken_ = false;
      ready.swap(events_);
    }
    for (const Event& e : ready) {
      if (e.generation != slots_[e.id]->generation) continue;
      if (e.what == Event::connected) {
        handler_.on_connected(e.id, Failure::none, 0);
      } else {
        handler_.on_data(e.id, e.bytes.data(), e.bytes.size());
      }
    }
  }

  void wake() noexcept override {
    std::lock_guard lock(mutex_);
    woken_ = true;
    cv_.notify_one();
  }

 private:
  struct Event {
    ConnId id;
    std::uint32_t generation;
    enum What { connected, data } what;
    std::string bytes;
  };
  // A connection's mailbox: posts from any worker's thread become data
  // events of this engine.
  struct Slot final : chat::Mailbox {
    // Posts come from every worker's thread: the engine's mutex orders them.
    bool post(std::span<const char> frame) noexcept override {
      std::lock_guard lock(engine->mutex_);
      const std::uint64_t n = ++g_posts;
      std::string bytes(frame.begin(), frame.end());
      if (n == g_faults.lose) return true;
      if (n == g_faults.swap) {
        held = std::move(bytes);
        return true;
      }
      engine->push_locked({id, generation, Event::data, bytes});
      // The held frame goes out after the next one of its sender (FROM_
      // PRIVATE and FROM_GROUP both start with the sender's id), which has
      // then overtaken it on its channel.
      if (!held.empty() && held.compare(3, 4, bytes, 3, 4) == 0) {
        engine->push_locked({id, generation, Event::data, std::exchange(held, {})});
      }
      if (n == g_faults.duplicate) engine->push_locked({id, generation, Event::data, bytes});
      return true;
    }
    ChatEngine* engine = nullptr;
    ConnId id = 0;
    std::uint32_t generation = 0;  // written under the engine's mutex
    ByteBuffer out;
    std::unique_ptr<chat::Session> session;
    std::string held;  // a frame held back (g_faults.swap), under the engine's mutex
  };

  static std::string bytes(const ByteBuffer& b) { return std::string(b.data(), b.size()); }
  std::uint32_t generation(ConnId id, bool next) {
    std::lock_guard lock(mutex_);
    if (next) ++slots_[id]->generation;
    return slots_[id]->generation;
  }
  void push(Event e) {
    std::lock_guard lock(mutex_);
    push_locked(std::move(e));
  }
  void push_locked(Event e) {
    events_.push_back(std::move(e));
    cv_.notify_one();
  }

  EngineHandler& handler_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  bool woken_ = false;
};

std::unique_ptr<Engine> make_chat_engine(const EngineConfig& config, EngineHandler& handler) {
  return std::make_unique<ChatEngine>(config, handler);
}
const EngineInfo kChatEngine{"chat-fake", "in-memory chat server for tests", &make_chat_engine};

class ChatWorkload : public ::testing::Test {
 protected:
  void SetUp() override {
    g_faults = Faults{};
    g_posts = 0;
    options_.protocol = proto::Protocol::chat;
    options_.target = *net::parse_host_port("127.0.0.1:9");
    options_.threads = 2;
    options_.connections = 200;
    options_.group_size = 10;
    options_.private_share = 0.2;
    options_.duration = 400ms;
    options_.interval = 100ms;
    options_.timeout = 2s;
  }

  RunResult run() {
    chat::Hub hub;
    g_hub = &hub;
    proto::ClientConfig cfg;
    cfg.protocol = proto::Protocol::chat;
    cfg.size_min = options_.size.min;
    cfg.size_max = options_.size.max;
    set_chat_config(options_, cfg);
    const proto::ClientFactory factory(cfg);
    RunSignals signals;
    RunHooks hooks;
    RunResult r = run_load(options_, kChatEngine, options_.target, factory, signals, hooks);
    g_hub = nullptr;
    return r;
  }

  static std::uint64_t error(const RunResult& r, ErrorKind e) { return r.totals.error(e); }

  // Expects exactly one delivery error, of `kind`, and none of the other
  // two kinds the delivery checks count.
  static void expect_one_delivery_error(const RunResult& r, ErrorKind kind) {
    for (const ErrorKind k : {ErrorKind::lost, ErrorKind::duplicated, ErrorKind::reordered})
      EXPECT_EQ(error(r, k), k == kind ? 1u : 0u) << name(k);
  }

  Options options_;
};

// 200 users in groups of 10, a fifth of the messages private: every
// delivery arrives once and in order, and the delivery histogram has one
// sample per delivery.
TEST_F(ChatWorkload, ClosedLoopDeliversEverythingOnce) {
  options_.pipeline = 2;
  const RunResult r = run();
  EXPECT_GT(r.totals.responses, 200u);
  EXPECT_GT(r.totals.deliveries, r.totals.responses) << "group messages fan out";
  EXPECT_EQ(r.totals.errors_total(), 0u);
  EXPECT_EQ(r.histograms[Series::delivery].total_count(),
            static_cast<std::int64_t>(r.totals.deliveries));
  EXPECT_EQ(r.histograms[Series::latency].total_count(),
            static_cast<std::int64_t>(r.totals.responses))
      << "ACK latency: no LOGIN in it";
  // Send times are on the run's clock: a delivery takes far less than 10 s here.
  EXPECT_LT(r.histograms[Series::delivery].max(), 10'000'000'000);
  EXPECT_EQ(r.unfinished, 0u);
}

TEST_F(ChatWorkload, OpenLoopFollowsTheRateFromTheLogin) {
  options_.mode = Mode::open;
  options_.rate = 2000;
  options_.pipeline = 4;
  const RunResult r = run();
  EXPECT_EQ(r.totals.errors_total(), 0u);
  EXPECT_GT(r.totals.deliveries, 0u);
  // The schedule starts once everyone is logged in, so the first messages
  // are not late by the login time: fewer than the whole rate over the run.
  EXPECT_LE(static_cast<double>(r.totals.requests), 2000 * r.seconds * 1.05 + 200);
}

TEST_F(ChatWorkload, ALostDeliveryFailsTheRun) {
  g_faults.lose = 500;
  const RunResult r = run();
  expect_one_delivery_error(r, ErrorKind::lost);
}

TEST_F(ChatWorkload, ADuplicatedDeliveryIsCounted) {
  g_faults.duplicate = 500;
  const RunResult r = run();
  expect_one_delivery_error(r, ErrorKind::duplicated);
}

TEST_F(ChatWorkload, AnOvertakenDeliveryIsReordered) {
  g_faults.swap = 500;
  const RunResult r = run();
  expect_one_delivery_error(r, ErrorKind::reordered);
}

}  // namespace
}  // namespace wsb::loadgen
