// How a POSIX event loop learns that another thread has work for it
// (namespace wsb::kit): chat mail posted to one of its connections by a
// thread serving the sender (server/connection.hpp, set_mail_wake), and room
// made by a connection that closed anywhere while the loop had stopped
// accepting (--when-full queue, Frame::set_room_hook).
//
// The posting thread never touches the connection: the wake function notes
// the connection's descriptor in the loop's list under a short lock and,
// when the list was empty, writes the loop's eventfd; the loop watches that
// eventfd beside its sockets, takes the list, and runs collect_mail() on
// each connection it names, on its own thread. A descriptor whose
// connection has closed (or been replaced) meanwhile costs a collect_mail()
// that finds nothing: harmless.
//
// The cost: per message and recipient loop, a mutex round trip on the
// posting thread; per wake-up of an idle loop, one eventfd write and one
// read, whatever the number of messages it gathers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "platform/posix/wake.hpp"

namespace wsb::kit {

class LoopMail {
 public:
  // Throws net::NetError when the eventfd cannot be created.
  LoopMail() = default;
  LoopMail(const LoopMail&) = delete;
  LoopMail& operator=(const LoopMail&) = delete;

  // Readable once something was posted since the last take().
  int fd() const noexcept { return doorbell_.fd(); }

  // What a connection registers with Connection::set_mail_wake(): the wake
  // function and its context for descriptor `fd`, whose memory stays put
  // for the life of the loop (one per descriptor number, made on first use,
  // reused by later connections on that number). Throws std::bad_alloc.
  void* address(int fd);
  static void wake(void* address) noexcept;

  // The room hook's part: the loop should try its listener again.
  void wake_for_room() noexcept;

  // Whether anything was posted since the last take(): one atomic load, for
  // a loop that does not wait on fd().
  bool pending() const noexcept { return pending_.load(std::memory_order_acquire); }

  // On the loop's thread: empties fd() first, then moves the noted
  // descriptors into `fds` (which it clears) and returns whether room was
  // signalled. The order matters: a post after the eventfd was read makes it
  // readable again, so none is ever missed.
  bool take(std::vector<int>& fds) noexcept;

 private:
  struct Address {
    LoopMail* mail;
    int fd;
  };

  void post(int fd) noexcept;

  net::WakeDescriptor doorbell_;  // an eventfd, drained by take()
  std::atomic<bool> pending_{false};
  std::mutex lock_;
  std::vector<int> posted_;                          // under lock_
  bool room_ = false;                                // under lock_
  std::vector<std::unique_ptr<Address>> addresses_;  // by descriptor; the loop's thread only
};

}  // namespace wsb::kit
