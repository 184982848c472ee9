// The delta log: append, read after a seq, truncate what every replica has,
// the size bound, and "log truncated" whenever the log cannot answer.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "crdt/codec.h"
#include "storage_test_util.h"

namespace geokv::storage {
namespace {

using crdt::Delta;

// A delta of `origin` taking dots first..last that adds a register of `size`
// bytes (so that tests control the log's size).
Delta MakeDelta(crdt::ReplicaId origin, uint64_t first, uint64_t last, size_t size = 10) {
  Delta d;
  d.origin = origin;
  d.first = first;
  d.last = last;
  crdt::Atom atom;
  atom.dot = crdt::Dot{origin, last};
  atom.first = last;
  atom.bytes = std::string(size, 'x');
  d.additions.push_back(crdt::Addition{crdt::Path{"k", crdt::Slot::kRegister, ""}, atom});
  return d;
}

std::vector<uint64_t> Firsts(const std::vector<Delta>& deltas) {
  std::vector<uint64_t> firsts;
  for (const Delta& d : deltas) firsts.push_back(d.first);
  return firsts;
}

bool IsTruncated(const Result<std::vector<Delta>>& r) {
  return !r.ok() && r.status().code() == Status::Code::kNotFound &&
         r.status().message().find("log truncated") != std::string::npos;
}

TEST_CASE("Log: append, then read after any seq, in order, bounded by bytes", "[unit]") {
  test::TempDir dir;
  auto engine = test::OpenOrFail(test::TestOptions(dir.File("log.db")));
  std::vector<Delta> appended;
  test::RunOk(*engine, [&](Transaction& txn) {
    for (uint64_t s = 1; s <= 8; ++s) appended.push_back(MakeDelta(5, s, s));
    appended.push_back(MakeDelta(5, 9, 12));  // one delta of several dots
    appended.push_back(MakeDelta(5, 13, 13));
    for (const Delta& d : appended) txn.AppendLog(1, d);
  });
  test::RunOk(*engine, [&](Transaction& txn) {
    auto all = txn.ReadLog(1, 5, 0, 1 << 20);
    REQUIRE(all.ok());
    CHECK(*all == appended);
    CHECK(Firsts(*txn.ReadLog(1, 5, 5, 1 << 20)) == std::vector<uint64_t>{6, 7, 8, 9, 13});
    // A seq inside a multi-dot delta: that delta again (joins are idempotent).
    CHECK(Firsts(*txn.ReadLog(1, 5, 10, 1 << 20)) == std::vector<uint64_t>{9, 13});
    CHECK(txn.ReadLog(1, 5, 13, 1 << 20)->empty());
    CHECK(txn.ReadLog(1, 5, 100, 1 << 20)->empty());
    // max_bytes: at least one delta, then as many as fit.
    const size_t one = crdt::EncodeDelta(appended[0]).size();
    CHECK(txn.ReadLog(1, 5, 0, 1)->size() == 1);
    CHECK(txn.ReadLog(1, 5, 0, 3 * one)->size() == 3);
    CHECK(txn.ReadLog(1, 5, 0, 3 * one + 1)->size() == 3);
    // Other partitions and origins are separate logs.
    CHECK(txn.ReadLog(0, 5, 0, 1 << 20)->empty());
    CHECK(txn.ReadLog(1, 6, 0, 1 << 20)->empty());
  });
}

TEST_CASE("Log: TruncateLog drops what every replica has; reading before it says truncated",
          "[unit]") {
  test::TempDir dir;
  const Options options = test::TestOptions(dir.File("truncate.db"));
  auto engine = test::OpenOrFail(options);
  test::RunOk(*engine, [&](Transaction& txn) {
    for (uint64_t s = 1; s <= 5; ++s) txn.AppendLog(0, MakeDelta(5, s, s));
    txn.AppendLog(0, MakeDelta(5, 6, 9));
    txn.AppendLog(0, MakeDelta(5, 10, 10));
    txn.TruncateLog(0, 5, 7);  // 6..9 straddles 7: kept
  });
  auto check = [&] {
    test::RunOk(*engine, [&](Transaction& txn) {
      CHECK(IsTruncated(txn.ReadLog(0, 5, 0, 1 << 20)));
      CHECK(IsTruncated(txn.ReadLog(0, 5, 4, 1 << 20)));
      CHECK(Firsts(*txn.ReadLog(0, 5, 5, 1 << 20)) == std::vector<uint64_t>{6, 10});
      CHECK(Firsts(*txn.ReadLog(0, 5, 7, 1 << 20)) == std::vector<uint64_t>{6, 10});
    });
  };
  check();
  engine.reset();
  engine = test::OpenOrFail(options);
  check();
  test::RunOk(*engine, [&](Transaction& txn) {
    txn.TruncateLog(0, 5, 100);  // everything
    CHECK(IsTruncated(txn.ReadLog(0, 5, 9, 1 << 20)));
    CHECK(txn.ReadLog(0, 5, 10, 1 << 20)->empty());
    // Appending goes on after what was logged before, truncated or not.
    txn.AppendLog(0, MakeDelta(5, 11, 11));
    CHECK(Firsts(*txn.ReadLog(0, 5, 10, 1 << 20)) == std::vector<uint64_t>{11});
  });
}

TEST_CASE("Log: the size bound drops the oldest entries; readers then fall back", "[unit]") {
  test::TempDir dir;
  Options options = test::TestOptions(dir.File("bound.db"));
  const size_t entry = crdt::EncodeDelta(MakeDelta(5, 1, 1, 100)).size() + kLogEntryOverheadBytes;
  options.log_max_bytes_per_partition = 10 * entry;
  auto engine = test::OpenOrFail(options);
  test::RunOk(*engine, [&](Transaction& txn) {
    for (uint64_t s = 1; s <= 10; ++s) txn.AppendLog(2, MakeDelta(5, s, s, 100));
    CHECK(txn.ReadLog(2, 5, 0, 1 << 20)->size() == 10);  // exactly at the bound
    for (uint64_t s = 11; s <= 25; ++s) txn.AppendLog(2, MakeDelta(5, s, s, 100));
  });
  engine.reset();  // the accounted size persists
  engine = test::OpenOrFail(options);
  test::RunOk(*engine, [&](Transaction& txn) {
    CHECK(IsTruncated(txn.ReadLog(2, 5, 0, 1 << 20)));
    CHECK(IsTruncated(txn.ReadLog(2, 5, 14, 1 << 20)));
    auto kept = txn.ReadLog(2, 5, 15, 1 << 20);
    REQUIRE(kept.ok());
    CHECK(Firsts(*kept) == std::vector<uint64_t>{16, 17, 18, 19, 20, 21, 22, 23, 24, 25});
    txn.AppendLog(2, MakeDelta(5, 26, 26, 100));
    CHECK(IsTruncated(txn.ReadLog(2, 5, 15, 1 << 20)));
    CHECK(txn.ReadLog(2, 5, 16, 1 << 20)->size() == 10);
    // One delta larger than the whole bound is kept alone.
    txn.AppendLog(2, MakeDelta(5, 27, 27, 20 * entry));
    CHECK(IsTruncated(txn.ReadLog(2, 5, 25, 1 << 20)));
    CHECK(Firsts(*txn.ReadLog(2, 5, 26, 1)) == std::vector<uint64_t>{27});
  });
}

TEST_CASE("Log: the bound drops the appending origin's entries first, then others'", "[unit]") {
  test::TempDir dir;
  Options options = test::TestOptions(dir.File("origins.db"));
  const size_t entry = crdt::EncodeDelta(MakeDelta(6, 1, 1, 100)).size() + kLogEntryOverheadBytes;
  options.log_max_bytes_per_partition = 4 * entry;
  auto engine = test::OpenOrFail(options);
  test::RunOk(*engine, [&](Transaction& txn) {
    txn.AppendLog(0, MakeDelta(0, 1, 1, 100));
    txn.AppendLog(0, MakeDelta(0, 2, 2, 100));
    txn.AppendLog(0, MakeDelta(6, 1, 1, 100));
    txn.AppendLog(0, MakeDelta(6, 2, 2, 100));
    txn.AppendLog(0, MakeDelta(6, 3, 3, 100));  // over: drops 6's first
    CHECK(txn.ReadLog(0, 0, 0, 1 << 20)->size() == 2);
    CHECK(IsTruncated(txn.ReadLog(0, 6, 0, 1 << 20)));
    CHECK(txn.ReadLog(0, 6, 1, 1 << 20)->size() == 2);
    // A big one of 6: 6's old entries go, then 5's.
    txn.AppendLog(0, MakeDelta(6, 4, 4, 3 * entry));
    CHECK(IsTruncated(txn.ReadLog(0, 6, 2, 1 << 20)));
    CHECK(txn.ReadLog(0, 6, 2, 1 << 20).status().message().find("origin 6") != std::string::npos);
    CHECK(Firsts(*txn.ReadLog(0, 6, 3, 1 << 20)) == std::vector<uint64_t>{4});
    CHECK(IsTruncated(txn.ReadLog(0, 0, 0, 1 << 20)));
    CHECK(IsTruncated(txn.ReadLog(0, 0, 1, 1 << 20)));
    CHECK(txn.ReadLog(0, 0, 2, 1 << 20)->empty());
  });
}

TEST_CASE("Log, applied seqs and meta persist, and roll back with their job", "[unit]") {
  test::TempDir dir;
  const Options options = test::TestOptions(dir.File("progress.db"));
  auto engine = test::OpenOrFail(options);
  test::RunOk(*engine, [&](Transaction& txn) {
    txn.SetApplied(3, 8, 41);
    txn.SetApplied(3, UINT64_MAX, UINT64_MAX);
    txn.SetMeta("node", "dc1-a");
    txn.SetMeta(std::string("\0bin", 4), std::string("\xff\0", 2));
    txn.AppendLog(3, MakeDelta(1, 1, 1));
  });
  const Status failed = engine->Run([](Transaction& txn) {
    txn.SetApplied(3, 8, 99);
    txn.SetMeta("node", "changed");
    txn.AppendLog(3, MakeDelta(1, 2, 2));
    return Status::Io("no");
  });
  CHECK(failed.code() == Status::Code::kIo);
  engine.reset();
  engine = test::OpenOrFail(options);
  test::RunOk(*engine, [&](Transaction& txn) {
    CHECK(txn.Applied(3, 8) == 41);
    CHECK(txn.Applied(3, UINT64_MAX) == UINT64_MAX);
    CHECK(txn.Applied(3, 7) == 0);
    CHECK(txn.Applied(2, 8) == 0);
    CHECK(txn.Meta("node") == std::optional<std::string>("dc1-a"));
    CHECK(txn.Meta(std::string("\0bin", 4)) ==
          std::optional<std::string>(std::string("\xff\0", 2)));
    CHECK(txn.Meta("none") == std::nullopt);
    CHECK(Firsts(*txn.ReadLog(3, 1, 0, 1 << 20)) == std::vector<uint64_t>{1});
    // The rolled-back append left no trace: seq 2 may be appended now.
    txn.AppendLog(3, MakeDelta(1, 2, 2));
    CHECK(Firsts(*txn.ReadLog(3, 1, 0, 1 << 20)) == std::vector<uint64_t>{1, 2});
  });
}

}  // namespace
}  // namespace geokv::storage
