// The portable parts of the accept failure policy (server/accept_policy.hpp):
// the rate-limited log. Its decisions depend on the platform's error codes
// and are tested with them in posix/accept_errors_test.cpp and
// win/frame_win_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "server/accept_policy.hpp"
#include "test_support.hpp"

namespace wsb::server {
namespace {

TEST(RateLimitedLog, OneLineASecondAndTheCountOfTheLinesDropped) {
  auto frame = test::make_frame({"--quiet"});
  RateLimitedLog log;
  ::testing::internal::CaptureStderr();
  log(*frame, "first");
  log(*frame, "second");
  log(*frame, "third");
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "test: first\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1050));
  ::testing::internal::CaptureStderr();
  log(*frame, "fourth");
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "test: fourth (2 similar messages suppressed)\n");
}

}  // namespace
}  // namespace wsb::server
