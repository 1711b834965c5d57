// Constructors of the concrete sessions and drivers, one per protocol file.
// Private to wsb_proto; the public entry points are make_server_session() and
// ClientFactory.
#pragma once

#include <cstdint>
#include <memory>

#include "proto/client.hpp"
#include "proto/session.hpp"

namespace wsb::proto::detail {

struct PayloadPool;

std::unique_ptr<ServerSession> make_upper_session();
std::unique_ptr<ServerSession> make_echo_session();
std::unique_ptr<ServerSession> make_http_session(const SessionLimits& limits);

std::unique_ptr<ClientDriver> make_upper_driver(const ClientConfig& cfg, std::uint64_t stream,
                                                std::shared_ptr<const PayloadPool> pool);
std::unique_ptr<ClientDriver> make_echo_driver(const ClientConfig& cfg, std::uint64_t stream,
                                               std::shared_ptr<const PayloadPool> pool);
std::unique_ptr<ClientDriver> make_http_driver(const ClientConfig& cfg);

}  // namespace wsb::proto::detail
