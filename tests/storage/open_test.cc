// Engine::Open on files it must refuse: each refusal is a clear error Status,
// and the data file's bytes are exactly what they were.
#include <sqlite3.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <string>

#include "child_process.h"
#include "common/prng.h"
#include "crdt/scalar.h"
#include "seed.h"
#include "storage/schema.h"
#include "storage_test_util.h"

namespace geokv::storage {
namespace {

using test::FileDigest;
using test::TempDir;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Runs SQL on the file with a plain SQLite connection.
void RawSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err != nullptr ? err : ""));
  sqlite3_free(err);
  REQUIRE(rc == SQLITE_OK);
  REQUIRE(sqlite3_close(db) == SQLITE_OK);
}

// A closed geokv database holding `n` keys in partition 0.
void MakeDatabase(const Options& options, int n) {
  auto engine = test::OpenOrFail(options);
  test::RunOk(*engine, [&](Transaction& txn) {
    crdt::DeltaBuilder b(txn.Partition(0), 1);
    for (int i = 0; i < n; ++i) {
      crdt::SetScalar(b, crdt::ScalarRef{"key" + std::to_string(i), std::nullopt}, crdt::Hlc{1},
                      std::string(40, 'v'));
    }
    crdt::ApplyDelta(txn.Partition(0), std::move(b).Finish());
    txn.SetMeta("node", "a");
  });
}

// Open fails with `code`, a message containing `needle`, and the file unchanged.
void ExpectRefused(const Options& options, Status::Code code, const std::string& needle) {
  const std::string before = FileDigest(options.path);
  auto engine = Engine::Open(options);
  INFO(engine.status().ToString());
  REQUIRE_FALSE(engine.ok());
  CHECK(engine.status().code() == code);
  CHECK(Contains(engine.status().message(), needle));
  CHECK(Contains(engine.status().message(), options.path));
  CHECK(FileDigest(options.path) == before);
}

TEST_CASE("Engine::Open: a file of random bytes is refused, untouched", "[unit]") {
  TempDir dir;
  const Options options = test::TestOptions(dir.File("random.db"));
  Prng rng(test::TestSeed());
  std::string bytes(16384, '\0');
  for (char& c : bytes) c = static_cast<char>(rng.Next());
  test::WriteFile(options.path, bytes);
  ExpectRefused(options, Status::Code::kCorrupt, "not a readable SQLite database");
}

TEST_CASE("Engine::Open: a database with a mangled header is refused, untouched", "[unit]") {
  TempDir dir;
  const Options options = test::TestOptions(dir.File("mangled.db"));
  MakeDatabase(options, 10);
  std::string bytes = test::ReadFile(options.path);
  REQUIRE(bytes.size() > 100);
  SECTION("magic string") {
    bytes.replace(0, 16, "not SQLite here!");
    test::WriteFile(options.path, bytes);
    ExpectRefused(options, Status::Code::kCorrupt, "not a readable SQLite database");
  }
  SECTION("page size") {
    bytes[16] = 0x03;  // 0x0301: not a power of two
    bytes[17] = 0x01;
    test::WriteFile(options.path, bytes);
    ExpectRefused(options, Status::Code::kCorrupt, "not a readable SQLite database");
  }
}

TEST_CASE("Engine::Open: a database with a corrupt page fails quick_check, untouched", "[unit]") {
  TempDir dir;
  const Options options = test::TestOptions(dir.File("page.db"));
  MakeDatabase(options, 3000);
  std::string bytes = test::ReadFile(options.path);
  const size_t page = 4096, pages = bytes.size() / page;
  REQUIRE(pages > 8);
  // A page in the middle of the file: a leaf or interior page of the atoms.
  Prng rng(test::TestSeed());
  for (size_t i = 0; i < page; ++i) bytes[(pages / 2) * page + i] = static_cast<char>(rng.Next());
  test::WriteFile(options.path, bytes);
  ExpectRefused(options, Status::Code::kCorrupt, "corrupt");
}

TEST_CASE("Engine::Open: a newer format version is refused, untouched", "[unit]") {
  TempDir dir;
  const Options options = test::TestOptions(dir.File("newer.db"));
  MakeDatabase(options, 10);
  RawSql(options.path, "PRAGMA user_version = " + std::to_string(schema::kFormatVersion + 1));
  ExpectRefused(options, Status::Code::kUnsupported, "newer than this build");
}

TEST_CASE("Engine::Open: another partition count is refused, untouched", "[unit]") {
  TempDir dir;
  Options options = test::TestOptions(dir.File("q.db"), 4);
  MakeDatabase(options, 10);
  options.partitions = 8;
  ExpectRefused(options, Status::Code::kInvalid, "partition count");
}

TEST_CASE("Engine::Open: another application's SQLite database is refused, untouched", "[unit]") {
  TempDir dir;
  const Options options = test::TestOptions(dir.File("other.db"));
  RawSql(options.path, "CREATE TABLE t(x); INSERT INTO t VALUES(1)");
  ExpectRefused(options, Status::Code::kInvalid, "not a geokv one");
}

TEST_CASE("Engine::Open: a WAL without its database is refused, nothing created", "[unit]") {
  TempDir dir;
  const Options options = test::TestOptions(dir.File("gone.db"));
  test::WriteFile(options.path + "-wal", std::string(5000, 'w'));
  auto engine = Engine::Open(options);
  REQUIRE_FALSE(engine.ok());
  CHECK(engine.status().code() == Status::Code::kCorrupt);
  CHECK(Contains(engine.status().message(), "refusing to start empty"));
  struct stat st;
  CHECK(::stat(options.path.c_str(), &st) != 0);
}

TEST_CASE("Engine::Open: invalid options are refused", "[unit]") {
  TempDir dir;
  Options options = test::TestOptions(dir.File("x.db"));
  options.partitions = 0;
  CHECK(Engine::Open(options).status().code() == Status::Code::kInvalid);
  options = test::TestOptions(":memory:");
  CHECK(Engine::Open(options).status().code() == Status::Code::kInvalid);
  options = test::TestOptions(dir.File("missing-dir/x.db"));
  auto engine = Engine::Open(options);
  CHECK(engine.status().code() == Status::Code::kIo);
  CHECK(Contains(engine.status().message(), "missing-dir"));
}

TEST_CASE("Engine::Open: an empty file becomes a new database; data survives reopening", "[unit]") {
  TempDir dir;
  const Options options = test::TestOptions(dir.File("empty.db"));
  test::WriteFile(options.path, "");
  MakeDatabase(options, 5);
  auto engine = test::OpenOrFail(options);
  test::RunOk(*engine, [&](Transaction& txn) {
    CHECK(txn.Meta("node") == std::optional<std::string>("a"));
    CHECK(txn.KeyCount(0) == 5);
    CHECK(crdt::ReadScalar(txn.Partition(0), crdt::ScalarRef{"key3", std::nullopt}).ToBytes() ==
          std::string(40, 'v'));
  });
}

TEST_CASE("Engine::Open: a format-1 database is migrated and keeps its data", "[unit]") {
  // Format 1 had no redo table and no redo_through column: its tables were
  // the whole state. A clean close leaves a format-2 file the same apart from
  // those two, so taking them away makes a format-1 file.
  TempDir dir;
  const Options options = test::TestOptions(dir.File("v1.db"));
  MakeDatabase(options, 7);
  RawSql(options.path,
         "DROP TABLE redo; ALTER TABLE partitions DROP COLUMN redo_through;"
         " PRAGMA user_version = 1");
  {
    auto engine = test::OpenOrFail(options);
    test::RunOk(*engine, [&](Transaction& txn) {
      CHECK(txn.Meta("node") == std::optional<std::string>("a"));
      CHECK(txn.KeyCount(0) == 7);
      crdt::DeltaBuilder b(txn.Partition(0), 1);
      crdt::SetScalar(b, crdt::ScalarRef{"after", std::nullopt}, crdt::Hlc{2}, "migration");
      crdt::ApplyDelta(txn.Partition(0), std::move(b).Finish());
    });
    engine->AbandonForTesting();  // the new write only in a redo row
  }
  auto engine = test::OpenOrFail(options);
  test::RunOk(*engine, [&](Transaction& txn) {
    CHECK(txn.KeyCount(0) == 8);
    CHECK(crdt::ReadScalar(txn.Partition(0), crdt::ScalarRef{"after", std::nullopt}).ToBytes() ==
          "migration");
  });
}

TEST_CASE("Engine::Open: a new database has 1 KiB pages; one with 4 KiB pages keeps them, opens",
          "[unit]") {
  TempDir dir;
  const Options small = test::TestOptions(dir.File("small.db"));
  MakeDatabase(small, 3);
  CHECK(test::QueryInt(small.path, "PRAGMA page_size") == 1024);
  // As files were made before 2026-11-30 (engine.cc, kPageBytes).
  const Options big = test::TestOptions(dir.File("big.db"));
  MakeDatabase(big, 5);
  RawSql(big.path,
         "PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096; VACUUM;"
         " PRAGMA journal_mode = WAL");
  REQUIRE(test::QueryInt(big.path, "PRAGMA page_size") == 4096);
  {
    auto engine = test::OpenOrFail(big);
    test::RunOk(*engine, [&](Transaction& txn) {
      CHECK(txn.KeyCount(0) == 5);
      crdt::DeltaBuilder b(txn.Partition(0), 1);
      crdt::SetScalar(b, crdt::ScalarRef{"later", std::nullopt}, crdt::Hlc{2}, "w");
      crdt::ApplyDelta(txn.Partition(0), std::move(b).Finish());
    });
  }
  CHECK(test::QueryInt(big.path, "PRAGMA page_size") == 4096);
  auto engine = test::OpenOrFail(big);
  test::RunOk(*engine, [&](Transaction& txn) { CHECK(txn.KeyCount(0) == 6); });
}

TEST_CASE("Engine::Open: a second engine on the same file in this process is refused", "[unit]") {
  TempDir dir;
  const Options options = test::TestOptions(dir.File("twice.db"));
  auto first = test::OpenOrFail(options);
  const std::string before = FileDigest(options.path);
  auto second = Engine::Open(options);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == Status::Code::kBusy);
  CHECK(Contains(second.status().message(), "in use"));
  CHECK(Contains(second.status().message(), std::to_string(::getpid())));
  CHECK(FileDigest(options.path) == before);
  first.reset();
  CHECK(Engine::Open(options).ok());
}

TEST_CASE("Engine::Open: a database held by another process is refused, both ways",
          "[integration]") {
  TempDir dir;
  // The helper opens its databases with 8 partitions.
  const Options options = test::TestOptions(dir.File("held.db"), 8);
  MakeDatabase(options, 10);
  const std::string before = FileDigest(options.path);

  SECTION("the child holds it") {
    test::ChildProcess child({"hold", options.path});
    std::string out;
    while (out.find("ready\n") == std::string::npos) {
      REQUIRE(child.ReadStdout(&out, 10'000) == test::ChildProcess::Read::kData);
    }
    auto engine = Engine::Open(options);
    REQUIRE_FALSE(engine.ok());
    CHECK(engine.status().code() == Status::Code::kBusy);
    CHECK(Contains(engine.status().message(), std::to_string(child.pid())));
    CHECK(FileDigest(options.path) == before);
    child.CloseStdin();
    const int status = child.Wait();
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    CHECK(Engine::Open(options).ok());
  }
  SECTION("this process holds it") {
    auto engine = test::OpenOrFail(options);
    test::ChildProcess child({"open", options.path});
    const std::string err = child.DrainStderr();
    const int status = child.Wait();
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 1));
    INFO(err);
    CHECK(Contains(err, "in use"));
    CHECK(FileDigest(options.path) == before);
    engine.reset();
    test::ChildProcess again({"open", options.path});
    CHECK(again.Wait() == 0);
  }
}

}  // namespace
}  // namespace geokv::storage
