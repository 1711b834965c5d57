// libFuzzer target: one client driver (upper, echo or http, chosen at compile
// time by WSB_FUZZ_PROTOCOL) verifying responses built from the input.
//
// Input:
//   byte 0  mode: bits 0-1 how the response is made (0 the correct responses,
//           1 the correct responses edited, 2 and 3 the rest of the input as
//           it is); bit 2 the server closes after sending; bit 3 http: accept
//           any body instead of "Hello, World!"
//   byte 1  requests written before any response (1..8)
//   byte 2  request body sizes (upper, echo): min = low nibble, max = min +
//           high nibble * 4
//   byte 3  chunking seed (fuzz_support.hpp)
//   rest    mode 1: edits, 4 bytes each (position high, position low, kind,
//           value; kind % 4: 0 replace, 1 insert, 2 erase, 3 cut off there);
//           modes 2-3: the response bytes
// The correct responses come from the server session of the same protocol
// fed the requests the driver wrote, so mode 0 has an exact oracle: every
// response verified, no error, nothing outstanding. Every mode checks the
// driver's bookkeeping (core/proto/client.hpp).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "fuzz_support.hpp"
#include "proto/client.hpp"
#include "proto/session.hpp"

namespace {

using wsb::ByteBuffer;
using wsb::fuzz::check;
using namespace wsb::proto;

constexpr Protocol kProtocol = Protocol::WSB_FUZZ_PROTOCOL;

std::string edited(std::string r, std::span<const std::uint8_t> edits) {
  for (std::size_t i = 0; i + 4 <= edits.size(); i += 4) {
    const std::size_t pos = ((std::size_t{edits[i]} << 8) | edits[i + 1]) % (r.size() + 1);
    const char value = static_cast<char>(edits[i + 3]);
    switch (edits[i + 2] % 4) {
      case 0:
        if (pos < r.size()) r[pos] = value;
        break;
      case 1:
        r.insert(pos, 1, value);
        break;
      case 2:
        if (pos < r.size()) r.erase(pos, 1);
        break;
      case 3:
        r.resize(pos);
        break;
    }
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::uint8_t mode = data[0];
  const std::size_t requests = 1 + data[1] % 8;
  const std::span<const std::uint8_t> rest(data + 4, size - 4);

  ClientConfig cfg;
  cfg.protocol = kProtocol;
  cfg.size_min = data[2] & 0x0F;
  if (kProtocol == Protocol::echo && cfg.size_min == 0) cfg.size_min = 1;
  cfg.size_max = cfg.size_min + (data[2] >> 4) * 4u;
  if (mode & 0x08) cfg.http_expect_body = std::nullopt;
  // Building a payload pool costs 256 KiB of letters, far more than one run
  // of the driver: one factory per configuration serves every input.
  static const ClientFactory* factories[3][16][16][2] = {};
  const ClientFactory*& factory =
      factories[static_cast<int>(kProtocol)][cfg.size_min][data[2] >> 4][(mode >> 3) & 1];
  if (factory == nullptr) factory = new ClientFactory(cfg);
  auto driver = factory->make(data[3]);

  ByteBuffer requests_out;
  for (std::size_t i = 0; i < requests; ++i) {
    const std::size_t before = requests_out.size();
    const std::size_t n = driver->write_request(requests_out);
    check(requests_out.size() == before + n, "write_request() returned a wrong size");
  }
  check(driver->outstanding() == requests, "outstanding() does not count the requests");

  std::string response;
  if ((mode & 3) <= 1) {
    // What a correct server answers to exactly these requests.
    auto server = make_server_session(kProtocol);
    ByteBuffer replies;
    server->feed(requests_out.readable(), replies);
    check(server->error() == SessionError::none && !server->closing(),
          "the server session rejected the driver's requests");
    response.assign(replies.data(), replies.size());
    if ((mode & 3) == 1) response = edited(std::move(response), rest);
  } else {
    response.assign(reinterpret_cast<const char*>(rest.data()), rest.size());
  }

  std::size_t completed = 0;
  wsb::fuzz::feed_in_chunks(std::span<const char>(response.data(), response.size()), data[3],
                            [&](std::span<const char> chunk) {
                              const bool had_error = driver->error() != ClientError::none;
                              const std::size_t n = driver->feed(chunk);
                              check(!had_error || n == 0,
                                    "feed() counted responses after an error");
                              completed += n;
                            });
  if (mode & 0x04) completed += driver->on_peer_closed();

  check(completed == driver->responses(), "feed() results do not add up to responses()");
  check(completed <= requests, "more responses than requests");
  if (driver->error() == ClientError::none) {
    check(completed + driver->outstanding() == requests,
          "responses + outstanding differ from the requests written");
  }
  if ((mode & 3) == 0) {
    check(driver->error() == ClientError::none, "a correct response was rejected");
    check(completed == requests, "a correct response was not counted");
  }
  return 0;
}
