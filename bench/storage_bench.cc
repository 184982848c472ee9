// Storage engine benchmarks (Google Benchmark).
//
// BM_EngineSet       acknowledged SETs per second through the Engine: each job
//                    runs SetScalar through a DeltaBuilder over the partition,
//                    ApplyDelta and AppendLog; kBatch jobs are queued at once
//                    and group-committed (up to 1024 per transaction); an
//                    iteration ends when the last one is acknowledged.
// BM_RawUpsert       the practical limit: the same rows (one atom upsert and
//                    one log insert per write) with plain prepared SQLite
//                    statements, same schema, same synchronous setting, 1024
//                    writes per transaction.
//   Arguments: synchronous (0 NORMAL, 1 FULL), number of distinct keys.
//   Ratio = EngineSet / RawUpsert items per second with the same arguments.
// BM_SaddBigSet      SADD of one new member into a set of 1,000,000 members,
// BM_SaddEmptySet    ... and into an empty set (a new key each time), both at
//                    random places of the same database (see BigSet),
//                    group-committed like BM_EngineSet.
//                    Goal: BigSet time per SADD < 1.5 x EmptySet's.
//
// Run: build/bench/storage_bench --benchmark_repetitions=3
//        --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "crdt/codec.h"
#include "crdt/hlc.h"
#include "crdt/join.h"
#include "crdt/or_set.h"
#include "crdt/scalar.h"
#include "storage/engine.h"
#include "storage/schema.h"

namespace {

using namespace geokv;

constexpr uint32_t kPartitions = 64;
constexpr crdt::ReplicaId kSelf = 1;
constexpr size_t kBatch = 20'000;  // writes per benchmark iteration
constexpr size_t kGroup = 1024;    // jobs (rows) per transaction

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/geokv-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The i-th write's key: spread over `keys` keys in a scattered order.
std::string KeyOf(uint64_t i, uint64_t keys) {
  return "key:" + std::to_string((i * 2654435761u) % keys);
}
std::string ValueOf(uint64_t i) { return "value:" + std::to_string(1'000'000'000 + i); }

std::unique_ptr<storage::Engine> OpenEngine(const std::string& path, int64_t full) {
  storage::Options options;
  options.path = path;
  options.partitions = kPartitions;
  options.synchronous = full != 0 ? storage::Synchronous::kFull : storage::Synchronous::kNormal;
  options.group_max_jobs = kGroup;
  auto engine = storage::Engine::Open(options);
  if (!engine.ok()) {
    std::fprintf(stderr, "open: %s\n", engine.status().message().c_str());
    std::abort();
  }
  return std::move(engine).value();
}

// Counts acknowledgements; Wait returns once `n` arrived since the last Reset.
class Acks {
 public:
  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    count_ = 0;
  }
  storage::Engine::Done Done() {
    return [this](Status s) {
      if (!s.ok()) {
        std::fprintf(stderr, "job failed: %s\n", s.message().c_str());
        std::abort();
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (++count_ == target_) cv_.notify_one();
    };
  }
  void Wait(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    target_ = n;
    cv_.wait(lock, [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t count_ = 0, target_ = 0;
};

void Submit(storage::Engine& engine, storage::Engine::Job job, Acks& acks) {
  if (Status s = engine.Submit(std::move(job), acks.Done()); !s.ok()) {
    std::fprintf(stderr, "submit: %s\n", s.message().c_str());
    std::abort();
  }
}

void BM_EngineSet(benchmark::State& state) {
  TempDir dir;
  auto engine = OpenEngine(dir.File("set.db"), state.range(0));
  const uint64_t keys = static_cast<uint64_t>(state.range(1));
  auto clock = std::make_shared<crdt::HybridClock>();  // writer thread only
  Acks acks;
  uint64_t i = 0;
  for (auto _ : state) {
    acks.Reset();
    for (size_t n = 0; n < kBatch; ++n, ++i) {
      Submit(
          *engine,
          [i, keys, clock](storage::Transaction& txn) {
            const uint32_t p = static_cast<uint32_t>(i % kPartitions);
            crdt::MutableState& partition = txn.Partition(p);
            crdt::DeltaBuilder b(partition, kSelf);
            crdt::SetScalar(b, crdt::ScalarRef{KeyOf(i, keys), std::nullopt}, clock->Now(),
                            ValueOf(i));
            const crdt::Delta delta = std::move(b).Finish();
            crdt::ApplyDelta(partition, delta);
            txn.AppendLog(p, delta);
            return Status::Ok();
          },
          acks);
    }
    acks.Wait(kBatch);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}
// Arguments: {synchronous FULL?, number of keys}. 1,000,000 keys scatter the
// writes over the B-tree (each group commit dirties ~1 page per write); 10,000
// keep them on hot pages (CPU-bound).
#define STORAGE_ARGS         \
  ArgNames({"full", "keys"}) \
      ->Args({0, 1'000'000}) \
      ->Args({1, 1'000'000}) \
      ->Args({0, 10'000})    \
      ->Args({1, 10'000})
BENCHMARK(BM_EngineSet)->STORAGE_ARGS->Unit(benchmark::kMillisecond)->UseRealTime();

void Check(sqlite3* db, int rc, int want) {
  if (rc != want) {
    std::fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
    std::abort();
  }
}

void BM_RawUpsert(benchmark::State& state) {
  TempDir dir;
  const std::string path = dir.File("raw.db");
  const uint64_t keys = static_cast<uint64_t>(state.range(1));
  sqlite3* db = nullptr;
  Check(db, sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
        SQLITE_OK);
  const std::string setup = std::string("PRAGMA journal_mode = WAL; PRAGMA synchronous = ") +
                            (state.range(0) != 0 ? "FULL" : "NORMAL") +
                            "; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;" +
                            storage::schema::kCreateTables;
  Check(db, sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_stmt *upsert = nullptr, *log = nullptr, *begin = nullptr, *commit = nullptr;
  Check(db,
        sqlite3_prepare_v2(db,
                           "INSERT INTO atoms(part, key, slot, field, origin, counter, first, hlc,"
                           " amount, bytes) VALUES(?1, ?2, 0, x'', ?3, ?3, ?3, ?4, 0, ?5)"
                           " ON CONFLICT(part, key, slot, field, origin, counter)"
                           " DO UPDATE SET hlc = excluded.hlc, bytes = excluded.bytes",
                           -1, &upsert, nullptr),
        SQLITE_OK);
  Check(db,
        sqlite3_prepare_v2(db,
                           "INSERT INTO log(part, origin, first, last, delta)"
                           " VALUES(?1, ?2, ?3, ?3, ?4)",
                           -1, &log, nullptr),
        SQLITE_OK);
  Check(db, sqlite3_prepare_v2(db, "BEGIN", -1, &begin, nullptr), SQLITE_OK);
  Check(db, sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr), SQLITE_OK);
  // A log row as big as the engine's: the encoded delta of such a SET.
  crdt::Delta sample;
  sample.origin = kSelf;
  sample.first = sample.last = 1'000'000;
  crdt::Atom atom;
  atom.dot = crdt::Dot{kSelf, sample.first};
  atom.first = sample.first;
  atom.hlc = crdt::HybridClock().Now();
  atom.bytes = ValueOf(0);
  sample.additions.push_back(
      crdt::Addition{crdt::Path{KeyOf(12345, keys), crdt::Slot::kRegister, ""}, atom});
  const std::string delta = crdt::EncodeDelta(sample);

  auto step = [&](sqlite3_stmt* s) {
    Check(db, sqlite3_step(s), SQLITE_DONE);
    sqlite3_reset(s);
  };
  uint64_t i = 0;
  for (auto _ : state) {
    for (size_t n = 0; n < kBatch; ++n, ++i) {
      if (n % kGroup == 0) step(begin);
      const std::string key = KeyOf(i, keys), value = ValueOf(i);
      const int64_t part = static_cast<int64_t>(i % kPartitions);
      sqlite3_bind_int64(upsert, 1, part);
      sqlite3_bind_blob(upsert, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_int64(upsert, 3, static_cast<int64_t>(kSelf));
      sqlite3_bind_int64(upsert, 4, static_cast<int64_t>(i));
      sqlite3_bind_blob(upsert, 5, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
      step(upsert);
      sqlite3_bind_int64(log, 1, part);
      sqlite3_bind_int64(log, 2, static_cast<int64_t>(kSelf));
      sqlite3_bind_int64(log, 3, static_cast<int64_t>(i + 1));
      sqlite3_bind_blob(log, 4, delta.data(), static_cast<int>(delta.size()), SQLITE_STATIC);
      step(log);
      if (n % kGroup == kGroup - 1 || n == kBatch - 1) step(commit);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  for (sqlite3_stmt* s : {upsert, log, begin, commit}) sqlite3_finalize(s);
  sqlite3_close(db);
}
BENCHMARK(BM_RawUpsert)->STORAGE_ARGS->Unit(benchmark::kMillisecond)->UseRealTime();

// One database, built once: partition 0 holds a set "big" of 1,000,000
// members and 1,000,000 one-member sets "set:<n>". Both benchmarks write at
// random places of this one B-tree, so that they differ only in the size of
// the set written to (not in how many pages a group commit dirties).
struct BigSet {
  static constexpr uint64_t kMembers = 1'000'000;
  TempDir dir;
  std::unique_ptr<storage::Engine> engine = OpenEngine(dir.File("sadd.db"), 0);
  uint64_t next = 0;  // new members and new keys

  BigSet() {
    // Rows put directly (with the context that covers their dots): the state
    // two million SADDs would leave, built in seconds.
    constexpr uint64_t kChunk = 100'000;
    for (uint64_t start = 0; start < 2 * kMembers; start += kChunk) {
      const Status s = engine->Run([start](storage::Transaction& txn) {
        crdt::MutableState& p = txn.Partition(0);
        for (uint64_t i = start; i < start + kChunk; ++i) {
          crdt::Atom atom;
          atom.dot = crdt::Dot{kSelf, i + 1};
          atom.first = i + 1;
          char name[32];
          std::snprintf(name, sizeof(name), "%08llu",
                        static_cast<unsigned long long>(i % kMembers));
          if (i < kMembers) {
            p.Put(crdt::Path{"big", crdt::Slot::kMember, std::string("member:") + name}, atom);
          } else {
            p.Put(crdt::Path{std::string("set:") + name, crdt::Slot::kMember, "m"}, atom);
          }
        }
        crdt::DotContext dots;
        dots.InsertRange(kSelf, start + 1, start + kChunk);
        p.JoinContext(dots);
        return Status::Ok();
      });
      if (!s.ok()) std::abort();
    }
  }

  static BigSet& Get() {
    static BigSet instance;
    return instance;
  }
};

// SADDs of new members at random places: into "big", or each into a new key
// (an empty set) between the existing "set:<n>" keys.
void Sadd(benchmark::State& state, bool into_big) {
  BigSet& fixture = BigSet::Get();
  Acks acks;
  const size_t batch = kBatch / 4;
  for (auto _ : state) {
    acks.Reset();
    for (size_t n = 0; n < batch; ++n) {
      const uint64_t j = fixture.next++;
      char name[48];
      std::snprintf(name, sizeof(name), "%08llu:%llu",
                    static_cast<unsigned long long>((j * 2654435761u) % BigSet::kMembers),
                    static_cast<unsigned long long>(j));
      const std::string key = into_big ? "big" : std::string("set:") + name;
      const std::string member = into_big ? std::string("member:") + name : "m";
      Submit(
          *fixture.engine,
          [key, member](storage::Transaction& txn) {
            crdt::MutableState& partition = txn.Partition(0);
            crdt::DeltaBuilder b(partition, kSelf);
            crdt::AddMember(b, key, member);
            const crdt::Delta delta = std::move(b).Finish();
            crdt::ApplyDelta(partition, delta);
            txn.AppendLog(0, delta);
            return Status::Ok();
          },
          acks);
    }
    acks.Wait(batch);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}

void BM_SaddBigSet(benchmark::State& state) { Sadd(state, true); }
void BM_SaddEmptySet(benchmark::State& state) { Sadd(state, false); }
BENCHMARK(BM_SaddEmptySet)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SaddBigSet)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
