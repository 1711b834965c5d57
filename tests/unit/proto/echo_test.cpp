#include <gtest/gtest.h>

#include <random>
#include <string>

#include "test_util.hpp"

namespace {

using namespace wsb::proto;
using namespace wsb::proto::test;

TEST(EchoSession, EchoesEveryByteUnderAnySplit) {
  std::mt19937_64 rng(5);
  const std::string stream = random_bytes(rng, 100000);
  for (std::size_t max_chunk : {1u, 13u, 4096u, 100000u}) {
    const auto chunks = random_chunks(rng, stream.size(), max_chunk);
    const Outcome o = run_session(Protocol::echo, stream, chunks);
    EXPECT_TRUE(o.output == stream);
    EXPECT_EQ(o.requests, chunks.size()) << "requests() counts the chunks fed";
    EXPECT_EQ(o.max_buffered, 0u);
    EXPECT_EQ(o.error, SessionError::none);
  }
}

TEST(EchoSession, EmptyChunksAreNotRequests) {
  auto s = make_server_session(Protocol::echo);
  wsb::ByteBuffer out;
  s->feed({}, out);
  EXPECT_EQ(s->requests(), 0u);
  s->feed(std::string_view("ab"), out);
  EXPECT_EQ(s->requests(), 1u);
  EXPECT_EQ(to_string(out), "ab");
}

TEST(EchoSession, CloseIsAlwaysClean) {
  const Outcome o = run_whole(Protocol::echo, "partial", /*peer_closes=*/true);
  EXPECT_TRUE(o.closing);
  EXPECT_EQ(o.error, SessionError::none);
  EXPECT_EQ(o.output, "partial");
}

TEST(EchoSession, InputAfterCloseIsIgnored) {
  auto s = make_server_session(Protocol::echo);
  wsb::ByteBuffer out;
  s->on_peer_closed();
  s->feed(std::string_view("late"), out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
