// Transport: geokv's replication traffic over ZeroMQ, as bytes.
//
// Each node binds a PUB socket on its `repl` endpoint and a ROUTER on its `sync`
// endpoint. For every peer that shares a partition with it, it connects one SUB
// to the peer's PUB, subscribed to the heartbeat topic and to one topic per
// shared partition, and one DEALER (routing id = this node's id) to the peer's
// ROUTER for catch-up requests and their replies. Frames:
//
//   PUB -> SUB       [topic][payload]   topic = "h" (heartbeat)
//                                             | "d" + partition (uint32, big-endian)
//   DEALER -> ROUTER [payload]          arrives as [peer id][payload]
//   ROUTER -> DEALER [peer id][payload] arrives as [payload]
//
// CURVE (when TransportOptions names a key pair): every socket is encrypted
// and authenticated. The bound PUB and ROUTER are CURVE servers; a ZAP handler
// (RFC 27, on the transport thread) admits a connecting socket only if its
// public key is one of curve_clients, and counts refusals. The SUBs and
// DEALERs are CURVE clients that know their peer's public key, so they talk
// only to the holder of its secret key. A request on the ROUTER must carry
// the routing id of the node its key belongs to (a node cannot ask in another
// node's name); one that does not is dropped and counted as refused.
//
// The payloads are the replication layer's messages; this class neither reads
// nor trusts them. It does bound what it holds: messages larger than
// max_message_bytes are refused by ZeroMQ (the sending connection is dropped),
// the inbound queue is bounded (beyond it messages are dropped and counted —
// PUB-SUB may drop anyway, and the replication layer detects and repairs
// gaps), and so is the outbound queue.
//
// Threading: one internal thread owns every socket. All public methods are
// thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace zmq {
class message_t;
}

namespace geokv::replica {

struct TransportPeer {
  std::string id;
  std::string repl_endpoint;          // the peer's PUB, "tcp://host:port"
  std::string sync_endpoint;          // the peer's ROUTER
  std::vector<uint32_t> partitions;   // shared with this node: the topics to subscribe
  std::string curve_public_key = {};  // Z85; required with CURVE, else ignored
};

struct TransportOptions {
  std::string self_id;
  std::string repl_endpoint;  // bind PUB here
  std::string sync_endpoint;  // bind ROUTER here
  std::vector<TransportPeer> peers;
  int send_high_water_mark = 100'000;     // messages queued per PUB subscriber / DEALER
  int receive_high_water_mark = 100'000;  // messages queued per SUB / ROUTER peer
  int64_t max_message_bytes = int64_t{64} << 20;
  size_t inbound_queue_max = 100'000;
  size_t outbound_queue_max = 100'000;
  int heartbeat_interval_ms = 1000;  // ZMTP PING on idle connections
  int heartbeat_timeout_ms = 3000;   // no traffic for this long: reconnect
  // CURVE: a peer whose SUB has received nothing for this long gets new
  // sockets (at most once per such period). A connection the peer's ZAP
  // handler refused is never retried by ZeroMQ itself, and a node that
  // joins a cluster connects before the others admit its key.
  int curve_redial_ms = 2000;
  // CURVE: this node's key pair (Z85), both empty for plaintext.
  std::string curve_public_key = {};
  std::string curve_secret_key = {};
  // With CURVE, the public keys (Z85) that may connect, and the node id each
  // belongs to (the routing id its requests must carry).
  std::map<std::string, std::string> curve_clients = {};
};

struct InboundMessage {
  enum class Kind : uint8_t { kPublished, kRequest, kReply };
  Kind kind = Kind::kPublished;
  std::string peer;  // the peer it came from (SUB's peer, DEALER's routing id, or replier)
  std::string payload;
};

struct TransportStats {
  uint64_t messages_sent = 0;
  uint64_t bytes_sent = 0;  // frames' bytes, topics included
  uint64_t messages_received = 0;
  uint64_t bytes_received = 0;
  uint64_t inbound_dropped = 0;   // inbound queue full
  uint64_t outbound_dropped = 0;  // outbound queue full, or unroutable reply
  uint64_t malformed_frames = 0;  // wrong frame count or topic
  // CURVE: connections refused by the ZAP handler (a key not in curve_clients),
  // and requests whose routing id is not the node their key belongs to.
  uint64_t curve_refused = 0;
};

class Transport {
 public:
  // Binds and connects every socket and starts the thread. Returns Invalid
  // for a malformed CURVE key or a half-configured CURVE (a key pair without
  // a peer's key, or the reverse), Unsupported when libzmq lacks CURVE. `on_inbound` is
  // called on the transport thread when messages were queued (it should only
  // schedule a Take, never block).
  static Result<std::unique_ptr<Transport>> Start(TransportOptions options,
                                                  std::function<void()> on_inbound);
  // Stops the thread and closes every socket (unsent messages are dropped).
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Publishes to the subscribers of a partition's topic, or the heartbeat topic.
  void PublishDeltas(uint32_t partition, std::string payload);
  void PublishHeartbeat(std::string payload);
  // Sends a request to a peer's ROUTER (over our DEALER to it).
  void SendRequest(const std::string& peer, std::string payload);
  // Replies to a peer that sent us a request.
  void SendReply(const std::string& peer, std::string payload);

  // Replaces the peers while running (a topology change): connects a SUB and
  // a DEALER to each peer not connected before, closes those of peers no
  // longer listed (their queued requests are dropped), and changes the
  // subscriptions of the others to their new partitions. With CURVE,
  // `curve_clients` replaces the keys admitted (TransportOptions). Applied
  // by the transport thread at its next turn. Returns Invalid, and changes
  // nothing, for a peer without a valid CURVE key (with CURVE) or with one
  // (without).
  [[nodiscard]] Status SetPeers(std::vector<TransportPeer> peers,
                                std::map<std::string, std::string> curve_clients);

  // Takes up to `max` queued inbound messages, oldest first.
  std::vector<InboundMessage> Take(size_t max);

  TransportStats stats() const;

 private:
  struct Outbound;
  class Sockets;
  explicit Transport(TransportOptions options, std::function<void()> on_inbound);
  void Enqueue(Outbound out);
  void Loop();
  // Checks the peers' CURVE keys against this node's mode; with CURVE, their
  // key bytes in order.
  Result<std::vector<std::string>> PeerKeys(const std::vector<TransportPeer>& peers) const;
  // Opens and connects peer i's SUB and DEALER (options_.peers[i]), whose
  // CURVE key bytes are `key` ("" without CURVE). Transport thread (or Start).
  void OpenPeer(size_t i, const std::string& key);
  // Applies a pending SetPeers, if any (transport thread).
  void ApplyPeers();
  // CURVE: answers the ZAP requests waiting (transport thread).
  void AnswerZap();
  // CURVE: whether a request read from the ROUTER ([routing id][payload])
  // carries the routing id of the node whose key sent it.
  bool SentByItsNode(std::vector<zmq::message_t>& frames) const;

  struct PendingPeers {
    std::vector<TransportPeer> peers;
    std::vector<std::string> keys;  // CURVE key bytes, as peers
    std::map<std::string, std::string> curve_clients;
  };
  TransportOptions options_;  // its peers: the transport thread's after Start
  bool curve_ = false;
  std::string self_public_, self_secret_;  // CURVE key bytes
  std::vector<std::string> peer_keys_;     // CURVE key bytes of options_.peers (transport thread)
  std::function<void()> on_inbound_;
  std::unique_ptr<Sockets> sockets_;

  mutable std::mutex mu_;
  std::deque<Outbound> outbound_;       // guarded by mu_
  std::deque<InboundMessage> inbound_;  // guarded by mu_
  std::unique_ptr<PendingPeers> pending_peers_;  // guarded by mu_
  TransportStats stats_;                // guarded by mu_
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// The topic of a partition's deltas.
std::string DeltaTopic(uint32_t partition);

}  // namespace geokv::replica
