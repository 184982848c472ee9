// Two real ZeroMQ transports on loopback.
#include "replica/transport/transport.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

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

}  // namespace
}  // namespace geokv::replica
