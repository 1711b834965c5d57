// server-blocking-threads: blocking Winsock sockets, one thread per client.
//
// The seed notes' second server (003, "为每个连接开启一个线程"): the main
// thread blocks in accept(); every accepted client gets a thread of its own,
// which blocks in recv() and send() for that client only, so a slow client
// stalls nobody else. The price is one thread per connection: a stack, a
// kernel object, and a context switch whenever a client's data arrives.
//
// What the seed code gets wrong and this file does instead:
//  - Threads are created with a small stack *reservation* (64 KiB, flag
//    STACK_SIZE_PARAM_IS_A_RESERVATION). Without the flag the size is only the
//    initial commit and each thread reserves the executable's default (1 MiB
//    with MSVC, 2 MiB with MinGW's linker), so a thousand or two threads
//    exhaust a 32-bit address space. (Wine 8 rounds
//    every thread stack up to 1 MB whatever is asked, so the saving shows on
//    Windows only.)
//  - --max-connections caps the thread count (default 1000).
//  - Every thread is joined and its handle closed (the seed detaches them).
//  - Shutdown unblocks the threads: the wake function closes the listener and
//    every client socket. Winsock defines that closing a socket cancels the
//    blocking calls other threads have in progress on it (they fail with
//    WSAEINTR on Windows; under Wine 8 accept() fails with
//    ERROR_OPERATION_ABORTED and recv() with WSAEINVAL); shutdown() does not
//    wake a blocked recv() under Wine.
#include <winsock2.h>
#include <windows.h>
#include <process.h>

#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

#include "platform/net.hpp"
#include "kit/blocking.hpp"
#include "kit/winsock.hpp"
#include "server/model_names.hpp"
#include "server/socket_io.hpp"

namespace {

using namespace wsb::server::model;

constexpr unsigned stack_reservation = 64 * 1024;
constexpr int default_max_connections = 1000;
// Small, because there is one per thread: 1000 clients hold 16 MiB of buffers.
constexpr std::size_t recv_buffer_size = 16 * 1024;
// Chat: how long a send may make no progress before its client is dropped as
// a slow consumer (SO_SNDTIMEO; --idle-timeout replaces it when given).
constexpr std::chrono::seconds chat_send_timeout{2};

// SO_SNDTIMEO alone (kit::set_io_timeouts sets both directions).
bool set_send_timeout(SOCKET s, std::chrono::milliseconds timeout) noexcept {
  const DWORD ms = static_cast<DWORD>(timeout.count());
  return ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, reinterpret_cast<const char*>(&ms), sizeof ms) ==
         0;
}

// Chat (--protocol chat): other users' messages arrive in the connection's
// outbox from their senders' threads at any time, while this client's thread
// may sit in a blocking recv() for as long as the client says nothing. No
// blocking call can wait for a socket and for mail at once, so a chat client
// gets a second thread, its writer, and the two share the Connection under a
// lock: the reader blocks in recv() and feeds what arrives to the
// Connection; the writer sleeps on an auto-reset event until there is
// something to send (a reply of the reader's, or mail: the wake function
// only sets that event), then collects the mail and sends with the lock
// released (begin_send() freezes the bytes). The price is a second thread,
// stack and kernel object per chat client, and two context switches per
// delivery. An event rather than a condition variable: the wake function
// runs on the posting thread, which may be this client's own reader (a
// private message to oneself) while it holds the lock, and setting an event
// takes no lock a waiter holds.
class ChatExchange {
 public:
  // Before the Connection (see watch()). Throws std::runtime_error.
  ChatExchange()
      : wake_writer_(::CreateEventW(nullptr, FALSE, FALSE, nullptr)),
        wake_reader_(::CreateEventW(nullptr, FALSE, FALSE, nullptr)) {
    if (wake_writer_ == nullptr || wake_reader_ == nullptr) {
      close_events();
      throw std::runtime_error("CreateEventW failed");
    }
  }
  ~ChatExchange() { close_events(); }
  ChatExchange(const ChatExchange&) = delete;
  ChatExchange& operator=(const ChatExchange&) = delete;

  // Registers the wake function. The Connection must be constructed after
  // this object and destroyed before it: its destructor logs the user out,
  // after which no thread calls the wake function.
  void watch(Connection& conn) noexcept {
    conn.set_mail_wake(
        [](void* self) noexcept { ::SetEvent(static_cast<ChatExchange*>(self)->wake_writer_); },
        this);
  }

  // The exchange until the Connection is finished: this thread reads, a
  // writer thread sends. Returns 0, or the first failed call's error (not
  // counted yet, like exchange_blocking()); -1 when the writer could not
  // start.
  int run(SOCKET s, Connection& conn, std::span<char> buffer, bool& peer_closed) noexcept {
    socket_ = s;
    conn_ = &conn;
    const std::uintptr_t writer = ::_beginthreadex(nullptr, stack_reservation, &writer_main, this,
                                                   STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr);
    if (writer == 0) return -1;
    read(buffer, peer_closed);
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    ::SetEvent(wake_writer_);
    ::WaitForSingleObject(reinterpret_cast<HANDLE>(writer), INFINITE);
    ::CloseHandle(reinterpret_cast<HANDLE>(writer));
    return error_;
  }

 private:
  static unsigned __stdcall writer_main(void* self) {
    static_cast<ChatExchange*>(self)->write();
    return 0;
  }

  // Reads until the Connection is finished or a call failed; meanwhile the
  // writer drains the output (the reader waits while the output is over
  // --max-pending, or after the peer's FIN until the last reply is out).
  void read(std::span<char> buffer, bool& peer_closed) noexcept {
    for (;;) {
      bool may_read = false;
      {
        std::lock_guard lock(mutex_);
        if (error_ != 0 || conn_->finished()) return;
        may_read = !peer_closed && conn_->want_read();
      }
      if (!may_read) {
        ::WaitForSingleObject(wake_reader_, INFINITE);
        continue;
      }
      const std::ptrdiff_t n = wsb::net::recv_some(socket_, buffer);
      const int reset = n == 0 ? wsb::kit::error_after_end_of_stream(socket_) : 0;
      std::lock_guard lock(mutex_);
      // The writer ended the exchange and cancelled this recv(): its failure
      // (or the slow consumer) is what counts.
      if (error_ != 0 || conn_->finished()) return;
      if (n < 0 || reset != 0) {
        fail(n < 0 ? ::WSAGetLastError() : reset);
        return;
      }
      if (n == 0) {
        peer_closed = true;
        conn_->on_peer_closed();
      } else {
        conn_->on_received(buffer.first(static_cast<std::size_t>(n)));
      }
      ::SetEvent(wake_writer_);
    }
  }

  // Sends what the reader queued and what other users posted, until the
  // reader is done.
  void write() noexcept {
    for (;;) {
      std::span<const char> block;
      {
        std::lock_guard lock(mutex_);
        if (done_ || error_ != 0) return;
        if (conn_->collect_mail() && conn_->failed()) {
          // Too much mail unsent: a slow consumer, dropped (counted by the
          // Connection).
          ::SetEvent(wake_reader_);
          break;
        }
        if (conn_->want_write()) block = conn_->begin_send();
      }
      if (block.empty()) {
        ::WaitForSingleObject(wake_writer_, INFINITE);
        continue;
      }
      const std::ptrdiff_t n = wsb::net::send_some(socket_, block);
      std::lock_guard lock(mutex_);
      if (n < 0 && ::WSAGetLastError() == WSAETIMEDOUT) {
        // SO_SNDTIMEO (chat_send_timeout): the client took no byte for that
        // long while its messages waited. A slow consumer; the socket is in
        // an indeterminate state after the timeout and is closed.
        conn_->on_error(ErrorClass::slow_consumer);
        ::SetEvent(wake_reader_);
        break;
      }
      if (n < 0) {
        fail(::WSAGetLastError());
        break;
      }
      conn_->on_sent(static_cast<std::size_t>(n));
      ::SetEvent(wake_reader_);
    }
    stop_reader();
  }

  // The writer ended the exchange (a send failed, or mail made the client a
  // slow consumer) while the reader may be blocked in recv() on a client
  // that never sends. CancelIoEx ends that recv() (WSA_OPERATION_ABORTED)
  // without closing the socket, which stays the client thread's to release
  // and close. The reader may be just about to call recv(), so the cancel is
  // repeated until it is done.
  void stop_reader() noexcept {
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (done_) return;
      }
      ::CancelIoEx(reinterpret_cast<HANDLE>(socket_), nullptr);
      ::WaitForSingleObject(wake_writer_, 50);
    }
  }

  // Under mutex_. The reader blocked in recv() learns of a send failure
  // when the socket closes (the client thread closes it after run()); the
  // writer, from its event.
  void fail(int code) noexcept {
    if (error_ == 0) error_ = code;
    ::SetEvent(wake_reader_);
    ::SetEvent(wake_writer_);
  }

  void close_events() noexcept {
    if (wake_writer_ != nullptr) ::CloseHandle(wake_writer_);
    if (wake_reader_ != nullptr) ::CloseHandle(wake_reader_);
  }

  const HANDLE wake_writer_;  // auto-reset: output or mail waits
  const HANDLE wake_reader_;  // auto-reset: output drained, or a failure
  SOCKET socket_ = INVALID_SOCKET;
  std::mutex mutex_;            // guards the Connection and the two below
  Connection* conn_ = nullptr;  // shared by reader and writer under mutex_
  bool done_ = false;           // the reader is done: the writer ends
  int error_ = 0;               // the first failed call's error
};

class BlockingThreadsServer;

// One client and its thread. The node lives in BlockingThreadsServer::live_
// while the thread serves it, then in exited_ until the acceptor joins it.
struct Client {
  Client(BlockingThreadsServer& owner, SOCKET s, StatsShard& thread_shard)
      : server(owner), socket(s), shard(thread_shard) {}

  BlockingThreadsServer& server;
  const SOCKET socket;
  // The client thread's statistics shard, taken by the acceptor (where running
  // out of memory can be handled) and written only by the client thread.
  StatsShard& shard;
  // Written and read by the acceptor thread only.
  HANDLE thread = nullptr;
  // Guarded by the server's mutex. True once the socket is closed, by the
  // client thread or by the wake function, so that it is closed exactly once.
  bool closed = false;
  std::list<Client>::iterator self;  // this node, for splicing it between lists
};

class BlockingThreadsServer {
 public:
  BlockingThreadsServer(Frame& frame, SOCKET listener)
      : frame_(frame),
        listener_(listener),
        started_(::CreateEventW(nullptr, FALSE, FALSE, nullptr)) {
    if (started_ == nullptr) {
      throw std::runtime_error("CreateEventW failed: " +
                               wsb::net::error_text(static_cast<int>(::GetLastError())));
    }
  }
  ~BlockingThreadsServer() { ::CloseHandle(started_); }
  BlockingThreadsServer(const BlockingThreadsServer&) = delete;
  BlockingThreadsServer& operator=(const BlockingThreadsServer&) = delete;

  // The accept loop: runs on the main thread until a stop is requested, then
  // joins every client thread.
  void run() {
    StatsShard& shard = frame_.shard();
    for (;;) {
      const SOCKET s = wsb::kit::accept_blocking(frame_, accept_policy_, listener_.get(), shard);
      join_exited();
      if (s == INVALID_SOCKET) break;
      // The thread cap: admit() refuses once --max-connections clients (and
      // so client threads) are online.
      if (!frame_.admit(shard, s)) {
        ::closesocket(s);
        continue;
      }
      start_client(s, shard);
    }
    close_listener();
    join_all();
  }

  // Called once, on a frame thread, when a stop is requested: closes the
  // listener and every client socket, which makes the blocked accept(),
  // recv() and send() calls fail.
  void wake() noexcept {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    listener_.close();
    for (Client& client : live_) {
      if (!client.closed) {
        ::closesocket(client.socket);
        client.closed = true;
      }
    }
  }

 private:
  static unsigned __stdcall client_main(void* arg) {
    Client& client = *static_cast<Client*>(arg);
    ::SetEvent(client.server.started_);
    client.server.serve(client);
    return 0;
  }

  void start_client(SOCKET s, StatsShard& acceptor_shard) {
    Client* client = nullptr;
    StatsShard* client_shard = nullptr;
    try {
      client_shard = &frame_.shard();
      std::lock_guard lock(mutex_);
      // After a stop the wake function has run and would not close this socket.
      if (!stopped_) {
        live_.emplace_back(*this, s, *client_shard);
        client = &live_.back();
        client->self = std::prev(live_.end());
      }
    } catch (const std::bad_alloc&) {
      acceptor_shard.error(ErrorClass::io);
    }
    if (client == nullptr) {
      if (client_shard != nullptr) frame_.retire(*client_shard);
      frame_.release(acceptor_shard, s);
      ::closesocket(s);
      return;
    }

    // _beginthreadex rather than CreateThread so that the C runtime sets up
    // its per-thread state; it passes the flag on to CreateThread.
    const std::uintptr_t handle = ::_beginthreadex(nullptr, stack_reservation, &client_main, client,
                                                   STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr);
    if (handle == 0) {
      // Out of memory or address space for another thread stack: the nearest
      // error class is running out of resources.
      abandon(*client, *client_shard, acceptor_shard);
      return;
    }
    client->thread = reinterpret_cast<HANDLE>(handle);
    // Wait until the thread runs. A thread can also end before it reaches
    // client_main when the system cannot set it up: under Wine 8 that happens
    // once the process runs out of file descriptors, because every Wine thread
    // needs pipes of its own to wineserver. Its client would otherwise wait
    // unserved until shutdown. One event serves every start, since the
    // acceptor starts one thread at a time.
    const HANDLE waits[2] = {started_, client->thread};
    if (::WaitForMultipleObjects(2, waits, FALSE, INFINITE) == WAIT_OBJECT_0 + 1) {
      ::CloseHandle(client->thread);
      abandon(*client, *client_shard, acceptor_shard);
    }
  }

  // A client whose thread never ran: the acceptor undoes start_client().
  void abandon(Client& client, StatsShard& client_shard, StatsShard& acceptor_shard) noexcept {
    acceptor_shard.error(ErrorClass::out_of_descriptors);
    frame_.release(acceptor_shard, client.socket);  // before closesocket(): see Frame::release
    {
      std::lock_guard lock(mutex_);
      if (!client.closed) ::closesocket(client.socket);
      live_.erase(client.self);
    }
    frame_.retire(client_shard);
  }

  // Runs on the client's thread.
  void serve(Client& client) noexcept {
    StatsShard& shard = client.shard;
    const SOCKET s = client.socket;
    // Released before closesocket() (see Frame::release), with the
    // Connection when there is one, so that --log-connections can say why
    // and how much.
    bool released = false;
    try {
      std::vector<char> buffer(recv_buffer_size);
      // Chat only; before the Connection, which must not outlive it.
      std::optional<ChatExchange> chat;
      if (frame_.options().protocol == wsb::proto::Protocol::chat) chat.emplace();
      Connection conn(frame_, shard);
      if (chat) chat->watch(conn);
      bool peer_closed = false;
      // A clean close: FIN, then read until the peer's FIN (or
      // drain_timeout) before closesocket(), so that unread input does not
      // reset the connection under the last reply.
      if (talk(s, conn, buffer, chat ? &*chat : nullptr, peer_closed) && !frame_.stopping()) {
        wsb::kit::close_gracefully(s, peer_closed, buffer, wsb::kit::drain_timeout);
      }
      frame_.release(shard, s, &conn);
      released = true;
    } catch (const std::exception&) {
      // No memory, or no event object for a chat client.
      if (!frame_.stopping()) shard.error(ErrorClass::io);
    }
    if (!released) frame_.release(shard, s);
    {
      std::lock_guard lock(mutex_);
      if (!client.closed) {
        ::closesocket(s);
        client.closed = true;
      }
      // Hand the node to the acceptor, which joins this thread. splice() moves
      // the node without allocating, so this cannot fail. The node is not
      // touched after the lock is released.
      exited_.splice(exited_.end(), live_, client.self);
    }
    frame_.retire(shard);
  }

  // The request/reply loop. False when a recv()/send() failed (counted unless
  // a stop is in progress); true when the connection ended cleanly.
  bool talk(SOCKET s, Connection& conn, std::span<char> buffer, ChatExchange* chat,
            bool& peer_closed) noexcept {
    if (!wsb::net::set_nodelay(s)) return count_failure(conn, ::WSAGetLastError());
    // A stalled client blocks only its own thread, so the socket timeouts are
    // set only when --idle-timeout asks for them.
    const std::chrono::nanoseconds idle = frame_.options().idle_timeout;
    if (idle.count() > 0 && !wsb::kit::set_io_timeouts(s, idle)) {
      return count_failure(conn, ::WSAGetLastError());
    }

    if (chat != nullptr) {
      // The writer's blocking send() must come back to drop a client that
      // reads nothing; without --idle-timeout only the send direction gets
      // a timeout (a chat client may listen in silence for as long as it
      // likes).
      if (idle.count() == 0 && !set_send_timeout(s, chat_send_timeout)) {
        return count_failure(conn, ::WSAGetLastError());
      }
      const int failed = chat->run(s, conn, buffer, peer_closed);
      // -1: no writer thread could start.
      if (failed == -1) return count_failure(conn, ERROR_NOT_ENOUGH_MEMORY);
      if (failed != 0) return count_failure(conn, failed);
      return !conn.failed();
    }
    // Request after request, each reply sent in full before the next recv();
    // a recv() or send() blocks until it progresses, SO_RCVTIMEO /
    // SO_SNDTIMEO expires or the wake function closes the socket.
    if (const int failed = wsb::server::exchange_blocking(
            s, conn, buffer, wsb::kit::error_after_end_of_stream, peer_closed);
        failed != 0) {
      return count_failure(conn, failed);
    }
    return !conn.failed();
  }

  // A recv()/send() failed (kit/blocking.hpp says what is counted).
  // Returns false for talk().
  bool count_failure(Connection& conn, int code) noexcept {
    return wsb::kit::count_blocking_failure(frame_, conn, code);
  }

  // Joins the threads that have finished serving. Called by the acceptor after
  // every accept(), so finished threads never pile up while clients arrive.
  void join_exited() noexcept {
    std::list<Client> done;
    {
      std::lock_guard lock(mutex_);
      done.splice(done.end(), exited_);
    }
    for (Client& client : done) {
      // The thread is past its last use of the node; wait for it to return.
      ::WaitForSingleObject(client.thread, INFINITE);
      ::CloseHandle(client.thread);
    }
  }

  // After the accept loop: waits until every client thread has returned. The
  // wake function has closed (or is about to close) their sockets, so each
  // one's blocked call fails and the thread exits.
  void join_all() {
    std::vector<HANDLE> threads;
    {
      std::lock_guard lock(mutex_);
      for (const Client& client : live_) {
        threads.push_back(client.thread);
      }
      for (const Client& client : exited_) {
        threads.push_back(client.thread);
      }
    }
    for (HANDLE thread : threads) {
      ::WaitForSingleObject(thread, INFINITE);
      ::CloseHandle(thread);
    }
    std::lock_guard lock(mutex_);
    live_.clear();
    exited_.clear();
  }

  void close_listener() noexcept {
    std::lock_guard lock(mutex_);
    listener_.close();
  }

  Frame& frame_;
  AcceptPolicy accept_policy_{frame_, "accept"};  // the acceptor's
  wsb::kit::BlockingListener listener_;           // closed under mutex_
  // Auto-reset; set by each client thread as its first act (see start_client).
  const HANDLE started_;

  // Guards the members below; shared by the acceptor, the client threads and
  // wake(). Never held across a blocking socket call.
  std::mutex mutex_;
  bool stopped_ = false;
  std::list<Client> live_;    // clients whose thread is serving them
  std::list<Client> exited_;  // clients whose thread is done, to be joined
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "blocking-threads",
       .description =
           "Blocking sockets, one thread per client (seed 003): the main thread blocks in "
           "accept() and starts a thread with a 64 KiB stack reservation for each client, which "
           "blocks in recv()/send() for that client alone. --max-connections caps the threads "
           "(default 1000); --idle-timeout becomes SO_RCVTIMEO/SO_SNDTIMEO. --threads must be 1 "
           "(the acceptor). With --protocol chat each client also gets a writer thread, which "
           "sends other users' messages.",
       .one_thread_reason =
           "this model starts one thread per client (cap them with --max-connections)"},
      [](Frame& frame) { frame.set_default_max_connections(default_max_connections); },
      [](Frame& frame) {
        // --idle-timeout becomes SO_RCVTIMEO/SO_SNDTIMEO, which needs the
        // listener's WSA_FLAG_OVERLAPPED (kit/blocking.hpp).
        return wsb::kit::serve_blocking<BlockingThreadsServer>(frame);
      });
}
