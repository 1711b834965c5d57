// server-uring: io_uring through liburing, one ring per thread.
//
// The Linux counterpart of I/O completion ports and Registered I/O: requests
// are queued in a submission ring shared with the kernel, results come back in
// a completion ring, and one io_uring_enter() call both submits a whole
// batch and waits for the next completions.
//
//   main:    probe the kernel, one listener per thread (SO_REUSEPORT when
//            --threads > 1), an eventfd for wake-ups, then the loops
//   loop:    submit everything queued and wait (one syscall) -> for each
//            completion: accepted socket / received bytes / send done
//   per connection: one multishot recv that stays armed and takes its
//            buffers from a ring of provided buffers (the kernel picks a
//            buffer only when data arrives, the analogue of the zero-byte
//            recv trick of IOCP servers), and at most one send in flight,
//            whose bytes Connection::begin_send() keeps unchanged until done
//   stop:    the frame writes the eventfd, which completes a poll request in
//            every ring; each loop cancels its requests, waits for them to
//            complete, then closes its sockets
//   mail:    chat messages posted by other threads, and room under
//            --when-full queue, complete a poll request on the loop's own
//            eventfd (kit/loop_mail.hpp)
//
// Requires Linux 6.0 (multishot recv) and liburing 2.3. main() probes the
// operations with io_uring_get_probe_ring() before the server announces
// itself; each loop registers its provided-buffer ring. Whatever the kernel
// lacks is named in the error message, with server-epoll as the way out.
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "platform/net.hpp"
#include "platform/posix/wake.hpp"
#include "kit/event_loop.hpp"
#include "kit/loop_listener.hpp"
#include "server/model_names.hpp"

namespace {

using namespace wsb::server::model;

// Submission queue entries per ring. A loop iteration queues at most a send
// and a recv (re-)arm per completion it handles; when the queue fills up,
// get_sqe() submits early, so this only sets the usual batch size.
constexpr unsigned sq_entries = 1024;
// Completion queue entries: every armed multishot recv can post several
// completions before the loop comes round, so the completion queue is larger
// than the submission queue (the kernel also keeps overflowing entries on a
// list, IORING_FEAT_NODROP, rather than losing them).
constexpr unsigned cq_entries = 8 * sq_entries;
// The provided-buffer ring: count buffers of buffer_size bytes, shared by all
// connections of a thread. A buffer is taken by the kernel only when data
// arrives and is returned as soon as the Connection consumed it (within the
// same loop iteration), so the count bounds the completions in flight, not
// the connections. count must be a power of two.
constexpr unsigned buffer_count = 2048;
constexpr unsigned buffer_size = 8 * 1024;
constexpr int buffer_group = 0;
// How long a stopping loop waits for its cancelled requests to complete.
constexpr auto drain_limit = std::chrono::seconds(2);

// user_data of a request: the descriptor in the upper bits, the operation in
// the low byte. Connections are indexed by descriptor and a descriptor is
// closed only once none of its requests is in flight, so a completion always
// finds the connection that issued it.
enum Op : std::uint8_t {
  op_accept = 1,
  op_recv,
  op_send,
  op_wake,
  op_cancel,
  op_listen,
  op_mail,
};
constexpr std::uint64_t tag(int fd, Op op) noexcept {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(fd)) << 8) | op;
}

struct Slot {
  std::optional<Connection> conn;
  bool recv_armed = false;      // a multishot recv is outstanding
  bool cancel_sent = false;     // and its cancellation was requested
  bool send_in_flight = false;  // a send of conn->begin_send()'s block is outstanding
};

// An anonymous private mapping, unmapped when destroyed.
class Mapping {
 public:
  Mapping(std::size_t bytes, int extra_flags) : bytes_(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
    if (p == MAP_FAILED) {
      throw std::runtime_error("mmap of " + std::to_string(bytes) +
                               " bytes failed: " + wsb::net::error_text(errno));
    }
    data_ = static_cast<char*>(p);
  }
  ~Mapping() {
    if (data_ != nullptr) ::munmap(data_, bytes_);
  }
  Mapping(Mapping&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(other.bytes_) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping& operator=(Mapping&&) = delete;

  char* data() const noexcept { return data_; }

 private:
  char* data_ = nullptr;
  std::size_t bytes_;
};

// The memory of one thread's provided-buffer ring: an array of io_uring_buf
// entries in page-aligned memory whose tail the application advances, and
// the buffers themselves. The buffers are populated (MAP_POPULATE): the
// kernel hands them out in ring order, so a busy connection walks through all
// of them (16 MiB per thread) before any is reused, and touched lazily they
// made the server's RSS creep up by 5 MiB and more with its first traffic,
// which looked like memory growing with a client's unread replies in the
// fault suite. main() allocates them before the ready line, so that a
// client sampling the server's memory at that line (loadgen --spawn) counts
// them in the baseline, not as memory per connection.
struct BufferMemory {
  Mapping entries{buffer_count * sizeof(io_uring_buf), 0};
  Mapping buffers{std::size_t{buffer_count} * buffer_size, MAP_POPULATE};
};

// liburing 2.3 (Debian 12) predates io_uring_setup_buf_ring(), so the ring of
// provided buffers is registered here with memory of our own.
class BufferRing {
 public:
  BufferRing(io_uring& ring, BufferMemory memory) : ring_(ring), memory_(std::move(memory)) {
    entries_ = reinterpret_cast<io_uring_buf_ring*>(memory_.entries.data());
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(entries_);
    reg.ring_entries = buffer_count;
    reg.bgid = buffer_group;
    if (const int rc = io_uring_register_buf_ring(&ring_, &reg, 0); rc < 0) {
      throw std::runtime_error(
          "registering a provided-buffer ring failed (" + wsb::net::error_text(-rc) +
          "): the kernel lacks IORING_REGISTER_PBUF_RING (Linux 5.19); use server-epoll");
    }
    io_uring_buf_ring_init(entries_);
    for (unsigned i = 0; i < buffer_count; ++i)
      give_back(static_cast<std::uint16_t>(i));
    publish();
  }

  ~BufferRing() { io_uring_unregister_buf_ring(&ring_, buffer_group); }

  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  const char* data(std::uint16_t id) const noexcept {
    return memory_.buffers.data() + std::size_t{id} * buffer_size;
  }
  // Queues a consumed buffer for the kernel again; publish() makes the
  // queued ones visible with a single release store of the tail.
  void give_back(std::uint16_t id) noexcept {
    io_uring_buf_ring_add(entries_, memory_.buffers.data() + std::size_t{id} * buffer_size,
                          buffer_size, id, io_uring_buf_ring_mask(buffer_count), unpublished_++);
  }
  void publish() noexcept {
    if (unpublished_ == 0) return;
    io_uring_buf_ring_advance(entries_, unpublished_);
    unpublished_ = 0;
  }

 private:
  io_uring& ring_;
  BufferMemory memory_;
  io_uring_buf_ring* entries_ = nullptr;
  int unpublished_ = 0;
};

// Creates a ring with the cheapest completion mode the kernel offers.
// SINGLE_ISSUER + DEFER_TASKRUN (Linux 6.1) run completion work only when
// this thread enters the kernel to wait, instead of interrupting it with task
// work at arbitrary times; COOP_TASKRUN (5.19) at least avoids the
// inter-processor interrupts. Older kernels get the plain ring.
void init_ring(io_uring& ring) {
  const unsigned modes[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      0,
  };
  int rc = -EINVAL;
  for (const unsigned mode : modes) {
    io_uring_params params{};
    params.flags = mode | IORING_SETUP_CQSIZE;
    params.cq_entries = cq_entries;
    rc = io_uring_queue_init_params(sq_entries, &ring, &params);
    if (rc != -EINVAL) break;
  }
  if (rc < 0) {
    throw std::runtime_error(
        "io_uring_queue_init failed (" + wsb::net::error_text(-rc) +
        "): io_uring is unavailable or disabled here "
        "(kernel.io_uring_disabled, seccomp, RLIMIT_MEMLOCK); use server-epoll");
  }
}

// Checks, before the server announces itself, that the kernel has every
// operation this model uses, and throws a message naming what is missing.
void probe_kernel() {
  io_uring ring{};
  init_ring(ring);
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) {
    io_uring_queue_exit(&ring);
    throw std::runtime_error(
        "io_uring cannot report its operations (IORING_REGISTER_PROBE, Linux 5.6): "
        "this kernel is too old for server-uring; use server-epoll");
  }
  struct Needed {
    int op;
    const char* name;
    const char* since;
  };
  const Needed needed[] = {
      {IORING_OP_ACCEPT, "IORING_OP_ACCEPT", "5.5"},
      {IORING_OP_RECV, "IORING_OP_RECV", "5.6"},
      {IORING_OP_SEND, "IORING_OP_SEND", "5.6"},
      {IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD", "5.1"},
      {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL", "5.5"},
  };
  std::string missing;
  for (const auto& n : needed) {
    if (!io_uring_opcode_supported(probe, n.op)) {
      missing += std::string(missing.empty() ? "" : ", ") + n.name + " (Linux " + n.since + ")";
    }
  }
  io_uring_free_probe(probe);
  const bool ext_arg = (ring.features & IORING_FEAT_EXT_ARG) != 0;
  io_uring_queue_exit(&ring);
  if (!missing.empty()) {
    throw std::runtime_error("this kernel's io_uring lacks " + missing + "; use server-epoll");
  }
  if (!ext_arg) {
    throw std::runtime_error(
        "this kernel's io_uring lacks IORING_FEAT_EXT_ARG (waiting with a timeout, Linux 5.11); "
        "use server-epoll");
  }
  // Multishot accept (5.19) and multishot recv (6.0) are flags of the
  // operations above and do not show in the probe. The provided-buffer ring
  // is checked by registering one in each loop's ring; a kernel that rejects
  // the multishot flags fails the first request with EINVAL, which the loop
  // reports (see on_recv / on_accept).
}

class Loop : public wsb::kit::LoopBase {
 public:
  Loop(Frame& frame, BufferMemory memory, int listener, int wake_fd)
      : LoopBase(frame, listener, "accept"), wake_fd_(wake_fd), memory_(std::move(memory)) {}

  // The thread body. The ring is created here because a SINGLE_ISSUER ring
  // belongs to the thread that creates it. Never throws: failures end the
  // server through fail().
  void run() noexcept {
    begin_thread();
    try {
      init_ring(ring_);
    } catch (const std::exception& e) {
      frame_.fail(e.what());
      return;
    }
    // Registering the ring's own descriptor (Linux 5.18) spares the kernel a
    // descriptor lookup on every io_uring_enter; older kernels just do the lookup.
    io_uring_register_ring_fd(&ring_);
    try {
      buffers_ = std::make_unique<BufferRing>(ring_, std::move(*memory_));
      memory_.reset();
    } catch (const std::exception& e) {
      frame_.fail(e.what());
      io_uring_queue_exit(&ring_);
      return;
    }
    arm_wake();
    arm_mail();
    arm_accept();
    serve();
    shut_down();
  }

 private:
  void serve() noexcept {
    while (!frame_.stopping()) {
      // Buffers consumed in the last round go back before the submission, so
      // that re-armed receives find them.
      buffers_->publish();
      // Idle connections are found by a sweep (server/options.hpp); after an
      // accept pause the multishot accept is armed again.
      const auto wait = timers_.run_due([this](Clock::time_point now) { sweep_idle(now); },
                                        [this] { arm_accept(); });
      io_uring_cqe* cqe = nullptr;
      int rc;
      if (wait) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*wait).count();
        __kernel_timespec ts{};
        ts.tv_sec = static_cast<long long>(ns / 1'000'000'000);
        ts.tv_nsec = static_cast<long long>(ns % 1'000'000'000);
        // One io_uring_enter: submit the batch, wait for a completion or the timeout.
        rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      } else {
        rc = io_uring_submit_and_wait(&ring_, 1);
      }
      if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
        frame_.fail("io_uring_enter failed: " + wsb::net::error_text(-rc));
        return;
      }
      reap();
    }
  }

  // Handles every completion that is ready, then marks them all seen at once.
  void reap() noexcept {
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      complete(cqe->user_data, cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&ring_, seen);
  }

  void complete(std::uint64_t user_data, int res, unsigned flags) noexcept {
    const auto op = static_cast<Op>(user_data & 0xff);
    const int fd = static_cast<int>(user_data >> 8);
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    switch (op) {
      case op_accept:
        if (!more) {
          accept_armed_ = false;
          --in_flight_;
        }
        on_accept(res);
        break;
      case op_recv:
        on_recv(fd, res, flags, more);
        break;
      case op_send:
        on_send(fd, res);
        break;
      case op_listen:
        // A client is waiting after the accept ran out of descriptors: try
        // again (another EMFILE now sheds that client).
        --in_flight_;
        if (res >= 0) arm_accept();
        break;
      case op_wake:
        --in_flight_;  // the loop condition sees stopping()
        break;
      case op_mail:
        --in_flight_;
        if (res >= 0) serve_mail();
        if (res != -ECANCELED) arm_mail();
        break;
      case op_cancel:
        // Only failed cancellations post a completion (IOSQE_CQE_SKIP_SUCCESS):
        // the request had completed already (ENOENT) or was about to
        // (EALREADY), and its own completion says so.
        break;
    }
  }

  io_uring_sqe* get_sqe() noexcept {
    for (int attempt = 0;; ++attempt) {
      if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
      // The submission queue is full: hand the batch to the kernel now
      // (with the buffers consumed so far, which re-armed receives need).
      buffers_->publish();
      const int rc = io_uring_submit(&ring_);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
        // Without a free entry no request can be issued, and callers depend
        // on theirs (a connection would hang): a broken invariant.
        std::fprintf(stderr, "uring: io_uring_submit failed with a full queue: %s\n",
                     wsb::net::error_text(-rc).c_str());
        std::abort();
      }
      if (attempt > 0) std::this_thread::yield();  // EAGAIN: the kernel is short of memory
    }
  }

  void arm_wake() noexcept {
    // A poll, not a read: the eventfd is shared by all rings and must stay
    // readable so that each of them sees it.
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, wake_fd_, POLLIN);
    io_uring_sqe_set_data64(sqe, tag(wake_fd_, op_wake));
    ++in_flight_;
  }

  // A poll request on the loop's mail (kit/loop_mail.hpp): chat messages
  // that other threads posted to its connections, and room made by a
  // connection closed anywhere.
  void arm_mail() noexcept {
    if (draining_) return;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, mail_.fd(), POLLIN);
    io_uring_sqe_set_data64(sqe, tag(mail_.fd(), op_mail));
    ++in_flight_;
  }

  void serve_mail() noexcept {
    const bool room = mail_.take(mail_fds_);
    for (const int fd : mail_fds_) {
      Slot* slot = slots_.find(fd);
      if (slot != nullptr && slot->conn->collect_mail()) service(fd, *slot);
    }
    if (room && full_) {
      full_ = false;
      // Whether a client has been kept waiting: only then is the wait since
      // the loop stopped accepting reported for the next accepted one.
      pollfd waiting{listener_.fd(), POLLIN, 0};
      note_wait_ = ::poll(&waiting, 1, 0) == 1;
      if (!note_wait_) full_since_.reset();  // nobody waited: the next full stretch starts afresh
      arm_accept();
    }
  }

  void arm_accept() noexcept {
    if (accept_armed_ || timers_.accept_paused() || frame_.stopping()) return;
    if (queue_when_full_) {
      arm_single_accept();
      return;
    }
    // Multishot accept: one request keeps posting a completion per accepted
    // socket. The sockets stay blocking; io_uring never blocks on them.
    queue_accept(true);
  }

  // --when-full queue: one accept at a time, issued only while the frame
  // has room, since a multishot accept would take every waiting client off
  // the kernel's queue only for the frame to refuse it. At --max-connections
  // none is issued until a connection closes and the loop's mail says so.
  // (With --threads N, each ring may have one accept in flight when room
  // is made for one: the frame refuses, and counts, the surplus.)
  void arm_single_accept() noexcept {
    if (!frame_.has_room()) {
      full_ = true;
      if (!full_since_) full_since_ = Clock::now();
      return;
    }
    queue_accept(false);
  }

  // Queues an accept on the listener, a multishot one or a single one.
  void queue_accept(bool multishot) noexcept {
    io_uring_sqe* sqe = get_sqe();
    if (multishot) {
      io_uring_prep_multishot_accept(sqe, listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    } else {
      io_uring_prep_accept(sqe, listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    }
    io_uring_sqe_set_data64(sqe, tag(listener_.fd(), op_accept));
    accept_armed_ = true;
    ++in_flight_;
  }

  void on_accept(int res) noexcept {
    if (draining_) {
      // Accepted while the stop was being processed: nothing new starts now.
      if (res >= 0) ::close(res);
      return;
    }
    if (res >= 0) {
      if (note_wait_ && full_since_) frame_.note_waited(Clock::now() - *full_since_);
      note_wait_ = false;
      add_connection(res);
    } else if (res == -ECANCELED) {
      return;  // shutting down
    } else if (res == -EINVAL && !accepted_any_) {
      frame_.fail(
          "multishot accept was rejected (EINVAL): the kernel lacks IORING_ACCEPT_MULTISHOT "
          "(Linux 5.19); use server-epoll");
      return;
    } else if (!on_accept_error(-res)) {
      return;
    }
    // A multishot request ends after any error; re-arm it.
    arm_accept();
  }

  // Returns whether to re-arm the accept at once.
  bool on_accept_error(int code) noexcept {
    switch (listener_.policy().handle(code, listener_.fd(), *shard_)) {
      case AcceptAction::retry:
        return true;
      case AcceptAction::wait:
        // An accept issued now would fail at once again (the descriptor is
        // allocated before the backlog is looked at): wait for a client
        // with a poll request instead.
        wait_for_client();
        return false;
      case AcceptAction::pause:
        break;
      case AcceptAction::stop:
        return false;  // the policy told the frame, which is stopping
    }
    timers_.pause_accepting();  // no spare, or an unexpected failure that would recur at once
    return false;
  }

  void wait_for_client() noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, listener_.fd(), POLLIN);
    io_uring_sqe_set_data64(sqe, tag(listener_.fd(), op_listen));
    ++in_flight_;
  }

  void add_connection(int fd) noexcept {
    accepted_any_ = true;
    if (!wsb::kit::admit_accepted(frame_, *shard_, fd)) return;
    if (Slot* slot = slots_.add(fd, *shard_)) arm_recv(fd, *slot);
  }

  void arm_recv(int fd, Slot& slot) noexcept {
    // Multishot recv with buffer selection: the request stays armed and the
    // kernel takes a buffer from the group only when data arrives, so idle
    // connections hold no receive memory.
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffer_group;
    io_uring_sqe_set_data64(sqe, tag(fd, op_recv));
    slot.recv_armed = true;
    ++in_flight_;
  }

  void cancel_recv(int fd, Slot& slot) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, tag(fd, op_recv), 0);
    // A successful cancellation is visible as the recv's own final
    // completion (ECANCELED); its separate completion would be noise.
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, tag(fd, op_cancel));
    slot.cancel_sent = true;
  }

  void on_recv(int fd, int res, unsigned flags, bool more) noexcept {
    Slot& slot = slots_[fd];
    if (!more) {
      slot.recv_armed = false;
      slot.cancel_sent = false;
      --in_flight_;
    }
    Connection& conn = *slot.conn;
    if (res > 0 && (flags & IORING_CQE_F_BUFFER) == 0) {
      conn.on_error(ErrorClass::io);  // cannot happen with IOSQE_BUFFER_SELECT; do not guess
    } else if (res > 0) {
      const auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
      conn.on_received({buffers_->data(id), static_cast<std::size_t>(res)});
      // The session consumed the bytes (replies were copied into the
      // Connection), so the buffer can go back at once.
      buffers_->give_back(id);
    } else if (res == 0) {
      conn.on_peer_closed();
    } else if (res == -ENOBUFS) {
      // Every provided buffer was in use: the multishot request ended. The
      // buffers of this round go back before the next submission, and
      // service() re-arms the request.
    } else if (res == -ECANCELED) {
      // Cancelled for backpressure or closing; service() decides.
    } else if (res == -EINVAL && !received_any_) {
      frame_.fail(
          "multishot recv with provided buffers was rejected (EINVAL): the kernel lacks "
          "IORING_RECV_MULTISHOT (Linux 6.0); use server-epoll");
      conn.on_error(ErrorClass::io);
    } else {
      conn.on_error(classify_io_error(-res));
    }
    if (res > 0) received_any_ = true;
    service(fd, slot);
  }

  void on_send(int fd, int res) noexcept {
    Slot& slot = slots_[fd];
    slot.send_in_flight = false;
    --in_flight_;
    Connection& conn = *slot.conn;
    if (res >= 0) {
      // A short send leaves the rest of the block in flight for the next one.
      conn.on_sent(static_cast<std::size_t>(res));
    } else if (res != -ECANCELED) {
      conn.on_error(classify_io_error(-res));
    }
    service(fd, slot);
  }

  // Brings a connection's requests in line with what the Connection wants.
  void service(int fd, Slot& slot) noexcept {
    Connection& conn = *slot.conn;
    if (draining_) {
      // Shutting down: no new requests; close once the kernel let go.
      if (!slot.recv_armed && !slot.send_in_flight) close_connection(fd);
      return;
    }
    if (!slot.send_in_flight && conn.want_write()) {
      const auto bytes = conn.begin_send();
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_send(sqe, fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      io_uring_sqe_set_data64(sqe, tag(fd, op_send));
      slot.send_in_flight = true;
      ++in_flight_;
    }
    if (conn.want_read()) {
      if (!slot.recv_armed) arm_recv(fd, slot);
    } else if (slot.recv_armed && !slot.cancel_sent) {
      // Backpressure or closing: stop the multishot recv. Completions that
      // were already on their way are still fed to the Connection; the bound
      // is soft.
      cancel_recv(fd, slot);
    }
    if (conn.finished() && !slot.recv_armed && !slot.send_in_flight) close_connection(fd);
  }

  void close_connection(int fd) noexcept {
    // Nothing of this socket is in flight any more, so the descriptor number
    // may be reused by the next accept. close() sends FIN after the sent
    // replies (or a reset if unread input remains).
    slots_.close(fd, *shard_);
  }

  void sweep_idle(Clock::time_point now) noexcept {
    slots_.for_each([&](int fd, Slot& slot) {
      if (slot.conn->expire_if_idle(now)) service(fd, slot);
    });
  }

  // Cancels every request of this ring and waits (bounded) for their final
  // completions, so that no send still reads a Connection's buffer and no
  // recv still writes a provided buffer when they are freed.
  void shut_down() noexcept {
    draining_ = true;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, tag(0, op_cancel));
    const auto deadline = Clock::now() + drain_limit;
    while (in_flight_ > 0 && Clock::now() < deadline) {
      __kernel_timespec ts{};
      ts.tv_nsec = 100'000'000;
      io_uring_cqe* cqe = nullptr;
      const int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) break;
      reap();
    }
    slots_.for_each([this](int fd, Slot& slot) {
      if (slot.send_in_flight || slot.recv_armed) return;  // still owned by the kernel
      close_connection(fd);
    });
    if (in_flight_ > 0) {
      // Requests that did not finish in time may still touch their memory:
      // leave it (and the ring) to the end of the process rather than free
      // it under the kernel's feet.
      listener_.log()(
          frame_, std::to_string(in_flight_) +
                      " requests did not complete after cancellation; leaving their memory mapped");
      static_cast<void>(new std::vector<Slot>(slots_.take_all()));
      static_cast<void>(buffers_.release());
      return;
    }
    buffers_.reset();
    io_uring_queue_exit(&ring_);
  }

  const int wake_fd_;
  io_uring ring_{};
  std::optional<BufferMemory> memory_;  // until run() hands it to buffers_
  std::unique_ptr<BufferRing> buffers_;
  wsb::kit::DescriptorTable<Slot> slots_{frame_, &mail_};
  const bool queue_when_full_ = frame_.options().when_full == wsb::server::WhenFull::queue;
  // Since when the loop has issued no accept for want of room, and whether
  // a client was seen waiting when room came (so the next accept waited).
  std::optional<Clock::time_point> full_since_;
  bool note_wait_ = false;
  // Requests whose final completion has not been seen (multishot ones count once).
  long in_flight_ = 0;
  bool accept_armed_ = false;
  bool accepted_any_ = false;
  bool received_any_ = false;
  bool draining_ = false;  // stopping: cancel everything, start nothing
};

}  // namespace

int main(int argc, char** argv) {
  return wsb::server::run_model(
      argc, argv,
      {.name = "uring",
       .description =
           "io_uring (liburing): one ring per thread with its own SO_REUSEPORT listener, "
           "multishot accept, multishot recv into a ring of provided buffers, one send in flight "
           "per connection, one io_uring_enter per loop iteration. Needs Linux 6.0."},
      [](Frame& frame) {
        probe_kernel();

        // The listeners stay blocking: io_uring never blocks on them, and a
        // blocking socket behaves the same on every kernel version.
        // Destroyed after finish(), which stops the thread that signals it.
        wsb::net::WakeDescriptor wake;
        // Receive buffers first: the ready line comes with the first listener
        // (BufferMemory says why that order matters).
        std::vector<BufferMemory> memory(static_cast<std::size_t>(frame.options().threads));
        return wsb::kit::serve_loops(
            frame, false,
            [&](int i, int listener) {
              return std::make_unique<Loop>(frame, std::move(memory[static_cast<std::size_t>(i)]),
                                            listener, wake.fd());
            },
            [&wake] { wake.signal(); });
      });
}
