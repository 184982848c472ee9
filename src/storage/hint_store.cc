#include "storage/hint_store.h"

#include <map>

#include "storage/sqlite.h"

namespace geokv::storage {

namespace {

std::string JoinLines(const std::set<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) out += id + "\n";
  return out;
}

std::set<std::string> SplitLines(std::string_view text) {
  std::set<std::string> ids;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) ids.emplace(text.substr(start, end - start));
    start = end + 1;
  }
  return ids;
}

}  // namespace

struct HintStore::Impl {
  mutable std::mutex mu;
  sqlite::Connection db;
  sqlite::Statement insert, update_acked, remove;
  std::map<uint64_t, StoredHint> hints;  // all of them, by id
  std::map<uint32_t, size_t> per_partition;  // hints kept, by partition (no zeros)
  size_t bytes = 0;
  uint64_t next_id = 1;
};

HintStore::HintStore(HintLimits limits) : limits_(limits), impl_(std::make_unique<Impl>()) {}
HintStore::~HintStore() = default;

Result<std::unique_ptr<HintStore>> HintStore::Open(const std::string& path, HintLimits limits) {
  std::unique_ptr<HintStore> store(new HintStore(limits));
  Impl& s = *store->impl_;
  auto db = sqlite::Connection::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db.ok()) return db.status();
  s.db = std::move(*db);
  if (Status st = s.db.Exec(
          "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
          "CREATE TABLE IF NOT EXISTS hints(id INTEGER PRIMARY KEY, partition INTEGER NOT NULL,"
          " delta BLOB NOT NULL, acked TEXT NOT NULL, created_ms INTEGER NOT NULL);");
      !st.ok()) {
    return Status::Io(path + ": " + st.message());
  }
  {
    auto all = sqlite::Statement::Prepare(
        s.db.get(), "SELECT id, partition, delta, acked, created_ms FROM hints ORDER BY id", false);
    if (!all.ok()) return all.status();
    sqlite::Query q(all->get());
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      StoredHint h;
      h.id = static_cast<uint64_t>(q.ColInt(0));
      h.partition = static_cast<uint32_t>(q.ColInt(1));
      h.delta = std::string(q.ColBlob(2));
      h.acked = SplitLines(q.ColBlob(3));
      h.created_ms = static_cast<uint64_t>(q.ColInt(4));
      s.bytes += h.delta.size();
      s.next_id = h.id + 1;
      ++s.per_partition[h.partition];
      s.hints.emplace(h.id, std::move(h));
    }
    if (rc != SQLITE_DONE) return Status::Corrupt(path + ": " + sqlite3_errmsg(s.db.get()));
  }
  auto prepare = [&](sqlite::Statement* out, std::string_view sql) {
    auto st = sqlite::Statement::Prepare(s.db.get(), sql, true);
    if (!st.ok()) return st.status();
    *out = std::move(*st);
    return Status::Ok();
  };
  if (Status st = prepare(&s.insert, "INSERT INTO hints VALUES (?, ?, ?, ?, ?)"); !st.ok())
    return st;
  if (Status st = prepare(&s.update_acked, "UPDATE hints SET acked = ? WHERE id = ?"); !st.ok()) {
    return st;
  }
  if (Status st = prepare(&s.remove, "DELETE FROM hints WHERE id = ?"); !st.ok()) return st;
  return store;
}

Result<std::vector<uint64_t>> HintStore::Add(std::vector<std::pair<uint32_t, std::string>> hints,
                                             uint64_t now_ms) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  size_t bytes = 0;
  for (const auto& [p, delta] : hints) bytes += delta.size();
  if (s.hints.size() + hints.size() > limits_.count_max || s.bytes + bytes > limits_.bytes_max) {
    return Status::Busy("hints over their limit (--hint-max-bytes, --hint-max-count)");
  }
  // Only a hint's commit is synced (a client was promised it); a lost
  // acknowledgement or deletion (a power loss) means a hint handed off
  // again, which replicas answer as already here.
  if (Status st = s.db.Exec("PRAGMA synchronous = FULL; BEGIN"); !st.ok()) return st;
  std::vector<uint64_t> ids;
  for (const auto& [p, delta] : hints) {
    const uint64_t id = s.next_id + ids.size();
    sqlite::Query q(s.insert.get());
    q.Int(1, static_cast<int64_t>(id))
        .Int(2, p)
        .Blob(3, delta)
        .Text(4, "")
        .Int(5, static_cast<int64_t>(now_ms));
    if (int rc = q.Step(); rc != SQLITE_DONE) {
      Status failed = sqlite::ErrorStatus(s.db.get(), rc, "keeping a hint");
      (void)s.db.Exec("ROLLBACK");
      return failed;
    }
    ids.push_back(id);
  }
  Status committed = s.db.Exec("COMMIT");
  if (!committed.ok()) (void)s.db.Exec("ROLLBACK");
  (void)s.db.Exec("PRAGMA synchronous = NORMAL");
  if (!committed.ok()) return committed;
  s.next_id += ids.size();
  s.bytes += bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    ++s.per_partition[hints[i].first];
    s.hints.emplace(ids[i],
                    StoredHint{ids[i], hints[i].first, std::move(hints[i].second), {}, now_ms});
  }
  return ids;
}

Status HintStore::Ack(uint64_t id, const std::string& node) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  auto it = s.hints.find(id);
  if (it == s.hints.end() || it->second.acked.contains(node)) return Status::Ok();
  std::set<std::string> acked = it->second.acked;
  acked.insert(node);
  const std::string text = JoinLines(acked);
  sqlite::Query q(s.update_acked.get());
  q.Text(1, text).Int(2, static_cast<int64_t>(id));
  if (int rc = q.Step(); rc != SQLITE_DONE) {
    return sqlite::ErrorStatus(s.db.get(), rc, "recording a hint's acknowledgement");
  }
  it->second.acked = std::move(acked);
  return Status::Ok();
}

Status HintStore::Remove(uint64_t id) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  auto it = s.hints.find(id);
  if (it == s.hints.end()) return Status::Ok();
  sqlite::Query q(s.remove.get());
  q.Int(1, static_cast<int64_t>(id));
  if (int rc = q.Step(); rc != SQLITE_DONE) {
    return sqlite::ErrorStatus(s.db.get(), rc, "deleting a hint");
  }
  s.bytes -= it->second.delta.size();
  if (--s.per_partition[it->second.partition] == 0) s.per_partition.erase(it->second.partition);
  s.hints.erase(it);
  return Status::Ok();
}

std::vector<StoredHint> HintStore::After(uint64_t after, size_t max) const {
  const Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  std::vector<StoredHint> out;
  for (auto it = s.hints.upper_bound(after); it != s.hints.end() && out.size() < max; ++it) {
    out.push_back(it->second);
  }
  return out;
}

bool HintStore::Contains(uint64_t id) const {
  std::lock_guard lock(impl_->mu);
  return impl_->hints.contains(id);
}

bool HintStore::KeepsFor(uint32_t partition) const {
  std::lock_guard lock(impl_->mu);
  return impl_->per_partition.contains(partition);
}

size_t HintStore::count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->hints.size();
}

size_t HintStore::bytes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->bytes;
}

}  // namespace geokv::storage
