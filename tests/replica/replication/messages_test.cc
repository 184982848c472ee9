// Replication messages: round trips, malformed encodings rejected with a
// reason, and hostile bytes ([hostile]: also run under ASan and UBSan by make
// test): random and mutated encodings never crash the decoder, and whatever
// decodes is safe to feed to a ReplicationCore.
#include "replica/replication/messages.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <msgpack.hpp>

#include "crdt/chunk.h"
#include "crdt/join.h"
#include "random_ops.h"
#include "replica/replication/core.h"
#include "replica/replication/memory_store.h"
#include "seed.h"

namespace geokv::replication {
namespace {

using test::RandomOperation;
using test::TestReplica;

constexpr crdt::ReplicaId kA = 0xA, kB = 0xB, kC = 0xC;
constexpr uint32_t kQ = 4;

// Valid messages of every kind, from a short random history of three replicas
// of one partition (so deltas remove each other's atoms).
std::vector<Message> MakeCorpus(Prng& rng) {
  TestReplica a(kA), b(kB), c(kC);
  std::vector<crdt::Delta> from_a;
  for (int i = 0; i < 20; ++i) {
    TestReplica* at[] = {&a, &b, &c};
    TestReplica& r = *at[rng.Below(3)];
    crdt::Delta d = RandomOperation(rng, r);
    for (TestReplica* other : at) {
      if (other != &r && rng.Chance(80)) other->Receive(d);
    }
    if (r.id == kA) from_a.push_back(d);
  }
  if (from_a.empty()) from_a.push_back(RandomOperation(rng, a));
  const uint32_t p = static_cast<uint32_t>(rng.Below(kQ));
  std::vector<Message> corpus;

  DeltaBatch batch;
  batch.origin = kA;
  batch.partition = p;
  const size_t from = rng.Below(from_a.size());
  batch.deltas.assign(from_a.begin() + static_cast<std::ptrdiff_t>(from), from_a.end());
  batch.first_seq = batch.deltas.front().first;
  batch.last_seq = batch.deltas.back().last;
  corpus.push_back(batch);

  Heartbeat hb;
  hb.from = kA;
  hb.sent_ms = rng.Next();
  for (uint32_t q = 0; q < kQ; ++q) {
    if (rng.Chance(70)) hb.partitions.push_back({q, {{kA, rng.Below(30)}, {kB, rng.Below(30)}}});
  }
  corpus.push_back(hb);
  // A move's heartbeat: releases, and acknowledgements of the victim's finals.
  hb.epoch = 1;
  hb.released = {{p, rng.Below(30)}};
  hb.finals_held = {{p, kA}, {p, kB}};
  corpus.push_back(hb);
  hb.move_bytes_left = rng.Next();
  corpus.push_back(hb);
  hb.partition_bytes = rng.Next();
  corpus.push_back(hb);

  corpus.push_back(CatchUpRequest{kA, p, kB, rng.Below(10)});

  CatchUpReply up;
  up.from = kA;
  up.partition = p;
  up.origin = kA;
  up.after = 3;
  up.responder_applied = 3;
  corpus.push_back(up);

  CatchUpReply deltas = up;
  deltas.kind = CatchUpReply::Kind::kDeltas;
  deltas.after = batch.first_seq - 1;
  deltas.responder_applied = batch.last_seq;
  deltas.batch = batch;
  corpus.push_back(deltas);

  CatchUpReply state = up;
  state.kind = CatchUpReply::Kind::kState;
  state.after = 0;
  state.snapshot = crdt::TakeSnapshot(a.state);
  state.applied = {{kA, a.state.Context().Contiguous(kA)},
                   {kB, a.state.Context().Contiguous(kB)},
                   {kC, a.state.Context().Contiguous(kC)}};
  corpus.push_back(state);

  // A later chunk: a range in the middle, with its atoms.
  if (state.snapshot.atoms.size() >= 2) {
    CatchUpReply chunk = state;
    const auto& [first_path, first_atom] = chunk.snapshot.atoms.front();
    chunk.range_from = crdt::PositionOf(first_path, first_atom);
    const auto& [last_path, last_atom] = chunk.snapshot.atoms.back();
    chunk.range_to = crdt::PositionOf(last_path, last_atom);
    chunk.snapshot.atoms.pop_back();
    corpus.push_back(chunk);
    corpus.push_back(CatchUpRequest{kA, p, kB, rng.Below(10), chunk.range_to});
  }

  // Anti-entropy: tree and atoms requests, their answers and refusals.
  AaeRequest tree;
  tree.from = kA;
  tree.partition = p;
  tree.exchange = rng.Next();
  tree.applied = state.applied;
  for (uint64_t& h : tree.branches) h = rng.Next();
  corpus.push_back(tree);
  AaeRequest atoms = tree;
  atoms.kind = AaeRequest::Kind::kAtoms;
  atoms.branches = {};  // a tree request's only
  atoms.leaves = {0, static_cast<uint32_t>(1 + rng.Below(kAaeLeaves - 2)), kAaeLeaves - 1};
  if (!state.snapshot.atoms.empty()) {
    const auto& [path, atom] = state.snapshot.atoms.back();
    atoms.range_to = crdt::PositionOf(path, atom);
  }
  corpus.push_back(atoms);
  AaeReply tree_reply;
  tree_reply.from = kA;
  tree_reply.partition = p;
  tree_reply.exchange = tree.exchange;
  tree_reply.applied = state.applied;
  for (uint32_t br = 0; br < kAaeBranches; br += 1 + static_cast<uint32_t>(rng.Below(8))) {
    AaeLeafHashes leaves;
    for (uint64_t& h : leaves) h = rng.Next();
    tree_reply.branch_leaves.emplace_back(br, leaves);
  }
  corpus.push_back(tree_reply);
  AaeReply atoms_reply = tree_reply;
  atoms_reply.kind = AaeRequest::Kind::kAtoms;
  atoms_reply.branch_leaves.clear();
  atoms_reply.snapshot = state.snapshot;
  atoms_reply.complete = rng.Chance(50);
  corpus.push_back(atoms_reply);
  AaeReply refusal = atoms_reply;
  refusal.status = rng.Chance(50) ? AaeReply::Status::kVectorsDiffer : AaeReply::Status::kNotReady;
  refusal.snapshot = crdt::Snapshot{};
  refusal.complete = true;
  corpus.push_back(refusal);
  return corpus;
}

TEST_CASE("Messages: every kind round-trips", "[unit]") {
  const uint64_t seed = test::TestSeed();
  for (int c = 0; c < test::CaseCount(100); ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed + c);
    for (const Message& m : MakeCorpus(rng)) {
      INFO(MessageKindName(m));
      auto decoded = DecodeMessage(EncodeMessage(m));
      REQUIRE(decoded.ok());
      CHECK(*decoded == m);
    }
  }
}

TEST_CASE("Messages: a batch that carries its deltas' bytes encodes exactly as one that does not",
          "[unit]") {
  const uint64_t seed = test::TestSeed();
  for (int c = 0; c < test::CaseCount(20); ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed + c);
    const DeltaBatch plain = std::get<DeltaBatch>(MakeCorpus(rng).front());
    DeltaBatch carrying = plain;
    for (const crdt::Delta& d : plain.deltas) carrying.encoded.push_back(crdt::EncodeDelta(d));
    CHECK(carrying == plain);  // the bytes are a cache, not part of the value
    CHECK(EncodeMessage(carrying) == EncodeMessage(plain));
    CatchUpReply reply;
    reply.from = reply.origin = kA;
    reply.partition = plain.partition;
    reply.after = plain.first_seq - 1;
    reply.responder_applied = plain.last_seq;
    reply.kind = CatchUpReply::Kind::kDeltas;
    reply.batch = carrying;
    const std::string bytes = EncodeMessage(reply);
    reply.batch = plain;
    CHECK(bytes == EncodeMessage(reply));
  }
}

TEST_CASE("Messages: extreme values round-trip", "[unit]") {
  const uint64_t max = MessageLimits{}.max_seq;
  Heartbeat hb{UINT64_MAX, UINT64_MAX, {{0, {}}, {(1u << 16) - 1, {{0, max}, {UINT64_MAX, 0}}}}};
  auto decoded = DecodeMessage(EncodeMessage(hb));
  REQUIRE(decoded.ok());
  CHECK(std::get<Heartbeat>(*decoded) == hb);

  CatchUpRequest req{0, 0, UINT64_MAX, max};
  decoded = DecodeMessage(EncodeMessage(req));
  REQUIRE(decoded.ok());
  CHECK(std::get<CatchUpRequest>(*decoded) == req);
}

TEST_CASE("Messages: a heartbeat's epoch round-trips, and one without it decodes as epoch 0",
          "[unit]") {
  Heartbeat hb{7, 100, {{1, {{7, 3}}}}, 5};
  hb.epoch = 42;
  auto decoded = DecodeMessage(EncodeMessage(hb));
  REQUIRE(decoded.ok());
  CHECK(std::get<Heartbeat>(*decoded) == hb);

  // Epoch 0 is encoded in the earlier six-field form (what nodes without
  // epochs send and accept): a seventh field would be refused by them.
  hb.epoch = 0;
  const std::string old_form = EncodeMessage(hb);
  msgpack::object_handle handle = msgpack::unpack(old_form.data(), old_form.size());
  CHECK(handle.get().via.array.size == 6);
  decoded = DecodeMessage(old_form);
  REQUIRE(decoded.ok());
  CHECK(std::get<Heartbeat>(*decoded).epoch == 0);
  CHECK(std::get<Heartbeat>(*decoded) == hb);

  // Released partitions (a move's old owner) follow the epoch.
  hb.released = {{1, 9}, {3, 0}};
  decoded = DecodeMessage(EncodeMessage(hb));
  REQUIRE(decoded.ok());
  CHECK(std::get<Heartbeat>(*decoded) == hb);
  std::string bytes = EncodeMessage(hb);
  handle = msgpack::unpack(bytes.data(), bytes.size());
  CHECK(handle.get().via.array.size == 8);

  // Finals held (an owner's acknowledgements of leavers' finals) follow the
  // releases, which are then sent even empty; without finals, the 8-field form.
  hb.finals_held = {{1, kA}, {1, kB}, {4, kA}};
  bytes = EncodeMessage(hb);
  handle = msgpack::unpack(bytes.data(), bytes.size());
  CHECK(handle.get().via.array.size == 9);
  decoded = DecodeMessage(bytes);
  REQUIRE(decoded.ok());
  CHECK(std::get<Heartbeat>(*decoded) == hb);
  hb.released.clear();
  hb.epoch = 0;
  decoded = DecodeMessage(EncodeMessage(hb));
  REQUIRE(decoded.ok());
  CHECK(std::get<Heartbeat>(*decoded) == hb);
}

// The number of top-level elements of an encoded message.
size_t FieldCount(const std::string& bytes) {
  msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  return handle.get().via.array.size;
}

// Encodes hb, checks it has `fields` elements, and that it decodes as hb.
void CheckRoundTrip(const Heartbeat& hb, size_t fields) {
  const std::string bytes = EncodeMessage(hb);
  CHECK(FieldCount(bytes) == fields);
  auto decoded = DecodeMessage(bytes);
  REQUIRE(decoded.ok());
  CHECK(std::get<Heartbeat>(*decoded) == hb);
}

TEST_CASE(
    "Messages: a heartbeat's move_bytes_left and partition_bytes round-trip as a tenth and an "
    "eleventh field, each sent only when it or a later one is nonzero",
    "[unit]") {
  Heartbeat hb{7, 100, {{1, {{7, 3}}}}, 5};
  // move_bytes_left nonzero: the earlier optional fields go too (epoch 0,
  // empty lists).
  for (uint64_t bytes_left : {uint64_t{1}, uint64_t{123456789}, UINT64_MAX}) {
    hb.move_bytes_left = bytes_left;
    CheckRoundTrip(hb, 10);
  }
  hb.epoch = 3;
  hb.released = {{2, 8}};
  hb.finals_held = {{1, kA}};
  CheckRoundTrip(hb, 10);
  // partition_bytes nonzero: move_bytes_left goes too, even 0.
  for (uint64_t bytes_left : {uint64_t{0}, uint64_t{99}}) {
    for (uint64_t bytes : {uint64_t{1}, uint64_t{10'240}, UINT64_MAX}) {
      hb.move_bytes_left = bytes_left;
      hb.partition_bytes = bytes;
      CheckRoundTrip(hb, 11);
    }
  }
  // Zero: the form before each (nine fields here; six with nothing
  // optional), which decodes as 0.
  hb.partition_bytes = 0;
  CheckRoundTrip(hb, 10);
  hb.move_bytes_left = 0;
  CheckRoundTrip(hb, 9);
  CHECK(FieldCount(EncodeMessage(Heartbeat{7, 100, {}, 5})) == 6);
}

TEST_CASE("Messages: a partition's report carries what the sender holds unapplied only if any",
          "[unit]") {
  Heartbeat hb{7, 100, {{1, {{7, 3}, {9, 1}}}, {2, {{7, 0}}}}, 5};
  const std::string without = EncodeMessage(hb);
  hb.partitions[0].held = {{9, 4}};
  const std::string with = EncodeMessage(hb);
  auto decoded = DecodeMessage(with);
  REQUIRE(decoded.ok());
  CHECK(std::get<Heartbeat>(*decoded) == hb);
  // Reports without held deltas keep the two-element form.
  msgpack::object_handle handle = msgpack::unpack(without.data(), without.size());
  CHECK(handle.get().via.array.ptr[4].via.array.ptr[0].via.array.size == 2);
  handle = msgpack::unpack(with.data(), with.size());
  CHECK(handle.get().via.array.ptr[4].via.array.ptr[0].via.array.size == 3);
  CHECK(handle.get().via.array.ptr[4].via.array.ptr[1].via.array.size == 2);
}

// Packs an arbitrary msgpack array of the given objects.
template <typename... T>
std::string Pack(const T&... values) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(&buf);
  pk.pack_array(sizeof...(values));
  (pk.pack(values), ...);
  return std::string(buf.data(), buf.size());
}

crdt::Delta SimpleDelta(crdt::ReplicaId origin, uint64_t first, uint64_t last) {
  crdt::Delta d;
  d.origin = origin;
  d.first = first;
  d.last = last;
  return d;
}

std::string BatchBytes(crdt::ReplicaId origin, uint64_t first, uint64_t last,
                       const std::vector<crdt::Delta>& deltas) {
  DeltaBatch b{origin, 1, first, last, deltas};
  return EncodeMessage(b);
}

TEST_CASE("Messages: malformed encodings are rejected with a reason", "[unit]") {
  auto rejects = [](const std::string& bytes, const std::string& reason) {
    auto r = DecodeMessage(bytes);
    REQUIRE_FALSE(r.ok());
    INFO(r.status().message());
    CHECK(r.status().message().find(reason) != std::string::npos);
  };
  const crdt::Delta d1 = SimpleDelta(kA, 1, 1), d2 = SimpleDelta(kA, 2, 3);
  REQUIRE(DecodeMessage(BatchBytes(kA, 1, 3, {d1, d2})).ok());

  rejects(BatchBytes(kA, 1, 3, {d2, d1}), "not contiguous");
  rejects(BatchBytes(kA, 1, 4, {d1, d2}), "end before");
  rejects(BatchBytes(kA, 1, 2, {d1, d2}), "beyond the batch");
  rejects(BatchBytes(kB, 1, 3, {d1, d2}), "another origin");
  rejects(BatchBytes(kA, 1, 1, {}), "no delta");
  rejects(BatchBytes(kA, 2, 1, {d1}), "out of order");
  rejects(BatchBytes(kA, 0, 1, {d1}), "out of order");
  {
    crdt::Delta huge = SimpleDelta(kA, 1, 1);
    crdt::Removal r{crdt::Scope::Key("k"), {}};
    r.covered.InsertRange(kB, 1, UINT64_MAX);
    huge.removals.push_back(r);
    rejects(BatchBytes(kA, 1, 1, {huge}), "beyond max seq");
  }
  rejects(EncodeMessage(CatchUpRequest{kA, 0, kB, UINT64_MAX}), "beyond the largest seq");
  rejects(EncodeMessage(CatchUpRequest{kA, 1u << 16, kB, 0}), "partition out of range");
  rejects(EncodeMessage(Heartbeat{kA, 0, {{2, {}}, {1, {}}}}), "not ascending");
  rejects(EncodeMessage(Heartbeat{kA, 0, {{1, {{kB, 1}, {kA, 1}}}}}), "not ascending");
  {
    Heartbeat hb{kA, 0, {}, 1, 2};
    hb.finals_held = {{2, kA}, {1, kB}};
    rejects(EncodeMessage(hb), "finals held not ascending");
    hb.finals_held = {{1, kA}, {1, kA}};
    rejects(EncodeMessage(hb), "finals held not ascending");
    hb.finals_held = {{1u << 16, kA}};
    rejects(EncodeMessage(hb), "partition out of range");
    // A malformed entry (three elements).
    rejects(Pack(uint64_t{1}, uint64_t{2}, kA, uint64_t{0}, std::vector<int>{}, uint64_t{1},
                 uint64_t{2}, std::vector<int>{}, std::vector<std::vector<uint64_t>>{{1, kA, 3}}),
            "final held entry");
    // move_bytes_left (the tenth field) and partition_bytes (the eleventh)
    // must be uints; a twelfth field is refused.
    REQUIRE(DecodeMessage(Pack(uint64_t{1}, uint64_t{2}, kA, uint64_t{0}, std::vector<int>{},
                               uint64_t{1}, uint64_t{2}, std::vector<int>{}, std::vector<int>{},
                               uint64_t{0}))
                .ok());
    rejects(Pack(uint64_t{1}, uint64_t{2}, kA, uint64_t{0}, std::vector<int>{}, uint64_t{1},
                 uint64_t{2}, std::vector<int>{}, std::vector<int>{}, int64_t{-1}),
            "move bytes left");
    rejects(Pack(uint64_t{1}, uint64_t{2}, kA, uint64_t{0}, std::vector<int>{}, uint64_t{1},
                 uint64_t{2}, std::vector<int>{}, std::vector<int>{}, true),
            "move bytes left");
    rejects(Pack(uint64_t{1}, uint64_t{2}, kA, uint64_t{0}, std::vector<int>{}, uint64_t{1},
                 uint64_t{2}, std::vector<int>{}, std::vector<int>{}, std::vector<int>{}),
            "move bytes left");
    REQUIRE(DecodeMessage(Pack(uint64_t{1}, uint64_t{2}, kA, uint64_t{0}, std::vector<int>{},
                               uint64_t{1}, uint64_t{2}, std::vector<int>{}, std::vector<int>{},
                               uint64_t{5}, uint64_t{0}))
                .ok());
    rejects(Pack(uint64_t{1}, uint64_t{2}, kA, uint64_t{0}, std::vector<int>{}, uint64_t{1},
                 uint64_t{2}, std::vector<int>{}, std::vector<int>{}, uint64_t{5}, int64_t{-1}),
            "partition bytes");
    rejects(Pack(uint64_t{1}, uint64_t{2}, kA, uint64_t{0}, std::vector<int>{}, uint64_t{1},
                 uint64_t{2}, std::vector<int>{}, std::vector<int>{}, uint64_t{5}, true),
            "partition bytes");
    REQUIRE_FALSE(DecodeMessage(Pack(uint64_t{1}, uint64_t{2}, kA, uint64_t{0}, std::vector<int>{},
                                     uint64_t{1}, uint64_t{2}, std::vector<int>{},
                                     std::vector<int>{}, uint64_t{5}, uint64_t{7}, uint64_t{0}))
                      .ok());
  }

  {
    // 40 x 60,000 one-byte elements: each array is within the limits, the
    // whole would unpack to 2.4M objects.
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(&buf);
    pk.pack_array(5);
    for (unsigned v : {1u, 2u, 1u, 0u}) pk.pack(v);
    pk.pack_array(40);
    for (int i = 0; i < 40; ++i) {
      pk.pack_array(2);
      pk.pack(i);
      pk.pack_array(60'000);
      for (int j = 0; j < 60'000; ++j) pk.pack_nil();
    }
    rejects(std::string(buf.data(), buf.size()), "too many elements");
  }
  rejects(Pack(1u, 3u, 1u, std::map<int, int>{{1, 2}}, 3u, 4u), "a map");
  rejects("", "malformed");
  rejects(Pack(1, 9, 1, 2), "unknown kind");
  rejects(Pack(1, 3, 1, 2, 3), "wrong number of fields");
  rejects(Pack(1u, 3u, 1u, 2u, 3u, -4), "not an unsigned integer");
  rejects(Pack(1u), "without version and kind");
  CHECK(DecodeMessage(Pack(2u, 3u, 1u, 2u, 3u, 4u)).status().code() == Status::Code::kUnsupported);
  std::string ok = EncodeMessage(CatchUpRequest{kA, 0, kB, 0});
  rejects(ok + '\0', "trailing");
  rejects(ok.substr(0, ok.size() - 1), "malformed");
  {
    MessageLimits small;
    small.max_message_bytes = ok.size() - 1;
    CHECK_FALSE(DecodeMessage(ok, small).ok());
  }
  {
    CatchUpReply reply{kA, 0, kA, 0, 0, CatchUpReply::Kind::kUpToDate, {}, {}, {}};
    std::string bytes = EncodeMessage(reply);
    REQUIRE(DecodeMessage(bytes).ok());
    rejects(Pack(1u, 4u, 1u, 0u, 1u, 0u, 0u, 7u), "unknown reply kind");
    rejects(Pack(1u, 4u, 1u, 0u, 1u, 0u, 0u, 0u, 5u), "with a body");
    rejects(Pack(1u, 4u, 1u, 0u, 1u, 0u, 0u, 1u, 5u), "wrong size");
    rejects(Pack(1u, 4u, 1u, 0u, 1u, 0u, 0u, 2u, 5u, 6u), "whole-partition state reply");
  }
}

TEST_CASE("Messages: malformed anti-entropy requests and replies are rejected with a reason",
          "[hostile]") {
  auto rejects = [](const Message& m, const std::string& reason) {
    auto r = DecodeMessage(EncodeMessage(m));
    REQUIRE_FALSE(r.ok());
    INFO(r.status().message());
    CHECK(r.status().message().find(reason) != std::string::npos);
  };
  AaeRequest atoms;
  atoms.from = kA;
  atoms.kind = AaeRequest::Kind::kAtoms;
  atoms.leaves = {1, 2};
  REQUIRE(DecodeMessage(EncodeMessage(atoms)).ok());
  AaeRequest bad = atoms;
  bad.leaves = {2, 1};
  rejects(bad, "leaves not ascending");
  bad.leaves = {1, 1};
  rejects(bad, "leaves not ascending");
  bad.leaves = {kAaeLeaves};
  rejects(bad, "leaf out of range");
  bad.leaves = {};
  rejects(bad, "without a leaf");
  bad = atoms;
  bad.range_to = crdt::AtomPosition{};
  rejects(bad, "empty or reversed");
  bad = atoms;
  bad.partition = 1u << 16;
  rejects(bad, "partition out of range");
  bad = atoms;
  bad.applied = {{kB, 1}, {kA, 1}};
  rejects(bad, "not ascending");

  AaeReply tree;
  tree.from = kA;
  tree.branch_leaves = {{3, {}}, {7, {}}};
  REQUIRE(DecodeMessage(EncodeMessage(tree)).ok());
  AaeReply worse = tree;
  worse.branch_leaves = {{7, {}}, {3, {}}};
  rejects(worse, "branches not ascending");
  worse.branch_leaves = {{kAaeBranches, {}}};
  rejects(worse, "branch out of range");
  {
    // Leaf hashes of the wrong size, an unknown status, a refusal with a body.
    auto pack = [](auto&& body_writer, unsigned kind, unsigned status) {
      msgpack::sbuffer buf;
      msgpack::packer<msgpack::sbuffer> pk(&buf);
      pk.pack_array(9);
      for (unsigned v : {1u, 6u, 0xAu, 0u, 1u, kind, status}) pk.pack(v);
      pk.pack_array(0);
      body_writer(pk);
      return std::string(buf.data(), buf.size());
    };
    auto raw_rejects = [](const std::string& bytes, const std::string& reason) {
      auto r = DecodeMessage(bytes);
      REQUIRE_FALSE(r.ok());
      INFO(r.status().message());
      CHECK(r.status().message().find(reason) != std::string::npos);
    };
    raw_rejects(pack(
                    [](auto& pk) {
                      pk.pack_array(1);
                      pk.pack_array(2);
                      pk.pack(1u);
                      pk.pack_bin(3);
                      pk.pack_bin_body("abc", 3);
                    },
                    0u, 0u),
                "wrong size");
    raw_rejects(pack([](auto& pk) { pk.pack_array(0); }, 0u, 3u), "unknown aae status");
    raw_rejects(pack([](auto& pk) { pk.pack_array(0); }, 2u, 0u), "unknown aae request kind");
    raw_rejects(pack(
                    [](auto& pk) {
                      pk.pack_array(1);
                      pk.pack(1u);
                    },
                    0u, 1u),
                "refusal with a body");
    raw_rejects(pack(
                    [](auto& pk) {
                      pk.pack_array(2);
                      pk.pack_bin(0);
                      pk.pack(1u);
                    },
                    1u, 0u),
                "chunk");
    raw_rejects(pack(
                    [](auto& pk) {
                      pk.pack_array(2);
                      const std::string empty = crdt::EncodeSnapshot(crdt::Snapshot{});
                      pk.pack_bin(static_cast<uint32_t>(empty.size()));
                      pk.pack_bin_body(empty.data(), static_cast<uint32_t>(empty.size()));
                      pk.pack(2u);
                    },
                    1u, 0u),
                "complete is not 0 or 1");
  }
}

TEST_CASE("Messages: malformed state chunks and cursors are rejected with a reason", "[hostile]") {
  auto rejects = [](const std::string& bytes, const std::string& reason) {
    auto r = DecodeMessage(bytes);
    REQUIRE_FALSE(r.ok());
    INFO(r.status().message());
    CHECK(r.status().message().find(reason) != std::string::npos);
  };
  // A chunk of two members of "s", [s/a, s/c).
  crdt::Snapshot snap;
  snap.context.InsertRange(kA, 1, 3);
  const crdt::Path a{"s", crdt::Slot::kMember, "a"}, b{"s", crdt::Slot::kMember, "b"};
  crdt::Atom atom_a, atom_b;
  atom_a.dot = {kA, 1};
  atom_a.first = 1;
  atom_b.dot = {kA, 2};
  atom_b.first = 2;
  snap.atoms = {{a, atom_a}, {b, atom_b}};
  CatchUpReply chunk;
  chunk.from = chunk.origin = kA;
  chunk.kind = CatchUpReply::Kind::kState;
  chunk.range_from = crdt::PositionOf(a, atom_a);
  chunk.range_to = crdt::AtomPosition{{"s", crdt::Slot::kMember, "c"}, {}};
  chunk.snapshot = snap;
  chunk.applied = {{kA, 3}};
  REQUIRE(DecodeMessage(EncodeMessage(chunk)).ok());

  CatchUpReply reversed = chunk;
  std::swap(reversed.range_from, *reversed.range_to);
  rejects(EncodeMessage(reversed), "empty or reversed");
  CatchUpReply empty = chunk;
  empty.range_to = empty.range_from;
  rejects(EncodeMessage(empty), "empty or reversed");
  CatchUpReply outside = chunk;
  outside.range_from = crdt::PositionOf(b, atom_b);  // s/a lies before it
  rejects(EncodeMessage(outside), "outside the chunk's range");
  CatchUpReply beyond = chunk;
  beyond.range_to = crdt::PositionOf(b, atom_b);  // s/b is not before it
  rejects(EncodeMessage(beyond), "outside the chunk's range");
  CatchUpReply unseen = chunk;
  unseen.snapshot.context = crdt::DotContext{};
  rejects(EncodeMessage(unseen), "not in the snapshot's context");
  CatchUpReply far = chunk;
  far.range_from.dot.counter = UINT64_MAX;
  rejects(EncodeMessage(far), "beyond the largest seq");
  CatchUpReply unordered = chunk;
  std::swap(unordered.snapshot.atoms[0], unordered.snapshot.atoms[1]);
  rejects(EncodeMessage(unordered), "not in order");

  // The body's shapes: positions of five, a valid slot, an end of [] or a position.
  const std::string chunk_bin = crdt::EncodeSnapshot(snap);
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(&buf);
  auto body = [&](auto&& pack_from, auto&& pack_to) {
    buf.clear();
    pk.pack_array(12);
    for (uint64_t v :
         {uint64_t{1}, uint64_t{4}, kA, uint64_t{0}, kA, uint64_t{0}, uint64_t{3}, uint64_t{3}}) {
      pk.pack_uint64(v);
    }
    pack_from();
    pack_to();
    pk.pack_bin(static_cast<uint32_t>(chunk_bin.size()));
    pk.pack_bin_body(chunk_bin.data(), static_cast<uint32_t>(chunk_bin.size()));
    pk.pack_array(2);
    pk.pack_uint64(kA);
    pk.pack_uint64(3);
    return std::string(buf.data(), buf.size());
  };
  auto position = [&](uint64_t slot, size_t fields) {
    return [&pk, slot, fields] {
      pk.pack_array(static_cast<uint32_t>(fields));
      pk.pack_bin(1);
      pk.pack_bin_body("s", 1);
      pk.pack_uint64(slot);
      pk.pack_bin(0);
      pk.pack_bin_body("", 0);
      pk.pack_uint64(0);
      if (fields > 4) pk.pack_uint64(0);
    };
  };
  auto end = [&] { pk.pack_array(0); };
  REQUIRE(DecodeMessage(body(position(2, 5), end)).ok());
  rejects(body(position(9, 5), end), "unknown slot");
  rejects(body(position(2, 4), end), "wrong number of elements");
  rejects(body(end, end), "wrong number of elements");  // the start is never the end
  rejects(body(position(2, 5), [&] { pk.pack_uint64(7); }), "not an array");

  // A cursor in a request: the same position rules.
  CatchUpRequest req{kB, 0, kA, 0, crdt::AtomPosition{{"s", crdt::Slot::kMember, "x"}, {kA, 9}}};
  auto decoded = DecodeMessage(EncodeMessage(req));
  REQUIRE(decoded.ok());
  CHECK(std::get<CatchUpRequest>(*decoded) == req);
  req.cursor->dot.counter = UINT64_MAX;
  rejects(EncodeMessage(req), "beyond the largest seq");
}

TEST_CASE("Messages: a transfer record round-trips, and a damaged one is refused", "[unit]") {
  TransferRecord record;
  record.origin = kB;
  record.cursor = crdt::AtomPosition{{"s", crdt::Slot::kMember, "m"}, {kA, 7}};
  record.first_context.InsertRange(kA, 1, 9);
  record.first_context.InsertRange(kB, 4, 4);
  record.first_applied = {{kA, 9}, {kB, 0}};
  const std::string bytes = EncodeTransferRecord(record);
  auto decoded = DecodeTransferRecord(bytes);
  REQUIRE(decoded.ok());
  CHECK(*decoded == record);
  CHECK_FALSE(DecodeTransferRecord(bytes.substr(0, bytes.size() - 1)).ok());
  CHECK_FALSE(DecodeTransferRecord("").ok());
  CHECK_FALSE(DecodeTransferRecord(Pack(1u, 2u, 3u)).ok());

  // With the receiver's settled context (what it serves while the transfer
  // is under way); a record written without it still decodes, without one.
  TransferRecord with_start = record;
  with_start.settled = crdt::DotContext{};
  with_start.settled->InsertRange(kB, 1, 3);
  const std::string longer = EncodeTransferRecord(with_start);
  auto decoded_start = DecodeTransferRecord(longer);
  REQUIRE(decoded_start.ok());
  CHECK(*decoded_start == with_start);
  CHECK_FALSE(decoded->settled.has_value());
  CHECK_FALSE(DecodeTransferRecord(longer.substr(0, longer.size() - 1)).ok());

  // A rebuild's (restore) record.
  TransferRecord restore = with_start;
  restore.restore = true;
  auto decoded_restore = DecodeTransferRecord(EncodeTransferRecord(restore));
  REQUIRE(decoded_restore.ok());
  CHECK(*decoded_restore == restore);
  CHECK_FALSE(decoded_start->restore);
}

// A core for node B (Q = 4, every partition on A, B and C in three DCs) that
// hostile messages are fed to.
struct Victim {
  Victim() : store(kQ, 4096) {
    Membership m;
    m.self = kB;
    m.dc_of = {{kA, 0}, {kB, 1}, {kC, 2}};
    m.replicas.assign(kQ, {kA, kB, kC});
    core = std::make_unique<ReplicationCore>(m, Options{}, store, 0);
  }

  void Feed(const Message& m) {
    now_ms += 7;
    core->OnMessage(store, m, now_ms);
    core->OnTick(store, now_ms);
    (void)core->TakeOutgoing(now_ms);
  }

  // Whatever came before, the node can still write and ship.
  void WriteLocally(Prng& rng) {
    const uint32_t p = static_cast<uint32_t>(rng.Below(kQ));
    std::swap(writer.state, store.State(p));  // the mutation runs on the store's state
    crdt::Delta d = RandomOperation(rng, writer);
    std::swap(writer.state, store.State(p));
    core->OnLocalDelta(store, p, d, ++now_ms);
    REQUIRE_FALSE(core->TakeOutgoing(now_ms).empty());
  }

  MemoryReplicaStore store;
  std::unique_ptr<ReplicationCore> core;
  TestReplica writer{kB};
  uint64_t now_ms = 0;
};

// Flips, inserts, deletes or overwrites a few bytes.
std::string Mutate(Prng& rng, std::string bytes) {
  const int edits = 1 + static_cast<int>(rng.Below(4));
  for (int e = 0; e < edits; ++e) {
    const size_t at = bytes.empty() ? 0 : rng.Below(bytes.size());
    switch (rng.Below(5)) {
      case 0:
        if (!bytes.empty()) bytes[at] = static_cast<char>(bytes[at] ^ (1 << rng.Below(8)));
        break;
      case 1:
        bytes.insert(at, 1, static_cast<char>(rng.Below(256)));
        break;
      case 2:
        if (!bytes.empty()) bytes.erase(at, 1 + rng.Below(4));
        break;
      case 3: {  // a msgpack marker that claims a huge length
        const char markers[] = {'\xdc', '\xdd', '\xc6', '\xcf', '\xc5'};
        bytes.insert(at, 1, markers[rng.Below(5)]);
        break;
      }
      default:
        if (!bytes.empty()) bytes.resize(rng.Below(bytes.size()));
    }
  }
  return bytes;
}

TEST_CASE("Messages: random and mutated bytes never crash the decoder or the core", "[hostile]") {
  const uint64_t seed = test::TestSeed();
  Victim victim;
  int decoded = 0;
  for (int c = 0; c < test::CaseCount(300); ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed + c);
    std::string random(rng.Below(64), '\0');
    for (char& ch : random) ch = static_cast<char>(rng.Below(256));
    if (auto m = DecodeMessage(random); m.ok()) victim.Feed(*m);
    for (const Message& valid : MakeCorpus(rng)) {
      const std::string bytes = EncodeMessage(valid);
      for (int k = 0; k < 10; ++k) {
        auto m = DecodeMessage(Mutate(rng, bytes));
        if (!m.ok()) {
          CHECK_FALSE(m.status().message().empty());
          continue;
        }
        ++decoded;
        victim.Feed(*m);
      }
      victim.Feed(valid);
    }
    victim.WriteLocally(rng);
  }
  CHECK(decoded > 0);
}

// A well-formed message with hostile content: ids from {A, B (the victim), C,
// a stranger, 0}, any partition, seqs at the edges.
Message Hostile(Prng& rng, const std::vector<Message>& corpus) {
  const crdt::ReplicaId ids[] = {kA, kB, kC, 0x5757, 0};
  auto id = [&] { return ids[rng.Below(5)]; };
  auto part = [&] { return static_cast<uint32_t>(rng.Below(kQ + 2)); };
  auto seq = [&] {
    const uint64_t seqs[] = {0, 1, 2, 5, 1000, MessageLimits{}.max_seq};
    return seqs[rng.Below(6)];
  };
  Message m = corpus[rng.Below(corpus.size())];
  std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, DeltaBatch>) {
          x.partition = part();
        } else if constexpr (std::is_same_v<T, Heartbeat>) {
          x.from = id();
          for (auto& pa : x.partitions) {
            for (auto& [o, s] : pa.applied) s = seq();
          }
          for (auto& [rp, s] : x.released) s = seq();
          for (auto& [fp, leaver] : x.finals_held) {
            fp = part() % kQ;
            leaver = id();
          }
          if (x.move_bytes_left != 0) x.move_bytes_left = rng.Chance(50) ? UINT64_MAX : seq();
          if (x.partition_bytes != 0) x.partition_bytes = rng.Chance(50) ? UINT64_MAX : seq();
          std::sort(x.finals_held.begin(), x.finals_held.end());
          x.finals_held.erase(std::unique(x.finals_held.begin(), x.finals_held.end()),
                              x.finals_held.end());
        } else if constexpr (std::is_same_v<T, CatchUpRequest>) {
          std::optional<crdt::AtomPosition> cursor = x.cursor;
          if (cursor) cursor->dot.counter = seq();
          x = CatchUpRequest{id(), part(), id(), seq(), cursor};
        } else if constexpr (std::is_same_v<T, AaeRequest> || std::is_same_v<T, AaeReply>) {
          x.from = id();
          x.partition = part();
          x.exchange = seq();
          for (auto& [o, s] : x.applied) s = seq();
        } else {
          static_assert(std::is_same_v<T, CatchUpReply>);
          x.from = id();
          x.partition = part();
          x.after = seq();
          x.responder_applied = seq();
          if (x.kind == CatchUpReply::Kind::kState) {
            for (auto& [o, s] : x.applied) s = seq();
            x.applied.push_back({0x5757, seq()});
          }
          if (x.kind != CatchUpReply::Kind::kDeltas) x.origin = id();
        }
      },
      m);
  return m;
}

TEST_CASE("Messages: well-formed messages with hostile content are safe to feed to the core",
          "[hostile]") {
  const uint64_t seed = test::TestSeed();
  Victim victim;
  uint64_t fed = 0;
  for (int c = 0; c < test::CaseCount(300); ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed * 31 + c);
    const std::vector<Message> corpus = MakeCorpus(rng);
    for (int k = 0; k < 20; ++k) {
      // Through the codec: only what a decoder accepts reaches a core.
      auto m = DecodeMessage(EncodeMessage(Hostile(rng, corpus)));
      if (!m.ok()) continue;
      victim.Feed(*m);
      ++fed;
    }
    victim.WriteLocally(rng);
  }
  CHECK(fed > 0);
  CHECK(victim.core->stats().rejected > 0);
}

TEST_CASE("Topology messages: round-trip, are told apart from the core's, and refuse bad shapes",
          "[unit]") {
  const TopologyMessage request = TopologyRequest{kA, 7};
  const TopologyMessage reply = TopologyReply{kB, kMaxTopologyEpoch, "[cluster]\nepoch = 9\n"};
  const TopologyMessage empty = TopologyReply{kC, 0, ""};
  for (const TopologyMessage& m : {request, reply, empty}) {
    const std::string bytes = EncodeTopologyMessage(m);
    CHECK(IsTopologyMessage(bytes));
    // The core's decoder does not take them: they never reach its dispatch.
    CHECK_FALSE(DecodeMessage(bytes).ok());
    auto decoded = DecodeTopologyMessage(bytes);
    REQUIRE(decoded.ok());
    CHECK(*decoded == m);
  }
  CHECK_FALSE(IsTopologyMessage(EncodeMessage(CatchUpRequest{kA, 0, kB, 1})));
  CHECK_FALSE(IsTopologyMessage(""));

  auto rejects = [](const std::string& bytes, const std::string& reason) {
    auto r = DecodeTopologyMessage(bytes);
    REQUIRE_FALSE(r.ok());
    INFO(r.status().message());
    CHECK(r.status().message().find(reason) != std::string::npos);
  };
  rejects(Pack(1u, 20u, 1u), "wrong number of elements");
  rejects(Pack(1u, 20u, 1u, 2u, 3u), "not a topology message");
  rejects(Pack(1u, 21u, 1u, 2u), "not a topology message");
  rejects(Pack(1u, 22u, 1u, 2u), "not a topology message");
  rejects(Pack(1u, 20u, 1u, -2), "not an unsigned integer");
  rejects(Pack(1u, 20u, 1u, uint64_t{INT64_MAX} + 1), "epoch beyond the largest");
  rejects(Pack(1u, 21u, 1u, 2u, std::string("text as str, not bin")), "str size");
  rejects(Pack(1u, 21u, 1u, 2u, 7u), "topology text");
  rejects(Pack(1u, 21u, 1u, 2u, 3u, 4u, 5u), "wrong number of elements");
  rejects(Pack(1u, 20u, 1u, std::map<int, int>{{1, 2}}), "a map");
  rejects(EncodeTopologyMessage(request) + "x", "trailing");
  CHECK(DecodeTopologyMessage(Pack(2u, 20u, 1u, 2u)).status().code() == Status::Code::kUnsupported);
  // A text over the limit is refused before it is copied.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(&buf);
  pk.pack_array(5);
  pk.pack(1u);
  pk.pack(21u);
  pk.pack(1u);
  pk.pack(2u);
  const std::string big(kMaxTopologyMessageBytes + 1, 'x');
  pk.pack_bin(static_cast<uint32_t>(big.size()));
  pk.pack_bin_body(big.data(), static_cast<uint32_t>(big.size()));
  CHECK_FALSE(DecodeTopologyMessage(std::string(buf.data(), buf.size())).ok());
}

TEST_CASE("Topology messages: random and mutated bytes never crash the decoder", "[hostile]") {
  const uint64_t seed = test::TestSeed();
  int decoded = 0;
  for (int c = 0; c < test::CaseCount(300); ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    Prng rng(seed + c);
    std::string random(rng.Below(64), '\0');
    for (char& ch : random) ch = static_cast<char>(rng.Below(256));
    (void)DecodeTopologyMessage(random);
    std::string text(rng.Below(200), 'a');
    const std::string valid = EncodeTopologyMessage(
        rng.Chance(50) ? TopologyMessage(TopologyRequest{rng.Next(), rng.Next() >> 1})
                       : TopologyMessage(TopologyReply{rng.Next(), rng.Next() >> 1, text}));
    for (int k = 0; k < 20; ++k) {
      auto m = DecodeTopologyMessage(Mutate(rng, valid));
      if (!m.ok()) {
        CHECK_FALSE(m.status().message().empty());
        continue;
      }
      ++decoded;
      if (const auto* r = std::get_if<TopologyReply>(&*m)) {
        CHECK(r->text.size() <= kMaxTopologyMessageBytes);
      }
    }
  }
  CHECK(decoded > 0);
}

}  // namespace
}  // namespace geokv::replication
