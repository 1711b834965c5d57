// Randomised robustness tests with fixed seeds and bounded iterations: random
// and mutated input must never crash a session or driver, never make it buffer
// beyond its bound, and give the same result however the input is chunked.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace wsb::proto;
using namespace wsb::proto::test;

constexpr int iterations = 400;

const std::vector<std::string>& http_templates() {
  static const std::vector<std::string> t = {
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /a?b=c HTTP/1.1\nHost: x\n\n",
      "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
      "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "\r\nGET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-B:  two  \r\n\r\n",
  };
  return t;
}

// Byte-level mutations that hit the parsers' interesting characters.
std::string mutate(std::mt19937_64& rng, std::string s) {
  static const std::string specials = std::string("\r\n :,\t;\"\x7f\x80\xff") + '\0';
  const int edits = static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const std::size_t at = rng() % s.size();
    switch (rng() % 5) {
      case 0:
        s[at] = static_cast<char>(rng() & 0xFF);
        break;
      case 1:
        s[at] = specials[rng() % specials.size()];
        break;
      case 2:
        s.insert(at, 1, specials[rng() % specials.size()]);
        break;
      case 3:
        s.erase(at, 1 + rng() % 8);
        break;
      case 4:
        s.insert(at, s.substr(at, rng() % 16));
        break;
    }
  }
  return s;
}

std::string random_input(std::mt19937_64& rng, Protocol p) {
  std::string s;
  if (rng() % 4 == 0) return random_bytes(rng, rng() % 3000);
  const int parts = 1 + static_cast<int>(rng() % 12);
  for (int i = 0; i < parts; ++i) {
    if (p == Protocol::http) {
      s += http_templates()[rng() % http_templates().size()];
    } else {
      std::string body(rng() % 300, 'a');
      for (char& c : body)
        c = static_cast<char>('a' + rng() % 26);
      s += upper_frame(body);
    }
  }
  return mutate(rng, s);
}

// Checks that an http session's output is k 200 replies optionally followed by
// one error reply, with k == requests().
void check_http_output(const Outcome& o) {
  static const std::vector<std::string_view> ok = {http_ok, http_ok_close, http_ok_keep_alive_10};
  std::string_view rest = o.output;
  std::uint64_t replies = 0;
  bool progress = true;
  while (!rest.empty() && progress) {
    progress = false;
    for (std::string_view r : ok) {
      if (rest.substr(0, r.size()) == r) {
        rest.remove_prefix(r.size());
        ++replies;
        progress = true;
        break;
      }
    }
  }
  EXPECT_EQ(replies, o.requests);
  if (!rest.empty()) {
    EXPECT_EQ(rest.substr(0, 9), "HTTP/1.1 ");
    EXPECT_NE(rest.substr(9, 3), "200");
    EXPECT_TRUE(rest.ends_with("Connection: close\r\n\r\n"));
    EXPECT_NE(o.error, SessionError::none);
  }
}

void fuzz_sessions(Protocol p, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int it = 0; it < iterations; ++it) {
    const std::string input = random_input(rng, p);
    SessionLimits limits;
    if (rng() % 3 == 0) limits.max_http_head = 16 + rng() % 200;
    if (rng() % 3 == 0) limits.max_http_body = rng() % 10;
    const bool closes = rng() % 2 == 0;
    Outcome whole = run_whole(p, input, closes, limits);
    const std::size_t bound = p == Protocol::http ? limits.max_http_head : 0;
    EXPECT_LE(whole.max_buffered, bound);
    for (int k = 0; k < 3; ++k) {
      Outcome split = run_session(p, input, random_chunks(rng, input.size() + 1, 1 + rng() % 50),
                                  closes, limits);
      EXPECT_LE(split.max_buffered, bound) << "iteration " << it;
      split.max_buffered = whole.max_buffered;
      // echo counts chunks as requests, so only its bytes are split-invariant.
      if (p == Protocol::echo) split.requests = whole.requests;
      ASSERT_TRUE(split == whole) << "iteration " << it << " chunking " << k;
    }
    switch (p) {
      case Protocol::upper:
        // Each input byte gives one output byte; the session never closes by itself.
        EXPECT_EQ(whole.output.size(), input.size());
        EXPECT_EQ(whole.closing, closes);
        break;
      case Protocol::echo:
        EXPECT_EQ(whole.output, input);
        break;
      case Protocol::http:
        check_http_output(whole);
        break;
      case Protocol::chat:
        FAIL() << "the chat session has its own fuzzing (chat_session_test, fuzz-chat-wire)";
    }
  }
}

TEST(Fuzz, UpperSession) {
  fuzz_sessions(Protocol::upper, 1);
}
TEST(Fuzz, EchoSession) {
  fuzz_sessions(Protocol::echo, 2);
}
TEST(Fuzz, HttpSession) {
  fuzz_sessions(Protocol::http, 3);
}

// Drivers fed random and mutated responses must fail cleanly, never crash, and
// never report more responses than requests.
TEST(Fuzz, ClientDrivers) {
  std::mt19937_64 rng(4);
  for (Protocol p : {Protocol::upper, Protocol::echo, Protocol::http}) {
    ClientConfig cfg;
    cfg.protocol = p;
    cfg.size_min = 1;
    cfg.size_max = 40;
    ClientFactory factory(cfg);
    for (int it = 0; it < iterations; ++it) {
      auto d = factory.make(static_cast<std::uint64_t>(it));
      wsb::ByteBuffer requests;
      const int written = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < written; ++i)
        d->write_request(requests);
      std::string responses = run_whole(p, to_string(requests)).output;
      if (p == Protocol::http && rng() % 2 == 0) {
        responses =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n8\r\n, "
            "World!\r\n0\r\n\r\n";
      }
      responses = rng() % 4 == 0 ? random_bytes(rng, rng() % 500) : mutate(rng, responses);
      std::size_t completed = 0;
      std::size_t pos = 0;
      for (std::size_t c : random_chunks(rng, responses.size() + 1, 1 + rng() % 40)) {
        if (pos >= responses.size()) break;
        const std::size_t take = std::min(c, responses.size() - pos);
        completed += d->feed(std::string_view(responses).substr(pos, take));
        pos += take;
      }
      completed += d->on_peer_closed();
      EXPECT_LE(completed, static_cast<std::size_t>(written));
      EXPECT_EQ(completed, d->responses());
      EXPECT_EQ(d->outstanding() + completed, static_cast<std::size_t>(written));
      if (completed < static_cast<std::size_t>(written)) {
        EXPECT_NE(d->error(), ClientError::none) << "a missing response is always noticed";
      }
    }
  }
}

}  // namespace
