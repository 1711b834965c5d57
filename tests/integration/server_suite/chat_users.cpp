// Chat users for the black-box suites: chat_users.hpp.
#include "chat_users.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <span>
#include <type_traits>
#include <variant>

namespace wsb::suite {
namespace {

namespace chat = proto::chat;
using std::chrono::milliseconds;

// After the last expected frame, how long the users keep reading for frames
// that should not come (a duplicate delivered late).
constexpr milliseconds grace{150};

struct ChatUser {
  Socket sock;
  std::uint32_t id = 0;
  std::uint32_t group = 0;
  bool reads = true;  // false: a user that never reads (once logged in)
  std::string out;    // bytes to send
  std::size_t sent = 0;
  chat::FrameReader reader;
  bool welcomed = false;
  bool closed = false;
  std::uint32_t acks = 0;
  std::uint32_t queued = 0;    // messages put into `out`
  std::uint64_t expected = 0;  // deliveries this user must receive
  std::uint64_t received = 0;  // verified ones
  // Per sender id: which sequence numbers arrived, and the highest one.
  std::vector<std::vector<bool>> seen;
  std::vector<std::uint32_t> last;
};

class ChatRun {
 public:
  ChatRun(const Target& target, const ChatPlan& plan) : target_(target), plan_(plan) {}

  ChatReport run(Clock::time_point deadline) {
    if (!check_plan()) return report_;
    if (!connect_all(deadline)) return report_;
    for (ChatUser& u : users_)
      u.out += chat_frame(chat::Login{u.id, u.group});
    if (!pump(deadline, [this] { return all_welcomed(); })) {
      fail_if_silent("not every user got its WELCOME in time");
      return finish(deadline);
    }
    sending_ = true;
    for (std::size_t i = 0; i < users_.size(); ++i)
      queue_messages(static_cast<std::uint32_t>(i));
    if (!pump(deadline, [this] { return all_done(); })) {
      fail_if_silent("not every ACK and delivery arrived in time");
      return finish(deadline);
    }
    pump(std::min(deadline, Clock::now() + grace), [] { return false; });
    return finish(deadline);
  }

 private:
  std::uint32_t group_of(std::uint32_t index) const { return index / plan_.group_size + 1; }
  std::uint32_t group_members(std::uint32_t group) const {
    const std::uint32_t first = (group - 1) * plan_.group_size;
    return std::min(plan_.group_size, plan_.users - first);
  }
  std::uint32_t private_target(std::uint32_t index, std::uint32_t k) const {
    return (index + plan_.group_size * (k + 1)) % plan_.users;
  }
  std::uint32_t messages_per_user() const { return plan_.group_messages + plan_.private_messages; }
  bool never_reads(std::uint32_t index) const {
    return std::find(plan_.never_read.begin(), plan_.never_read.end(), index) !=
           plan_.never_read.end();
  }

  bool check_plan() {
    if (plan_.users == 0 || plan_.group_size == 0) {
      report_.failure = "chat plan: no users";
      return false;
    }
    for (std::uint32_t i = 0; i < plan_.users; ++i) {
      for (std::uint32_t k = 0; k < plan_.private_messages; ++k) {
        if (group_of(private_target(i, k)) == group_of(i)) {
          report_.failure = "chat plan: a private message would stay in its group";
          return false;
        }
      }
    }
    return true;
  }

  bool connect_all(Clock::time_point deadline) {
    users_.resize(plan_.users);
    for (std::uint32_t i = 0; i < plan_.users; ++i) {
      ChatUser& u = users_[i];
      u.id = i + 1;
      u.group = group_of(i);
      u.reads = !never_reads(i);
      u.seen.assign(plan_.users + 1, std::vector<bool>(messages_per_user() + 1, false));
      u.last.assign(plan_.users + 1, 0);
      std::string error;
      u.sock = connect_to(target_, deadline, error, u.reads ? 0 : plan_.never_read_buffer);
      if (!u.sock.valid()) {
        report_.failure = "user " + std::to_string(u.id) + " cannot connect: " + error;
        return false;
      }
    }
    // What each reading user must receive (a user that never reads sends
    // nothing either).
    for (std::uint32_t s = 0; s < plan_.users; ++s) {
      if (never_reads(s)) continue;
      for (std::uint32_t r = 0; r < plan_.users; ++r) {
        if (r != s && group_of(r) == group_of(s)) users_[r].expected += plan_.group_messages;
      }
      for (std::uint32_t k = 0; k < plan_.private_messages; ++k)
        ++users_[private_target(s, k)].expected;
    }
    return true;
  }

  // Puts the user's next messages into its output, as many as its window
  // allows: GROUP messages first, then PRIVATE ones.
  void queue_messages(std::uint32_t index) {
    ChatUser& u = users_[index];
    if (!u.reads || !sending_) return;
    const std::uint32_t total = messages_per_user();
    const std::uint32_t settled = std::min(u.acks, received_by_group(index));
    const std::uint32_t limit = plan_.window == 0 ? total : std::min(total, settled + plan_.window);
    while (u.queued < limit) {
      const std::uint32_t seq = ++u.queued;
      const std::string payload = chat_payload(u.id, seq, plan_.payload_bytes);
      if (seq <= plan_.group_messages) {
        u.out += chat_frame(chat::GroupMessage{seq, std::span<const char>(payload)});
      } else {
        const std::uint32_t to = private_target(index, seq - plan_.group_messages - 1);
        u.out += chat_frame(chat::PrivateMessage{to + 1, seq, std::span<const char>(payload)});
      }
    }
    if (u.sent == u.out.size()) {
      u.out.clear();  // keeps the memory of a long run to what is in flight
      u.sent = 0;
    }
  }

  // How many of user `index`'s GROUP messages every reading member of its
  // group has received (in order, as they must arrive); all of them once
  // each member has them all, so that the PRIVATE messages after them are
  // paced on their ACKs alone.
  std::uint32_t received_by_group(std::uint32_t index) const {
    const std::uint32_t sender = users_[index].id;
    std::uint32_t received = messages_per_user();
    for (std::uint32_t r = 0; r < plan_.users; ++r) {
      if (r == index || !users_[r].reads || group_of(r) != group_of(index)) continue;
      const std::uint32_t last = users_[r].last[sender];
      if (last < plan_.group_messages) received = std::min(received, last);
    }
    return received;
  }

  bool all_welcomed() const {
    return std::all_of(users_.begin(), users_.end(), [](const ChatUser& u) { return u.welcomed; });
  }
  bool all_done() const {
    return std::all_of(users_.begin(), users_.end(), [this](const ChatUser& u) {
      return !u.reads || (u.acks == messages_per_user() && u.received == u.expected);
    });
  }

  void fail(const ChatUser& u, const std::string& what) {
    if (report_.failure.empty()) report_.failure = "user " + std::to_string(u.id) + ": " + what;
  }
  void fail_if_silent(const std::string& what) {
    if (report_.failure.empty()) report_.failure = what;
  }

  // Polls every open user until done() holds, `until` passes (false) or a
  // failure was recorded (false).
  template <class Done>
  bool pump(Clock::time_point until, Done&& done) {
    std::vector<pollfd> fds;
    std::vector<ChatUser*> owners;
    while (report_.failure.empty()) {
      if (done()) return true;
      const auto now = Clock::now();
      if (now >= until) return false;
      fds.clear();
      owners.clear();
      for (ChatUser& u : users_) {
        if (u.closed) continue;
        short events = 0;
        if (u.reads || !u.welcomed) events |= POLLIN;
        if (u.sent < u.out.size()) events |= POLLOUT;
        if (events == 0) continue;
        fds.push_back({u.sock.fd(), events, 0});
        owners.push_back(&u);
      }
      const auto left = std::chrono::ceil<milliseconds>(until - now).count();
      const int ready =
          ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left, 50)));
      if (ready < 0 && errno != EINTR) {
        report_.failure = "poll: " + errno_text(errno);
        return false;
      }
      for (std::size_t i = 0; i < fds.size() && ready > 0; ++i) {
        if (fds[i].revents == 0) continue;
        if (fds[i].revents & POLLOUT) write_some(*owners[i]);
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) read_some(*owners[i]);
      }
    }
    return false;
  }

  void write_some(ChatUser& u) {
    while (u.sent < u.out.size()) {
      const ssize_t n =
          ::send(u.sock.fd(), u.out.data() + u.sent, u.out.size() - u.sent, MSG_NOSIGNAL);
      if (n > 0) {
        u.sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      u.closed = true;
      if (u.reads) fail(u, "send failed: " + errno_text(errno));
      return;
    }
  }

  void read_some(ChatUser& u) {
    char buffer[64 * 1024];
    for (int reads = 0; reads < 16 && !u.closed; ++reads) {
      const ssize_t n = ::recv(u.sock.fd(), buffer, sizeof buffer, 0);
      if (n > 0) {
        u.reader.feed(std::span<const char>(buffer, static_cast<std::size_t>(n)),
                      [&](std::span<const char> body) { return on_frame(u, body); });
        // A user that never reads takes its WELCOME and no more.
        if (!u.reads && u.welcomed) return;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      u.closed = true;
      if (u.reads) {
        fail(u, n == 0 ? std::string("the server closed the connection")
                       : "recv failed: " + errno_text(errno));
      }
    }
  }

  bool on_frame(ChatUser& u, std::span<const char> body) {
    const auto message = chat::read_server(body);
    if (!message) {
      fail(u, "a malformed frame from the server");
      return false;
    }
    return std::visit([&](const auto& m) { return on_message(u, m); }, *message);
  }

  bool on_message(ChatUser& u, const chat::Welcome& m) {
    if (u.welcomed) fail(u, "a second WELCOME");
    if (m.user != u.id || m.group != u.group) fail(u, "a WELCOME for another user or group");
    if (m.members_online < 1 || m.members_online > group_members(u.group)) {
      fail(u, "WELCOME says " + std::to_string(m.members_online) + " members online");
    }
    u.welcomed = true;
    return true;
  }

  bool on_message(ChatUser& u, const chat::Ack& m) {
    if (m.seq != u.acks + 1) {
      fail(u, "ACK " + std::to_string(m.seq) + " after ACK " + std::to_string(u.acks));
      return false;
    }
    ++u.acks;
    const std::uint32_t index = u.id - 1;
    std::uint32_t want = 1;
    std::uint32_t may_miss = 0;  // recipients that never read may have been dropped
    if (m.seq <= plan_.group_messages) {
      want = group_members(u.group) - 1;
      for (const std::uint32_t slow : plan_.never_read)
        may_miss += group_of(slow) == u.group && slow != index ? 1 : 0;
    } else {
      may_miss = never_reads(private_target(index, m.seq - plan_.group_messages - 1)) ? 1 : 0;
    }
    if (m.recipients > want || m.recipients + may_miss < want) {
      fail(u, "ACK " + std::to_string(m.seq) + " counts " + std::to_string(m.recipients) +
                  " recipients, not " + std::to_string(want));
    }
    ++report_.messages;
    queue_messages(index);
    return true;
  }

  bool on_message(ChatUser& u, const chat::FromGroup& m) {
    const bool sender_ok =
        m.from >= 1 && m.from <= plan_.users && m.from != u.id && group_of(m.from - 1) == u.group;
    const bool seq_ok = m.seq >= 1 && m.seq <= plan_.group_messages;
    return deliver(u, m.from, m.seq, m.payload, sender_ok && seq_ok && m.group == u.group);
  }

  bool on_message(ChatUser& u, const chat::FromPrivate& m) {
    const bool seq_ok = m.seq > plan_.group_messages && m.seq <= messages_per_user();
    const bool sender_ok = seq_ok && m.from >= 1 && m.from <= plan_.users &&
                           private_target(m.from - 1, m.seq - plan_.group_messages - 1) == u.id - 1;
    return deliver(u, m.from, m.seq, m.payload, sender_ok);
  }

  bool on_message(ChatUser& u, const chat::Error& m) {
    fail(u, "ERROR " + std::to_string(static_cast<int>(m.code)) + " \"" + std::string(m.reason) +
                "\"");
    return false;
  }

  bool deliver(ChatUser& u, std::uint32_t from, std::uint32_t seq, std::span<const char> payload,
               bool addressed_right) {
    if (!u.reads) return true;
    const std::string want = addressed_right ? chat_payload(from, seq, plan_.payload_bytes) : "";
    if (!addressed_right || std::string_view(payload.data(), payload.size()) != want) {
      ++report_.corrupt;
      fail(u, "a delivery with the wrong sender, group, sequence or payload (from " +
                  std::to_string(from) + ", seq " + std::to_string(seq) + ")");
      return true;
    }
    if (u.seen[from][seq]) {
      ++report_.duplicated;
      fail(u, "message " + std::to_string(seq) + " of user " + std::to_string(from) + " twice");
      return true;
    }
    u.seen[from][seq] = true;
    if (seq < u.last[from]) {
      ++report_.reordered;
      fail(u, "message " + std::to_string(seq) + " of user " + std::to_string(from) +
                  " after its message " + std::to_string(u.last[from]));
    }
    u.last[from] = std::max(u.last[from], seq);
    ++u.received;
    ++report_.deliveries;
    queue_messages(from - 1);  // the sender's window may have room now
    return true;
  }

  ChatReport finish(Clock::time_point deadline) {
    for (ChatUser& u : users_) {
      if (u.reads) report_.lost += u.expected - std::min(u.expected, u.received);
    }
    for (ChatUser& u : users_) {
      if (u.reads) continue;
      // The server drops a user that never reads: reading now finds the end
      // of its connection after what was queued before the drop.
      std::size_t discarded = 0;
      const PeerEnd end =
          wait_for_close(u.sock, std::min(deadline, Clock::now() + milliseconds(5000)), &discarded);
      if (end == PeerEnd::eof || end == PeerEnd::reset) ++report_.never_read_closed;
    }
    for (ChatUser& u : users_)
      u.sock.close();
    return report_;
  }

  const Target& target_;
  const ChatPlan& plan_;
  std::vector<ChatUser> users_;
  ChatReport report_;
  bool sending_ = false;  // every user logged in: messages may go
};

}  // namespace

std::string chat_payload(std::uint32_t from, std::uint32_t seq, std::size_t bytes) {
  std::string s = "from " + std::to_string(from) + " seq " + std::to_string(seq) + ":";
  while (s.size() < bytes)
    s.push_back(static_cast<char>('a' + (from * 7 + seq * 13 + s.size()) % 26));
  s.resize(bytes);
  return s;
}

std::string chat_frame(const proto::chat::ClientMessage& m) {
  ByteBuffer out;
  std::visit([&](const auto& message) { proto::chat::write(out, message); }, m);
  return std::string(out.data(), out.size());
}

std::string raw_chat_frame(const std::string& body) {
  std::string frame;
  frame.push_back(static_cast<char>(body.size() & 0xFF));
  frame.push_back(static_cast<char>((body.size() >> 8) & 0xFF));
  return frame + body;
}

ChatReport run_chat(const Target& target, const ChatPlan& plan, Clock::time_point deadline) {
  return ChatRun(target, plan).run(deadline);
}

std::string expect_chat_error(const Socket& s, Clock::time_point deadline,
                              proto::chat::ErrorCode& code) {
  std::string text;
  std::optional<PeerEnd> end;
  while (!end && Clock::now() < deadline) {
    end = read_some(s, text, text.size() + 1, deadline);
  }
  proto::chat::FrameReader reader;
  std::string problem;
  bool got_error = false;
  reader.feed(std::span<const char>(text), [&](std::span<const char> body) {
    const auto message = proto::chat::read_server(body);
    if (!message) {
      problem = "a malformed frame from the server";
      return false;
    }
    if (const auto* error = std::get_if<proto::chat::Error>(&*message)) {
      code = error->code;
      got_error = true;
      return false;
    }
    // The WELCOME of a login that came before the faulty frame.
    if (std::holds_alternative<proto::chat::Welcome>(*message)) return true;
    problem = "another frame than ERROR";
    return false;
  });
  if (!problem.empty()) return problem;
  if (!got_error) return "no ERROR frame (" + std::to_string(text.size()) + " bytes came)";
  if (!end) return "the connection stayed open after the ERROR";
  return "";
}

}  // namespace wsb::suite
