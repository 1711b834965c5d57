#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <stdexcept>
#include <string>

#include "test_util.hpp"

namespace {

using namespace wsb::proto;
using namespace wsb::proto::test;

ClientConfig config(Protocol p, std::uint32_t min, std::uint32_t max, std::uint64_t seed = 1) {
  ClientConfig cfg;
  cfg.protocol = p;
  cfg.size_min = min;
  cfg.size_max = max;
  cfg.seed = seed;
  return cfg;
}

std::string request_bytes(ClientDriver& d, int count = 1) {
  wsb::ByteBuffer out;
  for (int i = 0; i < count; ++i)
    d.write_request(out);
  return to_string(out);
}

// Drives `requests` requests from a driver through a server session and back,
// pipelining up to max_pipeline requests and cutting both directions into
// random chunks of up to max_chunk bytes.
void round_trip(const ClientConfig& cfg, int requests, int max_pipeline, std::size_t max_chunk,
                std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto driver = ClientFactory(cfg).make(seed);
  auto session = make_server_session(cfg.protocol);
  wsb::ByteBuffer to_server;
  wsb::ByteBuffer to_client;
  int written = 0;
  std::uint64_t completed = 0;
  std::uint64_t bytes_written = 0;
  // Every pass moves at least one byte or writes a request, so this bound is
  // generous; it only stops a broken driver from spinning forever.
  for (int pass = 0; pass < 10'000'000 && completed < static_cast<std::uint64_t>(requests);
       ++pass) {
    if (written < requests && driver->outstanding() < static_cast<std::size_t>(max_pipeline) &&
        rng() % 2 == 0) {
      const std::size_t before = to_server.size();
      const std::size_t n = driver->write_request(to_server);
      ASSERT_EQ(to_server.size() - before, n);
      bytes_written += n;
      ++written;
    }
    if (!to_server.empty()) {
      const std::size_t n = std::min<std::size_t>(to_server.size(), 1 + rng() % max_chunk);
      session->feed(std::span<const char>(to_server.data(), n), to_client);
      to_server.consume(n);
    }
    if (!to_client.empty()) {
      const std::size_t n = std::min<std::size_t>(to_client.size(), 1 + rng() % max_chunk);
      completed += driver->feed(std::span<const char>(to_client.data(), n));
      to_client.consume(n);
    }
    ASSERT_EQ(driver->error(), ClientError::none) << "after " << completed << " responses";
    ASSERT_EQ(session->error(), SessionError::none);
    ASSERT_FALSE(session->closing());
  }
  EXPECT_EQ(completed, static_cast<std::uint64_t>(requests));
  EXPECT_EQ(driver->responses(), static_cast<std::uint64_t>(requests));
  EXPECT_EQ(driver->outstanding(), 0u);
  EXPECT_TRUE(to_client.empty());
  if (cfg.protocol != Protocol::echo) {
    EXPECT_EQ(session->requests(), static_cast<std::uint64_t>(requests));
  }
  EXPECT_GT(bytes_written, 0u);
  driver->on_peer_closed();
  EXPECT_EQ(driver->error(), ClientError::none) << "nothing was outstanding";
}

TEST(ClientConfig, ValidationRejectsUnusableSettings) {
  EXPECT_THROW(validate(config(Protocol::upper, 10, 5)), std::invalid_argument);
  EXPECT_THROW(validate(config(Protocol::upper, 0, 65536)), std::invalid_argument);
  EXPECT_NO_THROW(validate(config(Protocol::upper, 0, 65535)));
  EXPECT_THROW(validate(config(Protocol::echo, 0, 10)), std::invalid_argument);
  EXPECT_NO_THROW(validate(config(Protocol::echo, 1, 1)));
  ClientConfig http = config(Protocol::http, 99, 1);  // sizes are ignored by http
  EXPECT_NO_THROW(validate(http));
  http.http_path = "/a b";
  EXPECT_THROW(validate(http), std::invalid_argument);
  http.http_path = "/";
  http.http_host = "";
  EXPECT_THROW(validate(http), std::invalid_argument);
  http.http_host = "h\r\nX: 1";
  EXPECT_THROW(validate(http), std::invalid_argument);
  EXPECT_THROW(ClientFactory(config(Protocol::upper, 3, 2)), std::invalid_argument);
}

TEST(AppendUpperFrame, FramesAnyBodyUpToTheLengthFieldsLimit) {
  wsb::ByteBuffer out;
  append_upper_frame(std::string_view("Hi!"), out);
  EXPECT_EQ(to_string(out), std::string("\x03\x00Hi!", 5));
  const std::string longest(65535, 'q');
  wsb::ByteBuffer big;
  append_upper_frame(longest, big);
  ASSERT_EQ(big.size(), 65537u);
  EXPECT_EQ(static_cast<unsigned char>(big.data()[0]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>(big.data()[1]), 0xFF);
  wsb::ByteBuffer empty;
  append_upper_frame(std::string_view(), empty);
  EXPECT_EQ(to_string(empty), std::string("\x00\x00", 2));
  // A body the 16-bit length cannot carry is refused and nothing is written.
  wsb::ByteBuffer refused;
  EXPECT_THROW(append_upper_frame(std::string(65536, 'q'), refused), std::invalid_argument);
  EXPECT_TRUE(refused.empty());
}

TEST(UpperDriver, RequestsAreFramedLowerCaseAndWithinTheSizeRange) {
  auto d = make_client_driver(config(Protocol::upper, 0, 3));
  const std::string stream = request_bytes(*d, 2000);
  std::set<std::size_t> sizes;
  std::size_t i = 0;
  int frames = 0;
  while (i < stream.size()) {
    ASSERT_LE(i + 2, stream.size());
    const std::size_t n =
        static_cast<unsigned char>(stream[i]) + 256u * static_cast<unsigned char>(stream[i + 1]);
    ASSERT_LE(n, 3u);
    sizes.insert(n);
    for (std::size_t k = 0; k < n; ++k) {
      ASSERT_TRUE(stream[i + 2 + k] >= 'a' && stream[i + 2 + k] <= 'z');
    }
    i += 2 + n;
    ++frames;
  }
  EXPECT_EQ(frames, 2000);
  EXPECT_EQ(sizes, (std::set<std::size_t>{0, 1, 2, 3})) << "both ends of the range occur";
  EXPECT_EQ(d->outstanding(), 2000u);
}

TEST(UpperDriver, PayloadsAreReproducibleAndVaried) {
  const ClientConfig cfg = config(Protocol::upper, 16, 64, 42);
  ClientFactory factory(cfg);
  auto a = factory.make(0);
  auto b = factory.make(0);
  auto c = factory.make(1);
  const std::string ra = request_bytes(*a, 50);
  EXPECT_EQ(ra, request_bytes(*b, 50)) << "same seed and stream";
  EXPECT_NE(ra, request_bytes(*c, 50)) << "another stream";
  EXPECT_EQ(ra, request_bytes(*make_client_driver(cfg), 50)) << "make_client_driver is stream 0";
  auto other_seed = ClientFactory(config(Protocol::upper, 16, 64, 43)).make(0);
  EXPECT_NE(ra, request_bytes(*other_seed, 50));
  // Consecutive requests are not the same slice.
  auto d = factory.make(5);
  std::set<std::string> distinct;
  for (int i = 0; i < 100; ++i)
    distinct.insert(request_bytes(*d));
  EXPECT_GT(distinct.size(), 95u);
}

TEST(UpperDriver, RoundTripThroughTheSession) {
  round_trip(config(Protocol::upper, 16, 16), 500, 1, 1000, 1);
  round_trip(config(Protocol::upper, 0, 300), 500, 8, 7, 2);
  round_trip(config(Protocol::upper, 0, 2), 2000, 32, 3, 3);
  round_trip(config(Protocol::upper, 60000, 65535), 20, 4, 70000, 4);
  round_trip(config(Protocol::upper, 65535, 65535), 5, 2, 1, 5);  // byte by byte
}

TEST(UpperDriver, EdgeSizesRoundTrip) {
  for (std::uint32_t n : {0u, 1u, 127u, 128u, 4096u, 65535u}) {
    round_trip(config(Protocol::upper, n, n), 10, 3, 513, n);
  }
}

// Corrupts each byte of a correct reply in turn: every corruption is caught.
TEST(UpperDriver, DetectsEveryCorruptedByte) {
  const ClientConfig cfg = config(Protocol::upper, 5, 5);
  auto probe = make_client_driver(cfg);
  const std::string request = request_bytes(*probe);
  const std::string reply = run_whole(Protocol::upper, request).output;
  ASSERT_EQ(reply.size(), 7u);
  for (std::size_t i = 0; i < reply.size(); ++i) {
    for (char flip : {'\x01', '\x20', '\x80'}) {
      auto d = make_client_driver(cfg);
      ASSERT_EQ(request_bytes(*d), request);
      std::string bad = reply;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      EXPECT_EQ(d->feed(bad), 0u) << i;
      EXPECT_EQ(d->error(), ClientError::mismatch) << "byte " << i << " flip " << int(flip);
      EXPECT_EQ(d->responses(), 0u);
      // Once failed, the driver ignores the rest of the connection.
      EXPECT_EQ(d->feed(reply), 0u);
      EXPECT_EQ(d->error(), ClientError::mismatch);
    }
  }
  // The uncorrupted reply is accepted (the check above is not vacuous).
  auto good = make_client_driver(cfg);
  request_bytes(*good);
  EXPECT_EQ(good->feed(reply), 1u);
  EXPECT_EQ(good->error(), ClientError::none);
}

TEST(UpperDriver, MismatchAfterGoodResponsesStillCountsThem) {
  const ClientConfig cfg = config(Protocol::upper, 3, 3);
  auto d = make_client_driver(cfg);
  const std::string requests = request_bytes(*d, 3);
  std::string replies = run_whole(Protocol::upper, requests).output;
  replies[5 + 5 + 3] ^= 0x01;  // inside the third reply's body
  EXPECT_EQ(d->feed(replies), 2u);
  EXPECT_EQ(d->error(), ClientError::mismatch);
  EXPECT_EQ(d->responses(), 2u);
}

TEST(UpperDriver, ALengthFieldSplitAcrossFeeds) {
  auto d = make_client_driver(config(Protocol::upper, 300, 300));
  const std::string reply = run_whole(Protocol::upper, request_bytes(*d)).output;
  EXPECT_EQ(d->feed(std::string_view(reply).substr(0, 1)), 0u);
  EXPECT_EQ(d->feed(std::string_view(reply).substr(1, 1)), 0u);
  EXPECT_EQ(d->feed(std::string_view(reply).substr(2)), 1u);
  EXPECT_EQ(d->error(), ClientError::none);
}

TEST(UpperDriver, BytesWithNothingOutstandingAreAMismatch) {
  auto d = make_client_driver(config(Protocol::upper, 1, 1));
  EXPECT_EQ(d->feed(std::string_view("\x01\x00"
                                     "A",
                                     3)),
            0u);
  EXPECT_EQ(d->error(), ClientError::mismatch);
}

TEST(UpperDriver, CloseWithOutstandingRequestIsUnexpected) {
  auto d = make_client_driver(config(Protocol::upper, 4, 4));
  const std::string reply = run_whole(Protocol::upper, request_bytes(*d)).output;
  d->feed(std::string_view(reply).substr(0, 3));
  d->on_peer_closed();
  EXPECT_EQ(d->error(), ClientError::unexpected_close);
}

TEST(UpperDriver, ResetForgetsTheConnection) {
  const ClientConfig cfg = config(Protocol::upper, 4, 4);
  auto d = make_client_driver(cfg);
  request_bytes(*d, 3);
  d->feed(std::string_view("\x04", 1));
  d->on_peer_closed();
  ASSERT_EQ(d->error(), ClientError::unexpected_close);
  d->reset();
  EXPECT_EQ(d->error(), ClientError::none);
  EXPECT_EQ(d->outstanding(), 0u);
  const std::string reply = run_whole(Protocol::upper, request_bytes(*d)).output;
  EXPECT_EQ(d->feed(reply), 1u);
  EXPECT_EQ(d->error(), ClientError::none);
}

TEST(EchoDriver, RoundTripThroughTheSession) {
  round_trip(config(Protocol::echo, 1, 1), 1000, 16, 5, 11);
  round_trip(config(Protocol::echo, 1, 5000), 300, 8, 3000, 12);
  round_trip(config(Protocol::echo, 100000, 200000), 5, 3, 65536, 13);
}

TEST(EchoDriver, DetectsEveryCorruptedByte) {
  const ClientConfig cfg = config(Protocol::echo, 6, 6);
  const std::string request = request_bytes(*make_client_driver(cfg), 2);
  ASSERT_EQ(request.size(), 12u);
  for (std::size_t i = 0; i < request.size(); ++i) {
    auto d = make_client_driver(cfg);
    request_bytes(*d, 2);
    std::string bad = request;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    EXPECT_EQ(d->feed(bad), i < 6 ? 0u : 1u) << i;
    EXPECT_EQ(d->error(), ClientError::mismatch) << i;
  }
  auto d = make_client_driver(cfg);
  request_bytes(*d, 2);
  EXPECT_EQ(d->feed(request), 2u);
  EXPECT_EQ(d->error(), ClientError::none);
}

TEST(EchoDriver, ExtraBytesAreAMismatch) {
  const ClientConfig cfg = config(Protocol::echo, 3, 3);
  auto d = make_client_driver(cfg);
  const std::string request = request_bytes(*d);
  EXPECT_EQ(d->feed(request + "x"), 1u);
  EXPECT_EQ(d->error(), ClientError::mismatch);
}

TEST(EchoDriver, CloseWithOutstandingRequestIsUnexpected) {
  auto d = make_client_driver(config(Protocol::echo, 3, 3));
  request_bytes(*d);
  d->on_peer_closed();
  EXPECT_EQ(d->error(), ClientError::unexpected_close);
}

TEST(HttpDriver, RoundTripThroughTheSession) {
  ClientConfig cfg;
  cfg.protocol = Protocol::http;
  round_trip(cfg, 500, 1, 1000, 21);
  round_trip(cfg, 500, 16, 7, 22);
  round_trip(cfg, 200, 64, 1, 23);
}

}  // namespace
