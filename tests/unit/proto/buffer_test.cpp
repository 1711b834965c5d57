#include "proto/buffer.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using wsb::ByteBuffer;

std::string contents(const ByteBuffer& b) {
  return std::string(b.data(), b.size());
}

TEST(ByteBuffer, StartsEmptyWithoutMemory) {
  ByteBuffer b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.readable().empty());
}

TEST(ByteBuffer, InitialCapacityIsAllocated) {
  ByteBuffer b(4096);
  EXPECT_EQ(b.capacity(), 4096u);
  EXPECT_TRUE(b.empty());
  EXPECT_GE(b.prepare(4096).size(), 4096u);
  EXPECT_EQ(b.capacity(), 4096u);
}

TEST(ByteBuffer, AppendAndConsumeKeepOrder) {
  ByteBuffer b;
  b.append(std::string_view("hello "));
  b.append(std::string("world"));
  const char raw[] = {'!', '?'};
  b.append(std::span<const char>(raw, 1));
  EXPECT_EQ(contents(b), "hello world!");
  b.consume(6);
  EXPECT_EQ(contents(b), "world!");
  EXPECT_EQ(std::string(b.readable().data(), b.readable().size()), "world!");
  b.consume(6);
  EXPECT_TRUE(b.empty());
}

TEST(ByteBuffer, StringLiteralDoesNotAppendItsTerminator) {
  ByteBuffer b;
  b.append("abc");
  EXPECT_EQ(b.size(), 3u);
}

TEST(ByteBuffer, PrepareCommitWritesInPlace) {
  ByteBuffer b;
  std::span<char> space = b.prepare(5);
  ASSERT_GE(space.size(), 5u);
  std::memcpy(space.data(), "abcde", 5);
  b.commit(3);
  EXPECT_EQ(contents(b), "abc");
  space = b.prepare(2);
  std::memcpy(space.data(), "xy", 2);
  b.commit(2);
  EXPECT_EQ(contents(b), "abcxy");
}

TEST(ByteBuffer, ConsumingEverythingRewindsSoTheBlockIsReused) {
  ByteBuffer b(64);
  b.append(std::string(64, 'a'));
  b.consume(64);
  EXPECT_GE(b.prepare(64).size(), 64u);
  EXPECT_EQ(b.capacity(), 64u);
}

TEST(ByteBuffer, SlidesUnreadBytesWhenThatIsCheaperThanGrowing) {
  ByteBuffer b(100);
  b.append(std::string(90, 'x'));
  b.consume(80);  // 10 unread at offset 80, 80 consumed
  b.append(std::string(50, 'y'));
  EXPECT_EQ(b.capacity(), 100u) << "60 bytes fit after sliding the 10 unread ones";
  EXPECT_EQ(contents(b), std::string(10, 'x') + std::string(50, 'y'));
}

TEST(ByteBuffer, GrowsWhenSlidingWouldCopyMoreThanWasConsumed) {
  ByteBuffer b(100);
  b.append(std::string(100, 'x'));
  b.consume(10);  // 90 unread, only 10 consumed: sliding would not pay for itself
  b.append(std::string(5, 'y'));
  EXPECT_GE(b.capacity(), 200u);
  EXPECT_EQ(contents(b), std::string(90, 'x') + std::string(5, 'y'));
}

TEST(ByteBuffer, ShrinkToFitReleasesMemoryWhenEmpty) {
  ByteBuffer b;
  b.append(std::string(100000, 'z'));
  b.consume(b.size());
  b.shrink_to_fit();
  EXPECT_EQ(b.capacity(), 0u);
  b.append("again");
  EXPECT_EQ(contents(b), "again");
}

TEST(ByteBuffer, ShrinkToFitKeepsUnreadBytes) {
  ByteBuffer b;
  b.append(std::string(1000, 'a'));
  b.append("tail");
  b.consume(1000);
  b.shrink_to_fit();
  EXPECT_EQ(b.capacity(), 4u);
  EXPECT_EQ(contents(b), "tail");
}

TEST(ByteBuffer, ClearKeepsMemory) {
  ByteBuffer b;
  b.append(std::string(500, 'a'));
  const std::size_t cap = b.capacity();
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), cap);
}

TEST(ByteBuffer, MoveLeavesSourceEmpty) {
  ByteBuffer a;
  a.append("payload");
  a.consume(3);
  ByteBuffer b(std::move(a));
  EXPECT_EQ(contents(b), "load");
  EXPECT_EQ(a.capacity(), 0u);  // NOLINT(bugprone-use-after-move): the state is specified
  EXPECT_TRUE(a.empty());
  ByteBuffer c;
  c.append("old");
  c = std::move(b);
  EXPECT_EQ(contents(c), "load");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(ByteBuffer, SteadyStreamingNeedsNoGrowth) {
  // A connection that keeps a backlog and moves data through it must not keep
  // growing: capacity settles at a small multiple of the backlog.
  ByteBuffer b;
  std::size_t max_capacity = 0;
  std::string chunk(1000, 'c');
  b.append(std::string(3000, 'b'));
  for (int i = 0; i < 20000; ++i) {
    b.append(chunk);
    b.consume(chunk.size());
    max_capacity = std::max(max_capacity, b.capacity());
  }
  EXPECT_EQ(b.size(), 3000u);
  EXPECT_LE(max_capacity, 16000u);
}

// Random operations against a std::string model, checking contents after
// every step and that prepare() always honours its minimum.
TEST(ByteBuffer, RandomOperationsMatchAStringModel) {
  std::mt19937_64 rng(12345);
  ByteBuffer b;
  std::string model;
  char next = 0;
  for (int step = 0; step < 20000; ++step) {
    switch (rng() % 6) {
      case 0:
      case 1: {
        std::string s(rng() % 300, '\0');
        for (char& c : s)
          c = next++;
        b.append(s);
        model += s;
        break;
      }
      case 2: {
        const std::size_t want = rng() % 500;
        std::span<char> space = b.prepare(want);
        ASSERT_GE(space.size(), want);
        const std::size_t fill = want == 0 ? 0 : rng() % (want + 1);
        for (std::size_t i = 0; i < fill; ++i)
          space[i] = next++;
        model.append(space.data(), fill);
        b.commit(fill);
        break;
      }
      case 3:
      case 4: {
        const std::size_t n = model.empty() ? 0 : rng() % (model.size() + 1);
        b.consume(n);
        model.erase(0, n);
        break;
      }
      case 5:
        if (rng() % 8 == 0) {
          b.shrink_to_fit();
          ASSERT_EQ(b.capacity(), model.size());
        }
        break;
    }
    ASSERT_EQ(b.size(), model.size());
    ASSERT_LE(b.size(), b.capacity());
    if (!model.empty()) {
      ASSERT_EQ(std::memcmp(b.data(), model.data(), model.size()), 0) << "step " << step;
    }
  }
}

#if GTEST_HAS_DEATH_TEST
TEST(ByteBufferDeathTest, ConsumingMoreThanUnreadAborts) {
  ByteBuffer b;
  b.append("ab");
  EXPECT_DEATH(b.consume(3), "");
}

TEST(ByteBufferDeathTest, CommittingMoreThanPreparedAborts) {
  ByteBuffer b(8);
  EXPECT_DEATH(b.commit(9), "");
}
#endif

}  // namespace
