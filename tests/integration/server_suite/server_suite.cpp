// The server conformance suite: proves that a server model (any of the
// Winsock models under Wine, any POSIX model natively) serves the three
// protocols correctly and follows the frame's contract (core/server/frame.hpp).
//
// Every test starts a fresh server process with --port 0, talks to it only
// over 127.0.0.1, stops it with "//q" on stdin, expects exit status 0, and
// then checks the final statistics against the traffic the test made. The
// server's stdout and stderr are shown when a test fails.
//
//   server-suite --exe PATH [--concurrency N] [--sequential] [--args "FLAGS"]
//                [--skip-regex RE] [--build-hint TEXT] [gtest options]
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "chat_users.hpp"
#include "client_engine.hpp"
#include "harness_main.hpp"
#include "proto/client.hpp"
#include "proto/protocol.hpp"
#include "server_process.hpp"
#include "suite_config.hpp"
#include "test_socket.hpp"

// Readable test output for the enums GoogleTest prints (found by ADL).
namespace wsb::proto {
void PrintTo(Protocol p, std::ostream* os) {
  *os << name(p);
}
}  // namespace wsb::proto

namespace wsb::suite {

void PrintTo(PeerEnd e, std::ostream* os) {
  *os << name(e);
}

const Limits& limits() {
  static const Limits wine_limits{std::chrono::seconds(30), std::chrono::seconds(30),
                                  std::chrono::seconds(30), std::chrono::seconds(60),
                                  std::chrono::seconds(20)};
  static const Limits native_limits{};
  return config().wine ? wine_limits : native_limits;
}

namespace {

using proto::Protocol;
using std::chrono::milliseconds;

// The error classes the final statistics report, as "errors.<name>"
// (server/options.hpp, ErrorClass).
constexpr std::array<const char*, 12> error_classes = {
    "malformed", "oversized",     "truncated",          "unsupported", "reset",  "idle_timeout",
    "refused",   "accept_failed", "out_of_descriptors", "io",          "banned", "slow_consumer"};

// The request sizes every concurrency client cycles through: the empty frame,
// both sides of the 7-bit boundary, a page, and the largest upper frame.
std::vector<std::uint32_t> cycle_sizes(Protocol p) {
  switch (p) {
    case Protocol::upper:
      return {0, 1, 127, 128, 4096, 65535};
    case Protocol::echo:
      return {1, 127, 128, 4096, 65535};  // an empty echo request would be no request at all
    case Protocol::http:
      return {0};  // the http driver's requests have no size to choose
    case Protocol::chat:
      break;  // not a request/response protocol: the chat scenarios test it
  }
  return {};
}

proto::ClientFactory make_factory(Protocol p, std::uint32_t size_min, std::uint32_t size_max,
                                  std::uint64_t seed = 1) {
  proto::ClientConfig cfg;
  cfg.protocol = p;
  cfg.size_min = p == Protocol::echo ? std::max<std::uint32_t>(size_min, 1) : size_min;
  cfg.size_max = std::max(cfg.size_min, size_max);
  cfg.seed = seed;
  return proto::ClientFactory(cfg);
}

// Half of a request: something a server must hold as a partial request.
std::string half_request(Protocol p) {
  switch (p) {
    case Protocol::upper: {
      // A header announcing 1000 body bytes, and 500 of them.
      std::string s;
      s.push_back(static_cast<char>(1000 & 0xFF));
      s.push_back(static_cast<char>(1000 >> 8));
      s.append(500, 'q');
      return s;
    }
    case Protocol::echo:
      return std::string(500, 'q');  // echo has no frames: these are simply echoed
    case Protocol::http:
      return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: of a request";
    case Protocol::chat: {
      // A frame announcing a LOGIN body of 9 bytes, and 3 of them.
      return std::string("\x09\x00\x01\x01\x00", 5);
    }
  }
  return {};
}

std::string param_name(const ::testing::TestParamInfo<Protocol>& info) {
  return std::string(proto::name(info.param));
}

// Starts the server for a test, or returns from the test: with a failure
// when it did not start, or skipped when it said what --skip-regex names.
#define WSB_START_SERVER(...)                          \
  do {                                                 \
    if (!start_server(__VA_ARGS__)) {                  \
      if (skip_reason_) GTEST_SKIP() << *skip_reason_; \
      return;                                          \
    }                                                  \
  } while (0)

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (config().skip_all) GTEST_SKIP() << *config().skip_all;
  }

  void TearDown() override {
    if (!server_) return;
    // A test that ended early (a failed assertion) leaves its server
    // running. It is stopped the normal way first, so that its final
    // statistics show up below, and killed only if that does not work.
    std::string ending;
    if (server_->running() && stop_timed_out_) {
      server_->kill_group();
      ending = "did not exit when the test asked it to, killed: ";
    } else if (server_->running()) {
      server_->write_stdin("//q\n");
      if (server_->wait_exit(limits().stop)) {
        ending = "still running at the end of the test; after \"//q\": ";
      } else {
        server_->kill_group();
        ending = "still running at the end of the test and did not stop after \"//q\": ";
        ADD_FAILURE() << "the server did not exit within " << limits().stop.count()
                      << " ms after \"//q\"; killed";
      }
    }
    if (HasFailure()) print_server_output(*server_, ending);
    server_.reset();
  }

  bool start_server(Protocol p, const std::vector<std::string>& extra = {}) {
    protocol_ = p;
    std::string why;
    const auto ready = start_server_process(server_, config().exe, server_args(p, extra),
                                            config().wine_wrapper, limits().ready, why);
    if (!ready) {
      const std::string output = server_->stdout_text() + server_->stderr_text();
      if (config().skip_regex && !server_->running() &&
          std::regex_search(output, *config().skip_regex)) {
        skip_reason_ = "the server says it cannot run here: " + output;
        return false;
      }
      ADD_FAILURE() << "server did not start: " << why;
      return false;
    }
    ready_ = *ready;
    EXPECT_EQ(ready_.protocol, proto::name(p)) << "the ready line names another protocol";
    EXPECT_EQ(ready_.host, "127.0.0.1") << "the ready line names another address than --bind";
    auto target = make_target(ready_.host, ready_.port);
    if (!target) {
      ADD_FAILURE() << "cannot parse the ready line's address " << ready_.host;
      return false;
    }
    target_ = *target;
    return true;
  }

  Clock::time_point deadline(milliseconds d) const { return Clock::now() + d; }

  // Every connection the test opened has been closed by the client or the
  // server: waits until the server's live line says none is online, so that
  // the final statistics count every one of them.
  void expect_all_released() {
    EXPECT_TRUE(server_->wait_online(0, limits().settle))
        << "the server still reports connections online "
        << (server_->live_online() ? std::to_string(*server_->live_online()) : "(no live line)")
        << " " << limits().settle.count() << " ms after every client closed";
  }

  // The usual end of a test: every connection released, then the server
  // stopped. Called through ASSERT_NO_FATAL_FAILURE, a failed stop ends the
  // test.
  void release_and_stop() {
    expect_all_released();
    stop_server();
  }

  // Every connection the server admitted, `connections` of them, was closed
  // again.
  void expect_connections(std::uint64_t connections) {
    EXPECT_EQ(stat("accepted"), connections);
    EXPECT_EQ(stat("closed"), connections);
  }

  // Sends "//q", expects exit status 0 in time, and parses the statistics.
  void stop_server() {
    ASSERT_TRUE(server_->running()) << "the server exited before it was asked to stop: "
                                    << server_->wait_exit(milliseconds(0))->describe();
    EXPECT_TRUE(server_->write_stdin("//q\n")) << "cannot write to the server's stdin";
    expect_exit(limits().stop, "after \"//q\" on stdin");
  }

  // Waits for the server to exit by itself with status 0, and parses the
  // statistics.
  void expect_exit(milliseconds limit, const std::string& after) {
    const auto status = server_->wait_exit(limit);
    stop_timed_out_ = !status.has_value();
    ASSERT_TRUE(status.has_value())
        << "the server did not exit within " << limit.count() << " ms " << after;
    ASSERT_TRUE(status->exited && status->code == 0)
        << "the server ended with " << status->describe() << " " << after;
    collect_statistics();
  }

  void collect_statistics() {
    const std::string out = server_->stdout_text();
    const std::size_t first_nl = out.find('\n');
    stats_ = parse_statistics(first_nl == std::string::npos ? "" : out.substr(first_nl + 1));
    ASSERT_FALSE(stats_.empty()) << "no final statistics on stdout";
    EXPECT_EQ(text_stat("model"), ready_.model);
    EXPECT_EQ(text_stat("protocol"), proto::name(protocol_));
  }

  std::string text_stat(std::string_view key) {
    const auto it = stats_.find(key);
    if (it == stats_.end()) {
      ADD_FAILURE() << "the final statistics have no \"" << key << "\" line";
      return {};
    }
    return it->second;
  }

  std::uint64_t stat(std::string_view key) {
    const std::string text = text_stat(key);
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      ADD_FAILURE() << "the final statistic \"" << key << "\" is not a count: \"" << text << "\"";
    }
    return value;
  }

  // Every errors.<class> is 0 except those listed, which must match.
  void expect_errors(std::initializer_list<std::pair<const char*, std::uint64_t>> expected = {}) {
    for (const char* cls : error_classes) {
      std::uint64_t want = 0;
      for (const auto& [name, n] : expected) {
        if (std::strcmp(name, cls) == 0) want = n;
      }
      EXPECT_EQ(stat(std::string("errors.") + cls), want) << "errors." << cls;
    }
  }

  // The statistics match traffic that ran to completion: every byte the
  // clients sent was received and every byte they received was sent, every
  // admitted connection was closed again, and (where requests are countable)
  // the request count matches.
  void expect_traffic(std::uint64_t connections, std::uint64_t requests, std::uint64_t bytes_sent,
                      std::uint64_t bytes_received) {
    expect_connections(connections);
    if (protocol_ != Protocol::echo) {
      EXPECT_EQ(stat("requests"), requests);
    }
    EXPECT_EQ(stat("bytes_in"), bytes_sent);
    EXPECT_EQ(stat("bytes_out"), bytes_received);
  }

  // One client's plan run against the server, within `limit`.
  EngineResult run_client(const ClientPlan& plan, milliseconds limit) {
    EngineOptions options;
    options.deadline = deadline(limit);
    return run_clients(target_, {plan}, options);
  }

  // The end of a test whose one client's traffic must all have gone through
  // cleanly: its connection released, the server stopped, the statistics
  // counting `requests` and the client's bytes, and no errors. A test calls
  // it last: a failed stop ends the test here.
  void expect_one_clean_client(std::uint64_t requests, const EngineResult& result) {
    ASSERT_NO_FATAL_FAILURE(release_and_stop());
    expect_traffic(1, requests, result.bytes_sent, result.bytes_received);
    expect_errors();
  }

  Socket connect_or_fail(std::string& error) {
    return connect_to(target_, deadline(limits().exchange), error);
  }

  std::unique_ptr<ServerProcess> server_;
  std::optional<std::string> skip_reason_;
  bool stop_timed_out_ = false;  // expect_exit() waited in vain: TearDown kills at once
  Protocol protocol_ = Protocol::upper;
  ReadyLine ready_;
  Target target_;
  Statistics stats_;
};

class ProtocolTest : public ServerTest, public ::testing::WithParamInterface<Protocol> {};

// Many clients at once, each doing several round trips with request sizes
// that cycle through the framing boundaries; every reply is verified. Clients
// keep their connections until all have finished, so a server that served
// them one after another would time out. With --sequential the clients run
// one after another instead: all connect at once, the server serves them in
// turn while the rest wait in the listen backlog.
TEST_P(ProtocolTest, Concurrency) {
  const Protocol p = GetParam();
  WSB_START_SERVER(p);
  const std::size_t clients =
      config().sequential ? 6 : static_cast<std::size_t>(std::max(config().concurrency, 1));
  constexpr std::size_t rounds = 3;
  std::vector<proto::ClientFactory> factories;
  for (std::uint32_t size : cycle_sizes(p))
    factories.push_back(make_factory(p, size, size));

  std::vector<ClientPlan> plans(clients);
  for (std::size_t i = 0; i < clients; ++i) {
    for (std::size_t r = 0; r < rounds; ++r) {
      plans[i].batches.push_back({&factories[(i + r) % factories.size()], i * rounds + r, 1});
    }
  }
  EngineOptions options;
  options.deadline = deadline(limits().bulk);
  options.hold_until_all_done = !config().sequential;
  const EngineResult result = run_clients(target_, plans, options);
  EXPECT_TRUE(result.ok()) << result.summary();
  EXPECT_EQ(result.requests, clients * rounds);
  EXPECT_EQ(result.responses, result.requests);
  std::cout << "[ info     ] " << result.summary() << std::endl;
  if (!result.ok()) return;

  ASSERT_NO_FATAL_FAILURE(release_and_stop());
  expect_traffic(clients, result.requests, result.bytes_sent, result.bytes_received);
  EXPECT_EQ(stat("peak_concurrent"), config().sequential ? 1 : clients)
      << (config().sequential ? "a sequential server serves one client at a time"
                              : "every client held its connection until all had finished");
  expect_errors();
}

// A request sent one byte per send(), with pauses, so that the server sees
// every split point, including one inside the upper length field.
TEST_P(ProtocolTest, Dribble) {
  const Protocol p = GetParam();
  WSB_START_SERVER(p);
  const proto::ClientFactory factory = make_factory(p, 40, 40);
  ClientPlan plan;
  plan.batches = {{&factory, 0, 1}, {&factory, 1, 1}};
  plan.write_chunk = 1;
  plan.write_pause = milliseconds(2);
  const EngineResult result = run_client(plan, limits().exchange);
  ASSERT_TRUE(result.ok()) << result.summary();
  EXPECT_EQ(result.responses, 2u);

  expect_one_clean_client(2, result);
}

// Several small requests in a single send(), then 64 larger ones pipelined:
// the server must answer all of them, in order.
TEST_P(ProtocolTest, BatchAndPipeline) {
  const Protocol p = GetParam();
  WSB_START_SERVER(p);
  const proto::ClientFactory small = make_factory(p, 0, 127, 7);
  const proto::ClientFactory large = make_factory(p, 0, 4096, 8);
  ClientPlan plan;
  plan.batches = {{&small, 0, 8}, {&large, 1, 64}, {&small, 2, 3}};
  const EngineResult result = run_client(plan, limits().exchange);
  ASSERT_TRUE(result.ok()) << result.summary();
  EXPECT_EQ(result.responses, 8u + 64u + 3u);

  expect_one_clean_client(result.requests, result);
}

// A client pipelines megabytes of requests and does not read for a while:
// the server's replies pile up, it must stop reading (--max-pending bounds
// what it queues) instead of failing or growing without bound, and resume
// when the client reads. Nothing may be lost or reordered.
TEST_P(ProtocolTest, Backpressure) {
  const Protocol p = GetParam();
  WSB_START_SERVER(p, {"--max-pending", "65536"});
  // About 6.5 MB of requests for upper and echo; for http, whose replies are
  // larger than its requests, about 1.5 MB of requests and 4 MB of replies.
  const proto::ClientFactory factory = make_factory(p, 0, 65535, 11);
  ClientPlan plan;
  plan.batches = {{&factory, 0, p == Protocol::http ? std::size_t{40000} : std::size_t{200}}};
  plan.read_delay = config().wine ? milliseconds(1000) : milliseconds(300);
  plan.receive_buffer = 65536;
  const EngineResult result = run_client(plan, limits().bulk);
  ASSERT_TRUE(result.ok()) << result.summary();
  EXPECT_EQ(result.responses, result.requests);
  std::cout << "[ info     ] " << result.summary() << std::endl;

  expect_one_clean_client(result.requests, result);
}

// A client pipelines requests without reading their replies, ends with half
// a request, and resets the connection (RST) while the server still holds
// replies it could not send. The server must count it (as a reset, or as a
// truncated request if it saw the data end first), survive, and serve the
// next client.
//
// Why the unsent replies: under Wine, wineserver polls the sockets of the
// readiness models itself and consumes the socket error when it sees the
// reset, so the model's next recv() may return 0 instead of WSAECONNRESET.
// With no partial request (echo) and nothing to send, that is a clean close
// for any model; with replies queued, the model's send() must fail and the
// reset is counted.
TEST_P(ProtocolTest, ResetMidFrame) {
  const Protocol p = GetParam();
  WSB_START_SERVER(p, {"--max-pending", "65536"});
  const proto::ClientFactory factory = make_factory(p, 1, 300);
  const proto::ClientFactory large = make_factory(p, 4096, 65535, 3);
  std::string error;
  {
    // A small receive buffer, so that the replies back up quickly.
    Socket s = connect_to(target_, deadline(limits().exchange), error, 16384);
    ASSERT_TRUE(s.valid()) << error;
    // One round trip first, so the connection is certainly admitted.
    auto driver = factory.make(0);
    ASSERT_EQ(round_trips(s, *driver, 1, deadline(limits().exchange)), "");
    // About 6 MB of replies (http: 95-byte replies), more than the kernel
    // buffers between server and client hold (Wine gives the server's socket
    // a 4 MiB send buffer), so that the server is left with replies it
    // cannot send.
    auto flood = large.make(1);
    ByteBuffer out;
    const std::size_t count = p == Protocol::http ? 66000 : 180;
    for (std::size_t i = 0; i < count; ++i)
      flood->write_request(out);
    out.append(half_request(p));
    const std::ptrdiff_t sent =
        send_until_stalled(s, std::string_view(out.data(), out.size()), milliseconds(300),
                           deadline(limits().exchange), error);
    ASSERT_GE(sent, 0) << error;
    // Give the server a moment to read what it will before the reset.
    std::this_thread::sleep_for(milliseconds(100));
    s.abort();
  }
  {
    Socket s = connect_or_fail(error);
    ASSERT_TRUE(s.valid()) << error;
    auto driver = factory.make(1);
    const std::string failure = round_trips(s, *driver, 3, deadline(limits().exchange));
    ASSERT_EQ(failure, "") << "the client after the reset was not served";
  }
  ASSERT_NO_FATAL_FAILURE(release_and_stop());
  expect_connections(2u);
  const std::uint64_t reset = stat("errors.reset");
  const std::uint64_t truncated = stat("errors.truncated");
  EXPECT_EQ(reset + truncated, 1u) << "errors.reset " << reset << " + errors.truncated "
                                   << truncated << " must count the one aborted connection";
  if (p == Protocol::echo) {
    EXPECT_EQ(truncated, 0u) << "echo has no partial requests";
  }
  for (const char* cls : error_classes) {
    if (std::strcmp(cls, "reset") != 0 && std::strcmp(cls, "truncated") != 0) {
      EXPECT_EQ(stat(std::string("errors.") + cls), 0u) << "errors." << cls;
    }
  }
}

// A client sends half a request and closes its side (FIN): the request can
// never complete, so the server counts it as truncated and closes.
TEST_P(ProtocolTest, FinMidFrame) {
  const Protocol p = GetParam();
  if (p == Protocol::echo) {
    GTEST_SKIP() << "echo has no frames: every byte is a complete request, so no close can "
                    "truncate one";
  }
  WSB_START_SERVER(p);
  const proto::ClientFactory factory = make_factory(p, 1, 300);
  std::string error;
  {
    Socket s = connect_or_fail(error);
    ASSERT_TRUE(s.valid()) << error;
    auto driver = factory.make(0);
    ASSERT_EQ(round_trips(s, *driver, 1, deadline(limits().exchange)), "");
    ASSERT_TRUE(send_all(s, half_request(p), deadline(limits().exchange), error)) << error;
    ASSERT_EQ(::shutdown(s.fd(), SHUT_WR), 0) << errno_text(errno);
    std::size_t discarded = 0;
    const PeerEnd end = wait_for_close(s, deadline(limits().settle), &discarded, &error);
    EXPECT_NE(end, PeerEnd::timeout)
        << "the server did not close a connection whose peer closed mid-request";
  }
  {
    Socket s = connect_or_fail(error);
    ASSERT_TRUE(s.valid()) << error;
    auto driver = factory.make(1);
    ASSERT_EQ(round_trips(s, *driver, 3, deadline(limits().exchange)), "");
  }
  ASSERT_NO_FATAL_FAILURE(release_and_stop());
  expect_connections(2u);
  expect_errors({{"truncated", 1}});
}

// http: a malformed request line gets "400 Bad Request" and the connection
// closes, while another client on the same server is unaffected. (With
// --sequential the other client cannot be open meanwhile, so it closes before
// the bad one and a third client follows.)
TEST_P(ProtocolTest, BadInput) {
  const Protocol p = GetParam();
  if (p != Protocol::http) {
    GTEST_SKIP() << proto::name(p)
                 << " has no invalid input: every byte sequence is a valid request stream";
  }
  WSB_START_SERVER(p);
  const proto::ClientFactory factory = make_factory(p, 1, 1);
  std::string error;
  Socket good = connect_or_fail(error);
  ASSERT_TRUE(good.valid()) << error;
  auto driver = factory.make(0);
  ASSERT_EQ(round_trips(good, *driver, 1, deadline(limits().exchange)), "");
  if (config().sequential) good.close();
  {
    Socket bad = connect_or_fail(error);
    ASSERT_TRUE(bad.valid()) << error;
    // A complete head (the session judges a request once its head is
    // complete) and nothing after it, so the server has consumed everything
    // when it closes: closing with unread input would send RST instead.
    ASSERT_TRUE(send_all(bad, "NONSENSE\r\n\r\n", deadline(limits().exchange), error)) << error;
    std::string reply;
    const auto end = read_some(bad, reply, SIZE_MAX, deadline(limits().exchange));
    EXPECT_EQ(end, PeerEnd::eof) << "the server must close after the error reply; reply so far: "
                                 << reply;
    EXPECT_EQ(reply.rfind("HTTP/1.1 400 ", 0), 0u) << "reply: " << reply;
    EXPECT_NE(reply.find("\r\nConnection: close\r\n"), std::string::npos) << "reply: " << reply;
  }
  if (config().sequential) {
    good = connect_or_fail(error);
    ASSERT_TRUE(good.valid()) << error;
    driver->reset();
  }
  ASSERT_EQ(round_trips(good, *driver, 2, deadline(limits().exchange)), "")
      << "the good client was not served after the bad one";
  good.close();
  ASSERT_NO_FATAL_FAILURE(release_and_stop());
  const std::uint64_t connections = config().sequential ? 3 : 2;
  expect_connections(connections);
  expect_errors({{"malformed", 1}});
}

INSTANTIATE_TEST_SUITE_P(Protocols, ProtocolTest,
                         ::testing::Values(Protocol::upper, Protocol::echo, Protocol::http),
                         param_name);

// --idle-timeout 1s: a client that never sends is closed by the server after
// about a second (not before), while a client that keeps talking is not.
TEST_F(ServerTest, IdleTimeout) {
  WSB_START_SERVER(Protocol::upper, {"--idle-timeout", "1s"});
  const proto::ClientFactory factory = make_factory(Protocol::upper, 1, 64);
  std::string error;
  const auto start = Clock::now();
  Socket idle = connect_or_fail(error);
  ASSERT_TRUE(idle.valid()) << error;
  Socket busy;
  auto driver = factory.make(0);
  if (!config().sequential) {
    busy = connect_or_fail(error);
    ASSERT_TRUE(busy.valid()) << error;
  }
  // Poll the idle connection; meanwhile the busy one does a round trip every
  // 200 ms until 1.25 s after the start: being served then proves that it
  // outlived the 1 s timeout.
  const auto limit = start + limits().settle;
  const auto busy_until = start + milliseconds(1250);
  std::optional<Clock::duration> closed_after;
  std::size_t busy_trips = 0;
  for (;;) {
    const auto now = Clock::now();
    const bool busy_done = !busy.valid() || now >= busy_until;
    if (now >= limit || (closed_after && busy_done)) break;
    if (!closed_after) {
      std::size_t discarded = 0;
      const PeerEnd end =
          wait_for_close(idle, std::min(now + milliseconds(200), limit), &discarded);
      if (end != PeerEnd::timeout) {
        closed_after = Clock::now() - start;
        EXPECT_EQ(discarded, 0u) << "the server sent bytes to a client that sent none";
      }
    } else {
      std::this_thread::sleep_for(milliseconds(200));
    }
    if (!busy_done) {
      ASSERT_EQ(round_trips(busy, *driver, 1, deadline(limits().exchange)), "")
          << "a client that kept talking was not served after " << busy_trips << " round trips";
      ++busy_trips;
    }
  }
  ASSERT_TRUE(closed_after.has_value())
      << "the idle connection was still open " << limits().settle.count() << " ms later";
  const auto ms = std::chrono::duration_cast<milliseconds>(*closed_after).count();
  EXPECT_GE(ms, 950) << "closed before --idle-timeout passed";
  std::cout << "[ info     ] idle connection closed after " << ms << " ms" << std::endl;
  if (config().sequential) {
    // The single-client server reaches the second client only now.
    busy = connect_or_fail(error);
    ASSERT_TRUE(busy.valid()) << error;
    ASSERT_EQ(round_trips(busy, *driver, 3, deadline(limits().exchange)), "");
  }
  busy.close();
  ASSERT_NO_FATAL_FAILURE(release_and_stop());
  expect_connections(2u);
  expect_errors({{"idle_timeout", 1}});
}

// --max-connections 5: with five clients online a sixth is accepted and
// closed at once (counted as refused); the five keep working, and once they
// are gone a new client is served again.
TEST_F(ServerTest, MaxConnections) {
  if (config().sequential) {
    GTEST_SKIP() << "a sequential server serves one client at a time and leaves the others in "
                    "the listen backlog, so it never has five online to refuse a sixth";
  }
  WSB_START_SERVER(Protocol::upper, {"--max-connections", "5"});
  const proto::ClientFactory factory = make_factory(Protocol::upper, 1, 64);
  std::string error;
  std::vector<Socket> held;
  std::vector<std::unique_ptr<proto::ClientDriver>> drivers;
  for (int i = 0; i < 5; ++i) {
    held.push_back(connect_or_fail(error));
    ASSERT_TRUE(held.back().valid()) << error;
    drivers.push_back(factory.make(static_cast<std::uint64_t>(i)));
    ASSERT_EQ(round_trips(held.back(), *drivers.back(), 1, deadline(limits().exchange)), "")
        << "client " << i + 1 << " of 5";
  }
  {
    Socket sixth = connect_to(target_, deadline(limits().exchange), error);
    if (sixth.valid()) {
      std::size_t discarded = 0;
      const PeerEnd end = wait_for_close(sixth, deadline(limits().settle), &discarded);
      EXPECT_NE(end, PeerEnd::timeout)
          << "the sixth connection was neither refused nor closed with five online";
      EXPECT_EQ(discarded, 0u) << "the refused connection received bytes";
    }
  }
  for (std::size_t i = 0; i < held.size(); ++i) {
    ASSERT_EQ(round_trips(held[i], *drivers[i], 2, deadline(limits().exchange)), "")
        << "client " << i + 1 << " of 5 after the sixth was refused";
  }
  held.clear();
  expect_all_released();
  {
    Socket later = connect_or_fail(error);
    ASSERT_TRUE(later.valid()) << error;
    auto driver = factory.make(9);
    ASSERT_EQ(round_trips(later, *driver, 2, deadline(limits().exchange)), "")
        << "a client after the five left was not served";
  }
  ASSERT_NO_FATAL_FAILURE(release_and_stop());
  expect_connections(6u);
  expect_errors({{"refused", 1}});
}

// "//q" while connections are open (one of them in the middle of a request):
// the server exits 0 in bounded time and every connection is closed.
TEST_F(ServerTest, ShutdownWithOpenConnections) {
  WSB_START_SERVER(Protocol::upper);
  const std::size_t n = config().sequential ? 1 : 20;
  const proto::ClientFactory factory = make_factory(Protocol::upper, 1, 64);
  std::string error;
  std::vector<Socket> open;
  for (std::size_t i = 0; i < n; ++i) {
    open.push_back(connect_or_fail(error));
    ASSERT_TRUE(open.back().valid()) << error;
    auto driver = factory.make(i);
    ASSERT_EQ(round_trips(open.back(), *driver, 1, deadline(limits().exchange)), "");
  }
  ASSERT_TRUE(
      send_all(open.front(), half_request(Protocol::upper), deadline(limits().exchange), error))
      << error;
  ASSERT_NO_FATAL_FAILURE(stop_server());
  for (std::size_t i = 0; i < open.size(); ++i) {
    std::size_t discarded = 0;
    const PeerEnd end = wait_for_close(open[i], deadline(limits().settle), &discarded);
    EXPECT_NE(end, PeerEnd::timeout) << "connection " << i << " still open after the server exited";
  }
  EXPECT_EQ(stat("accepted"), n);
  expect_errors();
}

// --duration 1s: the server stops by itself, with status 0 and statistics.
TEST_F(ServerTest, Duration) {
  WSB_START_SERVER(Protocol::upper, {"--duration", "1s"});
  const auto ready_at = Clock::now();
  const proto::ClientFactory factory = make_factory(Protocol::upper, 1, 64);
  std::string error;
  {
    Socket s = connect_or_fail(error);
    ASSERT_TRUE(s.valid()) << error;
    auto driver = factory.make(0);
    ASSERT_EQ(round_trips(s, *driver, 2, deadline(limits().exchange)), "");
  }
  ASSERT_NO_FATAL_FAILURE(expect_exit(milliseconds(1000) + limits().stop, "with --duration 1s"));
  const auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - ready_at).count();
  EXPECT_GE(ms, 950) << "the server stopped before --duration 1s passed";
  std::cout << "[ info     ] exited " << ms << " ms after the ready line" << std::endl;
  EXPECT_EQ(stat("accepted"), 1u);
  expect_errors();
}

// A second server on the port of a running one must fail to start (exit 1,
// with a message) instead of sharing or stealing the port.
TEST_F(ServerTest, PortInUse) {
  WSB_START_SERVER(Protocol::upper);
  std::vector<std::string> args = server_args(Protocol::upper, {});
  *(std::find(args.begin(), args.end(), "--port") + 1) = std::to_string(ready_.port);
  ServerProcess second(config().exe, args, config().wine_wrapper);
  std::string why;
  const auto second_ready = second.wait_ready(limits().ready, why);
  EXPECT_FALSE(second_ready.has_value()) << "a second server started on port " << ready_.port
                                         << " of a running one: " << second.stdout_text();
  const auto status = second.wait_exit(second_ready ? milliseconds(0) : limits().ready);
  if (status) {
    EXPECT_TRUE(status->exited && status->code == 1) << status->describe();
    EXPECT_NE(second.stderr_text().find(std::to_string(ready_.port)), std::string::npos)
        << "the error should name the port; stderr:\n"
        << second.stderr_text();
  } else {
    EXPECT_TRUE(second_ready.has_value()) << "the second server neither started nor exited";
  }
  ASSERT_NO_FATAL_FAILURE(stop_server());
  expect_errors();
}

// Usage errors exit 2 with a message and the usage on stderr; --help and
// --version exit 0 with their text on stdout. No server starts.
TEST_F(ServerTest, Usage) {
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string stream_must_hold;  // "out:" or "err:" and a substring
  };
  const std::vector<Case> cases = {
      {{"--definitely-not-an-option"}, 2, "err:--definitely-not-an-option"},
      {{"--protocol", "gopher"}, 2, "err:gopher"},
      {{"--port", "70000"}, 2, "err:70000"},
      {{"--help"}, 0, "out:--max-connections"},
      {{"--version"}, 0, "out:"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = config().args;
    args.insert(args.end(), c.args.begin(), c.args.end());
    ServerProcess proc(config().exe, args, config().wine_wrapper);
    const auto status = proc.wait_exit(limits().ready);
    std::string shown;
    for (const auto& a : c.args)
      shown += " " + a;
    ASSERT_TRUE(status.has_value()) << shown << ": still running";
    EXPECT_TRUE(status->exited && status->code == c.code)
        << shown << ": " << status->describe() << ", expected exit code " << c.code << "\nstderr:\n"
        << proc.stderr_text();
    const bool on_stdout = c.stream_must_hold.rfind("out:", 0) == 0;
    const std::string text = on_stdout ? proc.stdout_text() : proc.stderr_text();
    const std::string needle = c.stream_must_hold.substr(4);
    EXPECT_FALSE(text.empty()) << shown << ": nothing on " << (on_stdout ? "stdout" : "stderr");
    EXPECT_NE(text.find(needle), std::string::npos)
        << shown << ": \"" << needle << "\" not found in:\n"
        << text;
    if (c.code == 2) {
      EXPECT_NE(text.find("--port"), std::string::npos) << shown << ": no usage on stderr:\n"
                                                        << text;
    }
    EXPECT_NE(proc.stdout_text().rfind("listening ", 0), 0u) << shown << ": printed a ready line";
  }
}

// Skips a test of an optional scenario (SuiteConfig's --scenarios) that the
// model is not registered for.
#define WSB_REQUIRE_SCENARIO(flag, scenario)                                        \
  do {                                                                              \
    if (!config().flag) {                                                           \
      GTEST_SKIP() << "the " scenario                                               \
                      " scenario is not registered for this model "                 \
                      "(SCENARIOS in its line of servers/<platform>/suites.cmake)"; \
    }                                                                               \
  } while (0)

// The chat protocol (issue 13): 200 users in groups of 10, all logged in
// before anyone speaks; then each sends 5 group messages and 2 private
// messages to users of other groups, all at once. Every message is ACKed
// with its recipient count, every delivery arrives exactly once, in its
// sender's order and intact (none lost, duplicated or reordered), and the
// final statistics count the users, messages and deliveries.
TEST_F(ServerTest, ChatGroupsAndPrivateMessages) {
  WSB_REQUIRE_SCENARIO(chat, "chat");
  WSB_START_SERVER(Protocol::chat);
  const ChatPlan plan;
  const ChatReport report = run_chat(target_, plan, deadline(limits().bulk));
  EXPECT_EQ(report.failure, "");
  EXPECT_EQ(report.lost, 0u);
  EXPECT_EQ(report.duplicated, 0u);
  EXPECT_EQ(report.reordered, 0u);
  EXPECT_EQ(report.corrupt, 0u);
  const std::uint64_t users = plan.users;
  const std::uint64_t messages = users * (plan.group_messages + plan.private_messages);
  const std::uint64_t deliveries =
      users * (plan.group_messages * (plan.group_size - 1) + plan.private_messages);
  EXPECT_EQ(report.messages, messages);
  EXPECT_EQ(report.deliveries, deliveries);
  ASSERT_NO_FATAL_FAILURE(release_and_stop());
  expect_connections(users);
  EXPECT_EQ(stat("chat.online_peak"), users);
  EXPECT_EQ(stat("chat.messages"), messages);
  EXPECT_EQ(stat("chat.deliveries"), deliveries);
  EXPECT_EQ(stat("errors.slow_consumer"), 0u);
  expect_errors();
}

// Bad frames get an ERROR with the code of their fault, and the connection
// is closed; the server goes on serving everyone else: a group of users
// chats normally afterwards, and a user whose id was refused to another
// connection keeps its own.
TEST_F(ServerTest, ChatBadFramesGetErrorAndClose) {
  WSB_REQUIRE_SCENARIO(chat, "chat");
  WSB_START_SERVER(Protocol::chat);
  namespace chat = proto::chat;
  std::string error;
  Socket holder = connect_or_fail(error);
  ASSERT_TRUE(holder.valid()) << error;
  ASSERT_TRUE(
      send_all(holder, chat_frame(chat::Login{9001, 900}), deadline(limits().exchange), error))
      << error;
  std::string welcome;
  ASSERT_EQ(read_some(holder, welcome, 2 + 13, deadline(limits().exchange)), std::nullopt)
      << "the holder of id 9001 got no WELCOME";
  struct Case {
    const char* what;
    std::string bytes;
    chat::ErrorCode code;
  };
  const std::vector<Case> cases = {
      {"an empty body", raw_chat_frame(""), chat::ErrorCode::malformed},
      {"a LOGIN too short", raw_chat_frame(std::string("\x01\x05\x00\x00", 4)),
       chat::ErrorCode::malformed},
      {"an unknown opcode", raw_chat_frame("\x7f"), chat::ErrorCode::unknown_opcode},
      {"a GROUP before LOGIN", chat_frame(chat::GroupMessage{1, std::span<const char>("hi", 2)}),
       chat::ErrorCode::not_logged_in},
      {"a LOGIN with an id in use", chat_frame(chat::Login{9001, 901}),
       chat::ErrorCode::user_in_use},
      {"a second LOGIN", chat_frame(chat::Login{9002, 902}) + chat_frame(chat::Login{9003, 902}),
       chat::ErrorCode::already_logged_in},
  };
  for (const Case& c : cases) {
    Socket bad = connect_or_fail(error);
    ASSERT_TRUE(bad.valid()) << error;
    ASSERT_TRUE(send_all(bad, c.bytes, deadline(limits().exchange), error))
        << c.what << ": " << error;
    chat::ErrorCode code{};
    EXPECT_EQ(expect_chat_error(bad, deadline(limits().exchange), code), "") << c.what;
    EXPECT_EQ(static_cast<int>(code), static_cast<int>(c.code)) << c.what;
  }
  ChatPlan plan;
  plan.users = 30;
  const ChatReport report = run_chat(target_, plan, deadline(limits().bulk));
  EXPECT_EQ(report.failure, "") << "after the bad frames";
  // The holder of 9001 is still logged in: its id is still taken.
  Socket again = connect_or_fail(error);
  ASSERT_TRUE(again.valid()) << error;
  ASSERT_TRUE(
      send_all(again, chat_frame(chat::Login{9001, 900}), deadline(limits().exchange), error));
  chat::ErrorCode code{};
  EXPECT_EQ(expect_chat_error(again, deadline(limits().exchange), code), "");
  EXPECT_EQ(code, chat::ErrorCode::user_in_use) << "the id of a user that stayed was freed";
  holder.close();
  again.close();
  ASSERT_NO_FATAL_FAILURE(release_and_stop());
  EXPECT_EQ(stat("accepted"), cases.size() + plan.users + 2);
  EXPECT_EQ(stat("errors.slow_consumer"), 0u);
}

// A model that does not serve the chat protocol (it serves one client at a
// time, and a chat needs several online) refuses it at start-up with a
// one-line reason and exit status 2, without a ready line.
TEST_F(ServerTest, ChatRefused) {
  WSB_REQUIRE_SCENARIO(chat_refused, "chat-refused");
  std::vector<std::string> args = config().args;
  args.insert(args.end(), {"--bind", "127.0.0.1", "--port", "0", "--protocol", "chat"});
  ServerProcess proc(config().exe, args, config().wine_wrapper);
  const auto status = proc.wait_exit(limits().ready);
  ASSERT_TRUE(status.has_value()) << "still running with --protocol chat";
  EXPECT_TRUE(status->exited && status->code == 2) << status->describe();
  std::string err = proc.stderr_text();
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r'))
    err.pop_back();
  EXPECT_FALSE(err.empty()) << "no reason given";
  EXPECT_EQ(err.find('\n'), std::string::npos) << "more than one line:\n" << err;
  EXPECT_NE(err.find("chat"), std::string::npos) << err;
  EXPECT_NE(proc.stdout_text().rfind("listening ", 0), 0u) << "printed a ready line";
}

// One client of the queue scenario: `rounds` upper round trips, then close.
struct QueuedClient {
  Socket sock;
  std::uint16_t port = 0;  // its local port, as the server's connection log shows it
  std::unique_ptr<proto::ClientDriver> driver;
  ByteBuffer out;
  std::size_t done = 0;
  bool waiting = false;  // a request is out
  bool closed_by_server = false;
  bool finished = false;
};

// Drives `clients` with one poll loop until each has done `rounds` round
// trips and closed, or the server closed it, or `until`. Returns "" or what
// went wrong.
std::string drive_queued(std::vector<QueuedClient>& clients, std::size_t rounds,
                         Clock::time_point until) {
  std::vector<pollfd> fds;
  std::vector<QueuedClient*> owners;
  char buffer[4096];
  for (;;) {
    fds.clear();
    owners.clear();
    for (QueuedClient& c : clients) {
      if (c.finished) continue;
      if (!c.waiting && c.out.empty()) {
        c.driver->write_request(c.out);
        c.waiting = true;
      }
      fds.push_back({c.sock.fd(), static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
      owners.push_back(&c);
    }
    if (fds.empty()) return "";
    if (Clock::now() >= until) return std::to_string(fds.size()) + " clients not served in time";
    if (::poll(fds.data(), fds.size(), 50) < 0 && errno != EINTR)
      return "poll: " + errno_text(errno);
    for (std::size_t i = 0; i < fds.size(); ++i) {
      QueuedClient& c = *owners[i];
      if (fds[i].revents & POLLOUT) {
        const ssize_t n = ::send(c.sock.fd(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) c.out.consume(static_cast<std::size_t>(n));
      }
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::recv(c.sock.fd(), buffer, sizeof buffer, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) {
        c.closed_by_server = true;
        c.finished = true;
        continue;
      }
      const std::size_t completed =
          c.driver->feed(std::span<const char>(buffer, static_cast<std::size_t>(n)));
      if (completed > 0) {
        c.done += completed;
        c.waiting = false;
      }
      if (c.done >= rounds) {
        c.sock.close();
        c.finished = true;
      }
    }
  }
}

// The local ports of the connections the server's --log-connections lines
// say it accepted, in the order it accepted them.
std::vector<std::uint16_t> accepted_ports(const std::string& log) {
  std::vector<std::uint16_t> ports;
  std::istringstream lines(log);
  const std::string prefix = "connection accepted ";
  for (std::string line; std::getline(lines, line);) {
    const std::size_t at = line.find(prefix);
    if (at == std::string::npos) continue;
    const std::size_t colon = line.rfind(':');
    if (colon == std::string::npos) continue;
    ports.push_back(
        static_cast<std::uint16_t>(std::strtoul(line.c_str() + colon + 1, nullptr, 10)));
  }
  return ports;
}

// The queue scenario's clients: ten that connect and are served first, then
// twenty that arrive while the ten are online, each sending its first
// request at once.
class WhenFullTest : public ServerTest {
 protected:
  static constexpr std::size_t held = 10;
  static constexpr std::size_t late = 20;
  static constexpr std::size_t rounds = 3;

  void connect_clients(std::vector<QueuedClient>& clients) {
    const proto::ClientFactory factory = make_factory(Protocol::upper, 1, 64);
    std::string error;
    for (std::size_t i = 0; i < held + late; ++i) {
      QueuedClient c;
      c.sock = connect_or_fail(error);
      ASSERT_TRUE(c.sock.valid()) << error;
      sockaddr_storage local{};
      socklen_t length = sizeof local;
      ::getsockname(c.sock.fd(), reinterpret_cast<sockaddr*>(&local), &length);
      c.port = ntohs(reinterpret_cast<const sockaddr_in*>(&local)->sin_port);
      c.driver = factory.make(i);
      clients.push_back(std::move(c));
      if (i + 1 == held) {
        // The first ten are online (served once) before the others arrive.
        for (QueuedClient& h : clients) {
          ASSERT_EQ(round_trips(h.sock, *h.driver, 1, deadline(limits().exchange)), "");
          h.done = 1;
        }
        ASSERT_TRUE(server_->wait_online(held, limits().settle));
      }
    }
  }
};

// --max-connections 10 --when-full queue: twenty clients that arrive while
// ten are online wait (none is refused) and are served as room is made, in
// the order they arrived; the final statistics say that clients waited.
TEST_F(WhenFullTest, QueueServesEveryoneInArrivalOrder) {
  WSB_REQUIRE_SCENARIO(when_full_queue, "when-full-queue");
  WSB_START_SERVER(Protocol::upper,
                   {"--max-connections", "10", "--when-full", "queue", "--log-connections"});
  std::vector<QueuedClient> clients;
  ASSERT_NO_FATAL_FAILURE(connect_clients(clients));
  EXPECT_EQ(drive_queued(clients, rounds, deadline(limits().bulk)), "");
  for (std::size_t i = 0; i < clients.size(); ++i) {
    EXPECT_FALSE(clients[i].closed_by_server) << "client " << i << " was closed by the server";
    EXPECT_EQ(clients[i].done, rounds) << "client " << i;
  }
  ASSERT_NO_FATAL_FAILURE(release_and_stop());
  std::vector<std::uint16_t> expected;
  for (const QueuedClient& c : clients)
    expected.push_back(c.port);
  EXPECT_EQ(accepted_ports(server_->stderr_text()), expected)
      << "the server did not accept the clients in the order they arrived";
  expect_connections(held + late);
  EXPECT_GE(stat("queue.waited"), 1u) << "no wait was seen";
  std::cout << "[ info     ] queue.waited " << stat("queue.waited") << ", queue.longest_wait_ms "
            << text_stat("queue.longest_wait_ms") << std::endl;
  expect_errors();
}

// The same clients with --when-full refuse (the default): the twenty that
// arrive while ten are online are accepted and closed at once, each counted
// as refused, and the ten are served to the end.
TEST_F(WhenFullTest, RefuseClosesTheOnesOverTheLimit) {
  if (config().sequential) {
    GTEST_SKIP() << "a sequential server never has ten clients online";
  }
  WSB_START_SERVER(Protocol::upper, {"--max-connections", "10", "--when-full", "refuse"});
  std::vector<QueuedClient> clients;
  ASSERT_NO_FATAL_FAILURE(connect_clients(clients));
  std::vector<QueuedClient> first(std::make_move_iterator(clients.begin()),
                                  std::make_move_iterator(clients.begin() + held));
  std::vector<QueuedClient> rest(std::make_move_iterator(clients.begin() + held),
                                 std::make_move_iterator(clients.end()));
  for (std::size_t i = 0; i < rest.size(); ++i) {
    std::size_t discarded = 0;
    const PeerEnd end = wait_for_close(rest[i].sock, deadline(limits().settle), &discarded);
    EXPECT_NE(end, PeerEnd::timeout) << "late client " << i << " was neither refused nor closed";
    EXPECT_EQ(discarded, 0u) << "late client " << i << " was answered";
    rest[i].sock.close();
  }
  EXPECT_EQ(drive_queued(first, rounds, deadline(limits().bulk)), "");
  for (std::size_t i = 0; i < first.size(); ++i)
    EXPECT_EQ(first[i].done, rounds) << "client " << i;
  ASSERT_NO_FATAL_FAILURE(release_and_stop());
  // A refused connection is counted as refused, not as accepted.
  expect_connections(held);
  expect_errors({{"refused", late}});
}

}  // namespace
}  // namespace wsb::suite

int main(int argc, char** argv) {
  using namespace wsb::suite;
  return harness_main(
      argc, argv,
      {"server-suite", true, [] { return limits().ready; }, [] { return limits().stop; }});
}
