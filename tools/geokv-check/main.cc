// geokv-check: runs (or attaches to) a geokv cluster, drives a seeded
// concurrent workload from every datacenter while injecting faults, heals,
// and proves that every replica ends equal and that the state is what the
// CRDT semantics allow given the acknowledged history.
//
//   geokv-check --topology FILE [--launch] --duration 30s --seed 42
//               --faults kill,pause,partition,restore,reconfigure
//               --latency dc1-dc2=40ms,...
//               --report out/
//
// Exit status: 0 PASS, 1 FAIL (the seed and the replay command are printed),
// 2 the run could not be set up.
#include <signal.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "cluster_control.h"
#include "common/prng.h"
#include "history.h"
#include "placement/ring.h"
#include "placement/topology.h"
#include "replica/resp/resp_client.h"
#include "report.h"
#include "workload.h"

namespace geokv::check {
namespace {

using Clock = std::chrono::steady_clock;
using replica::RespClient;
using replica::RespValue;

// Set by SIGINT/SIGTERM: the run stops early and the cluster is shut down.
std::atomic<bool> g_interrupted{false};
void OnSignal(int) { g_interrupted = true; }

std::optional<uint64_t> ParseDurationMs(const std::string& s) {
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  if (digits == 0) return std::nullopt;
  const uint64_t n = std::stoull(s.substr(0, digits));
  const std::string unit = s.substr(digits);
  if (unit == "ms") return n;
  if (unit == "s" || unit.empty()) return n * 1000;
  if (unit == "m") return n * 60'000;
  return std::nullopt;
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

struct Options {
  std::string topology;
  bool launch = false;
  std::string duration = "30s";
  uint64_t seed = 0;
  std::string faults;
  std::string latency;
  std::string report = "out/check";
  std::string server;
  std::vector<std::string> server_flags;
  int clients_per_dc = 2;
  int keys = 4;
  std::string converge_timeout = "60s";
  bool keep = false;   // leave a failed cluster running for a post-mortem
  bool curve = false;  // launched nodes replicate over CURVE with fresh keys
};

// Reads partition -> digest from every reachable node.
std::map<uint32_t, std::map<std::string, std::string>> AllDigests(const placement::Topology& t) {
  std::map<uint32_t, std::map<std::string, std::string>> out;
  for (const auto& node : t.nodes()) {
    RespClient c;
    c.set_timeout_ms(2000);
    if (!c.Connect(node.client.host, node.client.port, 500).ok()) continue;
    auto r = c.Command({"GEOKV.DIGEST"});
    if (!r.ok() || r->type != RespValue::Type::kArray) continue;
    for (const auto& e : r->elements) {
      if (e.elements.size() == 2)
        out[static_cast<uint32_t>(e.elements[0].integer)][node.id] = e.elements[1].str;
    }
  }
  return out;
}

// The partitions whose replicas in `table` (every one must answer) differ;
// nodes outside a partition's preference list (one still draining it) do
// not count.
std::vector<uint32_t> Differing(const std::map<uint32_t, std::map<std::string, std::string>>& d,
                                const placement::PlacementTable& table) {
  std::vector<uint32_t> out;
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    auto it = d.find(p);
    std::set<std::string> distinct;
    size_t replicas = 0;
    for (uint32_t n : table.PreferenceList(p)) {
      if (it == d.end()) break;
      auto digest = it->second.find(table.topology().nodes()[n].id);
      if (digest == it->second.end()) continue;
      distinct.insert(digest->second);
      ++replicas;
    }
    if (distinct.size() > 1 || replicas != table.PreferenceList(p).size()) out.push_back(p);
  }
  return out;
}

// Reads the final state of the workload's keys through one node.
FinalState ReadFinal(const placement::Node& node, const KeySpace& keys, std::string* error) {
  FinalState state;
  RespClient c;
  c.set_timeout_ms(5000);
  if (!c.Connect(node.client.host, node.client.port).ok()) {
    *error = "cannot connect to " + node.id;
    return state;
  }
  auto read = [&](const std::vector<std::string>& args) -> std::optional<RespValue> {
    auto r = c.Command(args);
    if (!r.ok() || r->is_error()) {
      *error =
          "reading " + args[1] + " at " + node.id + ": " + (r.ok() ? r->str : r.status().message());
      return std::nullopt;
    }
    return *r;
  };
  for (const auto& k : keys.counters) {
    if (auto r = read({"GET", k}); r && r->type == RespValue::Type::kBulk) {
      state.counters[k] = std::stoll(r->str);
    }
  }
  for (const auto& k : keys.registers) {
    if (auto r = read({"GET", k}); r && r->type == RespValue::Type::kBulk)
      state.registers[k] = r->str;
  }
  for (const auto& k : keys.sets) {
    if (auto r = read({"SMEMBERS", k}); r && !r->elements.empty()) {
      for (const auto& m : r->elements) state.sets[k].insert(m.str);
    }
  }
  for (const auto& k : keys.carts) {
    if (auto r = read({"HGETALL", k}); r) {
      for (size_t i = 0; i + 1 < r->elements.size(); i += 2) {
        state.carts[k][r->elements[i].str] = std::stoll(r->elements[i + 1].str);
      }
    }
  }
  for (const auto& k : keys.mvregs) {
    if (auto r = read({"MVGET", k});
        r && r->elements.size() == 2 && !r->elements[1].elements.empty()) {
      for (const auto& v : r->elements[1].elements) state.mvregs[k].push_back(v.str);
    }
  }
  return state;
}

// The deltas of `node` that its peers have not reported applying (the sum of
// INFO replication's pending_deltas), or nullopt if it cannot be asked.
std::optional<uint64_t> PendingDeltas(const placement::Node& node) {
  RespClient c;
  c.set_timeout_ms(1000);
  if (!c.Connect(node.client.host, node.client.port, 500).ok()) return std::nullopt;
  auto r = c.Command({"INFO", "replication"});
  if (!r.ok() || r->type != RespValue::Type::kBulk) return std::nullopt;
  uint64_t sum = 0;
  for (size_t at = r->str.find("pending_deltas="); at != std::string::npos;
       at = r->str.find("pending_deltas=", at + 15)) {
    sum += std::strtoull(r->str.c_str() + at + 15, nullptr, 10);
  }
  return sum;
}

// "" once `node` runs topology `epoch` and has no partition moving at itself
// (its own entry of GEOKV.MEMBERS), else what that entry and its GEOKV.MOVES
// show, or why it could not be read.
std::string MovesUnderWay(const placement::Node& node, uint64_t epoch) {
  RespClient c;
  c.set_timeout_ms(1000);
  if (!c.Connect(node.client.host, node.client.port, 500).ok()) return "unreachable";
  auto r = c.Command({"GEOKV.MEMBERS"});
  if (!r.ok() || r->type != RespValue::Type::kArray) return "GEOKV.MEMBERS failed";
  for (const RespValue& m : r->elements) {
    std::map<std::string, const RespValue*> fields;
    for (size_t i = 0; i + 1 < m.elements.size(); i += 2)
      fields[m.elements[i].str] = &m.elements[i + 1];
    if (!fields.contains("id") || fields["id"]->str != node.id) continue;
    const bool done = fields.contains("epoch") && fields.contains("partitions_moving") &&
                      fields["epoch"]->integer == static_cast<int64_t>(epoch) &&
                      fields["partitions_moving"]->integer == 0;
    if (done) return "";
    // Each moving partition with the nodes it waits for (docs/operations.md,
    // "Watch each partition"): what to look at first in the node logs.
    auto moves = c.Command({"GEOKV.MOVES"});
    return m.ToString() + "; GEOKV.MOVES: " + (moves.ok() ? moves->ToString() : "failed");
  }
  return "not in its own GEOKV.MEMBERS";
}

// A node that still keeps hints (hinted handoff: writes no replica had yet,
// docs/replication.md), as "<id>: n hints", or "" if none does: equal
// digests before a hint is handed off do not mean the writes converged.
std::string HintsWaiting(const placement::Topology& t) {
  for (const auto& node : t.nodes()) {
    RespClient c;
    c.set_timeout_ms(1000);
    if (!c.Connect(node.client.host, node.client.port, 500).ok()) continue;
    auto r = c.Command({"INFO", "hints"});
    if (!r.ok()) continue;
    const size_t at = r->str.find("hints_stored:");
    if (at == std::string::npos) continue;
    const uint64_t n = std::strtoull(r->str.c_str() + at + 13, nullptr, 10);
    if (n > 0) return node.id + ": " + std::to_string(n) + " hints";
  }
  return "";
}

// Gives every running node the topology of the cluster's latest epoch
// (GEOKV.TOPOLOGY APPLY), one right after the other: a node that fetched it
// from a peer first answers +OK (the same text). A node that is down runs the
// file when it restarts (ClusterControl::Start).
void ApplyLatest(const placement::Topology& topology, ClusterControl& cluster) {
  const size_t n = topology.nodes().size();
  std::vector<RespClient> clients(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& node = topology.nodes()[i];
    clients[i].set_timeout_ms(5000);
    if (cluster.running(i)) (void)clients[i].Connect(node.client.host, node.client.port, 500);
  }
  for (size_t i = 0; i < n; ++i) {
    if (!clients[i].connected()) continue;
    auto r = clients[i].Command({"GEOKV.TOPOLOGY", "APPLY", cluster.Text()});
    if (!r.ok() || r->is_error()) {
      std::fprintf(stderr, "[geokv-check] epoch %llu at %s: %s\n",
                   static_cast<unsigned long long>(cluster.epoch()), topology.nodes()[i].id.c_str(),
                   r.ok() ? r->str.c_str() : r.status().message().c_str());
    }
  }
}

// Whether node `node` (of `members`, the latest topology's nodes) may leave:
// no node removed before is still draining, and at least N datacenters stay.
bool Removable(const placement::Topology& nodes, const ClusterControl& cluster,
               const std::vector<size_t>& members, size_t node) {
  for (size_t i : cluster.Removed()) {
    if (cluster.running(i)) return false;
  }
  std::set<std::string> dcs;
  for (size_t i : members) {
    if (i != node) dcs.insert(nodes.nodes()[i].dc);
  }
  return dcs.size() >= nodes.replicas();
}

// For a partition whose replicas differ: each key of the workload there, as
// every replica shows it.
std::vector<std::string> DumpPartition(uint32_t p, const placement::PlacementTable& table,
                                       const KeySpace& keys) {
  std::vector<std::string> lines;
  std::vector<std::pair<std::string, std::vector<std::string>>> reads;
  auto add = [&](const std::vector<std::string>& list, const char* command) {
    for (const auto& k : list) {
      if (table.PartitionOfKey(k) == p) reads.push_back({k, {command, k}});
    }
  };
  add(keys.counters, "GET");
  add(keys.registers, "GET");
  add(keys.sets, "SMEMBERS");
  add(keys.carts, "HGETALL");
  add(keys.mvregs, "MVGET");
  for (const auto& [key, args] : reads) {
    std::string line = "partition " + std::to_string(p) + " key " + key + ":";
    std::set<std::string> values;
    for (uint32_t n : table.PreferenceList(p)) {
      const auto& node = table.topology().nodes()[n];
      RespClient c;
      std::string shown = "(unreachable)";
      if (c.Connect(node.client.host, node.client.port, 500).ok()) {
        if (auto r = c.Command(args); r.ok()) shown = r->ToString();
      }
      values.insert(shown);
      if (shown.size() > 120)
        shown = shown.substr(0, 120) + "...(" + std::to_string(shown.size()) + " bytes)";
      line += " " + node.id + "=" + shown;
    }
    if (values.size() > 1) lines.push_back(line);
  }
  if (lines.empty())
    lines.push_back("partition " + std::to_string(p) +
                    ": digests differ (state outside the workload's keys, or contexts)");
  return lines;
}

int Run(const Options& o, const std::string& command_line) {
  auto topology = placement::LoadTopologyFile(o.topology);
  if (!topology.ok()) {
    std::fprintf(stderr, "geokv-check: %s\n", topology.status().message().c_str());
    return 2;
  }
  const auto duration_ms = ParseDurationMs(o.duration);
  const auto converge_ms = ParseDurationMs(o.converge_timeout);
  if (!duration_ms || !converge_ms) {
    std::fprintf(stderr, "geokv-check: durations look like 30s, 500ms or 2m\n");
    return 2;
  }
  std::set<std::string> faults;
  for (size_t at = 0; at < o.faults.size();) {
    size_t comma = o.faults.find(',', at);
    if (comma == std::string::npos) comma = o.faults.size();
    const std::string f = o.faults.substr(at, comma - at);
    if (f != "kill" && f != "pause" && f != "partition" && f != "restore" && f != "reconfigure" &&
        f != "none" && !f.empty()) {
      std::fprintf(stderr,
                   "geokv-check: unknown fault '%s' (kill, pause, partition, restore, "
                   "reconfigure)\n",
                   f.c_str());
      return 2;
    }
    if (f != "none" && !f.empty()) faults.insert(f);
    at = comma + 1;
  }
  if (!o.launch && (!faults.empty() || !o.latency.empty())) {
    std::fprintf(stderr,
                 "geokv-check: faults and latency need --launch (the checker must own the "
                 "processes and the links)\n");
    return 2;
  }
  const placement::PlacementTable table(*topology);

  std::error_code ec;
  std::filesystem::create_directories(o.report, ec);
  std::unique_ptr<ClusterControl> cluster;
  std::string work_dir;
  if (o.launch) {
    char pattern[] = "/tmp/geokv-check-XXXXXX";
    work_dir = ::mkdtemp(pattern);
    // Reconfigurations add nodes: two spares (a datacenter of their own).
    cluster = std::make_unique<ClusterControl>(*topology, o.server, work_dir, o.server_flags,
                                               o.curve, faults.contains("reconfigure") ? 2 : 0);
    if (Status s = cluster->Launch(); !s.ok()) {
      std::fprintf(stderr, "geokv-check: %s\n", s.message().c_str());
      return 2;
    }
    for (size_t at = 0; at < o.latency.size();) {  // dc1-dc2=40ms,...
      size_t comma = o.latency.find(',', at);
      if (comma == std::string::npos) comma = o.latency.size();
      const std::string item = o.latency.substr(at, comma - at);
      const size_t dash = item.find('-'), eq = item.find('=');
      auto ms = eq == std::string::npos ? std::nullopt : ParseDurationMs(item.substr(eq + 1));
      if (dash == std::string::npos || eq == std::string::npos || dash > eq || !ms) {
        std::fprintf(stderr, "geokv-check: bad --latency item '%s' (dc1-dc2=40ms)\n", item.c_str());
        return 2;
      }
      const std::string a = item.substr(0, dash), b = item.substr(dash + 1, eq - dash - 1);
      cluster->proxy().SetLatency(a, b, static_cast<uint32_t>(*ms));
      cluster->proxy().SetLatency(b, a, static_cast<uint32_t>(*ms));
      at = comma + 1;
    }
  }

  // Every node that runs or may run (the spares after the topology's).
  const placement::Topology& nodes = cluster ? cluster->universe() : *topology;
  auto member = [&](size_t i) { return !cluster || cluster->member(i); };

  RunSummary summary;
  summary.seed = o.seed;
  summary.command = command_line;
  summary.topology = o.topology;
  for (const auto& dc : nodes.datacenters()) summary.datacenters.push_back(dc.name);
  const auto epoch = Clock::now();
  auto now_ms = [&] {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - epoch).count());
  };

  WorkloadOptions wo;
  wo.seed = o.seed;
  wo.clients_per_dc = o.clients_per_dc;
  wo.keys_per_type = o.keys;
  Workload::Router router;
  if (cluster) {
    router = [&cluster](size_t dc, int index) {
      return cluster->ClientNode(dc, static_cast<size_t>(index));
    };
  }
  Workload workload(nodes, wo, epoch, router);
  std::atomic<bool> stop{false};
  std::thread load([&] { workload.Run(stop); });

  // Faults, one at a time, on a seeded schedule.
  std::mutex fault_mu;
  std::string current_fault;
  std::thread fault_thread([&] {
    if (faults.empty()) return;
    Prng rng(o.seed ^ 0xFA017ull);
    const std::vector<std::string> kinds(faults.begin(), faults.end());
    uint64_t t = 1500;
    uint64_t reconfigure_turns = 0;
    auto sleep_until = [&](uint64_t ms) {
      while (!stop && now_ms() < ms) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    };
    // Restore: a live copy of every node early in the run; after each fault
    // one node's copy is renewed, so a restore brings back a copy 0.5 s to
    // many seconds old.
    const bool restores = faults.contains("restore");
    if (restores) {
      sleep_until(1000);
      for (size_t i = 0; i < topology->nodes().size(); ++i) {
        if (Status s = cluster->Backup(i); !s.ok())
          std::fprintf(stderr, "[geokv-check] %s\n", s.message().c_str());
      }
    }
    while (t + 2500 < *duration_ms) {
      sleep_until(t);
      if (stop) break;
      FaultWindow f;
      f.kind = kinds[rng.Below(kinds.size())];
      const uint64_t length = 800 + rng.Below(1700);
      // Faults hit the nodes of the latest topology (and their datacenters).
      cluster->Reap();
      std::vector<size_t> members;
      std::vector<std::string> member_dcs;
      for (size_t i = 0; i < nodes.nodes().size(); ++i) {
        if (!cluster->member(i)) continue;
        members.push_back(i);
        const std::string& name = nodes.nodes()[i].dc;
        if (std::find(member_dcs.begin(), member_dcs.end(), name) == member_dcs.end())
          member_dcs.push_back(name);
      }
      size_t node = members[rng.Below(members.size())];
      const std::string& dc_name = member_dcs[rng.Below(member_dcs.size())];
      f.target = f.kind == "partition" ? dc_name : nodes.nodes()[node].id;
      {
        std::lock_guard lock(fault_mu);
        current_fault = f.kind + " " + f.target;
      }
      if (f.kind == "restore" && !cluster->has_backup(node)) f.kind = "kill";
      std::string reconfigure_cut;  // a datacenter cut off for a reconfiguration's window
      if (f.kind == "restore") {
        // A quiet moment first: no request in flight and every delta of the
        // node applied by its peers. The restore then loses only what its
        // peers hold, which the restart fence takes back; a delta no peer
        // received would be lost with the disk in any asynchronous system,
        // and this checker would call that a lost acknowledged write.
        workload.Hold(true);
        const uint64_t until = now_ms() + 3000;
        while (now_ms() < until && PendingDeltas(nodes.nodes()[node]).value_or(0) > 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        cluster->Kill(node);
        if (Status s = cluster->Restore(node); !s.ok())
          std::fprintf(stderr, "[geokv-check] %s\n", s.message().c_str());
        workload.Hold(false);
      }
      f.start_ms = now_ms();
      if (f.kind == "kill") cluster->Kill(node);
      if (f.kind == "pause") cluster->Pause(node);
      if (f.kind == "partition") cluster->proxy().Cut(f.target);
      if (f.kind == "reconfigure") {
        // In turn: a spare joins, a node leaves (it drains and exits by
        // itself), one node's weight doubles (or goes back); a change that is
        // not possible (no spare left, a node still draining, fewer than N
        // datacenters after it) is a weight change. The move runs on past
        // the window, into the next faults; a backup of an older topology
        // is never restored.
        if (restores) cluster->ForgetBackups();
        auto before = placement::ParseTopology(cluster->Text(), "<before>");
        const std::vector<size_t> spares = cluster->UnusedSpares();
        const uint64_t turn = reconfigure_turns++ % 3;
        std::optional<size_t> joining;
        Status changed;
        if (turn == 0 && !spares.empty()) {
          joining = spares.front();
          changed = cluster->AddNode(*joining);
          f.target = nodes.nodes()[*joining].id + " added (" + nodes.nodes()[*joining].dc + ")";
        } else if (turn == 1 && Removable(nodes, *cluster, members, node)) {
          changed = cluster->RemoveNode(node);
          f.target += " removed";
        } else {
          const uint32_t was = cluster->weight(node), first = nodes.nodes()[node].weight;
          const uint32_t next = was != first                         ? first
                                : first * 2 <= placement::kMaxWeight ? first * 2
                                                                     : first / 2;
          changed = cluster->SetWeight(node, next);
          f.target += " weight " + std::to_string(was) + "->" + std::to_string(next);
        }
        if (!changed.ok()) std::fprintf(stderr, "[geokv-check] %s\n", changed.message().c_str());
        f.target += ", epoch " + std::to_string(cluster->epoch());
        auto after = placement::ParseTopology(cluster->Text(), "<after>");
        // Half of them (seeded) first cut off the datacenter of a node that
        // gives a partition up, for the whole window: the writes it takes
        // meanwhile reach nobody else, so its move must wait for the heal to
        // hand them over (an old owner that deleted at once would lose them).
        if (rng.Below(2) == 0 && before.ok() && after.ok()) {
          const placement::PlacementTable from(std::move(*before)), to(std::move(*after));
          std::set<std::string> givers;  // their datacenters
          for (uint32_t p = 0; p < from.partitions(); ++p) {
            std::set<std::string> next_owners;
            for (uint32_t n : to.PreferenceList(p)) next_owners.insert(to.topology().nodes()[n].id);
            for (uint32_t n : from.PreferenceList(p)) {
              const placement::Node& owner = from.topology().nodes()[n];
              if (!next_owners.contains(owner.id)) givers.insert(owner.dc);
            }
          }
          if (!givers.empty()) {
            const std::vector<std::string> list(givers.begin(), givers.end());
            reconfigure_cut = list[rng.Below(list.size())];
            f.target += ", " + reconfigure_cut + " cut off";
            cluster->proxy().Cut(reconfigure_cut);
            sleep_until(f.start_ms + length / 2);
          }
        }
        // A joining node starts with the new file, then the others are told.
        if (joining) {
          if (Status s = cluster->Start(*joining); !s.ok())
            std::fprintf(stderr, "[geokv-check] %s\n", s.message().c_str());
        }
        ApplyLatest(nodes, *cluster);
      }
      sleep_until(f.start_ms + length);
      // Start returns once the node serves: after its peers told it how far
      // its own streams got (the restart fence). The next fault starts
      // later, and faults never overlap: a restore never meets a cut or
      // pause of the peers holding its lost deltas, the one case the fence
      // cannot cover (docs/replication.md, "Never reuse a dot").
      if (f.kind == "kill" || f.kind == "restore") (void)cluster->Start(node);
      if (f.kind == "pause") cluster->Resume(node);
      if (f.kind == "partition") cluster->proxy().Heal(f.target);
      if (!reconfigure_cut.empty()) cluster->proxy().Heal(reconfigure_cut);
      reconfigure_cut.clear();
      f.end_ms = now_ms();
      {
        std::lock_guard lock(fault_mu);
        current_fault.clear();
        summary.faults.push_back(f);
      }
      t = f.end_ms + 500 + rng.Below(1000);
      if (restores) {
        // Only a node done with its moves is copied (a copy taken mid-move
        // would restart a move its peers finished).
        const size_t copied = members[rng.Below(members.size())];
        if (cluster->member(copied) &&
            (cluster->epoch() == 0 ||
             MovesUnderWay(nodes.nodes()[copied], cluster->epoch()).empty())) {
          if (Status s = cluster->Backup(copied); !s.ok())
            std::fprintf(stderr, "[geokv-check] %s\n", s.message().c_str());
        }
      }
    }
  });

  // Replication lag of every node, sampled for the report's timeline.
  std::thread lag_sampler([&] {
    while (!stop && !g_interrupted) {
      for (const auto& node : nodes.nodes()) {
        RespClient c;
        c.set_timeout_ms(300);
        if (!c.Connect(node.client.host, node.client.port, 100).ok()) continue;
        auto r = c.Command({"INFO", "replication"});
        if (!r.ok()) continue;
        uint64_t worst = 0;
        for (size_t at = r->str.find("lag_ms="); at != std::string::npos;
             at = r->str.find("lag_ms=", at + 7)) {
          const char* digits = r->str.c_str() + at + 7;
          if (std::isdigit(static_cast<unsigned char>(*digits))) {
            worst = std::max<uint64_t>(worst, std::strtoull(digits, nullptr, 10));
          }
        }
        std::lock_guard lock(fault_mu);
        summary.lag[node.id].emplace_back(now_ms(), worst);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });
  uint64_t last_progress_ms = 0;
  while (now_ms() < *duration_ms && !g_interrupted) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (now_ms() < last_progress_ms + 1000) continue;  // progress once a second
    last_progress_ms = now_ms();
    std::lock_guard lock(fault_mu);
    std::fprintf(stderr, "[geokv-check] %5.1fs  %8llu ops  %s\n", now_ms() / 1000.0,
                 static_cast<unsigned long long>(workload.ops()),
                 current_fault.empty() ? "" : ("fault: " + current_fault).c_str());
  }
  stop = true;
  load.join();
  fault_thread.join();
  lag_sampler.join();
  summary.workload_end_ms = now_ms();

  // Heal everything, then wait for every replica of every partition to agree.
  if (cluster) {
    cluster->proxy().HealAll();
    for (size_t i = 0; i < nodes.nodes().size(); ++i) {
      cluster->Resume(i);
      if (member(i) && !cluster->running(i)) (void)cluster->Start(i);
    }
  }
  summary.heal_ms = now_ms();
  // After reconfigurations: the replicas of the latest topology's placement,
  // once every node ran it and finished its moves.
  const uint64_t last_epoch = cluster ? cluster->epoch() : 0;
  std::optional<placement::PlacementTable> reconfigured;
  if (last_epoch > 0) {
    auto t = placement::ParseTopology(cluster->Text(),
                                      "<geokv-check epoch " + std::to_string(last_epoch) + ">");
    if (!t.ok()) {
      std::fprintf(stderr, "geokv-check: %s\n", t.status().message().c_str());
      return 2;
    }
    reconfigured.emplace(std::move(*t));
  }
  const placement::PlacementTable& final_table = reconfigured ? *reconfigured : table;
  std::vector<uint32_t> differing;
  std::string moving;  // a node whose moves have not ended, and what it shows
  std::string hints_waiting;  // a node that keeps hints not handed off yet
  // A removed node counts as moving until it exited by itself.
  while (now_ms() < summary.heal_ms + *converge_ms && !g_interrupted) {
    differing = Differing(AllDigests(nodes), final_table);
    moving.clear();
    if (cluster) cluster->Reap();
    for (size_t i = 0; i < nodes.nodes().size() && last_epoch > 0 && moving.empty(); ++i) {
      const auto& node = nodes.nodes()[i];
      if (!member(i)) {
        if (cluster->running(i)) moving = node.id + ": removed, and still running";
        continue;
      }
      if (std::string m = MovesUnderWay(node, last_epoch); !m.empty()) moving = node.id + ": " + m;
    }
    hints_waiting = differing.empty() && moving.empty() ? HintsWaiting(nodes) : "";
    if (differing.empty() && moving.empty() && hints_waiting.empty()) {
      summary.converged_ms = static_cast<int64_t>(now_ms());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (uint32_t p : differing) {
    for (auto& line : DumpPartition(p, final_table, workload.keys()))
      summary.divergence.push_back(line);
  }
  if (!hints_waiting.empty()) {
    summary.divergence.push_back("hints not handed off " + o.converge_timeout +
                                 " after the heal: " + hints_waiting);
  }
  std::vector<Violation> cluster_violations;
  if (!moving.empty()) {
    cluster_violations.push_back({"", "a move of epoch " + std::to_string(last_epoch) +
                                          " is still under way " + o.converge_timeout +
                                          " after the heal: " + moving});
  }
  // A removed node hands everything over, then exits by itself with status 0.
  for (size_t i : cluster ? cluster->Removed() : std::vector<size_t>{}) {
    const std::optional<int> exit = cluster->exit_status(i);
    if (exit.value_or(0) != 0) {
      cluster_violations.push_back({"", "removed node " + nodes.nodes()[i].id +
                                            " exited with status " + std::to_string(*exit)});
    } else if (!exit) {
      cluster_violations.push_back(
          {"", "removed node " + nodes.nodes()[i].id + " did not exit by itself"});
    }
  }

  if (!differing.empty()) {
    // What each node's replication thinks, for the post-mortem.
    std::ofstream info(o.report + "/replication-info.txt");
    for (const auto& node : nodes.nodes()) {
      RespClient c;
      info << "== " << node.id << "\n";
      if (c.Connect(node.client.host, node.client.port, 500).ok()) {
        if (auto r = c.Command({"INFO", "replication"}); r.ok()) info << r->str << "\n";
      }
    }
  }
  std::string read_error;
  size_t reader = 0;
  while (!member(reader)) ++reader;
  const FinalState final_state = ReadFinal(nodes.nodes()[reader], workload.keys(), &read_error);
  const std::vector<Op> history = workload.TakeHistory();
  // Nodes on loopback read this machine's clock: register timestamps compare
  // with the history's times.
  const bool one_clock =
      std::all_of(nodes.nodes().begin(), nodes.nodes().end(),
                  [](const placement::Node& n) { return IsLoopback(n.client.host); });
  summary.violations = CheckHistory(history, final_state, one_clock);
  for (Violation& v : cluster_violations) summary.violations.push_back(std::move(v));
  if (!read_error.empty())
    summary.violations.push_back({"", "final state unreadable: " + read_error});
  summary.pass = summary.converged_ms >= 0 && summary.violations.empty();
  if (cluster && o.keep && !summary.pass) {
    std::printf("--keep: the cluster stays up (data in %s); Ctrl-C stops it\n", work_dir.c_str());
    std::fflush(stdout);
    while (!g_interrupted) ::pause();
  }
  if (cluster) cluster->Shutdown();
  if (!WriteReport(o.report, summary, history)) {
    std::fprintf(stderr, "geokv-check: cannot write the report to %s\n", o.report.c_str());
  }

  size_t acked = 0, restores = 0, reconfigurations = 0, adds = 0, removes = 0;
  for (const Op& op : history) acked += op.outcome == Outcome::kOk;
  for (const FaultWindow& f : summary.faults) {
    restores += f.kind == "restore";
    reconfigurations += f.kind == "reconfigure";
    adds += f.kind == "reconfigure" && f.target.find(" added") != std::string::npos;
    removes += f.kind == "reconfigure" && f.target.find(" removed") != std::string::npos;
  }
  std::printf(
      "%zu operations (%zu acknowledged), %zu faults (%zu restores, %zu reconfigurations); ",
      history.size(), acked, summary.faults.size(), restores, reconfigurations);
  if (summary.converged_ms >= 0) {
    std::printf(
        "converged %lld ms after the heal\n",
        static_cast<long long>(summary.converged_ms - static_cast<int64_t>(summary.heal_ms)));
  } else {
    std::printf("replicas still differ %s after the heal\n", o.converge_timeout.c_str());
  }
  if (reconfigurations > 0) {
    std::printf("reconfigurations: %zu weight changes, %zu nodes added, %zu nodes removed\n",
                reconfigurations - adds - removes, adds, removes);
  }
  if (summary.pass) {
    std::printf("PASS: every replica is equal and the state is what the history allows.\n");
  } else {
    std::printf("FAIL:\n");
    size_t shown = 0;
    for (const auto& d : summary.divergence) {
      if (shown++ < 10) std::printf("  replicas differ: %s\n", d.c_str());
    }
    for (const auto& v : summary.violations) {
      if (shown++ < 20) std::printf("  %s: %s\n", v.key.c_str(), v.what.c_str());
    }
    std::printf("seed %llu; replay: %s\n", static_cast<unsigned long long>(o.seed),
                command_line.c_str());
  }
  std::printf("report: %s/report.html, history: %s/history.json\n", o.report.c_str(),
              o.report.c_str());
  if (!work_dir.empty() && summary.pass) std::filesystem::remove_all(work_dir, ec);
  if (!work_dir.empty() && !summary.pass) std::printf("node logs kept in %s\n", work_dir.c_str());
  if (g_interrupted) {
    std::printf("interrupted: the verdict above covers an incomplete run\n");
    return 2;
  }
  return summary.pass ? 0 : 1;
}

}  // namespace
}  // namespace geokv::check

int main(int argc, char** argv) {
  geokv::check::Options o;
  CLI::App app{"geokv-check: the convergence checker"};
  app.add_option("--topology", o.topology, "topology file of the cluster")->required();
  app.add_flag("--launch", o.launch,
               "start every node here (behind WAN proxies) and stop them after");
  app.add_option("--duration", o.duration, "how long the workload runs (30s, 500ms, 2m)");
  app.add_option("--seed", o.seed, "seed of the workload and fault schedule (default: random)");
  app.add_option("--faults", o.faults,
                 "faults to inject: kill,pause,partition,restore,reconfigure (needs --launch)");
  app.add_option("--latency", o.latency, "one-way latency per DC pair: dc1-dc2=40ms,...");
  app.add_option("--report", o.report, "directory for history.json and report.html");
  app.add_option("--server", o.server,
                 "geokv-server binary (default: the one built beside this tool)");
  app.add_option("--server-flag", o.server_flags, "extra flag for every server (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--clients-per-dc", o.clients_per_dc, "concurrent clients per datacenter")
      ->check(CLI::Range(1, 64));
  app.add_option("--keys", o.keys, "keys per type (small: conflicts happen)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--converge-timeout", o.converge_timeout, "how long replicas may take to agree");
  app.add_flag("--curve", o.curve,
               "with --launch: make a CURVE key pair per node (in the work directory) and run "
               "the cluster with CURVE between nodes (implied by a topology with keys)");
  app.add_flag("--keep", o.keep, "after a FAIL, leave the cluster running for inspection");
  CLI11_PARSE(app, argc, argv);
  if (o.seed == 0) o.seed = std::random_device{}() | 1;
  if (o.server.empty()) {
    const auto self = std::filesystem::canonical("/proc/self/exe");
    o.server =
        (self.parent_path().parent_path() / "src" / "replica" / "node" / "geokv-server").string();
  }
  // The exact command, with the seed, for replay.
  std::string command = argv[0];
  bool seeded = false;
  for (int i = 1; i < argc; ++i) {
    command += std::string(" ") + argv[i];
    if (std::string(argv[i]).rfind("--seed", 0) == 0) seeded = true;
  }
  if (!seeded) command += " --seed " + std::to_string(o.seed);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGINT, geokv::check::OnSignal);
  ::signal(SIGTERM, geokv::check::OnSignal);
  return geokv::check::Run(o, command);
}
