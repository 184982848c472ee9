#include "replica/transport/transport.h"

#include <algorithm>
#include <array>
#include <optional>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "replica/transport/curve_keys.h"

namespace geokv::replica {

namespace {
constexpr char kHeartbeatTopic[] = "h";
constexpr char kWakeEndpointPrefix[] = "inproc://geokv-transport-wake-";
// ZAP (RFC 27): the endpoint libzmq asks, in the socket's own context.
constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";
constexpr char kZapDomain[] = "geokv";
constexpr size_t kCurveKeyBytes = 32;

// A Z85 key as its 32 bytes, or nullopt when it is not one.
std::optional<std::string> CurveKeyBytes(const std::string& z85) {
  if (z85.size() != kCurveKeyZ85Chars) return std::nullopt;
  std::string bytes(kCurveKeyBytes, '\0');
  if (zmq_z85_decode(reinterpret_cast<uint8_t*>(bytes.data()), z85.c_str()) == nullptr) {
    return std::nullopt;
  }
  return bytes;
}
}  // namespace

std::string DeltaTopic(uint32_t partition) {
  std::string topic = "d";
  for (int shift = 24; shift >= 0; shift -= 8) {
    topic.push_back(static_cast<char>((partition >> shift) & 0xFF));
  }
  return topic;
}

struct Transport::Outbound {
  enum class Kind : uint8_t { kPublish, kRequest, kReply };
  Kind kind;
  std::string target;  // topic for kPublish, peer id otherwise
  std::string payload;
};

// Every socket, owned by the transport thread (the wake sender excepted, which
// is guarded by the transport's mutex).
class Transport::Sockets {
 public:
  zmq::context_t context{1};
  zmq::socket_t pub{context, zmq::socket_type::pub};
  zmq::socket_t router{context, zmq::socket_type::router};
  zmq::socket_t wake_receiver{context, zmq::socket_type::pair};
  zmq::socket_t wake_sender{context, zmq::socket_type::pair};
  std::vector<zmq::socket_t> subs;     // one per peer, same order as options.peers
  std::vector<zmq::socket_t> dealers;  // one per peer
  // CURVE only: the ZAP handler, and the keys it admits (32 bytes -> node id).
  std::optional<zmq::socket_t> zap;
  std::map<std::string, std::string> zap_clients;
};

Transport::Transport(TransportOptions options, std::function<void()> on_inbound)
    : options_(std::move(options)), on_inbound_(std::move(on_inbound)) {}

Result<std::vector<std::string>> Transport::PeerKeys(
    const std::vector<TransportPeer>& peers) const {
  std::vector<std::string> keys;
  for (const TransportPeer& peer : peers) {
    if (!curve_) {
      if (!peer.curve_public_key.empty()) {
        return Status::Invalid("replication transport: peer " + peer.id +
                               " has a CURVE key but this node has none");
      }
      keys.emplace_back();
      continue;
    }
    auto key = CurveKeyBytes(peer.curve_public_key);
    if (!key) {
      return Status::Invalid("replication transport: no valid CURVE public key for peer " +
                             peer.id);
    }
    keys.push_back(*key);
  }
  return keys;
}

namespace {
void ConfigureCommon(zmq::socket_t& socket, const TransportOptions& o) {
  socket.set(zmq::sockopt::linger, 0);
  // ZMTP heartbeats: a connection whose peer vanished without closing it
  // (a crash behind a partition, a dropped NAT entry) is noticed within
  // seconds and redialled, instead of hanging half-open for hours.
  socket.set(zmq::sockopt::heartbeat_ivl, o.heartbeat_interval_ms);
  socket.set(zmq::sockopt::heartbeat_timeout, o.heartbeat_timeout_ms);
  socket.set(zmq::sockopt::maxmsgsize, o.max_message_bytes);
  socket.set(zmq::sockopt::sndhwm, o.send_high_water_mark);
  socket.set(zmq::sockopt::rcvhwm, o.receive_high_water_mark);
}
}  // namespace

void Transport::OpenPeer(size_t i, const std::string& key) {
  Sockets& s = *sockets_;
  const TransportPeer& peer = options_.peers[i];
  auto client = [&](zmq::socket_t& socket) {
    if (!curve_) return;
    socket.set(zmq::sockopt::curve_serverkey, zmq::buffer(key));
    socket.set(zmq::sockopt::curve_publickey, zmq::buffer(self_public_));
    socket.set(zmq::sockopt::curve_secretkey, zmq::buffer(self_secret_));
  };
  zmq::socket_t sub(s.context, zmq::socket_type::sub);
  ConfigureCommon(sub, options_);
  client(sub);
  sub.set(zmq::sockopt::subscribe, kHeartbeatTopic);
  for (uint32_t p : peer.partitions) sub.set(zmq::sockopt::subscribe, DeltaTopic(p));
  sub.connect(peer.repl_endpoint);
  zmq::socket_t dealer(s.context, zmq::socket_type::dealer);
  ConfigureCommon(dealer, options_);
  client(dealer);
  dealer.set(zmq::sockopt::routing_id, options_.self_id);
  dealer.connect(peer.sync_endpoint);
  s.subs[i] = std::move(sub);
  s.dealers[i] = std::move(dealer);
}

Result<std::unique_ptr<Transport>> Transport::Start(TransportOptions options,
                                                    std::function<void()> on_inbound) {
  std::unique_ptr<Transport> t(new Transport(std::move(options), std::move(on_inbound)));
  const TransportOptions& o = t->options_;
  t->curve_ = !o.curve_public_key.empty() || !o.curve_secret_key.empty();
  if (t->curve_) {
    if (!zmq_has("curve")) return Status::Unsupported("this libzmq was built without CURVE");
    auto pub = CurveKeyBytes(o.curve_public_key);
    auto sec = CurveKeyBytes(o.curve_secret_key);
    if (!pub || !sec) return Status::Invalid("replication transport: malformed own CURVE key");
    t->self_public_ = *pub;
    t->self_secret_ = *sec;
  }
  auto peer_keys = t->PeerKeys(o.peers);
  if (!peer_keys.ok()) return peer_keys.status();
  try {
    t->sockets_ = std::make_unique<Sockets>();
    Sockets& s = *t->sockets_;
    if (t->curve_) {
      // Bound before any CURVE server socket exists: without a handler libzmq
      // would admit every key.
      s.zap.emplace(s.context, zmq::socket_type::rep);
      s.zap->set(zmq::sockopt::linger, 0);
      s.zap->bind(kZapEndpoint);
      for (const auto& [key, id] : o.curve_clients) {
        auto bytes = CurveKeyBytes(key);
        if (!bytes) return Status::Invalid("replication transport: malformed CURVE key of " + id);
        s.zap_clients[*bytes] = id;
      }
    }
    auto server = [&](zmq::socket_t& socket) {
      if (!t->curve_) return;
      socket.set(zmq::sockopt::curve_server, 1);
      socket.set(zmq::sockopt::curve_secretkey, zmq::buffer(t->self_secret_));
      socket.set(zmq::sockopt::zap_domain, kZapDomain);
    };
    ConfigureCommon(s.pub, o);
    server(s.pub);
    s.pub.bind(o.repl_endpoint);
    ConfigureCommon(s.router, o);
    server(s.router);
    s.router.set(zmq::sockopt::router_mandatory, 1);
    s.router.bind(o.sync_endpoint);
    const std::string wake =
        kWakeEndpointPrefix + std::to_string(reinterpret_cast<uintptr_t>(t.get()));
    s.wake_receiver.bind(wake);
    s.wake_sender.connect(wake);
    s.subs.resize(o.peers.size());
    s.dealers.resize(o.peers.size());
    for (size_t i = 0; i < o.peers.size(); ++i) t->OpenPeer(i, (*peer_keys)[i]);
    t->peer_keys_ = std::move(*peer_keys);
  } catch (const zmq::error_t& e) {
    return Status::Io(std::string("replication transport: ") + e.what());
  }
  t->thread_ = std::thread([raw = t.get()] { raw->Loop(); });
  return t;
}

Status Transport::SetPeers(std::vector<TransportPeer> peers,
                           std::map<std::string, std::string> curve_clients) {
  auto keys = PeerKeys(peers);
  if (!keys.ok()) return keys.status();
  for (const auto& [key, id] : curve_clients) {
    if (!CurveKeyBytes(key)) {
      return Status::Invalid("replication transport: malformed CURVE key of " + id);
    }
  }
  auto pending = std::make_unique<PendingPeers>();
  pending->peers = std::move(peers);
  pending->keys = std::move(*keys);
  pending->curve_clients = std::move(curve_clients);
  std::lock_guard lock(mu_);
  pending_peers_ = std::move(pending);
  sockets_->wake_sender.send(zmq::str_buffer("x"), zmq::send_flags::dontwait);
  return Status::Ok();
}

void Transport::ApplyPeers() {
  std::unique_ptr<PendingPeers> pending;
  {
    std::lock_guard lock(mu_);
    pending.swap(pending_peers_);
  }
  if (!pending) return;
  Sockets& s = *sockets_;
  if (s.zap) {
    s.zap_clients.clear();
    for (const auto& [key, id] : pending->curve_clients) s.zap_clients[*CurveKeyBytes(key)] = id;
  }
  peer_keys_ = pending->keys;
  std::vector<TransportPeer> old = std::move(options_.peers);
  std::vector<zmq::socket_t> old_subs = std::move(s.subs);
  std::vector<zmq::socket_t> old_dealers = std::move(s.dealers);
  options_.peers = std::move(pending->peers);
  s.subs.clear();
  s.dealers.clear();
  s.subs.resize(options_.peers.size());
  s.dealers.resize(options_.peers.size());
  for (size_t i = 0; i < options_.peers.size(); ++i) {
    const TransportPeer& peer = options_.peers[i];
    size_t j = 0;
    while (j < old.size() && old[j].id != peer.id) ++j;
    try {
      if (j < old.size() && old[j].repl_endpoint == peer.repl_endpoint &&
          old[j].sync_endpoint == peer.sync_endpoint &&
          old[j].curve_public_key == peer.curve_public_key) {
        // The same peer: keep its connections, change its topics.
        s.subs[i] = std::move(old_subs[j]);
        s.dealers[i] = std::move(old_dealers[j]);
        for (uint32_t p : old[j].partitions) {
          if (std::find(peer.partitions.begin(), peer.partitions.end(), p) ==
              peer.partitions.end()) {
            s.subs[i].set(zmq::sockopt::unsubscribe, DeltaTopic(p));
          }
        }
        for (uint32_t p : peer.partitions) {
          if (std::find(old[j].partitions.begin(), old[j].partitions.end(), p) ==
              old[j].partitions.end()) {
            s.subs[i].set(zmq::sockopt::subscribe, DeltaTopic(p));
          }
        }
      } else {
        OpenPeer(i, pending->keys[i]);
      }
    } catch (const zmq::error_t&) {
      std::lock_guard lock(mu_);
      stats_.malformed_frames++;  // (an endpoint the topology validated: not expected)
    }
  }
  // The sockets of peers no longer listed close here (linger 0).
}

Transport::~Transport() {
  stopping_ = true;
  {
    std::lock_guard lock(mu_);
    if (sockets_) sockets_->wake_sender.send(zmq::str_buffer("x"), zmq::send_flags::dontwait);
  }
  if (thread_.joinable()) thread_.join();
}

void Transport::Enqueue(Outbound out) {
  std::lock_guard lock(mu_);
  if (outbound_.size() >= options_.outbound_queue_max) {
    stats_.outbound_dropped++;
    return;
  }
  const bool was_empty = outbound_.empty();
  outbound_.push_back(std::move(out));
  if (was_empty) sockets_->wake_sender.send(zmq::str_buffer("x"), zmq::send_flags::dontwait);
}

void Transport::PublishDeltas(uint32_t partition, std::string payload) {
  Enqueue({Outbound::Kind::kPublish, DeltaTopic(partition), std::move(payload)});
}

void Transport::PublishHeartbeat(std::string payload) {
  Enqueue({Outbound::Kind::kPublish, kHeartbeatTopic, std::move(payload)});
}

void Transport::SendRequest(const std::string& peer, std::string payload) {
  Enqueue({Outbound::Kind::kRequest, peer, std::move(payload)});
}

void Transport::SendReply(const std::string& peer, std::string payload) {
  Enqueue({Outbound::Kind::kReply, peer, std::move(payload)});
}

std::vector<InboundMessage> Transport::Take(size_t max) {
  std::lock_guard lock(mu_);
  std::vector<InboundMessage> out;
  while (!inbound_.empty() && out.size() < max) {
    out.push_back(std::move(inbound_.front()));
    inbound_.pop_front();
  }
  return out;
}

TransportStats Transport::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

bool Transport::SentByItsNode(std::vector<zmq::message_t>& frames) const {
  // The ZAP handler named the connection's user id after the node its key
  // belongs to; libzmq attaches it to every frame read from that connection
  // (not to the routing-id frame, which the ROUTER makes up).
  const char* user = zmq_msg_gets(frames.back().handle(), "User-Id");
  return user != nullptr && frames[0].to_string_view() == user;
}

void Transport::AnswerZap() {
  // Bounded like every other drain; a REP socket must answer each request
  // before it can read the next.
  Sockets& s = *sockets_;
  for (int round = 0; round < 256; ++round) {
    std::vector<zmq::message_t> request;
    zmq::recv_result_t got;
    try {
      got = zmq::recv_multipart(*s.zap, std::back_inserter(request), zmq::recv_flags::dontwait);
    } catch (const zmq::error_t&) {
      return;
    }
    if (!got) return;
    // [version][request id][domain][address][routing id][mechanism][credentials...]
    const std::string request_id = request.size() > 1 ? request[1].to_string() : "";
    std::string user;
    bool admitted = false;
    if (request.size() >= 7 && request[0].to_string_view() == "1.0" &&
        request[5].to_string_view() == "CURVE") {
      auto it = s.zap_clients.find(request[6].to_string());
      admitted = it != s.zap_clients.end();
      if (admitted) user = it->second;
    }
    if (!admitted) {
      std::lock_guard lock(mu_);
      stats_.curve_refused++;
    }
    const std::string status = admitted ? "200" : "400";
    const std::string text = admitted ? "OK" : "public key not in the topology";
    std::array<zmq::const_buffer, 6> reply = {zmq::str_buffer("1.0"), zmq::buffer(request_id),
                                              zmq::buffer(status),    zmq::buffer(text),
                                              zmq::buffer(user),      zmq::str_buffer("")};
    try {
      zmq::send_multipart(*s.zap, reply, zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      return;
    }
  }
}

void Transport::Loop() {
  Sockets& s = *sockets_;
  size_t peers = 0;
  size_t zap_item = 0;
  std::vector<zmq::pollitem_t> items;
  // CURVE: when each peer's SUB last received, or was redialled.
  using SteadyClock = std::chrono::steady_clock;
  std::vector<SteadyClock::time_point> heard;
  auto build_items = [&] {
    peers = options_.peers.size();
    heard.assign(peers, SteadyClock::now());
    items.clear();
    items.push_back({s.wake_receiver.handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({s.router.handle(), 0, ZMQ_POLLIN, 0});
    for (auto& sub : s.subs) items.push_back({sub.handle(), 0, ZMQ_POLLIN, 0});
    for (auto& dealer : s.dealers) items.push_back({dealer.handle(), 0, ZMQ_POLLIN, 0});
    zap_item = items.size();
    if (s.zap) items.push_back({s.zap->handle(), 0, ZMQ_POLLIN, 0});
  };
  build_items();

  std::vector<zmq::message_t> frames;
  std::vector<InboundMessage> received;
  auto deliver = [&] {
    if (received.empty()) return;
    {
      std::lock_guard lock(mu_);
      for (auto& m : received) {
        stats_.messages_received++;
        stats_.bytes_received += m.payload.size();
        if (inbound_.size() >= options_.inbound_queue_max) {
          stats_.inbound_dropped++;
        } else {
          inbound_.push_back(std::move(m));
        }
      }
    }
    received.clear();
    on_inbound_();
  };
  // Reads what one socket has now (bounded per round so no socket starves the rest).
  auto drain = [&](zmq::socket_t& socket, InboundMessage::Kind kind, const std::string* peer,
                   size_t expected_frames) {
    for (int round = 0; round < 256; ++round) {
      frames.clear();
      zmq::recv_result_t got;
      try {
        got = zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait);
      } catch (const zmq::error_t&) {
        return;
      }
      if (!got) return;
      if (frames.size() != expected_frames) {
        std::lock_guard lock(mu_);
        stats_.malformed_frames++;
        continue;
      }
      if (s.zap && kind == InboundMessage::Kind::kRequest && !SentByItsNode(frames)) {
        std::lock_guard lock(mu_);
        stats_.curve_refused++;
        continue;
      }
      InboundMessage m;
      m.kind = kind;
      m.peer = peer ? *peer : frames[0].to_string();
      m.payload = frames.back().to_string();
      received.push_back(std::move(m));
    }
  };

  while (!stopping_) {
    try {
      zmq::poll(items, std::chrono::milliseconds(100));
    } catch (const zmq::error_t&) {
      continue;  // EINTR
    }
    if (items[0].revents & ZMQ_POLLIN) {
      zmq::message_t ignored;
      while (s.wake_receiver.recv(ignored, zmq::recv_flags::dontwait)) {
      }
    }
    bool repeered = false;
    {
      std::lock_guard lock(mu_);
      repeered = pending_peers_ != nullptr;
    }
    if (repeered) {
      ApplyPeers();
      build_items();  // no events: the sockets are read at the next turn
    }
    if (s.zap && (items[zap_item].revents & ZMQ_POLLIN)) AnswerZap();
    if (items[1].revents & ZMQ_POLLIN) drain(s.router, InboundMessage::Kind::kRequest, nullptr, 2);
    for (size_t i = 0; i < peers; ++i) {
      if (items[2 + i].revents & ZMQ_POLLIN) {
        heard[i] = SteadyClock::now();
        drain(s.subs[i], InboundMessage::Kind::kPublished, &options_.peers[i].id, 2);
      }
      if (items[2 + peers + i].revents & ZMQ_POLLIN) {
        drain(s.dealers[i], InboundMessage::Kind::kReply, &options_.peers[i].id, 1);
      }
    }
    deliver();
    if (curve_) {
      const auto now = SteadyClock::now();
      bool redialled = false;
      for (size_t i = 0; i < peers; ++i) {
        if (now - heard[i] < std::chrono::milliseconds(options_.curve_redial_ms)) continue;
        try {
          OpenPeer(i, peer_keys_[i]);
          redialled = true;
        } catch (const zmq::error_t&) {
          heard[i] = now;  // (an endpoint the topology validated: not expected)
        }
      }
      if (redialled) build_items();  // every peer's clock restarts: no event is read twice
    }

    std::deque<Outbound> sending;
    {
      std::lock_guard lock(mu_);
      sending.swap(outbound_);
    }
    uint64_t sent = 0, bytes = 0, dropped = 0;
    for (Outbound& out : sending) {
      try {
        switch (out.kind) {
          case Outbound::Kind::kPublish:
            s.pub.send(zmq::buffer(out.target), zmq::send_flags::sndmore);
            s.pub.send(zmq::buffer(out.payload), zmq::send_flags::none);
            bytes += out.target.size();
            break;
          case Outbound::Kind::kRequest: {
            size_t i = 0;
            while (i < peers && options_.peers[i].id != out.target) ++i;
            if (i == peers ||
                !s.dealers[i].send(zmq::buffer(out.payload), zmq::send_flags::dontwait)) {
              ++dropped;
              continue;
            }
            break;
          }
          case Outbound::Kind::kReply:
            if (!s.router.send(zmq::buffer(out.target),
                               zmq::send_flags::sndmore | zmq::send_flags::dontwait) ||
                !s.router.send(zmq::buffer(out.payload), zmq::send_flags::dontwait)) {
              ++dropped;
              continue;
            }
            break;
        }
        ++sent;
        bytes += out.payload.size();
      } catch (const zmq::error_t&) {
        ++dropped;  // e.g. EHOSTUNREACH: the peer is not connected (router_mandatory)
      }
    }
    if (!sending.empty()) {
      std::lock_guard lock(mu_);
      stats_.messages_sent += sent;
      stats_.bytes_sent += bytes;
      stats_.outbound_dropped += dropped;
    }
  }
}

}  // namespace geokv::replica
