// Winsock (or nothing, on POSIX) initialised once for a test binary whose
// tests touch sockets (namespace wsb::test), shared by the unit tests of
// every folder. Including this header registers the environment (once per
// binary: the registration is an inline variable).
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "platform/net.hpp"

namespace wsb::test {

class NetEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { startup_ = std::make_unique<net::Startup>(); }
  void TearDown() override { startup_.reset(); }

 private:
  std::unique_ptr<net::Startup> startup_;
};

// GoogleTest owns the environment and sets it up before the first test.
inline const auto* const net_environment = ::testing::AddGlobalTestEnvironment(new NetEnvironment);

}  // namespace wsb::test
