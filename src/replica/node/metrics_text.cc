#include "replica/node/metrics_text.h"

#include <charconv>
#include <cmath>

#include "common/assert.h"

namespace geokv::replica {

namespace {

std::string Number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  GEOKV_ASSERT(ec == std::errc());
  return std::string(buf, end);
}

class PromWriter {
 public:
  // Starts a metric family.
  void Family(const std::string& name, const char* type, const char* help) {
    text_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  // labels: already formatted pairs, `a="x",b="y"` (may be empty).
  void Sample(const std::string& name, const std::string& labels, const std::string& value) {
    text_ += name;
    if (!labels.empty()) text_ += "{" + labels + "}";
    text_ += " " + value + "\n";
  }
  void Sample(const std::string& name, const std::string& labels, uint64_t value) {
    Sample(name, labels, std::to_string(value));
  }
  void Sample(const std::string& name, const std::string& labels, double value) {
    Sample(name, labels, Number(value));
  }
  // One family with a single unlabelled sample.
  void Single(const std::string& name, const char* type, const char* help, uint64_t value) {
    Family(name, type, help);
    Sample(name, "", value);
  }
  void Histogram(const std::string& name, const std::string& labels,
                 const geokv::Histogram::Snapshot& h) {
    const std::string sep = labels.empty() ? "" : ",";
    for (size_t i = 0; i < h.upper_bounds.size(); ++i) {
      Sample(name + "_bucket", labels + sep + "le=\"" + Number(h.upper_bounds[i]) + "\"",
             h.cumulative[i]);
    }
    Sample(name + "_bucket", labels + sep + "le=\"+Inf\"", h.count);
    Sample(name + "_sum", labels, h.sum);
    Sample(name + "_count", labels, h.count);
  }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

std::string Label(const char* name, const std::string& value) {
  return std::string(name) + "=\"" + EscapeLabelValue(value) + "\"";
}

void Commands(PromWriter& w, const NodeReport& r) {
  const auto& commands = AllCommands();
  auto used = [&](size_t i) {
    const CommandCounters& c = r.stats->command(i);
    return c.calls.load() > 0 || c.rejected.load() > 0;
  };
  w.Family("geokv_commands_total", "counter", "Commands run, by command.");
  for (size_t i = 0; i < commands.size(); ++i) {
    if (used(i))
      w.Sample("geokv_commands_total", Label("cmd", commands[i].name),
               r.stats->command(i).calls.load());
  }
  w.Family("geokv_command_errors_total", "counter",
           "Commands answered with an error (refused before running, or failed), by command.");
  for (size_t i = 0; i < commands.size(); ++i) {
    if (!used(i)) continue;
    const CommandCounters& c = r.stats->command(i);
    w.Sample("geokv_command_errors_total", Label("cmd", commands[i].name),
             c.failed.load() + c.rejected.load());
  }
  w.Family("geokv_command_duration_seconds", "histogram",
           "Time from a command's dispatch to its reply (a write's includes its group commit).");
  for (size_t i = 0; i < commands.size(); ++i) {
    if (used(i)) {
      w.Histogram("geokv_command_duration_seconds", Label("cmd", commands[i].name),
                  r.stats->command(i).seconds.Read());
    }
  }
  w.Family("geokv_errors_total", "counter", "Error replies, by error code (ERR, WRONGTYPE, ...).");
  for (const auto& [code, count] : r.stats->Errors()) {
    w.Sample("geokv_errors_total", Label("code", code), count);
  }
  w.Single("geokv_unknown_commands_total", "counter", "Requests naming no known command.",
           r.stats->unknown_commands.load());
  w.Single("geokv_keyspace_hits_total", "counter",
           "Reads of one key that found it (single-key read commands).",
           r.stats->keyspace_hits.load());
  w.Single("geokv_keyspace_misses_total", "counter",
           "Reads of one key that did not find it (a null reply).",
           r.stats->keyspace_misses.load());
  w.Single("geokv_expired_keys_total", "counter", "Keys removed by active expiry.",
           r.stats->expired_keys.load());
  w.Single("geokv_topology_epoch", "gauge", "The epoch of the topology this node runs.",
           r.cluster.epoch);
  w.Single("geokv_topology_nodes", "gauge", "Nodes in the topology this node runs.",
           r.cluster.nodes);
  w.Single("geokv_topology_datacenters", "gauge", "Datacenters in the topology this node runs.",
           r.cluster.datacenters);
  w.Single("geokv_topology_self_member", "gauge",
           "1 while this node is in the topology it runs; 0: it was removed and drains.",
           r.cluster.self_in_topology ? 1 : 0);
  w.Single("geokv_topology_peers_ahead", "gauge",
           "Peers last heard to run a higher topology epoch than this node.",
           r.cluster.peers_ahead);
  w.Single("geokv_topology_adopted_total", "counter", "Topologies this node adopted since start.",
           r.cluster.adopted);
  w.Single("geokv_topology_refused_total", "counter",
           "Topologies offered to this node and refused: invalid, or not a higher epoch.",
           r.cluster.refused);
  w.Single("geokv_move_bytes_left", "gauge",
           "Estimated bytes this node's partition moves still have to move (0: none).",
           r.cluster.move_bytes_left);
  w.Family("geokv_moves", "gauge", "Partitions moving at this node, by its role in the move.");
  for (size_t role = 0; role < kMoveRoles; ++role) {
    w.Sample("geokv_moves",
             Label("role", MoveRoleName(static_cast<replication::MoveStatus::Role>(role))),
             r.cluster.moves_by_role[role]);
  }
  w.Single("geokv_moves_stalled", "gauge",
           "Partitions moving at this node for longer than --move-stall-warn-ms.",
           r.cluster.moves_stalled);
  w.Family("geokv_quorum_requests_total", "counter",
           "Requests above consistency level 1, by kind and whether they met it.");
  w.Sample("geokv_quorum_requests_total", Label("kind", "read") + "," + Label("result", "ok"),
           r.stats->quorum_reads.load());
  w.Sample("geokv_quorum_requests_total", Label("kind", "read") + "," + Label("result", "noquorum"),
           r.stats->noquorum_reads.load());
  w.Sample("geokv_quorum_requests_total", Label("kind", "write") + "," + Label("result", "ok"),
           r.stats->quorum_writes.load());
  w.Sample("geokv_quorum_requests_total",
           Label("kind", "write") + "," + Label("result", "noquorum"),
           r.stats->noquorum_writes.load());
  w.Single("geokv_read_repairs_total", "counter",
           "Read repairs sent by this node as a reader (per replica and partition).",
           r.stats->read_repairs.load());
  w.Single("geokv_read_repair_atoms_total", "counter",
           "Atoms read repairs added to this node's replicas.", r.stats->read_repair_atoms.load());
  w.Single("geokv_slowlog_entries", "gauge", "Entries in the slow log.", r.stats->slowlog.size());
}

void Clients(PromWriter& w, const NodeReport& r) {
  if (r.server == nullptr) return;
  const ServerStats& s = *r.server;
  w.Single("geokv_connected_clients", "gauge", "Client connections open.",
           s.connected_clients.load());
  w.Single("geokv_connections_received_total", "counter", "Client connections accepted.",
           s.connections_received.load());
  w.Single("geokv_connections_rejected_total", "counter",
           "Client connections refused (maxclients).", s.connections_rejected.load());
  w.Single("geokv_protocol_errors_total", "counter",
           "Clients disconnected for a RESP protocol error.", s.protocol_errors.load());
  w.Single("geokv_output_buffer_disconnections_total", "counter",
           "Clients disconnected for exceeding the output buffer limit.",
           s.output_limit_disconnects.load());
}

void Replication(PromWriter& w, const NodeReport& r) {
  if (!r.replication) return;
  const ReplicationSnapshot& snap = *r.replication;
  auto peer = [](const ReplicationSnapshot::Peer& p) {
    return Label("peer", p.id) + "," + Label("dc", p.dc);
  };
  w.Family("geokv_peer_up", "gauge", "Whether the failure detector considers the peer up.");
  for (const auto& p : snap.peers) w.Sample("geokv_peer_up", peer(p), uint64_t{p.up ? 1u : 0u});
  w.Family("geokv_replication_lag_seconds", "gauge",
           "From the local commit of one of our deltas to the peer's report that it applied it "
           "(latest measure; absent until one was made).");
  for (const auto& p : snap.peers) {
    if (p.lag_ms)
      w.Sample("geokv_replication_lag_seconds", peer(p), static_cast<double>(*p.lag_ms) / 1000);
  }
  w.Family("geokv_replication_pending_deltas", "gauge",
           "Our deltas the peer has not reported applying, over the partitions we share.");
  for (const auto& p : snap.peers)
    w.Sample("geokv_replication_pending_deltas", peer(p), p.pending_deltas);

  const replication::Stats& s = snap.stats;
  struct Counter {
    const char* name;
    const char* help;
    uint64_t value;
  };
  const Counter counters[] = {
      {"geokv_replication_batches_published_total", "Delta batches published.",
       s.batches_published},
      {"geokv_replication_batches_applied_total", "Peer batches (live or catch-up) applied.",
       s.batches_applied},
      {"geokv_replication_deltas_applied_total", "Peer deltas applied.", s.deltas_applied},
      {"geokv_replication_duplicates_total", "Batches or snapshots that brought nothing new.",
       s.duplicates},
      {"geokv_replication_gaps_total", "Batches that started beyond what was applied.", s.gaps},
      {"geokv_replication_catchup_requests_total", "Catch-up requests sent.", s.catchup_requests},
      {"geokv_replication_catchup_retries_total", "Catch-up requests that timed out.",
       s.catchup_retries},
      {"geokv_replication_state_transfers_sent_total", "Partition states sent to catch a peer up.",
       s.state_transfers_sent},
      {"geokv_replication_state_transfers_applied_total", "Partition states received and applied.",
       s.state_transfers_applied},
      {"geokv_replication_state_chunks_sent_total", "Chunks of partition states sent.",
       s.state_chunks_sent},
      {"geokv_replication_state_chunks_applied_total", "Chunks of partition states applied.",
       s.state_chunks_applied},
      {"geokv_replication_rejected_messages_total",
       "Peer messages refused: no business sending them, undecodable, or not from their sender.",
       s.rejected + snap.malformed_messages},
      {"geokv_replication_dropped_total", "Messages or buffered batches dropped over a limit.",
       s.dropped},
      {"geokv_replication_peers_down_total", "Peers seen going from up to down.", s.peers_down},
      {"geokv_replication_peer_restarts_total", "Heartbeats of a peer's new incarnation.",
       s.peer_restarts},
      {"geokv_replication_stale_incarnations_total",
       "Heartbeats refused: from an older process of a peer.", s.stale_incarnations},
      {"geokv_replication_duplicate_identities_total",
       "Heartbeats refused: a second live process with a peer's node id.", s.duplicate_identities},
      {"geokv_replication_own_recoveries_total", "Own deltas lost here and taken back from a peer.",
       s.own_recoveries},
      {"geokv_aae_exchanges_total", "Anti-entropy exchanges begun here.", s.aae_exchanges},
      {"geokv_aae_divergent_keys_total",
       "Keys whose replicas differ at equal applied vectors (anti-entropy).",
       s.aae_divergent_keys},
      {"geokv_aae_repairs_total", "Keys this replica repaired from a majority (anti-entropy).",
       s.aae_repairs},
      {"geokv_aae_bytes_total", "Anti-entropy message bytes sent and received.", s.aae_bytes},
  };
  for (const Counter& c : counters) w.Single(c.name, "counter", c.help, c.value);
  w.Single("geokv_replication_hlc_refused_total", "counter",
           "Peers' clocks (HLCs) too far ahead of ours to adopt.", snap.hlc_refused);
  if (snap.transport) {
    const TransportStats& t = *snap.transport;
    w.Single("geokv_replication_sent_bytes_total", "counter", "Replication bytes sent.",
             t.bytes_sent);
    w.Single("geokv_replication_sent_messages_total", "counter", "Replication messages sent.",
             t.messages_sent);
    w.Single("geokv_replication_received_bytes_total", "counter", "Replication bytes received.",
             t.bytes_received);
    w.Single("geokv_replication_received_messages_total", "counter",
             "Replication messages received.", t.messages_received);
    w.Single("geokv_replication_inbound_dropped_total", "counter",
             "Inbound replication messages dropped on a full queue (recovered by catch-up).",
             t.inbound_dropped);
    w.Single("geokv_replication_curve_refused_total", "counter",
             "Peers refused by CURVE: a key not in the topology, or a request in another node's "
             "name.",
             t.curve_refused);
  }
}

void Storage(PromWriter& w, const NodeReport& r) {
  if (r.engine != nullptr) {
    w.Family("geokv_storage_commit_duration_seconds", "histogram",
             "Group commits: from BEGIN to COMMIT's return (the jobs, the commit and its fsync).");
    w.Histogram("geokv_storage_commit_duration_seconds", "", r.engine->group_seconds.Read());
    w.Family("geokv_storage_group_jobs", "histogram", "Jobs per group commit.");
    w.Histogram("geokv_storage_group_jobs", "", r.engine->group_jobs.Read());
  }
  w.Family("geokv_keys", "gauge", "Keys in each partition this node holds.");
  for (const auto& [p, keys] : r.keys)
    w.Sample("geokv_keys", Label("partition", std::to_string(p)), keys);
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Hinted handoff (docs/replication.md): hints kept here, and hints joined here.
void HintMetrics(PromWriter& w, const NodeReport& r) {
  if (r.hints) {
    const HintFigures& h = *r.hints;
    w.Single("geokv_hints_stored", "gauge", "Hints kept here, not yet handed off.", h.stored);
    w.Single("geokv_hints_stored_bytes", "gauge", "Delta bytes of the hints kept here.", h.bytes);
    w.Single("geokv_hints_kept_total", "counter",
             "Writes kept as hints (no replica of their partition reachable).", h.kept);
    w.Single("geokv_hints_handed_off_total", "counter",
             "Hints every replica acknowledged (then deleted).", h.handed_off);
    w.Single("geokv_hints_send_failures_total", "counter",
             "Hint handoffs that failed (unreachable, or the replica was moving).",
             h.send_failures);
    w.Single("geokv_hints_refused_by_replica_total", "counter",
             "Hints a replica refused as malformed (given up for that replica).", h.refused);
    w.Single("geokv_hints_over_limit_total", "counter",
             "Writes not hinted: the hints were at --hint-max-bytes or --hint-max-count.",
             h.over_limit);
  }
  if (r.replication) {
    const replication::Stats& s = r.replication->stats;
    w.Single("geokv_hints_applied_total", "counter", "Other nodes' hints joined here.",
             s.hints_applied);
    w.Single("geokv_hints_duplicate_total", "counter", "Hints received that were here already.",
             s.hints_duplicate);
    w.Single("geokv_hints_refused_total", "counter", "Hints received and refused as malformed.",
             s.hints_refused);
  }
}

std::string MetricsText(const NodeReport& r) {
  GEOKV_ASSERT(r.table != nullptr);
  GEOKV_ASSERT(r.stats != nullptr);
  PromWriter w;
  w.Family("geokv_build_info", "gauge", "Always 1; the labels say which node and version.");
  w.Sample(
      "geokv_build_info",
      Label("version", "0.1.0") + "," + Label("node", r.self().id) + "," + Label("dc", r.self().dc),
      uint64_t{1});
  w.Single("geokv_uptime_seconds", "gauge", "Seconds since the process started.",
           static_cast<uint64_t>(r.uptime_s));
  w.Single("geokv_resident_memory_bytes", "gauge", "Resident set size of the process.",
           r.memory.rss_bytes);
  w.Single("geokv_resident_memory_peak_bytes", "gauge", "Largest resident set size so far.",
           r.memory.peak_rss_bytes);
  w.Single("geokv_memory_used_bytes", "gauge",
           "Bytes the allocator has handed out (INFO used_memory; what maxmemory limits).",
           r.memory.used_bytes);
  w.Single("geokv_memory_used_peak_bytes", "gauge", "Largest geokv_memory_used_bytes so far.",
           r.memory.used_peak_bytes);
  w.Single("geokv_memory_max_bytes", "gauge", "maxmemory: the limit on used memory; 0 = none.",
           r.memory.max_bytes);
  Clients(w, r);
  Commands(w, r);
  Replication(w, r);
  HintMetrics(w, r);
  Storage(w, r);
  return w.Take();
}

}  // namespace geokv::replica
