#include "replica/replication/messages.h"

// GCC 12 reports std::optional members of other alternatives as "maybe
// uninitialized" where a Message is built from one alternative (GCC bug
// 80635, a false positive): not an error here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <array>
#include <limits>
#include <msgpack.hpp>

#include "common/assert.h"
#include "crdt/chunk.h"
#include "crdt/msgpack_reader.h"

namespace geokv::replication {

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

enum class Kind : uint64_t {
  kBatch = 1,
  kHeartbeat = 2,
  kRequest = 3,
  kReply = 4,
  kAaeRequest = 5,
  kAaeReply = 6,
  kTopologyRequest = 20,
  kTopologyReply = 21,
};

// Fixed element counts of each message's outer array (the reply's body adds
// to its count).
constexpr size_t kBatchFields = 7;
// + 1 with a nonzero epoch, + 2 with releases, + 3 with finals held
constexpr size_t kHeartbeatFields = 6;
constexpr size_t kRequestFields = 6;  // + 1 with a cursor
constexpr size_t kReplyHeadFields = 8;
constexpr size_t kPositionFields = 5;
constexpr size_t kAaeRequestFields = 8;
constexpr size_t kAaeReplyFields = 9;
constexpr uint64_t kRetiredStateBody = 2;  // a whole-partition snapshot (before chunks)
constexpr size_t kMaxDepth = 8;            // message > heartbeat list > partition entry > applied

void PackBin(Packer& pk, std::string_view s) {
  pk.pack_bin(static_cast<uint32_t>(s.size()));
  pk.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

void PackApplied(Packer& pk, const AppliedVector& applied) {
  pk.pack_array(static_cast<uint32_t>(applied.size() * 2));
  for (const auto& [origin, seq] : applied) {
    pk.pack_uint64(origin);
    pk.pack_uint64(seq);
  }
}

// The batch's deltas, as the bytes the sender kept if it has them (encoded
// once, for its log and for the wire), else encoded here.
void PackDeltas(Packer& pk, const DeltaBatch& batch) {
  GEOKV_ASSERT(batch.encoded.empty() || batch.encoded.size() == batch.deltas.size());
  pk.pack_array(static_cast<uint32_t>(batch.deltas.size()));
  if (!batch.encoded.empty()) {
    for (const std::string& bytes : batch.encoded) PackBin(pk, bytes);
    return;
  }
  for (const crdt::Delta& d : batch.deltas) PackBin(pk, crdt::EncodeDelta(d));
}

void PackPosition(Packer& pk, const crdt::AtomPosition& at) {
  pk.pack_array(kPositionFields);
  PackBin(pk, at.path.key);
  pk.pack_uint64(static_cast<uint64_t>(at.path.slot));
  PackBin(pk, at.path.field);
  pk.pack_uint64(at.dot.origin);
  pk.pack_uint64(at.dot.counter);
}

template <size_t N>
void PackHashes(Packer& pk, const std::array<uint64_t, N>& hashes) {
  std::string bytes;
  for (uint64_t h : hashes) {
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(h >> (8 * i)));
  }
  PackBin(pk, bytes);
}

void PackHead(Packer& pk, Kind kind, size_t fields) {
  pk.pack_array(static_cast<uint32_t>(fields));
  pk.pack_uint64(kMessageFormatVersion);
  pk.pack_uint64(static_cast<uint64_t>(kind));
}

uint64_t MaxCounter(const crdt::DotContext& dots) {
  uint64_t max = 0;
  for (const auto& [origin, intervals] : dots.by_origin()) {
    if (!intervals.empty()) max = std::max(max, intervals.rbegin()->second);
  }
  return max;
}

// The messages' reads: the shared checks (crdt/msgpack_reader.h) plus the
// shapes and limits of replication messages.
class Reader : public crdt::MsgpackReader {
 public:
  explicit Reader(const MessageLimits& limits) : limits_(limits) {}

  Status status() const { return Status::Corrupt("replication message: " + error()); }

  uint64_t Seq(const msgpack::object& o, const char* what) {
    const uint64_t v = Uint(o, what);
    if (ok() && v > limits_.max_seq) Fail(std::string(what) + " is beyond the largest seq");
    return ok() ? v : 0;
  }

  uint32_t Partition(const msgpack::object& o) {
    const uint64_t v = Uint(o, "partition");
    if (ok() && v >= limits_.max_partitions) Fail("partition out of range");
    return ok() ? static_cast<uint32_t>(v) : 0;
  }

  std::string_view Bin(const msgpack::object& o, const char* what) {
    return MsgpackReader::Bin(o, limits_.max_message_bytes, what);
  }

  std::string_view TopologyText(const msgpack::object& o) {
    return MsgpackReader::Bin(o, kMaxTopologyMessageBytes, "topology text");
  }

  AppliedVector Applied(const msgpack::object& o) {
    AppliedVector applied;
    size_t n = 0;
    const msgpack::object* e = Array(o, kAny, limits_.max_origins * 2, &n, "applied vector");
    if (ok() && n % 2 != 0) Fail("applied vector has an odd count");
    for (size_t i = 0; ok() && i < n; i += 2) {
      const uint64_t origin = Uint(e[i], "origin");
      const uint64_t seq = Seq(e[i + 1], "applied seq");
      if (ok() && !applied.empty() && applied.back().first >= origin) {
        Fail("applied vector origins not ascending");
      }
      applied.emplace_back(origin, seq);
    }
    return applied;
  }

  // Deltas of a batch: each decodes, has `origin`, and they are contiguous
  // from first to last.
  std::vector<crdt::Delta> Deltas(const msgpack::object& o, crdt::ReplicaId origin, uint64_t first,
                                  uint64_t last) {
    std::vector<crdt::Delta> deltas;
    if (ok() && (first < 1 || first > last)) Fail("batch seq range out of order");
    size_t n = 0;
    const msgpack::object* e = Array(o, kAny, limits_.max_deltas_per_batch, &n, "deltas");
    if (ok() && n == 0) Fail("batch holds no delta");
    uint64_t next = first;
    for (size_t i = 0; ok() && i < n; ++i) {
      auto delta = crdt::DecodeDelta(Bin(e[i], "delta"), limits_.crdt);
      if (!ok()) break;
      if (!delta.ok()) {
        Fail("delta " + std::to_string(i) + ": " + delta.status().message());
        break;
      }
      if (delta->origin != origin) Fail("delta of another origin in a batch");
      if (ok() && delta->first != next) Fail("deltas of a batch not contiguous");
      if (ok() && delta->last > last) Fail("delta beyond the batch's last seq");
      for (const crdt::Removal& r : delta->removals) {
        if (ok() && MaxCounter(r.covered) > limits_.max_seq) Fail("removal dot beyond max seq");
      }
      if (!ok()) break;
      next = delta->last + 1;
      deltas.push_back(std::move(*delta));
    }
    if (ok() && next != last + 1) Fail("deltas end before the batch's last seq");
    return deltas;
  }

  crdt::AtomPosition Position(const msgpack::object& o, const char* what) {
    crdt::AtomPosition at;
    size_t n = 0;
    const msgpack::object* e = Array(o, kPositionFields, kPositionFields, &n, what);
    if (!ok()) return at;
    at.path.key = std::string(Bin(e[0], "position key"));
    const uint64_t slot = Uint(e[1], "position slot");
    if (ok() && !crdt::IsValidSlot(slot)) Fail(std::string(what) + " has an unknown slot");
    at.path.slot = ok() ? static_cast<crdt::Slot>(slot) : crdt::Slot::kRegister;
    at.path.field = std::string(Bin(e[2], "position field"));
    at.dot.origin = Uint(e[3], "position origin");
    at.dot.counter = Seq(e[4], "position counter");
    return at;
  }

  // A range end: a position, or [] for the end of the partition.
  std::optional<crdt::AtomPosition> End(const msgpack::object& o) {
    if (o.type == msgpack::type::ARRAY && o.via.array.size == 0) return std::nullopt;
    return Position(o, "range end");
  }

  // N hashes of 8 bytes, little-endian.
  template <size_t N>
  std::array<uint64_t, N> Hashes(const msgpack::object& o, const char* what) {
    std::array<uint64_t, N> out{};
    const std::string_view bytes = Bin(o, what);
    if (ok() && bytes.size() != N * 8) Fail(std::string(what) + " of the wrong size");
    for (size_t i = 0; ok() && i < N; ++i) {
      for (int b = 0; b < 8; ++b) {
        out[i] |= uint64_t{static_cast<unsigned char>(bytes[i * 8 + b])} << (8 * b);
      }
    }
    return out;
  }

  DeltaBatch Batch(const msgpack::object* e, crdt::ReplicaId origin, uint32_t partition) {
    DeltaBatch batch;
    batch.origin = origin;
    batch.partition = partition;
    batch.first_seq = Seq(e[0], "first seq");
    batch.last_seq = Seq(e[1], "last seq");
    batch.deltas = Deltas(e[2], origin, batch.first_seq, batch.last_seq);
    return batch;
  }

 private:
  const MessageLimits& limits_;
};

// Counts a message's objects and nesting without building them. Unpacking
// allocates an object (16 bytes) per element, so a message of many one-byte
// elements would cost many times its size; the census refuses it first.
class Census : public msgpack::null_visitor {
 public:
  explicit Census(const MessageLimits& limits) : limits_(limits) {}
  bool over() const { return over_; }

  bool visit_nil() { return Count(); }
  bool visit_boolean(bool) { return Count(); }
  bool visit_positive_integer(uint64_t) { return Count(); }
  bool visit_negative_integer(int64_t) { return Count(); }
  bool visit_float32(float) { return Count(); }
  bool visit_float64(double) { return Count(); }
  bool visit_str(const char*, uint32_t) { return Count(); }
  bool visit_bin(const char*, uint32_t) { return Count(); }
  bool visit_ext(const char*, uint32_t) { return Count(); }
  bool start_array(uint32_t) {
    if (++depth_ > kMaxDepth) return Stop();
    return Count();
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool start_map(uint32_t) { return Stop(); }  // no message holds a map

 private:
  bool Count() { return ++objects_ <= limits_.max_objects || Stop(); }
  bool Stop() {
    over_ = true;
    return false;
  }
  const MessageLimits& limits_;
  size_t objects_ = 0;
  size_t depth_ = 0;
  bool over_ = false;
};

Status Unpack(std::string_view bytes, const MessageLimits& limits, msgpack::object_handle* out) {
  if (bytes.size() > limits.max_message_bytes) {
    return Status::Corrupt("replication message larger than the limit");
  }
  Census census(limits);
  try {
    size_t offset = 0;
    (void)msgpack::parse(bytes.data(), bytes.size(), offset, census);
  } catch (const std::exception& e) {
    return Status::Corrupt(std::string("malformed replication message: ") + e.what());
  }
  if (census.over()) {
    return Status::Corrupt("replication message with too many elements, too deep, or a map");
  }
  // Every array here is small except delta lists and heartbeat lists; bins
  // hold whole encoded deltas or snapshots (bounded by the message size).
  const size_t elements = std::max({limits.max_deltas_per_batch, limits.max_heartbeat_partitions,
                                    limits.max_origins * 2, kReplyHeadFields + 4});
  const msgpack::unpack_limit limit(elements, 0, 0, limits.max_message_bytes, 0, kMaxDepth);
  try {
    size_t offset = 0;
    *out = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
    if (offset != bytes.size()) return Status::Corrupt("trailing bytes after the message");
  } catch (const std::exception& e) {
    return Status::Corrupt(std::string("malformed replication message: ") + e.what());
  }
  return Status::Ok();
}

crdt::Snapshot Chunk(Reader& r, const msgpack::object& o, const crdt::AtomPosition& from,
                     const std::optional<crdt::AtomPosition>& to, const MessageLimits& limits);

Result<Message> DecodeBatch(Reader& r, const msgpack::object* e) {
  const crdt::ReplicaId origin = r.Uint(e[2], "origin");
  const uint32_t partition = r.Partition(e[3]);
  DeltaBatch batch = r.Batch(e + 4, origin, partition);
  if (!r.ok()) return r.status();
  return Message(std::move(batch));
}

Result<Message> DecodeHeartbeat(Reader& r, const msgpack::object* e, size_t fields,
                                const MessageLimits& limits) {
  Heartbeat hb;
  hb.from = r.Uint(e[2], "from");
  hb.sent_ms = r.Uint(e[3], "sent ms");
  hb.incarnation = r.Uint(e[5], "incarnation");
  if (fields > kHeartbeatFields) hb.epoch = r.Uint(e[6], "epoch");
  if (fields > kHeartbeatFields + 1) {
    size_t m = 0;
    const msgpack::object* rel =
        r.Array(e[7], Reader::kAny, limits.max_heartbeat_partitions, &m, "released partitions");
    for (size_t i = 0; r.ok() && i < m; ++i) {
      size_t two = 0;
      const msgpack::object* entry = r.Array(rel[i], 2, 2, &two, "released entry");
      if (!r.ok()) break;
      const uint32_t p = r.Partition(entry[0]);
      const uint64_t seq = r.Seq(entry[1], "released seq");
      if (r.ok() && !hb.released.empty() && hb.released.back().first >= p) {
        r.Fail("released partitions not ascending");
      }
      hb.released.emplace_back(p, seq);
    }
  }
  if (fields > kHeartbeatFields + 2) {
    size_t m = 0;
    const msgpack::object* held =
        r.Array(e[8], Reader::kAny, limits.max_heartbeat_partitions, &m, "finals held");
    for (size_t i = 0; r.ok() && i < m; ++i) {
      size_t two = 0;
      const msgpack::object* entry = r.Array(held[i], 2, 2, &two, "final held entry");
      if (!r.ok()) break;
      const std::pair<uint32_t, uint64_t> f{r.Partition(entry[0]), r.Uint(entry[1], "leaver")};
      if (r.ok() && !hb.finals_held.empty() && hb.finals_held.back() >= f) {
        r.Fail("finals held not ascending");
      }
      hb.finals_held.push_back(f);
    }
  }
  if (fields > kHeartbeatFields + 3) hb.move_bytes_left = r.Uint(e[9], "move bytes left");
  if (fields > kHeartbeatFields + 4) hb.partition_bytes = r.Uint(e[10], "partition bytes");
  size_t n = 0;
  const msgpack::object* parts =
      r.Array(e[4], Reader::kAny, limits.max_heartbeat_partitions, &n, "heartbeat partitions");
  for (size_t i = 0; r.ok() && i < n; ++i) {
    size_t entry_fields = 0;
    const msgpack::object* entry =
        r.Array(parts[i], Reader::kAny, 3, &entry_fields, "partition entry");
    if (r.ok() && entry_fields < 2) r.Fail("partition entry has a wrong number of elements");
    if (!r.ok()) break;
    PartitionApplied pa;
    pa.partition = r.Partition(entry[0]);
    pa.applied = r.Applied(entry[1]);
    if (entry_fields == 3) pa.held = r.Applied(entry[2]);
    if (r.ok() && !hb.partitions.empty() && hb.partitions.back().partition >= pa.partition) {
      r.Fail("heartbeat partitions not ascending");
    }
    hb.partitions.push_back(std::move(pa));
  }
  if (!r.ok()) return r.status();
  return Message(std::move(hb));
}

Result<Message> DecodeRequest(Reader& r, const msgpack::object* e, size_t n) {
  CatchUpRequest req;
  req.from = r.Uint(e[2], "from");
  req.partition = r.Partition(e[3]);
  req.origin = r.Uint(e[4], "origin");
  req.after = r.Seq(e[5], "after");
  if (n == kRequestFields + 1) req.cursor = r.Position(e[6], "cursor");
  if (!r.ok()) return r.status();
  return Message(req);
}

Result<Message> DecodeReply(Reader& r, const msgpack::object* e, size_t n,
                            const MessageLimits& limits) {
  CatchUpReply reply;
  reply.from = r.Uint(e[2], "from");
  reply.partition = r.Partition(e[3]);
  reply.origin = r.Uint(e[4], "origin");
  reply.after = r.Seq(e[5], "after");
  reply.responder_applied = r.Seq(e[6], "responder applied");
  const uint64_t body = r.Uint(e[7], "reply kind");
  if (!r.ok()) return r.status();
  switch (body) {
    case static_cast<uint64_t>(CatchUpReply::Kind::kUpToDate):
      if (n != kReplyHeadFields) r.Fail("up-to-date reply with a body");
      reply.kind = CatchUpReply::Kind::kUpToDate;
      break;
    case static_cast<uint64_t>(CatchUpReply::Kind::kDeltas):
      if (n != kReplyHeadFields + 3) {
        r.Fail("deltas reply of the wrong size");
        break;
      }
      reply.kind = CatchUpReply::Kind::kDeltas;
      reply.batch = r.Batch(e + kReplyHeadFields, reply.origin, reply.partition);
      if (r.ok() && reply.batch.last_seq <= reply.after) r.Fail("deltas reply ends before after");
      break;
    case kRetiredStateBody:
      r.Fail("whole-partition state reply (a peer of the format before streamed transfer)");
      break;
    case static_cast<uint64_t>(CatchUpReply::Kind::kState): {
      if (n != kReplyHeadFields + 4) {
        r.Fail("state chunk reply of the wrong size");
        break;
      }
      reply.kind = CatchUpReply::Kind::kState;
      const msgpack::object* chunk = e + kReplyHeadFields;
      reply.range_from = r.Position(chunk[0], "range start");
      reply.range_to = r.End(chunk[1]);
      if (r.ok() && reply.range_to && !(reply.range_from < *reply.range_to)) {
        r.Fail("state chunk range is empty or reversed");
      }
      if (!r.ok()) break;
      reply.snapshot = Chunk(r, chunk[2], reply.range_from, reply.range_to, limits);
      if (!r.ok()) break;
      reply.applied = r.Applied(chunk[3]);
      break;
    }
    default:
      r.Fail("unknown reply kind " + std::to_string(body));
  }
  if (!r.ok()) return r.status();
  return Message(std::move(reply));
}

// A state chunk (EncodeSnapshot bytes) whose every atom lies in [from, to).
crdt::Snapshot Chunk(Reader& r, const msgpack::object& o, const crdt::AtomPosition& from,
                     const std::optional<crdt::AtomPosition>& to, const MessageLimits& limits) {
  auto snap = crdt::DecodeSnapshot(r.Bin(o, "chunk"), limits.crdt);
  if (!r.ok()) return {};
  if (!snap.ok()) {
    r.Fail("chunk: " + snap.status().message());
    return {};
  }
  if (MaxCounter(snap->context) > limits.max_seq) r.Fail("chunk dot beyond max seq");
  for (const auto& [path, atom] : snap->atoms) {
    const crdt::AtomPosition at = crdt::PositionOf(path, atom);
    if (r.ok() && (at < from || (to && !(at < *to))))
      r.Fail("chunk atom outside the chunk's range");
  }
  return std::move(*snap);
}

Result<Message> DecodeAaeRequest(Reader& r, const msgpack::object* e) {
  AaeRequest req;
  req.from = r.Uint(e[2], "from");
  req.partition = r.Partition(e[3]);
  req.exchange = r.Uint(e[4], "exchange");
  const uint64_t kind = r.Uint(e[5], "request kind");
  req.applied = r.Applied(e[6]);
  if (!r.ok()) return r.status();
  if (kind == static_cast<uint64_t>(AaeRequest::Kind::kTree)) {
    req.kind = AaeRequest::Kind::kTree;
    req.branches = r.Hashes<kAaeBranches>(e[7], "branch hashes");
  } else if (kind == static_cast<uint64_t>(AaeRequest::Kind::kAtoms)) {
    req.kind = AaeRequest::Kind::kAtoms;
    size_t n = 0;
    const msgpack::object* body = r.Array(e[7], 3, 3, &n, "atoms request");
    size_t count = 0;
    const msgpack::object* leaves =
        r.ok() ? r.Array(body[0], Reader::kAny, kAaeLeaves, &count, "leaves") : nullptr;
    if (r.ok() && count == 0) r.Fail("atoms request without a leaf");
    for (size_t i = 0; r.ok() && i < count; ++i) {
      const uint64_t leaf = r.Uint(leaves[i], "leaf");
      if (r.ok() && leaf >= kAaeLeaves) r.Fail("leaf out of range");
      if (r.ok() && !req.leaves.empty() && req.leaves.back() >= leaf)
        r.Fail("leaves not ascending");
      req.leaves.push_back(static_cast<uint32_t>(leaf));
    }
    if (r.ok()) req.range_from = r.Position(body[1], "range start");
    if (r.ok()) req.range_to = r.End(body[2]);
    if (r.ok() && req.range_to && !(req.range_from < *req.range_to)) {
      r.Fail("atoms request range is empty or reversed");
    }
  } else {
    r.Fail("unknown aae request kind " + std::to_string(kind));
  }
  if (!r.ok()) return r.status();
  return Message(std::move(req));
}

Result<Message> DecodeAaeReply(Reader& r, const msgpack::object* e, const MessageLimits& limits) {
  AaeReply reply;
  reply.from = r.Uint(e[2], "from");
  reply.partition = r.Partition(e[3]);
  reply.exchange = r.Uint(e[4], "exchange");
  const uint64_t kind = r.Uint(e[5], "request kind");
  const uint64_t status = r.Uint(e[6], "status");
  reply.applied = r.Applied(e[7]);
  if (!r.ok()) return r.status();
  if (kind > static_cast<uint64_t>(AaeRequest::Kind::kAtoms)) r.Fail("unknown aae request kind");
  if (status > static_cast<uint64_t>(AaeReply::Status::kNotReady)) r.Fail("unknown aae status");
  if (!r.ok()) return r.status();
  reply.kind = static_cast<AaeRequest::Kind>(kind);
  reply.status = static_cast<AaeReply::Status>(status);
  size_t n = 0;
  const msgpack::object* body = r.Array(e[8], Reader::kAny, kAaeBranches, &n, "aae reply body");
  if (r.ok() && reply.status != AaeReply::Status::kOk && n != 0) r.Fail("aae refusal with a body");
  if (r.ok() && reply.status == AaeReply::Status::kOk) {
    if (reply.kind == AaeRequest::Kind::kTree) {
      for (size_t i = 0; r.ok() && i < n; ++i) {
        size_t two = 0;
        const msgpack::object* entry = r.Array(body[i], 2, 2, &two, "branch entry");
        if (!r.ok()) break;
        const uint64_t branch = r.Uint(entry[0], "branch");
        if (r.ok() && branch >= kAaeBranches) r.Fail("branch out of range");
        if (r.ok() && !reply.branch_leaves.empty() && reply.branch_leaves.back().first >= branch) {
          r.Fail("branches not ascending");
        }
        AaeLeafHashes leaves = r.Hashes<kAaeLeavesPerBranch>(entry[1], "leaf hashes");
        reply.branch_leaves.emplace_back(static_cast<uint32_t>(branch), leaves);
      }
    } else if (n != 2) {
      r.Fail("aae atoms reply of the wrong size");
    } else {
      reply.snapshot = Chunk(r, body[0], crdt::AtomPosition{}, std::nullopt, limits);
      const uint64_t complete = r.Uint(body[1], "complete");
      if (r.ok() && complete > 1) r.Fail("complete is not 0 or 1");
      reply.complete = complete == 1;
    }
  }
  if (!r.ok()) return r.status();
  return Message(std::move(reply));
}

}  // namespace

std::string EncodeMessage(const Message& message) {
  msgpack::sbuffer buf;
  Packer pk(&buf);
  std::visit(Overloaded{
                 [&](const DeltaBatch& m) {
                   PackHead(pk, Kind::kBatch, kBatchFields);
                   pk.pack_uint64(m.origin);
                   pk.pack_uint64(m.partition);
                   pk.pack_uint64(m.first_seq);
                   pk.pack_uint64(m.last_seq);
                   PackDeltas(pk, m);
                 },
                 [&](const Heartbeat& m) {
                   const size_t extra = m.partition_bytes != 0   ? 5
                                        : m.move_bytes_left != 0 ? 4
                                        : !m.finals_held.empty() ? 3
                                        : !m.released.empty()    ? 2
                                        : m.epoch != 0           ? 1
                                                                 : 0;
                   PackHead(pk, Kind::kHeartbeat, kHeartbeatFields + extra);
                   pk.pack_uint64(m.from);
                   pk.pack_uint64(m.sent_ms);
                   pk.pack_array(static_cast<uint32_t>(m.partitions.size()));
                   for (const PartitionApplied& pa : m.partitions) {
                     pk.pack_array(pa.held.empty() ? 2 : 3);
                     pk.pack_uint64(pa.partition);
                     PackApplied(pk, pa.applied);
                     if (!pa.held.empty()) PackApplied(pk, pa.held);
                   }
                   pk.pack_uint64(m.incarnation);
                   if (extra >= 1) pk.pack_uint64(m.epoch);
                   if (extra >= 2) {
                     pk.pack_array(static_cast<uint32_t>(m.released.size()));
                     for (const auto& [p, seq] : m.released) {
                       pk.pack_array(2);
                       pk.pack_uint64(p);
                       pk.pack_uint64(seq);
                     }
                   }
                   if (extra >= 3) {
                     pk.pack_array(static_cast<uint32_t>(m.finals_held.size()));
                     for (const auto& [p, leaver] : m.finals_held) {
                       pk.pack_array(2);
                       pk.pack_uint64(p);
                       pk.pack_uint64(leaver);
                     }
                   }
                   if (extra >= 4) pk.pack_uint64(m.move_bytes_left);
                   if (extra >= 5) pk.pack_uint64(m.partition_bytes);
                 },
                 [&](const CatchUpRequest& m) {
                   PackHead(pk, Kind::kRequest, kRequestFields + (m.cursor ? 1 : 0));
                   pk.pack_uint64(m.from);
                   pk.pack_uint64(m.partition);
                   pk.pack_uint64(m.origin);
                   pk.pack_uint64(m.after);
                   if (m.cursor) PackPosition(pk, *m.cursor);
                 },
                 [&](const CatchUpReply& m) {
                   const size_t body = m.kind == CatchUpReply::Kind::kUpToDate ? 0
                                       : m.kind == CatchUpReply::Kind::kDeltas ? 3
                                                                               : 4;
                   PackHead(pk, Kind::kReply, kReplyHeadFields + body);
                   pk.pack_uint64(m.from);
                   pk.pack_uint64(m.partition);
                   pk.pack_uint64(m.origin);
                   pk.pack_uint64(m.after);
                   pk.pack_uint64(m.responder_applied);
                   pk.pack_uint64(static_cast<uint64_t>(m.kind));
                   if (m.kind == CatchUpReply::Kind::kDeltas) {
                     pk.pack_uint64(m.batch.first_seq);
                     pk.pack_uint64(m.batch.last_seq);
                     PackDeltas(pk, m.batch);
                   } else if (m.kind == CatchUpReply::Kind::kState) {
                     PackPosition(pk, m.range_from);
                     if (m.range_to) {
                       PackPosition(pk, *m.range_to);
                     } else {
                       pk.pack_array(0);
                     }
                     PackBin(pk, crdt::EncodeSnapshot(m.snapshot));
                     PackApplied(pk, m.applied);
                   }
                 },
                 [&](const AaeRequest& m) {
                   PackHead(pk, Kind::kAaeRequest, kAaeRequestFields);
                   pk.pack_uint64(m.from);
                   pk.pack_uint64(m.partition);
                   pk.pack_uint64(m.exchange);
                   pk.pack_uint64(static_cast<uint64_t>(m.kind));
                   PackApplied(pk, m.applied);
                   if (m.kind == AaeRequest::Kind::kTree) {
                     PackHashes(pk, m.branches);
                     return;
                   }
                   pk.pack_array(3);
                   pk.pack_array(static_cast<uint32_t>(m.leaves.size()));
                   for (uint32_t leaf : m.leaves) pk.pack_uint64(leaf);
                   PackPosition(pk, m.range_from);
                   if (m.range_to) {
                     PackPosition(pk, *m.range_to);
                   } else {
                     pk.pack_array(0);
                   }
                 },
                 [&](const AaeReply& m) {
                   PackHead(pk, Kind::kAaeReply, kAaeReplyFields);
                   pk.pack_uint64(m.from);
                   pk.pack_uint64(m.partition);
                   pk.pack_uint64(m.exchange);
                   pk.pack_uint64(static_cast<uint64_t>(m.kind));
                   pk.pack_uint64(static_cast<uint64_t>(m.status));
                   PackApplied(pk, m.applied);
                   if (m.status != AaeReply::Status::kOk) {
                     pk.pack_array(0);
                   } else if (m.kind == AaeRequest::Kind::kTree) {
                     pk.pack_array(static_cast<uint32_t>(m.branch_leaves.size()));
                     for (const auto& [branch, leaves] : m.branch_leaves) {
                       pk.pack_array(2);
                       pk.pack_uint64(branch);
                       PackHashes(pk, leaves);
                     }
                   } else {
                     pk.pack_array(2);
                     PackBin(pk, crdt::EncodeSnapshot(m.snapshot));
                     pk.pack_uint64(m.complete ? 1 : 0);
                   }
                 },
             },
             message);
  return std::string(buf.data(), buf.size());
}

Result<Message> DecodeMessage(std::string_view bytes, const MessageLimits& limits) {
  msgpack::object_handle handle;
  if (Status s = Unpack(bytes, limits, &handle); !s.ok()) return s;
  Reader r(limits);
  const msgpack::object& root = handle.get();
  size_t n = 0;
  const msgpack::object* e = r.Array(root, Reader::kAny, kReplyHeadFields + 4, &n, "message");
  if (r.ok() && n < 2) r.Fail("message without version and kind");
  if (!r.ok()) return r.status();
  if (r.Uint(e[0], "version") != kMessageFormatVersion && r.ok()) {
    return Status::Unsupported("replication message: unsupported format version");
  }
  const uint64_t kind = r.Uint(e[1], "kind");
  if (!r.ok()) return r.status();
  switch (kind) {
    case static_cast<uint64_t>(Kind::kBatch):
      if (n != kBatchFields) break;
      return DecodeBatch(r, e);
    case static_cast<uint64_t>(Kind::kHeartbeat):
      if (n < kHeartbeatFields || n > kHeartbeatFields + 5) break;
      return DecodeHeartbeat(r, e, n, limits);
    case static_cast<uint64_t>(Kind::kRequest):
      if (n != kRequestFields && n != kRequestFields + 1) break;
      return DecodeRequest(r, e, n);
    case static_cast<uint64_t>(Kind::kReply):
      if (n < kReplyHeadFields) break;
      return DecodeReply(r, e, n, limits);
    case static_cast<uint64_t>(Kind::kAaeRequest):
      if (n != kAaeRequestFields) break;
      return DecodeAaeRequest(r, e);
    case static_cast<uint64_t>(Kind::kAaeReply):
      if (n != kAaeReplyFields) break;
      return DecodeAaeReply(r, e, limits);
    default:
      return Status::Corrupt("replication message: unknown kind " + std::to_string(kind));
  }
  return Status::Corrupt("replication message: wrong number of fields for its kind");
}

std::string EncodeTransferRecord(const TransferRecord& record) {
  msgpack::sbuffer buf;
  Packer pk(&buf);
  GEOKV_ASSERT(!record.restore || record.settled);
  pk.pack_array(record.restore ? 7 : record.settled ? 6 : 5);
  pk.pack_uint64(kMessageFormatVersion);
  pk.pack_uint64(record.origin);
  PackPosition(pk, record.cursor);
  PackBin(pk, crdt::EncodeDotContext(record.first_context));
  PackApplied(pk, record.first_applied);
  if (record.settled) PackBin(pk, crdt::EncodeDotContext(*record.settled));
  if (record.restore) pk.pack_uint64(1);
  return std::string(buf.data(), buf.size());
}

Result<TransferRecord> DecodeTransferRecord(std::string_view bytes, const MessageLimits& limits) {
  msgpack::object_handle handle;
  if (Status s = Unpack(bytes, limits, &handle); !s.ok()) return s;
  Reader r(limits);
  size_t n = 0;
  // 5 fields, 6 with the settled context (records written before it have 5),
  // 7 with restore.
  const msgpack::object* e = r.Array(handle.get(), Reader::kAny, 7, &n, "transfer record");
  if (!r.ok()) return r.status();
  if (n < 5) {
    return Status::Corrupt("transfer record: wrong number of fields");
  }
  if (r.Uint(e[0], "version") != kMessageFormatVersion && r.ok()) r.Fail("unsupported version");
  TransferRecord record;
  record.origin = r.Uint(e[1], "origin");
  record.cursor = r.Position(e[2], "cursor");
  std::string_view context = r.Bin(e[3], "first context");
  if (!r.ok()) return r.status();
  auto dots = crdt::DecodeDotContext(context, limits.crdt);
  if (!dots.ok()) return Status::Corrupt("transfer record: " + dots.status().message());
  record.first_context = std::move(*dots);
  record.first_applied = r.Applied(e[4]);
  if (n == 7 && r.ok() && r.Uint(e[6], "restore") != 1 && r.ok()) r.Fail("restore is not 1");
  record.restore = n == 7;
  if (!r.ok()) return r.status();
  if (n >= 6) {
    std::string_view settled = r.Bin(e[5], "settled context");
    if (!r.ok()) return r.status();
    auto settled_dots = crdt::DecodeDotContext(settled, limits.crdt);
    if (!settled_dots.ok()) {
      return Status::Corrupt("transfer record: " + settled_dots.status().message());
    }
    record.settled = std::move(*settled_dots);
  }
  return record;
}

size_t EstimateDeltaBytes(const crdt::Delta& delta) {
  constexpr size_t kDeltaOverhead = 32;
  constexpr size_t kEntryOverhead = 16;
  size_t bytes = kDeltaOverhead;
  for (const crdt::Removal& r : delta.removals) {
    bytes += kEntryOverhead + r.scope.key.size() + r.scope.field.size() +
             r.covered.IntervalCount() * kEntryOverhead;
  }
  for (const crdt::Addition& a : delta.additions) {
    bytes += kEntryOverhead + a.path.key.size() + a.path.field.size() + a.atom.bytes.size();
  }
  return bytes;
}

bool IsTopologyMessage(std::string_view bytes) {
  // [ 1, 20 | 21, ...]: a fixarray, then two positive fixints.
  return bytes.size() >= 3 && (static_cast<uint8_t>(bytes[0]) & 0xf0) == 0x90 &&
         static_cast<uint8_t>(bytes[1]) == kMessageFormatVersion &&
         (static_cast<uint8_t>(bytes[2]) == static_cast<uint8_t>(Kind::kTopologyRequest) ||
          static_cast<uint8_t>(bytes[2]) == static_cast<uint8_t>(Kind::kTopologyReply));
}

std::string EncodeTopologyMessage(const TopologyMessage& message) {
  msgpack::sbuffer buf;
  Packer pk(&buf);
  std::visit(Overloaded{
                 [&](const TopologyRequest& m) {
                   PackHead(pk, Kind::kTopologyRequest, 4);
                   pk.pack_uint64(m.from);
                   pk.pack_uint64(m.epoch);
                 },
                 [&](const TopologyReply& m) {
                   GEOKV_ASSERT(m.text.size() <= kMaxTopologyMessageBytes);
                   PackHead(pk, Kind::kTopologyReply, 5);
                   pk.pack_uint64(m.from);
                   pk.pack_uint64(m.epoch);
                   PackBin(pk, m.text);
                 },
             },
             message);
  return std::string(buf.data(), buf.size());
}

Result<TopologyMessage> DecodeTopologyMessage(std::string_view bytes) {
  MessageLimits limits;
  limits.max_message_bytes = kMaxTopologyMessageBytes + 64;  // the text and a small head
  limits.max_objects = 16;
  msgpack::object_handle handle;
  if (Status s = Unpack(bytes, limits, &handle); !s.ok()) return s;
  Reader r(limits);
  size_t n = 0;
  const msgpack::object* e = r.Array(handle.get(), Reader::kAny, 5, &n, "topology message");
  if (r.ok() && n < 4) r.Fail("topology message has a wrong number of elements");
  if (!r.ok()) return r.status();
  if (r.Uint(e[0], "version") != kMessageFormatVersion && r.ok()) {
    return Status::Unsupported("replication message: unsupported format version");
  }
  const uint64_t kind = r.Uint(e[1], "kind");
  const crdt::ReplicaId from = r.Uint(e[2], "from");
  const uint64_t epoch = r.Uint(e[3], "epoch");
  if (r.ok() && epoch > kMaxTopologyEpoch) r.Fail("epoch beyond the largest");
  if (!r.ok()) return r.status();
  if (kind == static_cast<uint64_t>(Kind::kTopologyRequest) && n == 4) {
    return TopologyMessage(TopologyRequest{from, epoch});
  }
  if (kind == static_cast<uint64_t>(Kind::kTopologyReply) && n == 5) {
    const std::string_view text = r.TopologyText(e[4]);
    if (!r.ok()) return r.status();
    return TopologyMessage(TopologyReply{from, epoch, std::string(text)});
  }
  return Status::Corrupt("replication message: not a topology message of a known shape");
}

const char* MessageKindName(const Message& message) {
  return std::visit(Overloaded{
                        [](const DeltaBatch&) { return "batch"; },
                        [](const Heartbeat&) { return "heartbeat"; },
                        [](const CatchUpRequest&) { return "catch-up request"; },
                        [](const CatchUpReply&) { return "catch-up reply"; },
                        [](const AaeRequest&) { return "aae request"; },
                        [](const AaeReply&) { return "aae reply"; },
                    },
                    message);
}

}  // namespace geokv::replication
