// Two real ZeroMQ transports on loopback.
#include "replica/transport/transport.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "replica/transport/curve_keys.h"
#include "server_process.h"

namespace geokv::replica {
namespace {

using namespace std::chrono_literals;

std::string Tcp(uint16_t port) { return "tcp://127.0.0.1:" + std::to_string(port); }

struct Pair {
  explicit Pair(int64_t max_message_bytes = int64_t{64} << 20, int rcvhwm = 100'000,
                size_t inbound_max = 100'000) {
    const uint16_t a_repl = test::FreePort(), a_sync = test::FreePort();
    const uint16_t b_repl = test::FreePort(), b_sync = test::FreePort();
    TransportOptions ao{"A", Tcp(a_repl), Tcp(a_sync), {{"B", Tcp(b_repl), Tcp(b_sync), {1}}}};
    TransportOptions bo{"B", Tcp(b_repl), Tcp(b_sync), {{"A", Tcp(a_repl), Tcp(a_sync), {1}}}};
    ao.max_message_bytes = bo.max_message_bytes = max_message_bytes;
    bo.receive_high_water_mark = rcvhwm;
    bo.inbound_queue_max = inbound_max;
    auto ta = Transport::Start(ao, [] {});
    auto tb = Transport::Start(bo, [] {});
    REQUIRE(ta.ok());
    REQUIRE(tb.ok());
    a = std::move(*ta);
    b = std::move(*tb);
  }
  std::unique_ptr<Transport> a, b;
};

// Collects what `t` receives within `wait`.
std::vector<InboundMessage> Collect(Transport& t, std::chrono::milliseconds wait, size_t want) {
  std::vector<InboundMessage> all;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline && all.size() < want) {
    for (auto& m : t.Take(1000)) all.push_back(std::move(m));
    std::this_thread::sleep_for(1ms);
  }
  return all;
}

TEST_CASE("Transport: subscribers get their partitions' topics and heartbeats only",
          "[integration]") {
  Pair pair;
  // PUB-SUB needs the subscription to reach the publisher first (slow joiner):
  // publish heartbeats until one arrives.
  std::vector<InboundMessage> got;
  for (int i = 0; i < 500 && got.empty(); ++i) {
    pair.a->PublishHeartbeat("hb");
    got = Collect(*pair.b, 10ms, 1);
  }
  REQUIRE_FALSE(got.empty());
  pair.a->PublishDeltas(2, "not subscribed");
  pair.a->PublishDeltas(1, "deltas of 1");
  got = Collect(*pair.b, 2000ms, 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].kind == InboundMessage::Kind::kPublished);
  CHECK(got[0].peer == "A");
  CHECK(got[0].payload == "deltas of 1");
  CHECK(Collect(*pair.b, 100ms, 1).empty());
}

TEST_CASE("Transport: requests reach the peer and replies come back", "[integration]") {
  Pair pair;
  std::vector<InboundMessage> got;
  for (int i = 0; i < 200 && got.empty(); ++i) {  // the DEALER connects asynchronously
    pair.b->SendRequest("A", "catch up please");
    got = Collect(*pair.a, 20ms, 1);
  }
  REQUIRE_FALSE(got.empty());
  CHECK(got[0].kind == InboundMessage::Kind::kRequest);
  CHECK(got[0].peer == "B");
  CHECK(got[0].payload == "catch up please");
  pair.a->SendReply("B", "here you are");
  auto replies = Collect(*pair.b, 2000ms, 1);
  // Retries above may have queued more requests; the reply is what matters here.
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].kind == InboundMessage::Kind::kReply);
  CHECK(replies[0].peer == "A");
  CHECK(replies[0].payload == "here you are");
  pair.a->SendReply("nobody", "lost");  // unroutable: dropped and counted, not a crash
  std::this_thread::sleep_for(50ms);
  CHECK(pair.a->stats().outbound_dropped >= 1);
}

TEST_CASE("Transport: SetPeers connects a new peer, changes topics and drops a removed peer",
          "[integration]") {
  const uint16_t ports[6] = {test::FreePort(), test::FreePort(), test::FreePort(),
                             test::FreePort(), test::FreePort(), test::FreePort()};
  auto peer = [&](const std::string& id, int n, std::vector<uint32_t> partitions) {
    return TransportPeer{id, Tcp(ports[2 * n]), Tcp(ports[2 * n + 1]), std::move(partitions)};
  };
  TransportOptions ao{"A", Tcp(ports[0]), Tcp(ports[1]), {peer("B", 1, {1})}};
  TransportOptions bo{"B", Tcp(ports[2]), Tcp(ports[3]), {peer("A", 0, {1})}};
  TransportOptions co{"C", Tcp(ports[4]), Tcp(ports[5]), {peer("A", 0, {2})}};
  auto a = Transport::Start(ao, [] {});
  auto b = Transport::Start(bo, [] {});
  auto c = Transport::Start(co, [] {});
  REQUIRE((a.ok() && b.ok() && c.ok()));
  // Published until it arrives (the slow joiner), then only what `topic` says.
  auto arrives = [&](Transport& from, uint32_t topic, const std::string& peer_id) {
    for (int i = 0; i < 300; ++i) {
      from.PublishDeltas(topic, "probe");
      for (const auto& m : Collect(**a, 10ms, 1)) {
        if (m.peer == peer_id && m.payload == "probe") return true;
      }
    }
    return false;
  };
  CHECK(arrives(**b, 1, "B"));
  // C joins A's peers (topic 2); B's topic becomes 3.
  REQUIRE((*a)->SetPeers({peer("B", 1, {3}), peer("C", 2, {2})}, {}).ok());
  CHECK(arrives(**c, 2, "C"));
  CHECK(arrives(**b, 3, "B"));
  (*b)->PublishDeltas(1, "unsubscribed");
  for (const auto& m : Collect(**a, 200ms, 100)) CHECK(m.payload != "unsubscribed");
  // B dropped: a request to it is not sent.
  REQUIRE((*a)->SetPeers({peer("C", 2, {2})}, {}).ok());
  const uint64_t dropped = (*a)->stats().outbound_dropped;
  for (int i = 0; i < 100 && (*a)->stats().outbound_dropped == dropped; ++i) {
    (*a)->SendRequest("B", "to a peer no longer there");
    std::this_thread::sleep_for(5ms);
  }
  CHECK((*a)->stats().outbound_dropped > dropped);
  // A CURVE key for a plaintext transport is refused, and nothing changes.
  TransportPeer keyed = peer("C", 2, {2});
  keyed.curve_public_key = std::string(40, 'a');
  CHECK((*a)->SetPeers({keyed}, {}).code() == Status::Code::kInvalid);
  CHECK(arrives(**c, 2, "C"));
}

TEST_CASE("Transport: an oversize message is refused by the receiver", "[integration]") {
  Pair pair(/*max_message_bytes=*/1000);
  std::vector<InboundMessage> got;
  for (int i = 0; i < 500 && got.empty(); ++i) {
    pair.a->PublishHeartbeat("hb");
    got = Collect(*pair.b, 10ms, 1);
  }
  REQUIRE_FALSE(got.empty());
  pair.a->PublishDeltas(1, std::string(5000, 'x'));
  pair.a->PublishDeltas(1, "small");
  // The oversize frame makes the receiver drop the connection; what comes after
  // it on that connection may be lost too, but never the oversize payload.
  for (const auto& m : Collect(*pair.b, 300ms, 10)) CHECK(m.payload.size() <= 1000);
}

TEST_CASE("Transport: tiny queues drop messages under a burst, and count them", "[integration]") {
  Pair pair(int64_t{64} << 20, /*rcvhwm=*/10, /*inbound_max=*/100);
  std::vector<InboundMessage> got;
  for (int i = 0; i < 500 && got.empty(); ++i) {
    pair.a->PublishHeartbeat("hb");
    got = Collect(*pair.b, 10ms, 1);
  }
  REQUIRE_FALSE(got.empty());
  const int burst = 50'000;
  for (int i = 0; i < burst; ++i) pair.a->PublishDeltas(1, std::string(100, 'x'));
  // B does not take anything for a while: its SUB queue fills and PUB drops.
  std::this_thread::sleep_for(300ms);
  auto received = Collect(*pair.b, 1000ms, burst);
  CHECK(received.size() < static_cast<size_t>(burst));
  CHECK(pair.b->stats().inbound_dropped > 0);
}

CurveKeyPair NewKeys() {
  auto keys = GenerateCurveKeyPair();
  REQUIRE(keys.ok());
  return *keys;
}

// Heartbeats from `from` until `to` gets one, or false after ~2 s.
bool HeartbeatArrives(Transport& from, Transport& to) {
  for (int i = 0; i < 200; ++i) {
    from.PublishHeartbeat("hb");
    for (const auto& m : Collect(to, 10ms, 1)) {
      if (m.payload == "hb") return true;
    }
  }
  return false;
}

// Two nodes A and B with CURVE on, each admitting the other's key only.
struct CurveSetup {
  CurveSetup() : a_keys(NewKeys()), b_keys(NewKeys()) {
    a_repl = test::FreePort(), a_sync = test::FreePort();
    b_repl = test::FreePort(), b_sync = test::FreePort();
  }
  // Node `self` ("A" or "B") with `keys`; its peer's key as the topology says.
  TransportOptions Options(const std::string& self, const CurveKeyPair& keys) const {
    const bool is_a = self == "A";
    TransportOptions o{self, Tcp(is_a ? a_repl : b_repl), Tcp(is_a ? a_sync : b_sync), {}};
    o.peers.push_back({is_a ? "B" : "A",
                       Tcp(is_a ? b_repl : a_repl),
                       Tcp(is_a ? b_sync : a_sync),
                       {1},
                       is_a ? b_keys.public_key : a_keys.public_key});
    o.curve_public_key = keys.public_key;
    o.curve_secret_key = keys.secret_key;
    o.curve_clients = {{a_keys.public_key, "A"}, {b_keys.public_key, "B"}};
    return o;
  }
  std::unique_ptr<Transport> Start(const std::string& self, const CurveKeyPair& keys) const {
    auto t = Transport::Start(Options(self, keys), [] {});
    REQUIRE(t.ok());
    return std::move(*t);
  }
  CurveKeyPair a_keys, b_keys;
  uint16_t a_repl, a_sync, b_repl, b_sync;
};

TEST_CASE("Transport: with CURVE, nodes that know each other's keys talk both ways",
          "[integration]") {
  CurveSetup setup;
  auto a = setup.Start("A", setup.a_keys);
  auto b = setup.Start("B", setup.b_keys);
  REQUIRE(HeartbeatArrives(*a, *b));
  REQUIRE(HeartbeatArrives(*b, *a));
  std::vector<InboundMessage> got;
  for (int i = 0; i < 200 && got.empty(); ++i) {
    b->SendRequest("A", "catch up please");
    got = Collect(*a, 20ms, 1);
  }
  REQUIRE_FALSE(got.empty());
  CHECK(got[0].peer == "B");
  a->SendReply("B", "here you are");
  auto replies = Collect(*b, 2000ms, 1);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].payload == "here you are");
  CHECK(a->stats().curve_refused == 0);
  CHECK(b->stats().curve_refused == 0);
}

TEST_CASE("Transport: with CURVE, a peer with a foreign key delivers nothing and is counted",
          "[integration][hostile]") {
  CurveSetup setup;
  auto a = setup.Start("A", setup.a_keys);
  // An impostor on B's endpoints, with a key pair of its own (it knows every
  // public key: they are in the topology).
  auto impostor = setup.Start("B", NewKeys());
  for (int i = 0; i < 100; ++i) {
    impostor->PublishHeartbeat("forged");
    impostor->PublishDeltas(1, "forged");
    impostor->SendRequest("A", "forged");
    std::this_thread::sleep_for(10ms);
  }
  CHECK(Collect(*a, 500ms, 1).empty());
  // A's ZAP handler refused the impostor's SUB and DEALER (ZeroMQ retries).
  CHECK(a->stats().curve_refused >= 1);
  CHECK(a->stats().messages_received == 0);
  // The real B, once there, gets through: the refusal was about the key.
  impostor.reset();
  auto b = setup.Start("B", setup.b_keys);
  CHECK(HeartbeatArrives(*b, *a));
}

TEST_CASE("Transport: with CURVE, a node cannot send requests in another node's name",
          "[integration][hostile]") {
  CurveSetup setup;
  auto a = setup.Start("A", setup.a_keys);
  // B's real key, but its DEALER says it is "C".
  TransportOptions liar = setup.Options("B", setup.b_keys);
  liar.self_id = "C";
  auto b = Transport::Start(liar, [] {});
  REQUIRE(b.ok());
  REQUIRE(HeartbeatArrives(**b, *a));  // the connection itself is admitted
  for (int i = 0; i < 50; ++i) {
    (*b)->SendRequest("A", "as C");
    std::this_thread::sleep_for(10ms);
  }
  for (const auto& m : Collect(*a, 300ms, 1)) CHECK(m.kind != InboundMessage::Kind::kRequest);
  CHECK(a->stats().curve_refused >= 1);
}

TEST_CASE("Transport: a half-configured CURVE is refused at start", "[integration]") {
  CurveSetup setup;
  TransportOptions no_peer_key = setup.Options("A", setup.a_keys);
  no_peer_key.peers[0].curve_public_key.clear();
  CHECK(Transport::Start(no_peer_key, [] {}).status().code() == Status::Code::kInvalid);
  TransportOptions no_own_key = setup.Options("A", setup.a_keys);
  no_own_key.curve_public_key.clear();
  no_own_key.curve_secret_key.clear();
  CHECK(Transport::Start(no_own_key, [] {}).status().code() == Status::Code::kInvalid);
  TransportOptions bad_key = setup.Options("A", setup.a_keys);
  bad_key.curve_secret_key[0] = '"';  // not a Z85 digit
  CHECK(Transport::Start(bad_key, [] {}).status().code() == Status::Code::kInvalid);
}

TEST_CASE("CurveKeys: secret key files are 0600, round-trip, and loose modes are refused",
          "[integration]") {
  test::TempDir dir;
  const CurveKeyPair keys = NewKeys();
  const std::string path = dir.path() + "/node.key";
  REQUIRE(WriteCurveSecretFile(path, keys.secret_key).ok());
  CHECK_FALSE(WriteCurveSecretFile(path, keys.secret_key).ok());  // never overwrites
  auto loaded = LoadCurveSecretFile(path);
  REQUIRE(loaded.ok());
  CHECK(loaded->public_key == keys.public_key);
  CHECK(loaded->secret_key == keys.secret_key);
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  auto loose = LoadCurveSecretFile(path);
  REQUIRE_FALSE(loose.ok());
  CHECK(loose.status().message() ==
        path + ": mode 0644 lets others read the secret key; chmod 600 " + path);
  const std::string junk = dir.path() + "/junk.key";
  REQUIRE(WriteCurveSecretFile(junk, "not a key").ok());
  CHECK(LoadCurveSecretFile(junk).status().code() == Status::Code::kInvalid);
  CHECK(LoadCurveSecretFile(dir.path() + "/missing").status().code() == Status::Code::kIo);
}

}  // namespace
}  // namespace geokv::replica
