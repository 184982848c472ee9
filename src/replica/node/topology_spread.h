// TopologySpread: how a node learns the epochs its peers run and fetches the
// file of a higher epoch from a peer that has it (DESIGN.md "Membership
// change"). Socket-free: NodeReplication sends what it says and feeds it what
// arrives (replication/messages.h, TopologyRequest and TopologyReply).
//
//   * Each peer is asked (a TopologyRequest carrying this node's epoch) once
//     per poll interval, and sooner, but at most once per ask_interval_min_ms,
//     while a peer is known to run a higher epoch than this node (NoteEpoch:
//     what heartbeats say, or an earlier reply).
//   * A request is always answered with the responder's epoch, and with its
//     file only when the requester runs a lower epoch, and at most once per
//     offer_interval_min_ms to each peer: a file may be megabytes, and a
//     broken or hostile peer that asks in a loop gets epochs only.
//   * A reply that carries a file of a higher epoch than the running one
//     yields it for adoption, at most once per offer_interval_min_ms in all,
//     and the same epoch again only after offer_retry_ms (a file the node
//     refused, say of another partition count, is not judged and logged
//     every second): the node judges it like any GEOKV.TOPOLOGY APPLY
//     (RunningTopology), and calls SetRunning if it adopts it. (The epoch in
//     the message is only the sender's word; the file's own [cluster] epoch
//     is what is judged.)
// Only the peers named at construction (or by SetPeers) are tracked: anything from another id
// is ignored, so the state is bounded by the peer count.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "crdt/delta.h"
#include "replica/replication/messages.h"

namespace geokv::replica {

struct TopologySpreadOptions {
  uint64_t poll_interval_ms = 1000;
  uint64_t ask_interval_min_ms = 100;
  uint64_t offer_interval_min_ms = 1000;
  uint64_t offer_retry_ms = 30'000;
};

class TopologySpread {
 public:
  TopologySpread(crdt::ReplicaId self, const std::vector<std::string>& peers, uint64_t epoch,
                 std::string text, TopologySpreadOptions options = {});

  // The topology this node runs from now on.
  void SetRunning(uint64_t epoch, std::string text);
  // The peers tracked from now on (a topology change added or dropped some):
  // the state of peers in both sets is kept.
  void SetPeers(const std::vector<std::string>& peers);
  uint64_t epoch() const;

  // The peers to send Request() to at `now_ms` (each then counts as asked).
  std::vector<std::string> Due(uint64_t now_ms);
  replication::TopologyRequest Request() const;

  // A peer's request, and the reply to send it.
  replication::TopologyReply OnRequest(const std::string& peer,
                                       const replication::TopologyRequest& request,
                                       uint64_t now_ms);
  // A peer's reply: the file to judge for adoption, if it offers a higher
  // epoch and no offer was yielded within offer_interval_min_ms.
  std::optional<std::string> OnReply(const std::string& peer,
                                     const replication::TopologyReply& reply, uint64_t now_ms);
  // A peer runs `epoch` (a heartbeat said so).
  void NoteEpoch(const std::string& peer, uint64_t epoch);

  // The epoch each peer was last heard to run; peers not heard yet are absent.
  std::map<std::string, uint64_t> PeerEpochs() const;
  // How many peers run a higher epoch than this node, as last heard.
  size_t PeersAhead() const;

 private:
  struct Peer {
    std::optional<uint64_t> epoch;
    std::optional<uint64_t> asked_ms;
    std::optional<uint64_t> offered_to_ms;  // the last reply to it that carried the file
  };
  const crdt::ReplicaId self_;
  const TopologySpreadOptions options_;
  mutable std::mutex mu_;
  uint64_t epoch_;                      // guarded by mu_
  std::string text_;                    // guarded by mu_
  std::map<std::string, Peer> peers_;   // guarded by mu_; keys: the peers named
  std::optional<uint64_t> yielded_ms_;  // guarded by mu_: the last offer yielded
  uint64_t yielded_epoch_ = 0;          // guarded by mu_: its epoch
};

}  // namespace geokv::replica
