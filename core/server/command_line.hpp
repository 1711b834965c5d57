// The command line every server model shares (namespace wsb::server): the
// common options (CLI11), their help text, and the checks that turn their
// text into Options. One of the three jobs of the Frame (server/frame.hpp),
// which owns one; a model adds its own flags through Frame::cli().
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "server/options.hpp"

namespace wsb::server {

class CommandLine {
 public:
  // See Frame::Frame for the arguments.
  CommandLine(std::string_view model_name, std::string_view description, int default_threads);

  CLI::App& app() noexcept { return app_; }
  const Options& options() const noexcept { return options_; }

  // What --max-connections 0 means for this model; see Frame.
  void set_default_max_connections(int n);

  // Parses argv (and the --config file) into options(). nullopt: go on;
  // otherwise the exit code: 0 after --help, --version or --print-config
  // (printed to stdout), 2 after a usage error (message and usage on
  // stderr) or a --config file that cannot be read, does not parse or has
  // an unknown key (one line on stderr naming the file).
  std::optional<int> parse(int argc, const char* const* argv);

 private:
  // The common options, in the order --help lists them.
  void add_listen_options();
  void add_limit_options();
  void add_report_options();
  void add_tuning_options();
  void add_config_options();
  int config_error(const CLI::Error& e);
  // The text options' conversion after CLI11 parsed them: nullopt, or a
  // usage error's message.
  std::optional<std::string> convert();

  Options options_;
  CLI::App app_;
  int default_threads_;
  int default_max_connections_ = 0;
  CLI::Option* max_connections_option_ = nullptr;

  // Strings from the command line that are converted after parsing.
  std::string protocol_text_ = "upper";
  std::string when_full_text_ = "refuse";
  std::string idle_timeout_text_ = "0";
  std::string ban_time_text_ = "10s";
  std::string duration_text_ = "0";
  std::string stats_interval_text_ = "1s";
  std::string max_pending_text_;
  std::string stall_text_;
  bool print_config_ = false;
};

}  // namespace wsb::server
