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

AcceptPolicy::AcceptPolicy(Frame& frame, std::string_view call) : frame_(frame), call_(call) {}

AcceptAction AcceptPolicy::handle(int code, net::socket_t listener, StatsShard& shard) noexcept {
  if (net::is_out_of_descriptors(code)) {
    switch (spare_.shed(listener)) {
      case net::SpareDescriptor::Outcome::shed:
        shard.error(classify_accept_error(code));  // one client turned away
        log_(frame_, call_ + ": " + net::error_text(code) +
                         ": connection closed at once (raise the limit with ulimit -n)");
        return AcceptAction::retry;  // more may be waiting
      case net::SpareDescriptor::Outcome::none_waiting:
        // Nothing was lost: the next client makes the listener ready again.
        return AcceptAction::wait;
      case net::SpareDescriptor::Outcome::no_spare:
        break;  // the policy's pause
    }
  }
  const AcceptAction next = decide(code, shard);
  if (next == AcceptAction::stop) frame_.fail(fatal_message(code));
  return next;
}

AcceptAction AcceptPolicy::decide(int code, StatsShard& shard) noexcept {
  const ErrorClass c = classify_accept_error(code);
  shard.error(c);
  if (c == ErrorClass::reset) return AcceptAction::retry;  // the next client may be fine
  // A shortage passes as connections close; a broken listener does not.
  if (c != ErrorClass::out_of_descriptors && net::is_listener_failure(code)) {
    return AcceptAction::stop;
  }
  log_(frame_, call_ + ": " + net::error_text(code) + "; accepting pauses for " +
                   std::to_string(pause_for.count()) + " ms");
  return AcceptAction::pause;
}

std::string AcceptPolicy::fatal_message(int code) const {
  return call_ + "() failed: " + net::error_text(code);
}

}  // namespace wsb::server
