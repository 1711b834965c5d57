#include "server/connection.hpp"

#include <thread>
#include <utility>

#include "chat/session.hpp"
#include "server/frame.hpp"

namespace wsb::server {
namespace {

ErrorClass error_class(proto::SessionError e) noexcept {
  switch (e) {
    case proto::SessionError::malformed:
      return ErrorClass::malformed;
    case proto::SessionError::oversized:
      return ErrorClass::oversized;
    case proto::SessionError::truncated:
      return ErrorClass::truncated;
    case proto::SessionError::unsupported:
      return ErrorClass::unsupported;
    case proto::SessionError::none:
      break;
  }
  return ErrorClass::io;  // not reached for a real error
}

// The protocol's session: chat sessions relay through the Frame's Hub and
// receive other users' messages in the connection's outbox.
std::unique_ptr<proto::ServerSession> make_session(Frame& frame,
                                                   const std::unique_ptr<Outbox>& outbox,
                                                   chat::Session*& chat) {
  if (!outbox) return proto::make_server_session(frame.options().protocol);
  auto session = std::make_unique<chat::Session>(frame.hub(), *outbox);
  chat = session.get();
  return session;
}

}  // namespace

Connection::Connection(Frame& frame, StatsShard& shard)
    : shard_(&shard),
      outbox_(frame.options().protocol == proto::Protocol::chat
                  ? std::make_unique<Outbox>(frame.options().max_pending_output)
                  : nullptr),
      session_(make_session(frame, outbox_, chat_)),
      last_activity_(Clock::now()),
      max_pending_(frame.options().max_pending_output),
      idle_timeout_(frame.options().idle_timeout) {
  if (const auto& stall = frame.options().stall) {
    stall_pause_ = stall->pause;
    stall_every_ = stall->every;
  }
}

void Connection::on_received(std::span<const char> bytes) noexcept {
  last_activity_ = Clock::now();
  shard_->bytes_in(bytes.size());
  bytes_received_ += bytes.size();
  if (failed_) return;
  if (stall_every_.count() > 0) {
    // The stall schedule belongs to the shard, that is to the serving thread:
    // the thread pauses, whichever of its connections happens to be served.
    if (shard_->next_stall_ == Clock::time_point{}) {
      shard_->next_stall_ = last_activity_ + stall_every_;
    } else if (last_activity_ >= shard_->next_stall_) {
      std::this_thread::sleep_for(stall_pause_);
      last_activity_ = Clock::now();
      shard_->next_stall_ = last_activity_ + stall_every_;
    }
  }
  try {
    session_->feed(bytes, queued_);
  } catch (...) {
    // Only std::bad_alloc can come out of feed(); the server goes on with the
    // other connections.
    fail(ErrorClass::io);
    return;
  }
  count_session_progress();
  collect_mail();
}

void Connection::set_mail_wake(Outbox::WakeFunction wake, void* context) noexcept {
  if (outbox_) outbox_->set_wake(wake, context);
}

bool Connection::collect_mail() noexcept {
  if (!outbox_ || failed_) return false;
  if (outbox_->overflowed()) {
    fail(ErrorClass::slow_consumer);
    return true;
  }
  // A closing session has logged out; a full reply queue leaves the mail in
  // the outbox, where it counts against the slow-consumer bound.
  if (session_->closing() || pending_bytes() >= max_pending_ || !outbox_->has_mail()) {
    return false;
  }
  try {
    return outbox_->collect(queued_) != 0;
  } catch (...) {
    fail(ErrorClass::io);  // out of memory for the reply queue
    return true;
  }
}

void Connection::count_session_progress() noexcept {
  const std::uint64_t requests = session_->requests();
  if (requests > requests_counted_) {
    shard_->requests(requests - requests_counted_);
    requests_counted_ = requests;
  }
  const proto::SessionError error = session_->error();
  if (error != proto::SessionError::none && !error_counted_) {
    error_counted_ = true;
    counted_error_ = error_class(error);
    shard_->error(counted_error_);
  }
}

std::span<const char> Connection::pending() const noexcept {
  if (failed_) return {};
  return in_flight_.empty() ? queued_.readable() : in_flight_.readable();
}

std::size_t Connection::pending_bytes() const noexcept {
  if (failed_) return 0;
  return in_flight_.size() + queued_.size();
}

std::span<const char> Connection::begin_send() noexcept {
  if (failed_) return {};
  if (in_flight_.empty() && !queued_.empty()) {
    // A swap, not a copy: the queue's block becomes the in-flight block, and
    // the emptied in-flight block (with its capacity) becomes the queue.
    std::swap(in_flight_, queued_);
  }
  return in_flight_.readable();
}

void Connection::on_sent(std::size_t n) noexcept {
  last_activity_ = Clock::now();
  shard_->bytes_out(n);
  bytes_sent_ += n;
  // After a failure nothing is pending any more; an overlapped send that was
  // in flight completes into a buffer that is kept, but not consumed.
  if (failed_) return;
  if (!in_flight_.empty()) {
    in_flight_.consume(n);
  } else {
    queued_.consume(n);
  }
  collect_mail();
}

bool Connection::want_read() const noexcept {
  return !closing() && pending_bytes() <= max_pending_;
}

bool Connection::closing() const noexcept {
  return failed_ || session_->closing();
}

bool Connection::finished() const noexcept {
  return failed_ || (session_->closing() && pending_bytes() == 0);
}

void Connection::on_peer_closed() noexcept {
  last_activity_ = Clock::now();
  peer_closed_ = true;
  session_->on_peer_closed();
  count_session_progress();
  if (session_->error() == proto::SessionError::truncated) {
    // The peer gave up in the middle of a request: whatever part of its reply
    // was produced is of no use to anyone.
    failed_ = true;
    queued_.clear();
  }
}

void Connection::on_error(ErrorClass c) noexcept {
  fail(c);
}

void Connection::fail(ErrorClass c) noexcept {
  if (!error_counted_) {
    error_counted_ = true;
    counted_error_ = c;
    shard_->error(c);
  }
  failed_ = true;
  // The in-flight block is kept: an overlapped send may still be reading it.
  queued_.clear();
  // A chat user whose connection failed is offline at once: its id is free
  // and nobody posts to it any more.
  if (chat_ != nullptr) chat_->leave();
}

std::string_view Connection::close_reason() const noexcept {
  if (error_counted_) return name(counted_error_);
  return peer_closed_ ? "peer_closed" : "server_closed";
}

bool Connection::idle_expired(Clock::time_point now) const noexcept {
  return idle_timeout_.count() > 0 && !finished() && now - last_activity_ >= idle_timeout_;
}

bool Connection::expire_if_idle(Clock::time_point now) noexcept {
  if (!idle_expired(now)) return false;
  fail(ErrorClass::idle_timeout);
  return true;
}

Connection::Clock::time_point Connection::idle_deadline() const noexcept {
  if (idle_timeout_.count() <= 0) return Clock::time_point::max();
  return last_activity_ + std::chrono::duration_cast<Clock::duration>(idle_timeout_);
}

void Connection::release_memory() noexcept {
  try {
    if (queued_.empty()) queued_.shrink_to_fit();
    // Not while failed: an overlapped send may still read the block.
    if (in_flight_.empty() && !failed_) in_flight_.shrink_to_fit();
  } catch (...) {
    // shrink_to_fit of an empty buffer frees and cannot throw; a smaller
    // reallocation failing just keeps the old block.
  }
}

}  // namespace wsb::server
