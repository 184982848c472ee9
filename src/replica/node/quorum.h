// Quorum: the consistency levels of GEOKV.CONSISTENCY (docs/consistency.md)
// for one node: writes acknowledged once `write` datacenters applied them,
// reads answered from the join of `read` datacenters' replicas, and the read
// repair that follows such a read.
//
// - Writes at w > 1. A write this node ran waits (NodeReplication::Wait)
//   until w - 1 other datacenters holding its partitions applied its deltas;
//   a write forwarded to node X waits for X's GEOKV.WAITOWN (X's datacenter
//   plus w - 1 others). Not in time: -NOQUORUM saying in how many
//   datacenters it is applied; it is durable there and still replicates.
// - Reads at r > 1. The node asks r datacenters holding every partition of
//   the command's keys for those keys' atoms (itself first if it holds them,
//   then the nearest by measured GEOKV.ATOMS round trips, unmeasured ones in
//   preference order; a source that fails is replaced by the next), joins the
//   answers in scratch crdt::MemoryStates and runs the command's handler over
//   them (a read-only Partitions). Fewer than r answers within the timeout:
//   -NOQUORUM naming how many answered.
// - Read repair. Each source that lacked atoms of the join gets them
//   (crdt/read_repair.h): over GEOKV.REPAIR, or in a local job for this node.
//
// Level 1 goes through none of this. Threading: the I/O thread, except
// AwaitWrites (any thread).
//
// Across a topology change the sources follow the placement: this node
// answers ATOMS and REPAIR for what it serves now (NodeReplication::serving),
// and picks the sources of a read among the owners of the running topology
// and the one before it (Adopt), one per datacenter, owners in both first,
// then new owners, then old ones; a source that no longer (or not yet)
// serves a partition fails and the next owner in its datacenter, or else in
// another, is asked.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crdt/read_repair.h"
#include "placement/ring.h"
#include "replica/commands/command.h"
#include "replica/node/forwarder.h"
#include "replica/node/node_replication.h"
#include "replica/node/node_stats.h"
#include "storage/engine.h"

namespace geokv::replica {

class Quorum {
 public:
  // `flush` runs the node's queued data commands into a storage job now, so
  // that a job submitted after it sees their writes (a pipelined SET, then a
  // read). The references must outlive the Quorum.
  Quorum(const placement::PlacementTable& table, size_t node_index, storage::Engine& engine,
         boost::asio::io_context& io, Forwarder& forwarder, NodeStats& stats,
         std::function<void()> flush);
  ~Quorum();

  // Set once before serving (null: no replication, so nothing above 1 DC).
  void set_replication(NodeReplication* replication) { replication_ = replication; }

  // min(N, datacenters) of the running topology: what each partition is
  // replicated to.
  uint32_t PartitionDcs() const { return partition_dcs_; }

  // The topology the node runs now and the one before it (Node::
  // ApplyTopology): a read's sources are their owners. Same partition count
  // as the table the Quorum was built with. I/O thread.
  void Adopt(std::shared_ptr<const placement::PlacementTable> running,
             std::shared_ptr<const placement::PlacementTable> previous);

  // A read at level.read > 1 of the keys of `args` (in `partitions`, as
  // routing found them: some node holds them all). Answers `reply` once.
  void Read(DataHandler handler, Args args, std::vector<uint32_t> partitions,
            ConsistencyLevel level, int protocol, Reply reply);

  // A write this node ran, whose deltas are `writes`, at level.write > 1:
  // replies `output` once level.write datacenters applied them all, or
  // -NOQUORUM. REQUIRES: writes is not empty. Any thread.
  void AwaitWrites(std::vector<NodeReplication::Write> writes, ConsistencyLevel level,
                   std::string output, Reply reply);
  // `reply` for a write forwarded to node `target` at level.write > 1: once
  // the target's reply is in, waits for the target's GEOKV.WAITOWN.
  Reply AfterForwardedWrite(ForwardTarget target, std::vector<uint32_t> partitions,
                            ConsistencyLevel level, Reply reply);

  // GEOKV.ATOMS and GEOKV.REPAIR (ServerControl).
  void Atoms(uint32_t partition, std::vector<std::string> keys, Reply reply);
  void Repair(uint32_t partition, std::string encoded, Reply reply);

  static constexpr crdt::KeySnapshotLimits kKeyLimits{};

 private:
  struct ReadState;
  class ScratchPartitions;
  // A remote node a read may ask.
  struct Candidate {
    ForwardTarget target;
    crdt::ReplicaId replica = 0;
    std::string dc;
  };
  // Remote candidates for a read of `partitions`: the nodes holding them all
  // in the running topology or the one before it (not in this node's
  // datacenter if this node serves them), the best of each datacenter first,
  // nearest first, then the others in the same order.
  std::vector<Candidate> Candidates(const std::vector<uint32_t>& partitions, bool local) const;
  void AskLocal(const std::shared_ptr<ReadState>& read);
  void AskNext(const std::shared_ptr<ReadState>& read);
  void OnSourceFailed(const std::shared_ptr<ReadState>& read, const std::string& why);
  void MaybeFinish(const std::shared_ptr<ReadState>& read);
  void Finish(const std::shared_ptr<ReadState>& read, std::string reply);
  void Answer(const std::shared_ptr<ReadState>& read);
  void SendRepairs(const std::shared_ptr<ReadState>& read,
                   const std::map<uint32_t, crdt::Snapshot>& joined);
  void RepairLocal(uint32_t partition, crdt::Snapshot repair, Reply reply);
  // Replies `output`, or -NOQUORUM, by a WAIT or GEOKV.WAITOWN reply. Any thread.
  void SettleWrite(std::string_view waited, ConsistencyLevel level, std::string output,
                   const Reply& reply);
  void NoteRtt(const std::string& node_id, double sample_ms);
  // Whether this node serves p now.
  bool Holds(uint32_t p) const;

  const placement::PlacementTable& table_;
  size_t node_index_;
  storage::Engine& engine_;
  boost::asio::io_context& io_;
  Forwarder& forwarder_;
  NodeStats& stats_;
  std::function<void()> flush_;
  NodeReplication* replication_ = nullptr;
  uint32_t partition_dcs_;
  std::vector<bool> held_;  // by the table (without replication)
  // Adopt's: the running topology and the one before it.
  std::shared_ptr<const placement::PlacementTable> running_;
  std::shared_ptr<const placement::PlacementTable> previous_;
  // By node id: GEOKV.ATOMS round trips (EWMA); absent: unmeasured.
  std::map<std::string, double> rtt_ms_;
};

}  // namespace geokv::replica
