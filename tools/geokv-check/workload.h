// Workload: seeded concurrent clients at every datacenter on a small key space
// (so that conflicts happen), each operation recorded with its outcome.
//
// Per key type: counters (INCRBY, DEL), sets (SADD of unique members, SREM
// only of members the client has read), carts (HINCRBY, HDEL), registers (SET
// of unique values, DEL) and multi-value registers (MVSET, half of them with
// the token of an MVGET). A reply is kOk; an error reply kError (nothing was
// applied), except TRYAGAIN (a forward whose reply was lost: kUnknown); a
// connection failure or timeout kUnknown, after which the client reconnects.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "history.h"
#include "placement/topology.h"

namespace geokv::check {

struct WorkloadOptions {
  uint64_t seed = 1;
  int clients_per_dc = 2;
  int keys_per_type = 4;
  int reply_timeout_ms = 3000;
};

// The keys a workload uses, by type (for reading the final state).
struct KeySpace {
  std::vector<std::string> counters, sets, carts, registers, mvregs;
  static KeySpace Make(int keys_per_type);
};

class Workload {
 public:
  // The node (an index into the topology) client `index` of datacenter `dc`
  // talks to now; nullopt: none (the client waits). Thread-safe.
  using Router = std::function<std::optional<size_t>(size_t dc, int index)>;

  // Clients run in every datacenter of `topology`; without a router client
  // i of a datacenter talks to its i-th node (modulo) throughout. With one,
  // a client moves when the router names another node (a node left or
  // joined): it reconnects there.
  Workload(const placement::Topology& topology, WorkloadOptions options,
           std::chrono::steady_clock::time_point epoch, Router router = nullptr);

  // Runs every client until `stop` is set (blocks).
  void Run(const std::atomic<bool>& stop);

  // Holds every client before its next request (true) or lets them go on
  // (false). Holding returns once every client is parked, or after
  // max_wait_ms (a client may be waiting for a reply). For a quiet moment
  // in which nothing is in flight (the restore fault).
  void Hold(bool on, uint64_t max_wait_ms = 4000);

  std::vector<Op> TakeHistory();
  const KeySpace& keys() const { return keys_; }
  uint64_t ops() const { return ops_; }

 private:
  void Client(size_t dc, int index, const std::atomic<bool>& stop);
  uint64_t NowMs() const;

  const placement::Topology& topology_;
  WorkloadOptions options_;
  std::chrono::steady_clock::time_point epoch_;
  Router router_;
  KeySpace keys_;
  std::mutex mu_;
  std::vector<Op> history_;  // guarded by mu_
  std::atomic<uint64_t> ops_{0};
  std::atomic<bool> held_{false};
  std::atomic<int> parked_{0};
};

}  // namespace geokv::check
