// Moves on real geokv-server processes (issue 14): the shape of local-3dc
// (three DCs, one node each, Q=64, N=3, V=64) grows by a second dc1 node of
// weight 2, then by a fourth DC, then loses its first node, all under
// continuous writes from every DC. After each step: every node runs the new
// epoch and has no move left (the new DC's node killed mid-move and
// restarted: it resumes), the digests are equal, every acknowledged SET
// reads back at every node and every counter equals its acknowledged INCRs,
// no client saw -ERR (only answers or -TRYAGAIN), a write at w = 3 and reads
// at r = 3 answer at every node, WAIT counts the other DCs holding it, the
// removed node exited by itself, and the data that moved is within 1.5x of
// geokv-ring --diff's estimate. While the first node joins, GEOKV.MOVES at it
// lists its moving partitions, another node's GEOKV.MEMBERS shows the bytes
// it has left to move, heard in its heartbeats, and its own figure is within
// 4x of what it received.
// About 25 s in all on loopback.
#include <sys/wait.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "server_process.h"

#ifndef GEOKV_RING_BIN
#error "GEOKV_RING_BIN must name the geokv-ring binary"
#endif

namespace geokv::test {
namespace {

using namespace std::chrono_literals;
using replica::RespClient;
using replica::RespValue;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 64;
constexpr int kPreloadKeys = 3000;
const std::string kValue(200, 'v');

// A topology file of `members` (indices into cluster.nodes()), DCs in order of
// first appearance, as TestCluster writes them, at `epoch`, with weights.
std::string TopologyText(const TestCluster& cluster, const std::vector<size_t>& members,
                         uint64_t epoch, const std::map<std::string, int>& weights) {
  std::ostringstream toml;
  toml << "[cluster]\nname = \"test\"\npartitions = " << kPartitions
       << "\nreplicas = 3\nvnodes = 64\nepoch = " << epoch << "\n";
  std::vector<std::string> dcs;
  for (size_t i : members) {
    const std::string& dc = cluster.nodes()[i].dc;
    if (std::find(dcs.begin(), dcs.end(), dc) == dcs.end()) dcs.push_back(dc);
  }
  for (const std::string& dc : dcs) {
    toml << "\n[[datacenters]]\nname = \"" << dc << "\"\n";
    for (size_t i : members) {
      const NodeSpec& n = cluster.nodes()[i];
      if (n.dc != dc) continue;
      toml << "\n  [[datacenters.nodes]]\n  id = \"" << n.id << "\"\n";
      if (auto w = weights.find(n.id); w != weights.end())
        toml << "  weight = " << w->second << "\n";
      toml << "  client = \"127.0.0.1:" << n.client_port
           << "\"\n  repl = \"tcp://127.0.0.1:" << n.repl_port
           << "\"\n  sync = \"tcp://127.0.0.1:" << n.sync_port
           << "\"\n  metrics = \"127.0.0.1:" << n.metrics_port << "\"\n";
    }
  }
  return toml.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

// One client per DC writing without pause: SETs of fresh keys and INCRs of
// its counter, each recorded once acknowledged. Every reply that is neither
// an acknowledgement nor -TRYAGAIN is counted as an error.
class Writers {
 public:
  explicit Writers(TestCluster& cluster) : cluster_(cluster) {}
  ~Writers() { Stop(); }

  // Starts writer w against node `node` (a writer keeps its DC: retarget it
  // when that node goes away).
  void Start(size_t w, size_t node) {
    target_[w] = node;
    threads_.emplace_back([this, w] { Run(w); });
  }
  void Retarget(size_t w, size_t node) { target_[w] = node; }
  void Pause() {
    paused_ = true;
    while (busy_ > 0) std::this_thread::sleep_for(1ms);
  }
  void Resume() { paused_ = false; }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  std::map<std::string, size_t> acked_sets() {
    std::lock_guard lock(mu_);
    return sets_;
  }
  std::map<std::string, int64_t> acked_incrs() {
    std::lock_guard lock(mu_);
    return incrs_;
  }
  // INCRs whose connection failed before the reply: they may have counted.
  std::map<std::string, int64_t> uncertain_incrs() {
    std::lock_guard lock(mu_);
    return uncertain_incrs_;
  }
  uint64_t errors() const { return errors_; }
  uint64_t tryagains() const { return tryagains_; }
  std::string first_error() {
    std::lock_guard lock(mu_);
    return first_error_;
  }

 private:
  void Run(size_t w) {
    RespClient c;
    size_t connected_to = SIZE_MAX;
    const std::string counter = "counter:w" + std::to_string(w);
    for (uint64_t n = 0; !stop_; ++n) {
      if (paused_) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      ++busy_;
      if (paused_) {  // paused meanwhile: Pause waits for busy_ only after setting it
        --busy_;
        continue;
      }
      const size_t node = target_[w];
      if (connected_to != node || !c.connected()) {
        c.Close();
        if (!c.Connect("127.0.0.1", cluster_.nodes()[node].client_port).ok()) {
          --busy_;
          std::this_thread::sleep_for(10ms);
          continue;
        }
        connected_to = node;
      }
      const bool incr = n % 4 == 3;
      const std::string key = "w" + std::to_string(w) + ":" + std::to_string(n);
      auto r = incr ? c.Command({"INCR", counter}) : c.Command({"SET", key, kValue});
      if (!r.ok()) {
        c.Close();  // the node went away (a removed node exiting): not acknowledged
        if (incr) {
          std::lock_guard lock(mu_);
          ++uncertain_incrs_[counter];  // it may have counted
        }
      } else if (r->is_error()) {
        if (r->str.starts_with("TRYAGAIN")) {
          ++tryagains_;
        } else {
          ++errors_;
          std::lock_guard lock(mu_);
          if (first_error_.empty()) first_error_ = r->str;
        }
      } else {
        std::lock_guard lock(mu_);
        if (incr) {
          ++incrs_[counter];
        } else {
          sets_[key] = kValue.size();
        }
      }
      --busy_;
      std::this_thread::sleep_for(1ms);
    }
  }

  TestCluster& cluster_;
  std::atomic<size_t> target_[4] = {0, 0, 0, 0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<int> busy_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> tryagains_{0};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::map<std::string, size_t> sets_;              // guarded by mu_
  std::map<std::string, int64_t> incrs_;            // guarded by mu_
  std::map<std::string, int64_t> uncertain_incrs_;  // guarded by mu_
  std::string first_error_;                         // guarded by mu_
};

// The partitions node i serves now, with their key counts (INFO partitions).
std::map<uint32_t, uint64_t> HeldKeys(TestCluster& cluster, size_t i) {
  std::map<uint32_t, uint64_t> held;
  RespClient c = cluster.Client(i);
  auto r = c.Command({"INFO", "partitions"});
  REQUIRE(r.ok());
  std::istringstream lines(r->str);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("partition") || line.starts_with("partitions")) continue;
    const size_t colon = line.find(':');
    const size_t keys = line.find("keys=");
    if (colon == std::string::npos || keys == std::string::npos) continue;
    held[static_cast<uint32_t>(std::stoul(line.substr(9, colon - 9)))] =
        std::stoull(line.substr(keys + 5));
  }
  return held;
}

// Whether node i runs `epoch` and reports no partition moving at itself;
// `bytes_left` gets the bytes it reports left to move.
bool MovesEnded(TestCluster& cluster, size_t i, int64_t epoch, std::string* why,
                int64_t* bytes_left) {
  RespClient c = cluster.Client(i);
  auto r = c.Command({"GEOKV.MEMBERS"});
  if (!r.ok()) return false;
  for (const RespValue& m : r->elements) {
    if (m.elements.size() != 18 || m.elements[1].str != cluster.nodes()[i].id) continue;
    *why = m.ToString();
    *bytes_left = m.elements[17].integer;
    return m.elements[7].integer == epoch && m.elements[9].str == "up" &&
           m.elements[15].integer == 0;
  }
  return false;
}

// INFO cluster's move_bytes_left at node i (-1: not found).
int64_t InfoBytesLeft(TestCluster& cluster, size_t i) {
  RespClient c = cluster.Client(i);
  auto r = c.Command({"INFO", "cluster"});
  if (!r.ok()) return -1;
  const size_t at = r->str.find("move_bytes_left:");
  return at == std::string::npos ? -1 : std::stoll(r->str.substr(at + 16));
}

// The row of node `id` in node i's GEOKV.MEMBERS (empty if none).
std::vector<RespValue> MembersRow(RespClient& c, const std::string& id) {
  auto r = c.Command({"GEOKV.MEMBERS"});
  if (!r.ok()) return {};
  for (const RespValue& m : r->elements) {
    if (m.elements.size() == 18 && m.elements[1].str == id) return m.elements;
  }
  return {};
}

// GEOKV.MOVES at node `id`: (partition, role) of each entry, after checking
// every entry's shape; nullopt if the command failed.
std::optional<std::vector<std::pair<int64_t, std::string>>> MovesAt(RespClient& c,
                                                                    const std::string& id,
                                                                    int64_t epoch) {
  auto r = c.Command({"GEOKV.MOVES"});
  if (!r.ok() || r->type != RespValue::Type::kArray) return std::nullopt;
  std::vector<std::pair<int64_t, std::string>> out;
  for (const RespValue& m : r->elements) {
    INFO(m.ToString());
    REQUIRE(m.elements.size() == 18);
    const char* fields[] = {"partition",          "role",          "epoch",  "waiting_for_joiners",
                            "waiting_for_finals", "atoms_deleted", "age_ms", "bytes_left",
                            "waiting_for_acks"};
    for (size_t f = 0; f < 9; ++f) CHECK(m.elements[2 * f].str == fields[f]);
    CHECK(m.elements[5].integer == epoch);
    CHECK(m.elements[7].type == RespValue::Type::kArray);
    CHECK(m.elements[9].type == RespValue::Type::kArray);
    CHECK(m.elements[13].integer >= 0);
    CHECK(m.elements[15].integer >= 0);
    if (m.elements[3].str == "joining") {  // it waits for itself, and lacks a key at least
      const auto& joiners = m.elements[7].elements;
      CHECK(std::any_of(joiners.begin(), joiners.end(),
                        [&](const RespValue& j) { return j.str == id; }));
      CHECK(m.elements[15].integer > 0);
    }
    out.emplace_back(m.elements[1].integer, m.elements[3].str);
  }
  return out;
}

// While node `joiner` fills (call right after the change is applied):
// GEOKV.MOVES at it lists as many partitions as its MEMBERS row's
// partitions_moving, each joining at first, and is empty once its moves
// ended; node `peer`'s MEMBERS row for it shows bytes_left > 0 meanwhile
// (heard in its heartbeats) and 0 after. Returns the largest bytes_left the
// joiner showed for itself meanwhile.
int64_t WatchJoin(TestCluster& cluster, size_t joiner, size_t peer, int64_t epoch) {
  const std::string id = cluster.nodes()[joiner].id;
  RespClient at_joiner = cluster.Client(joiner);
  RespClient at_peer = cluster.Client(peer);
  size_t consistent = 0;  // samples where MOVES did not change around MEMBERS
  int64_t peer_bytes_left_max = -1, own_bytes_left_max = -1;
  const auto deadline = Clock::now() + 60s;
  while (Clock::now() < deadline) {
    const auto before = MovesAt(at_joiner, id, epoch);
    const std::vector<RespValue> row = MembersRow(at_joiner, id);
    const auto after = MovesAt(at_joiner, id, epoch);
    const std::vector<RespValue> peer_row = MembersRow(at_peer, id);
    REQUIRE(before);
    REQUIRE(after);
    REQUIRE(row.size() == 18);
    own_bytes_left_max = std::max(own_bytes_left_max, row[17].integer);
    if (!peer_row.empty())
      peer_bytes_left_max = std::max(peer_bytes_left_max, peer_row[17].integer);
    if (after->empty()) break;
    if (*before != *after) continue;
    RespValue shown;
    shown.type = RespValue::Type::kArray;
    shown.elements = row;
    INFO("MEMBERS row: " << shown.ToString());
    CHECK(static_cast<int64_t>(after->size()) == row[15].integer);
    if (consistent++ == 0) {
      for (const auto& [p, role] : *after) CHECK(role == "joining");
    }
    std::this_thread::sleep_for(20ms);
  }
  CHECK(consistent > 0);
  INFO("largest bytes_left " << id << " reported to " << cluster.nodes()[peer].id << ": "
                             << peer_bytes_left_max);
  CHECK(peer_bytes_left_max > 0);
  auto moves = MovesAt(at_joiner, id, epoch);
  REQUIRE(moves);
  CHECK(moves->empty());
  // Heard within a heartbeat and the peer's next refresh (250 ms).
  std::vector<RespValue> peer_row;
  for (const auto until = Clock::now() + 5s; Clock::now() < until;) {
    peer_row = MembersRow(at_peer, id);
    if (!peer_row.empty() && peer_row[17].integer == 0) break;
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(peer_row.size() == 18);
  CHECK(peer_row[17].integer == 0);
  return own_bytes_left_max;
}

// geokv-ring --diff's moved replicas from `before` to `after`.
uint64_t PredictedMoves(const std::string& before, const std::string& after) {
  int status = 0;
  const std::string out = RunCommand(
      std::string(GEOKV_RING_BIN) + " " + before + " --diff " + after + " --json", &status);
  REQUIRE(status == 0);
  const std::string field = "\"moved_replicas\" : ";
  size_t at = out.find(field);
  if (at == std::string::npos) {
    at = out.find("\"moved_replicas\": ");
    REQUIRE(at != std::string::npos);
    return std::stoull(out.substr(at + 18));
  }
  return std::stoull(out.substr(at + field.size()));
}

struct Step {
  std::string name;
  std::vector<size_t> members;  // the new topology's nodes
  std::optional<size_t> added;  // a node started for it (joins)
  std::optional<size_t> removed;
  bool crash_added = false;  // SIGKILL the added node mid-move, then restart it
};

// Applies one step at `apply_at`, waits for its moves, and checks everything
// the header promises. `epoch` is the step's epoch.
void RunStep(TestCluster& cluster, Writers& writers, const Step& step, uint64_t epoch,
             const std::map<std::string, int>& weights, size_t apply_at, std::string& previous) {
  INFO("step " << epoch << ": " << step.name);
  const std::string next_path = cluster.dir() + "/epoch" + std::to_string(epoch) + ".toml";
  const std::string text = TopologyText(cluster, step.members, epoch, weights);
  WriteFile(next_path, text);
  const uint64_t predicted = PredictedMoves(previous, next_path);
  std::vector<size_t> running;
  for (size_t i = 0; i < cluster.nodes().size(); ++i) {
    if (cluster.running(i)) running.push_back(i);
  }
  std::map<size_t, std::map<uint32_t, uint64_t>> before;
  for (size_t i : running) before[i] = HeldKeys(cluster, i);
  const auto started = Clock::now();
  if (step.added) {
    WriteFile(cluster.topology_path(), text);  // the new node starts with the new file
    const Status s = cluster.Start(*step.added);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  {
    RespClient c = cluster.Client(apply_at);
    auto r = c.Command({"GEOKV.TOPOLOGY", "APPLY", text});
    REQUIRE(r.ok());
    REQUIRE(r->str == "OK");
  }
  // bytes_left: above 0 at some node while a joiner fills (sampled from the
  // start of the move), 0 at every node once its moves ended.
  int64_t bytes_left_seen = 0;
  int64_t joiner_bytes_left_max = -1;  // the joiner's own, while it filled
  if (step.added && !step.crash_added) {
    joiner_bytes_left_max = WatchJoin(cluster, *step.added, apply_at, static_cast<int64_t>(epoch));
    bytes_left_seen = joiner_bytes_left_max;
  }
  if (step.crash_added) {
    // Sample every member's own bytes_left until the kill: after the restart
    // the refill can end between two samples of the wait below.
    for (const auto kill_at = Clock::now() + 200ms; Clock::now() < kill_at;) {
      for (size_t i : step.members) {
        std::string why;
        int64_t bytes_left = -1;
        MovesEnded(cluster, i, static_cast<int64_t>(epoch), &why, &bytes_left);
        bytes_left_seen = std::max(bytes_left_seen, bytes_left);
      }
      std::this_thread::sleep_for(20ms);
    }
    cluster.Kill(*step.added);
    const Status s = cluster.Start(*step.added);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  // The removed node hands its partitions over and exits by itself.
  if (step.removed) {
    const pid_t pid = cluster.pid(*step.removed);
    int status = -1;
    const auto deadline = Clock::now() + 60s;
    while (Clock::now() < deadline && ::waitpid(pid, &status, WNOHANG) != pid) {
      std::this_thread::sleep_for(50ms);
    }
    INFO(cluster.Log(*step.removed));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(cluster.Log(*step.removed).find("and drained: stopping") != std::string::npos);
    cluster.Forget(*step.removed);
  }
  for (size_t i : step.members) {
    std::string why;
    int64_t bytes_left = -1;
    const auto deadline = Clock::now() + 60s;
    while (!MovesEnded(cluster, i, static_cast<int64_t>(epoch), &why, &bytes_left) &&
           Clock::now() < deadline) {
      bytes_left_seen = std::max(bytes_left_seen, bytes_left);
      std::this_thread::sleep_for(100ms);
    }
    std::string all;
    for (size_t j : step.members) all += cluster.nodes()[j].id + ":\n" + cluster.Log(j) + "\n";
    INFO("node " << cluster.nodes()[i].id << ": " << why << "\n" << all);
    REQUIRE(MovesEnded(cluster, i, static_cast<int64_t>(epoch), &why, &bytes_left));
    CHECK(bytes_left == 0);
    CHECK(InfoBytesLeft(cluster, i) == 0);
  }
  if (step.added) {
    INFO("largest bytes_left seen during the move: " << bytes_left_seen);
    CHECK(bytes_left_seen > 0);
  }
  const double move_s = std::chrono::duration<double>(Clock::now() - started).count();

  writers.Pause();
  std::string logs;
  for (size_t i : step.members) logs += cluster.nodes()[i].id + ":\n" + cluster.Log(i) + "\n";
  INFO(logs);
  REQUIRE(cluster.Converged(20s));
  CHECK(writers.errors() == 0);
  CHECK(writers.first_error() == "");
  // Nothing acknowledged lost, read at every node (forwarded as placement says).
  const auto sets = writers.acked_sets();
  const auto incrs = writers.acked_incrs();
  auto uncertain = writers.uncertain_incrs();
  for (size_t i : step.members) {
    RespClient c = cluster.Client(i);
    size_t missing = 0;
    std::string first_missing;
    for (const auto& [key, bytes] : sets) {
      auto r = c.Command({"GET", key});
      if (!r.ok() || r->str.size() != bytes) {
        if (missing++ == 0) first_missing = key + " -> " + (r.ok() ? r->ToString() : "no reply");
      }
    }
    for (int k = 0; k < kPreloadKeys; ++k) {
      auto r = c.Command({"GET", "pre:" + std::to_string(k)});
      if (!r.ok() || r->str != kValue) {
        if (missing++ == 0) first_missing = "pre:" + std::to_string(k);
      }
    }
    INFO("node " << cluster.nodes()[i].id << " misses " << missing << ", first " << first_missing);
    CHECK(missing == 0);
    for (const auto& [counter, count] : incrs) {
      auto r = c.Command({"GET", counter});
      REQUIRE(r.ok());
      INFO(counter << " = " << r->str << ", " << count << " acknowledged");
      const int64_t value = std::stoll(r->str);
      CHECK(value >= count);
      CHECK(value <= count + uncertain[counter]);
    }
  }
  // WAIT and the levels count the datacenters, by the new placement: a
  // write at w = 3 from every node is acknowledged, a read at r = 3 of it
  // and of keys written before the change answers (its sources are the
  // owners now), and WAIT after it counts every DC holding the key but the
  // client's node's (GEOKV.WHERE, by the running topology: ids are
  // "<dc>-<x>").
  for (size_t i : step.members) {
    RespClient c = cluster.Client(i);
    REQUIRE(c.Command({"GEOKV.CONSISTENCY", "READ", "3", "WRITE", "3"})->str == "OK");
    const std::string key = "w3:" + std::to_string(epoch) + ":" + cluster.nodes()[i].id;
    auto r = c.Command({"SET", key, kValue});
    REQUIRE(r.ok());
    INFO(key << " at " << cluster.nodes()[i].id << ": " << r->ToString());
    CHECK(r->str == "OK");
    for (const std::string& read : {key, std::string("pre:1"), std::string("pre:2999")}) {
      auto got = c.Command({"GET", read});
      REQUIRE(got.ok());
      INFO("GET " << read << " at r = 3: " << got->ToString());
      CHECK(got->str == kValue);
    }
    // 64 partitions: keys spread over every partition, each read at r = 3.
    for (int k = 0; k < 256; ++k) {
      auto got = c.Command({"GET", "pre:" + std::to_string(k * 11)});
      REQUIRE(got.ok());
      INFO("GET pre:" << k * 11 << " at r = 3: " << got->ToString());
      REQUIRE(got->str == kValue);
    }
    auto where = c.Command({"GEOKV.WHERE", key});
    REQUIRE(where.ok());
    REQUIRE(where->elements.size() == 2);
    std::set<std::string> other_dcs;
    for (const RespValue& id : where->elements[1].elements) {
      const std::string dc = id.str.substr(0, id.str.find('-'));
      if (dc != cluster.nodes()[i].dc) other_dcs.insert(dc);
    }
    auto waited = c.Command({"WAIT", std::to_string(other_dcs.size()), "5000"});
    REQUIRE(waited.ok());
    CHECK(waited->integer == static_cast<int64_t>(other_dcs.size()));
  }
  // The data moved: the keys of the partitions each node serves now and did
  // not before, against geokv-ring's moved replicas times the mean keys per
  // partition (every key is the same size).
  std::map<uint32_t, uint64_t> keys_of;  // partition -> keys (its largest report)
  uint64_t gained = 0;
  for (size_t i : step.members) {
    const auto after = HeldKeys(cluster, i);
    const auto& was = before[i];  // empty for the added node
    for (const auto& [p, keys] : after) {
      keys_of[p] = std::max(keys_of[p], keys);
      if (!was.contains(p)) gained += keys;
    }
  }
  uint64_t total = 0;
  for (const auto& [p, keys] : keys_of) total += keys;
  const double estimate = static_cast<double>(predicted) * static_cast<double>(total) / kPartitions;
  const double ratio = static_cast<double>(gained) / estimate;
  // The joiner's bytes_left priced what it was to receive: at its largest it
  // is within 4x of the values it holds now (each key is encoded in a bit
  // more than its value; measured 1.07x). A sanity bound on the figure end
  // to end (a sum where a median belongs, a unit off): the older pricing by
  // what the joiner held itself also reached 0.75x at its peak, so how a
  // joiner prices its fills is pinned by move_estimate_test.cc.
  double joiner_value_bytes = 0;
  if (joiner_bytes_left_max >= 0) {
    uint64_t joiner_keys = 0;
    for (const auto& [p, keys] : HeldKeys(cluster, *step.added)) joiner_keys += keys;
    joiner_value_bytes = static_cast<double>(joiner_keys * kValue.size());
    CHECK(static_cast<double>(joiner_bytes_left_max) >= joiner_value_bytes / 4);
    CHECK(static_cast<double>(joiner_bytes_left_max) <= joiner_value_bytes * 4);
  }
  WARN("step " << epoch << " (" << step.name << "): " << move_s << " s to move; " << predicted
               << " replicas predicted, " << gained << " keys moved vs " << estimate
               << " estimated: ratio " << ratio << "; " << writers.tryagains()
               << " TRYAGAIN replies so far, " << sets.size() << " SETs and " << incrs.size()
               << " counters acknowledged; largest bytes_left seen " << bytes_left_seen
               << ", the joiner's " << joiner_bytes_left_max << " for " << joiner_value_bytes
               << " bytes of values received");
  CHECK(predicted > 0);
  CHECK(ratio <= 1.5);
  CHECK(ratio >= 1 / 1.5);
  writers.Resume();
  previous = next_path;
}

// The three steps, each under writes from every DC.
void RunSequence() {
  TestCluster cluster(3, 1, 3, kPartitions);
  for (size_t i = 0; i < 3; ++i) {
    const Status s = cluster.Start(i);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  {
    RespClient c = cluster.Client(0);
    for (int k = 0; k < kPreloadKeys; ++k) {
      REQUIRE(c.Command({"SET", "pre:" + std::to_string(k), kValue})->str == "OK");
    }
  }
  std::string previous = cluster.dir() + "/epoch0.toml";
  WriteFile(previous, TopologyText(cluster, {0, 1, 2}, 0, {}));
  Writers writers(cluster);
  for (size_t w = 0; w < 3; ++w) writers.Start(w, w);  // one writer per DC
  std::this_thread::sleep_for(300ms);

  const size_t dc1b = cluster.AddNode("dc1", "dc1-b");
  const std::map<std::string, int> weights = {{"dc1-b", 2}};
  RunStep(cluster, writers, {"add dc1-b (weight 2) to dc1", {0, dc1b, 1, 2}, dc1b, {}}, 1, weights,
          1, previous);
  const size_t dc4a = cluster.AddNode("dc4", "dc4-a");
  RunStep(cluster, writers,
          {"add dc4, which crashes and restarts", {0, dc1b, 1, 2, dc4a}, dc4a, {}, true}, 2,
          weights, 1, previous);
  writers.Start(3, dc4a);
  writers.Retarget(0, dc1b);  // dc1's writer moves off the node about to go
  RunStep(cluster, writers, {"remove dc1-a", {dc1b, 1, 2, dc4a}, {}, 0}, 3, weights, 1, previous);
}

TEST_CASE("Moves: a dc1 node of weight 2 joins, then a fourth DC, then the first node leaves",
          "[integration]") {
  RunSequence();
}

}  // namespace
}  // namespace geokv::test
