// The server address of --target: "HOST:PORT", where HOST is an IPv4 or
// bracketed IPv6 literal, "localhost", or a host name for the system's
// resolver.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "platform/net.hpp"

namespace wsb::client {

struct Target {
  std::string host;  // as given, brackets included ("[::1]"): the http Host field
  std::vector<net::Endpoint> endpoints;  // in the resolver's order of preference
};

// Resolves "HOST:PORT" (port 1..65535). Literals and "localhost" are read
// without the resolver (net::parse_host_port); any other host is looked up
// with getaddrinfo (needs a live net::Startup on Windows). Throws
// std::invalid_argument with a one-line reason for text that is not HOST:PORT
// or a host name that does not resolve: both are a wrong --target, a usage
// error, as loadgen treats them.
Target resolve_target(std::string_view text);

}  // namespace wsb::client
