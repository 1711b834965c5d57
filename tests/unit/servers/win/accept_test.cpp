// The Winsock model kit's accepting side (kit/accept.hpp): the accept loops'
// use of the frame's accept failure policy with the Winsock codes, and the
// admission and hand-over of an accepted socket to its serving thread, over
// real loopback connections.
#include "kit/accept.hpp"

#include <winsock2.h>

#include <gtest/gtest.h>

#include <new>
#include <string>

#include "../../server/test_support.hpp"
#include "platform/net.hpp"
#include "server/frame.hpp"

namespace wsb::server {
namespace {

using kit::AcceptFailures;
using test::receive_all;
// A connected pair of blocking sockets: `server` is the model's side.
using Pair = test::LoopbackPair;

// What the accept loops of servers/win call (kit/accept.hpp): the policy,
// plus Frame::fail() for a fatal failure.
TEST(AcceptFailures, ResetRetriesOutOfSocketsPausesAnythingElseEndsTheLoop) {
  auto frame = test::make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  AcceptFailures failures(*frame);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(failures.handle(WSAECONNRESET, shard), AcceptFailure::retry);
  EXPECT_EQ(failures.handle(WSAEMFILE, shard), AcceptFailure::pause);
  EXPECT_EQ(failures.handle(WSAENOBUFS, shard), AcceptFailure::pause);
  EXPECT_FALSE(frame->stopping());
  EXPECT_EQ(failures.handle(WSAEINVAL, shard), AcceptFailure::fatal);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("test: accept: WSAEMFILE"), std::string::npos) << err;
  EXPECT_NE(err.find("accept() failed: WSAEINVAL"), std::string::npos) << err;
  EXPECT_TRUE(frame->stopping());
  const StatsTotals totals = frame->totals();
  EXPECT_EQ(totals.error(ErrorClass::reset), 1u);
  EXPECT_EQ(totals.error(ErrorClass::out_of_descriptors), 2u);
  EXPECT_EQ(totals.error(ErrorClass::accept_failed), 1u);
  test::finish_captured(*frame, 1);
}

TEST(AdmitAndHandOver, HandsOverAnAdmittedSocket) {
  auto frame = test::make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  Pair pair;
  net::socket_t handed = net::invalid_socket;
  kit::admit_and_hand_over(*frame, shard, pair.server, [&](net::socket_t s) {
    handed = s;
    return true;
  });
  EXPECT_EQ(handed, pair.server);
  EXPECT_EQ(frame->totals().accepted, 1u);
  EXPECT_EQ(frame->totals().closed, 0u);
  frame->release(shard, pair.server);
}

TEST(AdmitAndHandOver, AFailedHandOverIsCountedReleasedAndClosed) {
  auto frame = test::make_frame({"--quiet"});
  StatsShard& shard = frame->shard();
  Pair pair;
  kit::admit_and_hand_over(*frame, shard, pair.server,
                           [](net::socket_t) -> bool { throw std::bad_alloc(); });
  pair.server = net::invalid_socket;  // closed by admit_and_hand_over
  EXPECT_EQ(frame->totals().error(ErrorClass::io), 1u);
  EXPECT_EQ(frame->totals().closed, frame->totals().accepted) << "released";
  EXPECT_EQ(receive_all(pair.client), "") << "the client sees the connection end";
}

TEST(AdmitAndHandOver, ARefusedSocketIsClosedAndNotHandedOver) {
  auto frame = test::make_frame({"--quiet", "--max-connections", "1"});
  StatsShard& shard = frame->shard();
  Pair first;
  ASSERT_TRUE(frame->admit(shard, first.server));
  Pair pair;
  bool called = false;
  kit::admit_and_hand_over(*frame, shard, pair.server, [&](net::socket_t) {
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
