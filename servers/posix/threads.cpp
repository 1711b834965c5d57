// server-threads: blocking sockets, one thread per client.
//
// The counterpart of Winsock's blocking thread-per-client server: the main
// thread blocks in accept(), and every connection gets a thread of its own
// that blocks in recv() and send(). The code is the simplest of all models;
// the price is a thread (a stack, a kernel task, a context switch per
// request) per connection.
//
//   main:    accept4 -> admit -> pthread_create(serve) ; reap finished threads
//   thread:  recv -> Connection -> send everything -> ... -> close
//            (chat: poll() on the socket and the connection's own eventfd,
//            which other threads' mail rings; see serve())
//   stop:    the frame's wake function shuts the listener down, which makes
//            the blocked accept() fail; main then shuts down every client
//            socket (SHUT_RDWR), which makes blocked recv()/send() calls
//            return, and joins every thread before the final statistics
//
// Threads are created with a small stack (64 KiB instead of glibc's default
// of 8 MiB of address space) because the serving code needs little and a
// thousand threads would otherwise reserve 8 GiB. --max-connections caps the
// number of threads (default 2000: 125 MiB of stacks, a cap on what a
// connection flood can make the server allocate, yet above the 1200
// concurrent clients the conformance suite asks of the models that allow
// them); --threads is not used (the connections decide the thread count). --idle-timeout becomes
// SO_RCVTIMEO/SO_SNDTIMEO, so that a stalled client cannot hold its thread for ever.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kit/loop_mail.hpp"
#include "platform/net.hpp"
#include "server/model_names.hpp"

namespace {

using namespace wsb::server::model;

constexpr std::size_t stack_size = 64 * 1024;
// Each thread's receive buffer, on the heap rather than on the small stack.
constexpr std::size_t receive_buffer_size = 16 * 1024;
constexpr int default_max_connections = 2000;

class Server {
 public:
  Server(Frame& frame, int listener) : frame_(frame), listener_(listener) {
    pthread_attr_init(&attr_);
    // glibc may need more than PTHREAD_STACK_MIN for its own TLS; never ask
    // for less than the system minimum.
    const long minimum = ::sysconf(_SC_THREAD_STACK_MIN);
    const std::size_t size =
        std::max<std::size_t>(stack_size, minimum > 0 ? static_cast<std::size_t>(minimum) : 0);
    if (const int rc = pthread_attr_setstacksize(&attr_, size); rc != 0) {
      throw std::runtime_error("pthread_attr_setstacksize failed: " + wsb::net::error_text(rc));
    }
  }
  ~Server() { pthread_attr_destroy(&attr_); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The accepting loop, on the main thread, until a stop is requested.
  void accept_loop() {
    StatsShard& shard = frame_.shard();
    while (!frame_.stopping()) {
      // --when-full queue at --max-connections: no accept() until a
      // connection closes; new clients wait in the kernel's accept queue.
      if (!frame_.has_room()) {
        if (!full_since_) full_since_ = Clock::now();
        if (!frame_.wait_for_room()) break;  // stopping
        continue;
      }
      note_wait();
      const int fd = wsb::net::accept_connection(listener_);
      if (fd < 0) {
        const int code = wsb::net::last_error();
        if (frame_.stopping()) break;  // the listener was shut down
        switch (accept_policy_.handle(code, listener_, shard)) {
          case AcceptAction::retry:
            continue;
          case AcceptAction::wait: {
            // A blocking accept() fails at once in this state instead of
            // waiting, so wait for a client here (bounded, for stop
            // requests); by then a thread may have freed a descriptor.
            pollfd arrival{listener_, POLLIN, 0};
            ::poll(&arrival, 1, static_cast<int>(AcceptPolicy::pause_for.count()));
            continue;
          }
          case AcceptAction::pause:
            break;
          case AcceptAction::stop:
            return;  // the policy told the frame, which is stopping
        }
        // No spare, or an unexpected failure that would recur at once.
        std::this_thread::sleep_for(AcceptPolicy::pause_for);
        continue;
      }
      reap_finished();
      if (!frame_.admit(shard, fd)) {  // counted as refused (or banned)
        ::close(fd);
        continue;
      }
      start_thread(fd, shard);
    }
  }

  // The wait of a queued client, as far as the accepting thread can see it:
  // from when the server was first found full until the accept, for each
  // client found waiting (the listener readable) before its accept (an
  // upper bound for those that came later). Once nobody waits, the count
  // starts afresh at the next full server.
  void note_wait() noexcept {
    if (!full_since_) return;
    pollfd waiting{listener_, POLLIN, 0};
    if (::poll(&waiting, 1, 0) == 1) {
      frame_.note_waited(Clock::now() - *full_since_);
    } else {
      full_since_.reset();
    }
  }

  // After the accept loop: unblocks every serving thread and joins all.
  void stop_and_join() {
    std::vector<pthread_t> threads;
    {
      std::lock_guard lock(mutex_);
      // A thread takes its descriptor out of live_ before closing it, so
      // every descriptor seen here is still open and still that client's.
      for (const auto& [fd, thread] : live_) {
        ::shutdown(fd, SHUT_RDWR);
        threads.push_back(thread);
      }
      threads.insert(threads.end(), finished_.begin(), finished_.end());
      finished_.clear();
    }
    // Threads still running will add themselves to finished_ on the way
    // out; they are joined here already, so that list is dropped afterwards.
    for (const pthread_t t : threads)
      pthread_join(t, nullptr);
  }

 private:
  struct Task {
    Server* server;
    int fd;
  };

  static void* thread_main(void* arg) noexcept {
    const std::unique_ptr<Task> task(static_cast<Task*>(arg));
    task->server->serve(task->fd);
    return nullptr;
  }

  void start_thread(int fd, StatsShard& shard) noexcept {
    // Replies are small and sent at once; Nagle's algorithm would hold them
    // back waiting for the client's ACK.
    wsb::net::set_nodelay(fd);
    const auto idle = frame_.options().idle_timeout;
    if (idle.count() > 0) {
      // Blocking calls return EAGAIN after this long, and the thread checks
      // the connection's idle time: a silent client cannot hold its thread.
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(idle).count();
      timeval tv{};
      tv.tv_sec = static_cast<time_t>(us / 1'000'000);
      tv.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    Task* task = new (std::nothrow) Task{this, fd};
    int rc = task == nullptr ? ENOMEM : 0;
    if (rc == 0) {
      // The entry exists before the thread does, and both happen under the
      // lock, so the thread's removal of its entry on exit always finds it.
      std::lock_guard lock(mutex_);
      try {
        const auto entry = live_.emplace(fd, pthread_t{}).first;
        rc = pthread_create(&entry->second, &attr_, &Server::thread_main, task);
        if (rc != 0) live_.erase(entry);
      } catch (const std::bad_alloc&) {
        rc = ENOMEM;
      }
    }
    if (rc != 0) {
      delete task;
      // Out of threads or memory: the connection cannot be served.
      shard.error(ErrorClass::io);
      log_(frame_, "pthread_create: " + wsb::net::error_text(rc) + "; connection closed");
      frame_.release(shard, fd);
      ::close(fd);
    }
  }

  // Joins the threads that have finished, so that their stacks do not pile
  // up between connections.
  void reap_finished() noexcept {
    std::vector<pthread_t> done;
    {
      std::lock_guard lock(mutex_);
      done.swap(finished_);
    }
    for (const pthread_t t : done)
      pthread_join(t, nullptr);
  }

  // The body of a serving thread: blocking recv, then send every reply byte
  // before the next recv, so the reply queue never exceeds one receive's
  // worth and backpressure takes care of itself.
  //
  // Chat (--protocol chat): other users' messages for this connection are
  // posted by the threads serving their senders, while this thread may be
  // blocked in recv() or send(). With chat the socket is therefore
  // non-blocking, and the thread waits in poll() on it and on an eventfd of
  // its own (a kit::LoopMail of one connection), which the wake function
  // writes: woken by it, the thread collects the mail and sends it, and a
  // recipient whose mail overflowed --max-pending while it did not read is
  // dropped even while its thread waits to send. That costs an eventfd per
  // connection and a poll() per receive, so only the chat protocol pays it.
  void serve(int fd) noexcept {
    StatsShard& shard = frame_.shard();
    {
      const std::unique_ptr<char[]> buffer(new (std::nothrow) char[receive_buffer_size]);
      // Before the Connection, so that it is destroyed after it: the
      // Connection's end logs its user out, after which nobody posts to it.
      std::unique_ptr<wsb::kit::LoopMail> mail;
      Connection conn(frame_, shard);
      if (buffer == nullptr) conn.on_error(ErrorClass::io);
      if (frame_.options().protocol == wsb::proto::Protocol::chat && !conn.finished()) {
        try {
          mail = std::make_unique<wsb::kit::LoopMail>();
          // The mail names only this connection: filed under 0, so that
          // the list of addresses stays one entry long.
          conn.set_mail_wake(&wsb::kit::LoopMail::wake, mail->address(0));
          ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        } catch (const std::exception& e) {
          log_(frame_, std::string("chat mail for a connection: ") + e.what());
          conn.on_error(ErrorClass::io);
        }
      }
      while (!conn.finished() && !frame_.stopping()) {
        if (conn.want_read() && (!mail || wait_for(fd, POLLIN, *mail, conn))) {
          receive(fd, buffer.get(), conn);
        }
        send_all(fd, conn, mail.get());
        // A connection that wants neither to read nor to write is finished;
        // this only guards against a spin should that ever not hold.
        if (!conn.want_read() && !conn.want_write()) break;
      }
      frame_.release(shard, fd, &conn);  // before close(): the number may be reused
    }
    {
      std::lock_guard lock(mutex_);
      live_.erase(fd);
      finished_.push_back(pthread_self());
    }
    ::close(fd);
    frame_.retire(shard);
  }

  // Chat: waits until the socket is ready for `events` (true) or mail came,
  // which it collects (false). A quiet connection is checked for
  // --idle-timeout.
  bool wait_for(int fd, short events, wsb::kit::LoopMail& mail, Connection& conn) noexcept {
    pollfd fds[2] = {{fd, events, 0}, {mail.fd(), POLLIN, 0}};
    const auto idle = frame_.options().idle_timeout;
    const int timeout =
        idle.count() > 0
            ? static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(idle).count())
            : -1;
    const int ready = ::poll(fds, 2, timeout);
    if (ready == 0) {
      conn.expire_if_idle(Clock::now());
      return false;
    }
    if (ready < 0) return false;  // EINTR: look again
    if (fds[1].revents != 0) {
      mail.take(mail_fds_of_thread());
      conn.collect_mail();
    }
    return fds[0].revents != 0;
  }

  // take()'s list for the calling thread (it names only this connection).
  static std::vector<int>& mail_fds_of_thread() noexcept {
    thread_local std::vector<int> fds;
    return fds;
  }

  void receive(int fd, char* buffer, Connection& conn) noexcept {
    const auto n = wsb::net::recv_some(fd, {buffer, receive_buffer_size});
    if (n > 0) {
      conn.on_received({buffer, static_cast<std::size_t>(n)});
    } else if (n == 0) {
      if (frame_.stopping()) return;  // our own shutdown(), not the peer
      conn.on_peer_closed();
    } else if (wsb::net::would_block(wsb::net::last_error())) {
      conn.expire_if_idle(Clock::now());  // SO_RCVTIMEO elapsed
    } else if (!frame_.stopping()) {
      conn.on_error(classify_io_error(wsb::net::last_error()));
    }
  }

  // Sends every reply byte (with chat, also mail that comes meanwhile).
  void send_all(int fd, Connection& conn, wsb::kit::LoopMail* mail) noexcept {
    while (conn.want_write()) {
      const auto n = wsb::net::send_some(fd, conn.pending());
      if (n >= 0) {
        conn.on_sent(static_cast<std::size_t>(n));
      } else if (mail != nullptr && wsb::net::would_block(wsb::net::last_error())) {
        wait_for(fd, POLLOUT, *mail, conn);  // the socket buffer is full
      } else if (wsb::net::would_block(wsb::net::last_error())) {
        // SO_SNDTIMEO elapsed: the client does not read.
        if (conn.expire_if_idle(Clock::now())) return;
      } else {
        if (frame_.stopping()) return;
        conn.on_error(classify_io_error(wsb::net::last_error()));
      }
    }
  }

  Frame& frame_;
  const int listener_;
  pthread_attr_t attr_{};
  std::mutex mutex_;
  std::unordered_map<int, pthread_t> live_;  // open client descriptor -> its thread
  std::vector<pthread_t> finished_;          // threads that are done, not yet joined
  // --when-full queue: since when the server has been found full (note_wait()).
  std::optional<Clock::time_point> full_since_;
  AcceptPolicy accept_policy_{frame_, "accept"};
  RateLimitedLog& log_ = accept_policy_.log();
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "threads",
       .description =
           "Blocking sockets, one thread per client (64 KiB stacks). The main thread blocks in "
           "accept(); --max-connections caps the threads; --threads is not used."},
      [](Frame& frame) { frame.set_default_max_connections(default_max_connections); },
      [](Frame& frame) {
        const int listener = frame.open_listener({});
        Server server(frame, listener);
        // shutdown() on a listening socket makes a blocked accept() return
        // (EINVAL) on Linux; close() would not, and could even let the number be
        // reused under the blocked call.
        frame.start([listener] { ::shutdown(listener, SHUT_RDWR); });
        server.accept_loop();
        server.stop_and_join();
        const int code = frame.finish();
        // Only now: finish() has stopped the thread that calls the wake function.
        ::close(listener);
        return code;
      });
}
