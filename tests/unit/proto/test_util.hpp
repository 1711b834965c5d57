// Helpers shared by the protocol tests: feeding a session with a chosen split
// of its input, and reference implementations written independently of the
// code under test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../upper_frame.hpp"
#include "proto/buffer.hpp"
#include "proto/client.hpp"
#include "proto/session.hpp"

namespace wsb::proto::test {

inline std::string to_string(const ByteBuffer& b) {
  return std::string(b.data(), b.size());
}

// What a session produced for one way of chunking its input.
struct Outcome {
  std::string output;
  std::uint64_t requests = 0;
  SessionError error = SessionError::none;
  bool closing = false;
  std::size_t max_buffered = 0;

  bool operator==(const Outcome&) const = default;
};

// Feeds `input` to a fresh session in chunks of the given sizes (the last chunk
// takes whatever is left), then reports the peer's close if asked.
inline Outcome run_session(Protocol p, std::string_view input,
                           const std::vector<std::size_t>& chunks, bool peer_closes = false,
                           const SessionLimits& limits = {}) {
  auto session = make_server_session(p, limits);
  ByteBuffer out;
  Outcome o;
  std::size_t pos = 0;
  for (std::size_t c : chunks) {
    if (pos >= input.size()) break;
    const std::size_t take = c < input.size() - pos ? c : input.size() - pos;
    session->feed(std::span<const char>(input.data() + pos, take), out);
    if (session->buffered() > o.max_buffered) o.max_buffered = session->buffered();
    pos += take;
  }
  if (pos < input.size()) {
    session->feed(std::span<const char>(input.data() + pos, input.size() - pos), out);
    if (session->buffered() > o.max_buffered) o.max_buffered = session->buffered();
  }
  if (peer_closes) session->on_peer_closed();
  o.output = to_string(out);
  o.requests = session->requests();
  o.error = session->error();
  o.closing = session->closing();
  return o;
}

inline Outcome run_whole(Protocol p, std::string_view input, bool peer_closes = false,
                         const SessionLimits& limits = {}) {
  return run_session(p, input, {input.size()}, peer_closes, limits);
}

inline Outcome run_bytewise(Protocol p, std::string_view input, bool peer_closes = false,
                            const SessionLimits& limits = {}) {
  return run_session(p, input, std::vector<std::size_t>(input.size(), 1), peer_closes, limits);
}

// Random chunk sizes in [1, max_chunk] covering n bytes.
inline std::vector<std::size_t> random_chunks(std::mt19937_64& rng, std::size_t n,
                                              std::size_t max_chunk) {
  std::vector<std::size_t> chunks;
  std::uniform_int_distribution<std::size_t> d(1, max_chunk);
  for (std::size_t total = 0; total < n;) {
    const std::size_t c = d(rng);
    chunks.push_back(c);
    total += c;
  }
  return chunks;
}

using wsb::test::upper_frame;

// The reply an upper server owes to a stream, computed naively one frame at a
// time: length bytes are copied, body bytes a-z upper-cased one by one. A
// frame cut off by the end of the stream is answered as far as it goes, as
// the session streams its replies.
inline std::string upper_reference(std::string_view stream) {
  std::string reply;
  std::size_t i = 0;
  while (i < stream.size()) {
    const std::size_t header = stream.size() - i < 2 ? stream.size() - i : 2;
    reply.append(stream.substr(i, header));
    if (header < 2) break;
    const std::size_t n =
        static_cast<unsigned char>(stream[i]) + 256u * static_cast<unsigned char>(stream[i + 1]);
    std::string body(stream.substr(i + 2, n));
    for (char& c : body) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    reply += body;
    i += 2 + n;
  }
  return reply;
}

inline std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (char& c : s)
    c = static_cast<char>(rng() & 0xFF);
  return s;
}

inline constexpr std::string_view http_ok =
    "HTTP/1.1 200 OK\r\nServer: wsbench\r\nContent-Type: text/plain\r\nContent-Length: "
    "13\r\n\r\nHello, World!";
inline constexpr std::string_view http_ok_close =
    "HTTP/1.1 200 OK\r\nServer: wsbench\r\nContent-Type: text/plain\r\nContent-Length: "
    "13\r\nConnection: close\r\n\r\nHello, World!";
inline constexpr std::string_view http_ok_keep_alive_10 =
    "HTTP/1.1 200 OK\r\nServer: wsbench\r\nContent-Type: text/plain\r\nContent-Length: "
    "13\r\nConnection: keep-alive\r\n\r\nHello, World!";

inline std::string repeat(std::string_view s, std::size_t k) {
  std::string r;
  for (std::size_t i = 0; i < k; ++i)
    r.append(s);
  return r;
}

}  // namespace wsb::proto::test
