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
// BM_EngineVsRaw     both, alternating batch by batch (robust against the
//                    load of a shared machine); reports engine_per_s,
//                    raw_per_s and ratio = engine / raw (goal: >= 0.5).
//   Arguments: synchronous (0 NORMAL, 1 FULL), number of distinct keys.
// BM_SaddBigSet      SADD of one new member into a set of 1,000,000 members,
// BM_SaddEmptySet    ... and into an empty set (a new key each time), both at
//                    random places of the same database (see BigSet),
//                    group-committed like BM_EngineSet.
// BM_SaddBigVsEmpty  both in alternation; ratio = time per SADD into the big
//                    set / into an empty one (goal: < 1.5).
//
// Run (figures and method in docs/benchmarks.md, "Storage"):
//   build/bench/storage_bench --benchmark_repetitions=3
//     --benchmark_enable_random_interleaving=true --benchmark_min_time=2
//     --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>

#include <chrono>
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

// Writes kBatch SETs through the Engine per Run, and waits for every
// acknowledgement.
class EngineWriter {
 public:
  EngineWriter(int64_t full, uint64_t keys)
      : engine_(OpenEngine(dir_.File("set.db"), full)), keys_(keys) {}

  void Run() {
    acks_.Reset();
    for (size_t n = 0; n < kBatch; ++n, ++i_) {
      Submit(
          *engine_,
          [i = i_, keys = keys_, clock = clock_](storage::Transaction& txn) {
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
          acks_);
    }
    acks_.Wait(kBatch);
  }

 private:
  TempDir dir_;
  std::unique_ptr<storage::Engine> engine_;
  uint64_t keys_;
  std::shared_ptr<crdt::HybridClock> clock_ = std::make_shared<crdt::HybridClock>();
  Acks acks_;
  uint64_t i_ = 0;
};

void Check(sqlite3* db, int rc, int want) {
  if (rc != want) {
    std::fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
    std::abort();
  }
}

// Writes the same rows as EngineWriter with plain SQLite: per write one atom
// upsert and one log insert, kGroup writes per transaction, the engine's
// schema and connection settings.
class RawWriter {
 public:
  RawWriter(int64_t full, uint64_t keys) : keys_(keys) {
    const std::string path = dir_.File("raw.db");
    Check(db_,
          sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
          SQLITE_OK);
    const std::string setup = std::string("PRAGMA journal_mode = WAL; PRAGMA synchronous = ") +
                              (full != 0 ? "FULL" : "NORMAL") +
                              "; PRAGMA cache_size = -65536;"
                              " PRAGMA journal_size_limit = 67108864;" +
                              storage::schema::kCreateTables;
    Check(db_, sqlite3_exec(db_, setup.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    Prepare(&upsert_,
            "INSERT INTO atoms(part, key, slot, field, origin, counter, first, hlc, amount, bytes)"
            " VALUES(?1, ?2, 0, x'', ?3, ?3, ?3, ?4, 0, ?5)"
            " ON CONFLICT(part, key, slot, field, origin, counter)"
            " DO UPDATE SET hlc = excluded.hlc, bytes = excluded.bytes");
    Prepare(&log_, "INSERT INTO log(part, origin, first, last, delta) VALUES(?1, ?2, ?3, ?3, ?4)");
    Prepare(&begin_, "BEGIN");
    Prepare(&commit_, "COMMIT");
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
    delta_ = crdt::EncodeDelta(sample);
  }
  ~RawWriter() {
    for (sqlite3_stmt* s : {upsert_, log_, begin_, commit_}) sqlite3_finalize(s);
    sqlite3_close(db_);
  }

  void Run() {
    for (size_t n = 0; n < kBatch; ++n, ++i_) {
      if (n % kGroup == 0) Step(begin_);
      const std::string key = KeyOf(i_, keys_), value = ValueOf(i_);
      const int64_t part = static_cast<int64_t>(i_ % kPartitions);
      sqlite3_bind_int64(upsert_, 1, part);
      sqlite3_bind_blob(upsert_, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_int64(upsert_, 3, static_cast<int64_t>(kSelf));
      sqlite3_bind_int64(upsert_, 4, static_cast<int64_t>(i_));
      sqlite3_bind_blob(upsert_, 5, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
      Step(upsert_);
      sqlite3_bind_int64(log_, 1, part);
      sqlite3_bind_int64(log_, 2, static_cast<int64_t>(kSelf));
      sqlite3_bind_int64(log_, 3, static_cast<int64_t>(i_ + 1));
      sqlite3_bind_blob(log_, 4, delta_.data(), static_cast<int>(delta_.size()), SQLITE_STATIC);
      Step(log_);
      if (n % kGroup == kGroup - 1 || n == kBatch - 1) Step(commit_);
    }
  }

 private:
  void Prepare(sqlite3_stmt** stmt, const char* sql) {
    Check(db_, sqlite3_prepare_v2(db_, sql, -1, stmt, nullptr), SQLITE_OK);
  }
  void Step(sqlite3_stmt* s) {
    Check(db_, sqlite3_step(s), SQLITE_DONE);
    sqlite3_reset(s);
  }

  TempDir dir_;
  uint64_t keys_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt *upsert_ = nullptr, *log_ = nullptr, *begin_ = nullptr, *commit_ = nullptr;
  std::string delta_;
  uint64_t i_ = 0;
};

void BM_EngineSet(benchmark::State& state) {
  EngineWriter writer(state.range(0), static_cast<uint64_t>(state.range(1)));
  for (auto _ : state) writer.Run();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}

void BM_RawUpsert(benchmark::State& state) {
  RawWriter writer(state.range(0), static_cast<uint64_t>(state.range(1)));
  for (auto _ : state) writer.Run();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}

// CPU time of the whole process (all threads), in seconds.
double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Both, batch by batch in alternation, so that a change in the machine's load
// (it is shared) hits both sides alike. Counters: writes per second of each,
// ratio = engine writes/s over raw writes/s (wall clock), and CPU time per
// write of each (all threads; less sensitive to other processes' load).
void BM_EngineVsRaw(benchmark::State& state) {
  EngineWriter engine(state.range(0), static_cast<uint64_t>(state.range(1)));
  RawWriter raw(state.range(0), static_cast<uint64_t>(state.range(1)));
  using Clock = std::chrono::steady_clock;
  Clock::duration engine_time{}, raw_time{};
  double engine_cpu = 0, raw_cpu = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    const double c0 = ProcessCpuSeconds();
    engine.Run();
    const auto t1 = Clock::now();
    const double c1 = ProcessCpuSeconds();
    raw.Run();
    engine_time += t1 - t0;
    raw_time += Clock::now() - t1;
    engine_cpu += c1 - c0;
    raw_cpu += ProcessCpuSeconds() - c1;
  }
  const double writes = static_cast<double>(state.iterations() * kBatch);
  const double engine_s = std::chrono::duration<double>(engine_time).count();
  const double raw_s = std::chrono::duration<double>(raw_time).count();
  state.counters["engine_per_s"] = writes / engine_s;
  state.counters["raw_per_s"] = writes / raw_s;
  state.counters["ratio"] = raw_s / engine_s;
  state.counters["engine_cpu_us"] = engine_cpu / writes * 1e6;
  state.counters["raw_cpu_us"] = raw_cpu / writes * 1e6;
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
BENCHMARK(BM_RawUpsert)->STORAGE_ARGS->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EngineVsRaw)->STORAGE_ARGS->Unit(benchmark::kMillisecond)->UseRealTime();

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

// kBatch / 4 SADDs of new members at random places: into "big", or each into
// a new key (an empty set) between the existing "set:<n>" keys.
constexpr size_t kSaddBatch = kBatch / 4;
void SaddBatch(BigSet& fixture, bool into_big, Acks& acks) {
  acks.Reset();
  for (size_t n = 0; n < kSaddBatch; ++n) {
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
  acks.Wait(kSaddBatch);
}

void BM_SaddBigSet(benchmark::State& state) {
  Acks acks;
  for (auto _ : state) SaddBatch(BigSet::Get(), true, acks);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kSaddBatch));
}
void BM_SaddEmptySet(benchmark::State& state) {
  Acks acks;
  for (auto _ : state) SaddBatch(BigSet::Get(), false, acks);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kSaddBatch));
}
// Both in alternation; ratio = time per SADD into the big set / into an
// empty one (goal: < 1.5).
void BM_SaddBigVsEmpty(benchmark::State& state) {
  BigSet& fixture = BigSet::Get();
  Acks acks;
  using Clock = std::chrono::steady_clock;
  Clock::duration big_time{}, empty_time{};
  for (auto _ : state) {
    const auto t0 = Clock::now();
    SaddBatch(fixture, true, acks);
    const auto t1 = Clock::now();
    SaddBatch(fixture, false, acks);
    big_time += t1 - t0;
    empty_time += Clock::now() - t1;
  }
  const double sadds = static_cast<double>(state.iterations() * kSaddBatch);
  const double big_s = std::chrono::duration<double>(big_time).count();
  const double empty_s = std::chrono::duration<double>(empty_time).count();
  state.counters["big_per_s"] = sadds / big_s;
  state.counters["empty_per_s"] = sadds / empty_s;
  state.counters["ratio"] = big_s / empty_s;
}
BENCHMARK(BM_SaddEmptySet)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SaddBigSet)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SaddBigVsEmpty)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
