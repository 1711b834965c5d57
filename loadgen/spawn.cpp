// --spawn: the portable part (resolution, the ready line, the final
// statistics, the monitor thread and the stop sequence).
#include "spawn.hpp"

#include "affinity.hpp"

#include <algorithm>
#include <cstdio>

#include "spawn_child.hpp"

namespace wsb::loadgen {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kStderrTail = 16 * 1024;

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.substr(0, prefix.size()) == prefix;
}

bool valid_model_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

}  // namespace

ServerCommand resolve_server(std::string_view what, const std::filesystem::path& own_dir,
                             const std::filesystem::path& source_dir, bool windows) {
  namespace fs = std::filesystem;
  const fs::path emulator = source_dir / "cmake" / "wine-emulator.sh";
  auto under_wine = [&](const fs::path& exe) {
    ServerCommand c;
    c.argv = {emulator.string(), exe.string()};
    c.program = exe.string();
    c.wine = true;
    return c;
  };
  auto run_natively = [](const fs::path& exe) {
    ServerCommand c;
    c.argv = {exe.string()};
    c.program = exe.string();
    return c;
  };

  if (what.find('/') != std::string_view::npos || what.find('\\') != std::string_view::npos) {
    std::error_code ec;
    const fs::path path = fs::absolute(fs::path(what), ec);
    if (ec || !fs::is_regular_file(path, ec)) {
      throw SpawnError("--spawn: no such file: " + std::string(what));
    }
    const bool exe = path.extension() == ".exe";
    return !windows && exe ? under_wine(path) : run_natively(path);
  }

  enum class Prefer { any, native, wine } prefer = Prefer::any;
  std::string_view name = what;
  if (starts_with(name, "wine:")) {
    prefer = Prefer::wine;
    name.remove_prefix(5);
  } else if (starts_with(name, "native:")) {
    prefer = Prefer::native;
    name.remove_prefix(7);
  }
  if (!valid_model_name(name)) {
    throw SpawnError("--spawn: not a model name or a path: " + std::string(what));
  }
  if (prefer == Prefer::wine && windows) {
    throw SpawnError("--spawn wine:NAME is for the Linux loadgen; this one runs on Windows");
  }
  std::vector<std::string> tried;
  std::error_code ec;
  if (prefer != Prefer::wine) {
    const fs::path exe = own_dir / ("server-" + std::string(name) + (windows ? ".exe" : ""));
    if (fs::is_regular_file(exe, ec)) return run_natively(exe);
    tried.push_back(exe.string());
  }
  if (prefer != Prefer::native && !windows) {
    const fs::path exe =
        source_dir / "build" / "windows-cross" / "bin" / ("server-" + std::string(name) + ".exe");
    if (fs::is_regular_file(exe, ec)) {
      if (!fs::is_regular_file(emulator, ec)) {
        throw SpawnError("--spawn: " + exe.string() + " needs " + emulator.string() +
                         ", which is missing");
      }
      return under_wine(exe);
    }
    tried.push_back(exe.string() +
                    " (build it with: cmake --preset windows-cross && cmake "
                    "--build build/windows-cross --target server-" +
                    std::string(name) + ")");
  }
  throw SpawnError("--spawn: no server named " + std::string(name) + "; looked for " +
                   join(tried, " and "));
}

std::optional<ReadyLine> parse_ready_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  constexpr std::string_view kPrefix = "listening ";
  if (!starts_with(line, kPrefix)) return std::nullopt;
  line.remove_prefix(kPrefix.size());
  const auto space = line.find(' ');
  const auto endpoint = net::parse_host_port(line.substr(0, space));
  if (!endpoint || endpoint->port() == 0) return std::nullopt;
  ReadyLine ready;
  ready.endpoint = *endpoint;
  std::string_view rest = space == std::string_view::npos ? std::string_view() : line.substr(space);
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ')
      rest.remove_prefix(1);
    const auto end = rest.find(' ');
    const std::string_view item = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (starts_with(item, "model=")) ready.model = std::string(item.substr(6));
    if (starts_with(item, "protocol=")) ready.protocol = std::string(item.substr(9));
  }
  if (ready.model.empty()) return std::nullopt;
  return ready;
}

std::optional<std::pair<std::string, std::string>> parse_stat_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const auto colon = line.find(": ");
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view key = line.substr(0, colon);
  const bool key_ok = std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
  if (!key_ok) return std::nullopt;
  return std::pair{std::string(key), std::string(line.substr(colon + 2))};
}

std::optional<std::string> ServerResult::stat(std::string_view key) const {
  for (const auto& [k, v] : stats) {
    if (k == key) return v;
  }
  return std::nullopt;
}

// ---- SpawnedServer ----------------------------------------------------------------

SpawnedServer::SpawnedServer(Request request) : request_(std::move(request)) {
  const bool wine = request_.command.wine;
  std::vector<std::string> argv = request_.command.argv;
  argv.insert(argv.end(), request_.args.begin(), request_.args.end());
  argv.insert(argv.end(),
              {"--port", "0", "--protocol", std::string(proto::name(request_.protocol))});
  result_.program = request_.command.program;
  result_.wine = wine;
  result_.cpu_known = !platform::running_under_wine();
  try {
    child_ = std::make_unique<ChildProcess>(argv, request_.cpus);
  } catch (const std::exception& e) {
    throw SpawnError("--spawn: cannot start " + join(argv, " ") + ": " + e.what());
  }
  monitor_thread_ = std::thread([this] { monitor(); });

  const auto timeout = request_.ready_timeout.count() > 0
                           ? request_.ready_timeout
                           : std::chrono::nanoseconds(wine ? 60s : 10s);
  std::unique_lock lock(mutex_);
  const bool ready =
      changed_.wait_for(lock, timeout, [&] { return have_ready_ || exited_; }) && have_ready_;
  if (ready) {
    if (wine && !request_.cpus.empty()) {
      lock.unlock();
      const std::string pinning = pin_wineserver_of(child_->pid(), request_.cpus);
      lock.lock();
      result_.wineserver_pinning = pinning;
    }
    return;
  }

  const bool exited = exited_;
  lock.unlock();
  child_->kill();
  // The server's last words (why it died) may still be in the pipes: the
  // exit can be seen before the monitor read what was written just before
  // it. The monitor reads on until the pipes close, or for 1 s after the
  // exit, and then says it is done; only then is the output complete.
  lock.lock();
  changed_.wait_for(lock, 3s, [&] { return monitor_done_; });
  const std::string tail = err_tail_;
  const std::string out = out_buffer_;
  lock.unlock();
  end_monitor_.store(true);
  monitor_thread_.join();
  std::string message =
      "--spawn: " + join(argv, " ") +
      (exited
           ? " exited before it was ready"
           : " printed no ready line (listening <addr>:<port> model=...) within " +
                 std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
                 " s");
  if (!out.empty()) message += "\nits stdout:\n" + out;
  if (!tail.empty()) message += "\nits stderr:\n" + tail;
  throw SpawnError(message);
}

SpawnedServer::~SpawnedServer() {
  end_monitor_.store(true);
  if (monitor_thread_.joinable()) {
    child_->kill();
    monitor_thread_.join();
  }
}

platform::ProcessId SpawnedServer::pid() const noexcept {
  return child_->pid();
}

void SpawnedServer::on_death(std::function<void()> callback) {
  std::lock_guard lock(mutex_);
  on_death_ = std::move(callback);
}

std::optional<platform::ProcessStats> SpawnedServer::sample() const noexcept {
  {
    std::lock_guard lock(mutex_);
    if (exited_) return std::nullopt;
  }
  return platform::sample_process(child_->pid());
}

void SpawnedServer::note_memory_before() noexcept {
  if (const auto s = sample()) {
    std::lock_guard lock(mutex_);
    result_.memory_before_bytes = s->memory_bytes;
  }
}

void SpawnedServer::sample_held_when_held(std::uint64_t connections) noexcept {
  std::lock_guard lock(mutex_);
  if (hold_connections_ != 0 || connections == 0) return;
  hold_connections_ = connections;
  hold_grew_at_ = std::chrono::steady_clock::now();
}

void SpawnedServer::note_memory_held_at_end() noexcept {
  {
    std::lock_guard lock(mutex_);
    if (hold_connections_ == 0 || held_taken_) return;
  }
  const auto s = sample();
  std::lock_guard lock(mutex_);
  if (held_taken_ || !s) return;
  // The monitor judges the criteria only at its samples, every 100 ms, so a
  // live line that reported every connection online just before the hold
  // ended may not have been acted on yet. This last sample is judged the
  // same way first: it is then an "online" sample like any other, and only
  // a server that really never got there is labelled "end".
  check_held(*s, std::chrono::steady_clock::now());
  if (held_taken_) return;
  held_taken_ = true;
  result_.memory_held_bytes = s->memory_bytes;
  result_.memory_held_by = "end";
}

// Under mutex_: the monitor's sample, judged against the --hold criteria.
void SpawnedServer::check_held(const platform::ProcessStats& stats,
                               std::chrono::steady_clock::time_point now) {
  if (hold_connections_ == 0 || held_taken_) return;
  if (stats.memory_bytes > hold_max_rss_) {
    hold_max_rss_ = stats.memory_bytes;
    hold_grew_at_ = now;
  }
  const char* by = nullptr;
  if (online_ && *online_ >= hold_connections_) {
    by = "online";
  } else if (!online_ && now - hold_grew_at_ >= 1s) {
    by = "stable";
  }
  if (by == nullptr) return;
  held_taken_ = true;
  result_.memory_held_bytes = stats.memory_bytes;
  result_.memory_held_by = by;
}

// Under mutex_: picks the online count out of the server's live lines,
// "[   12.0s] online 10 peak 12 accepted 1234 ..." (core/server/frame.hpp).
void SpawnedServer::take_live_lines(std::string_view err) {
  for (const char ch : err) {
    if (ch != '\n' && ch != '\r') {
      if (err_line_.size() < 512) err_line_ += ch;
      continue;
    }
    const std::string_view line = err_line_;
    constexpr std::string_view kOnline = "] online ";
    const auto at = line.find(kOnline);
    if (!line.empty() && line.front() == '[' && at != std::string_view::npos) {
      std::uint64_t n = 0;
      std::size_t i = at + kOnline.size();
      const std::size_t digits_from = i;
      while (i < line.size() && line[i] >= '0' && line[i] <= '9' && i - digits_from < 19) {
        n = n * 10 + static_cast<std::uint64_t>(line[i] - '0');
        ++i;
      }
      if (i > digits_from) online_ = n;
    }
    err_line_.clear();
  }
}

// Under mutex_: splits complete stdout lines off out_buffer_.
void SpawnedServer::take_lines(bool final_flush) {
  std::size_t start = 0;
  for (;;) {
    const auto end = out_buffer_.find('\n', start);
    if (end == std::string::npos && !(final_flush && start < out_buffer_.size())) break;
    const std::string_view line(out_buffer_.data() + start,
                                (end == std::string::npos ? out_buffer_.size() : end) - start);
    if (!have_ready_) {
      if (auto ready = parse_ready_line(line)) {
        ready_ = std::move(*ready);
        result_.model = ready_.model;
        have_ready_ = true;
      }
    } else if (auto stat = parse_stat_line(line)) {
      result_.stats.push_back(std::move(*stat));
    }
    if (end == std::string::npos) {
      start = out_buffer_.size();
      break;
    }
    start = end + 1;
  }
  // Before the ready line, stdout is kept whole for the error message.
  if (have_ready_) out_buffer_.erase(0, start);
}

void SpawnedServer::monitor() {
  auto next_sample = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> exited_at;
  for (;;) {
    std::string out;
    std::string err;
    const bool open = child_->read_output(50ms, out, err);
    const auto exit = child_->try_wait();
    const auto now = std::chrono::steady_clock::now();
    std::optional<platform::ProcessStats> stats;
    if (!exit && now >= next_sample) {
      stats = platform::sample_process(child_->pid());
      next_sample = now + 100ms;
    }
    std::function<void()> notify_death;
    {
      std::lock_guard lock(mutex_);
      out_buffer_ += out;
      take_lines(false);
      err_tail_ += err;
      if (err_tail_.size() > kStderrTail) err_tail_.erase(0, err_tail_.size() - kStderrTail);
      take_live_lines(err);
      if (stats) check_held(*stats, now);
      if (stats) {
        result_.peak_memory_bytes = std::max(result_.peak_memory_bytes, stats->peak_memory_bytes);
        result_.peak_threads = std::max(result_.peak_threads, stats->threads);
        result_.cpu_user_s = stats->user_cpu_seconds;
        result_.cpu_system_s = stats->system_cpu_seconds;
      }
      if (exit && !exited_) {
        exited_ = true;
        exited_at = now;
        result_.exit_code = exit->code;
        result_.exit_signal = exit->signal;
        result_.cpu_user_s = exit->user_s;
        result_.cpu_system_s = exit->system_s;
        result_.context_switches = exit->context_switches;
        result_.peak_memory_bytes = std::max(result_.peak_memory_bytes, exit->max_rss_bytes);
        if (!stopping_ && have_ready_) {
          died_.store(true, std::memory_order_release);
          result_.died = true;
          notify_death = on_death_;
        }
      }
    }
    changed_.notify_all();
    if (notify_death) notify_death();
    // After the exit, output still in the pipes is collected; children of
    // the server (Wine's) may hold the pipes open, so this is bounded.
    const bool flushed = exited_at && (!open || now - *exited_at > 1s);
    if (flushed || end_monitor_.load()) break;
  }
  {
    std::lock_guard lock(mutex_);
    take_lines(true);
    monitor_done_ = true;
  }
  changed_.notify_all();
}

bool SpawnedServer::wait_exit(std::chrono::nanoseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return exited_; });
}

ServerResult SpawnedServer::stop() {
  const bool wine = request_.command.wine;
  bool exited;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    exited = exited_;
  }
  std::string stopped_by = "exited";
  if (!exited) {
    child_->write_stdin("//q\n");
    if (wait_exit(wine ? 20s : 5s)) {
      stopped_by = "q";
    } else {
      child_->terminate();
      if (wait_exit(wine ? 5s : 3s)) {
        stopped_by = "terminate";
      } else {
        child_->kill();
        wait_exit(10s);
        stopped_by = "kill";
      }
    }
  }
  {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 5s, [&] { return monitor_done_; });
  }
  end_monitor_.store(true);
  if (monitor_thread_.joinable()) monitor_thread_.join();
  std::lock_guard lock(mutex_);
  ServerResult result = result_;
  result.stopped_by = result.died ? "exited" : stopped_by;
  result.stderr_tail = err_tail_;
  return result;
}

}  // namespace wsb::loadgen
