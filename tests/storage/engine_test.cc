// The Engine's job model: group commit, per-job rollback, acknowledgement
// after commit, back-pressure, shutdown, and the key index.
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <catch2/catch.hpp>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "crdt/key_type.h"
#include "crdt/or_set.h"
#include "crdt/scalar.h"
#include "storage_test_util.h"

namespace geokv::storage {
namespace {

using crdt::ScalarRef;

// A job that parks the writer thread until `release` is set, so that the jobs
// submitted meanwhile queue up and run as one group.
struct Gate {
  std::promise<void> release;
  std::shared_future<void> opened = release.get_future().share();
  std::promise<void> entered;
  Engine::Job Job() {
    return [this, f = opened](Transaction&) {
      entered.set_value();
      f.wait();
      return Status::Ok();
    };
  }
};

// SETs key = value in partition p and logs the delta.
Status Set(Transaction& txn, uint32_t p, const std::string& key, const std::string& value) {
  crdt::DeltaBuilder b(txn.Partition(p), 1);
  crdt::SetScalar(b, ScalarRef{key, std::nullopt}, crdt::Hlc{1}, value);
  const crdt::Delta d = std::move(b).Finish();
  crdt::ApplyDelta(txn.Partition(p), d);
  txn.AppendLog(p, d);
  return Status::Ok();
}

std::string Get(Transaction& txn, uint32_t p, const std::string& key) {
  return crdt::ReadScalar(txn.Partition(p), ScalarRef{key, std::nullopt}).ToBytes();
}

// Whether a separate, plain SQLite connection sees `needle` in some redo row
// (the committed form of a group's changes).
bool CommittedRedoHolds(const std::string& path, const std::string& needle) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return false;
  sqlite3_stmt* stmt = nullptr;
  bool found = false;
  if (sqlite3_prepare_v2(db, "SELECT ops FROM redo", -1, &stmt, nullptr) == SQLITE_OK) {
    while (!found && sqlite3_step(stmt) == SQLITE_ROW) {
      const std::string ops(static_cast<const char*>(sqlite3_column_blob(stmt, 0)),
                            sqlite3_column_bytes(stmt, 0));
      found = ops.find(needle) != std::string::npos;
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return found;
}

// An AtomObserver that mirrors the atoms it is told of (on the state thread;
// read after the engine is idle).
struct Mirror : AtomObserver {
  std::map<std::pair<uint32_t, std::string>, crdt::Atom> atoms;
  std::vector<std::string> problems;
  static std::string Key(const crdt::Path& path, const crdt::Atom& atom) {
    return test::Describe(path, crdt::Atom{atom.dot, 0, {}, 0, ""});
  }
  void AtomAdded(uint32_t p, const crdt::Path& path, const crdt::Atom& atom) override {
    if (!atoms.emplace(std::make_pair(p, Key(path, atom)), atom).second) {
      problems.push_back("added twice: " + Key(path, atom));
    }
  }
  void AtomRemoved(uint32_t p, const crdt::Path& path, const crdt::Atom& atom) override {
    auto it = atoms.find({p, Key(path, atom)});
    if (it == atoms.end() || !(it->second == atom)) {
      problems.push_back("removed but absent: " + Key(path, atom));
    } else {
      atoms.erase(it);
    }
  }
  void PartitionReset(uint32_t) override { problems.push_back("reset"); }
  // Whether the mirror of partition p equals its snapshot's atoms.
  bool Matches(uint32_t p, const crdt::Snapshot& snap) const {
    size_t n = 0;
    for (const auto& [where, atom] : atoms) n += where.first == p ? 1 : 0;
    if (n != snap.atoms.size()) return false;
    for (const auto& [path, atom] : snap.atoms) {
      auto it = atoms.find({p, Key(path, atom)});
      if (it == atoms.end() || !(it->second == atom)) return false;
    }
    return true;
  }
};

TEST_CASE("Engine: a failing job in a group is rolled back alone", "[unit]") {
  test::TempDir dir;
  auto engine = test::OpenOrFail(test::TestOptions(dir.File("group.db")));
  const crdt::Snapshot empty = test::SnapshotOf(*engine, 2);

  Gate gate;
  std::vector<std::promise<Status>> done(4);
  auto ack = [&](int i) { return [&done, i](Status s) { done[i].set_value(std::move(s)); }; };
  REQUIRE(engine->Submit(gate.Job(), ack(0)).ok());
  REQUIRE(engine
              ->Submit(
                  [](Transaction& txn) {
                    txn.SetMeta("a", "1");
                    return Set(txn, 1, "x", "one");
                  },
                  ack(1))
              .ok());
  REQUIRE(engine
              ->Submit(
                  [](Transaction& txn) {
                    txn.SetMeta("b", "2");
                    txn.SetApplied(2, 9, 5);
                    (void)Set(txn, 2, "y", "two");
                    (void)Set(txn, 1, "x", "overwritten");
                    return Status::Invalid("the client's command failed");
                  },
                  ack(2))
              .ok());
  REQUIRE(engine
              ->Submit(
                  [](Transaction& txn) -> Status {
                    txn.SetMeta("c", "3");
                    (void)Set(txn, 3, "z", "three");
                    throw std::runtime_error("boom");
                  },
                  ack(3))
              .ok());
  gate.release.set_value();
  CHECK(done[0].get_future().get().ok());
  CHECK(done[1].get_future().get().ok());
  const Status failed = done[2].get_future().get();
  CHECK(failed.code() == Status::Code::kInvalid);
  CHECK(failed.message() == "the client's command failed");
  const Status thrown = done[3].get_future().get();
  CHECK(thrown.code() == Status::Code::kInvalid);
  CHECK(thrown.message().find("boom") != std::string::npos);

  auto check = [&] {
    test::RunOk(*engine, [&](Transaction& txn) {
      CHECK(txn.Meta("a") == std::optional<std::string>("1"));
      CHECK(txn.Meta("b") == std::nullopt);
      CHECK(txn.Meta("c") == std::nullopt);
      CHECK(txn.Applied(2, 9) == 0);
      CHECK(Get(txn, 1, "x") == "one");
      CHECK(txn.KeyCount(1) == 1);
      CHECK(txn.KeyCount(2) == 0);
      CHECK(txn.KeyCount(3) == 0);
      auto log = txn.ReadLog(1, 1, 0, 1 << 20);
      REQUIRE(log.ok());
      CHECK(log->size() == 1);
      CHECK(txn.ReadLog(2, 1, 0, 1 << 20)->empty());
    });
    CHECK(test::SnapshotOf(*engine, 2) == empty);  // atoms and context
    CHECK(test::SnapshotOf(*engine, 3) == empty);
  };
  check();
  engine.reset();  // what was committed, not just the caches
  engine = test::OpenOrFail(test::TestOptions(dir.File("group.db")));
  check();
}

TEST_CASE(
    "Engine: a rolled-back job with several writes to a partition leaves the context the job "
    "found, after a kept job in the same group wrote there too",
    "[unit]") {
  // The undo keeps one copy of a partition's context per job (its first
  // join): a job that joins again, or a later job in the group, must still
  // be reverted to exactly its own start. Same writes on two engines, one
  // of them with a failing job more.
  test::TempDir dir;
  auto failed = test::OpenOrFail(test::TestOptions(dir.File("failed.db")));
  auto clean = test::OpenOrFail(test::TestOptions(dir.File("clean.db")));
  auto kept_job = [](Transaction& txn) {
    (void)Set(txn, 1, "x", "kept");
    return Set(txn, 1, "y", "kept");
  };
  for (Engine* engine : {failed.get(), clean.get()}) {
    test::RunOk(*engine, [](Transaction& txn) { (void)Set(txn, 1, "x", "first"); });
  }
  Gate gate;
  std::vector<std::promise<Status>> done(3);
  auto ack = [&](int i) { return [&done, i](Status s) { done[i].set_value(std::move(s)); }; };
  REQUIRE(failed->Submit(gate.Job(), ack(0)).ok());
  REQUIRE(failed->Submit(kept_job, ack(1)).ok());
  REQUIRE(failed
              ->Submit(
                  [](Transaction& txn) {
                    (void)Set(txn, 1, "x", "lost");
                    (void)Set(txn, 1, "z", "lost");
                    (void)Set(txn, 1, "x", "lost again");
                    return Status::Invalid("the client's command failed");
                  },
                  ack(2))
              .ok());
  gate.release.set_value();
  CHECK(done[0].get_future().get().ok());
  CHECK(done[1].get_future().get().ok());
  CHECK(!done[2].get_future().get().ok());
  test::RunOk(*clean, [&](Transaction& txn) { REQUIRE(kept_job(txn).ok()); });

  const crdt::Snapshot expected = test::SnapshotOf(*clean, 1);
  CHECK(test::SnapshotOf(*failed, 1) == expected);  // atoms and context
  failed.reset();  // and what was committed
  failed = test::OpenOrFail(test::TestOptions(dir.File("failed.db")));
  CHECK(test::SnapshotOf(*failed, 1) == expected);
}

TEST_CASE("Engine: a job learns whether the job before it was rolled back", "[unit]") {
  test::TempDir dir;
  auto engine = test::OpenOrFail(test::TestOptions(dir.File("kept.db")));
  Gate gate;
  std::vector<bool> kept;  // written on the writer thread, read after the last done
  std::promise<void> last;
  REQUIRE(engine->Submit(gate.Job(), [](Status) {}).ok());
  auto observe = [&kept](Status result) {
    return [&kept, result](Transaction& txn) {
      kept.push_back(txn.PreviousJobKept());
      txn.SetMeta("m", "x");
      return result;
    };
  };
  // One group: ok, failed, ok, ok.
  REQUIRE(engine->Submit(observe(Status::Ok()), [](Status) {}).ok());
  REQUIRE(engine->Submit(observe(Status::Invalid("fails")), [](Status) {}).ok());
  REQUIRE(engine->Submit(observe(Status::Ok()), [](Status) {}).ok());
  REQUIRE(engine->Submit(observe(Status::Ok()), [&](Status) { last.set_value(); }).ok());
  gate.release.set_value();
  last.get_future().wait();
  CHECK(kept == std::vector<bool>{true, true, false, true});
}

TEST_CASE("Engine: done runs after COMMIT, so another connection already sees the write",
          "[unit]") {
  test::TempDir dir;
  const std::string path = dir.File("ack.db");
  auto engine = test::OpenOrFail(test::TestOptions(path));
  std::promise<bool> seen;
  REQUIRE(engine
              ->Submit(
                  [](Transaction& txn) {
                    txn.SetMeta("acked", "yes-it-is");
                    return Status::Ok();
                  },
                  [&](Status s) {
                    REQUIRE(s.ok());
                    seen.set_value(CommittedRedoHolds(path, "yes-it-is"));
                  })
              .ok());
  CHECK(seen.get_future().get());
}

TEST_CASE("Engine: many threads' jobs all commit, in submission order per thread", "[unit]") {
  test::TempDir dir;
  auto engine = test::OpenOrFail(test::TestOptions(dir.File("threads.db")));
  constexpr int kThreads = 4, kJobs = 400;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::future<Status>> pending;
      for (int j = 0; j < kJobs; ++j) {
        auto promise = std::make_shared<std::promise<Status>>();
        pending.push_back(promise->get_future());
        const Status submitted = engine->Submit(
            [t, j](Transaction& txn) {
              crdt::DeltaBuilder b(txn.Partition(0), 1);
              crdt::IncrementScalar(b, ScalarRef{"counter", std::nullopt}, 1);
              crdt::ApplyDelta(txn.Partition(0), std::move(b).Finish());
              // Each thread's last write per key wins only if jobs keep order.
              return Set(txn, 1 + t % 3, "t" + std::to_string(t), std::to_string(j));
            },
            [promise](Status s) { promise->set_value(std::move(s)); });
        if (!submitted.ok()) ++failures;
      }
      for (auto& f : pending) {
        if (!f.get().ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  test::RunOk(*engine, [&](Transaction& txn) {
    CHECK(crdt::ReadScalar(txn.Partition(0), ScalarRef{"counter", std::nullopt}).integer ==
          kThreads * kJobs);
    for (int t = 0; t < kThreads; ++t) {
      CHECK(Get(txn, 1 + t % 3, "t" + std::to_string(t)) == std::to_string(kJobs - 1));
    }
  });
}

TEST_CASE("Engine: Submit beyond queue_max_jobs answers Busy; the destructor runs the queue",
          "[unit]") {
  test::TempDir dir;
  Options options = test::TestOptions(dir.File("busy.db"));
  options.queue_max_jobs = 3;
  auto engine = test::OpenOrFail(options);
  Gate gate;
  std::atomic<int> acked{0};
  auto count = [&](Status s) {
    if (s.ok()) ++acked;
  };
  REQUIRE(engine->Submit(gate.Job(), count).ok());
  gate.entered.get_future().wait();  // the writer took it off the queue
  for (int i = 0; i < 3; ++i) {
    REQUIRE(engine->Submit([](Transaction&) { return Status::Ok(); }, count).ok());
  }
  const Status busy =
      engine->Submit([](Transaction&) { return Status::Ok(); }, [](Status) { FAIL("called"); });
  CHECK(busy.code() == Status::Code::kBusy);
  CHECK(busy.message().find("queue full") != std::string::npos);
  gate.release.set_value();
  engine.reset();
  CHECK(acked == 1 + 3);
}

TEST_CASE("Engine: KeyCount and ScanKeys follow writes and deletes", "[unit]") {
  test::TempDir dir;
  auto engine = test::OpenOrFail(test::TestOptions(dir.File("keys.db")));
  test::RunOk(*engine, [&](Transaction& txn) {
    crdt::DeltaBuilder b(txn.Partition(0), 1);
    for (int i = 0; i < 50; ++i)
      crdt::AddMember(b, "set" + std::to_string(i % 10), "m" + std::to_string(i));
    for (int i = 0; i < 5; ++i) {
      crdt::SetScalar(b, ScalarRef{"str" + std::to_string(i), std::nullopt}, crdt::Hlc{1}, "v");
    }
    crdt::ApplyDelta(txn.Partition(0), std::move(b).Finish());
  });
  test::RunOk(*engine, [&](Transaction& txn) {
    CHECK(txn.KeyCount(0) == 15);
    std::vector<std::string> all;
    std::optional<std::string> cursor;
    for (;;) {
      auto page = txn.ScanKeys(0, cursor, 4);
      if (page.empty()) break;
      CHECK(page.size() <= 4);
      all.insert(all.end(), page.begin(), page.end());
      cursor = page.back();
    }
    CHECK(all == crdt::Keys(txn.Partition(0)));
    CHECK(all.size() == 15);
    crdt::DeltaBuilder b(txn.Partition(0), 1);
    crdt::DeleteKey(b, "set3");
    crdt::RemoveMember(b, "set4", "m4");
    crdt::RemoveMember(b, "set4", "m14");
    crdt::ApplyDelta(txn.Partition(0), std::move(b).Finish());
    CHECK(txn.KeyCount(0) == 14);  // set4 still has m24, m34, m44
    crdt::DeltaBuilder flush(txn.Partition(0), 1);
    crdt::FlushPartition(flush);
    crdt::ApplyDelta(txn.Partition(0), std::move(flush).Finish());
    CHECK(txn.KeyCount(0) == 0);
    CHECK(txn.ScanKeys(0, std::nullopt, 10).empty());
  });
}

TEST_CASE("Engine: background checkpoints write slices and trim the redo; recovery replays the rest",
          "[unit]") {
  test::TempDir dir;
  Options options = test::TestOptions(dir.File("slices.db"), 2);
  options.checkpoint_redo_bytes = 4096;
  options.checkpoint_slice_atoms = 7;
  auto engine = test::OpenOrFail(options);
  constexpr int kJobs = 60, kKeys = 20;
  for (int j = 0; j < kJobs; ++j) {
    REQUIRE(engine
                ->Run([j](Transaction& txn) {
                  for (int k = 0; k < kKeys; ++k) {
                    const Status s = Set(txn, 1, "k" + std::to_string((j * kKeys + k) % 500),
                                         "v" + std::to_string(j));
                    if (!s.ok()) return s;
                  }
                  txn.SetMeta("job", std::to_string(j));
                  return Status::Ok();
                })
                .ok());
  }
  // Rounds ran meanwhile: atom rows are in the table and early redo rows gone.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (test::QueryInt(dir.File("slices.db"), "SELECT count(*) FROM atoms") == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(test::QueryInt(dir.File("slices.db"), "SELECT count(*) FROM atoms") > 0);
  CHECK(test::QueryInt(dir.File("slices.db"), "SELECT coalesce(min(id), 0) FROM redo") > 1);
  const crdt::Snapshot before = test::SnapshotOf(*engine, 1);
  engine->AbandonForTesting();  // as a crash: the tables plus the redo rows
  engine.reset();
  engine = test::OpenOrFail(options);
  CHECK(test::SnapshotOf(*engine, 1) == before);
  test::RunOk(*engine, [&](Transaction& txn) {
    CHECK(txn.Meta("job") == std::optional<std::string>(std::to_string(kJobs - 1)));
    CHECK(txn.KeyCount(1) == 500);
    auto log = txn.ReadLog(1, 1, 0, size_t{1} << 30);
    REQUIRE(log.ok());
    CHECK(log->size() == static_cast<size_t>(kJobs * kKeys));
  });
}

TEST_CASE("Engine: synchronous FULL commits and reopens like NORMAL", "[unit]") {
  test::TempDir dir;
  Options options = test::TestOptions(dir.File("full.db"));
  options.synchronous = Synchronous::kFull;
  auto engine = test::OpenOrFail(options);
  REQUIRE(engine->Run([](Transaction& txn) { return Set(txn, 0, "k", "v"); }).ok());
  engine.reset();
  engine = test::OpenOrFail(options);
  test::RunOk(*engine, [&](Transaction& txn) { CHECK(Get(txn, 0, "k") == "v"); });
}

TEST_CASE("Engine: when the database is full, exactly the failed jobs leave no trace", "[unit]") {
  // A real SQLITE_FULL (through max_page_count) at a group's commit: the
  // group and every group run after it fail, and each job either commits or
  // leaves nothing behind — atoms, context, key count, log — in memory as on
  // disk; the engine goes on working. Small groups, so that some commit.
  test::TempDir dir;
  Options options = test::TestOptions(dir.File("full-disk.db"));
  options.max_database_bytes = 400 << 10;
  options.group_max_jobs = 6;
  Mirror mirror;  // told of every atom in and out, undos included
  options.atom_observer = &mirror;
  auto engine = test::OpenOrFail(options);
  constexpr int kJobs = 120;
  std::vector<std::promise<Status>> done(kJobs);
  Gate gate;
  REQUIRE(engine->Submit(gate.Job(), [](Status) {}).ok());
  for (int j = 0; j < kJobs; ++j) {
    REQUIRE(engine
                ->Submit(
                    [j](Transaction& txn) {
                      crdt::DeltaBuilder b(txn.Partition(j % 4), 1);
                      crdt::SetScalar(b, ScalarRef{"k" + std::to_string(j), std::nullopt},
                                      crdt::Hlc{1}, std::string(9000, 'x'));
                      const crdt::Delta d = std::move(b).Finish();
                      crdt::ApplyDelta(txn.Partition(j % 4), d);
                      txn.AppendLog(j % 4, d);
                      return Status::Ok();
                    },
                    [&done, j](Status s) { done[j].set_value(std::move(s)); })
                .ok());
  }
  gate.release.set_value();
  std::vector<bool> committed(kJobs);
  int failed = 0;
  for (int j = 0; j < kJobs; ++j) {
    const Status s = done[j].get_future().get();
    committed[j] = s.ok();
    if (!s.ok()) {
      ++failed;
      CHECK(s.code() == Status::Code::kIo);
      CHECK(s.message().find("full") != std::string::npos);
    }
  }
  CHECK(failed > 0);
  CHECK(failed < kJobs);

  auto check = [&](Engine& e) {
    test::RunOk(e, [&](Transaction& txn) {
      uint64_t keys = 0;
      for (int j = 0; j < kJobs; ++j) {
        const bool present = !Get(txn, j % 4, "k" + std::to_string(j)).empty();
        CHECK(present == committed[j]);
        if (committed[j]) ++keys;
      }
      uint64_t counted = 0;
      for (uint32_t p = 0; p < 4; ++p) {
        counted += txn.KeyCount(p);
        // Every committed SET took the next dot and logged it: the context and
        // the log are gap-free, whatever failed in between.
        const crdt::DotContext& context = txn.Partition(p).Context();
        CHECK(context.Contiguous(1) == context.Max(1));
        auto log = txn.ReadLog(p, 1, 0, 1 << 30);
        REQUIRE(log.ok());
        CHECK(log->size() == context.Max(1));
      }
      CHECK(counted == keys);
    });
  };
  check(*engine);
  for (uint32_t p = 0; p < 4; ++p) CHECK(mirror.Matches(p, test::SnapshotOf(*engine, p)));
  CHECK(mirror.problems.empty());
  engine.reset();
  options.max_database_bytes = 0;
  options.atom_observer = nullptr;
  engine = test::OpenOrFail(options);
  check(*engine);
  REQUIRE(engine->Run([](Transaction& txn) { return Set(txn, 0, "after", "ok"); }).ok());
}

}  // namespace
}  // namespace geokv::storage
