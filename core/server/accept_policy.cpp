// The accept failure policy of every model: server/accept_policy.hpp.
#include "server/accept_policy.hpp"

#include <cstdio>
#include <string>

#include "platform/net.hpp"

namespace wsb::server {

void RateLimitedLog::operator()(const Frame& frame, const std::string& message) {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_) {
    ++suppressed_;
    return;
  }
  std::fprintf(stderr, "%.*s: %s", static_cast<int>(frame.model_name().size()),
               frame.model_name().data(), message.c_str());
  if (suppressed_ != 0) {
    std::fprintf(stderr, " (%llu similar messages suppressed)",
                 static_cast<unsigned long long>(suppressed_));
  }
  std::fputc('\n', stderr);
  suppressed_ = 0;
  next_ = now + std::chrono::seconds(1);
}

int accept_pass_limit(const Options& options) noexcept {
  constexpr int minimum = 64;
  return options.backlog > minimum ? options.backlog : minimum;
}

AcceptPolicy::AcceptPolicy(const Frame& frame, std::string_view call)
    : frame_(frame), call_(call) {}

AcceptFailure AcceptPolicy::decide(int code, StatsShard& shard) noexcept {
  const ErrorClass c = classify_accept_error(code);
  shard.error(c);
  if (c == ErrorClass::reset) return AcceptFailure::retry;  // the next client may be fine
  // A shortage passes as connections close; a broken listener does not.
  if (c != ErrorClass::out_of_descriptors && net::is_listener_failure(code)) {
    return AcceptFailure::fatal;
  }
  log_(frame_, call_ + ": " + net::error_text(code) + "; accepting pauses for " +
                   std::to_string(pause_for.count()) + " ms");
  return AcceptFailure::pause;
}

std::string AcceptPolicy::fatal_message(int code) const {
  return call_ + "() failed: " + net::error_text(code);
}

}  // namespace wsb::server
