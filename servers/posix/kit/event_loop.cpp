// The timers of the POSIX event loops: kit/event_loop.hpp.
#include "kit/event_loop.hpp"

#include <unistd.h>

#include <algorithm>
#include <new>
#include <utility>

#include "platform/net.hpp"
#include "server/accept_policy.hpp"
#include "server/socket_io.hpp"

namespace wsb::kit {

bool ReceiveBuffer::receive(int fd, server::Connection& conn) noexcept {
  return server::receive_once(fd, {data_.get(), receive_buffer_size}, conn);
}

bool admit_accepted(server::Frame& frame, server::StatsShard& shard, int fd) noexcept {
  if (!frame.admit(shard, fd)) {
    ::close(fd);
    return false;
  }
  net::set_nodelay(fd);
  return true;
}

void close_admitted(server::Frame& frame, server::StatsShard& shard, int fd,
                    const server::Connection* conn) noexcept {
  frame.release(shard, fd, conn);
  ::close(fd);
}

LoopTimers::LoopTimers(const server::Options& options)
    : sweep_interval_(server::idle_sweep_interval(options)),
      next_sweep_(Clock::now() + sweep_interval_) {}

void LoopTimers::pause_accepting() noexcept {
  accept_paused_ = true;
  resume_accept_at_ = Clock::now() + server::AcceptPolicy::pause_for;
}

std::optional<LoopTimers::Clock::duration> LoopTimers::time_left(
    Clock::time_point now) const noexcept {
  auto until = sweep_interval_.count() > 0 ? next_sweep_ : Clock::time_point::max();
  if (accept_paused_) until = std::min(until, resume_accept_at_);
  if (until == Clock::time_point::max()) return std::nullopt;
  return std::max(until - now, Clock::duration::zero());
}

void ConnectionList::add(int fd, server::StatsShard& shard) noexcept {
  try {
    const auto index = static_cast<std::size_t>(fd);
    if (index >= index_of_.size()) index_of_.resize(std::max(index + 1, index_of_.size() * 2));
    void* address = mail_ != nullptr ? mail_->address(fd) : nullptr;
    entries_.push_back({fd, server::Connection(frame_, shard)});
    if (address != nullptr) entries_.back().conn.set_mail_wake(&LoopMail::wake, address);
    index_of_[index] = entries_.size();
  } catch (const std::bad_alloc&) {
    shard.error(server::ErrorClass::io);
    close_admitted(frame_, shard, fd);
  }
}

void ConnectionList::close(std::size_t i, server::StatsShard& shard) noexcept {
  const int fd = entries_[i].fd;
  close_admitted(frame_, shard, fd, &entries_[i].conn);
  index_of_[static_cast<std::size_t>(fd)] = 0;
  if (i + 1 != entries_.size()) {
    entries_[i] = std::move(entries_.back());
    index_of_[static_cast<std::size_t>(entries_[i].fd)] = i + 1;
  }
  entries_.pop_back();
}

std::optional<std::size_t> ConnectionList::find(int fd) const noexcept {
  const auto index = static_cast<std::size_t>(fd);
  if (index >= index_of_.size() || index_of_[index] == 0) return std::nullopt;
  return index_of_[index] - 1;
}

void ConnectionList::sweep_idle(std::chrono::steady_clock::time_point now,
                                server::StatsShard& shard) noexcept {
  for (std::size_t i = entries_.size(); i-- > 0;) {
    if (entries_[i].conn.expire_if_idle(now)) close(i, shard);
  }
}

void ConnectionList::close_all(server::StatsShard& shard) noexcept {
  while (!entries_.empty())
    close(entries_.size() - 1, shard);
}

int timeout_ms(std::optional<LoopTimers::Clock::duration> wait) noexcept {
  if (!wait) return -1;
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(*wait).count());
}

}  // namespace wsb::kit
