// The chat client driver and its shared ledger: proto/chat_client.hpp.
#include "proto/chat_client.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace wsb::proto::chat {
namespace {

// A channel that skips this far ahead is not a delayed message but a broken
// sender (or server): remembering every skipped sequence would grow without
// bound, so the delivery is a mismatch instead.
constexpr std::uint32_t kMaxGap = 1u << 16;

std::uint64_t splitmix(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void put_le(char* p, std::uint64_t v, int bytes) noexcept {
  for (int i = 0; i < bytes; ++i)
    p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::uint64_t get_le(const char* p, int bytes) noexcept {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i)
    v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

char filler(std::uint32_t sender, std::uint32_t wire_seq, std::size_t position) noexcept {
  const std::uint64_t mix = std::uint64_t{sender} * 7 + std::uint64_t{wire_seq} * 13 + position;
  return static_cast<char>('a' + mix % 26);
}

std::uint32_t Population::group_members(std::uint32_t group) const noexcept {
  const std::uint32_t first = (group - 1) * group_size;
  return std::min(group_size, users - first);
}

// ---- ChannelTrack ---------------------------------------------------------------

ChannelTrack::Verdict ChannelTrack::receive(std::uint32_t seq) {
  if (seq == next_) {
    ++next_;
    return Verdict::in_order;
  }
  if (seq > next_) {
    if (seq - next_ > kMaxGap) return Verdict::too_far;
    for (std::uint32_t s = next_; s < seq; ++s)
      missing_.push_back(s);
    next_ = seq + 1;
    return Verdict::in_order;  // in order so far: the skipped ones are late or lost
  }
  const auto it = std::lower_bound(missing_.begin(), missing_.end(), seq);
  if (it != missing_.end() && *it == seq) {
    missing_.erase(it);
    return Verdict::late;
  }
  return Verdict::duplicate;
}

std::uint64_t ChannelTrack::missing_up_to(std::uint32_t acked) const noexcept {
  const std::uint32_t received_prefix = next_ - 1;
  std::uint64_t missing = acked > received_prefix ? acked - received_prefix : 0;
  missing += static_cast<std::uint64_t>(std::upper_bound(missing_.begin(), missing_.end(), acked) -
                                        missing_.begin());
  return missing;
}

// ---- Ledger -----------------------------------------------------------------------

void Ledger::attach(std::uint32_t user, const ChatDriver* driver) {
  std::lock_guard lock(mutex_);
  drivers_[user] = driver;
}

void Ledger::detach(std::uint32_t user, const ChatDriver* driver) noexcept {
  std::lock_guard lock(mutex_);
  const auto it = drivers_.find(user);
  if (it != drivers_.end() && it->second == driver) drivers_.erase(it);
}

std::uint64_t Ledger::reconcile() const {
  std::uint64_t lost = 0;
  const Population& pop = population_;
  for (const auto& [sender, s] : drivers_) {
    const std::uint32_t group = pop.group_of(sender);
    const std::uint32_t first = pop.group_first(group);
    if (s->group_acked() > 0) {
      for (std::uint32_t r = first; r < first + pop.group_members(group); ++r) {
        if (r == sender) continue;
        const auto it = drivers_.find(r);
        // A recipient without a driver received nothing at all.
        lost += it == drivers_.end() ? s->group_acked()
                                     : it->second->missing_from(sender, false, s->group_acked());
      }
    }
    for (const auto& [r, acked] : s->private_acked()) {
      const auto it = drivers_.find(r);
      lost += it == drivers_.end() ? acked : it->second->missing_from(sender, true, acked);
    }
  }
  return lost;
}

// ---- ChatDriver -------------------------------------------------------------------

ChatDriver::ChatDriver(const ClientConfig& cfg, std::uint64_t stream,
                       std::shared_ptr<Ledger> ledger)
    : size_min_(cfg.size_min),
      size_max_(cfg.size_max),
      ledger_(std::move(ledger)),
      rng_(cfg.seed * 0x9E3779B97F4A7C15ull + stream) {
  cfg_.population = ledger_->population();
  cfg_.private_share = cfg.chat_private_share;
  user_ = cfg_.population.first_user + static_cast<std::uint32_t>(stream);
  group_ = cfg_.population.group_of(user_);
  // Only one group: nobody to write to privately.
  if (cfg_.population.groups() < 2) cfg_.private_share = 0.0;
  ledger_->attach(user_, this);
}

ChatDriver::~ChatDriver() {
  abandon_pending();
  ledger_->detach(user_, this);
}

std::uint64_t ChatDriver::next_random() noexcept {
  return splitmix(rng_);
}

std::size_t ChatDriver::write_greeting(ByteBuffer& out) {
  const std::size_t before = out.size();
  write(out, Login{user_, group_});
  login_sent_ = true;
  return out.size() - before;
}

// A uniformly chosen user outside the sender's group.
std::uint32_t ChatDriver::pick_recipient() noexcept {
  const Population& pop = cfg_.population;
  const std::uint32_t mine = pop.group_members(group_);
  const auto others = static_cast<std::uint64_t>(pop.users - mine);
  auto k = static_cast<std::uint32_t>(next_random() % others);
  const std::uint32_t my_first = pop.group_first(group_) - pop.first_user;
  if (k >= my_first) k += mine;
  return pop.first_user + k;
}

std::size_t ChatDriver::write_request(ByteBuffer& out) {
  const bool is_private = cfg_.private_share > 0.0 &&
                          static_cast<double>(next_random() >> 11) * 0x1.0p-53 < cfg_.private_share;
  const std::uint32_t size =
      size_min_ +
      static_cast<std::uint32_t>(next_random() % (std::uint64_t{size_max_ - size_min_} + 1));
  const std::uint32_t wire_seq = wire_seq_ + 1;
  const std::uint32_t to = is_private ? pick_recipient() : 0;
  const std::uint32_t channel_seq = is_private ? private_sent_[to] + 1 : group_sent_ + 1;
  scratch_.resize(size);
  put_le(scratch_.data(), channel_seq, 4);
  put_le(scratch_.data() + 4,
         static_cast<std::uint64_t>(send_time_ != 0 ? send_time_ : steady_ns()), 8);
  for (std::size_t i = payload_header; i < size; ++i)
    scratch_[i] = filler(user_, wire_seq, i);
  const std::size_t before = out.size();
  if (is_private) {
    write(out, PrivateMessage{to, wire_seq, scratch_});
  } else {
    write(out, GroupMessage{wire_seq, scratch_});
  }
  // Only once the frame is written: a failed write leaves every counter as it was.
  pending_.push_back({wire_seq, to, channel_seq});
  wire_seq_ = wire_seq;
  if (is_private) {
    private_sent_[to] = channel_seq;
  } else {
    group_sent_ = channel_seq;
  }
  ++outstanding_;
  ledger_->in_flight_.fetch_add(1, std::memory_order_relaxed);
  send_time_ = 0;
  return out.size() - before;
}

std::size_t ChatDriver::feed(std::span<const char> in) {
  if (error_ != ClientError::none) return 0;
  std::size_t acks = 0;
  reader_.feed(in, [&](std::span<const char> body) { return on_body(body, acks); });
  return acks;
}

bool ChatDriver::on_body(std::span<const char> body, std::size_t& acks) {
  const std::optional<ServerMessage> m = read_server(body);
  bool ok = false;
  if (!m) {
    ok = false;
  } else if (const auto* w = std::get_if<Welcome>(&*m)) {
    const Population& pop = cfg_.population;
    ok = login_sent_ && !welcomed_ && w->user == user_ && w->group == group_ &&
         w->members_online >= 1 && w->members_online <= pop.group_members(group_);
    if (ok) {
      welcomed_ = true;
      if (!ever_welcomed_) ledger_->welcomed_.fetch_add(1, std::memory_order_release);
      ever_welcomed_ = true;
    }
  } else if (const auto* a = std::get_if<Ack>(&*m)) {
    ok = on_ack(*a);
    if (ok) ++acks;
  } else if (const auto* p = std::get_if<FromPrivate>(&*m)) {
    ok = on_delivery(p->from, p->seq, true, p->payload);
  } else if (const auto* g = std::get_if<FromGroup>(&*m)) {
    ok = g->group == group_ && on_delivery(g->from, g->seq, false, g->payload);
  }
  // An ERROR frame, or anything that fails a check: the connection is dropped.
  if (!ok) fail(ClientError::mismatch);
  return ok;
}

bool ChatDriver::on_ack(const Ack& ack) {
  if (pending_.empty() || pending_.front().wire_seq != ack.seq) return false;
  const Pending p = pending_.front();
  const std::uint32_t expected = p.to != 0 ? 1 : cfg_.population.group_members(group_) - 1;
  // Fewer recipients than expected: the ones missing never get the message,
  // which the ledger's reconciliation counts as lost; more is impossible.
  if (ack.recipients > expected) return false;
  pending_.pop_front();
  --outstanding_;
  ++responses_;
  if (p.to != 0) {
    private_acked_[p.to] = p.channel_seq;
  } else {
    group_acked_ = p.channel_seq;
  }
  ledger_->promised_.fetch_add(expected, std::memory_order_relaxed);
  ledger_->in_flight_.fetch_sub(1, std::memory_order_release);
  return true;
}

bool ChatDriver::on_delivery(std::uint32_t from, std::uint32_t wire_seq, bool is_private,
                             std::span<const char> payload) {
  const Population& pop = cfg_.population;
  if (!pop.contains(from) || from == user_ || payload.size() < payload_header) return false;
  // Private messages only ever go to another group, group ones to one's own.
  if ((pop.group_of(from) == group_) == is_private) return false;
  if (payload.size() < size_min_ || payload.size() > size_max_) return false;
  for (std::size_t i = payload_header; i < payload.size(); ++i) {
    if (payload[i] != filler(from, wire_seq, i)) return false;
  }
  const auto channel_seq = static_cast<std::uint32_t>(get_le(payload.data(), 4));
  const auto sent_ns = static_cast<std::int64_t>(get_le(payload.data() + 4, 8));
  if (channel_seq == 0) return false;
  Peer& peer = peers_[from];
  const ChannelTrack::Verdict v = (is_private ? peer.priv : peer.group).receive(channel_seq);
  switch (v) {
    case ChannelTrack::Verdict::too_far:
      return false;
    case ChannelTrack::Verdict::duplicate:
      if (sink_ != nullptr) sink_->duplicated();
      return true;
    case ChannelTrack::Verdict::late:
    case ChannelTrack::Verdict::in_order:
      break;
  }
  ++deliveries_;
  ledger_->delivered_.fetch_add(1, std::memory_order_release);
  if (sink_ != nullptr) {
    if (v == ChannelTrack::Verdict::late) sink_->reordered();
    sink_->delivered(sent_ns);
  }
  return true;
}

std::uint64_t ChatDriver::missing_from(std::uint32_t sender, bool is_private,
                                       std::uint32_t acked) const noexcept {
  const auto it = peers_.find(sender);
  if (it == peers_.end()) return acked;
  return (is_private ? it->second.priv : it->second.group).missing_up_to(acked);
}

std::size_t ChatDriver::on_peer_closed() noexcept {
  // The server closes only after an ERROR or when it drops this user; with
  // messages still awaiting their ACK that is an unexpected close.
  if (!pending_.empty() || reader_.buffered() > 0) fail(ClientError::unexpected_close);
  return 0;
}

void ChatDriver::abandon_pending() noexcept {
  if (!pending_.empty()) {
    ledger_->in_flight_.fetch_sub(static_cast<std::int64_t>(pending_.size()),
                                  std::memory_order_release);
  }
  pending_.clear();
}

void ChatDriver::reset() noexcept {
  ClientDriver::reset();
  // Messages that were never ACKed are given up; the channels, the wire
  // sequence and what was received carry on, so a user that logs in again
  // goes on verifying where it was.
  abandon_pending();
  reader_ = FrameReader{};
  login_sent_ = welcomed_ = false;
}

}  // namespace wsb::proto::chat
