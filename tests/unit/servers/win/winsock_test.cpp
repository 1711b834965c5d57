// The Winsock mechanics shared by the Windows server models
// (kit/winsock.hpp), over loopback connections.
#include "kit/winsock.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "platform/net.hpp"
#include "../../net_environment.hpp"

namespace {

using namespace std::chrono_literals;
namespace net = wsb::net;
namespace kit = wsb::kit;

// A connected pair of overlapped sockets (SO_RCVTIMEO needs the flag).
struct Pair {
  Pair() {
    const SOCKET listener =
        net::open_listener(net::parse_endpoint("127.0.0.1", 0).value(), 4, {.overlapped = true});
    client = net::connect_to(net::local_endpoint(listener).value());
    server = net::accept_connection(listener);
    ::closesocket(listener);
  }
  ~Pair() {
    if (server != INVALID_SOCKET) ::closesocket(server);
    if (client != INVALID_SOCKET) ::closesocket(client);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  SOCKET server = INVALID_SOCKET;
  SOCKET client = INVALID_SOCKET;
};

TEST(Winsock, MillisecondsUntilRoundsUpAndNeverSaysInfinite) {
  const auto now = kit::Clock::now();
  EXPECT_EQ(kit::milliseconds_until(now - 1s, now), 0u);
  EXPECT_EQ(kit::milliseconds_until(now, now), 0u);
  EXPECT_EQ(kit::milliseconds_until(now + 1us, now), 1u);
  EXPECT_EQ(kit::milliseconds_until(now + 250ms, now), 250u);
  EXPECT_EQ(kit::milliseconds_until(now + std::chrono::hours(24 * 365 * 100), now), INFINITE - 1);
}

TEST(Winsock, EndOfStreamAfterAFinIsGraceful) {
  Pair pair;
  ASSERT_TRUE(net::shutdown_send(pair.client));
  ASSERT_TRUE(kit::set_io_timeouts(pair.server, 10s));
  char byte = 0;
  ASSERT_EQ(::recv(pair.server, &byte, 1, 0), 0);
  EXPECT_EQ(kit::error_after_end_of_stream(pair.server), 0);
}

TEST(Winsock, EndOfStreamAfterAResetReportsTheReset) {
  Pair pair;
  ASSERT_TRUE(net::reset_and_close(pair.client));
  pair.client = INVALID_SOCKET;
  ASSERT_TRUE(kit::set_io_timeouts(pair.server, 10s));
  char byte = 0;
  // Windows fails the recv() with the reset; Wine 8 may return 0 instead,
  // which is what the probe is for.
  const int n = ::recv(pair.server, &byte, 1, 0);
  if (n == SOCKET_ERROR) {
    EXPECT_TRUE(net::is_reset(::WSAGetLastError())) << net::error_text(::WSAGetLastError());
  } else {
    ASSERT_EQ(n, 0);
  }
  EXPECT_TRUE(net::is_reset(kit::error_after_end_of_stream(pair.server)));
}

TEST(Winsock, IoTimeoutsMakeAStalledRecvFail) {
  Pair pair;
  ASSERT_TRUE(kit::set_io_timeouts(pair.server, 50ms));
  char byte = 0;
  EXPECT_EQ(::recv(pair.server, &byte, 1, 0), SOCKET_ERROR);
  EXPECT_EQ(::WSAGetLastError(), WSAETIMEDOUT);
}

TEST(Winsock, CloseGracefullySendsFinAndDrainsUntilThePeersFin) {
  Pair pair;
  ASSERT_EQ(::send(pair.client, "abc", 3, 0), 3);  // unread input on the server
  ASSERT_TRUE(kit::set_io_timeouts(pair.client, 10s));
  std::vector<char> buffer(64);
  const auto start = kit::Clock::now();
  // The peer closes too once it sees the FIN, so the drain ends early.
  ASSERT_TRUE(net::shutdown_send(pair.client));
  kit::close_gracefully(pair.server, false, buffer, 5s);
  EXPECT_LT(kit::Clock::now() - start, 4s);
  char byte = 0;
  EXPECT_EQ(::recv(pair.client, &byte, 1, 0), 0) << "the server's FIN";
}

TEST(Winsock, CloseGracefullyGivesUpAfterTheDrainTimeout) {
  Pair pair;
  std::vector<char> buffer(64);
  const auto start = kit::Clock::now();
  kit::close_gracefully(pair.server, false, buffer, 200ms);  // the peer never closes
  const auto took = kit::Clock::now() - start;
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 5s);
}

TEST(Winsock, ServeSignalledServesEverySignalledEventInOrder) {
  kit::Event events[4];
  const WSAEVENT handles[4] = {events[0].get(), events[1].get(), events[2].get(), events[3].get()};
  ::WSASetEvent(handles[1]);
  ::WSASetEvent(handles[3]);
  const DWORD rc = ::WSAWaitForMultipleEvents(4, handles, FALSE, 1000, FALSE);
  ASSERT_EQ(rc, WSA_WAIT_EVENT_0 + 1);
  std::vector<DWORD> served;
  EXPECT_TRUE(kit::serve_signalled(handles, 4, rc - WSA_WAIT_EVENT_0, [&](DWORD index) {
    served.push_back(index);
    ::WSAResetEvent(handles[index]);
  }));
  EXPECT_EQ(served, (std::vector<DWORD>{1, 3}));
}

TEST(Winsock, WaitAndServeServesEverySignalledEventOrTimesOut) {
  kit::Event events[3];
  const WSAEVENT handles[3] = {events[0].get(), events[1].get(), events[2].get()};
  std::vector<DWORD> served;
  const auto serve = [&](DWORD index) {
    served.push_back(index);
    ::WSAResetEvent(handles[index]);
  };
  // Nothing signalled: the wait ends at the deadline and serves nothing.
  const auto start = kit::Clock::now();
  EXPECT_TRUE(kit::wait_and_serve(handles, 3, start + 50ms, serve));
  EXPECT_GE(kit::Clock::now() - start, 40ms);
  EXPECT_TRUE(served.empty());
  ::WSASetEvent(handles[0]);
  ::WSASetEvent(handles[2]);
  EXPECT_TRUE(kit::wait_and_serve(handles, 3, kit::Clock::now() + 5s, serve));
  EXPECT_EQ(served, (std::vector<DWORD>{0, 2}));
}

}  // namespace
