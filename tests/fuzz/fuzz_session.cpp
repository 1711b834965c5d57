// libFuzzer target: one server session (upper, echo or http, chosen at
// compile time by WSB_FUZZ_PROTOCOL) fed arbitrary bytes.
//
// Input: byte 0 is a control byte, the rest is what a client sent.
//   bits 0-3  chunking seed (0: one chunk), see fuzz_support.hpp
//   bit  4    http: small limits (64-byte head, 16-byte body) instead of the defaults
//   bit  5    the peer closes (FIN) after sending everything
// Besides "no crash, no sanitizer report", it checks what the protocol
// promises (core/proto/session.hpp): the result does not depend on how the
// bytes were chunked, buffered() stays within its bound, nothing is produced
// once the session is closing, and upper/echo replies are exactly the request
// transformed byte by byte.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "fuzz_support.hpp"
#include "proto/session.hpp"

namespace {

using wsb::ByteBuffer;
using wsb::fuzz::check;
using namespace wsb::proto;

constexpr Protocol kProtocol = Protocol::WSB_FUZZ_PROTOCOL;

struct Outcome {
  std::string_view out;
  bool closing = false;
  SessionError error = SessionError::none;
  std::uint64_t requests = 0;
};

// Feeds `stream` in chunks, checking the per-call invariants, and returns
// the final state. `out` receives every reply byte.
Outcome run(std::span<const char> stream, std::uint8_t chunk_seed, const SessionLimits& limits,
            bool peer_closes, ByteBuffer& out) {
  auto session = make_server_session(kProtocol, limits);
  const std::size_t head_bound = kProtocol == Protocol::http ? limits.max_http_head : 0;
  wsb::fuzz::feed_in_chunks(stream, chunk_seed, [&](std::span<const char> chunk) {
    const bool was_closing = session->closing();
    const std::size_t before = out.size();
    session->feed(chunk, out);
    check(!was_closing || out.size() == before, "a closing session produced output");
    check(session->buffered() <= head_bound, "buffered() exceeds its bound");
    check(session->closing() || session->error() == SessionError::none,
          "an error without closing()");
  });
  if (peer_closes) {
    session->on_peer_closed();
    check(session->closing(), "on_peer_closed() did not make the session closing");
  }
  return {std::string_view(out.data(), out.size()), session->closing(), session->error(),
          session->requests()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::span<const char> stream(reinterpret_cast<const char*>(data + 1), size - 1);
  SessionLimits limits;
  if (control & 0x10) {
    limits.max_http_head = 64;
    limits.max_http_body = 16;
  }
  const bool peer_closes = (control & 0x20) != 0;

  ByteBuffer whole_out, chunked_out;
  const Outcome whole = run(stream, 0, limits, peer_closes, whole_out);
  const Outcome chunked = run(stream, control & 0x0F, limits, peer_closes, chunked_out);
  check(whole.out == chunked.out, "the reply depends on how the input was chunked");
  check(whole.closing == chunked.closing, "closing() depends on chunking");
  check(whole.error == chunked.error, "error() depends on chunking");
  // Echo counts the non-empty chunks it was fed (session.hpp), so only the
  // framed protocols count the same requests however the input was split.
  check(kProtocol == Protocol::echo || whole.requests == chunked.requests,
        "requests() depends on chunking");

  if constexpr (kProtocol == Protocol::echo) {
    check(whole.out == std::string_view(stream.data(), stream.size()), "echo changed the bytes");
  } else if constexpr (kProtocol == Protocol::upper) {
    // Streaming: one reply byte per request byte, a-z upper-cased in bodies
    // and every other byte (lengths included) copied.
    check(whole.out.size() == stream.size(), "upper's reply is not as long as the request");
    for (std::size_t i = 0; i < stream.size(); ++i) {
      const char in = stream[i], out = whole.out[i];
      check(out == in || (in >= 'a' && in <= 'z' && out == in - 'a' + 'A'),
            "upper changed a byte other than by upper-casing a letter");
    }
    check(whole.error == SessionError::none || whole.error == SessionError::truncated,
          "upper reported an error other than truncated");
  }
  return 0;
}
