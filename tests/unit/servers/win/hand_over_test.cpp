// The admission and hand-over of an accepted socket to its serving thread
// (kit/hand_over.hpp), over real loopback connections.
#include "kit/hand_over.hpp"

#include <winsock2.h>

#include <gtest/gtest.h>

#include <new>
#include <string>

#include "../../server/test_support.hpp"
#include "platform/net.hpp"
#include "server/frame.hpp"

namespace wsb::server {
namespace {

using test::receive_all;
// A connected pair of blocking sockets: `server` is the model's side.
using Pair = test::LoopbackPair;

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
