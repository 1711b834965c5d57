// The client of bench-roundtrip (namespace wsb::bench): N connections to one
// server, each keeping exactly one request outstanding (a closed loop), on
// one epoll loop in the calling thread. Every response is verified by a
// wsb::proto::ClientDriver and its round trip recorded in a histogram.
//
// Linux only (epoll). On Windows the load generator (loadgen, IOCP engine)
// drives the servers instead.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "hdr/histogram.hpp"
#include "platform/net.hpp"
#include "proto/buffer.hpp"
#include "proto/client.hpp"

namespace wsb::bench {

// Why a run cannot go on: a connection failed or was closed, a response did
// not verify, or nothing arrived within the stall timeout. what() is a
// complete sentence.
class RoundTripError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RoundTripClient {
 public:
  // Opens `connections` non-blocking connections to server and waits until
  // all are established. `timeout` bounds that wait and every later wait for
  // progress (a reply, the drain). Throws RoundTripError.
  RoundTripClient(const net::Endpoint& server, std::size_t connections,
                  const proto::ClientFactory& factory, std::chrono::milliseconds timeout);
  // Closes every connection (a FIN: the server sees a normal end).
  ~RoundTripClient();
  RoundTripClient(const RoundTripClient&) = delete;
  RoundTripClient& operator=(const RoundTripClient&) = delete;

  // Runs the closed loop until at least `responses` more responses have been
  // verified, recording each round trip (ns) in latency. Returns the number
  // verified, which may exceed `responses` by what one epoll_wait delivered.
  // The first call sends the first request on every connection; between calls
  // the requests in flight stay in flight. Throws RoundTripError.
  std::uint64_t run(std::uint64_t responses, hdr::Histogram& latency);

  // Stops sending and collects the responses still outstanding, so that the
  // connections end with nothing in flight. Bounded by the timeout; throws
  // RoundTripError when it expires.
  void drain();

 private:
  struct Connection {
    int fd = -1;
    std::unique_ptr<proto::ClientDriver> driver;
    ByteBuffer out;
    std::int64_t sent_at_ns = 0;  // when the outstanding request was written
    bool want_write = false;      // EPOLLOUT is registered: output is pending
  };

  void connect_all(const net::Endpoint& server);
  void send_request(std::size_t index, std::int64_t now_ns);
  void flush(std::size_t index);
  // Reads what has arrived on a connection, verifies it, records the round
  // trips (unless latency is null) and sends the next requests (unless
  // draining); returns the responses completed.
  std::uint64_t receive(std::size_t index, hdr::Histogram* latency);
  // One epoll_wait (at most 100 ms) and the handling of its events.
  std::uint64_t poll_once(hdr::Histogram* latency);
  void set_events(std::size_t index, bool want_write);

  std::chrono::milliseconds timeout_;
  int epoll_fd_ = -1;
  std::vector<Connection> connections_;
  std::vector<char> receive_buffer_;
  std::uint64_t in_flight_ = 0;  // requests written whose responses are not complete
  bool started_ = false;
  bool draining_ = false;
};

}  // namespace wsb::bench
