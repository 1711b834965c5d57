// What models share around a socket and its Connection, over real loopback
// connections: the blocking exchange (server/socket_io.hpp).
#include "server/socket_io.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "platform/net.hpp"
#include "server/frame.hpp"
#include "test_support.hpp"

namespace wsb::server {
namespace {

using test::make_frame;
using test::receive_all;

// A connected pair of blocking sockets: `server` is the model's side.
using Pair = test::LoopbackPair;

int no_reset(net::socket_t) noexcept {
  return 0;
}
constexpr int reported_reset = 4242;
int always_reset(net::socket_t) noexcept {
  return reported_reset;
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

}  // namespace
}  // namespace wsb::server
