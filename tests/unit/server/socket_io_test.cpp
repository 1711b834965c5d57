// What models share around a socket and its Connection, over real loopback
// connections: the blocking exchange (server/socket_io.hpp) and the
// admission and hand-over of an accepted socket (server/model.hpp).
#include "server/socket_io.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <new>
#include <string>

#include "platform/net.hpp"
#include "server/frame.hpp"
#include "server/model.hpp"
#include "test_support.hpp"

namespace wsb::server {
namespace {

using test::make_frame;

// A connected pair of blocking sockets: `server` is the model's side.
using Pair = test::LoopbackPair;

int no_reset(net::socket_t) noexcept {
  return 0;
}
constexpr int reported_reset = 4242;
int always_reset(net::socket_t) noexcept {
  return reported_reset;
}

// Everything the client receives until the server's FIN.
std::string receive_all(net::socket_t s) {
  std::string all;
  char buffer[256];
  for (;;) {
    const std::ptrdiff_t n = net::recv_some(s, buffer);
    if (n <= 0) return all;
    all.append(buffer, static_cast<std::size_t>(n));
  }
}

TEST(ExchangeBlocking, RepliesToEveryRequestUntilThePeersFin) {
  auto frame = make_frame({"--quiet", "--protocol", "echo"});
  Connection conn(*frame, frame->shard());
  Pair pair;
  const std::string request = "hello, blocking world";
  ASSERT_EQ(net::send_some(pair.client, request), static_cast<std::ptrdiff_t>(request.size()));
  ASSERT_TRUE(net::shutdown_send(pair.client));
  char buffer[8];  // smaller than the request: several receives
  bool peer_closed = false;
  EXPECT_EQ(exchange_blocking(pair.server, conn, buffer, no_reset, peer_closed), 0);
  EXPECT_TRUE(peer_closed);
  EXPECT_TRUE(conn.finished());
  EXPECT_FALSE(conn.failed());
  ASSERT_TRUE(net::shutdown_send(pair.server));
  EXPECT_EQ(receive_all(pair.client), request);
}

TEST(ExchangeBlocking, AnEndOfStreamThatWasAResetIsReturnedUncounted) {
  auto frame = make_frame({"--quiet", "--protocol", "echo"});
  Connection conn(*frame, frame->shard());
  Pair pair;
  ASSERT_TRUE(net::shutdown_send(pair.client));
  char buffer[64];
  bool peer_closed = false;
  EXPECT_EQ(exchange_blocking(pair.server, conn, buffer, always_reset, peer_closed),
            reported_reset);
  EXPECT_FALSE(peer_closed);
  EXPECT_FALSE(conn.failed()) << "counting is the caller's decision";
}

TEST(AdmitAndHandOver, HandsOverAnAdmittedSocket) {
  auto frame = make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  Pair pair;
  net::socket_t handed = net::invalid_socket;
  model::admit_and_hand_over(*frame, shard, pair.server, [&](net::socket_t s) {
    handed = s;
    return true;
  });
  EXPECT_EQ(handed, pair.server);
  EXPECT_EQ(frame->totals().accepted, 1u);
  EXPECT_EQ(frame->totals().closed, 0u);
  frame->release(shard, pair.server);
}

TEST(AdmitAndHandOver, AFailedHandOverIsCountedReleasedAndClosed) {
  auto frame = make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  Pair pair;
  model::admit_and_hand_over(*frame, shard, pair.server, [](net::socket_t) -> bool {
    throw std::bad_alloc();
  });
  pair.server = net::invalid_socket;  // closed by admit_and_hand_over
  EXPECT_EQ(frame->totals().error(ErrorClass::io), 1u);
  EXPECT_EQ(frame->totals().closed, frame->totals().accepted) << "released";
  EXPECT_EQ(receive_all(pair.client), "") << "the client sees the connection end";
}

TEST(AdmitAndHandOver, ARefusedSocketIsClosedAndNotHandedOver) {
  auto frame = make_frame({"--quiet", "--max-connections", "1"});
  StatsShard& shard = frame->shard();
  Pair first;
  ASSERT_TRUE(frame->admit(shard, first.server));
  Pair pair;
  bool called = false;
  model::admit_and_hand_over(*frame, shard, pair.server, [&](net::socket_t) {
    called = true;
    return true;
  });
  pair.server = net::invalid_socket;
  EXPECT_FALSE(called);
  EXPECT_EQ(frame->totals().error(ErrorClass::refused), 1u);
  frame->release(shard, first.server);
}

}  // namespace
}  // namespace wsb::server
