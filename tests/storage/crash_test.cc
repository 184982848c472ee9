// Crash test: a child process writes through the Engine as fast as it can and
// reports each acknowledged write; this process kills it with SIGKILL at a
// random moment, several times in a row on the same database. After each
// kill the database passes PRAGMA integrity_check and holds every write that
// was acknowledged, in this round and the ones before.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "child_process.h"
#include "common/prng.h"
#include "crdt/scalar.h"
#include "seed.h"
#include "storage_test_util.h"

namespace geokv::storage {
namespace {

constexpr uint32_t kCrashPartitions = 8;  // as in crash_writer.cc

// PRAGMA integrity_check through a read-only connection: it reads the WAL the
// killed writer left but does not checkpoint it, so the Engine opened next
// still finds the database as the crash left it.
std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK);
  std::string report;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    report += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return report;
}

// The write numbers on complete lines of `out`; keeps a partial last line.
void TakeLines(std::string* out, std::vector<uint64_t>* acked) {
  size_t start = 0, end;
  while ((end = out->find('\n', start)) != std::string::npos) {
    acked->push_back(std::stoull(out->substr(start, end - start)));
    start = end + 1;
  }
  out->erase(0, start);
}

// The first write acknowledged in rounds 0..round that `path` does not hold
// ("" if none). keep_redo: the engine is abandoned, not closed, so that the
// next round recovers from the same redo rows too.
std::string FirstMissing(const std::string& path, const std::vector<std::vector<uint64_t>>& acked,
                         int round, bool keep_redo) {
  auto engine = test::OpenOrFail(test::TestOptions(path, kCrashPartitions));
  std::string missing;
  test::RunOk(*engine, [&](Transaction& txn) {
    for (int r = 0; r <= round; ++r) {
      for (uint64_t i : acked[r]) {
        const std::string key = "r" + std::to_string(r) + "-" + std::to_string(i);
        const auto value = crdt::ReadScalar(txn.Partition(i % kCrashPartitions),
                                            crdt::ScalarRef{key, std::nullopt});
        if (value.ToBytes() != "v" + std::to_string(i) && missing.empty()) missing = key;
      }
    }
  });
  if (keep_redo) engine->AbandonForTesting();
  return missing;
}

TEST_CASE("Engine: every acknowledged write survives SIGKILL, and the file stays intact",
          "[integration]") {
  const uint64_t seed = test::TestSeed();
  INFO("GEOKV_SEED=" << seed);
  Prng rng(seed);
  test::TempDir dir;
  const std::string path = dir.File("crash.db");
  const int rounds = 5;
  std::vector<std::vector<uint64_t>> acked(rounds);

  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    {
      test::ChildProcess child({"write", path, std::to_string(round)});
      std::string out;
      // Mostly mid-stream, after the first acknowledgement; sometimes early,
      // while the child may still be opening (and recovering) the database.
      const bool early = round > 0 && rng.Chance(25);
      if (!early) {
        while (acked[round].empty()) {
          REQUIRE(child.ReadStdout(&out, 10'000) == test::ChildProcess::Read::kData);
          TakeLines(&out, &acked[round]);
        }
      }
      const auto kill_at = std::chrono::steady_clock::now() +
                           std::chrono::milliseconds(early ? rng.Below(30) : 30 + rng.Below(400));
      while (std::chrono::steady_clock::now() < kill_at) {
        if (child.ReadStdout(&out, 5) == test::ChildProcess::Read::kEnd) break;
        TakeLines(&out, &acked[round]);
      }
      child.Kill();
      // Whatever the child wrote before it died is still in the pipe.
      out += child.DrainStdout();
      TakeLines(&out, &acked[round]);
      const int status = child.Wait();
      INFO("stderr: " << child.DrainStderr());
      REQUIRE(WIFSIGNALED(status));
      REQUIRE(WTERMSIG(status) == SIGKILL);
    }

    REQUIRE(IntegrityCheck(path) == "ok");
    const std::string missing = FirstMissing(path, acked, round, /*keep_redo=*/false);
    INFO("acknowledged this round: " << acked[round].size());
    CHECK(missing == "");
  }
  size_t total = 0;
  for (const auto& a : acked) total += a.size();
  CHECK(total > 1000);  // the child did write at speed
}

TEST_CASE("Engine: a crash inside a checkpoint transaction loses no acknowledged write",
          "[integration]") {
  // The child aborts itself inside its n-th checkpoint slice (after the
  // slice's writes, before its COMMIT), while it keeps writing: recovery must
  // find every acknowledged write in the tables of the slices that did
  // commit plus the redo rows.
  test::TempDir dir;
  const std::string path = dir.File("ckpt-crash.db");
  const std::vector<int> abort_in = {2, 3, 6, 11};
  std::vector<std::vector<uint64_t>> acked(abort_in.size());
  for (size_t round = 0; round < abort_in.size(); ++round) {
    INFO("round " << round << ", abort in slice " << abort_in[round]);
    test::ChildProcess child(
        {"write", path, std::to_string(round), std::to_string(abort_in[round])});
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      const auto read = child.ReadStdout(&out, 1'000);
      TakeLines(&out, &acked[round]);
      if (read == test::ChildProcess::Read::kEnd) break;
      REQUIRE(std::chrono::steady_clock::now() < deadline);
    }
    const int status = child.Wait();
    INFO("stderr: " << child.DrainStderr());
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGABRT);
    REQUIRE(IntegrityCheck(path) == "ok");
    CHECK(FirstMissing(path, acked, static_cast<int>(round), /*keep_redo=*/true) == "");
  }
  size_t total = 0;
  for (const auto& a : acked) total += a.size();
  CHECK(total > 1000);  // acknowledged writes before the crashes
}

}  // namespace
}  // namespace geokv::storage
