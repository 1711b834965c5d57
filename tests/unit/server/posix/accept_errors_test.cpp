// The accept failure policy with the errno codes (server/accept_policy.hpp),
// with the POSIX spare descriptor it asks when out of descriptors
// (platform/spare_descriptor.hpp), the idle sweep interval
// (server/options.hpp) and the busy-port check of SO_REUSEPORT listeners
// (Frame::open_listener).
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>

#include "platform/net.hpp"
#include "server/accept_policy.hpp"
#include "server/frame.hpp"
#include "../test_support.hpp"

namespace wsb::server {
namespace {

using namespace std::chrono_literals;
using test::make_frame;

StatsTotals totals_of(const StatsShard& shard) {
  StatsTotals t;
  shard.add_to(t);
  return t;
}

TEST(AcceptPolicy, PassLimitIsTheBacklogButAtLeast64) {
  Options o;
  o.backlog = 4096;
  EXPECT_EQ(accept_pass_limit(o), 4096);
  o.backlog = 1;
  EXPECT_EQ(accept_pass_limit(o), 64);
}

TEST(Options, IdleSweepIntervalIsAnEighthWithinBounds) {
  Options o;
  EXPECT_EQ(idle_sweep_interval(o), std::chrono::steady_clock::duration::zero());
  o.idle_timeout = 800ms;
  EXPECT_EQ(idle_sweep_interval(o), 100ms);
  o.idle_timeout = 1ms;
  EXPECT_EQ(idle_sweep_interval(o), 1ms);
  o.idle_timeout = 60s;
  EXPECT_EQ(idle_sweep_interval(o), 250ms);
}

// What every test of the policy starts from: the policy of a quiet frame,
// named after accept4, and the frame's statistics shard it counts in.
struct PolicyUnderTest {
  std::unique_ptr<Frame> frame = make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  AcceptPolicy policy{*frame, "accept4"};
};

// A listener on a free loopback port, non-blocking like the models'.
int open_test_listener() {
  const auto endpoint = net::parse_endpoint("127.0.0.1", 0);
  EXPECT_TRUE(endpoint.has_value());
  return net::open_listener(*endpoint, 16, {.nonblocking = true});
}

TEST(AcceptPolicy, ResetIsCountedAndRetried) {
  PolicyUnderTest t;
  const int listener = open_test_listener();
  EXPECT_EQ(t.policy.handle(ECONNABORTED, listener, t.shard), AcceptAction::retry);
  EXPECT_EQ(totals_of(t.shard).error(ErrorClass::reset), 1u);
  ::close(listener);
}

TEST(AcceptPolicy, UnexpectedFailureIsCountedLoggedAndPauses) {
  PolicyUnderTest t;
  const int listener = open_test_listener();
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(t.policy.handle(EINVAL, listener, t.shard), AcceptAction::pause);
  // A second failure within the second is counted but not printed again.
  EXPECT_EQ(t.policy.handle(EINVAL, listener, t.shard), AcceptAction::pause);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("test: accept4: EINVAL"), std::string::npos) << err;
  EXPECT_NE(err.find("accepting pauses for 100 ms"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), err.size() - 1) << "one line only: " << err;
  EXPECT_EQ(totals_of(t.shard).error(ErrorClass::accept_failed), 2u);
  ::close(listener);
}

// The policy itself (server/accept_policy.hpp) with the errno codes the
// POSIX models see: a reset is retried; a shortage and any other failure
// pause, since Linux accept() also reports errors of the pending connection
// (net::is_listener_failure); nothing is fatal.
TEST(AcceptPolicy, ErrnoCodesRetryOrPauseAndNeverEndTheLoop) {
  PolicyUnderTest t;
  ::testing::internal::CaptureStderr();
  for (const int code : {ECONNABORTED, ECONNRESET, EPIPE}) {
    EXPECT_EQ(t.policy.decide(code, t.shard), AcceptAction::retry) << code;
  }
  for (const int code : {EMFILE, ENFILE, ENOBUFS, ENOMEM}) {
    EXPECT_EQ(t.policy.decide(code, t.shard), AcceptAction::pause) << code;
  }
  for (const int code : {EINVAL, EBADF, EPROTO, ENETDOWN, EPERM, EOPNOTSUPP}) {
    EXPECT_EQ(t.policy.decide(code, t.shard), AcceptAction::pause) << code;
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("test: accept4: EMFILE"), std::string::npos) << err;
  EXPECT_NE(err.find("accepting pauses for 100 ms"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), err.size() - 1) << "one line only: " << err;
  EXPECT_FALSE(t.frame->stopping());
  const StatsTotals totals = totals_of(t.shard);
  EXPECT_EQ(totals.error(ErrorClass::reset), 3u);
  EXPECT_EQ(totals.error(ErrorClass::out_of_descriptors), 4u);
  EXPECT_EQ(totals.error(ErrorClass::accept_failed), 6u);
}

TEST(AcceptPolicy, OutOfDescriptorsWithNobodyWaitingWaitsAndCountsNothing) {
  PolicyUnderTest t;
  const int listener = open_test_listener();
  EXPECT_EQ(t.policy.handle(EMFILE, listener, t.shard), AcceptAction::wait);
  EXPECT_EQ(totals_of(t.shard).errors_total(), 0u);
  ::close(listener);
}

TEST(AcceptPolicy, OutOfDescriptorsShedsAWaitingClient) {
  PolicyUnderTest t;
  const int listener = open_test_listener();
  const auto local = net::local_endpoint(listener);
  ASSERT_TRUE(local.has_value());
  const int client = net::connect_to(*local);
  ::testing::internal::CaptureStderr();
  // As if accept4() had failed with EMFILE: the spare descriptor is spent on
  // the waiting client, which is accepted and closed at once.
  EXPECT_EQ(t.policy.handle(EMFILE, listener, t.shard), AcceptAction::retry);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("connection closed at once"), std::string::npos) << err;
  EXPECT_EQ(totals_of(t.shard).error(ErrorClass::out_of_descriptors), 1u);
  char byte;
  EXPECT_EQ(::recv(client, &byte, 1, 0), 0) << "the client sees an orderly close";
  // Nobody is left: the next failure waits.
  EXPECT_EQ(t.policy.handle(EMFILE, listener, t.shard), AcceptAction::wait);
  ::close(client);
  ::close(listener);
}

TEST(OpenListener, ReusePortListenerRefusesABusyPort) {
  // The holder is another server's SO_REUSEPORT listener, which the kernel
  // would let a second SO_REUSEPORT socket of the same user join silently.
  const auto any = net::parse_endpoint("127.0.0.1", 0);
  ASSERT_TRUE(any.has_value());
  const int holder = net::open_listener(*any, 16, {.nonblocking = true, .reuse_port = true});
  const auto held = net::local_endpoint(holder);
  ASSERT_TRUE(held.has_value());
  auto frame = make_frame({"--quiet", "--port", std::to_string(held->port())});
  try {
    const int s = frame->open_listener({.nonblocking = true, .reuse_port = true});
    ::close(s);
    ADD_FAILURE() << "a SO_REUSEPORT listener joined a port another socket holds";
  } catch (const net::NetError& e) {
    EXPECT_NE(std::string(e.what()).find("is in use (EADDRINUSE)"), std::string::npos) << e.what();
  }
  ::close(holder);
}

TEST(OpenListener, ReusePortListenersShareTheirOwnPort) {
  auto frame = make_frame({"--quiet", "--port", "0"});
  const int first = frame->open_listener({.nonblocking = true, .reuse_port = true});
  // Later listeners join the port of the first: no busy-port refusal.
  const int second = frame->open_listener({.nonblocking = true, .reuse_port = true});
  EXPECT_EQ(net::local_endpoint(first)->port(), net::local_endpoint(second)->port());
  ::close(first);
  ::close(second);
}

}  // namespace
}  // namespace wsb::server
