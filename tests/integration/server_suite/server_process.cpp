// Runs a server model as a child process in its own process group and
// captures its output (see server_process.hpp).
#include "server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace wsb::suite {

namespace {

std::system_error sys_error(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

bool parse_u64(std::string_view text, std::uint64_t& value) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

// Windows programs write "\r\n" through the C runtime's text mode.
std::string_view strip_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \t\n'\"\\$`*?[]{}()<>|&;#~") == std::string::npos) {
    return s;
  }
  std::string quoted = "'";
  for (char c : s) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

bool ends_with_exe(const std::string& path) {
  return path.size() > 4 && path.compare(path.size() - 4, 4, ".exe") == 0;
}

}  // namespace

std::optional<ReadyLine> parse_ready_line(std::string_view line) {
  line = strip_cr(line);
  constexpr std::string_view prefix = "listening ";
  if (line.substr(0, prefix.size()) != prefix) return std::nullopt;
  line.remove_prefix(prefix.size());

  // Three space-separated fields: address, model=..., protocol=...
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return std::nullopt;
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view address = line.substr(0, sp1);
  const std::string_view model = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view protocol = line.substr(sp2 + 1);
  if (model.substr(0, 6) != "model=" || model.size() == 6) return std::nullopt;
  if (protocol.substr(0, 9) != "protocol=" || protocol.size() == 9) return std::nullopt;

  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt;  // an IPv6 address must be bracketed
  }
  std::uint64_t port = 0;
  if (host.empty() || !parse_u64(address.substr(colon + 1), port) || port == 0 || port > 65535) {
    return std::nullopt;  // the ready line must name the real port, never 0
  }
  ReadyLine ready;
  ready.host = std::string(host);
  ready.port = static_cast<std::uint16_t>(port);
  ready.model = std::string(model.substr(6));
  ready.protocol = std::string(protocol.substr(9));
  return ready;
}

std::string ExitStatus::describe() const {
  if (exited) return "exit code " + std::to_string(code);
  const char* text = strsignal(signal);
  return "killed by signal " + std::to_string(signal) + " (" + (text ? text : "?") + ")";
}

Statistics parse_statistics(std::string_view text) {
  Statistics stats;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line =
        strip_cr(nl == std::string_view::npos ? text : text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    const std::size_t sep = line.find(": ");
    if (sep == std::string_view::npos || sep == 0) continue;
    stats[std::string(line.substr(0, sep))] = std::string(line.substr(sep + 2));
  }
  return stats;
}

ServerProcess::ServerProcess(const std::string& exe, const std::vector<std::string>& args,
                             const std::string& wine_wrapper) {
  std::vector<std::string> argv;
  if (ends_with_exe(exe)) {
    // Run the wrapper through the shell so that its executable bit does not
    // matter; it sets WINEPREFIX and WINEDEBUG and execs wine, which keeps
    // this pid for the Windows process.
    argv = {"/bin/sh", wine_wrapper, exe};
  } else {
    argv = {exe};
  }
  argv.insert(argv.end(), args.begin(), args.end());
  for (const std::string& a : argv) {
    if (!command_line_.empty()) command_line_ += ' ';
    command_line_ += shell_quote(a);
  }
  // Everything the child needs is prepared before fork(): between fork and
  // exec in a multi-threaded program only async-signal-safe calls are allowed.
  std::vector<char*> c_argv;
  for (std::string& a : argv)
    c_argv.push_back(a.data());
  c_argv.push_back(nullptr);

  int in_pipe[2], out_pipe[2], err_pipe[2], wake_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw sys_error("pipe2");
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    throw sys_error("pipe2");
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]})
      ::close(fd);
    throw sys_error("pipe2");
  }
  if (::pipe2(wake_pipe, O_CLOEXEC) != 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      ::close(fd);
    }
    throw sys_error("pipe2");
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int saved = errno;
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1],
                   wake_pipe[0], wake_pipe[1]}) {
      ::close(fd);
    }
    errno = saved;
    throw sys_error("fork");
  }
  if (pid == 0) {
    // Child: its own process group, killed if the suite dies (a ctest timeout
    // must not leave servers behind), default signal handling (the suite
    // ignores SIGPIPE, and ignored dispositions survive exec), pipes as stdio.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT})
      ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(in_pipe[0], 0) < 0 || ::dup2(out_pipe[1], 1) < 0 || ::dup2(err_pipe[1], 2) < 0) {
      ::_exit(127);
    }
    ::execv(c_argv[0], c_argv.data());
    // Only async-signal-safe calls here, so no strerror(): the errno number
    // is formatted by hand.
    char msg[64] = "server-suite: exec failed, errno ";
    std::size_t len = std::strlen(msg);
    char digits[12];
    int n = 0;
    for (int e = errno; n == 0 || e > 0; e /= 10)
      digits[n++] = static_cast<char>('0' + e % 10);
    while (n > 0)
      msg[len++] = digits[--n];
    msg[len++] = '\n';
    (void)!::write(2, msg, len);
    ::_exit(127);
  }

  // Parent. Setting the group here too closes the race in which the suite
  // would signal the group before the child has created it.
  ::setpgid(pid, pid);
  pid_ = pid;
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  stdin_fd_ = in_pipe[1];
  stdout_fd_ = out_pipe[0];
  stderr_fd_ = err_pipe[0];
  wake_read_fd_ = wake_pipe[0];
  wake_write_fd_ = wake_pipe[1];
  reader_ = std::thread([this] { reader_loop(); });
}

ServerProcess::~ServerProcess() {
  try {
    if (!status_) kill_group();
  } catch (const std::exception&) {
    // Nothing more can be done here; the process group was sent SIGKILL.
  }
  stop_reader();
  close_fd(stdin_fd_);
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
  close_fd(wake_read_fd_);
  close_fd(wake_write_fd_);
}

void ServerProcess::reader_loop() {
  pollfd fds[3] = {{stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}};
  std::string* sinks[2] = {&out_, &err_};
  for (;;) {
    const int n = ::poll(fds, 3, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      char buf[16384];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        std::lock_guard lock(mutex_);
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;  // end of file: poll ignores negative descriptors
      }
    }
    changed_.notify_all();
    if (fds[0].fd < 0 && fds[1].fd < 0) break;
  }
  std::lock_guard lock(mutex_);
  reader_done_ = true;
  changed_.notify_all();
}

void ServerProcess::stop_reader() {
  if (!reader_.joinable()) return;
  (void)!::write(wake_write_fd_, "x", 1);
  reader_.join();
  // The child has exited (or been killed), so everything it wrote is in the
  // pipes. Helpers that inherited them may keep them open, so read without
  // blocking instead of waiting for end of file; the bound only stops a
  // helper that writes endlessly.
  for (int fd : {stdout_fd_, stderr_fd_}) {
    if (fd < 0) continue;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::string& into = fd == stdout_fd_ ? out_ : err_;
    for (int i = 0; i < 4096; ++i) {
      char buf[16384];
      const ssize_t got = ::read(fd, buf, sizeof buf);
      if (got > 0) {
        std::lock_guard lock(mutex_);
        into.append(buf, static_cast<std::size_t>(got));
      } else if (got < 0 && errno == EINTR) {
        continue;
      } else {
        break;
      }
    }
  }
  changed_.notify_all();
}

std::optional<ReadyLine> ServerProcess::wait_ready(std::chrono::milliseconds timeout,
                                                   std::string& why) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      const std::size_t nl = out_.find('\n');
      if (nl != std::string::npos) {
        const std::string line(strip_cr(std::string_view(out_).substr(0, nl)));
        lock.unlock();
        auto ready = parse_ready_line(line);
        if (!ready) why = "the first line on stdout is not a ready line: \"" + line + "\"";
        return ready;
      }
      // Wake up regularly to notice an exit: helpers may hold the pipes open,
      // so end of file cannot announce it.
      changed_.wait_for(lock, std::chrono::milliseconds(20));
    }
    if (!running()) {
      // Output written before exiting is complete now (wait_exit drained it).
      std::lock_guard lock(mutex_);
      if (out_.find('\n') != std::string::npos) continue;
      why = "the server exited (" + status_->describe() + ") before printing a ready line";
      return std::nullopt;
    }
    if (Clock::now() >= deadline) {
      why = "no ready line within " + std::to_string(timeout.count()) + " ms";
      return std::nullopt;
    }
  }
}

bool ServerProcess::write_stdin(std::string_view bytes) {
  while (!bytes.empty()) {
    if (stdin_fd_ < 0) return false;
    const ssize_t n = ::write(stdin_fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;  // EPIPE: SIGPIPE is ignored by the suite
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void ServerProcess::close_stdin() {
  close_fd(stdin_fd_);
}

std::optional<ExitStatus> ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  const auto deadline = Clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    // WNOWAIT leaves the child a zombie, so its pid (and therefore the group
    // id) cannot be reused while the rest of the group is killed below.
    siginfo_t info{};
    const int rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    if (rc == 0 && info.si_pid == pid_) break;
    if (rc != 0 && errno != EINTR) {
      throw sys_error("waitid");
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  // Anything left in the group (a Wine helper the server started) goes too.
  ::kill(-pid_, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid_, &wstatus, 0) < 0) {
    if (errno != EINTR) throw sys_error("waitpid");
  }
  ExitStatus status;
  if (WIFEXITED(wstatus)) {
    status.exited = true;
    status.code = WEXITSTATUS(wstatus);
  } else {
    status.signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
  }
  status_ = status;
  stop_reader();
  return status_;
}

bool ServerProcess::running() {
  return !wait_exit(std::chrono::milliseconds(0)).has_value();
}

ExitStatus ServerProcess::kill_group() {
  if (!status_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);  // in case the child had not yet created its group
  }
  // SIGKILL cannot be caught, so the bound only guards against a kernel that
  // is slow to tear the process down.
  if (auto status = wait_exit(std::chrono::seconds(30))) return *status;
  throw std::runtime_error("server process " + std::to_string(pid_) + " survived SIGKILL");
}

std::string ServerProcess::stdout_text() const {
  std::lock_guard lock(mutex_);
  return out_;
}

std::string ServerProcess::stderr_text() const {
  std::lock_guard lock(mutex_);
  return err_;
}

namespace {

// The value after the word `key` in the last complete live line of `text`
// ("[   1.0s] online 3 peak 4 accepted 9 ..."), and only in lines that start
// at or after `from`.
std::optional<std::uint64_t> last_live_value(std::string_view text, std::size_t from,
                                             std::string_view key, std::size_t* lines_seen) {
  std::optional<std::uint64_t> value;
  std::size_t seen = 0;
  std::size_t pos = from;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;  // incomplete line
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    const std::size_t stamp_end = line.find("] ");
    if (stamp_end == std::string_view::npos || line.front() != '[') continue;
    // Words after the time stamp alternate name, value.
    std::string_view rest = line.substr(stamp_end + 2);
    while (!rest.empty()) {
      const std::size_t name_end = rest.find(' ');
      if (name_end == std::string_view::npos) break;
      const std::string_view name = rest.substr(0, name_end);
      rest = rest.substr(name_end + 1);
      const std::string_view word = rest.substr(0, rest.find(' '));
      rest = rest.substr(std::min(rest.size(), word.size() + 1));
      std::uint64_t n = 0;
      if (name == key && parse_u64(word, n)) {
        value = n;
        ++seen;
        break;
      }
    }
  }
  if (lines_seen) *lines_seen = seen;
  return value;
}

}  // namespace

std::optional<std::uint64_t> ServerProcess::live_online() const {
  std::lock_guard lock(mutex_);
  return last_live_value(err_, 0, "online", nullptr);
}

std::optional<std::uint64_t> ServerProcess::live_count(std::string_view key) const {
  std::lock_guard lock(mutex_);
  return last_live_value(err_, 0, key, nullptr);
}

bool ServerProcess::wait_online(std::uint64_t n, std::chrono::milliseconds timeout) {
  // Only lines printed after this call count, and not the first of them: the
  // reporter may have sampled the count just before the call and printed it
  // just after.
  std::size_t mark;
  {
    std::lock_guard lock(mutex_);
    // Start at the beginning of the line being written, if any.
    const std::size_t nl = err_.rfind('\n');
    mark = nl == std::string::npos ? 0 : nl + 1;
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      std::size_t seen = 0;
      const auto value = last_live_value(err_, mark, "online", &seen);
      if (seen >= 2 && value == n) return true;
      changed_.wait_for(lock, std::chrono::milliseconds(20));
    }
    if (Clock::now() >= deadline || !running()) return false;
  }
}

std::optional<ReadyLine> start_server_process(std::unique_ptr<ServerProcess>& server,
                                              const std::string& exe,
                                              const std::vector<std::string>& args,
                                              const std::string& wine_wrapper,
                                              std::chrono::milliseconds timeout, std::string& why) {
  server = std::make_unique<ServerProcess>(exe, args, wine_wrapper);
  auto ready = server->wait_ready(timeout, why);
  const bool silent = !ready && !server->running() && server->stdout_text().empty() &&
                      server->stderr_text().empty();
  if (silent && exe.ends_with(".exe")) {
    std::fprintf(stderr,
                 "note: the server exited before its ready line with no output at all (%s); "
                 "starting it once more\n",
                 why.c_str());
    server = std::make_unique<ServerProcess>(exe, args, wine_wrapper);
    ready = server->wait_ready(timeout, why);
  }
  return ready;
}

}  // namespace wsb::suite
