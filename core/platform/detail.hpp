// Internal to wsb_platform: the small per-platform primitives that the
// portable .cpp files in this folder build on. Not for use outside it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "platform/net.hpp"

namespace wsb::net::detail {

// A numeric IPv4 or IPv6 literal (no brackets, no names) and a port.
std::optional<Endpoint> numeric_endpoint(std::string_view literal, std::uint16_t port);
// The numeric address of an endpoint, without brackets or port.
std::string numeric_host(const Endpoint& endpoint);

// The message of a getaddrinfo() failure: gai_strerror() on POSIX, where its
// codes are its own, and the Winsock error text on Windows, where they are
// Winsock error codes.
std::string resolver_error_text(int code);

// What failed while opening a listener, for describe_listener_failure().
enum class ListenerStep : std::uint8_t { socket, option, bind, listen };
// Which platform error a failure is, in the terms the messages need.
enum class BindFailure : std::uint8_t { other, in_use, access_denied, not_local };
BindFailure classify_bind_failure(int code) noexcept;

// setsockopt() with an int value (every option this library sets takes an int
// or a BOOL, which is an int). False with last_error() set on failure.
bool set_int_option(socket_t s, int level, int name, int value) noexcept;

// The complete message of a failed open_listener() step, naming the address
// and the remedy.
std::string describe_listener_failure(ListenerStep step, const Endpoint& endpoint, int code,
                                      std::string_view what);

}  // namespace wsb::net::detail

namespace wsb::platform::detail {

// Called once by the stdin reader thread before its first read.
void prepare_stdin_reading() noexcept;
// Reads up to `size` bytes of standard input, blocking. Returns the count, 0 at
// end of input, or -1 on an error that ends reading.
std::ptrdiff_t read_stdin(char* buffer, std::size_t size) noexcept;

}  // namespace wsb::platform::detail
