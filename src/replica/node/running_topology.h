// RunningTopology: the topology a node runs, replaceable while it serves, and
// the rules by which a node takes a new one (DESIGN.md "Membership change",
// docs/topology.md "Epochs").
//
// A node is offered topologies by GEOKV.TOPOLOGY APPLY, by SIGHUP (its own
// --topology file, re-read) and by peers running a higher epoch. Each offer
// is parsed and validated exactly as the file at start-up (ParseTopology),
// then judged against the running one (JudgeTopology): the same file is a
// no-op, a higher epoch is adopted, anything else refused. An adopted
// topology is kept in the data directory before it is run, so that a
// restarted node runs the highest epoch it ever adopted.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "placement/ring.h"
#include "placement/topology.h"

namespace geokv::replica {

enum class TopologyVerdict : uint8_t {
  kSame,    // the file it runs (equal text): nothing to do
  kAdopt,   // a higher epoch with the same partition count
  kRefuse,  // a lower epoch, the same epoch with other text, or another partition count
};

struct TopologyJudgement {
  TopologyVerdict verdict = TopologyVerdict::kRefuse;
  std::string reason;  // kRefuse: why, in words for -ERR and the log
};

// What a node running `running` does with `offered` (both validated).
// Thread-safe.
TopologyJudgement JudgeTopology(const placement::Topology& running,
                                const placement::Topology& offered);

// Where a node keeps the topology it adopted: <data_dir>/topology.toml.
std::string AdoptedTopologyPath(const std::string& data_dir);

// Writes `topology`'s text to AdoptedTopologyPath durably (a temporary file,
// fsync, rename over the old one, fsync of the directory): a crash leaves the
// old file or the new one, whole.
[[nodiscard]] Status SaveAdoptedTopology(const std::string& data_dir,
                                         const placement::Topology& topology);

// The topology kept in `data_dir`, nullopt if the node never adopted one, or
// an error (Io, Invalid) when the kept file cannot be read or is not valid.
Result<std::optional<placement::Topology>> LoadAdoptedTopology(const std::string& data_dir);

// Where a node keeps the topology it ran before the one it adopted last:
// <data_dir>/topology.previous.toml. A node restarted while moving to the
// adopted one still has to hear the nodes only the one before names (a
// removed node draining its partitions to it: the move ends only once this
// node has its final seqs); the adopted file alone no longer names them.
std::string PreviousTopologyPath(const std::string& data_dir);
// Writes it, durably as SaveAdoptedTopology; call before SaveAdoptedTopology.
[[nodiscard]] Status SavePreviousTopology(const std::string& data_dir,
                                          const placement::Topology& topology);
// It, as LoadAdoptedTopology.
Result<std::optional<placement::Topology>> LoadPreviousTopology(const std::string& data_dir);

// Of the topologies a node keeps or was given (null entries skipped), the
// one of the highest epoch below `start`'s: the placement a move to `start`
// may still be leaving (a node down while the cluster adopted `start` kept
// only the one before it; a node restarted mid-move kept it as the previous
// one). Null if none is below.
const placement::Topology* TopologyBefore(const placement::Topology& start,
                                          const std::vector<const placement::Topology*>& kept);

// The topology a node starts with, of the one its --topology file gives and
// the one it adopted before: the higher epoch wins. At equal epochs with
// different text the adopted one wins (the file is refused, as APPLY would
// refuse it). `*note` is set to a line for the log when the adopted one is
// chosen over the file, else cleared.
placement::Topology ChooseStartTopology(placement::Topology from_file,
                                        std::optional<placement::Topology> adopted,
                                        std::string* note);

// The topology before node `node_id` joined, as a node that joins a running
// cluster takes it (NodeReplication's join_from): `topology` without that
// node (and without its datacenter if it was the only node there), at the
// epoch below. Exact when the change that added the node added only it (the
// documented procedure: one node per epoch). Invalid if `node_id` is not in
// it, the epoch is 0, or what remains is no valid topology (fewer nodes than
// replicas).
Result<placement::Topology> TopologyWithout(const placement::Topology& topology,
                                            const std::string& node_id);

// The placement table of the topology a node runs. Readers on any thread take
// a reference-counted snapshot (table()), which stays valid while they hold
// it, however often the running one is replaced meanwhile.
class RunningTopology {
 public:
  explicit RunningTopology(std::shared_ptr<const placement::PlacementTable> table);

  // The running table. Thread-safe.
  std::shared_ptr<const placement::PlacementTable> table() const;
  uint64_t epoch() const { return table()->topology().epoch(); }
  // Runs `next` from now on. Thread-safe.
  void Replace(std::shared_ptr<const placement::PlacementTable> next);

  // Offers adopted and refused since start (INFO, /metrics). Thread-safe.
  uint64_t adopted() const { return adopted_.load(std::memory_order_relaxed); }
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  void CountRefused() { refused_.fetch_add(1, std::memory_order_relaxed); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const placement::PlacementTable> table_;  // guarded by mu_
  std::atomic<uint64_t> adopted_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace geokv::replica
