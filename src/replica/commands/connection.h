// What connection and server commands see: the client's session and the
// server's services. The node implements ServerControl; the handlers (in
// t_connection.cc and t_server.cc) hold the protocol logic, so that the node
// never recognises a command by name.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "replica/commands/transaction.h"
#include "replica/resp/resp_writer.h"

namespace geokv::replica {

// Takes one complete RESP reply; may be called from any thread, exactly once.
using Reply = std::function<void(std::string resp)>;

// The writes a client made, for WAIT: partition -> this node's seq of the
// client's latest write there. Updated on the storage writer thread, read on
// the I/O thread.
struct ClientWrites {
  std::mutex mu;
  std::map<uint32_t, uint64_t> last;  // guarded by mu
  // Writes forwarded to other nodes (I/O thread only): target node (topology
  // index) -> the partitions written there; the forwarded writes not yet
  // answered, and what waits for them (a WAIT behind them in a pipeline).
  std::map<size_t, std::set<uint32_t>> forwarded;
  size_t forwards_in_flight = 0;
  std::vector<std::function<void()>> after_forwards;
  // Writes kept as hints (hinted handoff): WAIT counts 0 DCs while any of
  // them is not handed off. Guarded by mu.
  std::vector<uint64_t> hints;
};

// A connection's consistency level (GEOKV.CONSISTENCY; docs/consistency.md):
// a write replies once `write` datacenters holding its partition applied it,
// a read answers from the join of `read` datacenters' replicas, each within
// timeout_ms, else -NOQUORUM. 1 and 1 is the default and costs nothing extra.
struct ConsistencyLevel {
  static constexpr int64_t kDefaultTimeoutMs = 1000;
  static constexpr int64_t kTimeoutMaxMs = int64_t{24} * 3600 * 1000;
  uint32_t read = 1;                       // 1 <= read <= the datacenters of a partition
  uint32_t write = 1;                      // 1 <= write <= the datacenters of a partition
  int64_t timeout_ms = kDefaultTimeoutMs;  // 1 <= timeout_ms <= kTimeoutMaxMs
};

// One client connection's state (CLIENT SETNAME/GETNAME/ID, QUIT, WAIT).
struct ClientSession {
  uint64_t id = 0;
  std::string name;
  std::string address;        // the client's ip:port
  std::string local_address;  // ours: ip:port
  int fd = -1;
  int64_t created_ms = 0;             // steady clock, ms (CLIENT LIST age)
  int64_t last_active_ms = 0;         // of its latest request (CLIENT LIST idle)
  const char* last_command = "NULL";  // table name of its latest command
  bool close_after_reply = false;     // set by QUIT
  std::shared_ptr<ClientWrites> writes = std::make_shared<ClientWrites>();
  int protocol = kResp2;                 // HELLO: kResp2 or kResp3
  bool forwarder = false;                // another node's forwarding link (GEOKV.FORWARDER)
  Transaction multi;                     // MULTI ... EXEC
  std::shared_ptr<WatchedKeys> watched;  // WATCH; null: none
  // The ACL user (access_control.h); "default" until AUTH succeeds.
  std::string user = "default";
  bool authenticated = false;
  ConsistencyLevel consistency;  // GEOKV.CONSISTENCY; RESET restores the default
  // The node this connection's requests for a partition were last forwarded
  // to (Node::RouteTo): they keep going there while it is up, so a level-1
  // read forwarded after a forwarded write reads it even when another holder
  // came up in between. At most kMaxForwardedTo entries (cleared when full).
  static constexpr size_t kMaxForwardedTo = 1024;
  std::map<uint32_t, std::string> forwarded_to;
};

// A CONFIG parameter: its current value, and where CONFIG SET writes it
// (nullptr: read-only): a positive integer into `settable`; for a parameter
// that takes other integers, an integer in [min_value, max_value] through
// `set_integer`; for a text parameter, what CONFIG SET calls (it returns the
// reason it refuses, empty when it applied the value).
struct ConfigParam {
  const char* name;
  std::string value;
  size_t* settable;
  std::function<std::string(const std::string&)> set_text = nullptr;
  std::function<void(int64_t)> set_integer = nullptr;
  int64_t min_value = 0;
  int64_t max_value = INT64_MAX;
};

// One connection as CLIENT LIST shows it (a snapshot, taken on the I/O
// thread).
struct ClientInfo {
  uint64_t id = 0;
  std::string address;
  std::string local_address;
  int fd = -1;
  std::string name;
  int64_t age_s = 0;
  int64_t idle_s = 0;
  bool in_multi = false;
  int64_t multi_queued = -1;  // -1: not in MULTI
  size_t query_buffer_bytes = 0;
  size_t output_bytes = 0;
  std::string last_command;
  int protocol = kResp2;
};

class SlowLog;
class LatencyMonitor;

class AccessControl;

// The server-level services connection commands use. Implemented by the node;
// called on the I/O thread.
class ServerControl {
 public:
  virtual ~ServerControl() = default;
  // The node's ACL users (AUTH, HELLO AUTH, ACL).
  virtual AccessControl& access() = 0;
  // The parameters CONFIG GET shows and CONFIG SET may change.
  virtual std::vector<ConfigParam> ConfigParams() = 0;
  // Answers INFO: `sections` is its arguments lower-cased and joined by
  // spaces ("default" when there are none); needs storage and replication
  // state, so it may answer later.
  virtual void Info(const std::string& sections, Reply reply) = 0;
  // Answers WAIT: how many other datacenters applied every write `client`
  // made, once that is >= numdcs or after timeout_ms (0: no timeout).
  virtual void Wait(ClientSession& client, int64_t numdcs, int64_t timeout_ms, Reply reply) = 0;
  // Answers GEOKV.WAITOWN: how many datacenters other than this node's
  // applied everything this node wrote so far in `partitions` (those it
  // holds), once that is >= numdcs or after timeout_ms (0: no timeout).
  virtual void WaitOwn(std::vector<uint32_t> partitions, int64_t numdcs, int64_t timeout_ms,
                       Reply reply) = 0;
  // Answers WATCH: records the keys' versions in client.watched (created if
  // null), or refuses keys this node does not hold.
  virtual void Watch(ClientSession& client, std::vector<std::string> keys, Reply reply) = 0;
  // Answers EXEC: runs `queued` (data commands whose keys this node holds) as
  // one storage job, unless a key in `watched` (may be null) changed.
  virtual void Exec(ClientSession& client, std::vector<Args> queued,
                    std::shared_ptr<WatchedKeys> watched, Reply reply) = 0;
  // The datacenters each partition is replicated to (min(N, datacenters)):
  // the most GEOKV.CONSISTENCY may ask for.
  virtual uint32_t PartitionDcs() const { return 1; }
  // Answers GEOKV.ATOMS: the encoded crdt::Snapshot of `keys` (all in
  // `partition`, held here) in this node's replica, after every write queued
  // before it; an error for a partition not held or keys over the limits.
  virtual void Atoms(uint32_t /*partition*/, std::vector<std::string> /*keys*/, Reply reply) {
    reply("-ERR GEOKV.ATOMS is not served here\r\n");
  }
  // Answers GEOKV.REPAIR: joins an encoded repair (crdt/read_repair.h) into
  // this node's replica of `partition`; :n atoms added, or an error for
  // malformed bytes.
  virtual void Repair(uint32_t /*partition*/, std::string /*encoded*/, Reply reply) {
    reply("-ERR GEOKV.REPAIR is not served here\r\n");
  }
  // Answers GEOKV.HINT: joins a hint (an encoded crdt::Delta another node
  // kept for `partition`, handed off under the keeper's `epoch` if it said)
  // into this node's replica (ReplicationCore::ApplyHint).
  virtual void Hint(uint32_t /*partition*/, std::string /*delta*/,
                    std::optional<uint64_t> /*epoch*/, Reply reply) {
    reply("-ERR GEOKV.HINT is not served here\r\n");
  }
  // Anti-entropy (docs/replication.md): GEOKV.AAE STATUS, GEOKV.AAE RUN
  // [partition], GEOKV.REBUILD partition. A node without replication refuses.
  virtual void AntiEntropyStatus(Reply reply) { reply(kNoReplication); }
  virtual void RunAntiEntropy(std::optional<uint32_t> /*partition*/, Reply reply) {
    reply(kNoReplication);
  }
  virtual void Rebuild(uint32_t /*partition*/, Reply reply) { reply(kNoReplication); }
  static constexpr const char* kNoReplication = "-ERR this node runs no replication\r\n";
  // GEOKV.TOPOLOGY: [epoch, file text] of the topology the node runs.
  // GEOKV.TOPOLOGY APPLY text (apply_text set): +OK once the node runs that
  // file (adopted, or already run), -ERR if it is invalid or refused
  // (docs/operations.md, "Changing the topology").
  virtual void Topology(std::optional<std::string> /*apply_text*/, Reply reply) {
    reply("-ERR GEOKV.TOPOLOGY is not served here\r\n");
  }
  // GEOKV.MEMBERS: every node of the running topology, and those draining
  // from the placement served, each as field/value pairs.
  virtual void Members(Reply reply) { reply("-ERR GEOKV.MEMBERS is not served here\r\n"); }
  // GEOKV.MOVES: every partition moving at this node, each as field/value
  // pairs (docs/operations.md, "Watch the change"); empty when none moves.
  virtual void Moves(Reply reply) { reply("-ERR GEOKV.MOVES is not served here\r\n"); }
  // Every client connection (CLIENT LIST, CLIENT KILL); none by default.
  virtual std::vector<ClientInfo> Clients() { return {}; }
  // Closes the connection of client `id` (after the replies it is owed are
  // written, if it is the caller's own). Returns whether it existed.
  virtual bool KillClient(uint64_t /*id*/) { return false; }
  // SLOWLOG's and LATENCY's records; null: the command answers as empty.
  virtual SlowLog* slowlog() { return nullptr; }
  virtual LatencyMonitor* latency_monitor() { return nullptr; }
};

// What a connection handler may use. It answers at once through `reply`, or
// calls Defer() and answers later through the callback it returns.
class ConnectionContext {
 public:
  ConnectionContext(ClientSession& session, ServerControl& control, Reply answer)
      : client(session),
        server(control),
        reply(&out_, session.protocol),
        later_(std::move(answer)) {}

  ClientSession& client;
  ServerControl& server;
  RespWriter reply;

  // Switches the connection's protocol (HELLO), this command's reply included.
  void SetProtocol(int protocol) {
    client.protocol = protocol;
    reply = RespWriter(&out_, protocol);
  }

  // The callback that takes the reply; after this call, `reply` is ignored.
  Reply Defer() {
    deferred_ = true;
    return later_;
  }
  // Called by the dispatcher after the handler: sends the reply written to
  // `reply` unless the handler deferred it.
  void Finish() {
    if (!deferred_) later_(std::move(out_));
  }

 private:
  std::string out_;
  Reply later_;
  bool deferred_ = false;
};

}  // namespace geokv::replica
