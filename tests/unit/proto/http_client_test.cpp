#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace wsb::proto;
using namespace wsb::proto::test;

ClientConfig http_config() {
  ClientConfig cfg;
  cfg.protocol = Protocol::http;
  return cfg;
}

// Writes `requests` requests, then feeds `responses` in the given chunks.
struct Fed {
  std::size_t completed = 0;
  ClientError error = ClientError::none;
  std::size_t outstanding = 0;
  bool server_closing = false;
};

Fed feed_driver(const ClientConfig& cfg, int requests, std::string_view responses,
                const std::vector<std::size_t>& chunks, bool peer_closes = false) {
  auto d = make_client_driver(cfg);
  wsb::ByteBuffer out;
  for (int i = 0; i < requests; ++i)
    d->write_request(out);
  Fed f;
  std::size_t pos = 0;
  for (std::size_t c : chunks) {
    const std::size_t take = std::min(c, responses.size() - pos);
    f.completed += d->feed(responses.substr(pos, take));
    pos += take;
  }
  f.completed += d->feed(responses.substr(pos));
  if (peer_closes) f.completed += d->on_peer_closed();
  f.error = d->error();
  f.outstanding = d->outstanding();
  f.server_closing = d->server_closing();
  EXPECT_EQ(d->responses(), f.completed);
  return f;
}

// Feeds whole, byte by byte and split at every point; all must agree.
Fed feed_all_splits(const ClientConfig& cfg, int requests, std::string_view responses,
                    bool peer_closes = false) {
  const Fed whole = feed_driver(cfg, requests, responses, {}, peer_closes);
  const auto same = [&](const Fed& f) {
    return f.completed == whole.completed && f.error == whole.error &&
           f.outstanding == whole.outstanding && f.server_closing == whole.server_closing;
  };
  EXPECT_TRUE(same(feed_driver(cfg, requests, responses,
                               std::vector<std::size_t>(responses.size(), 1), peer_closes)));
  for (std::size_t i = 0; i <= responses.size(); ++i) {
    EXPECT_TRUE(same(feed_driver(cfg, requests, responses, {i}, peer_closes))) << "split " << i;
  }
  return whole;
}

TEST(HttpDriver, WritesAGetWithHost) {
  ClientConfig cfg = http_config();
  cfg.http_host = "localhost:8080";
  cfg.http_path = "/plaintext";
  auto d = make_client_driver(cfg);
  wsb::ByteBuffer out;
  const std::size_t n = d->write_request(out);
  const std::string expected = "GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\n\r\n";
  EXPECT_EQ(to_string(out), expected);
  EXPECT_EQ(n, expected.size());
  EXPECT_EQ(d->outstanding(), 1u);
}

TEST(HttpDriver, AcceptsOurServersReply) {
  const Fed f = feed_all_splits(http_config(), 3, repeat(http_ok, 3));
  EXPECT_EQ(f.completed, 3u);
  EXPECT_EQ(f.error, ClientError::none);
  EXPECT_EQ(f.outstanding, 0u);
  EXPECT_FALSE(f.server_closing);
}

TEST(HttpDriver, AcceptsAnNginxStyleReply) {
  const std::string nginx =
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
      "Content-Type: text/plain\r\nContent-Length: 13\r\nLast-Modified: Mon, 01 Jan 2024 "
      "00:00:00 GMT\r\nConnection: keep-alive\r\nETag: \"659200-d\"\r\nAccept-Ranges: "
      "bytes\r\n\r\nHello, World!";
  const Fed f = feed_all_splits(http_config(), 2, nginx + nginx);
  EXPECT_EQ(f.completed, 2u);
  EXPECT_EQ(f.error, ClientError::none);
}

TEST(HttpDriver, AnyBodyWhenNoneIsExpected) {
  ClientConfig cfg = http_config();
  cfg.http_expect_body.reset();
  const std::string body(1000, 'q');
  const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + body;
  EXPECT_EQ(feed_driver(cfg, 1, reply, {}).error, ClientError::none);
  EXPECT_EQ(feed_driver(cfg, 1, reply, {}).completed, 1u);
  EXPECT_EQ(feed_driver(http_config(), 1, reply, {}).error, ClientError::mismatch);
}

TEST(HttpDriver, ChunkedBodies) {
  const std::vector<std::string> replies = {
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nHello, World!\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n8;ext=1\r\n, "
      "World!\r\n0\r\nX-Trailer: t\r\n\r\n",
      "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\n1\nH\n0C\nello, World!\n0\n\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n000D\r\nHello, "
      "World!\r\n0\r\n\r\n",
  };
  for (const std::string& r : replies) {
    const Fed f = feed_all_splits(http_config(), 2, r + r);
    EXPECT_EQ(f.completed, 2u) << r;
    EXPECT_EQ(f.error, ClientError::none) << r;
  }
}

TEST(HttpDriver, MalformedChunkedBodies) {
  for (std::string_view body :
       {"x\r\n", "\r\n", "5\r\nHelloXX", "5\r\nHello\r\nz", "5\rX", "ffffffffffffffffff\r\n"}) {
    const std::string r =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(body);
    EXPECT_EQ(feed_driver(http_config(), 1, r, {}).error, ClientError::malformed) << body;
  }
  // The right framing around the wrong bytes is a mismatch.
  const std::string wrong =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nHello, World?\r\n0\r\n\r\n";
  EXPECT_EQ(feed_driver(http_config(), 1, wrong, {}).error, ClientError::mismatch);
  const std::string longer =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nHello, "
      "World!\r\n1\r\n!\r\n0\r\n\r\n";
  EXPECT_EQ(feed_driver(http_config(), 1, longer, {}).error, ClientError::mismatch);
  const std::string shorter =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n0\r\n\r\n";
  EXPECT_EQ(feed_driver(http_config(), 1, shorter, {}).error, ClientError::mismatch);
}

TEST(HttpDriver, UnknownFinalCodingIsMalformed) {
  const std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx";
  EXPECT_EQ(feed_driver(http_config(), 1, r, {}).error, ClientError::malformed);
}

TEST(HttpDriver, BodyUntilClose) {
  const std::string r = "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nHello, World!";
  const Fed closed = feed_all_splits(http_config(), 1, r, /*peer_closes=*/true);
  EXPECT_EQ(closed.error, ClientError::none);
  EXPECT_EQ(closed.outstanding, 0u);
  EXPECT_TRUE(closed.server_closing);
  // Without the close the response is not complete yet.
  const Fed open = feed_driver(http_config(), 1, r, {});
  EXPECT_EQ(open.completed, 0u);
  EXPECT_EQ(open.outstanding, 1u);
  // A short body is detected when the close completes it.
  EXPECT_EQ(feed_driver(http_config(), 1, r.substr(0, r.size() - 1), {}, true).error,
            ClientError::mismatch);
}

TEST(HttpDriver, ConnectionCloseIsReported) {
  const Fed f = feed_all_splits(http_config(), 1, http_ok_close, /*peer_closes=*/true);
  EXPECT_EQ(f.completed, 1u);
  EXPECT_TRUE(f.server_closing);
  EXPECT_EQ(f.error, ClientError::none);
  const Fed ten = feed_driver(http_config(), 1,
                              "HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!", {});
  EXPECT_TRUE(ten.server_closing) << "HTTP/1.0 without keep-alive closes";
  const Fed ten_ka = feed_driver(
      http_config(), 1,
      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\nHello, World!", {});
  EXPECT_FALSE(ten_ka.server_closing);
}

TEST(HttpDriver, InterimResponsesAreSkipped) {
  const Fed f =
      feed_all_splits(http_config(), 1, "HTTP/1.1 100 Continue\r\n\r\n" + std::string(http_ok));
  EXPECT_EQ(f.completed, 1u);
  EXPECT_EQ(f.error, ClientError::none);
}

TEST(HttpDriver, WrongStatusOrBodyIsAMismatch) {
  const std::vector<std::string> wrong = {
      "HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\nHello, World!",
      "HTTP/1.1 400 Bad Request\r\nServer: wsbench\r\nContent-Length: 0\r\nConnection: "
      "close\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello, World",
      "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHello, World!!",
      "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nhello, World!",
  };
  for (const std::string& r : wrong) {
    EXPECT_EQ(feed_driver(http_config(), 1, r, {}).error, ClientError::mismatch) << r;
  }
  // Every byte of the body matters.
  for (std::size_t i = http_ok.size() - 13; i < http_ok.size(); ++i) {
    std::string bad(http_ok);
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    const Fed f = feed_driver(http_config(), 1, bad, {});
    EXPECT_EQ(f.error, ClientError::mismatch) << i;
    EXPECT_EQ(f.completed, 0u);
  }
  // A response nobody asked for.
  EXPECT_EQ(feed_driver(http_config(), 0, http_ok, {}).error, ClientError::mismatch);
}

TEST(HttpDriver, MalformedHeadsAreReported) {
  const std::vector<std::string> bad = {
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/2 200 OK\r\n\r\n",
      "http/1.1 200 OK\r\n\r\n",
      "HTTP/1.1 20x OK\r\n\r\n",
      "HTTP/1.1 200OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length 13\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Length: 14\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
      "SSH-2.0-OpenSSH_9.2\r\n\r\n",
  };
  for (const std::string& r : bad) {
    EXPECT_EQ(feed_driver(http_config(), 1, r, {}).error, ClientError::malformed) << r;
  }
  // A head that never ends is refused once it passes 64 KiB.
  const std::string endless = "HTTP/1.1 200 OK\r\nX: " + std::string(70000, 'a');
  EXPECT_EQ(feed_driver(http_config(), 1, endless, {}).error, ClientError::malformed);
  EXPECT_EQ(feed_driver(http_config(), 1, endless, {1000, 1000, 1000}).error,
            ClientError::malformed);
}

TEST(HttpDriver, CloseWithAResponseOutstandingIsUnexpected) {
  EXPECT_EQ(feed_driver(http_config(), 2, http_ok, {}, true).error, ClientError::unexpected_close);
  EXPECT_EQ(feed_driver(http_config(), 1, http_ok.substr(0, 20), {}, true).error,
            ClientError::unexpected_close);
  EXPECT_EQ(feed_driver(http_config(), 1, http_ok, {}, true).error, ClientError::none);
}

TEST(HttpDriver, ResetForgetsAPartialResponse) {
  auto d = make_client_driver(http_config());
  wsb::ByteBuffer out;
  d->write_request(out);
  d->feed(http_ok.substr(0, 30));
  d->reset();
  EXPECT_EQ(d->outstanding(), 0u);
  d->write_request(out);
  EXPECT_EQ(d->feed(http_ok), 1u);
  EXPECT_EQ(d->error(), ClientError::none);
}

}  // namespace
