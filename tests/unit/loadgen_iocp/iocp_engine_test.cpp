// Engine-level tests of the load generator's IOCP engine (loadgen/engines/iocp.cpp)
// against the contract in engines/engine.hpp, over loopback sockets. The peer
// side is plain blocking Winsock through wsb::net, driven by the test thread
// or, where the engine must make progress at the same time, a helper thread.
// Every wait is bounded: polls by a deadline, blocking receives by SO_RCVTIMEO.
#include <winsock2.h>
#include <windows.h>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engines/engine.hpp"
#include "platform/net.hpp"
#include "../net_environment.hpp"

namespace {

using namespace std::chrono_literals;
using wsb::loadgen::Clock;
using wsb::loadgen::CloseMode;
using wsb::loadgen::ConnId;
using wsb::loadgen::Engine;
using wsb::loadgen::EngineConfig;
using wsb::loadgen::EngineHandler;
using wsb::loadgen::Failure;
namespace net = wsb::net;

struct Socket {
  net::socket_t s = net::invalid_socket;
  Socket() = default;
  explicit Socket(net::socket_t v) : s(v) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { reset(); }
  void reset() {
    if (s != net::invalid_socket) net::close_socket(s);
    s = net::invalid_socket;
  }
};

// A blocking receive that gives up after `timeout`, so that a broken engine
// fails the test instead of hanging it.
void set_receive_timeout(net::socket_t s, std::chrono::milliseconds timeout) {
  const DWORD ms = static_cast<DWORD>(timeout.count());
  ASSERT_EQ(::setsockopt(static_cast<SOCKET>(s), SOL_SOCKET, SO_RCVTIMEO,
                         reinterpret_cast<const char*>(&ms), sizeof ms),
            0);
}

std::string receive_exactly(net::socket_t s, std::size_t count) {
  std::string out;
  std::vector<char> buffer(64 * 1024);
  while (out.size() < count) {
    const auto n =
        net::recv_some(s, std::span(buffer.data(), std::min(buffer.size(), count - out.size())));
    if (n <= 0) break;  // closed, failed or timed out
    out.append(buffer.data(), static_cast<std::size_t>(n));
  }
  return out;
}

void send_all(net::socket_t s, std::string_view data) {
  while (!data.empty()) {
    const auto n = net::send_some(s, data);
    ASSERT_GT(n, 0) << net::error_text(net::last_error());
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string pattern(std::size_t size, std::size_t offset = 0) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    s[i] = static_cast<char>((offset + i) % 251);
  return s;
}

struct Event {
  enum Kind { connected, data, closed } kind;
  ConnId id;
  Failure failure;
  int code;
  std::string bytes;
};

// Records every callback. A callback that runs while the test is inside
// connect(), flush() or close() breaks the contract and is counted.
class Recorder final : public EngineHandler {
 public:
  void on_connected(ConnId id, Failure failure, int code) noexcept override {
    note({Event::connected, id, failure, code, {}});
  }
  void on_data(ConnId id, const char* data, std::size_t size) noexcept override {
    note({Event::data, id, Failure::none, 0, std::string(data, size)});
  }
  void on_closed(ConnId id, Failure failure, int code) noexcept override {
    note({Event::closed, id, failure, code, {}});
  }

  std::vector<Event> events;
  bool in_engine_call = false;
  int synchronous_callbacks = 0;
  // Runs inside the callback, after the event was recorded.
  std::function<void(const Event&)> hook;

  std::size_t count(Event::Kind kind, ConnId id) const {
    std::size_t n = 0;
    for (const Event& e : events)
      n += (e.kind == kind && e.id == id) ? 1 : 0;
    return n;
  }
  std::string received(ConnId id) const {
    std::string out;
    for (const Event& e : events) {
      if (e.kind == Event::data && e.id == id) out += e.bytes;
    }
    return out;
  }
  const Event* last(Event::Kind kind, ConnId id) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->kind == kind && it->id == id) return &*it;
    }
    return nullptr;
  }

 private:
  void note(Event e) {
    if (in_engine_call) ++synchronous_callbacks;
    events.push_back(std::move(e));
    if (hook) hook(events.back());
  }
};

class IocpEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_.s = net::open_listener(net::parse_endpoint("127.0.0.1", 0).value(), 64);
    target_ = net::local_endpoint(listener_.s).value();
    make(4);
  }

  void make(std::uint32_t capacity, std::size_t receive_size = 16 * 1024, bool idle = false) {
    EngineConfig config;
    config.capacity = capacity;
    config.receive_size = receive_size;
    config.idle_connections = idle;
    engine_ = wsb::loadgen::make_iocp_engine(config, recorder_);
  }

  // The engine calls, with callbacks during them detected.
  void connect(ConnId id, const net::Endpoint& target) {
    recorder_.in_engine_call = true;
    engine_->connect(id, target, nullptr);
    recorder_.in_engine_call = false;
  }
  void send(ConnId id, std::string_view bytes) {
    recorder_.in_engine_call = true;
    engine_->output(id).append(bytes);
    engine_->flush(id);
    recorder_.in_engine_call = false;
  }
  void close(ConnId id, CloseMode mode) {
    recorder_.in_engine_call = true;
    engine_->close(id, mode);
    recorder_.in_engine_call = false;
  }

  template <class Pred>
  bool poll_until(Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto end = Clock::now() + limit;
    while (!pred()) {
      if (Clock::now() >= end) return false;
      engine_->poll(Clock::now() + 20ms);
    }
    return true;
  }
  void poll_for(std::chrono::milliseconds span) {
    const auto end = Clock::now() + span;
    while (Clock::now() < end)
      engine_->poll(end);
  }

  // Connects slot id and accepts the server side of it.
  net::socket_t open(ConnId id) {
    const std::size_t before = recorder_.count(Event::connected, id);
    connect(id, target_);
    EXPECT_TRUE(poll_until([&] { return recorder_.count(Event::connected, id) > before; }));
    const Event* e = recorder_.last(Event::connected, id);
    EXPECT_NE(e, nullptr);
    if (e != nullptr) {
      EXPECT_EQ(e->failure, Failure::none) << net::error_text(e->code);
    }
    const net::socket_t peer = net::accept_connection(listener_.s);
    EXPECT_NE(peer, net::invalid_socket) << net::error_text(net::last_error());
    if (peer != net::invalid_socket) set_receive_timeout(peer, 10s);
    return peer;
  }

  // Resets the server side of slot 0 (`peer`): the engine must close the
  // slot as reset.
  void expect_reset_seen(Socket& peer) {
    ASSERT_TRUE(net::reset_and_close(peer.s));
    peer.s = net::invalid_socket;
    ASSERT_TRUE(poll_until([&] { return recorder_.count(Event::closed, 0) == 1; }));
    const Event* e = recorder_.last(Event::closed, 0);
    EXPECT_EQ(e->failure, Failure::reset) << net::error_text(e->code);
  }

  void TearDown() override {
    engine_.reset();
    EXPECT_EQ(recorder_.synchronous_callbacks, 0)
        << "a callback ran inside connect(), flush() or close()";
  }

  Socket listener_;
  net::Endpoint target_;
  Recorder recorder_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(IocpEngineTest, NameIsIocp) {
  EXPECT_EQ(engine_->name(), "iocp");
}

TEST_F(IocpEngineTest, RequestResponseAndOrderlyClose) {
  Socket peer(open(0));
  send(0, "hello");
  EXPECT_EQ(receive_exactly(peer.s, 5), "hello");
  send_all(peer.s, "HELLO");
  ASSERT_TRUE(poll_until([&] { return recorder_.received(0).size() >= 5; }));
  EXPECT_EQ(recorder_.received(0), "HELLO");
  peer.reset();  // FIN: an orderly end of stream
  ASSERT_TRUE(poll_until([&] { return recorder_.count(Event::closed, 0) == 1; }));
  EXPECT_EQ(recorder_.last(Event::closed, 0)->failure, Failure::none);
  // The slot is free and usable again.
  Socket again(open(0));
  send(0, "x");
  EXPECT_EQ(receive_exactly(again.s, 1), "x");
}

// EngineConfig::idle_connections (--hold): zero-byte receives, then a
// non-blocking recv() into the engine's one buffer. Data that does arrive
// must still be delivered whole and in order, also when it is larger than
// the buffer, and the end of the stream must still be seen.
TEST_F(IocpEngineTest, IdleConnectionsStillDeliverDataAndTheEndOfStream) {
  engine_.reset();
  make(4, 1000, /*idle=*/true);
  Socket peer(open(1));
  send(1, "ping");
  EXPECT_EQ(receive_exactly(peer.s, 4), "ping");
  const std::string data = pattern(25'000);
  send_all(peer.s, data);
  ASSERT_TRUE(poll_until([&] { return recorder_.received(1).size() >= data.size(); }));
  EXPECT_EQ(recorder_.received(1), data);
  EXPECT_EQ(recorder_.count(Event::closed, 1), 0u);
  peer.reset();  // FIN
  ASSERT_TRUE(poll_until([&] { return recorder_.count(Event::closed, 1) == 1; }));
  EXPECT_EQ(recorder_.last(Event::closed, 1)->failure, Failure::none);
}

TEST_F(IocpEngineTest, IdleConnectionsSeeAPeerReset) {
  engine_.reset();
  make(4, 16 * 1024, /*idle=*/true);
  Socket peer(open(0));
  poll_for(50ms);  // the zero-byte receive is pending, nothing arrives
  EXPECT_EQ(recorder_.count(Event::closed, 0), 0u);
  ASSERT_NO_FATAL_FAILURE(expect_reset_seen(peer));
}

TEST_F(IocpEngineTest, ConnectsFromTheGivenSourceAddress) {
  // Any 127.x.y.z address is local on Linux, which serves Wine's sockets;
  // the peer must see the connection come from it.
  const net::Endpoint source = net::parse_endpoint("127.0.0.2", 0).value();
  recorder_.in_engine_call = true;
  engine_->connect(3, target_, &source);
  recorder_.in_engine_call = false;
  ASSERT_TRUE(poll_until([&] { return recorder_.count(Event::connected, 3) == 1; }));
  const Event* e = recorder_.last(Event::connected, 3);
  ASSERT_EQ(e->failure, Failure::none) << net::error_text(e->code);
  net::Endpoint from;
  Socket peer(net::accept_connection(listener_.s, &from));
  ASSERT_NE(peer.s, net::invalid_socket);
  EXPECT_EQ(net::host_to_string(from), "127.0.0.2");
  send(3, "s");
  set_receive_timeout(peer.s, 10s);
  EXPECT_EQ(receive_exactly(peer.s, 1), "s");
}

TEST_F(IocpEngineTest, ConnectsOverIpv6) {
  Socket listener6;
  try {
    listener6.s = net::open_listener(net::parse_endpoint("::1", 0).value(), 4);
  } catch (const net::NetError& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  const net::Endpoint target6 = net::local_endpoint(listener6.s).value();
  connect(0, target6);
  ASSERT_TRUE(poll_until([&] { return recorder_.count(Event::connected, 0) == 1; }));
  const Event* e = recorder_.last(Event::connected, 0);
  ASSERT_EQ(e->failure, Failure::none) << net::error_text(e->code);
  Socket peer(net::accept_connection(listener6.s));
  ASSERT_NE(peer.s, net::invalid_socket);
  set_receive_timeout(peer.s, 10s);
  send(0, "six");
  EXPECT_EQ(receive_exactly(peer.s, 3), "six");
  send_all(peer.s, "SIX");
  ASSERT_TRUE(poll_until([&] { return recorder_.received(0).size() >= 3; }));
  EXPECT_EQ(recorder_.received(0), "SIX");
}

TEST_F(IocpEngineTest, RefusedConnectIsClassifiedAsRefused) {
  net::Endpoint closed_port = target_;
  listener_.reset();  // nothing listens on the port any more
  connect(1, closed_port);
  ASSERT_TRUE(poll_until([&] { return recorder_.count(Event::connected, 1) == 1; }));
  const Event* e = recorder_.last(Event::connected, 1);
  EXPECT_EQ(e->failure, Failure::refused) << net::error_text(e->code);
  EXPECT_NE(e->code, 0);
}

TEST_F(IocpEngineTest, ImmediateConnectFailureIsReportedFromPoll) {
  // Port 0 is not a valid destination: Windows rejects the ConnectEx at once
  // (WSAEADDRNOTAVAIL); whatever the platform says, it must arrive from
  // poll() as a failed connect, never from inside connect().
  const net::Endpoint nowhere = net::parse_endpoint("127.0.0.1", 0).value();
  connect(2, nowhere);
  EXPECT_TRUE(recorder_.events.empty());
  ASSERT_TRUE(poll_until([&] { return recorder_.count(Event::connected, 2) == 1; }));
  EXPECT_NE(recorder_.last(Event::connected, 2)->failure, Failure::none);
}

TEST_F(IocpEngineTest, PeerResetIsClassifiedAsReset) {
  Socket peer(open(0));
  ASSERT_NO_FATAL_FAILURE(expect_reset_seen(peer));
}

TEST_F(IocpEngineTest, LargeSendsArriveWholeAndInOrder) {
  Socket peer(open(0));
  // 3 MiB (more than one WSASend chunk), then 1 MiB appended while the first
  // is still in flight: the engine must send both, in order.
  constexpr std::size_t first = 3 << 20;
  constexpr std::size_t second = 1 << 20;
  std::string got;
  std::thread reader([&] { got = receive_exactly(peer.s, first + second); });
  send(0, pattern(first));
  send(0, pattern(second, first));
  const bool done = poll_until([&] { return got.size() == first + second; }, 20s);
  // The reader ends by itself: complete, or on its receive timeout.
  reader.join();
  ASSERT_TRUE(done) << "received " << got.size() << " bytes";
  EXPECT_TRUE(got == pattern(first + second));
  EXPECT_EQ(recorder_.count(Event::closed, 0), 0u);
}

TEST_F(IocpEngineTest, CloseInsideOnDataEndsDeliveryAndTheSlotIsReusedAtOnce) {
  Socket old_peer(open(0));
  bool reconnected = false;
  recorder_.hook = [&](const Event& e) {
    if (e.kind == Event::data && e.id == 0 && !reconnected) {
      reconnected = true;
      engine_->close(0, CloseMode::abort);
      engine_->connect(0, target_, nullptr);
    }
  };
  send_all(old_peer.s, "first");
  ASSERT_TRUE(poll_until([&] { return reconnected; }));
  // More bytes of the old connection are in flight or still arriving; none
  // of them may reach the handler under the reused slot.
  (void)net::send_some(old_peer.s, std::string_view("stale"));
  ASSERT_TRUE(poll_until([&] { return recorder_.count(Event::connected, 0) == 2; }));
  recorder_.hook = nullptr;
  EXPECT_EQ(recorder_.last(Event::connected, 0)->failure, Failure::none);
  Socket new_peer(net::accept_connection(listener_.s));
  ASSERT_NE(new_peer.s, net::invalid_socket);
  send_all(new_peer.s, "fresh");
  ASSERT_TRUE(poll_until([&] { return recorder_.received(0).size() >= 10; }));
  poll_for(100ms);
  // Exactly: connected, data "first", connected, data "fresh" (the data may
  // come in pieces); nothing closed, nothing stale.
  std::vector<Event::Kind> kinds;
  for (const Event& e : recorder_.events) {
    if (e.id == 0 && (kinds.empty() || kinds.back() != e.kind || e.kind != Event::data)) {
      kinds.push_back(e.kind);
    }
  }
  EXPECT_EQ(kinds, (std::vector<Event::Kind>{Event::connected, Event::data, Event::connected,
                                             Event::data}));
  EXPECT_EQ(recorder_.received(0), "firstfresh");
}

TEST_F(IocpEngineTest, ClosingWithAPendingSendNeitherCallsBackNorHangsTheDestructor) {
  Socket peer(open(0));
  // The peer never reads: once the socket buffers are full, a WSASend stays
  // pending in the kernel. Wine 8 does not complete such a send on
  // closesocket(); the engine must cancel it, or its destructor would wait
  // out its whole time limit.
  send(0, pattern(32 << 20));
  poll_for(500ms);
  close(0, CloseMode::abort);
  poll_for(100ms);
  EXPECT_EQ(recorder_.count(Event::closed, 0), 0u);
  const auto start = Clock::now();
  engine_.reset();
  const auto took = Clock::now() - start;
  EXPECT_LT(took, 3s) << "the destructor waited "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms for cancelled operations";
}

TEST_F(IocpEngineTest, DestructorClosesOpenConnectionsWithoutCallbacks) {
  Socket a(open(0));
  Socket b(open(1));
  send(1, "pending request");
  const std::size_t before = recorder_.events.size();
  const auto start = Clock::now();
  engine_.reset();
  EXPECT_LT(Clock::now() - start, 3s);
  EXPECT_EQ(recorder_.events.size(), before);
  // The peers see the abortive close.
  char byte = 0;
  EXPECT_LE(net::recv_some(a.s, std::span(&byte, 1)), 0);
}

TEST_F(IocpEngineTest, WakeFromAnotherThreadEndsAWaitingPoll) {
  std::atomic<bool> woken{false};
  std::thread waker([&] {
    std::this_thread::sleep_for(200ms);
    woken = true;
    engine_->wake();
  });
  const auto start = Clock::now();
  // A poll may return early and spuriously, so poll until the wake-up (the
  // flag is set before wake() is called).
  do {
    engine_->poll(start + 20s);
  } while (!woken && Clock::now() - start < 20s);
  const auto took = Clock::now() - start;
  waker.join();
  EXPECT_LT(took, 5s);
  // Repeated wake-ups before a poll cost one packet; the next poll returns.
  engine_->wake();
  engine_->wake();
  const auto again = Clock::now();
  engine_->poll(again + 20s);
  EXPECT_LT(Clock::now() - again, 5s);
}

TEST_F(IocpEngineTest, PollWaitsUntilAboutTheDeadline) {
  // Rounded down to whole milliseconds, so never much later than asked, and
  // with nothing to do not much earlier either.
  const auto start = Clock::now();
  engine_->poll(start + 300ms);
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
  // A deadline in the past only peeks at the port.
  const auto past = Clock::now();
  engine_->poll(past - 1s);
  EXPECT_LT(Clock::now() - past, 1s);
}

TEST_F(IocpEngineTest, SmallReceiveBuffersDeliverEverything) {
  make(2, 7);  // receives of 7 bytes: many completions per response
  Socket peer(open(1));
  const std::string reply = pattern(10'000);
  send_all(peer.s, reply);
  ASSERT_TRUE(poll_until([&] { return recorder_.received(1).size() >= reply.size(); }));
  EXPECT_TRUE(recorder_.received(1) == reply);
  for (const Event& e : recorder_.events) {
    if (e.kind == Event::data) {
      EXPECT_LE(e.bytes.size(), 7u);
    }
  }
}

TEST_F(IocpEngineTest, ManyConnectionsAtOnce) {
  constexpr std::uint32_t n = 64;
  make(n);
  for (ConnId id = 0; id < n; ++id)
    connect(id, target_);
  std::vector<std::unique_ptr<Socket>> peers;
  const auto all_connected = [&] {
    for (ConnId id = 0; id < n; ++id) {
      if (recorder_.count(Event::connected, id) == 0) return false;
    }
    return true;
  };
  ASSERT_TRUE(poll_until(all_connected, 20s));
  for (ConnId id = 0; id < n; ++id) {
    ASSERT_EQ(recorder_.last(Event::connected, id)->failure, Failure::none);
    peers.push_back(std::make_unique<Socket>(net::accept_connection(listener_.s)));
    set_receive_timeout(peers.back()->s, 10s);
  }
  // Each connection sends its own id; the peers answer with it upper-cased
  // in order of acceptance, which need not be the order of the slots, so
  // the check is on the multiset of what arrived.
  for (ConnId id = 0; id < n; ++id)
    send(id, "c" + std::to_string(id) + ";");
  std::vector<std::string> requests;
  for (auto& p : peers) {
    std::string got;
    char c = 0;
    while (net::recv_some(p->s, std::span(&c, 1)) == 1 && c != ';')
      got += c;
    requests.push_back(got);
    send_all(p->s, "C" + got.substr(1) + ";");
  }
  ASSERT_TRUE(poll_until(
      [&] {
        for (ConnId id = 0; id < n; ++id) {
          const std::string r = recorder_.received(id);
          if (r.empty() || r.back() != ';') return false;
        }
        return true;
      },
      20s));
  for (ConnId id = 0; id < n; ++id) {
    EXPECT_EQ(recorder_.received(id), "C" + std::to_string(id) + ";");
  }
}

}  // namespace
