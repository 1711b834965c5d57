// The command line every server model shares: server/command_line.hpp.
#include "server/command_line.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <iostream>
#include <thread>
#include <utility>

#include "platform/duration.hpp"

#ifndef WSB_VERSION
#error "WSB_VERSION must be defined by the build (the project version)"
#endif

namespace wsb::server {
namespace {

// --stall MS/EVERY_S: a bare first number is milliseconds, a bare second one
// seconds; both also take units ("50ms/2s").
std::optional<Stall> parse_stall(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string pause_text(text.substr(0, slash));
  const std::string_view every_text = text.substr(slash + 1);
  if (!pause_text.empty() && pause_text.find_first_not_of("0123456789.") == std::string::npos) {
    pause_text += "ms";
  }
  const auto pause = platform::parse_duration(pause_text);
  const auto every = platform::parse_duration(every_text);
  if (!pause || !every || pause->count() <= 0 || every->count() <= 0 || *pause >= *every) {
    return std::nullopt;
  }
  return Stall{*pause, *every};
}

// A CLI11 check that accepts the texts `parse` reads; any other text is
// refused with "<what>: <text><hint>".
template <class Parse>
CLI::Validator parse_check(Parse parse, std::string what, std::string name, std::string hint = {}) {
  return CLI::Validator(
      [parse, what = std::move(what), hint = std::move(hint)](std::string& text) -> std::string {
        return parse(text) ? std::string() : what + ": " + text + hint;
      },
      std::move(name));
}

CLI::Validator duration_check() {
  return parse_check(platform::parse_duration, "not a duration", "DURATION",
                     " (use e.g. 500ms, 3s, 2m; a bare number is seconds)");
}

}  // namespace

CommandLine::CommandLine(std::string_view model_name, std::string_view description,
                         int default_threads)
    : default_threads_(default_threads > 0
                           ? default_threads
                           : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()))) {
  const std::string program = "server-" + std::string(model_name);
  app_.name(program);
  app_.description(std::string(description));
  app_.footer(
      "Durations take units: 500ms, 3s, 2m, 1h, 250us (a bare number is seconds).\n"
      "When listening, one line goes to stdout: listening <addr>:<port> model=<name> "
      "protocol=<p>.\n"
      "Stop with Ctrl-C (twice to exit at once), SIGTERM, or the line //q on stdin.");
  app_.failure_message(CLI::FailureMessage::help);
  app_.set_version_flag("--version", program + " (wsbench " + WSB_VERSION + ")");
  add_listen_options();
  add_limit_options();
  add_report_options();
  add_tuning_options();
  add_config_options();
}

void CommandLine::add_config_options() {
  // CLI11's own configuration files, TOML: every long option is a key
  // ("port = 21234", "protocol = \"echo\""), and the command line overrides
  // the file. An unknown key is an error, not silently ignored: a misspelt
  // option would otherwise change nothing without a word.
  app_.set_config("--config", "",
                  "Read options from this TOML file (every long option is a key); the command "
                  "line overrides it")
      ->type_name("FILE");
  app_.allow_config_extras(CLI::config_extras_mode::error);
  app_.add_flag("--print-config", print_config_,
                "Print the options of this command line as such a file, and exit")
      ->configurable(false);  // a file that printed itself again would never run
}

void CommandLine::add_listen_options() {
  Options& o = options_;
  app_.add_option("--bind", o.bind, "Address to listen on: an IPv4 or IPv6 literal, or localhost")
      ->capture_default_str();
  app_.add_option("--port", o.port, "TCP port; 0 lets the system choose one (see the ready line)")
      ->capture_default_str();
  app_.add_option("--protocol", protocol_text_, "Wire protocol: upper, echo, http or chat")
      ->check(CLI::IsMember({"upper", "echo", "http", "chat"}))
      ->capture_default_str();
  app_.add_option("--threads", o.threads,
                  "I/O threads; 0 = the model's default (" + std::to_string(default_threads_) + ")")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
}

void CommandLine::add_limit_options() {
  Options& o = options_;
  max_connections_option_ =
      app_.add_option("--max-connections", o.max_connections,
                      "Connections served at once; what happens to more is --when-full's "
                      "choice. 0 = unlimited")
          ->check(CLI::Range(0, INT_MAX))
          ->capture_default_str();
  app_.add_option("--when-full", when_full_text_,
                  "At --max-connections: refuse (accept and close at once, counted as refused) "
                  "or queue (stop accepting; new clients wait in the accept queue, --backlog, "
                  "until a connection closes)")
      ->check(CLI::IsMember({"refuse", "queue"}))
      ->capture_default_str();
  app_.add_option("--max-conns-per-ip", o.max_conns_per_ip,
                  "Connections one client address may have online; one more is closed at once "
                  "and bans the address for --ban-time (counted as banned). 0 = unlimited")
      ->check(CLI::Range(0, INT_MAX))
      ->capture_default_str();
  app_.add_option("--ban-time", ban_time_text_,
                  "How long an address that exceeded --max-conns-per-ip is refused")
      ->check(duration_check())
      ->capture_default_str();
  app_.add_option("--idle-timeout", idle_timeout_text_,
                  "Close connections that send and receive nothing for this long; 0 = never")
      ->check(duration_check())
      ->capture_default_str();
}

void CommandLine::add_report_options() {
  Options& o = options_;
  app_.add_option("--duration", duration_text_, "Stop after this long; 0 = run until stopped")
      ->check(duration_check())
      ->capture_default_str();
  app_.add_option("--stats-interval", stats_interval_text_,
                  "Period of the live statistics line and the --stats-csv rows (at least 10ms)")
      ->check(duration_check())
      ->capture_default_str();
  app_.add_option("--stats-csv", o.stats_csv,
                  "Append one statistics row per interval (and a final one) to this CSV file");
  app_.add_flag("--quiet", o.quiet, "No live statistics line on stderr");
  app_.add_flag("--log-connections", o.log_connections,
                "One line on stderr per accepted, refused and closed connection: the peer's "
                "address and port; for a close the reason and the bytes received and sent");
}

void CommandLine::add_tuning_options() {
  Options& o = options_;
  max_pending_text_ = std::to_string(o.max_pending_output);
  app_.add_option("--max-pending", max_pending_text_,
                  "Stop reading a connection while more reply bytes than this wait to be sent "
                  "(backpressure); takes k, M, G suffixes")
      ->type_name("BYTES")
      ->check(parse_check(platform::parse_size, "not a byte count", "BYTES"))
      ->capture_default_str();
  app_.add_option("--backlog", o.backlog,
                  "Listen backlog. The default is SOMAXCONN as this build's headers define it; "
                  "the system may cap it further (Linux: net.core.somaxconn; Windows reads "
                  "SOMAXCONN as \"the provider's maximum\", about 200 on client editions)")
      ->check(CLI::Range(1, INT_MAX))
      ->capture_default_str();
  app_.add_option("--stall", stall_text_,
                  "Test aid: the serving thread sleeps MS milliseconds every EVERY_S seconds "
                  "(e.g. 50/2), so that the load generator's coordinated-omission correction "
                  "can be checked")
      ->type_name("MS/EVERY_S")
      ->check(parse_check(parse_stall, "not MS/EVERY_S with 0 < MS < EVERY_S", "MS/EVERY_S"));
}

void CommandLine::set_default_max_connections(int n) {
  default_max_connections_ = std::max(0, n);
  max_connections_option_->description(
      "Connections served at once; more are accepted and closed at once (counted as refused). "
      "0 = the model's default (" +
      (n > 0 ? std::to_string(n) : std::string("unlimited")) + ")");
}

std::optional<int> CommandLine::parse(int argc, const char* const* argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ConfigError& e) {
    return config_error(e);
  } catch (const CLI::FileError& e) {
    return config_error(e);
  } catch (const CLI::ParseError& e) {
    // --help and --version print to stdout and exit 0; usage errors print the
    // message and the usage to stderr and exit 2, the convention of Unix tools.
    const int code = app_.exit(e, std::cout, std::cerr);
    return code == 0 ? 0 : 2;
  }
  if (const auto message = convert()) {
    std::cerr << *message << "\n" << app_.help() << std::flush;
    return 2;
  }
  if (print_config_) {
    // The options given (on the command line or in a --config file), not
    // the defaults: an empty --stall or --stats-csv would not read back, and
    // a default left out stays the default when the file is read.
    std::cout << app_.config_to_str(false, false) << std::flush;
    return 0;
  }
  return std::nullopt;
}

int CommandLine::config_error(const CLI::Error& e) {
  // One line naming the file, not the usage: the command line was fine.
  const CLI::Option* config = app_.get_config_ptr();
  const std::string file =
      config != nullptr && config->count() > 0 ? config->as<std::string>() : std::string("?");
  std::cerr << app_.get_name() << ": --config " << file << ": " << e.what() << std::endl;
  return 2;
}

std::optional<std::string> CommandLine::convert() {
  Options& o = options_;
  o.protocol = proto::parse_protocol(protocol_text_).value_or(proto::Protocol::upper);
  o.when_full = when_full_text_ == "queue" ? WhenFull::queue : WhenFull::refuse;
  o.idle_timeout = platform::parse_duration(idle_timeout_text_).value_or(o.idle_timeout);
  o.ban_time = platform::parse_duration(ban_time_text_).value_or(o.ban_time);
  o.duration = platform::parse_duration(duration_text_).value_or(o.duration);
  o.stats_interval = platform::parse_duration(stats_interval_text_).value_or(o.stats_interval);
  if (o.stats_interval < std::chrono::milliseconds(10)) {
    return "--stats-interval: at least 10ms";
  }
  const std::uint64_t max_pending = platform::parse_size(max_pending_text_).value_or(0);
  if (max_pending > SIZE_MAX) return "--max-pending: too large for this platform";
  o.max_pending_output = static_cast<std::size_t>(max_pending);
  if (!stall_text_.empty()) o.stall = parse_stall(stall_text_);
  if (o.threads == 0) o.threads = default_threads_;
  if (o.max_connections == 0) o.max_connections = default_max_connections_;
  if (!net::parse_endpoint(o.bind, o.port)) {
    return "--bind: " + o.bind +
           " is not an IPv4 or IPv6 address (names other than localhost are not resolved)";
  }
  return std::nullopt;
}

}  // namespace wsb::server
