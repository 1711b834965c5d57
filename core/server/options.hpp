// What the command line of every server model configures, and the classes in
// which per-connection failures are counted (namespace wsb::server).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "platform/net.hpp"
#include "proto/protocol.hpp"

namespace wsb::server {

// Why a connection ended badly (or was never served). Each failure is counted
// once, in exactly one class.
enum class ErrorClass : std::uint8_t {
  malformed,           // protocol violation (session error malformed)
  oversized,           // a protocol bound was exceeded (session error oversized)
  truncated,           // the peer closed in the middle of a request
  unsupported,         // valid but not implemented (http Transfer-Encoding)
  reset,               // the peer reset or aborted the connection (net::is_reset)
  idle_timeout,        // closed by the server after --idle-timeout without traffic
  refused,             // accepted and closed at once: --max-connections were online
  accept_failed,       // accept()/AcceptEx failed for a reason other than the next two
  out_of_descriptors,  // EMFILE, ENFILE, WSAEMFILE, WSAENOBUFS (net::is_out_of_descriptors)
  io,                  // any other socket error (or out of memory while serving)
  banned,              // accepted and closed at once: the peer's address had --max-conns-per-ip
                       // online (that connection starts a --ban-time ban) or is banned
  slow_consumer,       // chat: closed because its unsent mail passed --max-pending
  count_               // number of classes, not a class
};

inline constexpr std::size_t error_class_count = static_cast<std::size_t>(ErrorClass::count_);

// "malformed", "oversized", "truncated", "unsupported", "reset",
// "idle_timeout", "refused", "accept_failed", "out_of_descriptors", "io", "banned",
// "slow_consumer".
std::string_view name(ErrorClass c) noexcept;

// The class of a failed send/recv/completion: reset, out_of_descriptors or io.
// Do not pass would-block codes: they are not failures.
ErrorClass classify_io_error(int code) noexcept;
// The class of a failed accept: reset (the peer gave up before it was
// accepted: ECONNABORTED, WSAECONNRESET), out_of_descriptors, or accept_failed.
ErrorClass classify_accept_error(int code) noexcept;

// --stall MS/EVERY_S, a test aid: the serving thread sleeps `pause` every
// `every`, so that the load generator's coordinated-omission correction can be
// checked against a server with known hiccups.
struct Stall {
  std::chrono::nanoseconds pause{0};
  std::chrono::nanoseconds every{0};
};

// --when-full: what a model does with a new client while --max-connections
// are online.
enum class WhenFull : std::uint8_t {
  refuse,  // accept it and close it at once, counted as refused
  queue,   // stop accepting: it waits in the kernel's accept queue (--backlog)
           // until a connection closes (seed 002's waiting line; nginx does the
           // same at worker_connections)
};

struct Options {
  std::string bind = "127.0.0.1";            // --bind: IPv4/IPv6 literal or localhost
  std::uint16_t port = proto::default_port;  // --port; 0 lets the OS pick (see the ready line)
  proto::Protocol protocol = proto::Protocol::upper;  // --protocol upper|echo|http|chat
  // --threads. The command line accepts 0 for "the model's default"; after
  // Frame::parse() this holds the effective count (never 0).
  int threads = 0;
  // --max-connections: 0 = unlimited (or the model's default, see
  // Frame::set_default_max_connections). Frame::admit() enforces it.
  int max_connections = 0;
  WhenFull when_full = WhenFull::refuse;  // --when-full refuse|queue
  // --max-conns-per-ip: connections one peer address (IP, any port) may have
  // online; 0 = unlimited. A connection beyond it is closed at once and bans
  // the address for --ban-time: every connection from it is then closed at
  // once. Frame::admit(shard, socket) enforces both.
  int max_conns_per_ip = 0;
  std::chrono::nanoseconds ban_time{std::chrono::seconds(10)};  // --ban-time
  std::chrono::nanoseconds idle_timeout{0};                     // --idle-timeout: 0 = never
  std::chrono::nanoseconds duration{0};                         // --duration: 0 = until stopped
  std::chrono::nanoseconds stats_interval{std::chrono::seconds(1)};  // --stats-interval
  std::string stats_csv;  // --stats-csv FILE: empty = none
  bool quiet = false;     // --quiet: no live line on stderr
  // --log-connections: one line on stderr per accepted, refused and closed
  // connection (server/connection_log.hpp).
  bool log_connections = false;
  // --max-pending: a connection stops reading while more than this many reply
  // bytes wait to be sent (backpressure); it resumes once they drain below.
  // Chat: a connection whose mail from other users (server::Outbox) passes
  // it is dropped as a slow consumer.
  std::size_t max_pending_output = std::size_t{1} << 20;
  int backlog = net::default_backlog();  // --backlog
  std::optional<Stall> stall;            // --stall MS/EVERY_S
};

// How often a model that finds idle connections by sweeping over all of them
// sweeps: an eighth of --idle-timeout, so that a connection is closed at most
// that much late, but between 1 ms and 250 ms; zero when --idle-timeout is
// off. A sweep is a bounded cost (one pass per interval) that needs no timer
// per connection.
std::chrono::steady_clock::duration idle_sweep_interval(const Options& options) noexcept;

}  // namespace wsb::server
