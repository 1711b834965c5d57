// The command line and main() shared by the black-box harness programs
// (server-suite here, fault-suite in tests/fault): both take the same options
// for the server under test, check it exists, raise the descriptor limit
// (the server inherits it), ignore SIGPIPE, probe --skip-regex once and run
// GoogleTest.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "proto/protocol.hpp"

namespace wsb::suite {

struct HarnessProgram {
  std::string name;                 // "server-suite": prefixes messages and the skip line
  bool concurrency_option = false;  // accepts --concurrency N (into config().concurrency)
  // The start-up probe's limits for the ready line and for stopping, asked
  // after parsing (they depend on config().wine).
  std::function<std::chrono::milliseconds()> ready_limit;
  std::function<std::chrono::milliseconds()> stop_limit;
};

class ServerProcess;

// The flags every harness test starts a server with: an OS-chosen port on
// loopback, the protocol, a live line every 20 ms (50 ms under Wine, which
// wait_online() reads), then --args and `extra`.
std::vector<std::string> server_args(proto::Protocol p, const std::vector<std::string>& extra);

// After a failed test: the server's command line, how it ended (`ending`
// says why it is no longer running) and the tails of its stdout and stderr.
void print_server_output(ServerProcess& server, const std::string& ending);

// Removes the harness options from argv (into config()), then runs every
// test. Exit codes: RUN_ALL_TESTS()'s, 1 when --exe cannot be run, 2 on a
// usage error.
int harness_main(int argc, char** argv, const HarnessProgram& program);

}  // namespace wsb::suite
