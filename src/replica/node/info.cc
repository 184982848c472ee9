#include "replica/node/info.h"

#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>

#include "common/assert.h"

namespace geokv::replica {

namespace {

constexpr const char* kDefaultSections[] = {"server",   "clients",     "memory",  "persistence",
                                            "stats",    "replication", "cpu",     "errorstats",
                                            "keyspace", "peers",       "cluster", "hints"};
constexpr const char* kAllSections[] = {
    "server",       "clients",    "memory",   "persistence", "stats",      "replication", "cpu",
    "commandstats", "errorstats", "keyspace", "peers",       "partitions", "cluster",     "hints"};

std::set<std::string> WantedSections(const std::string& sections) {
  std::set<std::string> wanted;
  std::istringstream words(sections);
  for (std::string w; words >> w;) {
    if (w == "default") {
      wanted.insert(std::begin(kDefaultSections), std::end(kDefaultSections));
    } else if (w == "all" || w == "everything") {
      wanted.insert(std::begin(kAllSections), std::end(kAllSections));
    } else {
      wanted.insert(w);
    }
  }
  return wanted;
}

std::string Fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

// dc=..,state=..,lag_ms=..,pending_deltas=.. of a peer (INFO replication and
// INFO peers).
std::string PeerFields(const ReplicationSnapshot::Peer& p) {
  return "dc=" + p.dc + ",state=" + (p.up ? "up" : "down") +
         ",lag_ms=" + (p.lag_ms ? std::to_string(*p.lag_ms) : "-") +
         ",pending_deltas=" + std::to_string(p.pending_deltas);
}

double Seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

std::string HumanBytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes < 1024) return std::to_string(bytes) + "B";
  if (b < 1024.0 * 1024) return Fixed(b / 1024, 2) + "K";
  if (b < 1024.0 * 1024 * 1024) return Fixed(b / (1024.0 * 1024), 2) + "M";
  if (b < 1024.0 * 1024 * 1024 * 1024) return Fixed(b / (1024.0 * 1024 * 1024), 2) + "G";
  return Fixed(b / (1024.0 * 1024 * 1024 * 1024), 2) + "T";
}

class InfoWriter {
 public:
  void Section(const char* title) {
    if (!text_.empty()) text_ += "\r\n";
    text_ += "# ";
    text_ += title;
    text_ += "\r\n";
  }
  void Field(const std::string& key, const std::string& value) {
    text_ += key + ":" + value + "\r\n";
  }
  void Field(const std::string& key, uint64_t value) { Field(key, std::to_string(value)); }
  void Field(const std::string& key, int64_t value) { Field(key, std::to_string(value)); }
  void Field(const std::string& key, int value) { Field(key, std::to_string(value)); }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

void ServerSection(InfoWriter& w, const NodeReport& r) {
  utsname uts{};
  ::uname(&uts);
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  w.Section("Server");
  // What Redis clients check for feature support: geokv speaks Redis 7.0's
  // protocol and commands (as far as docs/compatibility.md says).
  w.Field("redis_version", "7.0.0");
  w.Field("redis_git_sha1", "00000000");
  w.Field("redis_git_dirty", 0);
  w.Field("redis_build_id", "0");
  w.Field("redis_mode", "standalone");
  w.Field("os", std::string(uts.sysname) + " " + uts.release + " " + uts.machine);
  w.Field("arch_bits", static_cast<int>(sizeof(void*) * 8));
  w.Field("multiplexing_api", "epoll");
  w.Field("process_id", static_cast<int64_t>(::getpid()));
  w.Field("run_id", r.run_id);
  w.Field("tcp_port", static_cast<int>(r.self().client.port));
  w.Field("server_time_usec", static_cast<int64_t>(now_us));
  w.Field("uptime_in_seconds", r.uptime_s);
  w.Field("uptime_in_days", r.uptime_s / 86400);
  w.Field("geokv_version", "0.1.0");
  w.Field("node_id", r.self().id);
  w.Field("datacenter", r.self().dc);
  w.Field("partitions_held", static_cast<uint64_t>(r.keys.size()));
  w.Field("hlc", r.hlc);  // the latest HLC issued or adopted (0: none yet)
}

void ClientsSection(InfoWriter& w, const NodeReport& r) {
  w.Section("Clients");
  w.Field("connected_clients", r.server ? r.server->connected_clients.load() : 0);
  w.Field("cluster_connections", 0);
  w.Field("maxclients", static_cast<uint64_t>(r.max_clients));
  w.Field("blocked_clients", 0);
  w.Field("tracking_clients", 0);
}

// The malloc in use: geokv-server links mimalloc (GEOKV_MALLOC in
// CMakeLists.txt), which then serves every malloc of the process; programs
// built without it use glibc's.
std::string AllocatorName() {
  using Version = int (*)();
  if (auto version = reinterpret_cast<Version>(dlsym(RTLD_DEFAULT, "mi_version"))) {
    const int v = version();  // 209: 2.0.9
    return "mimalloc-" + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." +
           std::to_string(v % 10);
  }
  return "libc";
}

void MemorySection(InfoWriter& w, const NodeReport& r) {
  // used_memory is what the allocator handed out (memory_limit.h), the
  // figure --maxmemory is checked against, as in Redis; the resident set
  // also holds what the allocator keeps for reuse.
  const MemoryUsage& m = r.memory;
  w.Section("Memory");
  w.Field("used_memory", m.used_bytes);
  w.Field("used_memory_human", HumanBytes(m.used_bytes));
  w.Field("used_memory_rss", m.rss_bytes);
  w.Field("used_memory_rss_human", HumanBytes(m.rss_bytes));
  w.Field("used_memory_peak", m.used_peak_bytes);
  w.Field("used_memory_peak_human", HumanBytes(m.used_peak_bytes));
  w.Field("maxmemory", m.max_bytes);
  w.Field("maxmemory_human", HumanBytes(m.max_bytes));
  w.Field("maxmemory_policy", "noeviction");
  w.Field("mem_allocator", AllocatorName());
  // geokv's: how long reading used_memory took (memory_limit.h).
  w.Field("used_memory_sample_usec", m.sample_us);
}

void PersistenceSection(InfoWriter& w, const NodeReport& r) {
  // Every acknowledged write is committed to SQLite (group commit): there is
  // no snapshot or AOF to wait for, so Redis's fields read "done".
  w.Section("Persistence");
  w.Field("loading", 0);
  w.Field("async_loading", 0);
  w.Field("rdb_changes_since_last_save", 0);
  w.Field("rdb_bgsave_in_progress", 0);
  w.Field("rdb_last_save_time", r.started_unix_s);
  w.Field("rdb_last_bgsave_status", "ok");
  w.Field("aof_enabled", 0);
  w.Field("aof_rewrite_in_progress", 0);
  w.Field("aof_last_bgrewrite_status", "ok");
  w.Field("aof_last_write_status", "ok");
  w.Field("storage_engine", "sqlite");
  w.Field("storage_path", r.data_path);
  if (r.engine != nullptr) {
    const Histogram::Snapshot groups = r.engine->group_seconds.Read();
    const Histogram::Snapshot jobs = r.engine->group_jobs.Read();
    w.Field("storage_group_commits", groups.count);
    w.Field("storage_jobs", static_cast<uint64_t>(jobs.sum));
    w.Field("storage_group_commit_avg_usec",
            Fixed(groups.count ? groups.sum * 1e6 / static_cast<double>(groups.count) : 0, 2));
  }
}

void StatsSection(InfoWriter& w, const NodeReport& r) {
  const NodeStats& s = *r.stats;
  w.Section("Stats");
  if (r.server != nullptr) {
    const ServerStats& ss = *r.server;
    w.Field("total_connections_received", ss.connections_received.load());
    w.Field("total_commands_processed", ss.commands_processed.load());
    w.Field("instantaneous_ops_per_sec", static_cast<uint64_t>(r.ops_per_sec + 0.5));
    w.Field("rejected_connections", ss.connections_rejected.load());
  }
  w.Field("expired_keys", s.expired_keys.load());
  w.Field("evicted_keys", 0);
  w.Field("keyspace_hits", s.keyspace_hits.load());
  w.Field("keyspace_misses", s.keyspace_misses.load());
  w.Field("quorum_reads", s.quorum_reads.load());
  w.Field("quorum_writes", s.quorum_writes.load());
  w.Field("noquorum_reads", s.noquorum_reads.load());
  w.Field("noquorum_writes", s.noquorum_writes.load());
  w.Field("read_repairs", s.read_repairs.load());
  w.Field("read_repair_atoms", s.read_repair_atoms.load());
  w.Field("pubsub_channels", 0);
  w.Field("pubsub_patterns", 0);
  w.Field("total_error_replies", s.errors_total());
  if (r.server != nullptr) {
    w.Field("total_error_replies_protocol", r.server->protocol_errors.load());
    w.Field("client_output_buffer_limit_disconnections", r.server->output_limit_disconnects.load());
  }
}

// The fields INFO replication has shown since the first release (tools and
// tests read them: geokv-check's lag_ms=, repl_inbound_dropped, ...).
void ReplicationSection(InfoWriter& w, const NodeReport& r) {
  w.Section("Replication");
  w.Field("role", "geo-replica");
  if (!r.replication) return;
  const ReplicationSnapshot& snap = *r.replication;
  w.Field("connected_peers", static_cast<uint64_t>(std::count_if(
                                 snap.peers.begin(), snap.peers.end(),
                                 [](const ReplicationSnapshot::Peer& p) { return p.up; })));
  for (size_t i = 0; i < snap.peers.size(); ++i) {
    w.Field("peer" + std::to_string(i), "id=" + snap.peers[i].id + "," + PeerFields(snap.peers[i]));
  }
  const replication::Stats& s = snap.stats;
  w.Field("batches_published", s.batches_published);
  w.Field("batches_applied", s.batches_applied);
  w.Field("deltas_applied", s.deltas_applied);
  w.Field("gaps", s.gaps);
  w.Field("catchup_requests", s.catchup_requests);
  w.Field("state_transfers_sent", s.state_transfers_sent);
  w.Field("state_transfers_applied", s.state_transfers_applied);
  w.Field("state_chunks_sent", s.state_chunks_sent);
  w.Field("state_chunks_applied", s.state_chunks_applied);
  w.Field("rejected_messages", s.rejected + snap.malformed_messages);
  w.Field("folded_atoms", s.folded_atoms);
  w.Field("peer_restarts", s.peer_restarts);
  // Heartbeats of an older process of a peer: a second process with a peer's
  // node id shows here (and in the log) instead of mixing its reports in.
  w.Field("stale_incarnations", s.stale_incarnations);
  // ... and of a second live process while the accepted one still talks.
  w.Field("duplicate_identities", s.duplicate_identities);
  w.Field("own_recoveries", s.own_recoveries);
  // Anti-entropy (docs/replication.md): exchanges begun here, keys found
  // different at equal applied vectors, keys repaired here from a majority.
  w.Field("aae_exchanges", s.aae_exchanges);
  w.Field("aae_equal", s.aae_equal);
  w.Field("aae_divergent_keys", s.aae_divergent_keys);
  w.Field("aae_repairs", s.aae_repairs);
  w.Field("aae_bytes", s.aae_bytes);
  w.Field("aae_rebuilds", s.aae_rebuilds);
  // Membership change: partitions filled here as a new owner, handed over
  // and deleted here, and the atoms deleted doing so.
  w.Field("moves_joined", s.moves_joined);
  w.Field("moves_left", s.moves_left);
  w.Field("move_atoms_deleted", s.move_atoms_deleted);
  w.Field("hlc_refused", snap.hlc_refused);
  if (snap.transport) {
    w.Field("repl_bytes_sent", snap.transport->bytes_sent);
    w.Field("repl_messages_sent", snap.transport->messages_sent);
    w.Field("repl_inbound_dropped", snap.transport->inbound_dropped);
    // Peers refused by CURVE: a key not in the topology, or a request in
    // another node's name.
    w.Field("repl_curve_refused", snap.transport->curve_refused);
  }
}

void CpuSection(InfoWriter& w) {
  rusage self{}, children{};
  ::getrusage(RUSAGE_SELF, &self);
  ::getrusage(RUSAGE_CHILDREN, &children);
  w.Section("CPU");
  w.Field("used_cpu_sys", Fixed(Seconds(self.ru_stime), 6));
  w.Field("used_cpu_user", Fixed(Seconds(self.ru_utime), 6));
  w.Field("used_cpu_sys_children", Fixed(Seconds(children.ru_stime), 6));
  w.Field("used_cpu_user_children", Fixed(Seconds(children.ru_utime), 6));
}

void CommandStatsSection(InfoWriter& w, const NodeReport& r) {
  w.Section("Commandstats");
  const auto& commands = AllCommands();
  for (size_t i = 0; i < commands.size(); ++i) {
    const CommandCounters& c = r.stats->command(i);
    const uint64_t calls = c.calls.load(), rejected = c.rejected.load();
    if (calls == 0 && rejected == 0) continue;
    const uint64_t usec = c.usec.load();
    w.Field(std::string("cmdstat_") + commands[i].name,
            "calls=" + std::to_string(calls) + ",usec=" + std::to_string(usec) + ",usec_per_call=" +
                Fixed(calls ? static_cast<double>(usec) / static_cast<double>(calls) : 0, 2) +
                ",rejected_calls=" + std::to_string(rejected) +
                ",failed_calls=" + std::to_string(c.failed.load()));
  }
}

void ErrorStatsSection(InfoWriter& w, const NodeReport& r) {
  w.Section("Errorstats");
  for (const auto& [code, count] : r.stats->Errors()) {
    w.Field("errorstat_" + code, "count=" + std::to_string(count));
  }
}

void KeyspaceSection(InfoWriter& w, const NodeReport& r) {
  w.Section("Keyspace");
  // Expiry atoms are not counted per partition: expires and avg_ttl read 0.
  if (const uint64_t keys = r.total_keys(); keys > 0) {
    w.Field("db0", "keys=" + std::to_string(keys) + ",expires=0,avg_ttl=0");
  }
}

void PeersSection(InfoWriter& w, const NodeReport& r) {
  w.Section("Peers");
  if (!r.replication) return;
  for (const auto& p : r.replication->peers) w.Field(p.id, PeerFields(p));
}

void PartitionsSection(InfoWriter& w, const NodeReport& r) {
  w.Section("Partitions");
  w.Field("partitions", static_cast<uint64_t>(r.table->partitions()));
  w.Field("replicas", static_cast<uint64_t>(r.table->topology().replicas()));
  w.Field("partitions_held", static_cast<uint64_t>(r.keys.size()));
  for (const auto& [p, keys] : r.keys) {
    w.Field("partition" + std::to_string(p), "keys=" + std::to_string(keys));
  }
}

void ClusterSection(InfoWriter& w, const NodeReport& r) {
  const ClusterFigures& c = r.cluster;
  w.Section("Cluster");
  // Redis's own field: geokv does not speak the Redis Cluster protocol
  // (clients must not switch to CLUSTER SLOTS and -MOVED).
  w.Field("cluster_enabled", 0);
  w.Field("topology_epoch", c.epoch);
  w.Field("topology_source", c.source);
  w.Field("topology_nodes", c.nodes);
  w.Field("topology_datacenters", c.datacenters);
  w.Field("topology_self_member", static_cast<uint64_t>(c.self_in_topology ? 1 : 0));
  w.Field("topology_peers_ahead", c.peers_ahead);
  w.Field("topology_adopted", c.adopted);
  w.Field("topology_refused", c.refused);
  w.Field("move_bytes_left", c.move_bytes_left);
  for (size_t role = 0; role < kMoveRoles; ++role) {
    w.Field(std::string("moves_") + MoveRoleName(static_cast<replication::MoveStatus::Role>(role)),
            c.moves_by_role[role]);
  }
  w.Field("moves_stalled", c.moves_stalled);
}

// Hinted handoff (docs/replication.md): the hints kept here, and other
// nodes' hints joined here.
void HintsSection(InfoWriter& w, const NodeReport& r) {
  w.Section("Hints");
  if (r.hints) {
    const HintFigures& h = *r.hints;
    w.Field("hints_stored", h.stored);
    w.Field("hints_stored_bytes", h.bytes);
    w.Field("hints_kept", h.kept);
    w.Field("hints_handed_off", h.handed_off);
    w.Field("hints_sends", h.sends);
    w.Field("hints_send_failures", h.send_failures);
    w.Field("hints_refused_by_replicas", h.refused);
    w.Field("hints_over_limit", h.over_limit);
  }
  if (r.replication) {
    const replication::Stats& s = r.replication->stats;
    w.Field("hints_applied", s.hints_applied);
    w.Field("hints_duplicate", s.hints_duplicate);
    w.Field("hints_refused", s.hints_refused);
  }
}

}  // namespace

std::string InfoText(const NodeReport& r, const std::string& sections) {
  GEOKV_ASSERT(r.table != nullptr);
  GEOKV_ASSERT(r.stats != nullptr);
  const std::set<std::string> wanted = WantedSections(sections);
  InfoWriter w;
  // Redis's order.
  if (wanted.count("server")) ServerSection(w, r);
  if (wanted.count("clients")) ClientsSection(w, r);
  if (wanted.count("memory")) MemorySection(w, r);
  if (wanted.count("persistence")) PersistenceSection(w, r);
  if (wanted.count("stats")) StatsSection(w, r);
  if (wanted.count("replication")) ReplicationSection(w, r);
  if (wanted.count("cpu")) CpuSection(w);
  if (wanted.count("commandstats")) CommandStatsSection(w, r);
  if (wanted.count("errorstats")) ErrorStatsSection(w, r);
  if (wanted.count("keyspace")) KeyspaceSection(w, r);
  if (wanted.count("peers")) PeersSection(w, r);
  if (wanted.count("partitions")) PartitionsSection(w, r);
  if (wanted.count("cluster")) ClusterSection(w, r);
  if (wanted.count("hints")) HintsSection(w, r);
  return w.Take();
}

}  // namespace geokv::replica
