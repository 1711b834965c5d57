// Helpers shared by the server frame tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../eventually.hpp"
#include "../upper_frame.hpp"
#include "platform/net.hpp"
#include "server/frame.hpp"

namespace wsb::server::test {

// argv for Frame::parse: the program name followed by `args`.
struct Argv {
  explicit Argv(std::vector<std::string> args) : strings(std::move(args)) {
    strings.insert(strings.begin(), "server-test");
    for (const std::string& s : strings)
      pointers.push_back(s.c_str());
  }
  int argc() const { return static_cast<int>(pointers.size()); }
  const char* const* argv() const { return pointers.data(); }

  std::vector<std::string> strings;
  std::vector<const char*> pointers;
};

// The result of parsing a command line with output captured.
struct Parsed {
  std::optional<int> exit_code;
  std::string out;
  std::string err;
};

inline Parsed parse_captured(Frame& frame, std::vector<std::string> args) {
  const Argv argv(std::move(args));
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  Parsed result;
  result.exit_code = frame.parse(argv.argc(), argv.argv());
  result.out = ::testing::internal::GetCapturedStdout();
  result.err = ::testing::internal::GetCapturedStderr();
  return result;
}

// A Frame named "test" whose command line parsed successfully.
inline std::unique_ptr<Frame> make_frame(std::vector<std::string> args, int default_threads = 1) {
  auto frame = std::make_unique<Frame>("test", "A model for the unit tests.", default_threads);
  const Parsed parsed = parse_captured(*frame, std::move(args));
  EXPECT_FALSE(parsed.exit_code.has_value()) << parsed.err;
  return frame;
}

// finish() with its report captured; returns the report.
inline std::string finish_captured(Frame& frame, int expected_exit_code = 0) {
  ::testing::internal::CaptureStdout();
  const int code = frame.finish();
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, expected_exit_code) << out;
  return out;
}

using wsb::test::eventually;
using wsb::test::upper_frame;

// A connected loopback pair of blocking sockets, closed with the object
// (a test that closes one itself sets it to net::invalid_socket).
struct LoopbackPair {
  LoopbackPair() {
    const net::socket_t listener =
        net::open_listener(net::parse_endpoint("127.0.0.1", 0).value(), 4);
    client = net::connect_to(net::local_endpoint(listener).value());
    server = net::accept_connection(listener);
    net::close_socket(listener);
  }
  ~LoopbackPair() {
    if (server != net::invalid_socket) net::close_socket(server);
    if (client != net::invalid_socket) net::close_socket(client);
  }
  LoopbackPair(const LoopbackPair&) = delete;
  LoopbackPair& operator=(const LoopbackPair&) = delete;

  net::socket_t server = net::invalid_socket;
  net::socket_t client = net::invalid_socket;
};

// Everything the client receives until the server's FIN.
inline std::string receive_all(net::socket_t s) {
  std::string all;
  char buffer[256];
  for (;;) {
    const std::ptrdiff_t n = net::recv_some(s, buffer);
    if (n <= 0) return all;
    all.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace wsb::server::test
