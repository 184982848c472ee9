#include "cluster_control.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/assert.h"
#include "common/loopback_port.h"
#include "common/prng.h"
#include "common/subprocess.h"
#include "replica/resp/resp_client.h"
#include "replica/transport/curve_keys.h"

namespace geokv::check {

namespace {

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

constexpr int kClient = 0, kRepl = 1, kSync = 2;

// A TCP port on 127.0.0.1 for a spare's own endpoints, reserved as the
// tests reserve theirs (common/loopback_port.h: a campaign saw a spare
// refused with "Address already in use"), its lock file's descriptor in
// `reservations` until the ClusterControl ends; 0 if none was found.
uint16_t ReservedPort(std::vector<int>& reservations) {
  static Prng rng(static_cast<uint64_t>(::getpid()) * 1'000'003 +
                  static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  const LoopbackPort found = ReserveLoopbackPort(rng, 1000);
  if (found.lock_fd >= 0) reservations.push_back(found.lock_fd);
  return found.port;
}

}  // namespace

ClusterControl::ClusterControl(const placement::Topology& topology, std::string server,
                               std::string dir, std::vector<std::string> extra_flags, bool curve,
                               size_t spares)
    : topology_(topology),
      spares_(spares),
      server_(std::move(server)),
      dir_(std::move(dir)),
      extra_flags_(std::move(extra_flags)),
      curve_(curve || topology.curve()) {
  GEOKV_ASSERT(spares <= kSparesMax);
}

ClusterControl::~ClusterControl() {
  Shutdown();
  for (int fd : reservations_) ::close(fd);
}

Result<placement::Topology> ClusterControl::MakeUniverse() {
  std::vector<std::string> dcs;
  for (const auto& dc : topology_.datacenters()) dcs.push_back(dc.name);
  auto taken = [&](const std::string& id) { return topology_.FindNode(id).has_value(); };
  std::string new_dc;
  for (size_t k = dcs.size() + 1; new_dc.empty() || std::count(dcs.begin(), dcs.end(), new_dc);
       ++k) {
    new_dc = "dc" + std::to_string(k);
  }
  // The spares' ids, in a datacenter of their own (last: the user's nodes
  // keep their indices).
  std::vector<std::string> spares;
  for (size_t k = 1; k <= spares_; ++k) {
    std::string id = new_dc + "-s" + std::to_string(k);
    while (taken(id)) id += "x";
    spares.push_back(id);
  }
  std::ostringstream toml;
  toml << "[cluster]\nname = " << Quote(topology_.cluster_name())
       << "\npartitions = " << topology_.partitions() << "\nreplicas = " << topology_.replicas()
       << "\nvnodes = " << topology_.vnodes() << "\n";
  if (!spares.empty()) dcs.push_back(new_dc);
  for (const std::string& dc : dcs) {
    toml << "\n[[datacenters]]\nname = " << Quote(dc) << "\n";
    auto node = [&](const std::string& id, const std::string& rack, uint32_t weight,
                    const std::string& client, const std::string& repl, const std::string& sync) {
      toml << "\n  [[datacenters.nodes]]\n  id = " << Quote(id) << "\n";
      if (!rack.empty()) toml << "  rack = " << Quote(rack) << "\n";
      toml << "  weight = " << weight << "\n  client = " << Quote(client)
           << "\n  repl = " << Quote(repl) << "\n  sync = " << Quote(sync) << "\n";
    };
    for (const placement::Datacenter& d : topology_.datacenters()) {
      if (d.name != dc) continue;
      for (size_t i : d.nodes) {
        const auto& n = topology_.nodes()[i];
        node(n.id, n.rack, n.weight, n.client.text, n.repl.text, n.sync.text);
      }
    }
    for (const std::string& id : spares) {
      if (dc != new_dc) break;
      const uint16_t ports[3] = {ReservedPort(reservations_), ReservedPort(reservations_),
                                 ReservedPort(reservations_)};
      if (ports[0] == 0 || ports[1] == 0 || ports[2] == 0) {
        return Status::Io("no free port for spare node " + id);
      }
      node(id, "", 1, "127.0.0.1:" + std::to_string(ports[0]),
           "tcp://127.0.0.1:" + std::to_string(ports[1]),
           "tcp://127.0.0.1:" + std::to_string(ports[2]));
    }
  }
  auto universe = placement::ParseTopology(toml.str(), topology_.source_name());
  if (!universe.ok()) return universe.status();
  for (size_t i = 0; i < topology_.nodes().size(); ++i) {
    if (universe->nodes()[i].id != topology_.nodes()[i].id) {
      return Status::Invalid("geokv-check needs the topology's nodes grouped by datacenter");
    }
  }
  return universe;
}

bool ClusterControl::member(size_t node) const {
  std::lock_guard lock(mu_);
  return member_[node];
}

std::optional<size_t> ClusterControl::ClientNode(size_t dc, size_t index) const {
  std::lock_guard lock(mu_);
  std::vector<size_t> members;
  for (size_t i : universe_->datacenters()[dc].nodes) {
    if (member_[i]) members.push_back(i);
  }
  if (members.empty()) return std::nullopt;
  return members[index % members.size()];
}

std::vector<size_t> ClusterControl::UnusedSpares() const {
  std::lock_guard lock(mu_);
  std::vector<size_t> out;
  for (size_t i = topology_.nodes().size(); i < member_.size(); ++i) {
    if (!member_[i] && !removed_[i]) out.push_back(i);
  }
  return out;
}

std::vector<size_t> ClusterControl::Removed() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < removed_.size(); ++i) {
    if (removed_[i]) out.push_back(i);
  }
  return out;
}

std::string ClusterControl::MakeText() const {
  const auto& nodes = universe_->nodes();
  std::ostringstream toml;
  toml << "# Derived by geokv-check from " << topology_.source_name()
       << ": the topology every node runs (each reaches the others through the WAN\n"
          "# proxy by its --peer-routes file).\n";
  toml << "[cluster]\nname = " << Quote(topology_.cluster_name())
       << "\npartitions = " << topology_.partitions() << "\nreplicas = " << topology_.replicas()
       << "\nvnodes = " << topology_.vnodes() << "\n";
  if (epoch_ > 0) toml << "epoch = " << epoch_ << "\n";
  std::lock_guard lock(mu_);
  for (const auto& dc : universe_->datacenters()) {
    if (std::none_of(dc.nodes.begin(), dc.nodes.end(), [&](size_t i) { return member_[i]; })) {
      continue;
    }
    toml << "\n[[datacenters]]\nname = " << Quote(dc.name) << "\n";
    for (size_t i : dc.nodes) {
      if (!member_[i]) continue;
      const auto& node = nodes[i];
      toml << "\n  [[datacenters.nodes]]\n  id = " << Quote(node.id) << "\n";
      if (!node.rack.empty()) toml << "  rack = " << Quote(node.rack) << "\n";
      toml << "  weight = " << weights_[i] << "\n";
      if (curve_) toml << "  curve_public = " << Quote(curve_public_[i]) << "\n";
      toml << "  client = " << Quote(node.client.text) << "\n  repl = " << Quote(node.repl.text)
           << "\n  sync = " << Quote(node.sync.text) << "\n";
    }
  }
  return toml.str();
}

std::string ClusterControl::RoutesText(size_t self) const {
  const auto& nodes = universe_->nodes();
  const size_t n = nodes.size();
  std::ostringstream toml;
  toml << "# Derived by geokv-check for node " << nodes[self].id
       << ": every other node (spares too) through its WAN proxy links.\n";
  for (size_t i = 0; i < n; ++i) {
    if (i == self) continue;
    const auto& p = ports_[i * n + self];
    toml << "\n[[peers]]\nid = " << Quote(nodes[i].id) << "\nclient = \"127.0.0.1:" << p[kClient]
         << "\"\nrepl = \"tcp://127.0.0.1:" << p[kRepl] << "\"\nsync = \"tcp://127.0.0.1:"
         << p[kSync] << "\"\n";
  }
  return toml.str();
}

Status ClusterControl::Launch() {
  auto universe = MakeUniverse();
  if (!universe.ok()) return universe.status();
  universe_.emplace(std::move(*universe));
  const auto& nodes = universe_->nodes();
  const size_t n = nodes.size();
  pids_.assign(n, 0);
  paused_.assign(n, false);
  has_backup_.assign(n, false);
  removed_.assign(n, false);
  exit_status_.assign(n, std::nullopt);
  for (const auto& node : nodes) weights_.push_back(node.weight);
  {
    std::lock_guard lock(mu_);
    member_.assign(n, false);
    for (size_t i = 0; i < topology_.nodes().size(); ++i) member_[i] = true;
  }
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
  topology_path_ = dir_ + "/topology.toml";
  text_ = MakeText();
  if (Status s = WriteAtomically(topology_path_, text_); !s.ok()) return s;
  for (size_t i = 0; i < n; ++i) {
    routes_.push_back(dir_ + "/routes-" + nodes[i].id + ".toml");
    logs_.push_back(dir_ + "/" + nodes[i].id + ".log");
    if (Status s = WriteAtomically(routes_.back(), RoutesText(i)); !s.ok()) return s;
  }
  // Every node first, then wait: a node opens its client port only once its
  // peers reported (or after 3 x --down-after-ms), so one by one would wait
  // that long for each.
  for (size_t i = 0; i < topology_.nodes().size(); ++i) {
    if (Status s = SpawnNode(i); !s.ok()) return s;
  }
  for (size_t i = 0; i < topology_.nodes().size(); ++i) {
    if (Status s = WaitServing(i); !s.ok()) return s;
  }
  return Status::Ok();
}

Status ClusterControl::WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  if (!(std::ofstream(tmp, std::ios::trunc) << text)) return Status::Io("cannot write " + tmp);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);  // a node starting now reads a whole file
  if (ec) return Status::Io("cannot write " + path + ": " + ec.message());
  return Status::Ok();
}

Status ClusterControl::NextEpoch() {
  ++epoch_;
  text_ = MakeText();
  return WriteAtomically(topology_path_, text_);
}

Status ClusterControl::SetWeight(size_t node, uint32_t weight) {
  GEOKV_ASSERT(weight >= 1 && weight <= placement::kMaxWeight);
  weights_[node] = weight;
  return NextEpoch();
}

Status ClusterControl::AddNode(size_t node) {
  {
    std::lock_guard lock(mu_);
    GEOKV_ASSERT(node >= topology_.nodes().size());
    GEOKV_ASSERT(!member_[node] && !removed_[node]);
    member_[node] = true;
  }
  return NextEpoch();
}

Status ClusterControl::RemoveNode(size_t node) {
  {
    std::lock_guard lock(mu_);
    GEOKV_ASSERT(member_[node]);
    member_[node] = false;
    removed_[node] = true;
  }
  return NextEpoch();
}

void ClusterControl::Reap() {
  for (size_t i = 0; i < pids_.size(); ++i) {
    if (!removed_[i] || pids_[i] <= 0) continue;
    int status = 0;
    if (::waitpid(pids_[i], &status, WNOHANG) != pids_[i]) continue;
    exit_status_[i] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pids_[i] = 0;
    paused_[i] = false;
  }
}

Status ClusterControl::Start(size_t i) {
  if (Status s = SpawnNode(i); !s.ok()) return s;
  return WaitServing(i);
}

Status ClusterControl::SpawnNode(size_t i) {
  const auto& node = universe_->nodes()[i];
  std::vector<std::string> argv = {server_,        "--topology",    topology_path_,
                                   "--peer-routes", routes_[i],      "--node",
                                   node.id,         "--data",        dir_ + "/" + node.id};
  if (curve_) argv.insert(argv.end(), {"--curve-secret-file", curve_secret_files_[i]});
  argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
  auto pid = Spawn(std::move(argv), logs_[i]);
  if (!pid.ok()) return pid.status();
  pids_[i] = *pid;
  paused_[i] = false;
  return Status::Ok();
}

Status ClusterControl::WaitServing(size_t i) {
  const auto& node = universe_->nodes()[i];
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
  const auto& node = universe_->nodes()[i];
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
  const auto& node = universe_->nodes()[i];
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
