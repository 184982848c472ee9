// The replication core's pieces, one behaviour each, with messages passed by
// hand (through the codec) between cores over memory stores.
#include "replica/replication/core.h"

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <set>

#include "crdt/join.h"
#include "crdt/key_type.h"
#include "crdt/or_set.h"
#include "crdt/scalar.h"
#include "random_ops.h"
#include "replica/replication/memory_store.h"

namespace geokv::replication {
namespace {

using crdt::ReplicaId;

constexpr ReplicaId kA = 0xA, kB = 0xB, kC = 0xC;

// Cores over memory stores; messages move only when a test moves them.
class Cluster {
 public:
  // nodes: (id, dc); replicas[p]: the ids holding p.
  Cluster(std::vector<std::pair<ReplicaId, uint32_t>> nodes,
          std::vector<std::vector<ReplicaId>> replicas, Options options)
      : replicas_(std::move(replicas)), options_(options) {
    for (const auto& [id, dc] : nodes) dc_of_[id] = dc;
    for (const auto& [id, dc] : nodes) {
      nodes_[id].store = std::make_unique<MemoryReplicaStore>(
          static_cast<uint32_t>(replicas_.size()), size_t{1} << 20);
      Restart(id, 0);
    }
  }
  // A, B, C in DCs 0, 1, 2, each holding every one of q partitions.
  static Cluster ThreeDcs(Options options, uint32_t q = 2) {
    return Cluster({{kA, 0}, {kB, 1}, {kC, 2}},
                   std::vector<std::vector<ReplicaId>>(q, {kA, kB, kC}), options);
  }

  ReplicationCore& core(ReplicaId id) { return *nodes_.at(id).core; }
  MemoryReplicaStore& store(ReplicaId id) { return *nodes_.at(id).store; }

  // The core is rebuilt from the store: a crash and restart.
  void Restart(ReplicaId id, uint64_t now_ms, uint64_t epoch = 0, uint64_t incarnation = 0) {
    Membership m;
    m.self = id;
    m.dc_of = dc_of_;
    m.replicas = replicas_;
    m.epoch = epoch;
    m.incarnation = incarnation;
    Node& node = nodes_.at(id);
    node.core = std::make_unique<ReplicationCore>(m, options_, *node.store, now_ms);
  }

  // A local mutation at `id`, committed and handed to its core.
  crdt::Delta Mutate(ReplicaId id, uint32_t p, uint64_t now_ms,
                     const std::function<void(crdt::DeltaBuilder&)>& mutator) {
    Node& node = nodes_.at(id);
    crdt::DeltaBuilder builder(node.store->State(p), id);
    mutator(builder);
    crdt::Delta d = std::move(builder).Finish();
    crdt::ApplyDelta(node.store->State(p), d);
    node.core->OnLocalDelta(*node.store, p, d, now_ms);
    return d;
  }
  crdt::Delta Incr(ReplicaId id, uint32_t p, uint64_t now_ms, int64_t by, std::string key = "k") {
    return Mutate(id, p, now_ms, [&](crdt::DeltaBuilder& b) {
      crdt::IncrementScalar(b, crdt::ScalarRef{key, std::nullopt}, by);
    });
  }
  crdt::Delta Del(ReplicaId id, uint32_t p, uint64_t now_ms, std::string key = "k") {
    return Mutate(id, p, now_ms, [&](crdt::DeltaBuilder& b) { crdt::DeleteKey(b, key); });
  }

  std::vector<Outgoing> Take(ReplicaId id, uint64_t now_ms) {
    return nodes_.at(id).core->TakeOutgoing(now_ms);
  }
  // Delivers through the codec, as a transport would.
  void Deliver(ReplicaId to, const Message& m, uint64_t now_ms) {
    auto decoded = DecodeMessage(EncodeMessage(m));
    REQUIRE(decoded.ok());
    Node& node = nodes_.at(to);
    node.core->OnMessage(*node.store, *decoded, now_ms);
  }
  void Tick(ReplicaId id, uint64_t now_ms) {
    Node& node = nodes_.at(id);
    node.core->OnTick(*node.store, now_ms);
  }
  // Ticks `from` and delivers its heartbeat (a full one) to `to`.
  void Heartbeat(ReplicaId from, ReplicaId to, uint64_t now_ms);

  std::string View(ReplicaId id, uint32_t p) { return test::Observe(store(id).State(p)); }

  // Moves every message until none is left, ticking every node each 5 ms
  // from now_ms for `ms` (no faults but silenced nodes). Returns the time
  // reached.
  uint64_t Pump(uint64_t now_ms, uint64_t ms);
  // A silenced node is down for Pump: it neither ticks, sends nor receives.
  void Silence(ReplicaId id, bool on) {
    if (on) {
      silent_.insert(id);
    } else {
      silent_.erase(id);
    }
  }
  // Gives every node the placement `replicas` at `epoch`.
  void Reconfigure(std::vector<std::vector<ReplicaId>> replicas, uint64_t epoch, uint64_t now_ms) {
    for (auto& [id, node] : nodes_) {
      Membership m;
      m.self = id;
      m.dc_of = dc_of_;
      m.replicas = replicas;
      m.epoch = epoch;
      REQUIRE(node.core->Reconfigure(*node.store, m, now_ms).ok());
    }
  }

 private:
  struct Node {
    std::unique_ptr<MemoryReplicaStore> store;
    std::unique_ptr<ReplicationCore> core;
  };
  std::map<ReplicaId, uint32_t> dc_of_;
  std::vector<std::vector<ReplicaId>> replicas_;
  Options options_;
  std::map<ReplicaId, Node> nodes_;
  std::set<ReplicaId> silent_;
};

template <typename T>
std::vector<T> All(const std::vector<Outgoing>& outs) {
  std::vector<T> found;
  for (const Outgoing& o : outs) {
    if (const T* m = std::get_if<T>(&o.message)) found.push_back(*m);
  }
  return found;
}

template <typename T>
T One(const std::vector<Outgoing>& outs) {
  auto found = All<T>(outs);
  REQUIRE(found.size() == 1);
  return found.front();
}

uint64_t Cluster::Pump(uint64_t now_ms, uint64_t ms) {
  const uint64_t end = now_ms + ms;
  for (; now_ms < end; now_ms += 5) {
    for (auto& [id, node] : nodes_) {
      if (silent_.contains(id)) continue;
      node.core->OnTick(*node.store, now_ms);
      for (const Outgoing& o : node.core->TakeOutgoing(now_ms)) {
        for (auto& [to, other] : nodes_) {
          const bool addressed =
              o.kind == Outgoing::Kind::kSendRequest || o.kind == Outgoing::Kind::kSendReply;
          if (to == id || silent_.contains(to) || (addressed && to != o.to)) continue;
          Deliver(to, o.message, now_ms);
        }
      }
    }
  }
  return now_ms;
}

void Cluster::Heartbeat(ReplicaId from, ReplicaId to, uint64_t now_ms) {
  // A heartbeat that reports exactly `from`'s applied vectors now.
  replication::Heartbeat hb;
  hb.from = from;
  hb.sent_ms = now_ms;
  for (uint32_t p = 0; p < replicas_.size(); ++p) {
    if (!core(from).Holds(p)) continue;
    PartitionApplied pa{p, {}};
    std::vector<ReplicaId> ids = replicas_[p];
    std::sort(ids.begin(), ids.end());
    for (ReplicaId o : ids) pa.applied.emplace_back(o, core(from).Applied(p, o));
    hb.partitions.push_back(pa);
  }
  Deliver(to, hb, now_ms);
}

Options Quiet() {
  // Long intervals, so that only what a test does happens.
  Options o;
  o.heartbeat_interval_ms = 1'000'000;
  o.down_after_ms = 1'000'000;
  o.maintenance_interval_ms = 1'000'000;
  o.catchup_delay_ms = 0;
  return o;
}

TEST_CASE("Core: local deltas are logged, recorded as applied and published in contiguous batches",
          "[unit]") {
  Options o = Quiet();
  o.batch_max_deltas = 2;
  Cluster c = Cluster::ThreeDcs(o);
  c.Incr(kA, 0, 1, 5);
  c.Incr(kA, 0, 2, 6);  // the second fills a batch: closed at once
  c.Incr(kA, 0, 3, 7);
  c.Incr(kA, 1, 3, 8);
  CHECK(c.core(kA).Applied(0, kA) == 3);
  CHECK(c.store(kA).Applied(0, kA) == 3);
  CHECK(c.store(kA).LogEntries(0, kA).size() == 3);

  auto out = c.Take(kA, 4);
  auto batches = All<DeltaBatch>(out);
  REQUIRE(batches.size() == 3);
  CHECK((batches[0].partition == 0 && batches[0].first_seq == 1 && batches[0].last_seq == 2));
  CHECK((batches[1].partition == 0 && batches[1].first_seq == 3 && batches[1].last_seq == 3));
  CHECK((batches[2].partition == 1 && batches[2].first_seq == 1 && batches[2].last_seq == 1));
  for (const Outgoing& x : out) {
    CHECK(x.kind == Outgoing::Kind::kPublishPartition);
    CHECK(x.partition == std::get<DeltaBatch>(x.message).partition);
  }
  CHECK(All<Heartbeat>(out).empty());  // own writes alone do not call for one
}

TEST_CASE("Core: heartbeats carry the sender's epoch, and PeerEpochs remembers each node's latest",
          "[unit]") {
  Cluster c = Cluster::ThreeDcs(Options{});
  c.Restart(kA, 0, /*epoch=*/3, /*incarnation=*/10);
  c.Tick(kA, 1);
  for (const Outgoing& o : c.Take(kA, 1)) c.Deliver(kB, o.message, 1);
  CHECK(c.core(kB).PeerEpochs() == std::map<ReplicaId, uint64_t>{{kA, 3}});

  // A node this one shares nothing with (one of a newer topology) is heard too.
  constexpr ReplicaId kD = 0xD;
  replication::Heartbeat hb{kD, 2, {}, 1};
  hb.epoch = 4;
  c.Deliver(kB, hb, 2);
  CHECK(c.core(kB).PeerEpochs().at(kD) == 4);
  // Within one incarnation the highest epoch stays (heartbeats reorder) ...
  hb.epoch = 2;
  c.Deliver(kB, hb, 3);
  CHECK(c.core(kB).PeerEpochs().at(kD) == 4);
  // ... and a newer incarnation's replaces it (a restart with another file).
  hb.incarnation = 2;
  c.Deliver(kB, hb, 4);
  CHECK(c.core(kB).PeerEpochs().at(kD) == 2);
  CHECK(c.core(kB).stats().rejected >= 1);  // D is still no peer of B's partitions
}

TEST_CASE("Core: heartbeats carry the bytes the sender's moves have left, the latest kept per node",
          "[unit]") {
  Cluster c = Cluster::ThreeDcs(Options{});
  c.Restart(kA, 0, /*epoch=*/0, /*incarnation=*/10);
  c.core(kA).SetMoveBytesLeft(4096);
  c.Tick(kA, 1);
  for (const Outgoing& o : c.Take(kA, 1)) c.Deliver(kB, o.message, 1);
  CHECK(c.core(kB).PeerMoveBytesLeft() == std::map<ReplicaId, uint64_t>{{kA, 4096}});
  c.core(kA).SetMoveBytesLeft(0);  // its moves ended
  c.Tick(kA, 200);
  for (const Outgoing& o : c.Take(kA, 200)) c.Deliver(kB, o.message, 200);
  CHECK(c.core(kB).PeerMoveBytesLeft().at(kA) == 0);
  // An older process's heartbeat changes nothing.
  replication::Heartbeat hb{kA, 2, {}, 9};
  hb.move_bytes_left = 77;
  c.Deliver(kB, hb, 201);
  CHECK(c.core(kB).PeerMoveBytesLeft().at(kA) == 0);
  CHECK_FALSE(c.core(kB).PeerMoveBytesLeft().contains(kC));  // not heard yet
}

TEST_CASE("Core: a node's partition size goes out in heartbeats; peers' are taken by their median",
          "[unit]") {
  constexpr ReplicaId kD = 0xD;
  Cluster c = Cluster::ThreeDcs(Options{});
  CHECK(c.core(kB).PeerPartitionBytes() == 0);  // none heard
  c.Restart(kA, 0, /*epoch=*/0, /*incarnation=*/10);
  c.core(kA).SetPartitionBytes(512);
  c.Tick(kA, 1);
  for (const Outgoing& o : c.Take(kA, 1)) c.Deliver(kB, o.message, 1);
  CHECK(c.core(kB).PeerPartitionBytes() == 512);
  auto heard = [&](ReplicaId from, uint64_t incarnation, uint64_t bytes, uint64_t now) {
    replication::Heartbeat hb{from, now, {}, incarnation};
    hb.partition_bytes = bytes;
    c.Deliver(kB, hb, now);
  };
  heard(kC, 3, 100, 2);
  heard(kD, 4, 9000, 3);  // a node that shares no partition with B counts too
  CHECK(c.core(kB).PeerPartitionBytes() == 512);  // of 100, 512, 9000
  heard(kD, 4, 0, 4);                             // D's moves ended: its figure goes
  CHECK(c.core(kB).PeerPartitionBytes() == 512);  // of 100, 512 (the upper middle)
  heard(kA, 9, 7, 5);                             // an older process of A's changes nothing
  CHECK(c.core(kB).PeerPartitionBytes() == 512);
  c.core(kA).SetPartitionBytes(0);
  c.Tick(kA, 200);
  for (const Outgoing& o : c.Take(kA, 200)) c.Deliver(kB, o.message, 200);
  CHECK(c.core(kB).PeerPartitionBytes() == 100);
}

TEST_CASE("Core: batches apply in order; duplicates and old batches change nothing", "[unit]") {
  Cluster c = Cluster::ThreeDcs(Quiet());
  c.Incr(kA, 0, 1, 5);
  c.Incr(kA, 0, 1, 6);
  const DeltaBatch batch = One<DeltaBatch>(c.Take(kA, 1));
  c.Deliver(kB, batch, 2);
  CHECK(c.core(kB).Applied(0, kA) == 2);
  CHECK(c.store(kB).Applied(0, kA) == 2);
  CHECK(c.View(kB, 0) == c.View(kA, 0));
  CHECK(c.View(kB, 0) == "k:string=11\n");

  const std::string before = c.View(kB, 0);
  c.Deliver(kB, batch, 3);
  CHECK(c.core(kB).stats().duplicates == 1);
  CHECK(c.core(kB).Applied(0, kA) == 2);
  CHECK(c.View(kB, 0) == before);
}

TEST_CASE("Core: a gap is buffered and filled by catch-up from the origin's log", "[unit]") {
  Options o = Quiet();
  o.catchup_delay_ms = 10;
  Cluster c = Cluster::ThreeDcs(o);
  c.Incr(kA, 0, 1, 5);
  const DeltaBatch first = One<DeltaBatch>(c.Take(kA, 1));
  c.Incr(kA, 0, 2, 6);
  const DeltaBatch second = One<DeltaBatch>(c.Take(kA, 2));

  c.Deliver(kB, second, 100);  // the first one was lost
  CHECK(c.core(kB).Applied(0, kA) == 0);
  CHECK(c.core(kB).stats().gaps == 1);
  CHECK(All<CatchUpRequest>(c.Take(kB, 100)).empty());  // it may still come
  CHECK(c.core(kB).NextTickMs() <= 110);
  c.Tick(kB, 105);
  CHECK(All<CatchUpRequest>(c.Take(kB, 105)).empty());
  c.Tick(kB, 110);
  auto out = c.Take(kB, 110);
  const CatchUpRequest req = One<CatchUpRequest>(out);
  CHECK(req == CatchUpRequest{kB, 0, kA, 0});
  CHECK(out[0].kind == Outgoing::Kind::kSendRequest);
  CHECK(out[0].to == kA);
  CHECK_FALSE(c.core(kB).Settled());

  c.Deliver(kA, req, 111);
  out = c.Take(kA, 111);
  const CatchUpReply reply = One<CatchUpReply>(out);
  CHECK(reply.kind == CatchUpReply::Kind::kDeltas);
  CHECK((reply.batch.first_seq == 1 && reply.batch.last_seq == 2));
  CHECK(out[0].kind == Outgoing::Kind::kSendReply);
  CHECK(out[0].to == kB);
  CHECK(c.core(kA).stats().log_replies == 1);

  c.Deliver(kB, reply, 112);
  CHECK(c.core(kB).Applied(0, kA) == 2);
  CHECK(c.View(kB, 0) == c.View(kA, 0));
  (void)first;
}

TEST_CASE("Core: a batch that arrives late within catchup_delay_ms fills the gap by itself",
          "[unit]") {
  Options o = Quiet();
  o.catchup_delay_ms = 10;
  Cluster c = Cluster::ThreeDcs(o);
  c.Incr(kA, 0, 1, 5);
  const DeltaBatch first = One<DeltaBatch>(c.Take(kA, 1));
  c.Incr(kA, 0, 2, 6);
  const DeltaBatch second = One<DeltaBatch>(c.Take(kA, 2));
  c.Deliver(kB, second, 100);
  c.Deliver(kB, first, 104);  // reordered, not lost: the buffered one applies too
  CHECK(c.core(kB).Applied(0, kA) == 2);
  c.Tick(kB, 200);
  CHECK(All<CatchUpRequest>(c.Take(kB, 200)).empty());
  CHECK(c.core(kB).stats().catchup_requests == 0);
}

TEST_CASE("Core: catch-up replies are bounded in bytes and continue until the gap closes",
          "[unit]") {
  Options o = Quiet();
  o.catchup_reply_max_bytes = 1;  // one delta per reply
  Cluster c = Cluster::ThreeDcs(o);
  for (int i = 0; i < 5; ++i) c.Incr(kA, 0, 1, i);
  (void)c.Take(kA, 1);      // all lost
  c.Heartbeat(kA, kB, 10);  // reveals the tail gap
  int rounds = 0;
  for (uint64_t t = 11; c.core(kB).Applied(0, kA) < 5 && rounds < 20; ++t, ++rounds) {
    c.Tick(kB, t);
    for (const CatchUpRequest& req : All<CatchUpRequest>(c.Take(kB, t))) {
      c.Deliver(kA, req, t);
      for (const CatchUpReply& reply : All<CatchUpReply>(c.Take(kA, t))) {
        CHECK(reply.batch.deltas.size() == 1);
        c.Deliver(kB, reply, t);
      }
    }
  }
  CHECK(c.core(kB).Applied(0, kA) == 5);
  CHECK(rounds == 5);
  CHECK(c.View(kB, 0) == c.View(kA, 0));
}

TEST_CASE("Core: a lost last batch is found from the origin's heartbeat", "[unit]") {
  Cluster c = Cluster::ThreeDcs(Quiet());
  c.Incr(kA, 1, 1, 5);
  (void)c.Take(kA, 1);  // lost
  c.Tick(kA, 2);        // the first tick sends a full heartbeat
  const Heartbeat hb = One<Heartbeat>(c.Take(kA, 2));
  c.Deliver(kB, hb, 3);
  c.Tick(kB, 3);
  const CatchUpRequest req = One<CatchUpRequest>(c.Take(kB, 3));
  CHECK(req == CatchUpRequest{kB, 1, kA, 0});
}

TEST_CASE(
    "Core: a truncated log is answered with a state transfer that brings the sender's applied "
    "vector",
    "[unit]") {
  Cluster c = Cluster::ThreeDcs(Quiet());
  c.Incr(kC, 0, 1, 2);
  c.Incr(kC, 0, 1, 2);
  c.Deliver(kA, One<DeltaBatch>(c.Take(kC, 1)), 2);
  for (int i = 0; i < 3; ++i) c.Incr(kA, 0, 3, 10, "j");
  (void)c.Take(kA, 3);
  c.store(kA).TruncateLog(0, kA, 2);

  c.Deliver(kA, CatchUpRequest{kB, 0, kA, 0}, 4);
  const CatchUpReply reply = One<CatchUpReply>(c.Take(kA, 4));
  CHECK(reply.kind == CatchUpReply::Kind::kState);
  CHECK(reply.applied == AppliedVector{{kA, 3}, {kB, 0}, {kC, 2}});
  CHECK(c.core(kA).stats().state_transfers_sent == 1);

  c.Deliver(kB, reply, 5);
  CHECK(c.core(kB).Applied(0, kA) == 3);
  CHECK(c.core(kB).Applied(0, kC) == 2);
  CHECK(c.store(kB).Applied(0, kC) == 2);
  CHECK(c.View(kB, 0) == c.View(kA, 0));
  CHECK(c.View(kB, 0) == "j:string=30\nk:string=4\n");

  // The same snapshot again brings nothing.
  c.Deliver(kB, reply, 6);
  CHECK(c.core(kB).stats().state_transfers_applied == 1);
}

TEST_CASE(
    "Core: a state transfer moves a big set in chunks, survives duplicates, a restart and live "
    "deltas, and merges the first chunk's context only at the end",
    "[unit]") {
  Options o = Quiet();
  o.state_chunk_max_atoms = 7;
  Cluster c = Cluster::ThreeDcs(o, 1);
  // A holds a 100-member set and a counter; B has seen the first 10 members
  // and a member A removed since.
  auto add = [&](ReplicaId id, uint64_t now, const std::string& key, int from, int to) {
    return c.Mutate(id, 0, now, [&](crdt::DeltaBuilder& b) {
      for (int i = from; i < to; ++i) crdt::AddMember(b, key, "m" + std::to_string(1000 + i));
    });
  };
  (void)add(kA, 1, "s", 0, 10);
  (void)add(kA, 1, "gone", 0, 1);
  c.Deliver(kB, One<DeltaBatch>(c.Take(kA, 1)), 1);
  (void)c.Mutate(kA, 0, 2, [&](crdt::DeltaBuilder& b) { crdt::DeleteKey(b, "gone"); });
  (void)add(kA, 2, "s", 10, 100);
  c.Incr(kA, 0, 2, 5, "n");
  (void)c.Take(kA, 2);
  c.store(kA).TruncateLog(0, kA, 1000);
  const uint64_t had = c.core(kB).Applied(0, kA);
  REQUIRE(had == 11);

  c.Deliver(kA, CatchUpRequest{kB, 0, kA, had}, 3);
  CatchUpReply chunk = One<CatchUpReply>(c.Take(kA, 3));
  REQUIRE(chunk.kind == CatchUpReply::Kind::kState);
  REQUIRE(chunk.range_to.has_value());
  CHECK(chunk.snapshot.atoms.size() <= 7);
  const crdt::DotContext first = chunk.snapshot.context;
  c.Deliver(kB, chunk, 4);
  c.Deliver(kB, chunk, 4);  // a duplicate changes nothing
  CHECK(c.core(kB).stats().state_chunks_applied == 1);
  CHECK(c.core(kB).Applied(0, kA) == had);  // not before the last chunk
  CHECK_FALSE(c.store(kB).State(0).Context().Includes(first));
  CHECK_FALSE(c.core(kB).Settled());

  // A writes meanwhile: its context grows; B resumes after a restart.
  const crdt::Delta late = add(kA, 5, "s", 100, 101);
  const DeltaBatch live = One<DeltaBatch>(c.Take(kA, 5));
  c.Restart(kB, 5);
  c.Tick(kB, 6);
  int chunks = 1;
  for (uint64_t now = 7; chunks < 100; ++now) {
    auto requests = All<CatchUpRequest>(c.Take(kB, now));
    if (requests.empty()) break;
    REQUIRE(requests.size() == 1);
    REQUIRE(requests[0].cursor.has_value());
    c.Deliver(kA, requests[0], now);
    const CatchUpReply next = One<CatchUpReply>(c.Take(kA, now));
    REQUIRE(next.range_from == *requests[0].cursor);
    c.Deliver(kB, next, now);
    c.Deliver(kB, chunk, now);  // an old chunk arriving late is ignored
    ++chunks;
  }
  CHECK(chunks >= 100 / 7);
  CHECK(c.core(kB).stats().state_transfers_applied == 1);
  CHECK(c.core(kB).Applied(0, kA) == late.first - 1);  // the first chunk's applied vector
  CHECK(c.store(kB).State(0).Context().Includes(first));
  c.Deliver(kB, live, 200);  // then the live delta continues the stream
  CHECK(c.core(kB).Applied(0, kA) == late.last);
  CHECK(c.View(kB, 0) == c.View(kA, 0));
  CHECK(c.store(kB).State(0).Context() == c.store(kA).State(0).Context());
}

TEST_CASE(
    "Core: a chunk whose sender lacks part of the first chunk's context is refused; a replica "
    "that has it continues the transfer",
    "[unit]") {
  Options o = Quiet();
  o.state_chunk_max_atoms = 1;
  Cluster c = Cluster::ThreeDcs(o, 1);
  for (int i = 0; i < 3; ++i) c.Incr(kA, 0, 1, 1, "k" + std::to_string(i));
  (void)c.Take(kA, 1);
  c.store(kA).TruncateLog(0, kA, 3);
  c.Deliver(kA, CatchUpRequest{kB, 0, kA, 0}, 2);
  c.Deliver(kB, One<CatchUpReply>(c.Take(kA, 2)), 3);
  const CatchUpRequest next = One<CatchUpRequest>(c.Take(kB, 3));
  REQUIRE(next.cursor.has_value());
  // C has seen nothing of A (as a replica restored from an old copy).
  c.Deliver(kC, next, 4);
  const CatchUpReply stale = One<CatchUpReply>(c.Take(kC, 4));
  REQUIRE(stale.kind == CatchUpReply::Kind::kState);
  const uint64_t rejected = c.core(kB).stats().rejected;
  c.Deliver(kB, stale, 5);
  CHECK(c.core(kB).stats().rejected == rejected + 1);
  CHECK(c.core(kB).stats().state_chunks_applied == 1);
  // B asks again, another replica than the one it refused (A): any sender
  // whose context includes the first one moves the cursor on.
  for (uint64_t now = 10'000; now < 200'000 && c.core(kB).stats().state_transfers_applied == 0;
       now += 10'000) {
    c.Tick(kB, now);
    for (const Outgoing& out : c.Take(kB, now)) {
      const auto* req = std::get_if<CatchUpRequest>(&out.message);
      if (req == nullptr) continue;
      c.Deliver(out.to, *req, now);
      for (const CatchUpReply& reply : All<CatchUpReply>(c.Take(out.to, now))) {
        c.Deliver(kB, reply, now);
      }
    }
  }
  CHECK(c.core(kB).stats().state_transfers_applied == 1);
  CHECK(c.View(kB, 0) == c.View(kA, 0));
  CHECK(c.core(kB).Applied(0, kA) == 3);
}

TEST_CASE("Core: a node receiving a transfer into a partition serves a valid state of it meanwhile",
          "[unit]") {
  Options o = Quiet();
  o.state_chunk_max_atoms = 2;
  Cluster c = Cluster::ThreeDcs(o, 1);
  for (int i = 0; i < 4; ++i) c.Incr(kA, 0, 1, 1, "k" + std::to_string(i));
  (void)c.Take(kA, 1);
  c.store(kA).TruncateLog(0, kA, 4);
  c.Incr(kB, 0, 1, 1, "b");
  (void)c.Take(kB, 1);
  c.store(kB).TruncateLog(0, kB, 1);
  c.Deliver(kA, CatchUpRequest{kB, 0, kA, 0}, 2);
  c.Deliver(kB, One<CatchUpReply>(c.Take(kA, 2)), 3);
  (void)c.Take(kB, 3);
  CHECK(c.View(kB, 0) == "b:string=1\nk0:string=1\nk1:string=1\n");
  // The atoms added so far are seen: B's replica is a valid state to send
  // (the decoder checks every atom's dot against the chunk's context).
  c.Deliver(kB, CatchUpRequest{kC, 0, kB, 0}, 4);
  const CatchUpReply reply = One<CatchUpReply>(c.Take(kB, 4));
  CHECK(reply.kind == CatchUpReply::Kind::kState);
  c.Deliver(kC, reply, 5);
  CHECK(c.core(kC).stats().state_chunks_applied == 1);
  CHECK(c.core(kB).stats().state_chunks_deferred == 0);
}

TEST_CASE(
    "Core: an unanswered catch-up is retried with backoff, and a down origin's deltas come from "
    "a live replica",
    "[unit]") {
  Options o = Quiet();
  o.catchup_timeout_ms = 50;
  o.catchup_timeout_max_ms = 80;
  o.down_after_ms = 300;
  Cluster c = Cluster::ThreeDcs(o);
  c.Incr(kA, 0, 1, 7);
  c.Incr(kA, 0, 1, 7);
  c.Deliver(kC, One<DeltaBatch>(c.Take(kA, 1)), 2);  // only C got it

  c.Heartbeat(kC, kB, 10);  // C has A:2, B has nothing
  c.Tick(kB, 10);
  // A is up: its own batch or heartbeat may just be slower than C's news.
  CHECK(All<CatchUpRequest>(c.Take(kB, 10)).empty());
  c.Heartbeat(kA, kB, 20);  // A: A:2, then A falls silent
  c.Tick(kB, 20);
  CHECK(One<CatchUpRequest>(c.Take(kB, 20)) == CatchUpRequest{kB, 0, kA, 0});
  c.Tick(kB, 69);
  CHECK(All<CatchUpRequest>(c.Take(kB, 69)).empty());
  c.Tick(kB, 70);  // timed out: again, to A (still up), waiting longer
  CHECK(One<CatchUpRequest>(c.Take(kB, 70)).from == kB);
  CHECK(c.core(kB).stats().catchup_retries == 1);
  c.Tick(kB, 149);
  CHECK(All<CatchUpRequest>(c.Take(kB, 149)).empty());

  c.Heartbeat(kC, kB, 290);
  c.Tick(kB, 321);  // A silent for 301 ms: down; ask C, which sends its state
  auto out = c.Take(kB, 321);
  auto req = One<CatchUpRequest>(out);
  CHECK(out[0].to == kC);
  auto peers = c.core(kB).Peers(321);
  CHECK_FALSE(peers[0].up);  // A
  CHECK(peers[1].up);        // C

  c.Deliver(kC, req, 322);
  const CatchUpReply reply = One<CatchUpReply>(c.Take(kC, 322));
  CHECK(reply.kind == CatchUpReply::Kind::kState);
  c.Deliver(kB, reply, 323);
  CHECK(c.core(kB).Applied(0, kA) == 2);
  CHECK(c.View(kB, 0) == "k:string=14\n");
}

TEST_CASE("Core: catch-up requests in flight are bounded", "[unit]") {
  Options o = Quiet();
  o.catchup_max_outstanding = 1;
  Cluster c = Cluster::ThreeDcs(o);
  c.Incr(kA, 0, 1, 1);
  c.Incr(kA, 1, 1, 1);
  (void)c.Take(kA, 1);  // lost
  c.Heartbeat(kA, kB, 2);
  c.Tick(kB, 2);
  const CatchUpRequest first = One<CatchUpRequest>(c.Take(kB, 2));
  c.Tick(kB, 3);
  CHECK(All<CatchUpRequest>(c.Take(kB, 3)).empty());
  CHECK(c.core(kB).NextTickMs() > 3);  // the waiting stream is woken by the answer, not polled
  c.Deliver(kA, first, 4);
  c.Deliver(kB, One<CatchUpReply>(c.Take(kA, 4)), 5);  // frees the slot: the next request at once
  const CatchUpRequest second = One<CatchUpRequest>(c.Take(kB, 5));
  CHECK(second.partition != first.partition);
}

TEST_CASE("Core: with nobody to ask, a gap waits without asking for ticks", "[unit]") {
  Options o = Quiet();
  o.down_after_ms = 100;
  o.catchup_timeout_ms = 40;
  Cluster c = Cluster::ThreeDcs(o, 1);
  c.Incr(kA, 0, 1, 1);
  c.Deliver(kC, One<DeltaBatch>(c.Take(kA, 1)), 2);
  c.Heartbeat(kC, kB, 90);  // C has A:1; A is silent, so soon down
  c.Tick(kB, 101);
  (void)c.Take(kB, 101);  // that request is lost
  c.Tick(kB, 191);        // C silent too: nobody live to ask
  CHECK(All<CatchUpRequest>(c.Take(kB, 191)).empty());
  CHECK(c.core(kB).NextTickMs() > 191);
  CHECK_FALSE(c.core(kB).Settled());
  c.Heartbeat(kC, kB, 200);  // C is back
  c.Tick(kB, 231);
  auto out = c.Take(kB, 231);
  CHECK(One<CatchUpRequest>(out) == CatchUpRequest{kB, 0, kA, 0});
  CHECK(out[0].to == kC);
}

TEST_CASE("Core: stability counts a peer's report only once that peer's own stream is applied",
          "[unit]") {
  Cluster c = Cluster::ThreeDcs(Quiet(), 1);
  c.Incr(kA, 0, 1, 1);
  c.Incr(kA, 0, 1, 1);
  const DeltaBatch from_a = One<DeltaBatch>(c.Take(kA, 1));
  c.Incr(kC, 0, 1, 1);
  const DeltaBatch from_c = One<DeltaBatch>(c.Take(kC, 1));
  c.Deliver(kB, from_a, 2);
  c.Deliver(kC, from_a, 2);
  CHECK(c.core(kB).Stable(0).empty());  // no reports yet

  c.Heartbeat(kA, kB, 3);  // A: {A:2}
  c.Heartbeat(kC, kB, 3);  // C: {A:2, C:1}, but B has not applied C:1 yet
  CHECK(c.core(kB).Stable(0).empty());

  c.Deliver(kB, from_c, 4);                                    // now C's report is usable
  CHECK(c.core(kB).Stable(0) == crdt::StableVector{{kA, 2}});  // A reported C:0
  c.Deliver(kA, from_c, 5);
  c.Heartbeat(kA, kB, 5);
  CHECK(c.core(kB).Stable(0) == crdt::StableVector{{kA, 2}, {kC, 1}});
}

// A: INCRBY k 5; C sees it and DELs k; A: INCRBY k 3; C sees that too and
// reports {A:2, C:1}. B has both increments but not yet C's DEL.
std::string FoldBeforeTheRemoval(bool use_unusable_reports) {
  Options o = Quiet();
  o.maintenance_interval_ms = 1;
  o.testing_use_unusable_reports = use_unusable_reports;
  Cluster c = Cluster::ThreeDcs(o, 1);
  c.Incr(kA, 0, 1, 5);
  const DeltaBatch a1 = One<DeltaBatch>(c.Take(kA, 1));
  c.Deliver(kC, a1, 2);
  c.Del(kC, 0, 3);
  const DeltaBatch c1 = One<DeltaBatch>(c.Take(kC, 3));
  c.Incr(kA, 0, 4, 3);
  const DeltaBatch a2 = One<DeltaBatch>(c.Take(kA, 4));
  c.Deliver(kC, a2, 5);
  c.Deliver(kB, a1, 5);
  c.Deliver(kB, a2, 5);
  c.Deliver(kA, c1, 6);
  c.Heartbeat(kA, kB, 6);  // {A:2, C:1}
  c.Heartbeat(kC, kB, 6);  // {A:2, C:1}
  c.Tick(kB, 10);          // maintenance: fold what is stable
  c.Deliver(kB, c1, 11);   // the DEL arrives
  CHECK(c.View(kA, 0) == "k:string=3\n");
  return c.View(kB, 0);
}

TEST_CASE("Core: folding waits for usable reports; folding earlier resurrects a removed increment",
          "[unit]") {
  CHECK(FoldBeforeTheRemoval(false) == "k:string=3\n");
  CHECK(FoldBeforeTheRemoval(true) == "k:string=8\n");  // the DEL's 5 came back
}

TEST_CASE("Core: counters are folded once stable, a bounded number of keys per round", "[unit]") {
  Options o = Quiet();
  o.maintenance_interval_ms = 10;
  o.fold_keys_per_maintenance = 1;
  Cluster c = Cluster::ThreeDcs(o, 2);
  for (uint32_t p = 0; p < 2; ++p) {
    for (int i = 0; i < 3; ++i) c.Incr(kA, p, 1, 1);
  }
  for (const DeltaBatch& b : All<DeltaBatch>(c.Take(kA, 1))) {
    c.Deliver(kB, b, 2);
    c.Deliver(kC, b, 2);
  }
  for (ReplicaId from : {kB, kC}) c.Heartbeat(from, kA, 3);
  c.Tick(kA, 10);
  CHECK(c.core(kA).stats().folded_atoms == 2);  // one partition: 3 atoms -> 1
  c.Tick(kA, 20);
  CHECK(c.core(kA).stats().folded_atoms == 4);
  CHECK(c.store(kA).State(0).AtomCount() == 1);
  CHECK(c.View(kA, 0) == "k:string=3\n");
  c.Tick(kA, 30);
  CHECK(c.core(kA).stats().folded_atoms == 4);  // nothing new is stable
}

TEST_CASE("Core: where this node is a partition's only replica, counters fold as they commit",
          "[unit]") {
  // p0 is held by A alone; p1 by A, B and C.
  Cluster c({{kA, 0}, {kB, 1}, {kC, 2}}, {{kA}, {kA, kB, kC}}, Quiet());
  for (uint32_t p : {0u, 1u}) {
    for (int i = 0; i < 3; ++i) {
      c.Incr(kA, p, 1, 2);
      c.Mutate(kA, p, 1, [](crdt::DeltaBuilder& b) {
        crdt::IncrementScalar(b, crdt::ScalarRef{"h", std::string("f")}, 1);
      });
    }
  }
  CHECK(c.store(kA).State(0).AtomCount() == 2);  // one atom per counter, without a tick
  CHECK(c.View(kA, 0) == c.View(kA, 1));
  CHECK(c.store(kA).State(1).AtomCount() == 6);  // waits for B's and C's reports
  CHECK(c.core(kA).stats().folded_atoms == 4);
  CHECK(c.store(kA).LogEntries(0, kA).size() == 6);  // the log keeps every delta as committed
  // Nobody to send p0's deltas to: only p1's are published.
  const auto batches = All<DeltaBatch>(c.Take(kA, 2));
  REQUIRE(!batches.empty());
  for (const DeltaBatch& b : batches) CHECK(b.partition == 1);
}

TEST_CASE("Core: a published batch embeds each delta's bytes, encoded once for log and wire",
          "[unit]") {
  Cluster c = Cluster::ThreeDcs(Quiet(), 1);
  c.Incr(kA, 0, 1, 5);
  c.Incr(kA, 0, 1, 6);
  const DeltaBatch batch = One<DeltaBatch>(c.Take(kA, 1));
  REQUIRE(batch.encoded.size() == 2);
  const std::vector<crdt::Delta> logged = c.store(kA).LogEntries(0, kA);
  REQUIRE(logged.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(logged[i] == batch.deltas[i]);
    CHECK(batch.encoded[i] == crdt::EncodeDelta(batch.deltas[i]));
  }
}

TEST_CASE("Core: beyond fold_keys_max keys, and after a restart, whole partitions are folded",
          "[unit]") {
  Options o = Quiet();
  o.maintenance_interval_ms = 10;
  o.fold_keys_max = 1;
  Cluster c = Cluster::ThreeDcs(o, 1);
  for (const char* key : {"a", "b", "a", "b"}) c.Incr(kA, 0, 1, 1, key);  // "b" is not tracked
  const DeltaBatch batch = One<DeltaBatch>(c.Take(kA, 1));
  for (ReplicaId to : {kB, kC}) c.Deliver(to, batch, 2);
  for (ReplicaId from : {kB, kC}) c.Heartbeat(from, kA, 3);
  c.Tick(kA, 10);
  CHECK(c.core(kA).stats().folded_atoms == 2);
  CHECK(c.store(kA).State(0).AtomCount() == 2);
  CHECK(c.View(kA, 0) == "a:string=2\nb:string=2\n");

  // B never folded (nothing was stable there); after a restart it folds
  // everything it holds once it is stable, although it remembers no key.
  CHECK(c.store(kB).State(0).AtomCount() == 4);
  c.Restart(kB, 20);
  for (ReplicaId from : {kA, kC}) c.Heartbeat(from, kB, 21);
  c.Tick(kB, 30);
  CHECK(c.store(kB).State(0).AtomCount() == 2);
  CHECK(c.View(kB, 0) == c.View(kA, 0));
}

TEST_CASE("Core: a peer is down after down_after_ms of silence and up again once heard", "[unit]") {
  Options o = Quiet();
  o.down_after_ms = 100;
  Cluster c = Cluster::ThreeDcs(o);
  c.Heartbeat(kB, kA, 50);
  c.Tick(kA, 100);
  auto peers = c.core(kA).Peers(100);
  CHECK((peers[0].id == kB && peers[0].up && peers[1].id == kC && peers[1].up));
  c.Tick(kA, 101);  // C silent since the start
  peers = c.core(kA).Peers(101);
  CHECK((peers[0].up && !peers[1].up));
  CHECK(c.core(kA).stats().peers_down == 1);
  CHECK(c.core(kA).NextTickMs() <= 151);
  c.Tick(kA, 151);
  CHECK_FALSE(c.core(kA).Peers(151)[0].up);
  c.Heartbeat(kC, kA, 160);
  CHECK(c.core(kA).Peers(160)[1].up);
}

TEST_CASE(
    "Core: the own log is truncated through what every live replica reported; a down replica "
    "does not hold it back",
    "[unit]") {
  Options o = Quiet();
  o.down_after_ms = 100;
  o.maintenance_interval_ms = 10;
  Cluster c = Cluster::ThreeDcs(o, 1);
  for (int i = 0; i < 3; ++i) c.Incr(kA, 0, 1, 1);
  const DeltaBatch batch = One<DeltaBatch>(c.Take(kA, 1));
  c.Deliver(kB, batch, 2);
  c.Heartbeat(kB, kA, 5);  // B: A:3; C reported nothing yet
  c.Tick(kA, 10);
  CHECK(c.store(kA).LogEntries(0, kA).size() == 3);

  c.Deliver(kC, DeltaBatch{kA, 0, 1, 1, {batch.deltas[0]}}, 11);
  c.Heartbeat(kC, kA, 12);  // C: A:1
  c.Tick(kA, 20);
  CHECK(c.store(kA).LogEntries(0, kA).size() == 2);
  CHECK(c.store(kA).LogFloor(0, kA) == 1);

  c.Heartbeat(kB, kA, 100);
  c.Tick(kA, 113);  // C silent for 101 ms: down, no longer holds truncation back
  CHECK(c.store(kA).LogEntries(0, kA).empty());
  // C, back, asks for what it lacks and gets a state transfer.
  c.Deliver(kA, CatchUpRequest{kC, 0, kA, 1}, 120);
  CHECK(One<CatchUpReply>(c.Take(kA, 120)).kind == CatchUpReply::Kind::kState);
}

TEST_CASE("Core: WAIT counts the other datacenters where some node applied each write", "[unit]") {
  // S in dc0; dc1 has two nodes (B1 holds p0, B2 holds p1); C in dc2; D in dc3.
  constexpr ReplicaId kS = 1, kB1 = 2, kB2 = 3, kD = 4;
  Cluster c({{kS, 0}, {kB1, 1}, {kB2, 1}, {kC, 2}, {kD, 3}}, {{kS, kB1, kC}, {kS, kB2, kD}},
            Quiet());
  const uint64_t s0 = c.Incr(kS, 0, 1, 1).last;
  const uint64_t s1 = c.Incr(kS, 1, 1, 1).last;
  auto batches = All<DeltaBatch>(c.Take(kS, 1));
  const std::vector<std::pair<uint32_t, uint64_t>> w0 = {{0, s0}}, both = {{0, s0}, {1, s1}};
  CHECK(c.core(kS).DcsThatApplied({}) == 3);
  CHECK(c.core(kS).DcsThatApplied(w0) == 0);

  c.Deliver(kB1, batches[0], 2);
  c.Heartbeat(kB1, kS, 3);
  CHECK(c.core(kS).DcsThatApplied(w0) == 1);
  CHECK(c.core(kS).DcsThatApplied(both) == 0);  // dc1 has not applied the p1 write yet

  c.Deliver(kB2, batches[1], 4);
  c.Heartbeat(kB2, kS, 5);
  CHECK(c.core(kS).DcsThatApplied(both) == 1);  // dc1, by two different nodes

  c.Deliver(kC, batches[0], 6);
  c.Heartbeat(kC, kS, 7);
  CHECK(c.core(kS).DcsThatApplied(w0) == 2);
  CHECK(c.core(kS).DcsThatApplied(both) == 1);  // dc2 holds no replica of p1
  CHECK(c.core(kS).DcsThatApplied({{0, s0 + 1}}) == 0);
}

TEST_CASE("Core: replication lag runs from local commit to the peer's report", "[unit]") {
  Cluster c = Cluster::ThreeDcs(Quiet(), 1);
  c.Incr(kA, 0, 100, 1);
  c.Incr(kA, 0, 110, 1);
  const DeltaBatch batch = One<DeltaBatch>(c.Take(kA, 110));
  c.Deliver(kB, batch, 120);
  c.Heartbeat(kB, kA, 130);
  auto peers = c.core(kA).Peers(140);
  REQUIRE(peers.size() == 2);
  CHECK(peers[0].lag_ms == std::optional<uint64_t>(30));  // the oldest newly acknowledged
  CHECK(peers[0].pending_deltas == 0);
  CHECK(peers[1].lag_ms == std::nullopt);
  CHECK(peers[1].pending_deltas == 2);
  CHECK(peers[1].oldest_pending_ms == 40);

  c.Incr(kA, 0, 200, 1);
  c.Deliver(kB, One<DeltaBatch>(c.Take(kA, 200)), 201);
  c.Heartbeat(kB, kA, 205);
  CHECK(c.core(kA).Peers(205)[0].lag_ms == std::optional<uint64_t>(5));
}

TEST_CASE("Core: heartbeats follow applied batches promptly, at most every heartbeat_min_gap_ms",
          "[unit]") {
  Options o = Quiet();
  o.heartbeat_min_gap_ms = 5;
  Cluster c = Cluster::ThreeDcs(o, 2);
  c.Tick(kB, 0);  // the first, full heartbeat
  CHECK(One<Heartbeat>(c.Take(kB, 0)).partitions.size() == 2);

  c.Incr(kA, 1, 100, 1);
  c.Deliver(kB, One<DeltaBatch>(c.Take(kA, 100)), 100);
  auto out = c.Take(kB, 100);
  const Heartbeat hb = One<Heartbeat>(out);
  CHECK(out[0].kind == Outgoing::Kind::kPublishHeartbeat);
  REQUIRE(hb.partitions.size() == 1);  // only what changed
  CHECK(hb.partitions[0] == PartitionApplied{1, {{kA, 1}, {kB, 0}, {kC, 0}}});

  c.Incr(kA, 1, 102, 1);
  c.Deliver(kB, One<DeltaBatch>(c.Take(kA, 102)), 102);
  CHECK(All<Heartbeat>(c.Take(kB, 102)).empty());
  CHECK(c.core(kB).NextTickMs() == 105);
  c.Tick(kB, 105);
  CHECK(One<Heartbeat>(c.Take(kB, 105)).partitions[0].applied[0].second == 2);
}

TEST_CASE("Core: a restarted core resumes from the applied seqs its store committed", "[unit]") {
  Cluster c = Cluster::ThreeDcs(Quiet());
  c.Incr(kA, 0, 1, 1);
  c.Incr(kA, 0, 1, 1);
  c.Deliver(kB, One<DeltaBatch>(c.Take(kA, 1)), 2);
  c.Restart(kB, 10);  // crash: the core and anything unsent are gone
  CHECK(c.core(kB).Applied(0, kA) == 2);
  c.Incr(kA, 0, 11, 1);
  (void)c.Take(kA, 11);  // lost while B was down
  c.Heartbeat(kA, kB, 12);
  c.Tick(kB, 12);
  CHECK(One<CatchUpRequest>(c.Take(kB, 12)) == CatchUpRequest{kB, 0, kA, 2});

  // The origin restarts too and keeps numbering after what it committed.
  c.Restart(kA, 20);
  CHECK(c.Incr(kA, 0, 21, 1).first == 4);
  CHECK(One<DeltaBatch>(c.Take(kA, 21)).first_seq == 4);
}

TEST_CASE("Core: messages a peer has no business sending are rejected and change nothing",
          "[unit]") {
  // p0 on A, B, C; p1 on B and C only... and a stranger X.
  constexpr ReplicaId kX = 0x99;
  Cluster c({{kA, 0}, {kB, 1}, {kC, 2}, {kX, 3}}, {{kA, kB, kC}, {kB, kC, kX}}, Quiet());
  c.Incr(kB, 1, 1, 1);
  const DeltaBatch mine = One<DeltaBatch>(c.Take(kB, 1));
  const uint64_t before = c.core(kA).stats().rejected;
  c.Deliver(kA, mine, 2);                            // p1: A holds no replica
  c.Deliver(kB, mine, 2);                            // its own origin
  c.Deliver(kA, Heartbeat{kA, 0, {}}, 2);            // from itself
  c.Deliver(kA, Heartbeat{0x77, 0, {}}, 2);          // from a stranger
  c.Deliver(kA, CatchUpRequest{kX, 0, kA, 0}, 2);    // X holds no replica of p0
  c.Deliver(kA, CatchUpRequest{kB, 0, 0x77, 0}, 2);  // no such origin
  c.Deliver(kA, CatchUpReply{kB, 0, kA, 0, 9, CatchUpReply::Kind::kUpToDate, {}, {}, {}}, 2);
  c.Deliver(kA, CatchUpReply{kX, 0, kB, 0, 9, CatchUpReply::Kind::kUpToDate, {}, {}, {}}, 2);
  CHECK(c.core(kA).stats().rejected - before == 7);
  CHECK(c.core(kB).stats().rejected == 1);
  CHECK(c.Take(kA, 3).empty());
  CHECK(c.View(kA, 0).empty());
  // A heartbeat about partitions not shared is simply not used.
  c.Deliver(kA, Heartbeat{kB, 0, {{1, {{kB, 50}}}}}, 4);
  c.Tick(kA, 4);
  CHECK(All<CatchUpRequest>(c.Take(kA, 4)).empty());
  // A state transfer never raises the receiver's own seq.
  CatchUpReply state;
  state.from = state.origin = kB;
  state.responder_applied = 9;
  state.kind = CatchUpReply::Kind::kState;
  state.applied = {{kA, 40}, {kB, 9}};
  c.Deliver(kA, state, 5);
  CHECK(c.core(kA).Applied(0, kA) == 0);
  CHECK(c.core(kA).Applied(0, kB) == 9);
}

TEST_CASE("Core: Settled holds once every peer reported this node's applied vectors", "[unit]") {
  Cluster c = Cluster::ThreeDcs(Quiet(), 1);
  c.Incr(kA, 0, 1, 1);
  const DeltaBatch batch = One<DeltaBatch>(c.Take(kA, 1));
  for (ReplicaId to : {kB, kC}) c.Deliver(to, batch, 2);
  for (ReplicaId x : {kA, kB, kC}) {
    for (ReplicaId y : {kA, kB, kC}) {
      if (x != y) c.Heartbeat(x, y, 3);
    }
  }
  for (ReplicaId x : {kA, kB, kC}) {
    (void)c.Take(x, 3);
    CHECK(c.core(x).Settled());
  }
  c.Incr(kB, 0, 4, 1);
  CHECK_FALSE(c.core(kB).Settled());  // a pending batch
  (void)c.Take(kB, 4);
  CHECK_FALSE(c.core(kB).Settled());  // peers have not reported it
}

TEST_CASE("Core: a peer's restart drops its old reports; an older process of it is refused",
          "[unit]") {
  Cluster c({{kA, 0}, {kB, 1}}, {{kA, kB}}, Quiet());
  Heartbeat hb{kB, 0, {{0, {{kA, 0}, {kB, 0}}}}, /*incarnation=*/5};
  c.Deliver(kA, hb, 1);
  CHECK(c.core(kA).stats().peer_restarts == 0);
  hb.incarnation = 4;  // a process of B older than one already heard
  c.Deliver(kA, hb, 2);
  CHECK(c.core(kA).stats().stale_incarnations == 1);
  hb.incarnation = 6;  // B restarted: the old process fell silent (down_after_ms)
  c.Deliver(kA, hb, 1 + Quiet().down_after_ms);
  CHECK(c.core(kA).stats().peer_restarts == 1);
  CHECK(c.core(kA).stats().stale_incarnations == 1);
  CHECK(c.core(kA).stats().duplicate_identities == 0);
}

TEST_CASE("Core: a second live process with a peer's id is refused until the first falls silent",
          "[unit]") {
  Options o = Quiet();
  o.down_after_ms = 1000;
  Cluster c({{kA, 0}, {kB, 1}}, {{kA, kB}}, o);
  Heartbeat first{kB, 0, {{0, {{kA, 0}, {kB, 3}}}}, /*incarnation=*/5};
  Heartbeat second{kB, 0, {{0, {{kA, 0}, {kB, 9}}}}, /*incarnation=*/7};
  c.Deliver(kA, first, 10);
  // Both processes talk: the newer one looks like a restart, but the accepted
  // one was heard less than down_after_ms ago, so it is a duplicate.
  for (uint64_t t = 100; t < 3000; t += 100) {
    c.Deliver(kA, second, t);
    c.Deliver(kA, first, t + 50);
  }
  CHECK(c.core(kA).stats().duplicate_identities == 29);
  CHECK(c.core(kA).stats().peer_restarts == 0);
  // The first falls silent: after down_after_ms the newer one is a restart.
  c.Deliver(kA, second, 2950 + 999);
  CHECK(c.core(kA).stats().peer_restarts == 0);
  c.Deliver(kA, second, 2950 + 1000);
  CHECK(c.core(kA).stats().peer_restarts == 1);
  CHECK(c.core(kA).stats().duplicate_identities == 29);
}

TEST_CASE("Core: a fast restart is taken once the old process has been silent, with no alarm",
          "[unit]") {
  Options o = Quiet();
  o.down_after_ms = 1000;
  Cluster c({{kA, 0}, {kB, 1}}, {{kA, kB}}, o);
  Heartbeat old_process{kB, 0, {{0, {{kA, 0}, {kB, 0}}}}, /*incarnation=*/5};
  Heartbeat restarted = old_process;
  restarted.incarnation = 8;
  c.Deliver(kA, old_process, 100);  // then killed
  for (uint64_t t = 300; t < 1100; t += 100) c.Deliver(kA, restarted, t);
  CHECK(c.core(kA).stats().peer_restarts == 0);
  c.Deliver(kA, restarted, 1100);
  CHECK(c.core(kA).stats().peer_restarts == 1);
  CHECK(c.core(kA).stats().duplicate_identities == 0);
  CHECK(c.core(kA).stats().stale_incarnations == 0);
}

TEST_CASE("Core: after a start, own writes wait until every live peer reported the own stream",
          "[unit]") {
  Cluster c({{kA, 0}, {kB, 1}, {kC, 2}}, {{kA, kB, kC}, {kA}}, Quiet());
  c.core(kA).FenceOwnStreams();
  CHECK_FALSE(c.core(kA).OwnWritable(0));
  CHECK(c.core(kA).OwnWritable(1));  // no other replica: nobody else holds its dots
  CHECK_FALSE(c.core(kA).OwnStreamsKnown());
  c.Deliver(kA, Heartbeat{kB, 0, {{0, {{kA, 0}, {kB, 0}, {kC, 0}}}}, 1}, 1);
  CHECK_FALSE(c.core(kA).OwnWritable(0));  // C has not reported yet
  c.Deliver(kA, Heartbeat{kC, 0, {{0, {{kA, 0}, {kB, 0}, {kC, 0}}}}, 1}, 2);
  CHECK(c.core(kA).OwnWritable(0));
  CHECK(c.core(kA).OwnStreamsKnown());
}

TEST_CASE("Core: a peer that holds more of the own stream than the store keeps the fence up",
          "[unit]") {
  Cluster c({{kA, 0}, {kB, 1}}, {{kA, kB}}, Quiet());
  c.core(kA).FenceOwnStreams();
  // B applied A's deltas up to 7; A's store has none: they were lost here.
  c.Deliver(kA, Heartbeat{kB, 0, {{0, {{kA, 7}, {kB, 0}}}}, 1}, 1);
  CHECK(c.core(kA).OwnStreamsKnown());
  CHECK_FALSE(c.core(kA).OwnWritable(0));
  CHECK(c.core(kA).stats().own_recoveries == 1);
  c.Tick(kA, 50);
  // A asks B for its own stream back (B answers with its state).
  const auto requests = All<CatchUpRequest>(c.Take(kA, 50));
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].origin == kA);
  CHECK(requests[0].after == 0);
}

TEST_CASE("Core: own deltas a peer holds but has not applied keep the fence up until it has",
          "[unit]") {
  // A peer reports what it holds out of order or waiting for another stream
  // (a removal whose covered dots are not there yet).
  Options o = Quiet();
  o.heartbeat_interval_ms = 100;
  Cluster c({{kA, 0}, {kB, 1}}, {{kA, kB}}, o);
  c.Incr(kA, 0, 1, 5);
  c.Take(kA, 1);  // batch 1 is lost on its way to B
  c.Incr(kA, 0, 2, 6);
  c.Deliver(kB, One<DeltaBatch>(c.Take(kA, 2)), 2);
  CHECK(c.core(kB).Applied(0, kA) == 0);
  c.Tick(kB, 200);
  const auto heartbeats = All<Heartbeat>(c.Take(kB, 200));
  REQUIRE(!heartbeats.empty());
  REQUIRE(heartbeats.back().partitions.size() == 1);
  CHECK(heartbeats.back().partitions[0].applied == AppliedVector{{kA, 0}, {kB, 0}});
  CHECK(heartbeats.back().partitions[0].held == AppliedVector{{kA, 2}});

  // A node whose store lost its own deltas 1..2 (restored, say) hears that
  // report: dots 1 and 2 are taken, though B applied neither, so it must not
  // number new deltas from 1 (B would drop them as the ones it holds).
  Cluster restored({{kA, 0}, {kB, 1}}, {{kA, kB}}, Quiet());
  restored.core(kA).FenceOwnStreams();
  restored.Deliver(kA, heartbeats.back(), 10);
  CHECK(restored.core(kA).OwnStreamsKnown());
  CHECK_FALSE(restored.core(kA).OwnWritable(0));
  restored.Tick(kA, 50);
  CHECK(All<CatchUpRequest>(restored.Take(kA, 50)).empty());  // B has nothing to send yet
  // Once B applied them (its catch-up found delta 1), A takes them back.
  restored.Deliver(kA, Heartbeat{kB, 300, {{0, {{kA, 2}, {kB, 0}}}}, 1}, 300);
  CHECK_FALSE(restored.core(kA).OwnWritable(0));
  restored.Tick(kA, 400);
  const auto requests = All<CatchUpRequest>(restored.Take(kA, 400));
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].origin == kA);
  CHECK(requests[0].after == 0);
}

constexpr ReplicaId kD = 0xD;

// A, B, C hold p 0 (one partition); D, in C's DC, holds nothing yet.
Cluster FourNodes(Options options = {}) {
  return Cluster({{kA, 0}, {kB, 1}, {kC, 2}, {kD, 2}}, {{kA, kB, kC}}, options);
}

bool Empty(MemoryReplicaStore& store, uint32_t p) {
  bool empty = true;
  store.State(p).Scan(crdt::Scope::Partition(), [&](const crdt::Path&, const crdt::Atom&) {
    empty = false;
    return false;
  });
  return empty;
}

TEST_CASE(
    "Core: a move fills the new owner from the old one before it serves, and the old one "
    "deletes only after",
    "[unit]") {
  Cluster c = FourNodes();
  for (int i = 0; i < 20; ++i) c.Incr(kC, 0, 1, 1, "k" + std::to_string(i % 4));
  c.Incr(kA, 0, 1, 7);
  uint64_t now = c.Pump(1, 300);
  const std::string before = c.View(kA, 0);
  REQUIRE(c.View(kC, 0) == before);

  c.Reconfigure({{kA, kB, kD}}, 1, now);
  CHECK(c.core(kD).Holds(0));
  CHECK_FALSE(c.core(kD).Serving(0));  // not before it has caught up
  CHECK_FALSE(c.core(kD).OwnWritable(0));
  CHECK(c.core(kC).Serving(0));  // the old owner serves until then
  CHECK_FALSE(c.core(kC).Drained());
  REQUIRE(c.core(kD).Moves().size() == 1);
  CHECK(c.core(kD).Moves()[0].role == MoveStatus::Role::kJoining);
  CHECK(c.core(kD).Moves()[0].started_ms == now);
  // A write at the old owner during the move reaches the new owner.
  c.Incr(kC, 0, now, 100, "late");
  // An epoch already given is refused.
  Membership stale = c.core(kA).membership();
  CHECK_FALSE(c.core(kA).Reconfigure(c.store(kA), stale, now).ok());

  now = c.Pump(now, 2000);
  CHECK(c.core(kD).Serving(0));
  CHECK(c.core(kD).OwnWritable(0));
  CHECK(c.View(kD, 0) == c.View(kA, 0));
  CHECK(c.View(kD, 0).find("late") != std::string::npos);
  CHECK_FALSE(c.core(kC).Holds(0));
  CHECK(Empty(c.store(kC), 0));
  CHECK(c.core(kC).Drained());
  CHECK(c.core(kC).stats().moves_left == 1);
  CHECK(c.core(kD).stats().moves_joined == 1);
  for (ReplicaId id : {kA, kB, kD}) {
    CHECK(c.core(id).Moves().empty());
    CHECK(c.core(id).Epoch() == 1);
  }
  // C's stream stays an origin of p at the new owner (its dots are there).
  CHECK(c.core(kD).Applied(0, kC) == 21);
}

TEST_CASE(
    "Core: a move resumes after the old owner restarts mid-way, and a cancellation brings "
    "the partition back",
    "[unit]") {
  Options options;
  options.move_delete_atoms_per_tick = 1;
  Cluster c = FourNodes(options);
  for (int i = 0; i < 10; ++i) c.Incr(kC, 0, 1, 1, "k" + std::to_string(i));
  uint64_t now = c.Pump(1, 300);
  c.Reconfigure({{kA, kB, kD}}, 1, now);
  // Run until C is deleting, then crash and restart it: it resumes from its
  // move record (its core is built with the first placement, as at start).
  for (int i = 0; i < 400; ++i) {
    now = c.Pump(now, 5);
    const auto moves = c.core(kC).Moves();
    if (!moves.empty() && moves[0].role == MoveStatus::Role::kDeleting) break;
  }
  REQUIRE(c.core(kC).Moves().size() == 1);
  CHECK(c.core(kC).Moves()[0].role == MoveStatus::Role::kDeleting);
  c.Restart(kC, now, 0, 2);
  CHECK(c.core(kC).Epoch() == 1);
  REQUIRE(c.core(kC).Moves().size() == 1);
  CHECK(c.core(kC).Moves()[0].role == MoveStatus::Role::kDeleting);
  now = c.Pump(now, 2000);
  CHECK_FALSE(c.core(kC).Holds(0));
  CHECK(Empty(c.store(kC), 0));

  // The previous placement at a higher epoch: back on A, B, C, nothing lost.
  c.Incr(kD, 0, now, 5, "d");
  const std::string expected = c.View(kD, 0);
  c.Reconfigure({{kA, kB, kC}}, 2, now);
  now = c.Pump(now, 3000);
  CHECK(c.core(kC).Serving(0));
  CHECK(c.View(kC, 0) == expected);
  CHECK(c.View(kA, 0) == expected);
  CHECK_FALSE(c.core(kD).Holds(0));
  CHECK(Empty(c.store(kD), 0));
  CHECK(c.core(kD).Drained());
}

TEST_CASE(
    "Core: a leaver deletes only once every owner acknowledged holding its final, which an "
    "owner saves as soon as it hears it",
    "[unit]") {
  // Issue 14: C leaves p; A was down when C released (A's report from
  // before already covered all C had), or heard the release and crashed
  // before saving it. C exits once it deleted and says nothing again: A must
  // still be able to retire C after its restart.
  Cluster c = FourNodes();
  for (int i = 0; i < 10; ++i) c.Incr(kC, 0, 1, 1, "k" + std::to_string(i));
  uint64_t now = c.Pump(1, 300);
  c.Reconfigure({{kA, kB, kD}}, 1, now);
  auto role_of_c = [&] {
    const auto moves = c.core(kC).Moves();
    return moves.empty() ? MoveStatus::Role::kStaying : moves[0].role;
  };
  for (int i = 0; i < 400 && role_of_c() != MoveStatus::Role::kDraining; ++i) {
    now = c.Pump(now, 5);
  }
  REQUIRE(role_of_c() == MoveStatus::Role::kDraining);
  // A goes down before it acknowledged C's final: C keeps p, however long
  // (every report already covers what C had).
  c.Silence(kA, true);
  now = c.Pump(now, 3000);
  CHECK(role_of_c() == MoveStatus::Role::kDraining);
  CHECK_FALSE(c.core(kC).Drained());
  // GEOKV.MOVES names whom the drain waits for: A alone.
  REQUIRE(c.core(kC).Moves().size() == 1);
  CHECK(c.core(kC).Moves()[0].acknowledging == std::vector<ReplicaId>{kA});
  REQUIRE(c.core(kC).Holds(0));

  // A hears C's release, then crashes at once (its heartbeats lost) and C
  // falls silent for good: restarted, A still has C's final and retires C.
  replication::Heartbeat release;
  release.from = kC;
  release.sent_ms = now;
  release.epoch = 1;
  release.released = {{0, c.core(kC).Applied(0, kC)}};
  REQUIRE(release.released[0].second == 10);
  c.Deliver(kA, release, now);
  c.Restart(kA, now, 0, 2);
  c.Silence(kC, true);
  c.Silence(kA, false);
  REQUIRE(c.core(kA).Moves().size() == 1);
  now = c.Pump(now, 3000);
  CHECK(c.core(kA).Moves().empty());
  CHECK(c.core(kA).Epoch() == 1);

  // Once C hears A acknowledge its final (A's heartbeats name it), C deletes.
  c.Silence(kC, false);
  now = c.Pump(now, 3000);
  CHECK_FALSE(c.core(kC).Holds(0));
  CHECK(Empty(c.store(kC), 0));
  CHECK(c.core(kC).Drained());
  for (ReplicaId id : {kA, kB, kD}) CHECK(c.core(id).Moves().empty());
}

TEST_CASE(
    "Core: a node new to a running cluster joins from the placement before its epoch, and a "
    "core built with no placement refuses to move",
    "[unit]") {
  // D's core is built over an empty store with the placement in force
  // before the epoch that adds it (D in no replica set): it holds nothing,
  // then fills from the old owner and serves once caught up.
  Cluster c = FourNodes();
  for (int i = 0; i < 8; ++i) c.Incr(kC, 0, 1, 1, "k" + std::to_string(i));
  uint64_t now = c.Pump(1, 300);
  CHECK_FALSE(c.core(kD).Holds(0));
  CHECK(c.core(kD).Drained());
  c.Reconfigure({{kA, kB, kD}}, 1, now);
  now = c.Pump(now, 2000);
  CHECK(c.core(kD).Serving(0));
  CHECK(c.View(kD, 0) == c.View(kA, 0));
  CHECK(c.View(kD, 0).find("k7") != std::string::npos);

  // Built with no placement at all, a core cannot tell whom to fill from
  // (it would serve an empty partition): Reconfigure says so.
  MemoryReplicaStore store(1, size_t{1} << 20);
  Membership none;
  none.self = 0xE;
  none.dc_of = {{0xE, 0}};
  none.replicas.assign(1, {});
  ReplicationCore core(none, Options{}, store, now);
  Membership next = c.core(kA).membership();
  next.self = 0xE;
  next.dc_of[0xE] = 0;
  next.epoch = 2;
  next.replicas = {{kA, kB, 0xE}};
  const Status s = core.Reconfigure(store, next, now);
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("placement in force before") != std::string::npos);
  CHECK_FALSE(core.Holds(0));
}

TEST_CASE("Core: epochs given while a move is under way are adopted one after the other, in order",
          "[unit]") {
  Options options;
  options.reconfigure_queue_max = 2;
  Cluster c = FourNodes(options);
  for (int i = 0; i < 10; ++i) c.Incr(kC, 0, 1, 1, "k" + std::to_string(i));
  uint64_t now = c.Pump(1, 300);
  const std::string expected = c.View(kA, 0);
  // Epoch 1 moves p from C to D; 2 brings it back; 3 moves it to D again.
  // Every node is given all three at once: the moves of 1 are under way, so
  // 2 and 3 wait, and a fourth is refused (the queue holds 2).
  c.Reconfigure({{kA, kB, kD}}, 1, now);
  c.Reconfigure({{kA, kB, kC}}, 2, now);
  c.Reconfigure({{kA, kB, kD}}, 3, now);
  CHECK(c.core(kC).Epoch() == 1);
  CHECK(c.core(kD).Epoch() == 1);
  Membership fourth = c.core(kA).membership();
  fourth.epoch = 4;
  const Status busy = c.core(kA).Reconfigure(c.store(kA), fourth, now);
  CHECK(busy.code() == Status::Code::kBusy);
  // An epoch at or below the latest queued one is refused too.
  fourth.epoch = 3;
  CHECK_FALSE(c.core(kB).Reconfigure(c.store(kB), fourth, now).ok());
  // C adopts 2 only once its part in 1 is over: it has deleted p, so 2
  // makes it a joiner again (and 3 a leaver once more); D the reverse.
  bool c_rejoined = false;
  for (int i = 0; i < 2000 && c.core(kD).Epoch() < 3; ++i) {
    now = c.Pump(now, 5);
    c_rejoined |= c.core(kC).Epoch() == 2 && c.core(kC).Holds(0);
  }
  now = c.Pump(now, 2000);
  CHECK(c_rejoined);
  for (ReplicaId id : {kA, kB, kC, kD}) {
    CHECK(c.core(id).Epoch() == 3);
    CHECK(c.core(id).Moves().empty());
  }
  CHECK(c.core(kD).Serving(0));
  CHECK(c.View(kD, 0) == expected);
  CHECK(c.View(kA, 0) == expected);
  CHECK_FALSE(c.core(kC).Holds(0));
  CHECK(Empty(c.store(kC), 0));
  CHECK(c.core(kC).stats().moves_left == 2);
  CHECK(c.core(kD).stats().moves_joined == 2);
}

// Gives nodes `to` the placement `replicas` at `epoch`, forgetting `forgotten`.
void GiveForgetting(Cluster& c, std::vector<ReplicaId> to, std::vector<std::vector<ReplicaId>> replicas,
                    uint64_t epoch, std::set<ReplicaId> forgotten, uint64_t now) {
  for (ReplicaId id : to) {
    Membership m = c.core(id).membership();
    m.epoch = epoch;
    m.replicas = replicas;
    m.forgotten = forgotten;
    REQUIRE(c.core(id).Reconfigure(c.store(id), m, now).ok());
  }
}

TEST_CASE("Core: a join whose new owner never comes up ends once a later epoch forgets it",
          "[unit]") {
  // D's machine is lost before it ever joins: the move of p from C to D
  // waits for D, however long. The cancellation (the placement before, at
  // epoch 2) would wait behind it; forgetting D lets it run.
  Cluster c = FourNodes();
  for (int i = 0; i < 10; ++i) c.Incr(kC, 0, 1, 1, "k" + std::to_string(i));
  uint64_t now = c.Pump(1, 300);
  c.Silence(kD, true);
  c.Reconfigure({{kA, kB, kD}}, 1, now);
  now = c.Pump(now, 3000);
  REQUIRE(c.core(kC).Moves().size() == 1);
  CHECK(c.core(kC).Moves()[0].role == MoveStatus::Role::kLeaving);
  CHECK(c.core(kC).Serving(0));
  CHECK(c.core(kA).Moves().size() == 1);
  c.Incr(kA, 0, now, 5, "during");
  now = c.Pump(now, 300);
  const std::string expected = c.View(kA, 0);
  REQUIRE(expected.find("during") != std::string::npos);

  // Without the forget the epoch waits (the queue rule) ...
  GiveForgetting(c, {kA, kB, kC}, {{kA, kB, kC}}, 2, {}, now);
  now = c.Pump(now, 1000);
  CHECK(c.core(kA).Epoch() == 1);
  CHECK(c.core(kC).Epoch() == 1);
  // ... and with it, every move ends: p back on A, B, C, nothing lost.
  GiveForgetting(c, {kA, kB, kC}, {{kA, kB, kC}}, 3, {kD}, now);
  now = c.Pump(now, 4000);
  for (ReplicaId id : {kA, kB, kC}) {
    INFO("node " << id);
    CHECK(c.core(id).Epoch() == 3);
    CHECK(c.core(id).Moves().empty());
    CHECK(c.core(id).Serving(0));
    CHECK(c.View(id, 0) == expected);
  }
  // A forgotten node in a replica set is refused.
  Membership bad = c.core(kA).membership();
  bad.epoch = 4;
  bad.replicas = {{kA, kB, kD}};
  bad.forgotten = {kD};
  CHECK_FALSE(c.core(kA).Reconfigure(c.store(kA), bad, now).ok());
}

TEST_CASE("Core: a removed node lost for good mid-move no longer holds its partitions' moves",
          "[unit]") {
  // C is removed (p goes from C to D) and its machine is lost at once: D
  // fills from A or B, but every owner waits for C's final seq, which never
  // comes. Forgetting C ends the moves; what C had shipped is kept.
  Cluster c = FourNodes();
  for (int i = 0; i < 10; ++i) c.Incr(kC, 0, 1, 1, "k" + std::to_string(i));
  uint64_t now = c.Pump(1, 300);
  const std::string expected = c.View(kA, 0);
  c.Silence(kC, true);
  c.Reconfigure({{kA, kB, kD}}, 1, now);
  now = c.Pump(now, 3000);
  CHECK(c.core(kD).Serving(0));
  CHECK(c.View(kD, 0) == expected);
  CHECK(c.core(kA).Moves().size() == 1);
  CHECK(c.core(kD).Moves().size() == 1);

  GiveForgetting(c, {kA, kB, kD}, {{kA, kB, kD}}, 2, {kC}, now);
  now = c.Pump(now, 2000);
  for (ReplicaId id : {kA, kB, kD}) {
    INFO("node " << id);
    CHECK(c.core(id).Epoch() == 2);
    CHECK(c.core(id).Moves().empty());
    CHECK(c.View(id, 0) == expected);
  }
}

}  // namespace
}  // namespace geokv::replication
