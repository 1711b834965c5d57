// Micro-benchmarks of the sans-I/O protocol code: what a server spends per
// request before any socket is involved, and the load generator's cost per
// verified round trip. Buffers are reused across iterations, as a connection
// reuses its own, so steady-state numbers include no allocation.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "proto/buffer.hpp"
#include "proto/client.hpp"
#include "proto/session.hpp"

namespace {

using namespace wsb::proto;

// Feeds `stream`, which holds `items` requests, to one server session of
// `protocol` as one chunk an iteration. The replies go to a buffer of
// `out_capacity` bytes at first that is emptied but kept.
void feed_each_iteration(benchmark::State& state, Protocol protocol, const std::string& stream,
                         std::int64_t items, std::size_t out_capacity = 0) {
  auto session = make_server_session(protocol);
  wsb::ByteBuffer out(out_capacity);
  for (auto _ : state) {
    session->feed(stream, out);
    benchmark::DoNotOptimize(out.data());
    out.clear();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(stream.size()));
  state.SetItemsProcessed(state.iterations() * items);
}

// A stream of upper frames with bodies of state.range(0) bytes, about 64 KiB
// in all, fed as one chunk (a full recv buffer).
void BM_UpperSessionFeed(benchmark::State& state) {
  const auto body = static_cast<std::size_t>(state.range(0));
  std::string frame;
  frame.push_back(static_cast<char>(body & 0xFF));
  frame.push_back(static_cast<char>(body >> 8));
  for (std::size_t i = 0; i < body; ++i)
    frame.push_back(static_cast<char>('a' + i % 26));
  std::string stream;
  std::int64_t frames = 0;
  do {
    stream += frame;
    ++frames;
  } while (stream.size() < 64 * 1024);

  feed_each_iteration(state, Protocol::upper, stream, frames, stream.size());
}
BENCHMARK(BM_UpperSessionFeed)->Arg(0)->Arg(16)->Arg(128)->Arg(4096)->Arg(65535);

// state.range(0) pipelined wrk-style requests in one chunk. Items are requests,
// so the report's items/s inverts to ns per request.
void BM_HttpSessionFeed(benchmark::State& state) {
  const std::string request = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:21234\r\n\r\n";
  std::string stream;
  for (std::int64_t i = 0; i < state.range(0); ++i)
    stream += request;

  feed_each_iteration(state, Protocol::http, stream, state.range(0));
}
BENCHMARK(BM_HttpSessionFeed)->Arg(1)->Arg(16)->Arg(256);

// A browser-sized head (about 500 bytes, ten fields): the per-byte cost of
// validation dominates.
void BM_HttpSessionFeedBrowserHead(benchmark::State& state) {
  const std::string request =
      "GET /index.html?x=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: Mozilla/5.0 (X11; "
      "Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\nAccept: "
      "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\r\n"
      "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: "
      "keep-alive\r\nCookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n"
      "Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: "
      "navigate\r\n\r\n";
  feed_each_iteration(state, Protocol::http, request, 1);
}
BENCHMARK(BM_HttpSessionFeedBrowserHead);

// One verified request/response through driver -> session -> driver, for
// each protocol (0 upper, 1 echo, 2 http) with 16-byte bodies.
void BM_ClientDriverRoundTrip(benchmark::State& state) {
  ClientConfig cfg;
  cfg.protocol = static_cast<Protocol>(state.range(0));
  cfg.size_min = cfg.size_max = 16;
  ClientFactory factory(cfg);
  auto driver = factory.make(0);
  auto session = make_server_session(cfg.protocol);
  wsb::ByteBuffer request;
  wsb::ByteBuffer reply;
  std::int64_t bytes = 0;
  for (auto _ : state) {
    bytes += static_cast<std::int64_t>(driver->write_request(request));
    session->feed(request.readable(), reply);
    request.clear();
    bytes += static_cast<std::int64_t>(reply.size());
    benchmark::DoNotOptimize(driver->feed(reply.readable()));
    reply.clear();
  }
  if (driver->error() != ClientError::none || driver->outstanding() != 0) {
    state.SkipWithError("the round trip did not verify");
  }
  state.SetLabel(std::string(name(cfg.protocol)));
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClientDriverRoundTrip)->Arg(0)->Arg(1)->Arg(2);

}  // namespace
