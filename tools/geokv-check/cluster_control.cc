#include "cluster_control.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/assert.h"
#include "common/subprocess.h"
#include "replica/resp/resp_client.h"
#include "replica/transport/curve_keys.h"

namespace geokv::check {

namespace {

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

constexpr int kClient = 0, kRepl = 1, kSync = 2;

}  // namespace

ClusterControl::ClusterControl(const placement::Topology& topology, std::string server,
                               std::string dir, std::vector<std::string> extra_flags, bool curve)
    : topology_(topology),
      server_(std::move(server)),
      dir_(std::move(dir)),
      extra_flags_(std::move(extra_flags)),
      pids_(topology.nodes().size(), 0),
      paused_(topology.nodes().size(), false),
      has_backup_(topology.nodes().size(), false),
      curve_(curve || topology.curve()) {
  for (const auto& node : topology.nodes()) weights_.push_back(node.weight);
}

ClusterControl::~ClusterControl() { Shutdown(); }

std::string ClusterControl::DerivedTopology(size_t self) const {
  const auto& nodes = topology_.nodes();
  const size_t n = nodes.size();
  std::ostringstream toml;
  if (self == kEveryNodeDirect) {
    toml << "# Derived by geokv-check from " << topology_.source_name()
         << ": the placement its nodes run.\n";
  } else {
    toml << "# Derived by geokv-check for node " << nodes[self].id << " from "
         << topology_.source_name() << ": other nodes' endpoints are WAN proxy ports.\n";
  }
  toml << "[cluster]\nname = " << Quote(topology_.cluster_name())
       << "\npartitions = " << topology_.partitions() << "\nreplicas = " << topology_.replicas()
       << "\nvnodes = " << topology_.vnodes() << "\n";
  if (epoch_ > 0) toml << "epoch = " << epoch_ << "\n";
  for (const auto& dc : topology_.datacenters()) {
    toml << "\n[[datacenters]]\nname = " << Quote(dc.name) << "\n";
    for (size_t i : dc.nodes) {
      const auto& node = nodes[i];
      toml << "\n  [[datacenters.nodes]]\n  id = " << Quote(node.id) << "\n";
      if (!node.rack.empty()) toml << "  rack = " << Quote(node.rack) << "\n";
      toml << "  weight = " << weights_[i] << "\n";
      if (curve_) toml << "  curve_public = " << Quote(curve_public_[i]) << "\n";
      if (i == self || self == kEveryNodeDirect) {
        toml << "  client = " << Quote(node.client.text) << "\n  repl = " << Quote(node.repl.text)
             << "\n  sync = " << Quote(node.sync.text) << "\n";
      } else {
        const auto& p = ports_[i * n + self];
        toml << "  client = \"127.0.0.1:" << p[kClient]
             << "\"\n  repl = \"tcp://127.0.0.1:" << p[kRepl]
             << "\"\n  sync = \"tcp://127.0.0.1:" << p[kSync] << "\"\n";
      }
    }
  }
  return toml.str();
}

Status ClusterControl::Launch() {
  const auto& nodes = topology_.nodes();
  const size_t n = nodes.size();
  // One proxy link per (target, connecting node, endpoint kind), in this order;
  // the proxy binds free ports for them (no race with anyone for a port).
  std::vector<WanLink> links;
  for (size_t target = 0; target < n; ++target) {
    for (size_t from = 0; from < n; ++from) {
      if (from == target) continue;
      const auto& t = nodes[target];
      const placement::Endpoint* endpoints[] = {&t.client, &t.repl, &t.sync};
      for (int kind = 0; kind < 3; ++kind) {
        links.push_back(
            WanLink{nodes[from].dc, t.dc, 0, endpoints[kind]->host, endpoints[kind]->port});
      }
    }
  }
  if (Status s = proxy_.Start(links); !s.ok()) return s;
  for (size_t i = 0; curve_ && i < n; ++i) {
    auto keys = replica::GenerateCurveKeyPair();
    if (!keys.ok()) return keys.status();
    curve_public_.push_back(keys->public_key);
    curve_secret_files_.push_back(dir_ + "/" + nodes[i].id + ".key");
    if (Status s = replica::WriteCurveSecretFile(curve_secret_files_.back(), keys->secret_key);
        !s.ok()) {
      return s;
    }
  }
  ports_.assign(n * n, {});
  size_t next = 0;
  for (size_t target = 0; target < n; ++target) {
    for (size_t from = 0; from < n; ++from) {
      if (from == target) continue;
      for (int kind = 0; kind < 3; ++kind) {
        ports_[target * n + from].push_back(links[next++].listen_port);
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    topologies_.push_back(dir_ + "/topology-" + nodes[i].id + ".toml");
    logs_.push_back(dir_ + "/" + nodes[i].id + ".log");
    texts_.push_back(DerivedTopology(i));
    if (Status s = WriteDerived(i); !s.ok()) return s;
  }
  // Every node first, then wait: a node opens its client port only once its
  // peers reported (or after 3 x --down-after-ms), so one by one would wait
  // that long for each.
  for (size_t i = 0; i < n; ++i) {
    if (Status s = SpawnNode(i); !s.ok()) return s;
  }
  for (size_t i = 0; i < n; ++i) {
    if (Status s = WaitServing(i); !s.ok()) return s;
  }
  return Status::Ok();
}

Status ClusterControl::WriteDerived(size_t i) {
  const std::string tmp = topologies_[i] + ".tmp";
  if (!(std::ofstream(tmp, std::ios::trunc) << texts_[i])) {
    return Status::Io("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, topologies_[i], ec);  // a node starting now reads a whole file
  if (ec) return Status::Io("cannot write " + topologies_[i] + ": " + ec.message());
  return Status::Ok();
}

Status ClusterControl::SetWeight(size_t node, uint32_t weight) {
  GEOKV_ASSERT(texts_.size() == topology_.nodes().size());
  GEOKV_ASSERT(weight >= 1 && weight <= placement::kMaxWeight);
  weights_[node] = weight;
  ++epoch_;
  for (size_t i = 0; i < texts_.size(); ++i) {
    texts_[i] = DerivedTopology(i);
    if (Status s = WriteDerived(i); !s.ok()) return s;
  }
  return Status::Ok();
}

Status ClusterControl::Start(size_t i) {
  if (Status s = SpawnNode(i); !s.ok()) return s;
  return WaitServing(i);
}

Status ClusterControl::SpawnNode(size_t i) {
  const auto& node = topology_.nodes()[i];
  std::vector<std::string> argv = {server_, "--topology", topologies_[i],      "--node",
                                   node.id, "--data",     dir_ + "/" + node.id};
  if (curve_) argv.insert(argv.end(), {"--curve-secret-file", curve_secret_files_[i]});
  argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
  auto pid = Spawn(std::move(argv), logs_[i]);
  if (!pid.ok()) return pid.status();
  pids_[i] = *pid;
  paused_[i] = false;
  return Status::Ok();
}

Status ClusterControl::WaitServing(size_t i) {
  const auto& node = topology_.nodes()[i];
  const pid_t pid = pids_[i];
  if (Status s = replica::WaitUntilServing(node.client.host, node.client.port, pid, 15'000);
      !s.ok()) {
    if (::waitpid(pid, nullptr, WNOHANG) == 0) Kill(i);
    pids_[i] = 0;
    return Status::Io("node " + node.id + " did not come up (" + s.message() + "); see " +
                      logs_[i]);
  }
  return Status::Ok();
}

Status ClusterControl::Backup(size_t i) {
  const auto& node = topology_.nodes()[i];
  const std::string db = dir_ + "/" + node.id + "/geokv.db";
  const std::string copy = dir_ + "/" + node.id + ".backup.db";
  const std::string tmp = copy + ".tmp";
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  sqlite3* conn = nullptr;
  int rc = sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READWRITE, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(conn, 5000);
    char* error = nullptr;
    // A read transaction: a consistent snapshot while the node keeps writing.
    const std::string sql = "VACUUM INTO '" + tmp + "'";
    rc = sqlite3_exec(conn, sql.c_str(), nullptr, nullptr, &error);
    sqlite3_free(error);
  }
  const std::string message = conn != nullptr ? sqlite3_errmsg(conn) : "out of memory";
  sqlite3_close(conn);
  if (rc != SQLITE_OK) return Status::Io("backup of " + node.id + ": " + message);
  std::filesystem::rename(tmp, copy, ec);
  if (ec) return Status::Io("backup of " + node.id + ": " + ec.message());
  has_backup_[i] = true;
  return Status::Ok();
}

Status ClusterControl::Restore(size_t i) {
  GEOKV_ASSERT(!running(i));
  const auto& node = topology_.nodes()[i];
  if (!has_backup_[i]) return Status::Io("no backup of " + node.id);
  const std::string data = dir_ + "/" + node.id;
  std::error_code ec;
  std::filesystem::remove_all(data, ec);  // the database, its WAL and shared memory
  if (!ec) std::filesystem::create_directories(data, ec);
  if (!ec) std::filesystem::copy_file(dir_ + "/" + node.id + ".backup.db", data + "/geokv.db", ec);
  if (ec) return Status::Io("restore of " + node.id + ": " + ec.message());
  return Status::Ok();
}

void ClusterControl::Kill(size_t i) {
  if (pids_[i] <= 0) return;
  ::kill(pids_[i], SIGKILL);
  ::waitpid(pids_[i], nullptr, 0);
  pids_[i] = 0;
  paused_[i] = false;
}

void ClusterControl::Pause(size_t i) {
  if (pids_[i] <= 0 || paused_[i]) return;
  ::kill(pids_[i], SIGSTOP);
  paused_[i] = true;
}

void ClusterControl::Resume(size_t i) {
  if (pids_[i] <= 0 || !paused_[i]) return;
  ::kill(pids_[i], SIGCONT);
  paused_[i] = false;
}

void ClusterControl::Shutdown() {
  for (size_t i = 0; i < pids_.size(); ++i) {
    if (pids_[i] <= 0) continue;
    Resume(i);
    ::kill(pids_[i], SIGTERM);
  }
  for (size_t i = 0; i < pids_.size(); ++i) {
    if (pids_[i] <= 0) continue;
    bool exited = false;
    for (int t = 0; t < 100 && !exited; ++t) {
      exited = ::waitpid(pids_[i], nullptr, WNOHANG) == pids_[i];
      if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!exited) Kill(i);
    pids_[i] = 0;
  }
  proxy_.Stop();
}

}  // namespace geokv::check
