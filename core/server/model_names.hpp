// The short names a server model file uses from the frame (namespace
// wsb::server::model). A model file opens its anonymous namespace with
//
//   using namespace wsb::server::model;
//
// and then writes Frame, Connection, StatsShard, ErrorClass, Clock, the
// accept failure policy (AcceptPolicy, AcceptAction) and the
// classify_*_error() functions without qualification, instead of repeating
// the same block of using-declarations in every file. What several models of
// one platform share beyond these names is that platform's kit
// (servers/win/kit, servers/posix/kit).
#pragma once

#include <chrono>

#include "server/accept_policy.hpp"
#include "server/connection.hpp"
#include "server/frame.hpp"
#include "server/options.hpp"
#include "server/stats.hpp"

namespace wsb::server::model {

using server::accept_pass_limit;
using server::AcceptAction;
using server::AcceptPolicy;
using server::classify_accept_error;
using server::classify_io_error;
using server::Connection;
using server::ErrorClass;
using server::Frame;
using server::RateLimitedLog;
using server::StatsShard;
// The clock of every deadline a model keeps (Connection's, too).
using Clock = std::chrono::steady_clock;

}  // namespace wsb::server::model
