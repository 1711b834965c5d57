// server-async-select: WSAAsyncSelect, socket events as window messages.
//
// The seed notes' "异步选择模型" (000) and "WSAAsyncSelect I/O模型" (003):
// WSAAsyncSelect(s, hwnd, msg, events) asks Winsock to post the window `hwnd`
// the message `msg` whenever one of `events` happens on socket `s`. wParam
// carries the socket, lParam the event (WSAGETSELECTEVENT) and an error code
// (WSAGETSELECTERROR). The thread that owns the window picks the messages up
// with GetMessage() and its window procedure serves the sockets. The socket
// becomes non-blocking.
//
// Threads: --threads N message-only windows, each created and pumped by its
// own thread (the seeds' optimisation: "每个线程一个窗口"). The main thread
// pumps window 0, which also owns the listener (FD_ACCEPT); it accepts and
// hands each new socket to the least-loaded window by posting that window a
// message, and the owning thread registers it (FD_READ | FD_WRITE | FD_CLOSE).
//
// The rules this file follows (the seed code breaks most of them):
//  - A message-only window (parent HWND_MESSAGE) needs no desktop, so the
//    model runs headless, also under Wine; message numbers are >= WM_APP, a
//    range no system class uses (the seeds' WM_USER+1 may collide).
//  - FD_READ: exactly one recv() per message. Winsock posts another FD_READ
//    if data is left, and may post one for data that an earlier recv()
//    already took, so WSAEWOULDBLOCK from recv() is normal.
//  - FD_WRITE comes once after registration and afterwards only after a send()
//    failed with WSAEWOULDBLOCK, so output is sent until it is gone or until
//    WSAEWOULDBLOCK, never left behind after a partial send().
//  - FD_CLOSE can arrive while input is still unread: read until recv()
//    returns 0.
//  - Backpressure: while a connection's output is over --max-pending, an
//    FD_READ is not answered with recv(). Then Winsock posts no further FD_READ,
//    so when the output drains the connection reads again by itself.
//  - Accepted sockets inherit the listener's registration, so each one is
//    registered again with its own window and events.
//  - Before closesocket(), WSAAsyncSelect(s, hwnd, 0, 0) stops notifications;
//    messages already queued for the socket are then ignored because the
//    socket is no longer known. They cannot be mistaken for a new socket with
//    the same handle value: a new socket reaches its window through a posted
//    message, which queues behind them (posted messages are retrieved in
//    order).
//  - Shutdown: the wake function posts every window a stop message.
//
// Limits: one thread serves all the sockets of its window, and a message queue
// holds at most 10,000 posted messages (USERPostMessageLimit), beyond which
// Winsock's notifications are lost.
#define _WINSOCK_DEPRECATED_NO_WARNINGS  // MSVC marks WSAAsyncSelect "use WSAEventSelect"
#include <winsock2.h>
#include <windows.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "platform/net.hpp"
#include "kit/mail_list.hpp"
#include "kit/room.hpp"
#include "kit/socket_client.hpp"
#include "kit/winsock.hpp"
#include "server/model_names.hpp"

namespace {

using namespace wsb::server::model;

// wParam: the socket; lParam: WSAMAKESELECTREPLY(event, error).
constexpr UINT wm_socket = WM_APP + 1;
// wParam: an accepted socket that this window is to serve.
constexpr UINT wm_adopt = WM_APP + 2;
// Nothing: wakes the message loop so that it notices the stop request.
constexpr UINT wm_stop = WM_APP + 3;
// Nothing: chat mail waits for connections of this window (the mail list).
constexpr UINT wm_mail = WM_APP + 4;
// Nothing (window 0): --when-full queue, a release made room to accept.
constexpr UINT wm_room = WM_APP + 5;

constexpr UINT_PTR sweep_timer = 1;         // idle timeouts and lingering closes
constexpr UINT_PTR accept_retry_timer = 2;  // FD_ACCEPT again after running out of sockets
constexpr std::chrono::milliseconds max_sweep_period{250};
constexpr std::chrono::milliseconds min_sweep_period{10};
constexpr std::size_t recv_buffer_size = 64 * 1024;
// How long a clean close waits for the peer's FIN after sending its own.
constexpr std::chrono::seconds linger_timeout{1};

constexpr const wchar_t* window_class_name = L"wsbench.async_select";

// The socket, its mail place, its Connection and its lingering close
// (kit/socket_client.hpp), and what the window messages said about it.
struct Client : wsb::kit::SocketClient {
  using SocketClient::SocketClient;

  bool fin_seen = false;       // FD_CLOSE arrived: read until recv() returns 0
  bool read_deferred = false;  // an FD_READ went unanswered (backpressure)
  bool write_blocked = false;  // send() said WSAEWOULDBLOCK: wait for FD_WRITE
};

class AsyncSelectServer;

// One message-only window and the thread that pumps it.
class Pump {
 public:
  Pump(AsyncSelectServer& server, Frame& frame, int index, SOCKET listener)
      : server_(server), frame_(frame), index_(index), listener_(listener) {}
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  // On the thread that will pump the window. Throws std::runtime_error.
  void create_window();
  // The message loop; returns after a stop request, with every socket closed
  // and the window destroyed.
  void run() noexcept;

  HWND window() const noexcept { return window_; }
  int load() const noexcept { return load_.load(std::memory_order_relaxed); }

  // Pump 0's thread: gives this window an accepted, admitted socket. False
  // when the window is shutting down or its queue is full; the caller keeps
  // the socket.
  bool hand_over(SOCKET s) noexcept {
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    load_.fetch_add(1, std::memory_order_relaxed);
    if (!::PostMessageW(window_, wm_adopt, static_cast<WPARAM>(s), 0)) {
      load_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }

  // Any thread. If the queue is full the post fails, but then the loop is
  // busy and checks stopping() after every message anyway.
  void post_stop() noexcept {
    if (window_ != nullptr) ::PostMessageW(window_, wm_stop, 0, 0);
  }

  // Closes what the pump owns and destroys its window; run() ends with it.
  // Also called for pump 0 when starting up failed before run().
  void shut_down() noexcept;

  // The window procedure of the class every pump's window belongs to.
  static LRESULT CALLBACK window_proc(HWND hwnd, UINT msg, WPARAM wparam, LPARAM lparam);

 private:
  LRESULT handle(UINT msg, WPARAM wparam, LPARAM lparam) noexcept;

  void on_accept(int error) noexcept;
  void adopt(SOCKET s) noexcept;
  void on_socket_event(SOCKET s, int event, int error) noexcept;
  void deliver_mail() noexcept;
  void deliver(Client& client) noexcept;
  void service(SOCKET s, Client& client) noexcept;
  void read_once(SOCKET s, Client& client) noexcept;
  void end_of_stream(SOCKET s, Client& client) noexcept;
  void flush(SOCKET s, Client& client) noexcept;
  void discard_input(SOCKET s, Client& client) noexcept;
  bool settle(SOCKET s, Client& client, Clock::time_point now) noexcept;
  void sweep(Clock::time_point now) noexcept;
  void close(SOCKET s) noexcept;

  AsyncSelectServer& server_;
  Frame& frame_;
  AcceptPolicy accept_policy_{frame_, "accept"};  // pump 0 only, like the listener
  std::optional<wsb::kit::RoomWait> room_;        // pump 0 only
  const int index_;
  const SOCKET listener_;  // served by pump 0 only
  HWND window_ = nullptr;
  StatsShard* shard_ = nullptr;  // the pumping thread's
  std::vector<char> buffer_;
  // Chat: this window's connections that other threads posted mail to. A
  // posting thread wakes the window with one wm_mail per batch
  // (kit/mail_list.hpp), which keeps the messages far below the queue's
  // 10,000 limit.
  wsb::kit::MailList mail_{[](void* self) noexcept {
                             auto& pump = *static_cast<Pump*>(self);
                             ::PostMessageW(pump.window_, wm_mail, 0, 0);
                           },
                           this};
  std::unordered_map<SOCKET, Client> clients_;  // pumping thread only
  std::chrono::milliseconds sweep_period_{max_sweep_period};
  Clock::time_point next_sweep_{};
  std::atomic<int> load_{0};
  std::mutex mutex_;     // guards closed_ against hand_over()
  bool closed_ = false;  // no more hand-overs: the loop has ended
};

class AsyncSelectServer {
 public:
  AsyncSelectServer(Frame& frame, SOCKET listener) : frame_(frame), listener_(listener) {}

  // Creates the windows and pump threads, registers the listener with window
  // 0, starts the frame and pumps window 0 on the calling (main) thread.
  void run();

  // Any thread: asks every pump to stop.
  void wake() noexcept {
    for (auto& pump : pumps_)
      pump->post_stop();
  }

  // Pump 0's thread: the pump with the fewest connections.
  Pump& least_loaded() noexcept {
    Pump* best = pumps_.front().get();
    for (auto& pump : pumps_) {
      if (pump->load() < best->load()) best = pump.get();
    }
    return *best;
  }

 private:
  void stop_threads() noexcept;

  Frame& frame_;
  const SOCKET listener_;
  std::vector<std::unique_ptr<Pump>> pumps_;  // fixed before any pump thread starts
  std::vector<std::thread> threads_;          // pumps 1..N-1
};

void Pump::create_window() {
  shard_ = &frame_.shard();
  buffer_.resize(recv_buffer_size);
  window_ = ::CreateWindowExW(0, window_class_name, L"", 0, 0, 0, 0, 0, HWND_MESSAGE, nullptr,
                              ::GetModuleHandleW(nullptr), this);
  if (window_ == nullptr) {
    throw std::runtime_error("CreateWindowExW(HWND_MESSAGE) failed: " +
                             wsb::net::error_text(static_cast<int>(::GetLastError())));
  }
  const auto idle = frame_.options().idle_timeout;
  if (idle.count() > 0) {
    sweep_period_ = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(idle / 4),
                               min_sweep_period, max_sweep_period);
  }
  // The timer makes GetMessage() return periodically even when no socket has
  // anything to say, so that idle connections expire.
  if (::SetTimer(window_, sweep_timer, static_cast<UINT>(sweep_period_.count()), nullptr) == 0) {
    throw std::runtime_error("SetTimer failed: " +
                             wsb::net::error_text(static_cast<int>(::GetLastError())));
  }
  next_sweep_ = Clock::now() + sweep_period_;
  if (index_ == 0) {
    const HWND window = window_;
    room_.emplace(frame_, [window] { ::PostMessageW(window, wm_room, 0, 0); });
  }
}

LRESULT CALLBACK Pump::window_proc(HWND hwnd, UINT msg, WPARAM wparam, LPARAM lparam) {
  if (msg == WM_NCCREATE) {
    // The Pump travels in CREATESTRUCT::lpCreateParams and is kept in the
    // window's GWLP_USERDATA slot, which is pointer-sized (LONG_PTR) on both
    // x86 and x64; the 32-bit GWL_USERDATA of old samples truncates on x64.
    const auto* create = reinterpret_cast<const CREATESTRUCTW*>(lparam);
    ::SetWindowLongPtrW(hwnd, GWLP_USERDATA, reinterpret_cast<LONG_PTR>(create->lpCreateParams));
  }
  auto* pump = reinterpret_cast<Pump*>(::GetWindowLongPtrW(hwnd, GWLP_USERDATA));
  if (pump == nullptr) return ::DefWindowProcW(hwnd, msg, wparam, lparam);
  if (msg == wm_socket || msg == wm_adopt || msg == wm_stop || msg == wm_mail || msg == wm_room ||
      msg == WM_TIMER) {
    return pump->handle(msg, wparam, lparam);
  }
  return ::DefWindowProcW(hwnd, msg, wparam, lparam);
}

// Runs inside the window procedure, which must never let an exception escape
// (it would unwind through user32): everything here is noexcept.
LRESULT Pump::handle(UINT msg, WPARAM wparam, LPARAM lparam) noexcept {
  switch (msg) {
    case wm_socket: {
      // The socket is UINT_PTR, exactly as wide as WPARAM.
      const SOCKET s = static_cast<SOCKET>(wparam);
      const int event = WSAGETSELECTEVENT(lparam);
      const int error = WSAGETSELECTERROR(lparam);
      if (index_ == 0 && s == listener_) {
        if (event == FD_ACCEPT) on_accept(error);
      } else {
        on_socket_event(s, event, error);
      }
      break;
    }
    case wm_adopt:
      adopt(static_cast<SOCKET>(wparam));
      break;
    case wm_mail:
      deliver_mail();
      break;
    case wm_room:
      on_accept(0);
      break;
    case WM_TIMER:
      // sweep_timer needs nothing here: run() sweeps after any message once
      // the sweep period has passed, and the timer only makes sure one comes.
      if (wparam == accept_retry_timer) {
        // Out of sockets a while ago: listen for FD_ACCEPT again. If clients
        // are waiting, Winsock posts FD_ACCEPT at once.
        ::KillTimer(window_, accept_retry_timer);
        if (::WSAAsyncSelect(listener_, window_, wm_socket, FD_ACCEPT) != 0) {
          frame_.fail("WSAAsyncSelect(FD_ACCEPT) failed: " +
                      wsb::net::error_text(::WSAGetLastError()));
        }
      }
      break;
    default:  // wm_stop: the loop checks stopping() after every message
      break;
  }
  return 0;
}

void Pump::run() noexcept {
  MSG msg;
  for (;;) {
    const BOOL got = ::GetMessageW(&msg, nullptr, 0, 0);
    if (got == -1) {
      frame_.fail("GetMessageW failed: " +
                  wsb::net::error_text(static_cast<int>(::GetLastError())));
      break;
    }
    if (got == 0) break;  // WM_QUIT
    ::DispatchMessageW(&msg);
    if (frame_.stopping()) break;
    // WM_TIMER is only generated when the queue is otherwise empty, so a busy
    // window would never sweep; check the clock here too.
    const Clock::time_point now = Clock::now();
    if (now >= next_sweep_) sweep(now);
  }
  shut_down();
}

// Pump 0: FD_ACCEPT. One accept() per message: accept() re-enables FD_ACCEPT,
// and Winsock posts another message while connections are waiting.
void Pump::on_accept(int error) noexcept {
  StatsShard& shard = *shard_;
  if (error != 0) {
    shard.error(classify_accept_error(error));
    return;
  }
  // --when-full queue: no accept() while --max-connections are online, and
  // without one Winsock posts no further FD_ACCEPT: the clients wait in the
  // listen backlog until a release makes room and the room hook posts
  // wm_room, which comes back here (kit/room.hpp).
  if (room_ && room_->full(listener_)) return;
  const SOCKET s = ::accept(listener_, nullptr, nullptr);
  if (s == INVALID_SOCKET) {
    const int code = ::WSAGetLastError();
    if (code == WSAEWOULDBLOCK) return;  // another message's accept() took it
    if (accept_policy_.handle(code, listener_, shard) == AcceptAction::pause) {
      // The connection stays queued and Winsock would post FD_ACCEPT again at
      // once, flooding the queue: stop listening for a while.
      ::WSAAsyncSelect(listener_, window_, wm_socket, 0);
      ::SetTimer(window_, accept_retry_timer, static_cast<UINT>(AcceptPolicy::pause_for.count()),
                 nullptr);
    }
    return;
  }
  if (room_) room_->accepted();
  if (!frame_.admit(shard, s)) {
    ::closesocket(s);
    return;
  }
  if (!wsb::net::set_nodelay(s)) {
    shard.error(classify_io_error(::WSAGetLastError()));
  } else if (server_.least_loaded().hand_over(s)) {
    return;
  } else {
    shard.error(ErrorClass::io);  // the window's queue is full or it is stopping
  }
  frame_.release(shard, s);
  ::closesocket(s);
}

// wm_adopt: a socket accepted by pump 0. It still carries the listener's
// registration (FD_ACCEPT for window 0), which never fires on a connected
// socket; registering it here replaces that. If input or a FIN arrived in
// between, Winsock posts FD_READ or FD_CLOSE at once.
void Pump::adopt(SOCKET s) noexcept {
  StatsShard& shard = *shard_;
  try {
    clients_.try_emplace(s, s, frame_, shard, mail_);
  } catch (const std::bad_alloc&) {
    shard.error(ErrorClass::io);
    frame_.release(shard, s);
    ::closesocket(s);
    load_.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  // One call with every event: a second WSAAsyncSelect call would replace
  // the first, not add to it.
  if (::WSAAsyncSelect(s, window_, wm_socket, FD_READ | FD_WRITE | FD_CLOSE) != 0) {
    shard.error(classify_io_error(::WSAGetLastError()));
    close(s);
  }
}

void Pump::on_socket_event(SOCKET s, int event, int error) noexcept {
  const auto it = clients_.find(s);
  if (it == clients_.end()) return;  // queued before the socket was closed
  Client& client = it->second;
  if (error != 0 && client.linger.lingering()) {
    // The exchange had ended cleanly; how the peer then closes is its business.
    client.linger.on_linger_done();
  } else if (error != 0) {
    // The event failed: FD_CLOSE with WSAECONNRESET or WSAECONNABORTED when
    // the peer reset the connection, for instance.
    client.conn.on_error(classify_io_error(error));
  } else {
    switch (event) {
      case FD_READ:
        if (client.linger.lingering()) {
          discard_input(s, client);
        } else if (client.conn.want_read()) {
          read_once(s, client);
        } else {
          // Not reading is the backpressure: without a recv() Winsock posts
          // no further FD_READ. service() reads again once output drained.
          client.read_deferred = true;
        }
        break;
      case FD_WRITE:
        client.write_blocked = false;
        break;
      case FD_CLOSE:
        client.fin_seen = true;
        if (client.linger.lingering()) discard_input(s, client);
        break;
      default:
        break;
    }
  }
  service(s, client);
  if (settle(s, client, Clock::now())) close(s);
}

// wm_mail: collects the mail of each connection on the list and sends it.
void Pump::deliver_mail() noexcept {
  bool all = false;
  for (wsb::kit::MailTarget* target : mail_.take(all))
    deliver(static_cast<Client&>(target->entry<wsb::kit::SocketClient>()));
  if (!all) return;
  std::vector<SOCKET> sockets;
  try {
    for (const auto& [s, client] : clients_)
      sockets.push_back(s);
  } catch (const std::bad_alloc&) {
    return;  // no memory even for this: the mail waits for the next post
  }
  for (const SOCKET s : sockets) {
    if (const auto it = clients_.find(s); it != clients_.end()) deliver(it->second);
  }
}

// May close the connection (a slow consumer) and so destroy `client`.
void Pump::deliver(Client& client) noexcept {
  if (client.linger.lingering() || !client.conn.collect_mail()) return;
  const SOCKET s = client.socket;
  service(s, client);
  if (settle(s, client, Clock::now())) close(s);
}

// Moves what can be moved now: sends pending output, and reads again when a
// read was held back (backpressure) or the peer's FIN is waiting behind input.
void Pump::service(SOCKET s, Client& client) noexcept {
  while (!client.linger.lingering() && !client.conn.finished()) {
    flush(s, client);
    // Over --max-pending, or closing: nothing to read now. In the first case
    // flush() stopped at WSAEWOULDBLOCK, so an FD_WRITE will come.
    if (!client.conn.want_read()) break;
    if (client.fin_seen && !client.linger.peer_closed()) {
      // No FD_READ will announce what is left before the FIN (FD_CLOSE was
      // the last message), so read on until recv() returns 0.
      read_once(s, client);
    } else if (client.read_deferred) {
      client.read_deferred = false;
      read_once(s, client);  // also re-enables FD_READ
    } else {
      break;
    }
  }
}

void Pump::read_once(SOCKET s, Client& client) noexcept {
  const std::ptrdiff_t n = wsb::net::recv_some(s, buffer_);
  if (n > 0) {
    client.conn.on_received(std::span<const char>(buffer_.data(), static_cast<std::size_t>(n)));
    return;
  }
  if (n == 0) {
    end_of_stream(s, client);
    return;
  }
  const int code = ::WSAGetLastError();
  if (code != WSAEWOULDBLOCK) {
    client.conn.on_error(classify_io_error(code));
  } else if (client.fin_seen) {
    // FD_CLOSE without an error means the peer closed gracefully, and TCP
    // delivers the FIN after all data: with nothing left to read, the stream
    // has ended even though recv() did not get to say 0.
    end_of_stream(s, client);
  }
  // Otherwise a spurious FD_READ: an earlier recv() already took the data.
}

// recv() returned 0. Under Wine 8 that may be a reset, for which FD_CLOSE
// carried no error either (Windows reports WSAECONNRESET): the zero-byte send
// of error_after_end_of_stream() tells a reset from the peer's FIN.
void Pump::end_of_stream(SOCKET s, Client& client) noexcept {
  if (const int reset = wsb::kit::error_after_end_of_stream(s); reset != 0) {
    client.conn.on_error(classify_io_error(reset));
    return;
  }
  client.linger.on_peer_closed();
  client.conn.on_peer_closed();
}

// Sends until the output is gone or send() says WSAEWOULDBLOCK; stopping at a
// partial send() would wait forever, because only WSAEWOULDBLOCK arms FD_WRITE.
void Pump::flush(SOCKET s, Client& client) noexcept {
  if (!client.write_blocked)
    client.write_blocked = wsb::kit::send_until_would_block(s, client.conn);
}

// A lingering connection: reads and drops input until the peer's FIN.
void Pump::discard_input(SOCKET s, Client& client) noexcept {
  for (;;) {
    const std::ptrdiff_t n = wsb::net::recv_some(s, buffer_);
    if (n > 0) continue;
    if (n == 0 || ::WSAGetLastError() != WSAEWOULDBLOCK || client.fin_seen) {
      client.linger.on_linger_done();
    }
    return;
  }
}

// Whether to close the socket now. A clean finish first sends FIN and lingers.
bool Pump::settle(SOCKET s, Client& client, Clock::time_point now) noexcept {
  const bool was_lingering = client.linger.lingering();
  if (client.linger.settle(s, client.conn, now, linger_timeout)) return true;
  if (was_lingering || !client.linger.lingering()) return false;
  // Lingering has just begun. The FIN may be here already; else FD_CLOSE
  // announces it.
  discard_input(s, client);
  return client.linger.linger_done();
}

void Pump::sweep(Clock::time_point now) noexcept {
  next_sweep_ = now + sweep_period_;
  std::vector<SOCKET> done;
  for (auto& [s, client] : clients_) {
    if (!client.linger.lingering()) client.conn.expire_if_idle(now);
    if (settle(s, client, now)) {
      try {
        done.push_back(s);
      } catch (const std::bad_alloc&) {
        return;  // closed on a later sweep
      }
    }
  }
  for (const SOCKET s : done)
    close(s);
}

void Pump::close(SOCKET s) noexcept {
  // Stop the notifications first; messages already queued are ignored once
  // the socket is gone from clients_.
  ::WSAAsyncSelect(s, window_, 0, 0);
  const auto it = clients_.find(s);
  // before closesocket(): see Frame::release
  frame_.release(*shard_, s, it != clients_.end() ? &it->second.conn : nullptr);
  ::closesocket(s);
  clients_.erase(s);
  load_.fetch_sub(1, std::memory_order_relaxed);
}

void Pump::shut_down() noexcept {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  if (index_ == 0) {
    if (window_ != nullptr) ::WSAAsyncSelect(listener_, window_, 0, 0);
    ::closesocket(listener_);
  }
  if (window_ == nullptr) return;
  ::KillTimer(window_, sweep_timer);
  ::KillTimer(window_, accept_retry_timer);
  // Hand-overs still queued carry sockets this window owns now.
  MSG msg;
  while (::PeekMessageW(&msg, nullptr, 0, 0, PM_REMOVE)) {
    if (msg.message == wm_adopt) {
      frame_.release(*shard_, static_cast<SOCKET>(msg.wParam));
      ::closesocket(static_cast<SOCKET>(msg.wParam));
      load_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  while (!clients_.empty())
    close(clients_.begin()->first);
  // window_ keeps its value: wake() may still read it on another thread, and
  // a post to a destroyed window just fails.
  ::DestroyWindow(window_);
}

void AsyncSelectServer::run() {
  const int count = frame_.options().threads;
  for (int i = 0; i < count; ++i) {
    pumps_.push_back(std::make_unique<Pump>(*this, frame_, i, listener_));
  }
  try {
    // Each window belongs to the thread that creates it, and only that thread
    // receives its messages: pump i creates window i on its own thread.
    pumps_[0]->create_window();
    for (int i = 1; i < count; ++i) {
      // The promise moves into the thread: the thread may still be inside
      // set_value() when get() returns here.
      std::promise<void> ready;
      std::future<void> created = ready.get_future();
      threads_.emplace_back([this, i, ready = std::move(ready)]() mutable {
        Pump& pump = *pumps_[static_cast<std::size_t>(i)];
        try {
          pump.create_window();
        } catch (...) {
          ready.set_exception(std::current_exception());
          return;
        }
        ready.set_value();
        pump.run();
      });
      created.get();  // rethrows the thread's failure
    }
    // FD_ACCEPT on the listener goes to window 0, pumped by this thread.
    if (::WSAAsyncSelect(listener_, pumps_[0]->window(), wm_socket, FD_ACCEPT) != 0) {
      const int code = ::WSAGetLastError();
      throw wsb::net::NetError(
          code, "WSAAsyncSelect(FD_ACCEPT) on the listener failed: " + wsb::net::error_text(code));
    }
  } catch (...) {
    stop_threads();
    pumps_[0]->shut_down();
    throw;
  }
  frame_.start([this] { wake(); });
  pumps_[0]->run();
  stop_threads();
}

// Stops and joins pumps 1..N-1 (after a stop request, or when starting up failed).
void AsyncSelectServer::stop_threads() noexcept {
  frame_.request_stop();
  wake();
  for (std::thread& thread : threads_)
    thread.join();
  threads_.clear();
}

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "async-select",
       .description =
           "WSAAsyncSelect (seeds 000 and 003): Winsock posts socket events (FD_ACCEPT, FD_READ, "
           "FD_WRITE, FD_CLOSE) as messages to a message-only window, and the thread that owns "
           "the window serves them from its message loop. --threads N windows, each pumped by "
           "its own thread; window 0 accepts and hands each socket to the least-loaded window."},
      [](Frame& frame) {
        WNDCLASSEXW window_class{};
        window_class.cbSize = sizeof window_class;
        window_class.lpfnWndProc = &Pump::window_proc;
        window_class.hInstance = ::GetModuleHandleW(nullptr);
        window_class.lpszClassName = window_class_name;
        if (::RegisterClassExW(&window_class) == 0) {
          std::fprintf(stderr, "async-select: RegisterClassExW failed: %s\n",
                       wsb::net::error_text(static_cast<int>(::GetLastError())).c_str());
          return 1;
        }
        // WSAAsyncSelect makes the listener non-blocking by itself.
        const SOCKET listener = frame.open_listener();
        int exit_code = 1;
        {
          AsyncSelectServer server(frame, listener);
          server.run();
          exit_code = frame.finish();
        }
        ::UnregisterClassW(window_class_name, ::GetModuleHandleW(nullptr));
        return exit_code;
      });
}
