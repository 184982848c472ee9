// Committer: the engine's commit thread and its read-write SQLite connection.
//
// The state thread hands it, in order, sealed groups (one redo row each) and
// checkpoint slices (one transaction per item: one slice, or after a failed
// commit a whole round at once — its redo deletes first free the space its
// writes need on a full disk); it writes them one after another
// and hands back each item's Status, in the same order. A group that fails to
// commit (disk full, I/O error) poisons the queue: every item after it fails
// without being written, until the state thread — having undone them all in
// memory — calls Resume. A failed slice poisons nothing: its data is still in
// the redo rows.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "storage/checkpoint.h"
#include "storage/engine.h"
#include "storage/sqlite.h"

namespace geokv::storage::internal {

class Committer {
 public:
  struct Item {
    // A group: its redo row (id 0 or an empty blob: nothing to write).
    uint64_t id = 0;
    std::string redo;
    // Or checkpoint slices, in one transaction.
    std::vector<std::shared_ptr<const CheckpointSlice>> slices;
    Status result;
  };

  // Prepares the statements on `db` (a read-write connection to a database of
  // the current schema) and starts the thread. `notify` is called on the
  // commit thread after each item is done.
  static Result<std::unique_ptr<Committer>> Start(sqlite::Connection db, const Options& options,
                                                  std::function<void()> notify);
  // Writes what is queued, then stops the thread (the connection stays open).
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  void Push(Item item);
  // The items done since the last call, in Push order.
  std::vector<Item> TakeDone();
  // Clears the poison of a failed group. REQUIRES: nothing queued or running.
  void Resume();
  // Stops the thread after the queue; later calls below run on the caller's.
  void Stop();
  // REQUIRES: Stop was called.
  Status WriteSlices(const std::vector<std::shared_ptr<const CheckpointSlice>>& slices);
  Status DeleteRedoThrough(uint64_t id);

 private:
  enum Stmt : size_t {
    kBegin, kCommit, kRollback, kRedoInsert, kRedoDelete, kAtomPut, kAtomErase,
    kPartitionWrite, kAppliedSet, kLogInsert, kLogDropThrough, kFloorSet, kMetaSet,
    kSettingSet, kStmtCount,
  };
  Committer(sqlite::Connection db, const Options& options, std::function<void()> notify);
  void Loop();
  Status WriteGroup(const Item& item);
  Status Run(Stmt s);
  Status Step(sqlite::Query& q, const char* what);
  Status WriteSliceBody(const CheckpointSlice& slice);

  sqlite::Connection db_;
  std::vector<sqlite::Statement> stmts_;
  const uint64_t abort_in_slice_;  // Options::testing_abort_in_checkpoint_slice
  uint64_t slices_ = 0;
  std::function<void()> notify_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Item> queue_;    // guarded by mu_
  std::vector<Item> done_;    // guarded by mu_
  bool stopping_ = false;     // guarded by mu_
  bool poisoned_ = false;     // commit thread
  Status poison_;             // commit thread
  std::thread thread_;
};

}  // namespace geokv::storage::internal
