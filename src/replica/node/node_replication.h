// NodeReplication: the replication core of one node, driven over storage jobs
// and the ZeroMQ transport.
//
// The core (replication/core.h) is a socket-free state machine. Here it lives
// on the storage writer thread: every call to it runs inside a storage job, so
// its effects on the node's replicas commit in the same transaction as the
// progress it records, and its outgoing messages are sent only after that
// commit (a delta published before its commit could be lost by a crash and
// its dots reused). Inputs reach it as jobs:
//   - local deltas: from the command jobs that commit them (OnLocalDelta);
//   - peer messages: the transport signals, a job takes a bounded batch;
//   - time: a timer on the I/O thread submits a tick job every few ms.
// WAIT waiters are registered and answered from those jobs too.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>  // before Boost.Asio (see server.h)
#include <vector>

#include "placement/ring.h"
#include "replica/replication/core.h"
#include "replica/transport/transport.h"
#include "storage/engine.h"

namespace geokv::replica {

struct ReplicationSettings {
  replication::Options core;
  int send_high_water_mark = 100'000;
  int receive_high_water_mark = 100'000;
  size_t inbound_queue_max = 100'000;
  uint64_t tick_interval_ms = 5;
  size_t max_waiters = 10'000;  // WAIT calls blocked at once
  // TESTING ONLY: drop every n-th delta batch received and never repair the
  // gap. A deliberately broken store, so that geokv-check's own tests can show
  // that it reports divergence. 0 = off.
  uint64_t testing_drop_every_nth_batch = 0;
};

class NodeReplication {
 public:
  using Reply = std::function<void(std::string resp)>;
  // A write a client made: (partition, this node's seq of its delta).
  using Write = std::pair<uint32_t, uint64_t>;

  NodeReplication(const placement::PlacementTable& table, size_t node_index,
                  storage::Engine& engine, boost::asio::io_context& io,
                  ReplicationSettings settings);
  ~NodeReplication();

  // Builds the core from what storage committed, binds and connects the
  // transport and starts the tick timer.
  Status Start();
  // Stops the timer and the transport (call before the engine shuts down).
  void Stop();

  // In a command job, after the delta was applied to the partition: logs it
  // and queues it for publication.
  void OnLocalDelta(storage::Transaction& txn, uint32_t partition, const crdt::Delta& delta);
  // At the end of every job that called OnLocalDelta: if the transaction
  // failed, the core's memory ran ahead of storage and must be rebuilt.
  void EndJob(const storage::Transaction& txn);
  // In the `done` of such a job: sends what the core queued once the commit
  // succeeded, or marks the core for a rebuild if it did not.
  void AfterCommit(const Status& status);

  // WAIT numdcs timeout_ms for a client whose writes are `writes` (I/O thread).
  void Wait(std::vector<Write> writes, int64_t numdcs, int64_t timeout_ms, Reply reply);
  // Whether the failure detector considers the node (a topology index) up:
  // readable from any thread; this node counts as up.
  bool IsUp(size_t node_index) const { return node_up_[node_index].load(); }

  // The "# Replication" section of INFO (from a job; `reply` gets the text).
  void InfoSection(std::function<void(std::string)> reply);

 private:
  class TxnStore;
  struct Waiter {
    std::vector<Write> writes;
    uint32_t numdcs;
    uint64_t deadline_ms;  // 0: none
    Reply reply;
  };
  uint64_t NowMs() const;
  // The core, rebuilt first from what storage committed if a failed job left
  // it stale (its queued messages are dropped with it: they may describe
  // writes that were rolled back). Writer thread.
  replication::ReplicationCore& Core(TxnStore& store);
  void ScheduleInbound();                             // transport thread
  void ScheduleTick();                                // I/O thread
  void CheckWaiters(uint64_t now_ms);                 // writer thread
  void Send(std::vector<replication::Outgoing> out);  // writer thread
  bool FromItsSender(const InboundMessage& m, const replication::Message& message) const;

  const placement::PlacementTable& table_;
  size_t node_index_;
  storage::Engine& engine_;
  boost::asio::io_context& io_;
  ReplicationSettings settings_;
  replication::Membership membership_;
  std::map<crdt::ReplicaId, std::string> node_id_of_;
  std::map<std::string, crdt::ReplicaId> replica_id_of_;

  std::unique_ptr<std::atomic<bool>[]> node_up_;  // by topology index; written by ticks
  std::map<crdt::ReplicaId, size_t> index_of_;
  std::unique_ptr<replication::ReplicationCore> core_;  // writer thread only
  bool stale_ = false;                                  // writer thread only
  std::vector<Waiter> waiters_;                         // writer thread only
  uint64_t malformed_messages_ = 0;                     // writer thread only
  uint64_t batches_received_ = 0;                       // writer thread only
  std::unique_ptr<Transport> transport_;
  std::mutex transport_mu_;  // guards transport_ against Stop()
  boost::asio::steady_timer tick_timer_;
  std::atomic<bool> inbound_scheduled_{false};
  std::atomic<bool> tick_scheduled_{false};
  std::atomic<bool> stopped_{false};
  std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
};

}  // namespace geokv::replica
