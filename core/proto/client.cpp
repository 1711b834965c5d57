// The client drivers' configuration check and factory. Each protocol's
// driver is in its own file (upper_client.cpp, echo_client.cpp,
// http_client.cpp); the payload pool the first two draw from is payload.cpp.
#include "proto/client.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "proto/chat_client.hpp"
#include "proto/detail/ascii.hpp"
#include "proto/detail/payload.hpp"
#include "proto/detail/sessions.hpp"

namespace wsb::proto {

namespace detail {
namespace {

bool is_http_token_text(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_target_char(c); });
}

}  // namespace
}  // namespace detail

// The largest echo request: the pool holds 256 KiB plus this many bytes, and
// bigger single requests belong to a streaming tool, not a request driver.
constexpr std::uint32_t max_echo_size = 16u * 1024 * 1024;

namespace {

void validate_chat(const ClientConfig& cfg) {
  if (cfg.chat_users == 0) throw std::invalid_argument("chat: at least one user is needed");
  if (cfg.chat_group_size == 0)
    throw std::invalid_argument("chat: the group size must be at least 1");
  if (cfg.chat_first_user == 0 || cfg.chat_first_user - 1 > UINT32_MAX - cfg.chat_users) {
    throw std::invalid_argument("chat: user ids must lie in 1..4294967295");
  }
  if (!(cfg.chat_private_share >= 0.0 && cfg.chat_private_share <= 1.0)) {
    throw std::invalid_argument("chat: the private share must lie in 0..1");
  }
  if (cfg.chat_private_share > 0.0 && cfg.chat_users <= cfg.chat_group_size) {
    throw std::invalid_argument(
        "chat: private messages go to another group, and with one group there is none");
  }
  if (cfg.size_min < chat::payload_header) {
    throw std::invalid_argument("chat: payload size must be at least " +
                                std::to_string(chat::payload_header) + " (sequence and send time)");
  }
  if (cfg.size_max > chat::max_payload(chat::Op::private_message)) {
    throw std::invalid_argument("chat: payload size " + std::to_string(cfg.size_max) +
                                " exceeds what a frame carries (" +
                                std::to_string(chat::max_payload(chat::Op::private_message)) + ")");
  }
}

}  // namespace

void validate(const ClientConfig& cfg) {
  if (cfg.protocol == Protocol::chat) validate_chat(cfg);
  if (cfg.protocol != Protocol::http) {
    if (cfg.size_min > cfg.size_max) {
      throw std::invalid_argument("request size: minimum " + std::to_string(cfg.size_min) +
                                  " exceeds maximum " + std::to_string(cfg.size_max));
    }
    if (cfg.protocol == Protocol::upper && cfg.size_max > 65535) {
      throw std::invalid_argument("upper: request size " + std::to_string(cfg.size_max) +
                                  " exceeds the 16-bit length field (65535)");
    }
    if (cfg.protocol == Protocol::echo && cfg.size_min == 0) {
      throw std::invalid_argument(
          "echo: request size must be at least 1 (an empty request has no "
          "echo to wait for)");
    }
    if (cfg.protocol == Protocol::echo && cfg.size_max > max_echo_size) {
      throw std::invalid_argument("echo: request size " + std::to_string(cfg.size_max) +
                                  " exceeds " + std::to_string(max_echo_size));
    }
  } else {
    if (!detail::is_http_token_text(cfg.http_host)) {
      throw std::invalid_argument("http: host '" + cfg.http_host +
                                  "' must be non-empty visible ASCII");
    }
    if (!detail::is_http_token_text(cfg.http_path)) {
      throw std::invalid_argument("http: path '" + cfg.http_path +
                                  "' must be non-empty visible ASCII");
    }
  }
}

std::string_view name(ClientError e) noexcept {
  switch (e) {
    case ClientError::none:
      return "none";
    case ClientError::mismatch:
      return "mismatch";
    case ClientError::malformed:
      return "malformed";
    case ClientError::unexpected_close:
      return "unexpected_close";
  }
  return "unknown";
}

ClientFactory::ClientFactory(ClientConfig cfg) : cfg_(std::move(cfg)) {
  validate(cfg_);
  if (cfg_.protocol == Protocol::chat) {
    ledger_ = std::make_shared<chat::Ledger>(
        chat::Population{cfg_.chat_first_user, cfg_.chat_users, cfg_.chat_group_size});
  } else if (cfg_.protocol != Protocol::http) {
    pool_ = std::make_shared<const detail::PayloadPool>(cfg_.seed, cfg_.size_max,
                                                        cfg_.protocol == Protocol::upper);
  }
}

std::unique_ptr<ClientDriver> ClientFactory::make(std::uint64_t stream) const {
  switch (cfg_.protocol) {
    case Protocol::upper:
      return detail::make_upper_driver(cfg_, stream, pool_);
    case Protocol::echo:
      return detail::make_echo_driver(cfg_, stream, pool_);
    case Protocol::http:
      return detail::make_http_driver(cfg_);
    case Protocol::chat:
      return std::make_unique<chat::ChatDriver>(cfg_, stream, ledger_);
  }
  return nullptr;
}

void append_upper_frame(std::span<const char> body, ByteBuffer& out) {
  if (body.size() > 65535) {
    throw std::invalid_argument("upper: a body of " + std::to_string(body.size()) +
                                " bytes exceeds the 16-bit length field (65535)");
  }
  char* dst = out.prepare(2 + body.size()).data();
  dst[0] = static_cast<char>(body.size() & 0xFF);
  dst[1] = static_cast<char>(body.size() >> 8);
  std::memcpy(dst + 2, body.data(), body.size());
  out.commit(2 + body.size());
}

std::unique_ptr<ClientDriver> make_client_driver(const ClientConfig& cfg) {
  return ClientFactory(cfg).make(0);
}

}  // namespace wsb::proto
