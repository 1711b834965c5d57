// The accept failure policy of the POSIX models: server/accept_errors.hpp.
#include "server/accept_errors.hpp"

#include <cstdio>
#include <string>

#include "platform/net.hpp"
#include "server/options.hpp"

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

AcceptErrors::AcceptErrors(const Frame& frame, std::string_view call)
    : frame_(frame), call_(call) {}

AcceptAction AcceptErrors::handle(int code, int listener, StatsShard& shard) noexcept {
  const ErrorClass c = classify_accept_error(code);
  if (c == ErrorClass::out_of_descriptors) {
    switch (spare_.shed(listener)) {
      case net::SpareDescriptor::Outcome::shed:
        shard.error(c);  // one client turned away
        log_(frame_, call_ + ": " + net::error_text(code) +
                         ": connection closed at once (raise the limit with ulimit -n)");
        return AcceptAction::retry;  // more may be waiting
      case net::SpareDescriptor::Outcome::none_waiting:
        // Nothing was lost: the next client makes the listener ready again.
        return AcceptAction::wait;
      case net::SpareDescriptor::Outcome::no_spare:
        break;
    }
  }
  shard.error(c);
  if (c == ErrorClass::reset) return AcceptAction::retry;  // the next client may be fine
  log_(frame_, call_ + ": " + net::error_text(code) + "; accepting pauses for 100 ms");
  return AcceptAction::pause;
}

}  // namespace wsb::server
