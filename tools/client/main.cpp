// wsb-client: the seeds' interactive client. Each line typed on stdin goes to
// a server as one request (an upper frame by default, or echo or http with
// --protocol) and the reply is printed; end of input or the line //q ends it.
// Blocking sockets, one line at a time: a tool to see a server answer, not to
// load it (that is loadgen).
//
// Exit codes: 0 every line answered; 1 the connection failed or closed, a
// reply broke the protocol, or a line could not be sent; 2 usage errors (a
// wrong flag, a --target that is not HOST:PORT or does not resolve).
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "exchange.hpp"
#include "platform/net.hpp"
#include "proto/protocol.hpp"
#include "target.hpp"

namespace wsb::client {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Options {
  std::string target = "127.0.0.1:" + std::to_string(proto::default_port);
  std::string protocol = "upper";
  bool rtt = false;
};

void fail(const std::string& message) {
  std::cerr << "wsb-client: " << message << std::endl;
}

// The first endpoint of the target that accepts the connection; throws the
// last one's NetError when none does.
net::socket_t connect_any(const Target& target) {
  for (std::size_t i = 0;; ++i) {
    try {
      return net::connect_to(target.endpoints[i]);
    } catch (const net::NetError&) {
      if (i + 1 == target.endpoints.size()) throw;
    }
  }
}

bool send_all(net::socket_t s, const ByteBuffer& bytes) {
  std::span<const char> left = bytes.readable();
  while (!left.empty()) {
    const std::ptrdiff_t n = net::send_some(s, left);
    if (n <= 0) return false;
    left = left.subspan(static_cast<std::size_t>(n));
  }
  return true;
}

// The line without its line ending (a CR stays when a Windows file is read on
// POSIX), and whether it is the seeds' stop command (surrounding blanks allowed,
// as the servers read it).
std::string_view without_cr(const std::string& line) {
  std::string_view view = line;
  if (!view.empty() && view.back() == '\r') view.remove_suffix(1);
  return view;
}

bool is_quit(std::string_view line) {
  const std::size_t first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos) return false;
  const std::size_t last = line.find_last_not_of(" \t");
  return line.substr(first, last - first + 1) == "//q";
}

// Waits for the reply of line `number`. Returns false (after saying why) when
// the connection failed or the server closed it without completing the
// reply; sets `closed` when the server's close completed it.
bool receive_reply(net::socket_t s, Exchange& exchange, int number, bool& closed) {
  char buffer[16 * 1024];
  for (;;) {
    const std::ptrdiff_t n = net::recv_some(s, buffer);
    if (n > 0) {
      if (exchange.feed(std::span<const char>(buffer, static_cast<std::size_t>(n)))) return true;
    } else if (n == 0) {
      closed = true;
      if (exchange.on_peer_closed()) return true;
      fail("the server closed the connection before replying to line " + std::to_string(number));
      return false;
    } else {
      fail("cannot receive the reply to line " + std::to_string(number) + ": " +
           net::error_text(net::last_error()));
      return false;
    }
  }
}

// Sends every line of stdin until its end or //q. Returns the exit code.
int converse(net::socket_t s, Exchange& exchange, const Options& o) {
  int status = kExitOk;
  bool closed = false;
  std::string text;
  for (int number = 1; std::getline(std::cin, text); ++number) {
    const std::string_view line = without_cr(text);
    if (is_quit(line)) break;
    if (closed || exchange.server_closing()) {
      fail("the server closed the connection after line " + std::to_string(number - 1));
      return kExitFailure;
    }
    ByteBuffer request;
    try {
      exchange.write_request(line, request);
    } catch (const std::invalid_argument& e) {
      fail("line " + std::to_string(number) + " not sent: " + e.what());
      status = kExitFailure;
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    if (!send_all(s, request)) {
      fail("cannot send line " + std::to_string(number) + ": " +
           net::error_text(net::last_error()));
      return kExitFailure;
    }
    if (!receive_reply(s, exchange, number, closed)) return kExitFailure;
    const auto rtt = std::chrono::steady_clock::now() - start;
    std::cout << exchange.shown_reply();
    if (o.rtt) {
      std::cout << "\t(rtt " << std::chrono::duration_cast<std::chrono::microseconds>(rtt).count()
                << " us)";
    }
    std::cout << std::endl;
  }
  return status;
}

int run(const Options& o) {
  net::Startup startup;
  Target target;
  try {
    target = resolve_target(o.target);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
    return kExitUsage;
  }
  net::socket_t s = net::invalid_socket;
  try {
    s = connect_any(target);
  } catch (const net::NetError& e) {
    fail(e.what());
    return kExitFailure;
  }
  net::set_nodelay(s);
  const auto protocol = proto::parse_protocol(o.protocol).value_or(proto::Protocol::upper);
  int status = kExitFailure;
  try {
    auto exchange = make_exchange(protocol, target.host);
    status = converse(s, *exchange, o);
  } catch (const ReplyError& e) {
    fail(e.what());
  }
  // FIN first, so that the server sees an orderly end of the conversation.
  net::shutdown_send(s);
  net::close_socket(s);
  return status;
}

}  // namespace
}  // namespace wsb::client

int main(int argc, char** argv) {
  using namespace wsb::client;
  Options o;
  CLI::App app{
      "wsb-client: sends each line typed on stdin to a wsbench server as one request and prints "
      "the reply, until end of input or the line //q (the seeds' client).\n"
      "upper: the line as one frame, the reply upper-cased. echo: the line and its newline, "
      "echoed. http: the line is the path of a GET request (empty: /), the whole response is "
      "printed.",
      "wsb-client"};
  // Options are always "--name", so that "/x" means the same on every platform.
  app.allow_windows_style_options(false);
  app.add_option("--target", o.target,
                 "Server address HOST:PORT; HOST is an IPv4 or [IPv6] address, localhost or a "
                 "host name to resolve")
      ->capture_default_str();
  app.add_option("--protocol", o.protocol, "upper, echo or http (the server's --protocol)")
      ->check(CLI::IsMember({"upper", "echo", "http"}))
      ->capture_default_str();
  app.add_flag("--rtt", o.rtt,
               "After each reply, print the round-trip time from sending the line to the "
               "reply's last byte");
  app.footer(
      "Exit codes: 0 every line answered; 1 the connection failed or closed, a reply broke the "
      "protocol, or a line could not be sent (upper: over 65535 bytes; http: not a path); 2 "
      "usage errors (a wrong flag, a --target that is not HOST:PORT or does not "
      "resolve).\nExample: echo hello | wsb-client --target 127.0.0.1:21234");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    std::cerr << "wsb-client: " << e.what() << "\n\n" << app.help();
    return kExitUsage;
  }
  return run(o);
}
