// The http client driver: writes "GET <path> HTTP/1.1" requests and verifies
// the responses incrementally (status 200, framing by Content-Length, chunked
// transfer coding or connection close, and the body when one is expected).
//
// Requests are all the same, so the pipeline is just a count. A response head
// wholly inside one fed chunk is parsed in place; a split one is copied into
// head_ (bounded by max_response_head).
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

// Bounds on what a misbehaving server can make the driver buffer or skip.
constexpr std::size_t max_response_head = 64 * 1024;
constexpr std::size_t max_chunk_extension = 4 * 1024;
// A split head is copied into head_; beyond this capacity the copy is freed
// after use rather than kept for the connection's lifetime.
constexpr std::size_t head_keep_capacity = 1024;

enum class Framing : std::uint8_t { length, chunked, until_close };

struct ResponseHead {
  bool well_formed = false;
  int status = 0;
  Framing framing = Framing::until_close;
  std::uint64_t content_length = 0;
  bool close = false;
};

// status-line = HTTP-version SP status-code SP [reason-phrase] (RFC 9112
// section 4). A missing SP after the code is tolerated, as section 4 asks
// clients to be lenient here.
ResponseHead parse_response_head(std::string_view text) noexcept {
  ResponseHead head;
  LineReader lines(text);
  std::string_view line;
  while (lines.next(line) && line.empty()) {
  }
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || !is_digit(line[7]) || line[8] != ' ' ||
      !is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) ||
      (line.size() > 12 && line[12] != ' ')) {
    return head;
  }
  const bool http10 = line[7] == '0';
  head.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  for (std::size_t i = 13; i < line.size(); ++i) {
    if (!is_field_char(line[i])) return head;
  }

  bool have_length = false;
  bool chunked_last = false;
  bool have_coding = false;
  bool keep_alive = false;
  while (lines.next(line) && !line.empty()) {
    std::string_view name;
    std::string_view value;
    if (!split_field_line(line, name, value)) return head;
    if (iequals_lower(name, "content-length")) {
      std::uint64_t v = 0;
      if (!parse_content_length(value, v) || (have_length && v != head.content_length)) {
        return head;
      }
      have_length = true;
      head.content_length = v;
    } else if (iequals_lower(name, "transfer-encoding")) {
      // Only the last coding decides the framing (RFC 9112 section 6.3).
      for_each_list_element(value, [&](std::string_view coding) {
        have_coding = true;
        chunked_last = iequals_lower(coding, "chunked");
        return true;
      });
    } else if (iequals_lower(name, "connection")) {
      for_each_list_element(value, [&](std::string_view option) {
        if (iequals_lower(option, "close")) head.close = true;
        if (iequals_lower(option, "keep-alive")) keep_alive = true;
        return true;
      });
    }
  }
  if (http10 && !keep_alive) head.close = true;
  // Transfer-Encoding overrides Content-Length (section 6.3); a final coding
  // other than chunked means "read until close", which a keep-alive benchmark
  // cannot use, so it is treated as malformed.
  if (have_coding) {
    if (!chunked_last) return head;
    head.framing = Framing::chunked;
  } else if (have_length) {
    head.framing = Framing::length;
  } else {
    head.framing = Framing::until_close;
    head.close = true;
  }
  head.well_formed = true;
  return head;
}

class HttpDriver final : public ClientDriver {
 public:
  explicit HttpDriver(const ClientConfig& cfg)
      : request_("GET " + cfg.http_path + " HTTP/1.1\r\nHost: " + cfg.http_host + "\r\n\r\n"),
        expect_(cfg.http_expect_body) {}

  std::size_t write_request(ByteBuffer& out) override {
    out.append(request_);
    ++outstanding_;
    return request_.size();
  }

  std::size_t feed(std::span<const char> in) override {
    const char* p = in.data();
    std::size_t n = in.size();
    std::size_t done = 0;
    while (n > 0 && error_ == ClientError::none) {
      std::size_t used = 0;
      switch (state_) {
        case State::head:
          used = feed_head(p, n);
          break;
        case State::body:
          used = feed_body(p, n);
          break;
        case State::chunk_size:
        case State::chunk_extension:
        case State::chunk_size_lf:
        case State::chunk_data_cr:
        case State::chunk_data_lf:
          used = feed_chunk_syntax(*p);
          break;
        case State::chunk_data:
          used = feed_chunk_data(p, n);
          break;
        case State::trailers:
          used = feed_trailers(p, n);
          break;
      }
      p += used;
      n -= used;
      if (response_complete_) {
        response_complete_ = false;
        ++done;
      }
    }
    return done;
  }

  std::size_t on_peer_closed() noexcept override {
    if (error_ != ClientError::none) return 0;
    std::size_t done = 0;
    if (state_ == State::body && framing_ == Framing::until_close) {
      finish_response();
      if (response_complete_) {
        response_complete_ = false;
        done = 1;
      }
    }
    if (error_ == ClientError::none &&
        (outstanding_ > 0 || state_ != State::head || !head_.empty())) {
      fail(ClientError::unexpected_close);
    }
    return done;
  }

  void reset() noexcept override {
    ClientDriver::reset();
    state_ = State::head;
    head_.clear();
    scanner_ = HeadScanner();
    response_complete_ = false;
  }

 private:
  enum class State : std::uint8_t {
    head,
    body,             // Content-Length or until-close body
    chunk_size,       // hex digits of a chunk-size line
    chunk_extension,  // ";ext" up to the LF
    chunk_size_lf,    // the LF after a CR in a chunk-size line
    chunk_data,
    chunk_data_cr,  // the CRLF after chunk data
    chunk_data_lf,
    trailers,  // trailer section after the last chunk, up to an empty line
  };

  std::size_t feed_head(const char* p, std::size_t n) {
    if (head_.empty()) {
      HeadScanner scanner;
      const std::size_t end = scanner.scan(p, std::min(n, max_response_head));
      if (end != HeadScanner::npos) {
        start_response(std::string_view(p, end));
        return end;
      }
      if (n >= max_response_head) {
        fail(ClientError::malformed);
        return n;
      }
      head_.assign(p, n);
      scanner_ = scanner;
      return n;
    }
    const std::size_t end = scanner_.scan(p, n);
    const std::size_t take = end == HeadScanner::npos ? n : end;
    if (head_.size() + take > max_response_head) {
      fail(ClientError::malformed);
      return n;
    }
    head_.append(p, take);
    if (end != HeadScanner::npos) {
      start_response(head_);
      // A rare huge head should not pin its memory for the connection's life.
      if (head_.capacity() > head_keep_capacity) {
        std::string().swap(head_);
      } else {
        head_.clear();
      }
      scanner_ = HeadScanner();
    }
    return take;
  }

  void start_response(std::string_view text) {
    const ResponseHead head = parse_response_head(text);
    if (!head.well_formed) {
      fail(ClientError::malformed);
      return;
    }
    // An interim response (100 Continue and the like) precedes the real one.
    if (head.status >= 100 && head.status < 200 && head.status != 101) return;
    if (outstanding_ == 0 || head.status != 200) {
      fail(ClientError::mismatch);
      return;
    }
    close_after_ = head.close;
    framing_ = head.framing;
    body_seen_ = 0;
    switch (head.framing) {
      case Framing::length:
        if (expect_ && head.content_length != expect_->size()) {
          fail(ClientError::mismatch);
          return;
        }
        body_left_ = head.content_length;
        if (body_left_ == 0) {
          finish_response();
        } else {
          state_ = State::body;
        }
        break;
      case Framing::until_close:
        body_left_ = UINT64_MAX;
        state_ = State::body;
        break;
      case Framing::chunked:
        begin_chunk_size();
        break;
    }
  }

  std::size_t feed_body(const char* p, std::size_t n) {
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, body_left_));
    if (!check_body(p, take)) return take;
    if (framing_ == Framing::length) {
      body_left_ -= take;
      if (body_left_ == 0) finish_response();
    }
    return take;
  }

  // One byte of chunk framing. Chunk-size lines are a few bytes, so a byte at
  // a time keeps the split handling trivial at no measurable cost.
  std::size_t feed_chunk_syntax(char c) {
    switch (state_) {
      case State::chunk_size: {
        const int digit = hex_value(c);
        if (digit >= 0) {
          if (chunk_left_ > (UINT64_MAX >> 4)) return malformed();
          chunk_left_ = chunk_left_ * 16 + static_cast<std::uint64_t>(digit);
          ++size_digits_;
        } else if (size_digits_ == 0) {
          return malformed();
        } else if (c == ';' || c == ' ' || c == '\t') {
          extension_bytes_ = 0;
          state_ = State::chunk_extension;
        } else if (c == '\r') {
          state_ = State::chunk_size_lf;
        } else if (c == '\n') {
          end_chunk_size();
        } else {
          return malformed();
        }
        break;
      }
      case State::chunk_extension:
        if (c == '\n') {
          end_chunk_size();
        } else if (++extension_bytes_ > max_chunk_extension) {
          return malformed();
        }
        break;
      case State::chunk_size_lf:
        if (c != '\n') return malformed();
        end_chunk_size();
        break;
      case State::chunk_data_cr:
        if (c == '\r') {
          state_ = State::chunk_data_lf;
        } else if (c == '\n') {
          begin_chunk_size();
        } else {
          return malformed();
        }
        break;
      case State::chunk_data_lf:
        if (c != '\n') return malformed();
        begin_chunk_size();
        break;
      default:
        break;
    }
    return 1;
  }

  std::size_t feed_chunk_data(const char* p, std::size_t n) {
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, chunk_left_));
    if (!check_body(p, take)) return take;
    chunk_left_ -= take;
    if (chunk_left_ == 0) state_ = State::chunk_data_cr;
    return take;
  }

  std::size_t feed_trailers(const char* p, std::size_t n) {
    const std::size_t end = scanner_.scan(p, n);
    const std::size_t take = end == HeadScanner::npos ? n : end;
    trailer_bytes_ += take;
    if (trailer_bytes_ > max_response_head) {
      fail(ClientError::malformed);
      return n;
    }
    if (end != HeadScanner::npos) {
      scanner_ = HeadScanner();
      finish_response();
    }
    return take;
  }

  void begin_chunk_size() noexcept {
    chunk_left_ = 0;
    size_digits_ = 0;
    state_ = State::chunk_size;
  }

  void end_chunk_size() noexcept {
    if (chunk_left_ > 0) {
      state_ = State::chunk_data;
      return;
    }
    // The last chunk: a trailer section follows, ended by an empty line, which
    // may be the very next line.
    scanner_ = HeadScanner();
    scanner_.expect_end_at_first_empty_line();
    trailer_bytes_ = 0;
    state_ = State::trailers;
  }

  std::size_t malformed() noexcept {
    fail(ClientError::malformed);
    return 1;
  }

  static int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool check_body(const char* p, std::size_t n) noexcept {
    if (expect_) {
      if (n > expect_->size() - body_seen_ ||
          std::memcmp(p, expect_->data() + body_seen_, n) != 0) {
        fail(ClientError::mismatch);
        return false;
      }
    }
    body_seen_ += n;
    return true;
  }

  void finish_response() noexcept {
    state_ = State::head;
    if (expect_ && body_seen_ != expect_->size()) {
      fail(ClientError::mismatch);
      return;
    }
    --outstanding_;
    ++responses_;
    response_complete_ = true;
    if (close_after_) server_closing_ = true;
  }

  const std::string request_;
  const std::optional<std::string> expect_;

  State state_ = State::head;
  std::string head_;
  HeadScanner scanner_;
  Framing framing_ = Framing::length;
  bool close_after_ = false;
  bool response_complete_ = false;
  std::uint64_t body_left_ = 0;
  std::uint64_t chunk_left_ = 0;
  std::uint64_t body_seen_ = 0;
  std::size_t size_digits_ = 0;
  std::size_t extension_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
};

}  // namespace

std::unique_ptr<ClientDriver> make_http_driver(const ClientConfig& cfg) {
  return std::make_unique<HttpDriver>(cfg);
}

}  // namespace wsb::proto::detail
