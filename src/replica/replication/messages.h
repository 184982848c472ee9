// The replication protocol's messages and their MessagePack encoding.
//
// The byte format (MessagePack; `uint` is an unsigned integer of any width,
// `bin` a byte string; `seq` a uint <= MessageLimits::max_seq):
//
//   message    = [ version:uint(1), kind:uint, fields... ]
//   kind 1, delta batch:
//                [ 1, 1, origin:uint, partition:uint, first:seq, last:seq, [ delta:bin+ ] ]
//   kind 2, heartbeat:
//                [ 1, 2, from:uint, sent_ms:uint, [ partition-applied* ], incarnation:uint,
//                  optional trailing fields, each present when a later one is:
//                  epoch:uint, [ [ partition:uint, seq ]* ] (released),
//                  [ [ partition:uint, leaver:uint ]* ] (finals held),
//                  move-bytes-left:uint, partition-bytes:uint ]
//   kind 3, catch-up request:
//                [ 1, 3, from:uint, partition:uint, origin:uint, after:seq ]
//                [ 1, 3, from:uint, partition:uint, origin:uint, after:seq, cursor:position ]
//                (the second form asks for the state chunk that starts at cursor)
//   kind 4, catch-up reply:
//                [ 1, 4, from:uint, partition:uint, origin:uint, after:seq,
//                  responder-applied:seq, body-kind:uint, body... ]
//                body-kind 0, up to date:  (nothing)
//                body-kind 1, deltas:      first:seq, last:seq, [ delta:bin+ ]
//                body-kind 2:              retired (a whole-partition snapshot, before
//                                          streamed transfer): refused
//                body-kind 3, state chunk: range-from:position, range-to:end, chunk:bin,
//                                          applied
//
//   kind 5, anti-entropy request (docs/replication.md "Anti-entropy"):
//                [ 1, 5, from:uint, partition:uint, exchange:uint, request-kind:uint,
//                  applied, body ]
//                request-kind 0, tree:  body = branches:bin (kAaeBranches hashes, 8 bytes
//                                       each, little-endian)
//                request-kind 1, atoms: body = [ [ leaf:uint+ ], range-from:position,
//                                       range-to:end ]  (leaves ascending, < kAaeLeaves)
//   kind 6, anti-entropy reply:
//                [ 1, 6, from:uint, partition:uint, exchange:uint, request-kind:uint,
//                  status:uint, applied, body ]
//                status 0, ok:  tree:  body = [ [ branch:uint, leaves:bin ]* ]
//                                      (branches ascending, < kAaeBranches; leaves:
//                                      kAaeLeavesPerBranch hashes as above)
//                               atoms: body = [ chunk:bin, complete:uint (0 or 1) ]
//                                      (chunk as in kind 4, its atoms within the range)
//                status 1, applied vectors differ; 2, not ready: body = [ ]
//
//   kind 20, topology request (docs/topology.md "Epochs"; not a Message, below):
//                [ 1, 20, from:uint, epoch:uint ]
//   kind 21, topology reply:
//                [ 1, 21, from:uint, epoch:uint, text:bin ]   (text empty: not offered)
//
//   partition-applied = [ partition:uint, applied ]
//   applied           = [ origin:uint, seq, origin:uint, seq, ... ]   (flattened pairs,
//                       origins strictly ascending)
//   delta:bin         = crdt::EncodeDelta bytes (src/crdt/codec.h), the same bytes the
//                       origin's log holds (encoded once); in a batch the deltas
//                       all have the batch's origin and are contiguous: the first starts
//                       at `first`, each next one at the previous one's last + 1, the last
//                       ends at `last`
//   position          = [ key:bin, slot:uint, field:bin, origin:uint, counter:seq ]
//                       (crdt::AtomPosition; slot a valid slot)
//   end               = position, or [ ] for the end of the partition
//   chunk:bin         = crdt::EncodeSnapshot bytes: the responder's causal context when
//                       it read the chunk, and its atoms of [range-from, range-to), in
//                       order; range-from < range-to
//
// Version: streamed transfer kept version 1 (deltas, heartbeats and log
// catch-up are unchanged, so a rolling upgrade keeps replicating); a node of
// the earlier format refuses a chunk request (7 fields) and a chunk reply, and
// this one refuses its whole-partition state replies (body-kind 2), so state
// transfers happen only between upgraded nodes.
//
// Heartbeat partitions are strictly ascending. Every seq, and every dot counter
// inside a delta or snapshot, is at most max_seq (2^62 by default), so that a
// receiver can add 1 to any of them without overflow.
//
// Decoders take any bytes (peers may be broken or hostile): they return a Status
// for anything malformed, truncated, oversized, trailing or out of range, never
// crash, and bound every length before allocating. A decoded message is
// well-formed, but says nothing about whether its sender may send it (that the
// partition is shared, the origin a replica...): the ReplicationCore checks that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"
#include "crdt/codec.h"
#include "crdt/delta.h"
#include "crdt/join.h"
#include "replica/replication/merkle_tree.h"

namespace geokv::replication {

constexpr uint64_t kMessageFormatVersion = 1;

// A run of contiguous deltas of one origin in one partition: the unit of
// shipping. Seqs are dot counters: the batch holds every dot of `origin` in
// [first_seq, last_seq].
struct DeltaBatch {
  crdt::ReplicaId origin = 0;
  uint32_t partition = 0;
  uint64_t first_seq = 0;  // == deltas.front().first
  uint64_t last_seq = 0;   // == deltas.back().last
  std::vector<crdt::Delta> deltas;
  // Empty, or encoded[i] == crdt::EncodeDelta(deltas[i]): the bytes a sender
  // already has (its core logged them), which EncodeMessage then embeds as
  // they are rather than encode each delta a second time. A cache, not part
  // of the batch's value (== ignores it); DecodeMessage leaves it empty.
  std::vector<std::string> encoded = {};

  bool operator==(const DeltaBatch& other) const {
    return origin == other.origin && partition == other.partition && first_seq == other.first_seq &&
           last_seq == other.last_seq && deltas == other.deltas;
  }
};

// origin -> the seq through which a node applied that origin's deltas in one
// partition. Ascending by origin, no duplicates.
using AppliedVector = std::vector<std::pair<crdt::ReplicaId, uint64_t>>;

struct PartitionApplied {
  uint32_t partition = 0;
  AppliedVector applied;
  // Origins of which the sender holds deltas past `applied` that it has not
  // applied yet (out of order, or waiting for another stream: a removal whose
  // covered dots are not here), with the highest such seq; ascending by
  // origin, only entries above applied. A restored origin must not number new
  // dots until it took these back (CoreImpl::UpdateFence): they carry dots its
  // store lost. Encoded (as a third element) only when nonempty.
  AppliedVector held = {};

  bool operator==(const PartitionApplied&) const = default;
};

// A node's replication progress. It may list only some of the sender's
// partitions (those that changed since its last heartbeat): each listed entry
// replaces what the receiver knew for that partition.
struct Heartbeat {
  crdt::ReplicaId from = 0;
  uint64_t sent_ms = 0;                      // sender's clock; informational
  std::vector<PartitionApplied> partitions;  // ascending partition
  // The sender's process incarnation (Membership::incarnation): a higher one
  // is a restart, whose reports replace the old process's; a lower one than
  // already heard is a stale or duplicate process, and is refused.
  uint64_t incarnation = 0;
  // The membership epoch the sender runs (Membership::epoch). Encoded only
  // when nonzero, so a heartbeat of epoch 0 is the format nodes without
  // epochs send and take, and theirs decode here as epoch 0.
  uint64_t epoch = 0;
  // (partition, last own seq): partitions the sender is giving up in a move
  // and no longer writes (its stream there ends at that seq), ascending
  // partition. Encoded (after the epoch) only when nonempty.
  std::vector<std::pair<uint32_t, uint64_t>> released = {};
  // (partition, leaver): the leavers whose final seq (their `released`) the
  // sender has stored durably, in a move of its epoch where it holds the
  // partition (retired ones too, until it adopts another epoch); ascending,
  // no duplicates. A leaver deletes the partition only once every new owner
  // acknowledged so (or runs a later epoch): one that learned the final and
  // then crashed, or was down while the leaver released and exited, could
  // otherwise never retire it. Encoded (after `released`, which is then
  // encoded even empty) only when nonempty.
  std::vector<std::pair<uint32_t, uint64_t>> finals_held = {};
  // The sender's estimate of the bytes its moves still have to move
  // (GEOKV.MEMBERS bytes_left). Informational. Encoded (after `finals_held`,
  // which is then encoded even empty) only when nonzero.
  uint64_t move_bytes_left = 0;
  // The sender's estimate of the mean bytes of a partition it serves, while
  // moves go on there (0: not known). A joiner holds no full partition to
  // size its fills by, and sizes them with its peers' (bytes_left).
  // Informational. Encoded (after `move_bytes_left`, which is then encoded
  // even zero) only when nonzero.
  uint64_t partition_bytes = 0;

  bool operator==(const Heartbeat&) const = default;
};

// "Send me the deltas of `origin` in `partition` after seq `after`."
struct CatchUpRequest {
  crdt::ReplicaId from = 0;
  uint32_t partition = 0;
  crdt::ReplicaId origin = 0;
  uint64_t after = 0;
  // Set: "send the state chunk of `partition` that starts at cursor" (the next
  // chunk of a transfer under way; origin and after as when it began).
  std::optional<crdt::AtomPosition> cursor = {};

  bool operator==(const CatchUpRequest&) const = default;
};

struct CatchUpReply {
  enum class Kind : uint8_t {
    kUpToDate = 0,  // the responder has nothing of origin after `after`
    kDeltas = 1,    // `batch` continues origin's stream (from the origin's log)
    // One chunk of a state transfer (crdt/chunk.h): the responder's atoms of
    // [range_from, range_to) in `snapshot.atoms`, its context when it read
    // them in `snapshot.context`, its applied vector then in `applied`.
    kState = 3,
  };

  crdt::ReplicaId from = 0;
  uint32_t partition = 0;
  crdt::ReplicaId origin = 0;
  uint64_t after = 0;              // as in the request
  uint64_t responder_applied = 0;  // from's applied seq of origin in partition
  Kind kind = Kind::kUpToDate;
  DeltaBatch batch;                    // kDeltas: origin and partition as above
  crdt::Snapshot snapshot;             // kState
  AppliedVector applied;               // kState: from's applied vector of the partition
  crdt::AtomPosition range_from = {};  // kState
  std::optional<crdt::AtomPosition> range_to = {};  // kState; nullopt: the partition's end

  bool operator==(const CatchUpReply&) const = default;
};

// Anti-entropy (docs/replication.md): "compare your tree of `partition` with
// mine" (kTree), or "send me your atoms of these leaves in this range"
// (kAtoms), at the requester's applied vector.
struct AaeRequest {
  enum class Kind : uint8_t { kTree = 0, kAtoms = 1 };
  crdt::ReplicaId from = 0;
  uint32_t partition = 0;
  uint64_t exchange = 0;  // the requester's id of the exchange, echoed
  Kind kind = Kind::kTree;
  AppliedVector applied;               // the requester's, of partition
  AaeBranchHashes branches{};          // kTree: the requester's branch hashes
  std::vector<uint32_t> leaves;        // kAtoms: ascending, each < kAaeLeaves, not empty
  crdt::AtomPosition range_from = {};  // kAtoms
  std::optional<crdt::AtomPosition> range_to = {};  // kAtoms; nullopt: the partition's end

  bool operator==(const AaeRequest&) const = default;
};

struct AaeReply {
  enum class Status : uint8_t {
    kOk = 0,
    kVectorsDiffer = 1,  // the responder's applied vector is not the request's
    kNotReady = 2,       // its tree is being built, or a transfer comes in
  };
  crdt::ReplicaId from = 0;
  uint32_t partition = 0;
  uint64_t exchange = 0;
  AaeRequest::Kind kind = AaeRequest::Kind::kTree;
  Status status = Status::kOk;
  AppliedVector applied;  // the responder's, of partition
  // kTree, kOk: the leaves of the branches whose hashes differ from the
  // request's, ascending branch.
  std::vector<std::pair<uint32_t, AaeLeafHashes>> branch_leaves;
  // kAtoms, kOk: the responder's context and its atoms in the range whose
  // keys are in the leaves, in order.
  crdt::Snapshot snapshot;
  bool complete = true;  // kAtoms, kOk: false when it held more than it may send

  bool operator==(const AaeReply&) const = default;
};

using Message =
    std::variant<DeltaBatch, Heartbeat, CatchUpRequest, CatchUpReply, AaeRequest, AaeReply>;

// A set of handlers for std::visit over a Message, one per kind:
//   std::visit(Overloaded{[](const DeltaBatch&) {...}, [](const Heartbeat&) {...}, ...}, m);
// A kind without a handler is a compile error (no generic fallback), so a new
// message kind cannot reach a dispatcher that does not know it.
template <typename... Handlers>
struct Overloaded : Handlers... {
  using Handlers::operator()...;
};
template <typename... Handlers>
Overloaded(Handlers...) -> Overloaded<Handlers...>;

// Topology spreading (DESIGN.md "Membership change"): "I run `epoch`; tell me
// yours" and "I run `epoch`, and here is its file". They are the node's, not
// the core's: they are not alternatives of Message (the core's dispatchers
// over Message are exhaustive), and have their own decoder. Kinds 20 and 21
// leave room for the core's own kinds.
struct TopologyRequest {
  crdt::ReplicaId from = 0;
  uint64_t epoch = 0;  // the requester runs this epoch

  bool operator==(const TopologyRequest&) const = default;
};

struct TopologyReply {
  crdt::ReplicaId from = 0;
  uint64_t epoch = 0;  // the responder runs this epoch
  // The responder's topology file (its exact text), or empty when it does
  // not offer it (the requester runs the same or a higher epoch, or asked too
  // often). At most kMaxTopologyMessageBytes.
  std::string text;

  bool operator==(const TopologyReply&) const = default;
};

using TopologyMessage = std::variant<TopologyRequest, TopologyReply>;

// The largest topology file a reply may carry: placement::kMaxTopologyBytes
// (this library knows no placement types; the node checks they agree).
inline constexpr size_t kMaxTopologyMessageBytes = size_t{16} << 20;
// The largest epoch: a topology file's epoch is a TOML (signed 64-bit) integer.
inline constexpr uint64_t kMaxTopologyEpoch = uint64_t{INT64_MAX};

// Whether `bytes` is framed as a topology message (version 1, kind 20 or 21):
// cheap, for routing it before DecodeMessage; says nothing of the rest.
bool IsTopologyMessage(std::string_view bytes);
std::string EncodeTopologyMessage(const TopologyMessage& message);
// Decodes one topology message spanning all of `bytes`, or says why it cannot
// (as DecodeMessage: never crashes, bounds every length first).
Result<TopologyMessage> DecodeTopologyMessage(std::string_view bytes);

// A state transfer under way, as its receiver keeps it in its store
// (ReplicaStore::TransferRecord), so that a restart resumes it. Encoded as
//   [ 1, origin:uint, cursor:position, first-context:bin, first-applied:applied
//     (, start-context:bin, start-applied:applied (, restore:uint(1))) ]
// with the contexts as crdt::EncodeDotContext bytes; restore for a rebuild.
struct TransferRecord {
  crdt::ReplicaId origin = 0;  // the stream the transfer was begun for
  crdt::AtomPosition cursor;   // where the next chunk starts
  crdt::DotContext first_context;
  AppliedVector first_applied;
  // What the receiver knows whole meanwhile (its settled context: the one
  // it had when the transfer began, and the dots of every delta it applied
  // since). Absent in records written before it was kept (then the receiver
  // serves no state of the partition until the transfer ends).
  std::optional<crdt::DotContext> settled;
  bool restore = false;  // GEOKV.REBUILD (ReplicationCore::Rebuild); REQUIRES settled

  bool operator==(const TransferRecord&) const = default;
};

// Bounds a decoder enforces before it allocates or trusts anything.
struct MessageLimits {
  size_t max_message_bytes = size_t{64} << 20;  // a whole message
  size_t max_deltas_per_batch = 65536;
  size_t max_heartbeat_partitions = 65536;
  size_t max_origins = 1024;             // entries of one applied vector
  size_t max_objects = size_t{1} << 20;  // MessagePack objects in a message, all arrays together
  uint32_t max_partitions = 1u << 16;    // partition numbers are below this
  uint64_t max_seq = uint64_t{1} << 62;
  crdt::DecodeLimits crdt;  // for embedded deltas and snapshots
};

// The encoding of `message`. REQUIRES: the message is well-formed (as the
// decoder would accept it).
std::string EncodeMessage(const Message& message);

// Decodes one message spanning all of `bytes`, or says why it cannot.
Result<Message> DecodeMessage(std::string_view bytes, const MessageLimits& limits = {});

std::string EncodeTransferRecord(const TransferRecord& record);
Result<TransferRecord> DecodeTransferRecord(std::string_view bytes,
                                            const MessageLimits& limits = {});

// A rough size in bytes of a delta on the wire (for batch and buffer limits),
// without encoding it.
size_t EstimateDeltaBytes(const crdt::Delta& delta);

// "batch", "heartbeat", "catch-up request", "catch-up reply", "aae request",
// "aae reply": for logs and tests.
const char* MessageKindName(const Message& message);

}  // namespace geokv::replication
