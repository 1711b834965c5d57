#include "server/connection.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "server/frame.hpp"
#include "test_support.hpp"

namespace wsb::server {
namespace {

using namespace std::chrono_literals;
using test::make_frame;
using test::upper_frame;

std::string text(std::span<const char> bytes) {
  return std::string(bytes.data(), bytes.size());
}

void feed(Connection& c, std::string_view bytes) {
  c.on_received(std::span(bytes.data(), bytes.size()));
}

TEST(Connection, AnswersARequestAndCountsIt) {
  auto frame = make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  Connection c(*frame, shard);
  EXPECT_TRUE(c.want_read());
  EXPECT_FALSE(c.want_write());
  feed(c, upper_frame("hello, World 1"));
  EXPECT_EQ(text(c.pending()), upper_frame("HELLO, WORLD 1"));
  EXPECT_TRUE(c.want_write());
  EXPECT_EQ(frame->totals().requests, 1U);
  EXPECT_EQ(frame->totals().bytes_in, 16U);
  c.on_sent(c.pending().size());
  EXPECT_TRUE(c.pending().empty());
  EXPECT_EQ(frame->totals().bytes_out, 16U);
  EXPECT_TRUE(c.want_read());
  EXPECT_FALSE(c.finished());
  EXPECT_EQ(frame->totals().errors_total(), 0U);
}

TEST(Connection, RequestSplitAcrossReceivesCountsOnce) {
  auto frame = make_frame({"--quiet"});
  Connection c(*frame, frame->shard());
  const std::string request = upper_frame("abc") + upper_frame("xyz");
  for (char byte : request)
    feed(c, std::string_view(&byte, 1));
  EXPECT_EQ(text(c.pending()), upper_frame("ABC") + upper_frame("XYZ"));
  EXPECT_EQ(frame->totals().requests, 2U);
  EXPECT_EQ(frame->totals().bytes_in, request.size());
}

TEST(Connection, BackpressureStopsAndResumesReading) {
  auto frame = make_frame({"--quiet", "--max-pending", "10"});
  Connection c(*frame, frame->shard());
  feed(c, upper_frame("0123456789"));  // a 12-byte reply
  EXPECT_EQ(c.pending_bytes(), 12U);
  EXPECT_FALSE(c.want_read());
  c.on_sent(1);
  EXPECT_FALSE(c.want_read());  // 11 > 10
  c.on_sent(1);
  EXPECT_TRUE(c.want_read());  // 10 is within the bound
  EXPECT_FALSE(c.finished());
}

TEST(Connection, CleanCloseSendsWhatIsQueuedThenFinishes) {
  auto frame = make_frame({"--quiet"});
  Connection c(*frame, frame->shard());
  feed(c, upper_frame("a"));
  c.on_peer_closed();
  EXPECT_TRUE(c.closing());
  EXPECT_FALSE(c.want_read());
  EXPECT_FALSE(c.finished());  // the reply still has to go out
  EXPECT_FALSE(c.failed());
  EXPECT_EQ(text(c.pending()), upper_frame("A"));
  c.on_sent(c.pending().size());
  EXPECT_TRUE(c.finished());
  EXPECT_EQ(frame->totals().errors_total(), 0U);
}

TEST(Connection, PeerClosingMidRequestCountsTruncatedAndDropsTheReply) {
  auto frame = make_frame({"--quiet"});
  Connection c(*frame, frame->shard());
  feed(c, upper_frame("hello").substr(0, 4));  // header and two of five bytes
  EXPECT_FALSE(c.pending().empty());           // the upper reply is streamed
  c.on_peer_closed();
  EXPECT_TRUE(c.finished());
  EXPECT_TRUE(c.failed());
  EXPECT_TRUE(c.pending().empty());
  EXPECT_EQ(frame->totals().error(ErrorClass::truncated), 1U);
  EXPECT_EQ(frame->totals().requests, 0U);
}

TEST(Connection, HttpProtocolErrorIsCountedAndAnswered) {
  auto frame = make_frame({"--quiet", "--protocol", "http"});
  Connection c(*frame, frame->shard());
  feed(c, "BROKEN\r\n\r\n");
  EXPECT_EQ(frame->totals().error(ErrorClass::malformed), 1U);
  EXPECT_TRUE(c.closing());
  EXPECT_FALSE(c.want_read());
  EXPECT_EQ(text(c.pending()).rfind("HTTP/1.1 400", 0), 0U) << text(c.pending());
  EXPECT_FALSE(c.finished());  // the 400 goes out first
  c.on_sent(c.pending().size());
  EXPECT_TRUE(c.finished());
  EXPECT_FALSE(c.failed());
}

TEST(Connection, HttpPipelinedRequestsAreCountedEach) {
  auto frame = make_frame({"--quiet", "--protocol", "http"});
  Connection c(*frame, frame->shard());
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  feed(c, request + request + request);
  EXPECT_EQ(frame->totals().requests, 3U);
  EXPECT_FALSE(c.closing());
}

TEST(Connection, OnlyTheFirstErrorIsCounted) {
  auto frame = make_frame({"--quiet"});
  Connection c(*frame, frame->shard());
  feed(c, upper_frame("abc"));
  c.on_error(ErrorClass::reset);
  c.on_error(ErrorClass::io);
  EXPECT_TRUE(c.finished());
  EXPECT_TRUE(c.failed());
  EXPECT_TRUE(c.pending().empty());
  EXPECT_FALSE(c.want_write());
  EXPECT_FALSE(c.want_read());
  const StatsTotals t = frame->totals();
  EXPECT_EQ(t.error(ErrorClass::reset), 1U);
  EXPECT_EQ(t.error(ErrorClass::io), 0U);
  EXPECT_EQ(t.errors_total(), 1U);
  feed(c, upper_frame("ignored"));  // bytes still counted, nothing answered
  EXPECT_TRUE(c.pending().empty());
  EXPECT_EQ(frame->totals().requests, 1U);
}

TEST(Connection, BeginSendFreezesTheBlockInFlight) {
  auto frame = make_frame({"--quiet"});
  Connection c(*frame, frame->shard());
  feed(c, upper_frame("abc"));
  const std::span<const char> block = c.begin_send();
  const std::string copy = text(block);
  const char* address = block.data();
  EXPECT_EQ(copy, upper_frame("ABC"));
  // Receives while the send is in flight queue behind it and leave it alone,
  // even when the queue has to grow.
  feed(c, upper_frame("def"));
  feed(c, upper_frame(std::string(10000, 'g')));
  EXPECT_EQ(std::memcmp(address, copy.data(), copy.size()), 0);
  EXPECT_EQ(c.pending().data(), address);
  EXPECT_EQ(c.begin_send().data(), address);  // still the same block
  EXPECT_EQ(c.pending_bytes(), copy.size() + 5 + 10002);
  // A partial completion leaves the rest of the block in flight.
  c.on_sent(2);
  EXPECT_EQ(text(c.pending()), copy.substr(2));
  c.on_sent(copy.size() - 2);
  // Then the queue becomes the next block.
  EXPECT_EQ(text(c.begin_send()), upper_frame("DEF") + upper_frame(std::string(10000, 'G')));
  c.on_sent(c.pending().size());
  EXPECT_EQ(c.pending_bytes(), 0U);
  EXPECT_TRUE(c.begin_send().empty());
}

TEST(Connection, FailureWhileASendIsInFlightKeepsItsMemory) {
  auto frame = make_frame({"--quiet"});
  Connection c(*frame, frame->shard());
  feed(c, upper_frame("abc"));
  const std::span<const char> block = c.begin_send();
  const std::string copy = text(block);
  c.on_error(ErrorClass::reset);
  EXPECT_TRUE(c.finished());
  EXPECT_TRUE(c.pending().empty());
  c.release_memory();
  // The overlapped send may still read the block until it completes.
  EXPECT_EQ(std::memcmp(block.data(), copy.data(), copy.size()), 0);
  c.on_sent(block.size());  // its completion arrives later
  EXPECT_EQ(frame->totals().bytes_out, copy.size());
}

TEST(Connection, IdleTimeout) {
  auto frame = make_frame({"--quiet", "--idle-timeout", "50ms"});
  Connection c(*frame, frame->shard());
  const auto last = c.last_activity();
  EXPECT_EQ(c.idle_deadline(), last + 50ms);
  EXPECT_FALSE(c.idle_expired(last + 49ms));
  EXPECT_TRUE(c.idle_expired(last + 50ms));
  EXPECT_FALSE(c.expire_if_idle(last + 10ms));
  EXPECT_EQ(frame->totals().error(ErrorClass::idle_timeout), 0U);
  EXPECT_TRUE(c.expire_if_idle(last + 60ms));
  EXPECT_TRUE(c.finished());
  EXPECT_FALSE(c.idle_expired(last + 1h));  // finished connections do not expire again
  EXPECT_FALSE(c.expire_if_idle(last + 1h));
  EXPECT_EQ(frame->totals().error(ErrorClass::idle_timeout), 1U);
}

TEST(Connection, ActivityPostponesTheIdleDeadline) {
  auto frame = make_frame({"--quiet", "--idle-timeout", "1s"});
  Connection c(*frame, frame->shard());
  const auto first = c.last_activity();
  std::this_thread::sleep_for(5ms);
  feed(c, upper_frame("x"));
  EXPECT_GT(c.last_activity(), first);
  const auto after_receive = c.last_activity();
  std::this_thread::sleep_for(5ms);
  c.on_sent(1);
  EXPECT_GT(c.last_activity(), after_receive);
  EXPECT_EQ(c.idle_deadline(), c.last_activity() + 1s);
}

TEST(Connection, NoIdleTimeoutByDefault) {
  auto frame = make_frame({"--quiet"});
  Connection c(*frame, frame->shard());
  EXPECT_EQ(c.idle_deadline(), Connection::Clock::time_point::max());
  EXPECT_FALSE(c.idle_expired(c.last_activity() + 24h));
}

TEST(Connection, StallPausesTheServingThread) {
  auto frame = make_frame({"--quiet", "--stall", "200/0.5"});
  StatsShard& shard = frame->shard();
  Connection c(*frame, shard);
  feed(c, upper_frame("first"));  // starts the schedule: the first stall is due in 500 ms
  std::this_thread::sleep_for(600ms);
  const auto before = std::chrono::steady_clock::now();
  feed(c, upper_frame("second"));
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_GE(took, 200ms);
  EXPECT_EQ(frame->totals().requests, 2U);
  // The stall belongs to the thread (shard): another connection served by
  // the same thread right after it does not stall again.
  Connection other(*frame, shard);
  const auto again = std::chrono::steady_clock::now();
  feed(other, upper_frame("third"));
  EXPECT_LT(std::chrono::steady_clock::now() - again, 200ms);
}

TEST(Connection, EchoAfterReleasingMemory) {
  auto frame = make_frame({"--quiet", "--protocol", "echo"});
  Connection c(*frame, frame->shard());
  const std::string big(1 << 20, 'e');
  feed(c, big);
  EXPECT_EQ(c.pending_bytes(), big.size());
  while (!c.pending().empty())
    c.on_sent(std::min<std::size_t>(c.pending().size(), 65536));
  c.release_memory();
  feed(c, "again");
  EXPECT_EQ(text(c.pending()), "again");
}

TEST(Connection, MovesIntoContainers) {
  auto frame = make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  std::vector<Connection> connections;
  for (int i = 0; i < 10; ++i)
    connections.emplace_back(*frame, shard);
  feed(connections[3], upper_frame("moved"));
  connections.erase(connections.begin());  // moves the rest down
  EXPECT_EQ(text(connections[2].pending()), upper_frame("MOVED"));
}

}  // namespace
}  // namespace wsb::server
