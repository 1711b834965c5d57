// --log-connections: the Frame's accept, refusal and close lines
// (server/connection_log.hpp), on real loopback sockets. The end-to-end test
// with real server models is log_connections_test.py.
#include "server/connection_log.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "platform/net.hpp"
#include "server/connection.hpp"
#include "server/frame.hpp"
#include "test_support.hpp"

namespace wsb::server {
namespace {

using test::finish_captured;
using test::LoopbackPair;
using test::make_frame;
using test::upper_frame;

// The client end's address as the server sees it: "127.0.0.1:port".
std::string client_address(const LoopbackPair& pair) {
  return net::to_string(net::local_endpoint(pair.client).value());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // Windows text mode
    lines.push_back(line);
  }
  return lines;
}

// Serves one upper request on `c` as a model would: receive, send it all,
// then the peer's clean close.
void serve_one_request(Connection& c, std::string_view request) {
  c.on_received(request);
  const std::size_t reply = c.pending().size();
  c.on_sent(reply);
  c.on_peer_closed();
}

// Starts capturing stderr, then offers the frame `first`, which it must
// admit, and `second`, which its limit must refuse.
void admit_first_refuse_second(Frame& frame, StatsShard& shard, const LoopbackPair& first,
                               const LoopbackPair& second) {
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(frame.admit(shard, first.server));
  EXPECT_FALSE(frame.admit(shard, second.server));
}

// Expects the captured stderr to say that `first` was accepted, `second`
// refused for `refused_reason`, then `first` closed with `closed_detail`
// (its reason and, when known, its byte counts).
void expect_accept_refuse_close(const LoopbackPair& first, const LoopbackPair& second,
                                const std::string& refused_reason,
                                const std::string& closed_detail) {
  const std::vector<std::string> lines = lines_of(::testing::internal::GetCapturedStderr());
  const std::vector<std::string> expected = {
      "connection accepted " + client_address(first),
      "connection refused " + client_address(second) + " reason=" + refused_reason,
      "connection closed " + client_address(first) + " " + closed_detail,
  };
  EXPECT_EQ(lines, expected);
}

TEST(ConnectionLog, AcceptRefusalAndCloseLines) {
  auto frame = make_frame({"--quiet", "--log-connections", "--max-connections", "1"});
  StatsShard& shard = frame->shard();
  LoopbackPair first;
  LoopbackPair second;
  // The limit of one (--max-connections) refuses the second.
  ASSERT_NO_FATAL_FAILURE(admit_first_refuse_second(*frame, shard, first, second));
  {
    Connection c(*frame, shard);
    serve_one_request(c, upper_frame("hello"));
    EXPECT_TRUE(c.finished());
    frame->release(shard, first.server, &c);
  }
  expect_accept_refuse_close(first, second, "refused", "reason=peer_closed received=7 sent=7");
  finish_captured(*frame);
}

TEST(ConnectionLog, BannedAddressIsRefusedAsBanned) {
  auto frame = make_frame({"--quiet", "--log-connections", "--max-conns-per-ip", "1"});
  StatsShard& shard = frame->shard();
  LoopbackPair first;
  LoopbackPair second;
  ASSERT_NO_FATAL_FAILURE(admit_first_refuse_second(*frame, shard, first, second));
  frame->release(shard, first.server);  // no Connection: the reason is unknown
  expect_accept_refuse_close(first, second, "banned", "reason=unknown");
  finish_captured(*frame);
}

TEST(ConnectionLog, OffByDefault) {
  auto frame = make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  LoopbackPair pair;
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(frame->admit(shard, pair.server));
  {
    Connection c(*frame, shard);
    serve_one_request(c, upper_frame("x"));
    frame->release(shard, pair.server, &c);
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  finish_captured(*frame);
}

TEST(ConnectionLog, CloseReasonsAndByteCounts) {
  auto frame = make_frame({"--quiet", "--protocol", "http"});
  StatsShard& shard = frame->shard();

  Connection untouched(*frame, shard);
  EXPECT_EQ(ConnectionLog::closed_line("[::1]:9", &untouched),
            "connection closed [::1]:9 reason=server_closed received=0 sent=0");

  Connection reset(*frame, shard);
  reset.on_received(std::string_view("GET / HT"));
  reset.on_error(ErrorClass::reset);
  reset.on_error(ErrorClass::io);  // the first class counted is the reason
  EXPECT_EQ(reset.close_reason(), "reset");
  EXPECT_EQ(reset.bytes_received(), 8u);

  Connection malformed(*frame, shard);
  malformed.on_received(std::string_view("BAD\r\n\r\n"));
  const std::size_t reply = malformed.pending().size();
  ASSERT_GT(reply, 0u);  // the 400 response
  malformed.on_sent(reply);
  EXPECT_TRUE(malformed.finished());
  EXPECT_EQ(
      ConnectionLog::closed_line("127.0.0.1:5", &malformed),
      "connection closed 127.0.0.1:5 reason=malformed received=7 sent=" + std::to_string(reply));

  // "Connection: close" ends the connection from the server's side.
  Connection closed_by_server(*frame, shard);
  closed_by_server.on_received(
      std::string_view("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  closed_by_server.on_sent(closed_by_server.pending().size());
  EXPECT_TRUE(closed_by_server.finished());
  EXPECT_EQ(closed_by_server.close_reason(), "server_closed");

  Connection truncated(*frame, shard);
  truncated.on_received(std::string_view("GET / HT"));
  truncated.on_peer_closed();
  EXPECT_EQ(truncated.close_reason(), "truncated");
  finish_captured(*frame);
}

TEST(ConnectionLog, IdleTimeoutIsTheReason) {
  auto frame = make_frame({"--quiet", "--idle-timeout", "1ms"});
  StatsShard& shard = frame->shard();
  Connection c(*frame, shard);
  ASSERT_TRUE(c.expire_if_idle(c.last_activity() + std::chrono::seconds(1)));
  EXPECT_EQ(c.close_reason(), "idle_timeout");
  finish_captured(*frame);
}

}  // namespace
}  // namespace wsb::server
