// The suite's own command line (namespace wsb::suite), read by main() before
// GoogleTest sees the rest.
#pragma once

#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace wsb::suite {

struct SuiteConfig {
  std::string exe;                // --exe: the server under test
  int concurrency = 100;          // --concurrency: clients served at once
  bool sequential = false;        // --sequential: one client at a time
  std::vector<std::string> args;  // --args: extra server flags, split at spaces
  std::string skip_regex_text;    // --skip-regex
  std::optional<std::regex> skip_regex;
  std::string build_hint;    // --build-hint: how to build a missing --exe
  std::string wine_wrapper;  // --wine-wrapper, default WSB_WINE_EMULATOR
  bool wine = false;         // exe ends in .exe: run under Wine, slower timeouts
  // --scenarios LIST (comma-separated): the scenarios a model is registered
  // for, beyond what every model must pass (SCENARIOS in its suites.cmake
  // line). "chat": serves --protocol chat (the chat scenarios run);
  // "chat-refused": refuses --protocol chat with a one-line reason and exit
  // status 2 (server-blocking-single); "when-full-queue": --when-full queue
  // with --max-connections (the queue scenario runs). A scenario a model is
  // not registered for is skipped, saying so.
  bool chat = false;
  bool chat_refused = false;
  bool when_full_queue = false;

  // Set by main() when the start-up probe matched --skip-regex: the reason
  // every test is skipped with.
  std::optional<std::string> skip_all;
};

// The process-wide configuration (filled by main(), read by the tests).
SuiteConfig& config();

// Time limits. Wine runs Winsock servers 10-50 times slower than native ones
// and the first start of a prefix takes seconds, so its limits are larger;
// all of them are far above what a correct server needs, so that they only
// turn a hang into a failure.
struct Limits {
  std::chrono::milliseconds ready{30'000};     // start until the ready line
  std::chrono::milliseconds stop{10'000};      // "//q" until exit
  std::chrono::milliseconds exchange{20'000};  // a small test's client traffic
  std::chrono::milliseconds bulk{30'000};      // concurrency and backpressure traffic
  std::chrono::milliseconds settle{10'000};    // the server notices closed connections
};
const Limits& limits();

}  // namespace wsb::suite
