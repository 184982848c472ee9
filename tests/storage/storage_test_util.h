// Helpers for the storage tests: temporary directories, file digests, and a
// few shorthands around Engine.
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>

#include <sqlite3.h>

#include "crdt/join.h"
#include "storage/engine.h"
#include "temp_dir.h"

namespace geokv::test {

// The single integer a query answers, through a read-only connection of its
// own (the database as another process sees it).
inline int64_t QueryInt(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  const int64_t v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// FNV-1a of the file's bytes (and its size), to show a file was not changed.
inline std::string FileDigest(const std::string& path) {
  const std::string bytes = ReadFile(path);
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ULL;
  return std::to_string(bytes.size()) + ":" + std::to_string(h);
}

inline storage::Options TestOptions(const std::string& path, uint32_t partitions = 4) {
  storage::Options o;
  o.path = path;
  o.partitions = partitions;
  o.cache_bytes = size_t{8} << 20;
  return o;
}

inline std::unique_ptr<storage::Engine> OpenOrFail(const storage::Options& options) {
  auto engine = storage::Engine::Open(options);
  INFO(engine.status().ToString());
  REQUIRE(engine.ok());
  return std::move(engine).value();
}

// Runs `fn` as a job that always succeeds; REQUIREs that it committed.
template <typename Fn>
void RunOk(storage::Engine& engine, Fn&& fn) {
  const Status s = engine.Run([&](storage::Transaction& txn) {
    fn(txn);
    return Status::Ok();
  });
  INFO(s.ToString());
  REQUIRE(s.ok());
}

inline crdt::Snapshot SnapshotOf(storage::Engine& engine, uint32_t p) {
  crdt::Snapshot snap;
  RunOk(engine, [&](storage::Transaction& txn) { snap = crdt::TakeSnapshot(txn.Partition(p)); });
  return snap;
}

inline std::string Describe(const crdt::Path& path, const crdt::Atom& atom) {
  std::ostringstream out;
  out << "(key=" << path.key.size() << "B'" << path.key << "' slot=" << static_cast<int>(path.slot)
      << " field='" << path.field << "' dot=" << atom.dot.origin << ":" << atom.dot.counter
      << " first=" << atom.first << " hlc=" << atom.hlc.value << " amount=" << atom.amount
      << " bytes=" << atom.bytes.size() << "B)";
  return out.str();
}

}  // namespace geokv::test
