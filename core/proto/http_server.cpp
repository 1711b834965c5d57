// The http protocol, server side: HTTP/1.1 keep-alive with pipelining; every
// request is answered with the same "Hello, World!" reply. session.hpp lists
// the parsing decisions and the RFC 9112 sections behind them.
//
// Speed: a request whose head is wholly inside one fed chunk is parsed in
// place (no copy, no allocation); the head is found with memchr per line and
// validated with one table lookup per byte. Keep-alive replies are counted and
// appended in one block at the end of the feed (or before any other reply),
// so a feed carrying k pipelined requests grows `out` once and copies k times.
// Only a head split across chunks is copied, into head_, whose capacity is
// released again if it grew beyond a small size, to keep idle connections small.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "proto/detail/http_syntax.hpp"
#include "proto/detail/sessions.hpp"

namespace wsb::proto::detail {
namespace {

constexpr std::string_view reply_ok =
    "HTTP/1.1 200 OK\r\nServer: wsbench\r\nContent-Type: text/plain\r\nContent-Length: "
    "13\r\n\r\nHello, World!";
constexpr std::string_view reply_ok_close =
    "HTTP/1.1 200 OK\r\nServer: wsbench\r\nContent-Type: text/plain\r\nContent-Length: "
    "13\r\nConnection: close\r\n\r\nHello, World!";
constexpr std::string_view reply_ok_keep_alive_10 =
    "HTTP/1.1 200 OK\r\nServer: wsbench\r\nContent-Type: text/plain\r\nContent-Length: "
    "13\r\nConnection: keep-alive\r\n\r\nHello, World!";
constexpr std::string_view reply_400 =
    "HTTP/1.1 400 Bad Request\r\nServer: wsbench\r\nContent-Length: 0\r\nConnection: "
    "close\r\n\r\n";
constexpr std::string_view reply_413 =
    "HTTP/1.1 413 Content Too Large\r\nServer: wsbench\r\nContent-Length: 0\r\nConnection: "
    "close\r\n\r\n";
constexpr std::string_view reply_431 =
    "HTTP/1.1 431 Request Header Fields Too Large\r\nServer: wsbench\r\nContent-Length: "
    "0\r\nConnection: close\r\n\r\n";
constexpr std::string_view reply_501 =
    "HTTP/1.1 501 Not Implemented\r\nServer: wsbench\r\nContent-Length: 0\r\nConnection: "
    "close\r\n\r\n";
constexpr std::string_view reply_505 =
    "HTTP/1.1 505 HTTP Version Not Supported\r\nServer: wsbench\r\nContent-Length: "
    "0\r\nConnection: close\r\n\r\n";

// A split head is copied into head_; beyond this capacity the copy is freed
// after use rather than kept for the connection's lifetime.
constexpr std::size_t head_keep_capacity = 1024;

enum class Verdict : std::uint8_t {
  ok_keep_alive,     // 200, connection stays open
  ok_keep_alive_10,  // 200 to HTTP/1.0 with Connection: keep-alive
  ok_close,          // 200 with Connection: close, then close
  bad_request,       // 400
  bad_version,       // 505
  body_too_large,    // 413
  not_implemented,   // 501
};

struct Head {
  Verdict verdict = Verdict::bad_request;
  std::uint64_t content_length = 0;
};

// request-line = method SP request-target SP HTTP-version, nothing else
// (RFC 9112 section 3). Returns nullopt for a valid line, else the error
// verdict. Sets http11 for HTTP/1.1 and any later 1.x minor version, which
// RFC 9110 section 6.2 says to process as the highest minor version supported.
std::optional<Verdict> parse_request_line(std::string_view line, bool& http11) noexcept {
  std::size_t i = 0;
  while (i < line.size() && is_tchar(line[i])) {
    ++i;
  }
  if (i == 0 || i == line.size() || line[i] != ' ') return Verdict::bad_request;
  const std::size_t target = ++i;
  while (i < line.size() && is_target_char(line[i])) {
    ++i;
  }
  if (i == target || i == line.size() || line[i] != ' ') return Verdict::bad_request;
  const std::string_view version = line.substr(i + 1);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7])) {
    return Verdict::bad_request;
  }
  if (version[5] != '1') return Verdict::bad_version;
  http11 = version[7] != '0';
  return std::nullopt;
}

Head parse_head(std::string_view text, std::uint64_t max_body) noexcept {
  Head head;
  LineReader lines(text);
  std::string_view line;
  // Empty lines before the request line are ignored (RFC 9112 section 2.2);
  // the scanner guarantees a non-empty line follows.
  while (lines.next(line) && line.empty()) {
  }
  bool http11 = false;
  if (const std::optional<Verdict> error = parse_request_line(line, http11)) {
    head.verdict = *error;
    return head;
  }

  int hosts = 0;
  bool have_length = false;
  bool chunked_or_other_coding = false;
  bool conn_close = false;
  bool conn_keep_alive = false;
  std::uint64_t length = 0;
  while (lines.next(line) && !line.empty()) {
    // A line starting with whitespace is obs-fold (or whitespace before the
    // first field); section 5.2 lets a server reject it, and we do.
    std::string_view name;
    std::string_view value;
    if (!split_field_line(line, name, value)) return head;
    switch (name.size()) {
      case 4:
        if (iequals_lower(name, "host")) ++hosts;
        break;
      case 10:
        if (iequals_lower(name, "connection")) {
          for_each_list_element(value, [&](std::string_view option) {
            if (iequals_lower(option, "close")) conn_close = true;
            if (iequals_lower(option, "keep-alive")) conn_keep_alive = true;
            return true;
          });
        }
        break;
      case 14:
        if (iequals_lower(name, "content-length")) {
          std::uint64_t v = 0;
          if (!parse_content_length(value, v)) return head;
          if (have_length && v != length) return head;
          have_length = true;
          length = v;
        }
        break;
      case 17:
        if (iequals_lower(name, "transfer-encoding")) chunked_or_other_coding = true;
        break;
      default:
        break;
    }
  }

  if (hosts > 1 || (http11 && hosts == 0)) return head;
  if (chunked_or_other_coding) {
    head.verdict = Verdict::not_implemented;
  } else if (length > max_body) {
    head.verdict = Verdict::body_too_large;
  } else if (conn_close || (!http11 && !conn_keep_alive)) {
    head.verdict = Verdict::ok_close;
  } else {
    head.verdict = http11 ? Verdict::ok_keep_alive : Verdict::ok_keep_alive_10;
  }
  head.content_length = length;
  return head;
}

class HttpSession final : public ServerSession {
 public:
  explicit HttpSession(const SessionLimits& limits) : limits_(limits) {}

  void feed(std::span<const char> in, ByteBuffer& out) override {
    const char* p = in.data();
    std::size_t n = in.size();
    while (n > 0 && !closing_) {
      if (body_left_ > 0) {
        // The body is read and dropped; the reply waits for its last byte so
        // that pipelined requests stay in order and a closing reply is never
        // sent while request bytes are still unread.
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, body_left_));
        p += take;
        n -= take;
        body_left_ -= take;
        if (body_left_ == 0) answer(pending_, out);
      } else if (!head_.empty()) {
        // Continuing a head that began in an earlier chunk.
        const std::size_t end = scanner_.scan(p, n);
        const std::size_t take = end == HeadScanner::npos ? n : end;
        // A head that reaches the limit without ending can only grow past it:
        // refused now, as the single-chunk path below does, so that the
        // outcome never depends on how the bytes were split.
        if (head_.size() + take > limits_.max_http_head ||
            (end == HeadScanner::npos && head_.size() + take >= limits_.max_http_head)) {
          fail(reply_431, SessionError::oversized, out);
          break;
        }
        head_.append(p, take);
        p += take;
        n -= take;
        if (end == HeadScanner::npos) break;
        handle_head(head_, out);
        release_head();
      } else {
        // A new head: parse in place if it is wholly in this chunk.
        HeadScanner scanner;
        const std::size_t window = std::min(n, limits_.max_http_head);
        const std::size_t end = scanner.scan(p, window);
        if (end != HeadScanner::npos) {
          handle_head(std::string_view(p, end), out);
          p += end;
          n -= end;
        } else if (n >= limits_.max_http_head) {
          fail(reply_431, SessionError::oversized, out);
        } else {
          head_.assign(p, n);
          scanner_ = scanner;
          n = 0;
        }
      }
    }
    flush_ok(out);
  }

  void on_peer_closed() override {
    if (!closing_ && (body_left_ > 0 || (!head_.empty() && scanner_.has_content()))) {
      close_with(SessionError::truncated);
    }
    closing_ = true;
    release_head();
  }

  std::size_t buffered() const noexcept override { return head_.size(); }

 private:
  void handle_head(std::string_view text, ByteBuffer& out) {
    const Head head = parse_head(text, limits_.max_http_body);
    switch (head.verdict) {
      case Verdict::ok_keep_alive:
      case Verdict::ok_keep_alive_10:
      case Verdict::ok_close:
        if (head.content_length > 0) {
          body_left_ = head.content_length;
          pending_ = head.verdict;
        } else {
          answer(head.verdict, out);
        }
        break;
      case Verdict::bad_request:
        fail(reply_400, SessionError::malformed, out);
        break;
      case Verdict::bad_version:
        fail(reply_505, SessionError::malformed, out);
        break;
      case Verdict::body_too_large:
        fail(reply_413, SessionError::oversized, out);
        break;
      case Verdict::not_implemented:
        fail(reply_501, SessionError::unsupported, out);
        break;
    }
  }

  void answer(Verdict verdict, ByteBuffer& out) {
    ++requests_;
    if (verdict == Verdict::ok_keep_alive) {
      ++pending_ok_;
      return;
    }
    flush_ok(out);
    if (verdict == Verdict::ok_close) {
      out.append(reply_ok_close);
      closing_ = true;
    } else {
      out.append(reply_ok_keep_alive_10);
    }
  }

  void fail(std::string_view reply, SessionError e, ByteBuffer& out) {
    flush_ok(out);
    out.append(reply);
    close_with(e);
    release_head();
  }

  // Appends the keep-alive replies counted so far, in one block.
  void flush_ok(ByteBuffer& out) {
    if (pending_ok_ == 0) return;
    char* dst = out.prepare(pending_ok_ * reply_ok.size()).data();
    for (std::size_t i = 0; i < pending_ok_; ++i) {
      std::memcpy(dst + i * reply_ok.size(), reply_ok.data(), reply_ok.size());
    }
    out.commit(pending_ok_ * reply_ok.size());
    pending_ok_ = 0;
  }

  void release_head() {
    if (head_.capacity() > head_keep_capacity) {
      std::string().swap(head_);
    } else {
      head_.clear();
    }
    scanner_ = HeadScanner();
  }

  SessionLimits limits_;
  std::string head_;     // a head split across chunks, so far
  HeadScanner scanner_;  // where the scan of head_ stopped
  std::uint64_t body_left_ = 0;
  Verdict pending_ = Verdict::ok_keep_alive;  // the reply owed once the body is read
  std::size_t pending_ok_ = 0;
};

}  // namespace

std::unique_ptr<ServerSession> make_http_session(const SessionLimits& limits) {
  return std::make_unique<HttpSession>(limits);
}

}  // namespace wsb::proto::detail
