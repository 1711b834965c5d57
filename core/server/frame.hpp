// The frame every server model shares (namespace wsb::server): command line,
// listener, orderly shutdown, admission, statistics and reports. A model file
// only moves bytes between sockets and Connections (server/connection.hpp).
//
// The Frame itself runs the process around the model (the socket library,
// interrupts, "//q" on stdin, the stop request and its wake-up, the
// statistics shards and the reporter thread) and composes its three jobs,
// each its own class: CommandLine (server/command_line.hpp: the common
// options), StatsReporter (server/stats_reporter.hpp: the live line, the
// --stats-csv rows, the final statistics) and Admission
// (server/admission.hpp: --max-connections, --max-conns-per-ip, the online
// and peak counts), with ConnectionLog (server/connection_log.hpp:
// --log-connections). Models call the Frame only.
//
// A model's main() looks like this:
//
//   int main(int argc, char** argv) {
//     bool edge = false;
//     return wsb::server::run_model(
//         argc, argv,
//         {.name = "epoll", .description = "One thread, epoll(7), level-triggered."},
//         [&](Frame& frame) { frame.cli().add_flag("--edge", edge, "Edge-triggered"); },
//         [&](Frame& frame) {
//           wsb::net::socket_t listener = frame.open_listener({.nonblocking = true});
//           frame.start([&] { /* unblock the loops: write an eventfd, post a completion... */ });
//           StatsShard& shard = frame.shard();
//           while (!frame.stopping()) { /* accept: frame.admit(shard); serve Connections */ }
//           /* close sockets, join threads */
//           return frame.finish();
//         });
//   }
//
// run_model() constructs the Frame and parses the command line; a model
// without flags of its own leaves out the first function. Every model writes
// its ModelInfo there, in main(), with designated initializers: its name and
// the --help paragraph, and where they apply its default --threads and the
// reason it runs one thread only (ModelInfo below).
//
// The Frame owns the process's net::Startup: on Windows the last WSACleanup
// closes every socket still open, so close the model's sockets before the
// Frame is destroyed (or hold a Startup of your own).
//
// Construct the Frame first in main(), before any thread exists: it installs
// the interrupt watcher, which (on POSIX) blocks SIGINT/SIGTERM in the calling
// thread so that every thread created later inherits the mask and model loops
// never see EINTR from them (platform/interrupt.hpp).
//
// Command line (every model; server/command_line.hpp): --bind, --port,
// --protocol, --threads, --max-connections, --when-full, --max-conns-per-ip, --ban-time,
// --idle-timeout, --duration, --stats-interval, --stats-csv, --quiet,
// --log-connections,
// --max-pending, --backlog, --stall, --config, --print-config, --help,
// --version. Durations take units ("500ms", "3s", "2m"; a bare number is
// seconds). Models add their own flags to cli() before parse().
//
// Output contract (scripts and the load generator rely on it):
//  - Ready line. When the first listener is open, exactly one line goes to
//    stdout and stdout is flushed:
//        listening <addr>:<port> model=<name> protocol=<protocol>
//    e.g. "listening 127.0.0.1:21234 model=epoll protocol=upper", or
//    "listening [::1]:40123 model=iocp protocol=http"; the port is the real
//    one when --port 0 let the OS choose. Nothing else goes to stdout before it.
//  - Live line. Every --stats-interval, unless --quiet, one line on stderr:
//        [   12.0s] online 10 peak 12 accepted 1234 req/s 45678 in 1.23 MB/s out 1.23 MB/s errors 0
//    rewritten in place with '\r' when stderr is a terminal, else one line per
//    interval. On Windows the console title shows "OnLine: N" (the seeds' habit).
//  - --stats-csv FILE appends one row per interval and a last one at finish
//    (column final=1, whose rates are averages over the whole run), with a
//    header row when the file is new. Every row repeats the run's parameters
//    (version, model, protocol, platform, threads) so that runs can share a file.
//  - Final statistics. finish() prints "key: value" lines on stdout, one fact
//    per line, keys in snake_case, values without units in the key's unit:
//        model: epoll
//        protocol: upper
//        ...
//        errors.reset: 0
//        ...
//        exit_code: 0
//    so that a script can split each line at the first ": ". A model's own
//    figures (model_counter(), model_fact()) come before exit_code, as
//    "<model>.<name>: <value>".
//  - Connection lines. With --log-connections, one line on stderr per
//    accepted, refused and closed connection (server/connection_log.hpp):
//        connection closed 127.0.0.1:40312 reason=peer_closed received=12 sent=12
//  On Windows stdout and stderr are text-mode streams, so every line ends with
//  CR LF there; readers of these lines strip a trailing '\r'.
//
// Stop requests: SIGINT/SIGTERM (POSIX), Ctrl-C/Ctrl-Break/closing the console
// (Windows), the line "//q" on stdin (end of input is NOT a stop request), the
// end of --duration, request_stop() and fail(). Each of them makes stopping()
// true and calls the `wake` function given to start() exactly once, on a frame
// thread. A second Ctrl-C/SIGINT/SIGTERM while already stopping exits the
// process at once with status 130, without final statistics, for a server
// whose shutdown hangs.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "chat/hub.hpp"
#include "platform/net.hpp"
#include "server/admission.hpp"
#include "server/connection_log.hpp"
#include "server/options.hpp"
#include "server/stats.hpp"

namespace wsb::server {

class Connection;

class Frame {
 public:
  // model_name appears in the ready line and the reports ("iocp", "epoll");
  // description is the paragraph --help shows; default_threads is what
  // --threads 0 (the default) means for this model (0 or less: the number of
  // hardware threads). Only one Frame may exist at a time (std::logic_error). Initialises the
  // socket library (net::Startup) and installs the interrupt watcher.
  Frame(std::string_view model_name, std::string_view description, int default_threads = 1);
  ~Frame();
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;

  // The CLI11 application, for the model's own flags; add them before parse().
  CLI::App& cli();

  // What --max-connections 0 means for this model (e.g. a select() model bound
  // by FD_SETSIZE); 0 = unlimited. Call before parse(); --help shows it.
  void set_default_max_connections(int n);

  // Parses the command line. nullopt: go on and run. Otherwise the process
  // should return this exit code: 0 after --help or --version (printed to
  // stdout), 2 after a usage error (message and usage printed to stderr), 1
  // when the --stats-csv file cannot be opened for appending.
  std::optional<int> parse(int argc, const char* const* argv);

  const Options& options() const noexcept;
  std::string_view model_name() const noexcept;

  // Opens a listener for --bind/--port/--backlog (net::open_listener) and, the
  // first time, prints the ready line. Later calls (one SO_REUSEPORT listener
  // per thread) bind the port the first one got, so --port 0 works with them
  // too. With flags.reuse_port the first call refuses a port that another
  // socket holds (net::refuse_busy_port), as a listener without SO_REUSEPORT
  // would. Throws net::NetError.
  net::socket_t open_listener(net::ListenerFlags flags = {});
  // The address of the first listener (valid after open_listener()).
  const net::Endpoint& listen_endpoint() const noexcept;

  // Starts the frame's threads: the stats reporter (which also enforces
  // --duration) and the stdin "//q" watcher. `wake` is called exactly once, on
  // the reporter thread, when a stop is requested (at once if one already was),
  // so that the model can unblock its loops: close the listener, post a
  // completion, set an event, write an eventfd. It must not throw or block
  // for long. Call start() once.
  void start(std::function<void()> wake);

  // True once a stop was requested. Cheap (one relaxed atomic load): models may
  // test it on every loop iteration.
  bool stopping() const noexcept { return stopping_.load(std::memory_order_relaxed); }
  // Requests a stop. Any thread; idempotent; never blocks.
  void request_stop() noexcept;
  // A model thread hit a fatal error (e.g. its completion port failed): prints
  // "<model>: <message>" on stderr, makes finish() return 1, requests a stop.
  void fail(std::string_view message) noexcept;

  // A new statistics shard for the calling thread, which becomes its only
  // writer. Call once per I/O thread and keep the reference; it stays valid
  // until the Frame is destroyed. A thread that ends (thread-per-client
  // models) hands its shard back with retire(), and a later shard() call
  // reuses it, so shards do not accumulate with connection churn. The counts
  // of a retired shard are kept.
  StatsShard& shard();
  void retire(StatsShard& shard) noexcept;

  // Admission control, called by the accepting thread with its own shard.
  // Returns false, counting ErrorClass::refused, when --max-connections
  // connections are online: close the socket at once. Otherwise counts the
  // connection as accepted and online and returns true.
  bool admit(StatsShard& shard) noexcept { return admission_.admit(shard); }
  // A connection admitted earlier is closed: counts it on `shard` (the
  // calling thread's) and takes it off the online count.
  void release(StatsShard& shard) noexcept { admission_.release(shard); }

  // Admission with per-address limits (seed 002's defence): what admit(shard)
  // does, and with --max-conns-per-ip N also refuses, counting
  // ErrorClass::banned, a connection whose peer address (the IP, whatever the
  // port) already has N connections online, and bans that address for
  // --ban-time: until then every connection from it is refused the same way.
  // Connections already online stay. The peer address is read from `s`
  // (getpeername) only when --max-conns-per-ip is set; otherwise this costs
  // what admit(shard) costs. A socket admitted this way must be released with
  // release(shard, s), BEFORE it is closed (its descriptor could otherwise be
  // reused by another thread's next accept). With --log-connections these
  // two print the accept, refusal and close lines (server/connection_log.hpp).
  bool admit(StatsShard& shard, net::socket_t s) noexcept;
  void release(StatsShard& shard, net::socket_t s) noexcept { release(shard, s, nullptr); }
  // release(shard, s) that also tells --log-connections how the connection
  // ended (its Connection's close reason and byte counts): models pass the
  // Connection they served `s` with, while it still exists (null: none).
  void release(StatsShard& shard, net::socket_t s, const Connection* conn) noexcept;

  // --when-full queue (server/admission.hpp). has_room() is false only in
  // queue mode with --max-connections online: a model then stops accepting
  // (stops polling its listener, stops posting accepts, or its accept thread
  // waits in wait_for_room()), so that new clients wait in the kernel's
  // accept queue, and resumes when a connection closes. The room hook runs
  // on the thread whose release() made room, each time one does, to wake a
  // loop that stopped polling its listener; set it before start(). It must
  // not block. wait_for_room() blocks until there is room (true) or a stop
  // was requested (false). A model that accepts a connection it saw waiting
  // (e.g. its listener was readable while full) reports how long with
  // note_waited(): the final statistics print queue.waited and
  // queue.longest_wait_ms, the live line "waited N".
  bool has_room() const noexcept { return admission_.has_room(); }
  void set_room_hook(std::function<void()> hook) { admission_.set_room_hook(std::move(hook)); }
  bool wait_for_room() noexcept { return admission_.wait_for_room(stopping_); }
  void note_waited(std::chrono::steady_clock::duration waited) noexcept {
    admission_.note_waited(waited);
  }

  // The chat registry every connection of --protocol chat shares
  // (server/connection.hpp makes the sessions). Valid for the Frame's life:
  // destroy every Connection before the Frame.
  chat::Hub& hub() noexcept { return hub_; }

  std::uint64_t online() const noexcept { return admission_.online(); }
  std::uint64_t peak_online() const noexcept { return admission_.peak_online(); }
  // Sums every shard (relaxed loads).
  StatsTotals totals() const;

  // Figures of the model's own for the final statistics, printed after the
  // common ones, before exit_code, as "<model>.<name>: <value>" (e.g.
  // "iocp.inline_completions: 12"). model_counter() returns a counter that
  // any thread may add to (relaxed fetch_add); it stays valid until the
  // Frame is destroyed. model_fact() records a setting as text.
  std::atomic<std::uint64_t>& model_counter(std::string_view name);
  void model_fact(std::string_view name, std::string value);

  // Call after every model thread has stopped, on the thread that constructed
  // the Frame (it restores that thread's signal mask). `wake` may still be
  // running until finish() has joined the reporter, so keep what it touches
  // alive until then. Stops the frame threads, writes
  // the last --stats-csv row, prints the final statistics on stdout and
  // returns the process exit code (0, or 1 after fail()). Idempotent.
  int finish();

 private:
  struct Impl;
  // The Hub first, so that it outlives everything that reports it.
  chat::Hub hub_;
  // impl_ before admission_: admission_ reads the options that impl_'s
  // CommandLine holds.
  std::unique_ptr<Impl> impl_;
  Admission admission_;
  ConnectionLog connection_log_;
  std::atomic<bool> stopping_{false};
};

// Runs a model's main body and turns an escaping exception (NetError from
// open_listener, bad_alloc, ...) into "error: <what>" on stderr and exit code 1.
int run_guarded(const std::function<int()>& body) noexcept;

// What a model tells the Frame about itself: the Frame constructor's
// arguments, and whether --threads means anything to it.
struct ModelInfo {
  std::string_view name;
  std::string_view description;
  int default_threads = 1;
  // Set by a model whose threads are not --threads' to choose (one thread
  // serves every socket, or one thread per client): why, for the usage error
  // "<name>: --threads must be 1: <why>" (exit code 2) that run_model()
  // gives any other --threads value.
  const char* one_thread_reason = nullptr;
};

// A model's whole main(), so that every model starts the same way: under
// run_guarded(), constructs the Frame for `model`, lets `configure` add the
// model's own flags to cli() and set its defaults, parses the command line
// and returns what `serve` returns, or parse()'s exit code when the command
// line says not to run (--help, --version, a usage error), or 2 when
// --threads is not 1 for a model with a one_thread_reason.
int run_model(int argc, const char* const* argv, const ModelInfo& model,
              const std::function<void(Frame&)>& configure,
              const std::function<int(Frame&)>& serve) noexcept;
// run_model() for a model without flags or defaults of its own.
int run_model(int argc, const char* const* argv, const ModelInfo& model,
              const std::function<int(Frame&)>& serve) noexcept;

}  // namespace wsb::server
