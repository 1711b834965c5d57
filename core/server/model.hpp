// What a server model file includes from the frame, and the short names it
// uses (namespace wsb::server::model). A model file opens its anonymous
// namespace with
//
//   using namespace wsb::server::model;
//
// and then writes Frame, Connection, StatsShard, ErrorClass, Clock and the
// classify_*_error() functions without qualification, instead of repeating
// the same block of using-declarations in every file.
#pragma once

#include <chrono>

#include "server/connection.hpp"
#include "server/frame.hpp"
#include "server/options.hpp"
#include "server/stats.hpp"

namespace wsb::server::model {

using server::classify_accept_error;
using server::classify_io_error;
using server::Connection;
using server::ErrorClass;
using server::Frame;
using server::StatsShard;
// The clock of every deadline a model keeps (Connection's, too).
using Clock = std::chrono::steady_clock;

}  // namespace wsb::server::model
