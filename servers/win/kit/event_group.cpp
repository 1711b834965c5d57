// The group threads of the 64-event models (kit/event_group.hpp).
#include "kit/event_group.hpp"

namespace wsb::kit {

EventGroup::EventGroup(server::Frame& frame, server::StatsShard& shard,
                       std::chrono::milliseconds tick)
    : frame_(frame),
      shard_(shard),
      mail_([](void* self) noexcept { static_cast<EventGroup*>(self)->inbox_.wake(); }, this),
      tick_(tick) {
  events_[0] = inbox_.event();
}

void EventGroup::start() {
  thread_ = std::thread([this] { run(); });
}

void EventGroup::stop_and_join() noexcept {
  request_stop();
  if (thread_.joinable()) thread_.join();
  close_inbox();
}

void EventGroup::run() noexcept {
  auto next_tick = Clock::now() + tick_;
  for (;;) {
    // Every signalled event of the pass is served, in index order.
    const bool waited = wait_and_serve(events_, event_count(), next_tick, [this](DWORD index) {
      if (index == 0) {
        take_control();
      } else {
        serve(index);
      }
    });
    if (!waited) {
      frame_.fail(failure("WSAWaitForMultipleEvents()"));
      break;
    }
    if (inbox_.stop_requested()) break;
    const auto now = Clock::now();
    if (now >= next_tick) {
      housekeeping(now);
      next_tick = now + tick_;
    }
    compact();
  }
  close_all();
  close_inbox();
}

// Slot 0: sockets handed over, mail, or a stop. take() resets the event
// before the inbox and the mail list are taken, so that what is added after
// this point sets it again.
void EventGroup::take_control() noexcept {
  for (const Accepted& a : inbox_.take())
    adopt(a);
  bool all = false;
  for (MailTarget* target : mail_.take(all))
    deliver_mail(*target);
  if (all) deliver_all_mail();
}

void EventGroup::drop(SOCKET s, bool failed) noexcept {
  if (failed) shard_.error(server::ErrorClass::io);
  frame_.release(shard_, s);  // before closesocket(): see Frame::release
  ::closesocket(s);
  inbox_.closed();
}

// Whatever was handed over and never taken.
void EventGroup::close_inbox() noexcept {
  for (const Accepted& a : inbox_.take_left())
    drop(a.socket, false);
}

}  // namespace wsb::kit
