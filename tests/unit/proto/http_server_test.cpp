#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace wsb::proto;
using namespace wsb::proto::test;

constexpr std::string_view get = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// The error reply the server must send for `status`: written out here from
// RFC 9110's reason phrases, not taken from the server's code.
std::string error_reply(std::string_view status) {
  return "HTTP/1.1 " + std::string(status) +
         "\r\nServer: wsbench\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

const std::string reply_400 = error_reply("400 Bad Request");
const std::string reply_413 = error_reply("413 Content Too Large");
const std::string reply_431 = error_reply("431 Request Header Fields Too Large");
const std::string reply_501 = error_reply("501 Not Implemented");
const std::string reply_505 = error_reply("505 HTTP Version Not Supported");

// Checks that one way of feeding gives the same outcome as every other: whole,
// byte by byte, every split in two (for short inputs) and random chunks.
Outcome run_all_splits(std::string_view input, bool peer_closes = false,
                       const SessionLimits& limits = {}) {
  const Outcome whole = run_whole(Protocol::http, input, peer_closes, limits);
  Outcome whole_no_buffer = whole;
  whole_no_buffer.max_buffered = 0;
  const auto same = [&](const Outcome& o) {
    Outcome a = o;
    a.max_buffered = 0;
    return a == whole_no_buffer;
  };
  EXPECT_TRUE(same(run_bytewise(Protocol::http, input, peer_closes, limits)));
  if (input.size() <= 600) {
    for (std::size_t i = 0; i <= input.size(); ++i) {
      EXPECT_TRUE(same(run_session(Protocol::http, input, {i}, peer_closes, limits)))
          << "split at " << i;
    }
  }
  std::mt19937_64 rng(input.size());
  for (int k = 0; k < 20; ++k) {
    const Outcome o =
        run_session(Protocol::http, input, random_chunks(rng, input.size(), 1 + rng() % 64),
                    peer_closes, limits);
    EXPECT_TRUE(same(o));
    EXPECT_LE(o.max_buffered, limits.max_http_head);
  }
  return whole;
}

TEST(HttpSession, AnswersAGet) {
  const Outcome o = run_all_splits(get);
  EXPECT_EQ(o.output, http_ok);
  EXPECT_EQ(o.requests, 1u);
  EXPECT_FALSE(o.closing);
  EXPECT_EQ(o.error, SessionError::none);
}

TEST(HttpSession, PipelinedRequestsGetOneReplyEachInOrder) {
  const std::string two =
      std::string(get) + "GET /x?y=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
  const Outcome o = run_all_splits(two);
  EXPECT_EQ(o.output, repeat(http_ok, 2));
  EXPECT_EQ(o.requests, 2u);

  const Outcome many = run_whole(Protocol::http, repeat(get, 1000));
  EXPECT_EQ(many.output, repeat(http_ok, 1000));
  EXPECT_EQ(many.requests, 1000u);
  EXPECT_EQ(many.max_buffered, 0u) << "heads inside one chunk are parsed in place";
}

TEST(HttpSession, WrkStyleRequest) {
  const std::string wrk = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:21234\r\n\r\n";
  EXPECT_EQ(run_all_splits(wrk).output, http_ok);
}

TEST(HttpSession, TypicalBrowserHeaders) {
  const std::string req =
      "GET /index.html HTTP/1.1\r\n"
      "Host: example.test\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
      "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
      "Accept-Language: en-US,en;q=0.5\r\n"
      "Cookie: a=1; b=\"two\"\r\n"
      "X-Empty:\r\n"
      "X-Tabs:\tvalue with\ttabs\t\r\n"
      "X-Obs-Text: caf\xc3\xa9\r\n"
      "Connection: keep-alive\r\n"
      "\r\n";
  const Outcome o = run_all_splits(req);
  EXPECT_EQ(o.output, http_ok);
  EXPECT_FALSE(o.closing);
}

TEST(HttpSession, BareLfLineEndingsAreAccepted) {
  const Outcome o = run_all_splits("GET / HTTP/1.1\nHost: x\n\nGET / HTTP/1.1\r\nHost: x\n\r\n");
  EXPECT_EQ(o.output, repeat(http_ok, 2));
}

TEST(HttpSession, EmptyLinesBeforeTheRequestLineAreIgnored) {
  const Outcome o =
      run_all_splits(std::string("\r\n\n\r\n") + std::string(get) + "\r\n" + std::string(get));
  EXPECT_EQ(o.output, repeat(http_ok, 2));
  EXPECT_EQ(o.requests, 2u);
}

TEST(HttpSession, ConnectionCloseIsHonoured) {
  const std::string req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const Outcome o = run_all_splits(req + std::string(get));
  EXPECT_EQ(o.output, http_ok_close) << "nothing after the closing request is answered";
  EXPECT_EQ(o.requests, 1u);
  EXPECT_TRUE(o.closing);
  EXPECT_EQ(o.error, SessionError::none);
}

TEST(HttpSession, ConnectionOptionsAreCaseInsensitiveLists) {
  const Outcome o =
      run_all_splits("GET / HTTP/1.1\r\nhOsT: x\r\nCONNECTION: Upgrade ,  CLOSE\r\n\r\n");
  EXPECT_EQ(o.output, http_ok_close);
  EXPECT_TRUE(o.closing);
  const Outcome ka = run_all_splits("GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n");
  EXPECT_EQ(ka.output, http_ok) << "'closed' is not the close option";
}

TEST(HttpSession, Http10ClosesUnlessKeepAlive) {
  const Outcome plain = run_all_splits("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(plain.output, http_ok_close);
  EXPECT_TRUE(plain.closing);
  EXPECT_EQ(plain.error, SessionError::none);

  const std::string ka = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
  const Outcome o = run_all_splits(ka + ka);
  EXPECT_EQ(o.output, repeat(http_ok_keep_alive_10, 2));
  EXPECT_FALSE(o.closing);
}

TEST(HttpSession, LaterMinorVersionsAreTreatedAsHttp11) {
  const Outcome o = run_all_splits("GET / HTTP/1.9\r\nHost: x\r\n\r\n");
  EXPECT_EQ(o.output, http_ok);
  EXPECT_FALSE(o.closing);
}

TEST(HttpSession, RequestBodiesAreConsumed) {
  for (std::size_t n : {0u, 1u, 127u, 128u, 4096u, 65535u}) {
    const std::string req =
        "POST /submit HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" +
        std::string(n, 'b');
    const Outcome o = n <= 128 ? run_all_splits(req + std::string(get))
                               : run_whole(Protocol::http, req + std::string(get));
    EXPECT_EQ(o.output, repeat(http_ok, 2)) << n;
    EXPECT_EQ(o.requests, 2u) << n;
    EXPECT_EQ(o.max_buffered, 0u) << "bodies are never buffered";
  }
}

TEST(HttpSession, ReplyWaitsForTheWholeBody) {
  auto s = make_server_session(Protocol::http);
  wsb::ByteBuffer out;
  s->feed(std::string_view("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab"), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(s->requests(), 0u);
  s->feed(std::string_view("cd"), out);
  EXPECT_EQ(to_string(out), http_ok);
  EXPECT_EQ(s->requests(), 1u);
}

TEST(HttpSession, ContentLengthVariants) {
  // Identical repeated values are accepted (RFC 9110 section 8.6).
  EXPECT_EQ(run_all_splits("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nhi").output,
            http_ok);
  EXPECT_EQ(run_all_splits("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\ncontent-length: "
                           "2\r\n\r\nhi")
                .output,
            http_ok);
  for (std::string_view bad :
       {"Content-Length: 2, 3", "Content-Length: abc", "Content-Length: -1", "Content-Length: +2",
        "Content-Length:", "Content-Length: 1 2", "Content-Length: 0x10"}) {
    const Outcome o =
        run_all_splits("POST / HTTP/1.1\r\nHost: x\r\n" + std::string(bad) + "\r\n\r\nhi");
    EXPECT_EQ(o.output, reply_400) << bad;
    EXPECT_EQ(o.error, SessionError::malformed) << bad;
  }
  const Outcome two = run_all_splits(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi");
  EXPECT_EQ(two.output, reply_400);
}

TEST(HttpSession, BodyOverTheLimitIs413) {
  SessionLimits limits;
  limits.max_http_body = 100;
  EXPECT_EQ(run_all_splits(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'z'),
                false, limits)
                .output,
            http_ok);
  const Outcome o =
      run_all_splits("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n", false, limits);
  EXPECT_EQ(o.output, reply_413);
  EXPECT_EQ(o.error, SessionError::oversized);
  EXPECT_TRUE(o.closing);
  // A length too large for 64 bits is just as much over the limit.
  EXPECT_EQ(run_all_splits("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
                           "99999999999999999999999999\r\n\r\n")
                .output,
            reply_413);
}

TEST(HttpSession, TransferEncodingIsNotImplemented) {
  for (std::string_view te : {"Transfer-Encoding: chunked", "transfer-encoding: gzip, chunked",
                              "Transfer-Encoding: identity"}) {
    const Outcome o = run_all_splits(std::string(get.substr(0, get.size() - 2)) + std::string(te) +
                                     "\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    EXPECT_EQ(o.output, reply_501) << te;
    EXPECT_EQ(o.error, SessionError::unsupported) << te;
    EXPECT_TRUE(o.closing) << te;
  }
}

TEST(HttpSession, MalformedRequestsGet400) {
  const std::vector<std::string> bad = {
      "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",            // two spaces
      "GET / HTTP/1.1 \r\nHost: x\r\n\r\n",            // trailing space
      "GET /\r\nHost: x\r\n\r\n",                      // no version (HTTP/0.9 style)
      "GET / \r\nHost: x\r\n\r\n",                     // empty version
      " GET / HTTP/1.1\r\nHost: x\r\n\r\n",            // leading space
      "G@T / HTTP/1.1\r\nHost: x\r\n\r\n",             // method is not a token
      "GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n",        // control byte in the target
      "GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n",        // DEL in the target
      "GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n",            // HTAB as separator
      "GET / http/1.1\r\nHost: x\r\n\r\n",             // the protocol name is case-sensitive
      "GET / HTTP/1.10\r\nHost: x\r\n\r\n",            // two-digit minor
      "GET / HTTP/11\r\nHost: x\r\n\r\n",              // no dot
      "GET / HTTP/1.x\r\nHost: x\r\n\r\n",             // not a digit
      "GET / HTTP/1.1\rHost: x\r\n\r\n",               // bare CR ending the request line
      "GET / HTTP/1.1\r\r\nHost: x\r\n\r\n",           // CR CR LF
      "GET / HTTP/1.1\r\nHost x\r\n\r\n",              // missing colon
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n",            // whitespace before the colon
      "GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n",      // empty field name
      "GET / HTTP/1.1\r\nHo(st: x\r\n\r\n",            // not a token
      "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",  // bare CR inside a value
      "GET / HTTP/1.1\r\nHost: x\r\nX: a" + std::string(1, '\0') + "b\r\n\r\n",  // NUL
      "GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n",                           // DEL in a value
      "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n  folded\r\n\r\n",                   // obs-fold
      "GET / HTTP/1.1\r\n Host: x\r\n\r\n",            // whitespace before the first field
      "GET / HTTP/1.1\r\n\r\n",                        // HTTP/1.1 without Host
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // two Hosts
      "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n",  // two Hosts in HTTP/1.0 as well
      "\x16\x03\x01\x02\xfc\x03\x03\r\n\r\n",          // the start of a TLS ClientHello
  };
  for (const std::string& req : bad) {
    const Outcome o = run_all_splits(req + std::string(get));
    EXPECT_EQ(o.output, reply_400) << req;
    EXPECT_EQ(o.error, SessionError::malformed) << req;
    EXPECT_TRUE(o.closing) << req;
    EXPECT_EQ(o.requests, 0u) << req;
  }
}

TEST(HttpSession, OtherMajorVersionsGet505) {
  for (std::string_view line : {"GET / HTTP/2.0", "GET / HTTP/0.9", "GET / HTTP/3.0"}) {
    const Outcome o = run_all_splits(std::string(line) + "\r\nHost: x\r\n\r\n");
    EXPECT_EQ(o.output, reply_505) << line;
    EXPECT_EQ(o.error, SessionError::malformed) << line;
    EXPECT_TRUE(o.closing);
  }
}

TEST(HttpSession, RepliesBeforeAnErrorAreKept) {
  const Outcome o = run_all_splits(std::string(get) + std::string(get) + "BAD\r\n\r\n");
  EXPECT_EQ(o.output, repeat(http_ok, 2) + std::string(reply_400));
  EXPECT_EQ(o.requests, 2u);
  EXPECT_EQ(o.error, SessionError::malformed);
}

std::string head_of_size(std::size_t n) {
  // "GET / HTTP/1.1\r\nHost: x\r\nX: <pad>\r\n\r\n" padded to exactly n bytes.
  const std::string prefix = "GET / HTTP/1.1\r\nHost: x\r\nX: ";
  const std::string suffix = "\r\n\r\n";
  return prefix + std::string(n - prefix.size() - suffix.size(), 'p') + suffix;
}

TEST(HttpSession, HeadUpToTheLimitIsAccepted) {
  SessionLimits limits;
  limits.max_http_head = 200;
  const std::string head = head_of_size(200);
  const Outcome o = run_all_splits(head + head, false, limits);
  EXPECT_EQ(o.output, repeat(http_ok, 2));
  EXPECT_LE(o.max_buffered, 200u);
}

TEST(HttpSession, HeadOverTheLimitIs431) {
  SessionLimits limits;
  limits.max_http_head = 200;
  const Outcome o = run_all_splits(std::string(get) + head_of_size(201), false, limits);
  EXPECT_EQ(o.output, std::string(http_ok) + std::string(reply_431));
  EXPECT_EQ(o.error, SessionError::oversized);
  EXPECT_TRUE(o.closing);
  // A head that never ends is refused as soon as it passes the limit, without
  // waiting for more input.
  const Outcome endless = run_all_splits(std::string(201, 'A'), false, limits);
  EXPECT_EQ(endless.output, reply_431);
  // Empty lines before the request line count towards the limit.
  const Outcome blank = run_all_splits(repeat("\r\n", 100) + std::string(get), false, limits);
  EXPECT_EQ(blank.output, reply_431);
}

// Found by fuzz-session-http (tests/fuzz): a head that has reached the limit
// without ending can only grow past it, so it is refused at once. It used to
// be refused at once only when those bytes came in one chunk; split, the
// session waited for one more byte, and a peer that then closed got no 431
// but a "truncated" close.
TEST(HttpSession, HeadAtTheLimitWithoutAnEndIs431HoweverSplit) {
  SessionLimits limits;
  limits.max_http_head = 64;
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nX: " + std::string(64 - 29, 'p');
  ASSERT_EQ(head.size(), 64u);
  const Outcome o = run_all_splits(head, false, limits);
  EXPECT_EQ(o.output, reply_431);
  EXPECT_EQ(o.error, SessionError::oversized);
  const Outcome closed = run_all_splits(head, true, limits);
  EXPECT_EQ(closed.output, reply_431);
  EXPECT_EQ(closed.error, SessionError::oversized);
}

TEST(HttpSession, DefaultHeadLimitIs8KiB) {
  const Outcome ok = run_whole(Protocol::http, head_of_size(8192));
  EXPECT_EQ(ok.output, http_ok);
  const Outcome big = run_whole(Protocol::http, head_of_size(8193));
  EXPECT_EQ(big.output, reply_431);
  EXPECT_EQ(run_bytewise(Protocol::http, head_of_size(8193)).output, reply_431);
}

TEST(HttpSession, PeerCloseInsideARequestIsTruncated) {
  const std::string req = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
  for (std::size_t cut = 1; cut < req.size(); ++cut) {
    const Outcome o = run_whole(Protocol::http, req.substr(0, cut), /*peer_closes=*/true);
    EXPECT_EQ(o.error, SessionError::truncated) << cut;
    EXPECT_TRUE(o.closing);
    EXPECT_EQ(o.output, "");
    // The same through a split feed, which buffers the head.
    const Outcome split =
        run_session(Protocol::http, req.substr(0, cut), {cut / 2}, /*peer_closes=*/true);
    EXPECT_EQ(split.error, SessionError::truncated) << cut;
  }
}

TEST(HttpSession, PeerCloseBetweenRequestsIsClean) {
  for (std::string tail : {"", "\r\n", "\r", "\n\r\n"}) {
    const Outcome o = run_all_splits(std::string(get) + tail, /*peer_closes=*/true);
    EXPECT_EQ(o.error, SessionError::none) << tail.size();
    EXPECT_TRUE(o.closing);
    EXPECT_EQ(o.output, http_ok);
  }
}

TEST(HttpSession, SplitHeadMemoryIsReleased) {
  auto s = make_server_session(Protocol::http);
  wsb::ByteBuffer out;
  const std::string big = head_of_size(8000);
  s->feed(std::string_view(big).substr(0, 4000), out);
  EXPECT_EQ(s->buffered(), 4000u);
  s->feed(std::string_view(big).substr(4000), out);
  EXPECT_EQ(s->buffered(), 0u);
  EXPECT_EQ(to_string(out), http_ok);
}

}  // namespace
