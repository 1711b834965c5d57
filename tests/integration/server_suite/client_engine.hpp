// The suite's multi-connection client (namespace wsb::suite): one thread,
// non-blocking sockets, epoll(7), bounded by a deadline. Every request is
// written and every response verified by a wsb::proto::ClientDriver, so the
// suite checks the servers with the same code the load generator uses, and
// that code is itself unit-tested without sockets.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/client.hpp"
#include "test_socket.hpp"

namespace wsb::suite {

// Requests written together (pipelined) by one driver. A client writes a
// batch, waits until every response of it is verified, then starts the next
// batch with a fresh driver: between batches nothing is outstanding, so each
// batch may use a driver of a different configuration (request size).
struct Batch {
  const proto::ClientFactory* factory = nullptr;
  std::uint64_t stream = 0;  // the driver's random stream (ClientFactory::make)
  std::size_t requests = 1;
};

// What one connection does.
struct ClientPlan {
  std::vector<Batch> batches;
  // Dribbling: at most this many bytes per send() (0: no limit), with
  // `write_pause` between sends.
  std::size_t write_chunk = 0;
  std::chrono::milliseconds write_pause{0};
  // Backpressure: the client does not read for this long after connecting,
  // while it keeps writing.
  std::chrono::milliseconds read_delay{0};
  // SO_RCVBUF set before connecting (0: the system default). A small receive
  // buffer makes the server's sends block sooner.
  int receive_buffer = 0;
};

struct EngineOptions {
  Clock::time_point deadline;
  // true: a client that finished keeps its connection open, and is checked
  // for unexpected input or closure, until every client has finished; only
  // then are all connections closed. This is what proves that a server serves
  // all of them at once: one that served connections one after another would
  // never finish the second. false: each client closes as soon as it is done.
  bool hold_until_all_done = false;
};

struct EngineResult {
  std::uint64_t requests = 0;   // requests written
  std::uint64_t responses = 0;  // responses received and verified
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::size_t clients = 0;
  std::size_t finished = 0;  // clients that completed their plan
  std::size_t failed = 0;
  std::vector<std::string> failures;  // the first few, with the client's state
  std::chrono::milliseconds elapsed{0};

  bool ok() const noexcept { return failed == 0 && finished == clients; }
  // One paragraph for an assertion message.
  std::string summary() const;
};

// Connects one socket per plan to `target` at once and runs them all until
// each has finished or failed, or the deadline passes (every unfinished
// client then fails with a description of where it stood).
EngineResult run_clients(const Target& target, const std::vector<ClientPlan>& plans,
                         const EngineOptions& options);

}  // namespace wsb::suite
