// Model-based randomized test of the Engine (leveldb's ModelDB idea).
//
// Thousands of seeded operations go through the Engine and through a
// trivially correct model: a crdt::MemoryState per partition, a deque per
// partition log, maps for applied seqs and metadata. Operations: local
// mutations of every kind (DeltaBuilder over the engine's partition, then
// ApplyDelta and AppendLog — the delta built on the engine must equal the one
// built on the model), deltas received from two remote replicas (late,
// duplicated, reordered) with SetApplied, state transfers (JoinState),
// counter folding, log truncation and reads, metadata, and jobs that fail or
// throw after changing things (which must leave no trace). Jobs are submitted
// in batches so that many share a group commit; the engine is closed and
// reopened at random points; at random checkpoints and at the end every
// partition's snapshot, key count, key scan and client-visible values, and
// the metadata, equal the model's. Checkpoints run all along in small slices,
// and a reopening is either clean or as after a crash (redo replay).
#include <catch2/catch.hpp>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crdt/codec.h"
#include "crdt/fold.h"
#include "crdt/memory_state.h"
#include "random_ops.h"
#include "seed.h"
#include "storage_test_util.h"

namespace geokv::storage {
namespace {

using crdt::Delta;
using crdt::DeltaBuilder;
using crdt::HybridClock;
using crdt::MemoryState;
using crdt::ReplicaId;
using crdt::Snapshot;
using test::Pick;

constexpr ReplicaId kSelf = 1;
constexpr uint32_t kPartitions = 4;
constexpr size_t kLogLimit = 3000;

// One client command of a random kind (the mix of tests/crdt/random_ops.h,
// over more members so that collections grow), run against `b`'s state.
void RandomMutation(Prng& rng, DeltaBuilder& b, HybridClock& clock) {
  using namespace crdt;
  const std::string key = Pick(rng, "k", 6);
  const uint64_t op = rng.Below(1000);
  if (op < 120) {
    SetScalar(b, ScalarRef{key, std::nullopt}, clock.Now(), Pick(rng, "v", 1000));
  } else if (op < 150) {
    DeleteKey(b, key);
  } else if (op < 250) {
    IncrementScalar(b, ScalarRef{key, std::nullopt}, rng.Between(-5, 10));
  } else if (op < 480) {
    AddMember(b, key, Pick(rng, "m", 40));
  } else if (op < 540) {
    RemoveMember(b, key, Pick(rng, "m", 40));
  } else if (op < 660) {
    SetField(b, key, Pick(rng, "f", 8), clock.Now(), Pick(rng, "", 20));
  } else if (op < 770) {
    IncrementField(b, key, Pick(rng, "f", 8), rng.Between(-3, 5));
  } else if (op < 820) {
    DeleteField(b, key, Pick(rng, "f", 8));
  } else if (op < 890) {
    MvSet(b, key, Pick(rng, "mv", 100), nullptr);
  } else if (op < 950) {
    MvSiblings seen = MvGet(b.state(), key);
    MvSet(b, key, Pick(rng, "mv", 100), &seen.token);
  } else if (op < 998) {
    // An empty mutation: still takes a dot (a sequence number) and is logged.
  } else {
    FlushPartition(b);
  }
}

struct Remote {
  explicit Remote(ReplicaId replica_id)
      : id(replica_id), clock([w = wall_ms] { return *w; }), parts(kPartitions) {}
  ReplicaId id;
  std::shared_ptr<uint64_t> wall_ms = std::make_shared<uint64_t>(2'000'000);
  HybridClock clock;
  std::vector<MemoryState> parts;
};

// What the engine must hold.
struct Model {
  struct Entry {
    Delta delta;
    size_t encoded;
  };
  std::vector<MemoryState> parts = std::vector<MemoryState>(kPartitions);
  std::vector<std::deque<Entry>> log = std::vector<std::deque<Entry>>(kPartitions);
  std::vector<uint64_t> log_bytes = std::vector<uint64_t>(kPartitions, 0);
  std::vector<uint64_t> floor = std::vector<uint64_t>(kPartitions, 0);
  std::vector<uint64_t> logged = std::vector<uint64_t>(kPartitions, 0);
  std::map<std::pair<uint32_t, ReplicaId>, uint64_t> applied;
  std::map<std::string, std::string> meta;

  void Drop(uint32_t p) {
    floor[p] = std::max(floor[p], log[p].front().delta.last);
    log_bytes[p] -= log[p].front().encoded + kLogEntryOverheadBytes;
    log[p].pop_front();
  }
  void Append(uint32_t p, const Delta& d) {
    const size_t encoded = crdt::EncodeDelta(d).size();
    log[p].push_back(Entry{d, encoded});
    log_bytes[p] += encoded + kLogEntryOverheadBytes;
    logged[p] = d.last;
    while (log_bytes[p] > kLogLimit && log[p].size() > 1) Drop(p);
  }
  void Truncate(uint32_t p, uint64_t through) {
    while (!log[p].empty() && log[p].front().delta.last <= through) Drop(p);
  }
  // ReadLog's answer: the deltas, or nullopt for "log truncated".
  std::optional<std::vector<Delta>> Read(uint32_t p, uint64_t after, size_t max_bytes) const {
    if (after < floor[p]) return std::nullopt;
    std::vector<Delta> out;
    size_t total = 0;
    for (const Entry& e : log[p]) {
      if (e.delta.last <= after) continue;
      if (!out.empty() && total + e.encoded > max_bytes) break;
      total += e.encoded;
      out.push_back(e.delta);
    }
    return out;
  }
};

std::string Compare(const Snapshot& got, const Snapshot& want) {
  if (got == want) return "";
  std::string why = "context " + got.context.ToString() + " vs " + want.context.ToString() + "; " +
                    std::to_string(got.atoms.size()) + " vs " + std::to_string(want.atoms.size()) +
                    " atoms";
  for (size_t i = 0; i < std::min(got.atoms.size(), want.atoms.size()); ++i) {
    if (got.atoms[i] != want.atoms[i]) {
      why += "; first difference at " + std::to_string(i) + ": " +
             test::Describe(got.atoms[i].first, got.atoms[i].second) + " vs " +
             test::Describe(want.atoms[i].first, want.atoms[i].second);
      break;
    }
  }
  return why;
}

// Jobs queued for one batch; each records what it finds wrong in `problems`
// (on the writer thread, while the test thread waits in Flush).
class Batch {
 public:
  void Add(Engine::Job job, bool should_commit) {
    jobs_.push_back({std::move(job), should_commit});
  }
  size_t size() const { return jobs_.size(); }

  void Flush(Engine& engine) {
    std::vector<std::future<Status>> results;
    for (auto& [job, should_commit] : jobs_) {
      auto promise = std::make_shared<std::promise<Status>>();
      results.push_back(promise->get_future());
      REQUIRE(engine.Submit(std::move(job), [promise](Status s) { promise->set_value(s); }).ok());
    }
    for (size_t i = 0; i < results.size(); ++i) {
      const Status s = results[i].get();
      INFO("job " << i << " of the batch: " << s.ToString());
      CHECK(s.ok() == jobs_[i].second);
    }
    jobs_.clear();
    INFO((problems.empty() ? "" : problems.front()));
    REQUIRE(problems.empty());
  }

  std::vector<std::string> problems;

 private:
  std::vector<std::pair<Engine::Job, bool>> jobs_;
};

// A job comparing everything the engine holds with the model. REQUIRES: it
// runs alone in its batch (the model is updated when a job is queued).
Engine::Job CheckEverything(Model& model, Batch& batch, Prng& rng) {
  const size_t page = 1 + rng.Below(4);
  return [&model, &batch, page](Transaction& txn) {
    for (uint32_t p = 0; p < kPartitions; ++p) {
      const std::string where = "partition " + std::to_string(p) + ": ";
      if (auto why =
              Compare(crdt::TakeSnapshot(txn.Partition(p)), crdt::TakeSnapshot(model.parts[p]));
          !why.empty()) {
        batch.problems.push_back(where + "snapshot: " + why);
      }
      if (test::Observe(txn.Partition(p)) != test::Observe(model.parts[p])) {
        batch.problems.push_back(where + "client-visible values differ");
      }
      const std::vector<std::string> keys = crdt::Keys(model.parts[p]);
      if (txn.KeyCount(p) != keys.size()) {
        batch.problems.push_back(where + "key count " + std::to_string(txn.KeyCount(p)) + " vs " +
                                 std::to_string(keys.size()));
      }
      std::vector<std::string> scanned;
      std::optional<std::string> cursor;
      for (auto keys_page = txn.ScanKeys(p, cursor, page); !keys_page.empty();
           keys_page = txn.ScanKeys(p, cursor, page)) {
        scanned.insert(scanned.end(), keys_page.begin(), keys_page.end());
        cursor = keys_page.back();
      }
      if (scanned != keys) batch.problems.push_back(where + "ScanKeys differs from Keys");
    }
    for (const auto& [name, value] : model.meta) {
      if (txn.Meta(name) != std::optional<std::string>(value)) {
        batch.problems.push_back("meta " + name);
      }
    }
    for (const auto& [where, seq] : model.applied) {
      if (txn.Applied(where.first, where.second) != seq) {
        batch.problems.push_back("applied of partition " + std::to_string(where.first));
      }
    }
    return txn.status();
  };
}

void RunCase(uint64_t case_seed, const std::string& path) {
  Prng rng(case_seed);
  Options options = test::TestOptions(path, kPartitions);
  options.log_max_bytes_per_partition = kLogLimit;
  // Checkpoint rounds all along, in slices of a few atoms: reopening then
  // finds tables written at different points plus redo rows to replay.
  options.checkpoint_redo_bytes = 200 + rng.Below(4000);
  options.checkpoint_slice_atoms = 1 + rng.Below(12);
  auto engine = test::OpenOrFail(options);

  Model model;
  std::vector<Remote> remotes = {Remote(2), Remote(3)};
  auto wall_ms = std::make_shared<uint64_t>(1'000'000);
  HybridClock clock([w = wall_ms] { return *w; });
  struct InFlight {
    size_t to;  // remotes.size() for the engine
    uint32_t p;
    Delta delta;
  };
  std::vector<InFlight> in_flight;
  Batch batch;
  size_t batch_target = 1 + rng.Below(16);

  const int steps = 2500;
  for (int step = 0; step < steps; ++step) {
    const uint64_t action = rng.Below(1000);
    const uint32_t p = static_cast<uint32_t>(rng.Below(kPartitions));
    if (action < 400) {
      // A local client command.
      *wall_ms += rng.Below(3);
      const uint64_t op_seed = rng.Next();
      // The same timestamps on both sides: the engine's job runs later, when
      // the shared wall clock may have moved on, so its clock keeps today's.
      HybridClock engine_clock([now = *wall_ms] { return now; });
      engine_clock.Update(clock.last());
      DeltaBuilder mb(model.parts[p], kSelf);
      Prng model_rng(op_seed);
      RandomMutation(model_rng, mb, clock);
      const Delta want = std::move(mb).Finish();
      crdt::ApplyDelta(model.parts[p], want);
      model.Append(p, want);
      for (size_t r = 0; r < remotes.size(); ++r) {
        if (rng.Chance(70)) in_flight.push_back({r, p, want});
      }
      batch.Add(
          [p, op_seed, engine_clock, want, &batch](Transaction& txn) mutable {
            DeltaBuilder eb(txn.Partition(p), kSelf);
            Prng engine_rng(op_seed);
            RandomMutation(engine_rng, eb, engine_clock);
            const Delta got = std::move(eb).Finish();
            if (!(got == want)) batch.problems.push_back("a mutation built another delta");
            crdt::ApplyDelta(txn.Partition(p), got);
            txn.AppendLog(p, got);
            return Status::Ok();
          },
          true);
    } else if (action < 550) {
      // A remote replica's command; its delta travels to the engine and the
      // other remote.
      Remote& remote = remotes[rng.Below(remotes.size())];
      *remote.wall_ms += rng.Below(3);
      DeltaBuilder b(remote.parts[p], remote.id);
      RandomMutation(rng, b, remote.clock);
      const Delta d = std::move(b).Finish();
      crdt::ApplyDelta(remote.parts[p], d);
      in_flight.push_back({remotes.size(), p, d});
      for (size_t r = 0; r < remotes.size(); ++r) {
        if (remotes[r].id != remote.id && rng.Chance(50)) in_flight.push_back({r, p, d});
      }
    } else if (action < 750 && !in_flight.empty()) {
      // Deliver one delta, maybe again later (duplicate).
      const size_t i = rng.Below(in_flight.size());
      const InFlight m = in_flight[i];
      if (!rng.Chance(15)) in_flight.erase(in_flight.begin() + static_cast<ptrdiff_t>(i));
      if (m.to < remotes.size()) {
        crdt::ApplyDelta(remotes[m.to].parts[m.p], m.delta);
      } else {
        crdt::ApplyDelta(model.parts[m.p], m.delta);
        uint64_t& applied = model.applied[{m.p, m.delta.origin}];
        applied = std::max(applied, m.delta.last);
        batch.Add(
            [m](Transaction& txn) {
              crdt::ApplyDelta(txn.Partition(m.p), m.delta);
              const uint64_t before = txn.Applied(m.p, m.delta.origin);
              txn.SetApplied(m.p, m.delta.origin, std::max(before, m.delta.last));
              return Status::Ok();
            },
            true);
      }
    } else if (action < 790) {
      // State transfer, in either direction.
      Remote& remote = remotes[rng.Below(remotes.size())];
      if (rng.Chance(50)) {
        crdt::JoinState(remote.parts[p], crdt::TakeSnapshot(model.parts[p]));
      } else {
        Snapshot snap = crdt::TakeSnapshot(remote.parts[p]);
        crdt::JoinState(model.parts[p], snap);
        batch.Add(
            [p, snap](Transaction& txn) {
              crdt::JoinState(txn.Partition(p), snap);
              return Status::Ok();
            },
            true);
      }
    } else if (action < 810) {
      // Folding counters (as if what every replica saw were stable).
      crdt::StableVector stable;
      for (const auto& [origin, intervals] : model.parts[p].Context().by_origin()) {
        stable[origin] = model.parts[p].Context().Contiguous(origin);
      }
      crdt::FoldStableCounters(model.parts[p], crdt::Scope::Partition(), stable);
      batch.Add(
          [p, stable](Transaction& txn) {
            crdt::FoldStableCounters(txn.Partition(p), crdt::Scope::Partition(), stable);
            return Status::Ok();
          },
          true);
    } else if (action < 870) {
      // A job that changes a bit of everything, then fails.
      const uint64_t op_seed = rng.Next();
      HybridClock scratch_clock = clock;
      const bool throws = rng.Chance(30);
      std::optional<Delta> received;
      if (!in_flight.empty()) received = in_flight[rng.Below(in_flight.size())].delta;
      const uint64_t through = rng.Below(model.logged[p] + 2);
      batch.Add(
          [p, op_seed, scratch_clock, throws, received, through](Transaction& txn) mutable {
            Prng r(op_seed);
            for (int i = 0; i < 3; ++i) {
              DeltaBuilder b(txn.Partition(p), kSelf);
              RandomMutation(r, b, scratch_clock);
              const Delta d = std::move(b).Finish();
              crdt::ApplyDelta(txn.Partition(p), d);
              txn.AppendLog(p, d);
            }
            if (received) crdt::ApplyDelta(txn.Partition(p), *received);
            txn.SetApplied(p, 2, 1'000'000);
            txn.SetMeta("n0", "from a failed job");
            txn.TruncateLog(p, kSelf, through);
            if (throws) throw std::runtime_error("job failed by throwing");
            return Status::Invalid("job failed");
          },
          false);
    } else if (action < 900) {
      // Log truncation up to a random seq, and reads of the log.
      if (rng.Chance(40)) {
        const uint64_t through = rng.Below(model.logged[p] + 2);
        model.Truncate(p, through);
        batch.Add(
            [p, through](Transaction& txn) {
              txn.TruncateLog(p, kSelf, through);
              return Status::Ok();
            },
            true);
      }
      // Mostly near the end of the log, where a lagging peer would ask.
      const uint64_t logged = model.logged[p];
      const uint64_t after = rng.Chance(60) ? logged - std::min<uint64_t>(logged, rng.Below(30))
                                            : rng.Below(logged + 2);
      const size_t max_bytes = 1 + rng.Below(600);
      auto want = model.Read(p, after, max_bytes);
      batch.Add(
          [p, after, max_bytes, want, &batch](Transaction& txn) {
            auto got = txn.ReadLog(p, kSelf, after, max_bytes);
            const bool truncated = !got.ok() && got.status().code() == Status::Code::kNotFound;
            if (!got.ok() && !truncated) return got.status();
            if (truncated != !want.has_value() || (want && *want != *got)) {
              batch.problems.push_back(
                  "ReadLog(" + std::to_string(p) + ", after " + std::to_string(after) + ", " +
                  std::to_string(max_bytes) + " bytes) differs: " +
                  (got.ok() ? std::to_string(got->size()) + " deltas" : got.status().message()));
            }
            return Status::Ok();
          },
          true);
    } else if (action < 930) {
      std::string name = Pick(rng, "n", 4);
      std::string value(rng.Below(8), '\0');
      for (char& c : value) c = static_cast<char>(rng.Next());
      model.meta[name] = value;
      batch.Add(
          [name, value](Transaction& txn) {
            txn.SetMeta(name, value);
            return Status::Ok();
          },
          true);
    } else if (action < 960) {
      // The model is already ahead of the queued jobs: run them first.
      batch.Flush(*engine);
      batch.Add(CheckEverything(model, batch, rng), true);
      batch.Flush(*engine);
    } else if (action < 975) {
      // Reopen: after a clean close (a full checkpoint), or as after a crash
      // right after the last commit (recovery replays the redo rows).
      batch.Flush(*engine);
      if (rng.Chance(60)) engine->AbandonForTesting();
      engine.reset();
      engine = test::OpenOrFail(options);
    }
    if (batch.size() >= batch_target) {
      batch.Flush(*engine);
      batch_target = 1 + rng.Below(16);
    }
  }
  batch.Flush(*engine);
  batch.Add(CheckEverything(model, batch, rng), true);
  batch.Flush(*engine);
  engine->AbandonForTesting();
  engine.reset();
  engine = test::OpenOrFail(options);
  batch.Add(CheckEverything(model, batch, rng), true);
  batch.Flush(*engine);
  engine.reset();
  engine = test::OpenOrFail(options);
  batch.Add(CheckEverything(model, batch, rng), true);
  batch.Flush(*engine);
}

TEST_CASE("Engine: thousands of random operations and reopenings leave it equal to the model",
          "[property]") {
  const uint64_t seed = test::TestSeed();
  const int cases = test::CaseCount(4);
  test::TempDir dir;
  for (int c = 0; c < cases; ++c) {
    INFO("GEOKV_SEED=" << seed << " case " << c);
    RunCase(seed * 4'000'037 + c, dir.File("model" + std::to_string(c) + ".db"));
  }
}

}  // namespace
}  // namespace geokv::storage
