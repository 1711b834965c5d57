#include "harness_main.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server_process.hpp"
#include "suite_config.hpp"
#include "test_socket.hpp"

#ifndef WSB_WINE_EMULATOR
#error "WSB_WINE_EMULATOR must name cmake/wine-emulator.sh (set by CMakeLists.txt)"
#endif

namespace wsb::suite {

SuiteConfig& config() {
  static SuiteConfig c;
  return c;
}

std::vector<std::string> server_args(proto::Protocol p, const std::vector<std::string>& extra) {
  const SuiteConfig& c = config();
  std::vector<std::string> args = {"--bind",           "127.0.0.1",
                                   "--port",           "0",
                                   "--protocol",       std::string(proto::name(p)),
                                   "--stats-interval", c.wine ? "50ms" : "20ms"};
  args.insert(args.end(), c.args.begin(), c.args.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

namespace {

std::string tail(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  return "[... " + std::to_string(text.size() - max) + " bytes omitted ...]\n" +
         text.substr(text.size() - max);
}

}  // namespace

void print_server_output(ServerProcess& server, const std::string& ending) {
  std::cout << "---- server: " << server.command_line() << "\n"
            << "---- " << ending << server.wait_exit(std::chrono::milliseconds(0))->describe()
            << "\n"
            << "---- server stdout:\n"
            << tail(server.stdout_text(), 8192) << "\n"
            << "---- server stderr:\n"
            << tail(server.stderr_text(), 16384) << "\n"
            << "---- end of server output" << std::endl;
}

namespace {

[[noreturn]] void usage_error(const HarnessProgram& p, const std::string& message) {
  std::cerr << p.name << ": " << message << "\nusage: " << p.name << " --exe PATH "
            << (p.concurrency_option ? "[--concurrency N] " : "")
            << "[--sequential] [--args \"FLAGS\"] [--scenarios LIST] [--skip-regex RE] "
               "[--build-hint TEXT] "
               "[--wine-wrapper PATH] [gtest options]\n";
  std::exit(2);
}

void parse_options(int& argc, char** argv, const HarnessProgram& p) {
  SuiteConfig& c = config();
  c.wine_wrapper = WSB_WINE_EMULATOR;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(p, arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--exe") {
      c.exe = value();
    } else if (arg == "--concurrency" && p.concurrency_option) {
      const std::string v = value();
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1 || n > 15000) {
        usage_error(p, "--concurrency must be 1..15000, not " + v);
      }
      c.concurrency = static_cast<int>(n);
    } else if (arg == "--sequential") {
      c.sequential = true;
    } else if (arg == "--args") {
      std::istringstream words(value());
      for (std::string w; words >> w;)
        c.args.push_back(w);
    } else if (arg == "--skip-regex") {
      c.skip_regex_text = value();
      try {
        c.skip_regex.emplace(c.skip_regex_text);
      } catch (const std::regex_error& e) {
        usage_error(p, "--skip-regex: " + std::string(e.what()));
      }
    } else if (arg == "--scenarios") {
      std::istringstream names(value());
      for (std::string name; std::getline(names, name, ',');) {
        if (name == "chat") {
          c.chat = true;
        } else if (name == "chat-refused") {
          c.chat_refused = true;
        } else if (name == "when-full-queue") {
          c.when_full_queue = true;
        } else {
          usage_error(p, "--scenarios: unknown scenario \"" + name +
                             "\" (chat, chat-refused, when-full-queue)");
        }
      }
    } else if (arg == "--build-hint") {
      c.build_hint = value();
    } else if (arg == "--wine-wrapper") {
      c.wine_wrapper = value();
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = nullptr;
  c.wine = c.exe.size() > 4 && c.exe.compare(c.exe.size() - 4, 4, ".exe") == 0;
}

// With --skip-regex, one start decides for every test: a server that exits at
// start-up saying what the pattern names (server-rio under Wine: "RIO is not
// available") cannot be tested here, and every test is skipped with its
// message as the reason. A server that starts normally is stopped again and
// tested; one that fails any other way is left to the tests to report.
void probe_skip(const HarnessProgram& p) {
  SuiteConfig& c = config();
  if (!c.skip_regex) return;
  std::vector<std::string> args = {"--bind", "127.0.0.1", "--port", "0", "--quiet"};
  args.insert(args.end(), c.args.begin(), c.args.end());
  ServerProcess probe(c.exe, args, c.wine_wrapper);
  std::string why;
  if (probe.wait_ready(p.ready_limit(), why)) {
    probe.write_stdin("//q\n");
    probe.wait_exit(p.stop_limit());
    return;  // the destructor kills it if it did not stop
  }
  if (probe.running()) return;
  const std::string output = probe.stdout_text() + probe.stderr_text();
  std::smatch m;
  if (!std::regex_search(output, m, *c.skip_regex)) return;
  // The reason is the whole line that matched.
  const auto at = static_cast<std::size_t>(m.position(0));
  const std::size_t nl_before = output.rfind('\n', at);
  const std::size_t begin = nl_before == std::string::npos ? 0 : nl_before + 1;
  const std::size_t end = std::min(output.find('\n', at), output.size());
  std::string line = output.substr(begin, end - begin);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  c.skip_all = line;
  // CTest's SKIP_REGULAR_EXPRESSION for this program's tests matches this line.
  std::cout << p.name << ": skipping every test: " << line << std::endl;
}

}  // namespace

int harness_main(int argc, char** argv, const HarnessProgram& program) {
  parse_options(argc, argv, program);
  ::testing::InitGoogleTest(&argc, argv);
  if (::testing::GTEST_FLAG(list_tests)) return RUN_ALL_TESTS();

  const SuiteConfig& c = config();
  if (c.exe.empty()) usage_error(program, "--exe is required");
  if (::access(c.exe.c_str(), c.wine ? R_OK : X_OK) != 0) {
    std::cerr << program.name << ": the server " << c.exe << " does not exist or cannot be run ("
              << errno_text(errno) << ").\n"
              << (c.build_hint.empty() ? std::string("Build it first.") : c.build_hint)
              << std::endl;
    return 1;
  }
  // A descriptor per client, and the server inherits the limit.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  std::signal(SIGPIPE, SIG_IGN);  // writing to a server that exited fails with EPIPE instead

  probe_skip(program);
  return RUN_ALL_TESTS();
}

}  // namespace wsb::suite
