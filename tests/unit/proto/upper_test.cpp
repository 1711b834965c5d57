#include <gtest/gtest.h>

#include <random>
#include <string>

#include "test_util.hpp"

namespace {

using namespace wsb::proto;
using namespace wsb::proto::test;

TEST(UpperSession, UpperCasesOnlyLowerCaseAscii) {
  std::string body;
  for (int c = 0; c < 256; ++c)
    body.push_back(static_cast<char>(c));
  std::string expected_body = body;
  for (int c = 'a'; c <= 'z'; ++c)
    expected_body[c] = static_cast<char>(c - 32);
  const Outcome o = run_whole(Protocol::upper, upper_frame(body));
  EXPECT_EQ(o.output, upper_frame(expected_body));
  EXPECT_EQ(o.requests, 1u);
  EXPECT_FALSE(o.closing);
}

TEST(UpperSession, LengthIsLittleEndian) {
  // 0x0001 is one byte of body; 0x0100 is 256 bytes.
  EXPECT_EQ(run_whole(Protocol::upper, std::string("\x01\x00q", 3)).output,
            std::string("\x01\x00Q", 3));
  const std::string big = std::string("\x00\x01", 2) + std::string(256, 'x');
  const Outcome o = run_whole(Protocol::upper, big);
  EXPECT_EQ(o.output, std::string("\x00\x01", 2) + std::string(256, 'X'));
  EXPECT_EQ(o.requests, 1u);
}

TEST(UpperSession, BodySizesAtTheEdges) {
  std::mt19937_64 rng(7);
  for (std::size_t n : {0u, 1u, 127u, 128u, 255u, 256u, 4096u, 65535u}) {
    const std::string req = upper_frame(random_bytes(rng, n));
    const Outcome whole = run_whole(Protocol::upper, req);
    EXPECT_TRUE(whole.output == upper_reference(req)) << n;
    EXPECT_EQ(whole.requests, 1u) << n;
    EXPECT_TRUE(run_bytewise(Protocol::upper, req) == whole) << n;
    for (int k = 0; k < 5; ++k) {
      EXPECT_TRUE(run_session(Protocol::upper, req, random_chunks(rng, req.size(), 1 + n / 3)) ==
                  whole)
          << n;
    }
  }
}

TEST(UpperSession, EverySplitOfASmallStream) {
  // Frames of 0, 3 and 1 bytes: every split into two and three chunks.
  const std::string stream = upper_frame("") + upper_frame("aZ!") + upper_frame("m");
  const Outcome whole = run_whole(Protocol::upper, stream);
  ASSERT_EQ(whole.output, upper_reference(stream));
  ASSERT_EQ(whole.requests, 3u);
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    for (std::size_t j = i; j <= stream.size(); ++j) {
      const Outcome o = run_session(Protocol::upper, stream, {i, j - i, stream.size() - j});
      EXPECT_EQ(o, whole) << "split at " << i << ", " << j;
    }
  }
}

TEST(UpperSession, ManyRequestsInOneFeed) {
  std::mt19937_64 rng(99);
  std::string stream;
  for (int i = 0; i < 2000; ++i)
    stream += upper_frame(random_bytes(rng, rng() % 200));
  const Outcome o = run_whole(Protocol::upper, stream);
  EXPECT_TRUE(o.output == upper_reference(stream));
  EXPECT_EQ(o.requests, 2000u);
  EXPECT_EQ(o.max_buffered, 0u);
}

TEST(UpperSession, RandomSplitsOfALargeStream) {
  std::mt19937_64 rng(2024);
  std::string stream;
  for (int i = 0; i < 300; ++i) {
    const std::size_t n = rng() % 4 == 0 ? rng() % 65536 : rng() % 64;
    stream += upper_frame(random_bytes(rng, n));
  }
  const std::string expected = upper_reference(stream);
  for (std::size_t max_chunk : {1u, 2u, 3u, 7u, 100u, 1500u, 65536u, 300000u}) {
    // One byte at a time over megabytes is slow under Wine; 1 and 2 use a prefix.
    const std::string_view part =
        max_chunk < 3 ? std::string_view(stream).substr(0, 200000) : std::string_view(stream);
    const Outcome o =
        run_session(Protocol::upper, part, random_chunks(rng, part.size(), max_chunk));
    // EXPECT_TRUE, not EXPECT_EQ: a failure would otherwise print megabytes.
    EXPECT_TRUE(o.output == upper_reference(part)) << max_chunk;
    EXPECT_EQ(o.error, SessionError::none);
    EXPECT_EQ(o.max_buffered, 0u);
  }
}

TEST(UpperSession, CleanCloseBetweenFrames) {
  const Outcome o = run_whole(Protocol::upper, upper_frame("abc"), /*peer_closes=*/true);
  EXPECT_TRUE(o.closing);
  EXPECT_EQ(o.error, SessionError::none);
  EXPECT_EQ(o.requests, 1u);
}

TEST(UpperSession, CloseInsideAFrameIsTruncated) {
  const std::string frame = upper_frame("hello");
  // Inside the length field, right after it, and inside the body.
  for (std::size_t cut = 1; cut < frame.size(); ++cut) {
    const Outcome o = run_whole(Protocol::upper, frame.substr(0, cut), /*peer_closes=*/true);
    EXPECT_TRUE(o.closing) << cut;
    EXPECT_EQ(o.error, SessionError::truncated) << cut;
    EXPECT_EQ(o.requests, 0u) << cut;
  }
}

TEST(UpperSession, InputAfterCloseIsIgnored) {
  auto s = make_server_session(Protocol::upper);
  wsb::ByteBuffer out;
  s->on_peer_closed();
  const std::string frame = upper_frame("x");
  s->feed(frame, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(s->requests(), 0u);
}

}  // namespace
