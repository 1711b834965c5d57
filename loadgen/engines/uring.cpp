// The io_uring engine (Linux, the default): connects, sends and multishot
// receives are submitted to one ring per worker thread and their completions
// dispatched in batches, so a busy worker makes one io_uring_enter() per loop
// turn for all of its connections instead of one system call per socket
// operation.
//
// Receive memory. Receives select their buffer from a provided-buffer ring
// (IORING_REGISTER_PBUF_RING) shared by all connections of the worker, and
// the buffer is handed back right after on_data() returns. An idle connection
// therefore holds no receive buffer at all, which is what lets 10,000 held
// connections stay small. The buffer area is mmap()ed, so only buffers the
// kernel actually fills ever become resident.
//
// Lifetime. Each connection attempt gets a Conn record that owns the socket,
// the sockaddr of the connect and the bytes of the send in flight. A slot
// points at its current Conn; close() detaches the Conn, cancels its
// operations and closes the descriptor, and the Conn (with the memory the
// kernel may still read) is recycled only when its last operation has
// completed. Completions carry the Conn's address and the operation in
// user_data, so a late completion of a closed connection never reaches the
// handler, even after its slot was reused.
//
// Kernel requirements: 5.19 for provided-buffer rings, 6.0 for multishot
// receive (on 5.19 the engine falls back to one-shot receives). Setup flags
// SINGLE_ISSUER and DEFER_TASKRUN (6.1) are used when the kernel has them.
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "engines/engine.hpp"
#include "engines/posix_socket.hpp"
#include "engines/slot_reports.hpp"

namespace wsb::loadgen {

namespace {

enum Op : std::uint64_t { kOpConnect = 1, kOpRecv = 2, kOpSend = 3, kOpMask = 7 };
// user_data of requests whose completions carry nothing to act on (cancels),
// and of the eventfd read that implements wake(). Conn addresses are 8-byte
// aligned and never null, so their user_data always has op bits 1..3.
constexpr std::uint64_t kIgnore = 0;
constexpr std::uint64_t kWake = 8;
constexpr std::uint64_t kTimeout = 16;  // the poll() deadline (arm_timeout)
constexpr unsigned kBufferGroup = 0;

struct Conn {
  ByteBuffer inflight;   // bytes of the send in flight (address fixed until it completes)
  net::Endpoint target;  // connect()'s sockaddr, read by the kernel asynchronously
  Conn* next_free = nullptr;
  int fd = -1;
  ConnId id = 0;
  std::uint8_t ops = 0;   // operations in the kernel
  bool attached = false;  // the slot still points here
  bool connected = false;
  bool connecting = false;
  bool receiving = false;   // a receive is armed
  bool sending = false;     // a send is in flight
  bool send_waits = false;  // the send in flight may wait for socket space (see submit_send)
};
static_assert(alignof(Conn) >= 8);

struct Completion {
  std::uint64_t user_data;
  std::int32_t res;
  std::uint32_t flags;
};

class UringEngine final : public Engine {
 public:
  UringEngine(const EngineConfig& config, EngineHandler& handler)
      : handler_(handler),
        slots_(config.capacity),
        deferred_(config.capacity),
        buffer_size_(config.receive_size) {
    // Submission entries: a connection has at most three operations plus two
    // cancels in one loop turn; the ring is flushed early when it fills up.
    const unsigned entries =
        std::clamp<unsigned>(std::bit_ceil(config.capacity * 2U + 8U), 64, 4096);
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                   IORING_SETUP_COOP_TASKRUN;
    params.cq_entries = entries * 4;
    int rc = io_uring_queue_init_params(entries, &ring_, &params);
    if (rc == -EINVAL) {
      // Kernels before 6.1 reject the newer flags.
      params = io_uring_params{};
      params.flags = IORING_SETUP_CQSIZE;
      params.cq_entries = entries * 4;
      rc = io_uring_queue_init_params(entries, &ring_, &params);
    }
    if (rc < 0) {
      throw EngineUnavailable("io_uring is not available (" + net::error_text(-rc) +
                              "): the kernel lacks it or a seccomp policy forbids it");
    }
    if ((params.features & IORING_FEAT_EXT_ARG) == 0 ||
        (params.features & IORING_FEAT_NODROP) == 0) {
      io_uring_queue_exit(&ring_);
      throw EngineUnavailable("io_uring of this kernel is too old (needs 5.19 or later)");
    }
    // A registered ring descriptor spares io_uring_enter() looking the ring's
    // file up on every call (Linux 5.18); without it everything still works.
    [[maybe_unused]] const int registered = io_uring_register_ring_fd(&ring_);
    try {
      setup_buffers(config.capacity);
    } catch (...) {
      io_uring_queue_exit(&ring_);
      throw;
    }
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      const int err = errno;
      teardown_buffers();
      io_uring_queue_exit(&ring_);
      throw EngineUnavailable("eventfd failed: " + net::error_text(err));
    }
    arm_wake();
  }

  ~UringEngine() override {
    for (ConnId id = 0; id < slots_.size(); ++id) {
      if (slots_[id].conn != nullptr) close(id, CloseMode::abort);
    }
    // Wait (bounded) until the kernel has finished with every Conn and
    // buffer; only then may their memory be freed.
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, kWake, 0);
    sqe->user_data = kIgnore;
    if (timeout_armed_) {
      // It holds no memory of ours (the kernel copied its time); removed so
      // that the wait below does not sleep until it fires.
      sqe = get_sqe();
      io_uring_prep_timeout_remove(sqe, kTimeout, 0);
      sqe->user_data = kIgnore;
    }
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(5);
    try {
      while ((busy_ > 0 || wake_armed_) && Clock::now() < give_up) {
        submit_and_wait(std::chrono::milliseconds(50));
        drain_completions(true);
      }
    } catch (const std::exception&) {
      // The ring failed: whatever is still in flight stays unaccounted, and
      // the memory below is then leaked rather than freed under the kernel.
    }
    const bool kernel_done = busy_ == 0 && !wake_armed_;
    io_uring_queue_exit(&ring_);
    ::close(wake_fd_);
    if (kernel_done) {
      teardown_buffers();
      while (free_ != nullptr) {
        Conn* next = free_->next_free;
        delete free_;
        free_ = next;
      }
    }
    // Otherwise the memory is deliberately leaked: freeing buffers the kernel
    // might still write would be worse than losing them at process exit.
  }

  std::string_view name() const noexcept override { return "uring"; }

  void connect(ConnId id, const net::Endpoint& target, const net::Endpoint* source) override {
    Slot& slot = slots_[id];
    slot.out.clear();
    ++slot.generation;
    int err = 0;
    const int fd = posix::open_client_socket(target, source, &err);
    if (fd < 0) {
      deferred_.add(slots_, id, ReportKind::connected, posix::classify(err), err);
      return;
    }
    Conn* c = allocate();
    if (c == nullptr) {
      ::close(fd);
      deferred_.add(slots_, id, ReportKind::connected, Failure::no_descriptors, ENOMEM);
      return;
    }
    c->fd = fd;
    c->id = id;
    c->target = target;
    c->attached = true;
    c->connecting = true;
    slot.conn = c;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_connect(sqe, fd, c->target.address(), static_cast<socklen_t>(c->target.length));
    io_uring_sqe_set_data64(sqe, tag(c, kOpConnect));
    start_op(c);
  }

  ByteBuffer& output(ConnId id) noexcept override { return slots_[id].out; }

  bool sends_in_poll() const noexcept override { return true; }

  void flush(ConnId id) noexcept override {
    Slot& slot = slots_[id];
    Conn* c = slot.conn;
    if (c == nullptr || !c->connected || c->sending || slot.out.empty()) return;
    // The pending bytes become the in-flight buffer; the slot gets the old
    // in-flight buffer (empty, capacity kept) for the next requests.
    using std::swap;
    swap(slot.out, c->inflight);
    submit_send(c, false);
  }

  void close(ConnId id, CloseMode mode) noexcept override {
    if (Conn* c = slots_[id].end()) detach(c, mode);
  }

  void poll(Clock::time_point deadline) override {
    if (!deferred_.empty()) {
      deferred_.deliver(slots_, handler_, [](Slot&, const DeferredReport&) {});
      submit_and_wait(std::chrono::nanoseconds(0));
    } else if (deadline <= Clock::now()) {
      submit_and_wait(std::chrono::nanoseconds(0));
    } else {
      arm_timeout(deadline);
      submit_and_sleep();
    }
    drain_completions(false);
    rearm_receives();
  }

  void wake() noexcept override {
    const std::uint64_t one = 1;
    // A full counter (EAGAIN) means a wake-up is pending anyway.
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
  }

 private:
  using Slot = ConnSlot<Conn>;

  static std::uint64_t tag(Conn* c, Op op) noexcept {
    return reinterpret_cast<std::uintptr_t>(c) | op;
  }

  // ---- Provided buffers -------------------------------------------------------

  void setup_buffers(std::uint32_t capacity) {
    buffer_count_ = std::clamp<unsigned>(std::bit_ceil(std::max(capacity, 1U)), 64, 512);
    ring_bytes_ = buffer_count_ * sizeof(io_uring_buf);
    void* ring_memory =
        ::mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring_memory == MAP_FAILED) {
      throw EngineUnavailable("cannot map the io_uring buffer ring: " + net::error_text(errno));
    }
    buffer_ring_ = static_cast<io_uring_buf_ring*>(ring_memory);
    area_bytes_ = buffer_count_ * buffer_size_;
    void* area = ::mmap(nullptr, area_bytes_, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (area == MAP_FAILED) {
      const int err = errno;
      ::munmap(ring_memory, ring_bytes_);
      throw EngineUnavailable("cannot map io_uring receive buffers: " + net::error_text(err));
    }
    buffers_ = static_cast<char*>(area);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(ring_memory);
    reg.ring_entries = buffer_count_;
    reg.bgid = kBufferGroup;
    const int rc = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (rc < 0) {
      ::munmap(area, area_bytes_);
      ::munmap(ring_memory, ring_bytes_);
      throw EngineUnavailable("io_uring provided-buffer rings need Linux 5.19 or later (" +
                              net::error_text(-rc) + ")");
    }
    io_uring_buf_ring_init(buffer_ring_);
    const int mask = io_uring_buf_ring_mask(buffer_count_);
    for (unsigned i = 0; i < buffer_count_; ++i) {
      io_uring_buf_ring_add(buffer_ring_, buffers_ + std::size_t{i} * buffer_size_,
                            static_cast<unsigned>(buffer_size_), static_cast<unsigned short>(i),
                            mask, static_cast<int>(i));
    }
    io_uring_buf_ring_advance(buffer_ring_, static_cast<int>(buffer_count_));
  }

  void teardown_buffers() noexcept {
    ::munmap(buffers_, area_bytes_);
    ::munmap(buffer_ring_, ring_bytes_);
  }

  void recycle(unsigned bid) noexcept {
    io_uring_buf_ring_add(buffer_ring_, buffers_ + std::size_t{bid} * buffer_size_,
                          static_cast<unsigned>(buffer_size_), static_cast<unsigned short>(bid),
                          io_uring_buf_ring_mask(buffer_count_), 0);
    io_uring_buf_ring_advance(buffer_ring_, 1);
  }

  // ---- Conn records -------------------------------------------------------------

  Conn* allocate() noexcept {
    if (free_ != nullptr) {
      Conn* c = free_;
      free_ = c->next_free;
      c->next_free = nullptr;
      return c;
    }
    try {
      return new Conn;
    } catch (...) {
      return nullptr;
    }
  }

  void release(Conn* c) noexcept {
    c->inflight.clear();
    c->fd = -1;
    c->ops = 0;
    c->attached = c->connected = c->connecting = c->receiving = c->sending = false;
    c->next_free = free_;
    free_ = c;
  }

  void start_op(Conn* c) noexcept {
    ++c->ops;
    ++busy_;
  }
  // An operation of c completed; recycles c when it was the last one of a
  // detached Conn. Returns false in that case (c is gone).
  bool finish_op(Conn* c) noexcept {
    --c->ops;
    --busy_;
    if (!c->attached && c->ops == 0) {
      release(c);
      return false;
    }
    return true;
  }

  // ---- Submission -----------------------------------------------------------------

  io_uring_sqe* get_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
      // The submission queue is full: hand it to the kernel and retry.
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  // A send first goes out with MSG_DONTWAIT: the kernel then never parks it
  // to wait for socket space (REQ_F_NOWAIT) but completes it during the
  // submission, with the bytes it took or -EAGAIN. Its completion is thus
  // certain to be in the queue before io_uring_enter() starts waiting, and
  // the wait asks for one completion more per such send (submit_and_wait):
  // a closed-loop round trip then costs ONE io_uring_enter() (submit the
  // request, sleep until the response), not two (the first returning at once
  // with nothing but the send's completion). Only when the socket is full
  // (a short send or -EAGAIN) does the rest go out as an ordinary send that
  // waits for space (`waits`), which is not counted.
  void submit_send(Conn* c, bool waits) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, c->fd, c->inflight.data(), c->inflight.size(),
                       MSG_NOSIGNAL | (waits ? 0 : MSG_DONTWAIT));
    io_uring_sqe_set_data64(sqe, tag(c, kOpSend));
    c->sending = true;
    c->send_waits = waits;
    if (!waits) ++immediate_;
    start_op(c);
  }

  void arm_receive(Conn* c) noexcept {
    io_uring_sqe* sqe = get_sqe();
    if (multishot_) {
      io_uring_prep_recv_multishot(sqe, c->fd, nullptr, 0, 0);
    } else {
      io_uring_prep_recv(sqe, c->fd, nullptr, buffer_size_, 0);
    }
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, tag(c, kOpRecv));
    c->receiving = true;
    start_op(c);
  }

  void arm_wake() noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(sqe, kWake);
    wake_armed_ = true;
  }

  // The deadline of poll() is a timeout operation in the ring (absolute,
  // CLOCK_MONOTONIC, which is steady_clock's clock), kept armed across
  // polls and moved only when a poll needs an EARLIER wake-up. The obvious
  // way, a timeout argument to every io_uring_enter(), starts and cancels a
  // kernel timer on every wait; in a virtual machine programming the timer
  // is a trap to the hypervisor, which measurably lengthened every round
  // trip. A closed loop's deadline (the next timeout scan) changes a few
  // times a second, so the timer is now set that often instead of once per
  // round trip. An armed timeout that is earlier than needed stays: the
  // poll returns early, which the contract allows, and the next one re-arms.
  void arm_timeout(Clock::time_point deadline) noexcept {
    if (timeout_armed_ && timeout_at_ <= deadline) return;
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    timeout_ts_.tv_sec = ns / 1'000'000'000;
    timeout_ts_.tv_nsec = ns % 1'000'000'000;
    io_uring_sqe* sqe = get_sqe();
    if (timeout_armed_) {
      // Moved earlier in place. A successful update posts nothing, so it
      // does not end the wait; one that finds the timeout already expired
      // (-ENOENT) posts an ignored completion, and the expired timeout's own
      // completion clears timeout_armed_.
      io_uring_prep_timeout_update(sqe, &timeout_ts_, kTimeout, IORING_TIMEOUT_ABS);
      sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
      io_uring_sqe_set_data64(sqe, kIgnore);
    } else {
      io_uring_prep_timeout(sqe, &timeout_ts_, 0, IORING_TIMEOUT_ABS);
      io_uring_sqe_set_data64(sqe, kTimeout);
      timeout_armed_ = true;
    }
    timeout_at_ = deadline;
  }

  void cancel(Conn* c, Op op) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, tag(c, op), 0);
    io_uring_sqe_set_data64(sqe, kIgnore);
  }

  // Detaches c from its slot: cancels what it has in the kernel, closes the
  // socket (the kernel keeps it alive until the cancelled operations finish,
  // then sends the FIN, or the RST for CloseMode::abort).
  void detach(Conn* c, CloseMode mode) noexcept {
    c->attached = false;
    if (c->fd >= 0) {
      if (mode == CloseMode::abort) posix::set_abortive_close(c->fd);
      if (c->connecting) cancel(c, kOpConnect);
      if (c->receiving) cancel(c, kOpRecv);
      if (c->sending) cancel(c, kOpSend);
      ::close(c->fd);
      c->fd = -1;
    }
    if (c->ops == 0) release(c);
  }

  void submit_and_wait(Clock::duration timeout) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
    __kernel_timespec ts{};
    ts.tv_sec = ns / 1'000'000'000;
    ts.tv_nsec = ns % 1'000'000'000;
    io_uring_cqe* cqe = nullptr;
    // Completions that the submission itself posts (MSG_DONTWAIT sends, see
    // submit_send) do not end the wait; one more does. With a zero timeout
    // the count does not matter.
    const unsigned wait_nr = 1 + immediate_;
    immediate_ = 0;
    const int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, wait_nr, &ts, nullptr);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
      throw std::system_error(-rc, std::generic_category(), "io_uring_submit_and_wait_timeout");
    }
  }

  // Submits and sleeps until a completion that the submission did not post
  // itself: an I/O completion, wake(), or the armed timeout (arm_timeout).
  void submit_and_sleep() {
    const unsigned wait_nr = 1 + immediate_;
    immediate_ = 0;
    const int rc = io_uring_submit_and_wait(&ring_, wait_nr);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
      throw std::system_error(-rc, std::generic_category(), "io_uring_submit_and_wait");
    }
  }

  // ---- Completion -----------------------------------------------------------------

  void drain_completions(bool tearing_down) noexcept {
    for (;;) {
      io_uring_cqe* cqes[256];
      const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, 256);
      if (n == 0) return;
      // Copied out and released before any callback runs, so that handlers
      // submitting new work never hold completion-queue slots.
      Completion batch[256];
      for (unsigned i = 0; i < n; ++i) {
        batch[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
      }
      io_uring_cq_advance(&ring_, n);
      for (unsigned i = 0; i < n; ++i)
        handle(batch[i], tearing_down);
    }
  }

  void handle(const Completion& cqe, bool tearing_down) noexcept {
    if (cqe.user_data == kIgnore) return;
    if (cqe.user_data == kTimeout) {
      timeout_armed_ = false;
      return;
    }
    if (cqe.user_data == kWake) {
      wake_armed_ = false;
      if (!tearing_down && cqe.res != -ECANCELED) arm_wake();
      return;
    }
    Conn* c = reinterpret_cast<Conn*>(cqe.user_data & ~std::uint64_t{kOpMask});
    switch (static_cast<Op>(cqe.user_data & kOpMask)) {
      case kOpConnect:
        on_connect(c, cqe.res);
        break;
      case kOpRecv:
        on_receive(c, cqe.res, cqe.flags);
        break;
      case kOpSend:
        on_send(c, cqe.res);
        break;
      default:
        break;
    }
  }

  void on_connect(Conn* c, int res) noexcept {
    c->connecting = false;
    if (!finish_op(c) || !c->attached) return;
    const ConnId id = c->id;
    if (res < 0) {
      ::close(c->fd);
      c->fd = -1;
      slots_[id].conn = nullptr;
      c->attached = false;
      release(c);
      handler_.on_connected(id, posix::classify(-res), -res);
      return;
    }
    c->connected = true;
    arm_receive(c);
    handler_.on_connected(id, Failure::none, 0);
  }

  void on_receive(Conn* c, int res, std::uint32_t flags) noexcept {
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    const bool has_buffer = (flags & IORING_CQE_F_BUFFER) != 0;
    const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
    if (!more) c->receiving = false;
    if (c->attached && res > 0 && has_buffer) {
      handler_.on_data(c->id, buffers_ + std::size_t{bid} * buffer_size_,
                       static_cast<std::size_t>(res));
    }
    if (has_buffer) recycle(bid);
    if (!more && !finish_op(c)) return;
    if (!c->attached) return;
    if (res > 0) {
      if (!more) rearm_.push_back(c);  // one-shot receive, or multishot ended
      return;
    }
    if (res == -ENOBUFS) {
      // Every buffer was taken when data arrived; they are being recycled,
      // so the receive is re-armed after this batch.
      if (!more) rearm_.push_back(c);
      return;
    }
    if (res == -EINVAL && multishot_) {
      // Kernel 5.19 has buffer rings but no multishot receive.
      multishot_ = false;
      if (!more) rearm_.push_back(c);
      return;
    }
    if (res == -ECANCELED) return;
    fail(c, res == 0 ? Failure::none : posix::classify(-res), res == 0 ? 0 : -res);
  }

  void on_send(Conn* c, int res) noexcept {
    c->sending = false;
    if (!finish_op(c)) return;
    if (!c->attached) return;
    if (res == -EAGAIN && !c->send_waits) {
      submit_send(c, true);  // the socket is full: wait for space this time
      return;
    }
    if (res < 0) {
      if (res == -ECANCELED) return;
      fail(c, posix::classify(-res), -res);
      return;
    }
    c->inflight.consume(static_cast<std::size_t>(res));
    if (!c->inflight.empty()) {
      // A partial send (the socket was full): the rest from the same buffer,
      // waiting for space.
      submit_send(c, true);
      return;
    }
    Slot& slot = slots_[c->id];
    if (!slot.out.empty()) {
      using std::swap;
      swap(slot.out, c->inflight);
      submit_send(c, false);
    }
  }

  void rearm_receives() noexcept {
    for (Conn* c : rearm_) {
      if (c->attached && c->connected && !c->receiving && c->fd >= 0) arm_receive(c);
    }
    rearm_.clear();
  }

  // The connection ended inside poll(): close it and tell the handler.
  void fail(Conn* c, Failure failure, int code) noexcept {
    const ConnId id = c->id;
    slots_[id].end();
    detach(c, CloseMode::graceful);
    handler_.on_closed(id, failure, code);
  }

  EngineHandler& handler_;
  io_uring ring_{};
  std::vector<Slot> slots_;
  DeferredReports deferred_;
  std::vector<Conn*> rearm_;
  Conn* free_ = nullptr;
  std::size_t busy_ = 0;  // operations in the kernel over all Conns
  io_uring_buf_ring* buffer_ring_ = nullptr;
  char* buffers_ = nullptr;
  std::size_t buffer_size_;
  unsigned buffer_count_ = 0;
  std::size_t ring_bytes_ = 0;
  std::size_t area_bytes_ = 0;
  int wake_fd_ = -1;
  std::uint64_t wake_value_ = 0;
  bool wake_armed_ = false;
  bool multishot_ = true;
  // MSG_DONTWAIT sends queued since the last wait: their completions are
  // posted by the submission itself (see submit_send).
  unsigned immediate_ = 0;
  // The timeout operation of arm_timeout(): armed until its completion.
  __kernel_timespec timeout_ts_{};
  Clock::time_point timeout_at_{};
  bool timeout_armed_ = false;
};

}  // namespace

std::unique_ptr<Engine> make_uring_engine(const EngineConfig& config, EngineHandler& handler) {
  return std::make_unique<UringEngine>(config, handler);
}

}  // namespace wsb::loadgen
