// ChildProcess for POSIX (Linux): fork + execv with three pipes.
#include <sched.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "platform/net.hpp"
#include "spawn_child.hpp"

namespace wsb::loadgen {

struct ChildProcess::Impl {
  pid_t pid = -1;
  int in = -1;   // write end of the child's stdin
  int out = -1;  // read end of the child's stdout
  int err = -1;  // read end of the child's stderr
  bool reaped = false;
  std::optional<Exit> exit;
};

namespace {

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Reads what is there without blocking; false at end of file or error.
bool drain(int& fd, std::string& into) {
  if (fd < 0) return false;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      into.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    close_fd(fd);
    return false;
  }
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::vector<int>& cpus)
    : impl_(new Impl) {
  if (argv.empty()) {
    delete impl_;
    throw std::runtime_error("no program to start");
  }
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) {
    delete impl_;
    throw std::runtime_error("pipe: " + net::error_text(errno));
  }
  if (::pipe2(out, O_CLOEXEC) != 0) {
    const int e = errno;
    ::close(in[0]);
    ::close(in[1]);
    delete impl_;
    throw std::runtime_error("pipe: " + net::error_text(e));
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    const int e = errno;
    for (int fd : {in[0], in[1], out[0], out[1]})
      ::close(fd);
    delete impl_;
    throw std::runtime_error("pipe: " + net::error_text(e));
  }
  // Everything the child needs is prepared before fork(): after it, in a
  // multi-threaded parent, the child may only make async-signal-safe calls.
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  cpu_set_t cpu_set;
  CPU_ZERO(&cpu_set);
  for (int c : cpus) {
    if (c < CPU_SETSIZE) CPU_SET(c, &cpu_set);
  }

  const pid_t pid = ::fork();
  if (pid == 0) {
    // Own process group: Ctrl-C at the terminal reaches loadgen only, which
    // then stops the server in order. PDEATHSIG: if loadgen is killed, the
    // server does not linger (the parent check closes the race with a
    // parent that died before prctl).
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    // dup2 clears FD_CLOEXEC on the copies; the originals close at exec.
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Before exec: the server's every thread inherits the mask.
    if (!cpus.empty() && ::sched_setaffinity(0, sizeof cpu_set, &cpu_set) != 0) {
      const char message[] = "loadgen: sched_setaffinity for --server-cpus failed\n";
      [[maybe_unused]] const auto w = ::write(2, message, sizeof message - 1);
      ::_exit(127);
    }
    ::execv(args[0], args.data());
    const char message[] = "loadgen: exec of the server failed\n";
    [[maybe_unused]] const auto w = ::write(2, message, sizeof message - 1);
    ::_exit(127);
  }
  const int fork_error = errno;
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    ::close(in[1]);
    ::close(out[0]);
    ::close(err[0]);
    delete impl_;
    throw std::runtime_error("fork: " + net::error_text(fork_error));
  }
  impl_->pid = pid;
  impl_->in = in[1];
  impl_->out = out[0];
  impl_->err = err[0];
  ::fcntl(impl_->out, F_SETFL, O_NONBLOCK);
  ::fcntl(impl_->err, F_SETFL, O_NONBLOCK);
}

ChildProcess::~ChildProcess() {
  if (!impl_->reaped && impl_->pid > 0) {
    ::kill(impl_->pid, SIGKILL);
    int status = 0;
    while (::waitpid(impl_->pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  close_fd(impl_->in);
  close_fd(impl_->out);
  close_fd(impl_->err);
  delete impl_;
}

platform::ProcessId ChildProcess::pid() const noexcept {
  return impl_->pid;
}

bool ChildProcess::read_output(std::chrono::milliseconds wait, std::string& out, std::string& err) {
  pollfd fds[2];
  nfds_t n = 0;
  if (impl_->out >= 0) fds[n++] = {impl_->out, POLLIN, 0};
  if (impl_->err >= 0) fds[n++] = {impl_->err, POLLIN, 0};
  if (n == 0) {
    // Nothing left to read: still honour the wait, so callers can pace on it.
    ::poll(nullptr, 0, static_cast<int>(wait.count()));
    return false;
  }
  ::poll(fds, n, static_cast<int>(wait.count()));
  const bool out_open = drain(impl_->out, out);
  const bool err_open = drain(impl_->err, err);
  return out_open || err_open;
}

std::optional<ChildProcess::Exit> ChildProcess::try_wait() noexcept {
  if (impl_->reaped) return impl_->exit;
  int status = 0;
  rusage usage{};
  const pid_t r = ::wait4(impl_->pid, &status, WNOHANG, &usage);
  if (r != impl_->pid) return std::nullopt;
  Exit e;
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  e.user_s = static_cast<double>(usage.ru_utime.tv_sec) +
             static_cast<double>(usage.ru_utime.tv_usec) / 1e6;
  e.system_s = static_cast<double>(usage.ru_stime.tv_sec) +
               static_cast<double>(usage.ru_stime.tv_usec) / 1e6;
  e.max_rss_bytes = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // KiB on Linux
  e.context_switches =
      static_cast<std::uint64_t>(usage.ru_nvcsw) + static_cast<std::uint64_t>(usage.ru_nivcsw);
  impl_->reaped = true;
  impl_->exit = e;
  close_fd(impl_->in);
  return e;
}

bool ChildProcess::write_stdin(std::string_view text) noexcept {
  if (impl_->in < 0) return false;
  while (!text.empty()) {
    const ssize_t n = ::write(impl_->in, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // EPIPE (SIGPIPE is ignored by net::Startup)
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void ChildProcess::terminate() noexcept {
  if (!impl_->reaped && impl_->pid > 0) ::kill(impl_->pid, SIGTERM);
}

void ChildProcess::kill() noexcept {
  if (!impl_->reaped && impl_->pid > 0) ::kill(impl_->pid, SIGKILL);
}

}  // namespace wsb::loadgen
