#include "replica/node/topology_spread.h"

namespace geokv::replica {

namespace {
bool Since(const std::optional<uint64_t>& then_ms, uint64_t now_ms, uint64_t interval_ms) {
  return !then_ms || now_ms >= *then_ms + interval_ms;
}
}  // namespace

TopologySpread::TopologySpread(crdt::ReplicaId self, const std::vector<std::string>& peers,
                               uint64_t epoch, std::string text, TopologySpreadOptions options)
    : self_(self), options_(options), epoch_(epoch), text_(std::move(text)) {
  for (const std::string& id : peers) peers_[id];
}

void TopologySpread::SetRunning(uint64_t epoch, std::string text) {
  std::lock_guard lock(mu_);
  epoch_ = epoch;
  text_ = std::move(text);
}

void TopologySpread::SetPeers(const std::vector<std::string>& peers) {
  std::lock_guard lock(mu_);
  std::map<std::string, Peer> next;
  for (const std::string& id : peers) {
    auto it = peers_.find(id);
    next[id] = it != peers_.end() ? it->second : Peer{};
  }
  peers_ = std::move(next);
}

uint64_t TopologySpread::epoch() const {
  std::lock_guard lock(mu_);
  return epoch_;
}

std::vector<std::string> TopologySpread::Due(uint64_t now_ms) {
  std::lock_guard lock(mu_);
  std::vector<std::string> due;
  for (auto& [id, peer] : peers_) {
    const bool ahead = peer.epoch && *peer.epoch > epoch_;
    const uint64_t interval = ahead ? options_.ask_interval_min_ms : options_.poll_interval_ms;
    if (!Since(peer.asked_ms, now_ms, interval)) continue;
    peer.asked_ms = now_ms;
    due.push_back(id);
  }
  return due;
}

replication::TopologyRequest TopologySpread::Request() const {
  std::lock_guard lock(mu_);
  return {self_, epoch_};
}

replication::TopologyReply TopologySpread::OnRequest(const std::string& peer_id,
                                                     const replication::TopologyRequest& request,
                                                     uint64_t now_ms) {
  std::lock_guard lock(mu_);
  replication::TopologyReply reply{self_, epoch_, ""};
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) return reply;
  Peer& peer = it->second;
  peer.epoch = request.epoch;
  if (request.epoch < epoch_ && text_.size() <= replication::kMaxTopologyMessageBytes &&
      Since(peer.offered_to_ms, now_ms, options_.offer_interval_min_ms)) {
    peer.offered_to_ms = now_ms;
    reply.text = text_;
  }
  return reply;
}

std::optional<std::string> TopologySpread::OnReply(const std::string& peer_id,
                                                   const replication::TopologyReply& reply,
                                                   uint64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) return std::nullopt;
  it->second.epoch = reply.epoch;
  const uint64_t interval = yielded_ms_ && reply.epoch == yielded_epoch_
                                ? options_.offer_retry_ms
                                : options_.offer_interval_min_ms;
  if (reply.epoch <= epoch_ || reply.text.empty() || !Since(yielded_ms_, now_ms, interval)) {
    return std::nullopt;
  }
  yielded_ms_ = now_ms;
  yielded_epoch_ = reply.epoch;
  return reply.text;
}

void TopologySpread::NoteEpoch(const std::string& peer_id, uint64_t epoch) {
  std::lock_guard lock(mu_);
  if (auto it = peers_.find(peer_id); it != peers_.end()) it->second.epoch = epoch;
}

std::map<std::string, uint64_t> TopologySpread::PeerEpochs() const {
  std::lock_guard lock(mu_);
  std::map<std::string, uint64_t> epochs;
  for (const auto& [id, peer] : peers_) {
    if (peer.epoch) epochs[id] = *peer.epoch;
  }
  return epochs;
}

size_t TopologySpread::PeersAhead() const {
  std::lock_guard lock(mu_);
  size_t ahead = 0;
  for (const auto& [id, peer] : peers_) ahead += peer.epoch && *peer.epoch > epoch_ ? 1 : 0;
  return ahead;
}

}  // namespace geokv::replica
