#include "proto/protocol.hpp"

#include <gtest/gtest.h>

#include "proto/client.hpp"
#include "proto/session.hpp"

namespace {

using namespace wsb::proto;

TEST(Protocol, NamesRoundTrip) {
  for (Protocol p : {Protocol::upper, Protocol::echo, Protocol::http}) {
    EXPECT_EQ(parse_protocol(name(p)), p);
  }
  EXPECT_EQ(name(Protocol::upper), "upper");
  EXPECT_EQ(name(Protocol::echo), "echo");
  EXPECT_EQ(name(Protocol::http), "http");
}

TEST(Protocol, ParseRejectsOtherSpellings) {
  EXPECT_FALSE(parse_protocol(""));
  EXPECT_FALSE(parse_protocol("HTTP"));
  EXPECT_FALSE(parse_protocol("upper "));
  EXPECT_FALSE(parse_protocol("ech"));
}

TEST(Protocol, DefaultPort) {
  EXPECT_EQ(default_port, 21234);
}

TEST(Protocol, ErrorNames) {
  EXPECT_EQ(name(SessionError::none), "none");
  EXPECT_EQ(name(SessionError::malformed), "malformed");
  EXPECT_EQ(name(SessionError::oversized), "oversized");
  EXPECT_EQ(name(SessionError::truncated), "truncated");
  EXPECT_EQ(name(SessionError::unsupported), "unsupported");
  EXPECT_EQ(name(ClientError::none), "none");
  EXPECT_EQ(name(ClientError::mismatch), "mismatch");
  EXPECT_EQ(name(ClientError::malformed), "malformed");
  EXPECT_EQ(name(ClientError::unexpected_close), "unexpected_close");
}

TEST(Protocol, EverySessionStartsOpen) {
  for (Protocol p : {Protocol::upper, Protocol::echo, Protocol::http}) {
    auto s = make_server_session(p);
    ASSERT_NE(s, nullptr);
    EXPECT_FALSE(s->closing());
    EXPECT_EQ(s->error(), SessionError::none);
    EXPECT_EQ(s->requests(), 0u);
    EXPECT_EQ(s->buffered(), 0u);
  }
}

}  // namespace
