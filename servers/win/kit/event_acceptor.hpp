// AcceptEx with event notification (namespace wsb::kit), the accepting
// thread of the overlapped models that do not use a completion port
// (server-overlapped-event, server-overlapped-routine). Windows code only,
// like platform/win/winsock.hpp.
//
// The sequence of calls:
//   AcceptEx(listener, new_socket, ..., &overlapped{hEvent})   x posted_accepts
//   WSAWaitForMultipleEvents(stop event + one event per AcceptEx)
//   -> WSAGetOverlappedResult(fWait = FALSE) -> WSAResetEvent
//   -> SO_UPDATE_ACCEPT_CONTEXT -> GetAcceptExSockaddrs
//   -> Handler::accepted(socket, peer) -> AcceptEx again
//
// AcceptEx takes no completion routine, so even the completion-routine model
// waits on events here. The acceptor knows sockets and events only; what an
// accepted connection means (admission, which thread serves it, statistics)
// is the Handler's, i.e. the model's, decision.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "kit/winsock.hpp"

namespace wsb::kit {

class EventAcceptor {
 public:
  // AcceptEx calls kept posted, so that a burst of connections finds sockets
  // ready (the listen backlog holds the rest).
  static constexpr std::size_t posted_accepts = 8;
  // Without completions the thread still wakes this often, to post again the
  // AcceptEx calls that could not be posted (e.g. no socket could be made),
  // so a shortage is retried without spinning.
  static constexpr std::chrono::milliseconds tick{100};
  // How long a stop waits for the cancelled AcceptEx calls (cancel_all()).
  static constexpr std::chrono::milliseconds cancel_wait{1000};

  // What the acceptor reports to the model, on the thread that calls run().
  class Handler {
   public:
    // An AcceptEx could not be posted, or it failed, or its socket could not
    // be set up: `code` is the Winsock error (count it as an accept failure).
    virtual void accept_failed(int code) noexcept = 0;
    // A connection was accepted into `s` (SO_UPDATE_ACCEPT_CONTEXT done); the
    // handler owns the socket from here on.
    virtual void accepted(SOCKET s, const net::Endpoint& peer) noexcept = 0;
    // Checked after every wait: true ends run().
    virtual bool stopping() const noexcept = 0;

   protected:
    ~Handler() = default;
  };

  // Loads AcceptEx from the provider of `listener` (an overlapped listener of
  // `family`) and creates the events. Throws NetError. Nothing is posted
  // before run().
  EventAcceptor(SOCKET listener, int family, Handler& handler);
  ~EventAcceptor();
  EventAcceptor(const EventAcceptor&) = delete;
  EventAcceptor& operator=(const EventAcceptor&) = delete;

  // Accepts until `stop_event` is signalled or handler.stopping(), then
  // cancels the posted AcceptEx calls and waits for each, at most
  // cancel_wait in all, before its socket is closed (one that accepted a
  // connection meanwhile just closes it).
  // The stop event is slot 0 of the wait, so a stop wins over pending
  // connections. Returns an empty string, or the failure that ended the
  // loop early ("WSAWaitForMultipleEvents() failed: ...").
  [[nodiscard]] std::string run(WSAEVENT stop_event);

 private:
  struct Pending;
  void repost(Pending& a) noexcept;
  // Posts one AcceptEx; 0, or the error (already reported to the handler).
  int post(Pending& a) noexcept;
  bool harvest(Pending& a) noexcept;
  void cancel_all() noexcept;

  const SOCKET listener_;
  const int family_;
  Handler& handler_;
  const AcceptExFunctions functions_;
  std::unique_ptr<Pending[]> accepts_;
};

}  // namespace wsb::kit
