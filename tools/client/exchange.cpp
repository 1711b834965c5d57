// The three protocols' exchanges (see exchange.hpp).
#include "exchange.hpp"

#include <optional>

#include "proto/client.hpp"
#include "proto/session.hpp"

namespace wsb::client {
namespace {

// upper and echo: the reply to a request is exactly what the protocol's own
// server session answers to it, so the session computes the expected reply
// and the received bytes are checked against it as they arrive. That is also
// how the reply's end is known: it is as long as the expected one.
class ReferenceExchange final : public Exchange {
 public:
  explicit ReferenceExchange(proto::Protocol protocol)
      : protocol_(protocol), reference_(proto::make_server_session(protocol)) {}

  void write_request(std::string_view line, ByteBuffer& out) override {
    ByteBuffer request;
    if (protocol_ == proto::Protocol::upper) {
      proto::append_upper_frame(line, request);
    } else {
      // echo has no framing; the line ending goes too, so that the server
      // sees (and a byte-stream peer such as nc shows) the lines as typed.
      request.append(line);
      request.append("\n");
    }
    ByteBuffer reply;
    reference_->feed(request.readable(), reply);
    expected_.assign(reply.data(), reply.size());
    received_.clear();
    out.append(request.readable());
  }

  bool feed(std::span<const char> in) override {
    const std::size_t offset = received_.size();
    if (in.size() > expected_.size() - offset) {
      throw ReplyError("the server sent " + std::to_string(offset + in.size()) +
                       " bytes in reply to a request that asks for " +
                       std::to_string(expected_.size()));
    }
    received_.append(in.data(), in.size());
    // Checked as the bytes arrive, so that a wrong reply is reported at once
    // instead of after waiting for bytes that may never come.
    for (std::size_t i = offset; i < received_.size(); ++i) {
      if (received_[i] != expected_[i]) {
        throw ReplyError("byte " + std::to_string(i) + " of the reply is not what the " +
                         std::string(proto::name(protocol_)) + " protocol answers");
      }
    }
    return received_.size() == expected_.size();
  }

  bool on_peer_closed() override { return false; }

  std::string shown_reply() const override {
    if (protocol_ == proto::Protocol::upper) return received_.substr(2);  // after the length
    return received_.substr(0, received_.size() - 1);                     // before the '\n'
  }

 private:
  proto::Protocol protocol_;
  std::unique_ptr<proto::ServerSession> reference_;
  std::string expected_;
  std::string received_;
};

// http: a line is the path of a GET request ("/" for an empty line). The
// load generator's http driver writes the request and finds the end of the
// response (Content-Length, chunked or the close); the bytes are kept to be
// shown as they came.
class HttpExchange final : public Exchange {
 public:
  explicit HttpExchange(std::string host) : host_(std::move(host)) {}

  void write_request(std::string_view line, ByteBuffer& out) override {
    proto::ClientConfig cfg;
    cfg.protocol = proto::Protocol::http;
    cfg.http_host = host_;
    cfg.http_path = line.empty() ? std::string("/") : std::string(line);
    cfg.http_expect_body = std::nullopt;       // any body: a server of the user's may serve a file
    driver_ = proto::make_client_driver(cfg);  // validates the path: throws std::invalid_argument
    response_.clear();
    driver_->write_request(out);
  }

  bool feed(std::span<const char> in) override {
    response_.append(in.data(), in.size());
    const std::size_t done = driver_->feed(in);
    check();
    return done > 0;
  }

  bool on_peer_closed() override {
    const std::size_t done = driver_->on_peer_closed();
    check();
    return done > 0;
  }

  std::string shown_reply() const override {
    std::string shown;
    shown.reserve(response_.size());
    for (std::size_t i = 0; i < response_.size(); ++i) {
      if (response_[i] == '\r' && i + 1 < response_.size() && response_[i + 1] == '\n') continue;
      shown += response_[i];
    }
    if (!shown.empty() && shown.back() == '\n') shown.pop_back();
    return shown;
  }

  bool server_closing() const noexcept override { return driver_ && driver_->server_closing(); }

 private:
  void check() const {
    switch (driver_->error()) {
      case proto::ClientError::none:
        return;
      case proto::ClientError::mismatch:
        throw ReplyError("the server's response is not a 200 response to the request");
      case proto::ClientError::malformed:
        throw ReplyError("the server's response does not parse as HTTP/1.1");
      case proto::ClientError::unexpected_close:
        throw ReplyError("the server closed the connection in the middle of the response");
    }
  }

  std::string host_;
  std::unique_ptr<proto::ClientDriver> driver_;
  std::string response_;
};

}  // namespace

std::unique_ptr<Exchange> make_exchange(proto::Protocol protocol, const std::string& http_host) {
  if (protocol == proto::Protocol::http) return std::make_unique<HttpExchange>(http_host);
  return std::make_unique<ReferenceExchange>(protocol);
}

}  // namespace wsb::client
