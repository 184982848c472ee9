#include "server_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/loopback_port.h"
#include "common/prng.h"
#include "common/subprocess.h"
#include "replica/transport/curve_keys.h"

#ifndef GEOKV_SERVER_BIN
#error "GEOKV_SERVER_BIN must name the geokv-server binary"
#endif

namespace geokv::test {

uint16_t FreePort() {
  // Reserved for this process (common/loopback_port.h); the last
  // kReservationsMax reservations are kept (bounded file descriptors).
  static constexpr size_t kReservationsMax = 512;
  static std::mutex mu;
  static Prng rng(std::random_device{}());
  static std::deque<int> reservations;
  std::lock_guard lock(mu);
  for (;;) {
    const LoopbackPort found = ReserveLoopbackPort(rng, 1000);
    if (found.port == 0) continue;
    if (found.lock_fd >= 0) {
      reservations.push_back(found.lock_fd);
      if (reservations.size() > kReservationsMax) {
        ::close(reservations.front());
        reservations.pop_front();
      }
    }
    return found.port;
  }
}

TestCluster::TestCluster(int dcs, int nodes_per_dc, int replicas, int partitions) {
  // FreePort releases the port it found, so two calls can return the same
  // one: keep the topology's ports distinct (its validation would refuse it).
  std::set<uint16_t> used;
  auto unique_port = [&used] {
    for (;;) {
      const uint16_t port = FreePort();
      if (used.insert(port).second) return port;
    }
  };
  partitions_ = partitions;
  replicas_ = replicas;
  for (int d = 0; d < dcs; ++d) {
    for (int n = 0; n < nodes_per_dc; ++n) {
      NodeSpec spec;
      spec.dc = "dc" + std::to_string(d + 1);
      spec.id = spec.dc + "-" + static_cast<char>('a' + n);
      spec.client_port = unique_port();
      spec.repl_port = unique_port();
      spec.sync_port = unique_port();
      spec.metrics_port = unique_port();
      nodes_.push_back(spec);
    }
  }
  topology_path_ = dir_.path() + "/topology.toml";
  WriteTopology();
  pids_.assign(nodes_.size(), 0);
}

size_t TestCluster::AddNode(const std::string& dc, const std::string& id) {
  std::set<uint16_t> used;
  for (const NodeSpec& n : nodes_) {
    used.insert({n.client_port, n.repl_port, n.sync_port, n.metrics_port});
  }
  auto unique_port = [&used] {
    for (;;) {
      const uint16_t port = FreePort();
      if (used.insert(port).second) return port;
    }
  };
  NodeSpec spec;
  spec.dc = dc;
  spec.id = id;
  spec.client_port = unique_port();
  spec.repl_port = unique_port();
  spec.sync_port = unique_port();
  spec.metrics_port = unique_port();
  if (!nodes_.empty() && !nodes_[0].curve_public.empty()) {  // UseCurve: a key pair too
    auto keys = replica::GenerateCurveKeyPair();
    if (!keys.ok()) std::abort();
    spec.curve_public = keys->public_key;
    spec.curve_secret_file = dir_.path() + "/" + spec.id + ".key";
    if (!replica::WriteCurveSecretFile(spec.curve_secret_file, keys->secret_key).ok()) std::abort();
  }
  nodes_.push_back(spec);
  pids_.push_back(0);
  return nodes_.size() - 1;
}

void TestCluster::WriteTopology() {
  std::ostringstream toml;
  toml << "[cluster]\nname = \"test\"\npartitions = " << partitions_ << "\nreplicas = " << replicas_
       << "\nvnodes = 64\n";
  std::string dc;
  for (const NodeSpec& spec : nodes_) {
    if (spec.dc != dc) {
      dc = spec.dc;
      toml << "\n[[datacenters]]\nname = \"" << dc << "\"\n";
    }
    toml << "\n  [[datacenters.nodes]]\n  id = \"" << spec.id
         << "\"\n  client = \"127.0.0.1:" << spec.client_port
         << "\"\n  repl = \"tcp://127.0.0.1:" << spec.repl_port
         << "\"\n  sync = \"tcp://127.0.0.1:" << spec.sync_port
         << "\"\n  metrics = \"127.0.0.1:" << spec.metrics_port << "\"\n";
    if (!spec.curve_public.empty()) toml << "  curve_public = \"" << spec.curve_public << "\"\n";
  }
  std::ofstream(topology_path_) << toml.str();
}

void TestCluster::UseCurve() {
  for (NodeSpec& spec : nodes_) {
    auto keys = replica::GenerateCurveKeyPair();
    if (!keys.ok()) std::abort();
    spec.curve_public = keys->public_key;
    spec.curve_secret_file = dir_.path() + "/" + spec.id + ".key";
    if (!replica::WriteCurveSecretFile(spec.curve_secret_file, keys->secret_key).ok()) std::abort();
  }
  WriteTopology();
}

TestCluster::~TestCluster() {
  for (size_t i = 0; i < pids_.size(); ++i) {
    if (pids_[i] > 0) Kill(i);
  }
}

Status TestCluster::Start(size_t i, const std::vector<std::string>& extra_flags,
                          const std::vector<std::string>& launcher) {
  const NodeSpec& n = nodes_[i];
  std::vector<std::string> argv = launcher;
  for (const std::string& arg :
       {std::string(GEOKV_SERVER_BIN), std::string("--topology"), topology_path_,
        std::string("--node"), n.id, std::string("--data"), dir_.path() + "/" + n.id}) {
    argv.push_back(arg);
  }
  if (!n.curve_secret_file.empty()) {
    argv.push_back("--curve-secret-file");
    argv.push_back(n.curve_secret_file);
  }
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  const std::string log = dir_.path() + "/" + n.id + ".log";
  auto pid = Spawn(std::move(argv), log);
  if (!pid.ok()) return pid.status();
  pids_[i] = *pid;
  if (Status s = replica::WaitUntilServing("127.0.0.1", n.client_port, *pid, 10'000); !s.ok()) {
    if (::waitpid(*pid, nullptr, WNOHANG) == 0) Kill(i);
    pids_[i] = 0;
    return Status::Io("geokv-server " + n.id + " did not come up (" + s.message() + "):\n" +
                      Log(i));
  }
  return Status::Ok();
}

int TestCluster::Stop(size_t i) {
  if (pids_[i] <= 0) return -1;
  ::kill(pids_[i], SIGTERM);
  int status = 0;
  ::waitpid(pids_[i], &status, 0);
  pids_[i] = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void TestCluster::Kill(size_t i) {
  if (pids_[i] <= 0) return;
  ::kill(pids_[i], SIGKILL);
  int status = 0;
  ::waitpid(pids_[i], &status, 0);
  pids_[i] = 0;
}

void TestCluster::Pause(size_t i) {
  if (pids_[i] > 0) ::kill(pids_[i], SIGSTOP);
}

void TestCluster::Resume(size_t i) {
  if (pids_[i] > 0) ::kill(pids_[i], SIGCONT);
}

std::string TestCluster::Log(size_t i) const {
  std::ifstream in(dir_.path() + "/" + nodes_[i].id + ".log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

replica::RespClient TestCluster::Client(size_t i) {
  replica::RespClient client;
  if (!client.Connect("127.0.0.1", nodes_[i].client_port).ok()) std::abort();
  return client;
}

bool TestCluster::Converged(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    // partition -> the digests the nodes holding it report
    std::map<int64_t, std::set<std::string>> digests;
    bool all = true;
    for (size_t i = 0; i < nodes_.size() && all; ++i) {
      if (pids_[i] <= 0) continue;
      replica::RespClient c;
      auto r = c.Connect("127.0.0.1", nodes_[i].client_port).ok()
                   ? c.Command({"GEOKV.DIGEST"})
                   : Result<replica::RespValue>(Status::Io("down"));
      all = r.ok() && r->type == replica::RespValue::Type::kArray;
      if (!all) break;
      for (const auto& e : r->elements) {
        if (e.elements.size() == 2) digests[e.elements[0].integer].insert(e.elements[1].str);
      }
    }
    bool equal = all && !digests.empty();
    for (const auto& [p, d] : digests) equal = equal && d.size() == 1;
    if (equal) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

uint64_t TestCluster::InfoField(size_t i, const std::string& name, const std::string& section) {
  replica::RespClient c;
  if (!c.Connect("127.0.0.1", nodes_[i].client_port).ok()) return 0;
  auto r = c.Command({"INFO", section});
  if (!r.ok()) return 0;
  const std::string& info = r->str;
  const size_t at = info.find("\n" + name + ":");
  return at == std::string::npos ? 0 : std::strtoull(info.c_str() + at + name.size() + 2, nullptr, 10);
}

std::string RunCommand(const std::string& command, int* status) {
  std::string out;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int rc = ::pclose(pipe);
  if (status != nullptr) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

}  // namespace geokv::test
