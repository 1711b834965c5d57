// LingeringClose (server/lingering_close.hpp): when a readiness model closes
// a socket, over a real loopback connection so that the FIN can be observed.
#include "server/lingering_close.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "platform/net.hpp"
#include "server/frame.hpp"
#include "test_support.hpp"

namespace wsb::server {
namespace {

using namespace std::chrono_literals;
using Clock = LingeringClose::Clock;
using test::make_frame;

// A connected pair: `server` (the side LingeringClose manages) and `client`.
using Pair = test::LoopbackPair;

// The client's next recv(): 0 once the server's FIN arrived.
std::ptrdiff_t client_receive(const Pair& pair) {
  char byte = 0;
  return net::recv_some(pair.client, std::span(&byte, 1));
}

// A Connection that the server itself ends cleanly: an HTTP request with
// "Connection: close", whose reply has been sent.
void finish_by_server(Connection& conn) {
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  conn.on_received(std::span(request.data(), request.size()));
  conn.on_sent(conn.pending().size());
  ASSERT_TRUE(conn.finished());
  ASSERT_FALSE(conn.failed());
}

TEST(LingeringClose, KeepsAnUnfinishedConnectionOpen) {
  auto frame = make_frame({"--quiet"});
  Pair pair;
  Connection conn(*frame, frame->shard());
  LingeringClose linger;
  EXPECT_FALSE(linger.settle(pair.server, conn, Clock::now(), 1s));
  EXPECT_FALSE(linger.lingering());
}

TEST(LingeringClose, ACleanFinishSendsFinAndLingersUntilThePeersFinOrTheDeadline) {
  auto frame = make_frame({"--quiet", "--protocol", "http"});
  Pair pair;
  Connection conn(*frame, frame->shard());
  ASSERT_NO_FATAL_FAILURE(finish_by_server(conn));
  LingeringClose linger;
  const Clock::time_point now = Clock::now();
  EXPECT_FALSE(linger.settle(pair.server, conn, now, 2s));
  EXPECT_TRUE(linger.lingering());
  EXPECT_EQ(linger.deadline(), now + 2s);
  EXPECT_EQ(client_receive(pair), 0) << "the server's FIN";
  EXPECT_FALSE(linger.settle(pair.server, conn, now + 2s - 1ms, 2s));
  EXPECT_TRUE(linger.settle(pair.server, conn, now + 2s, 2s)) << "gives up at the deadline";
  linger.on_linger_done();  // the peer's FIN
  EXPECT_TRUE(linger.settle(pair.server, conn, now + 1s, 2s));
}

TEST(LingeringClose, ClosesAtOnceWhenThePeerClosedFirst) {
  auto frame = make_frame({"--quiet"});
  Pair pair;
  Connection conn(*frame, frame->shard());
  LingeringClose linger;
  linger.on_peer_closed();
  conn.on_peer_closed();
  ASSERT_TRUE(conn.finished());
  EXPECT_TRUE(linger.peer_closed());
  EXPECT_TRUE(linger.settle(pair.server, conn, Clock::now(), 1s));
  EXPECT_FALSE(linger.lingering());
}

TEST(LingeringClose, ClosesAFailedConnectionAtOnceWithoutFin) {
  auto frame = make_frame({"--quiet"});
  Pair pair;
  Connection conn(*frame, frame->shard());
  conn.on_error(ErrorClass::reset);
  LingeringClose linger;
  EXPECT_TRUE(linger.settle(pair.server, conn, Clock::now(), 1s));
  EXPECT_FALSE(linger.lingering());
  // No FIN was sent: the client's receive times out instead of seeing 0.
  ASSERT_TRUE(net::set_nonblocking(pair.client, true));
  EXPECT_EQ(client_receive(pair), -1);
  EXPECT_TRUE(net::would_block(net::last_error()));
}

}  // namespace
}  // namespace wsb::server
