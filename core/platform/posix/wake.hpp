// The stop wake-up of the POSIX event-loop models (namespace wsb::net):
// one descriptor that every loop watches for readability next to its
// sockets, and that the frame's wake function makes readable when a stop is
// requested. POSIX only, like platform/posix/accept.hpp: the Winsock models
// wake their loops with events, completions or a wake socket instead.
#pragma once

namespace wsb::net {

// An eventfd that is written once and never read: once signalled it stays
// readable for good, so however many loops watch it (with select(), poll(),
// epoll or a poll request on a ring), each of them returns from its wait and
// sees Frame::stopping(), whichever of them the kernel reports it to first.
class WakeDescriptor {
 public:
  // Throws NetError when the eventfd cannot be created.
  WakeDescriptor();
  // Close it only after Frame::finish(): until then the frame's reporter
  // thread may still call signal().
  ~WakeDescriptor();
  WakeDescriptor(const WakeDescriptor&) = delete;
  WakeDescriptor& operator=(const WakeDescriptor&) = delete;

  // The descriptor to watch for readability.
  int fd() const noexcept { return fd_; }
  // Makes fd() readable. Any thread; never blocks.
  void signal() noexcept;

 private:
  int fd_;
};

}  // namespace wsb::net
