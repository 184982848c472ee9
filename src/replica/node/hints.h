// Hints: hinted handoff at the node a client talks to (docs/replication.md,
// "Hinted handoff"). When no replica of a key's partition can be reached
// (forwarding failed), a blind write at the default write level is kept here
// as a hint, durable before +OK, and handed off to every replica of its
// partition in the running topology once they answer; deleted when each has
// acknowledged it at the running topology's epoch.
//
// Moves. An acknowledgement counts for the epoch it was given at (the
// GEOKV.HINT carries the keeper's epoch, and a replica running another one
// answers -TRYAGAIN): an owner of an earlier placement may have left the
// partition and deleted it since, or a new owner may have filled it from an
// owner that lacked the hint. After a topology change every owner of the
// new placement takes the hint again (a duplicate where it is already).
//
// The dot. A hint's delta is built by the command's own handler against an
// EMPTY state (this node holds nothing of the partition), so it has no
// removals and joins anywhere, in any order; a removal of its dots that
// reaches a replica first still wins. Its origin is this process's hint id,
// XXH64("hint/" + node id + "/" + incarnation), never a node's id, with seqs
// 1, 2, ... per partition: a new origin per process, so no dot is ever
// issued twice (not after a crash, nor a restored backup).
//
// Which writes (Hintable): SET without NX, XX, GET or KEEPTTL (EX/PX/EXAT/
// PXAT allowed), SETEX, PSETEX, MSET (all its keys hinted, or none). Their
// delta and reply do not depend on the state. Others keep -TRYAGAIN; and
// while hints of a partition are kept here, every other request for it that
// this node would forward gets -TRYAGAIN too (the node's own order: a DEL or
// GET sent here after a hinted SET must not miss it at a replica).
//
// Threading: Keep runs on the storage writer thread (in a job); everything
// else on the I/O thread, except the figures (any thread).
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>  // before Boost.Asio (see server.h)
#include <vector>

#include "crdt/dot.h"
#include "replica/commands/command.h"
#include "replica/commands/partitions.h"
#include "replica/node/forwarder.h"
#include "storage/hint_store.h"

namespace geokv::replica {

// What INFO's "# Hints" section and /metrics show of the hints kept here.
struct HintFigures {
  uint64_t stored = 0;         // hints kept now
  uint64_t bytes = 0;          // their delta bytes
  uint64_t kept = 0;           // hints kept since start
  uint64_t handed_off = 0;     // hints every replica acknowledged (deleted) since start
  uint64_t sends = 0;          // GEOKV.HINT sent to replicas
  uint64_t send_failures = 0;  // ... unanswered, or -TRYAGAIN (the replica is moving)
  uint64_t refused = 0;        // ... refused by a replica (a malformed hint: given up there)
  uint64_t over_limit = 0;     // writes not hinted: the store was full (-TRYAGAIN)
};

class Hints {
 public:
  // The replicas a partition's hints go to now: the running topology's epoch
  // and preference list. Called on the I/O thread.
  struct Owners {
    uint64_t epoch = 0;
    std::vector<ForwardTarget> targets;
  };
  using ReplicasOf = std::function<Owners(uint32_t partition)>;

  // `origin`: HintOrigin(node id, incarnation). The references must outlive it.
  Hints(std::unique_ptr<storage::HintStore> store, crdt::ReplicaId origin,
        boost::asio::io_context& io, Forwarder& forwarder, ReplicasOf replicas_of);
  ~Hints();

  // XXH64 of "hint/" + node_id + "/" + incarnation.
  static crdt::ReplicaId HintOrigin(const std::string& node_id, uint64_t incarnation);

  // Whether `args` of `spec` is a write that may be kept as a hint (above).
  static bool Hintable(const CommandSpec& spec, const Args& args);

  // Runs `handler` over `args` against empty states, as `origin`, with
  // `base` giving the partition of a key and the clocks (a job's
  // Partitions), and keeps the deltas it commits: durable on return. Returns
  // the reply to give the client (the handler's; -TRYAGAIN if the store is
  // over its limits or failed: nothing kept; empty if the command added
  // nothing, a SET with a deadline already passed: no hint, the caller
  // replies as it would have) and the ids kept. Writer thread.
  struct Kept {
    std::string reply;
    std::vector<uint64_t> ids;
  };
  Kept Keep(DataHandler handler, const Args& args, Partitions& base, int protocol);

  // Starts the handoff timer. Call once, on the I/O thread.
  void Start();
  // Calls `done(true)` on the I/O thread once none of `ids` is kept any more
  // (handed off), or `done(false)` after timeout_ms (0: never).
  void WhenHandedOff(std::vector<uint64_t> ids, int64_t timeout_ms, std::function<void(bool)> done);
  // Whether hint `id` is still kept. Any thread.
  bool Pending(uint64_t id) const { return store_->Contains(id); }
  // Whether a hint of `partition` is kept here. Any thread.
  bool KeepsFor(uint32_t partition) const { return store_->KeepsFor(partition); }
  HintFigures Figures() const;

 private:
  static constexpr uint64_t kTickMs = 100;
  static constexpr size_t kHintsPerTickMax = 256;   // hints looked at per tick
  static constexpr size_t kSendsInFlightMax = 256;  // GEOKV.HINT awaiting replies
  static constexpr uint64_t kBackoffMinMs = 100;
  static constexpr uint64_t kBackoffMaxMs = 1000;
  struct Backoff {
    uint64_t delay_ms = 0;
    uint64_t next_ms = 0;
  };
  struct HandoffWait {
    HandoffWait(std::vector<uint64_t> i, uint64_t d, boost::asio::io_context& io,
                std::function<void(bool)> f)
        : ids(std::move(i)), deadline_ms(d), timer(io), done(std::move(f)) {}
    std::vector<uint64_t> ids;
    uint64_t deadline_ms;
    boost::asio::steady_timer timer;
    std::function<void(bool)> done;
  };
  void Poll(std::shared_ptr<HandoffWait> wait);  // WhenHandedOff's polling
  void Schedule();
  void Tick();
  void Send(const storage::StoredHint& hint, const ForwardTarget& target, uint64_t epoch);
  // How hints.db records that `node_id` acknowledged a hint at `epoch`.
  static std::string AckKey(const std::string& node_id, uint64_t epoch);

  std::unique_ptr<storage::HintStore> store_;
  crdt::ReplicaId origin_;
  boost::asio::io_context& io_;
  Forwarder& forwarder_;
  ReplicasOf replicas_of_;
  boost::asio::steady_timer timer_;
  std::map<uint32_t, uint64_t> next_seq_;                 // writer thread: next dot per partition
  std::set<std::pair<uint64_t, std::string>> in_flight_;  // I/O thread: (hint id, node id)
  // False once destroyed: the forwarder (which outlives this) fails the
  // requests still in flight when it shuts down, and WhenHandedOff's timers
  // may fire late; their callbacks check it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::map<std::string, Backoff> backoff_;                // I/O thread: by node id
  uint64_t cursor_ = 0;                                   // I/O thread: last hint id looked at
  std::atomic<uint64_t> kept_{0}, handed_off_{0}, sends_{0}, send_failures_{0}, refused_{0},
      over_limit_{0};
};

}  // namespace geokv::replica
