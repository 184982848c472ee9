// The schema (format version 2).
//
//   PRAGMA application_id = 0x676b7631 ("gkv1"), PRAGMA user_version = 2,
//   journal_mode = WAL; page_size 1024 in files made since 2026-11-30
//   (engine.cc, kPageBytes), 4096 before: both open alike.
//
//   settings(name TEXT PK, value)            engine-owned facts: ('partitions', Q),
//                                            ('meta_redo_through', R_meta)
//   partitions(part INTEGER PK,              one row per partition 0..Q-1
//              context BLOB,                 the causal context, EncodeDotContext bytes
//              log_bytes INTEGER,            sum over log rows of the part of
//                                            length(delta) + kLogEntryOverheadBytes
//              key_count INTEGER,            distinct keys holding at least one atom
//              redo_through INTEGER)         R_p: redo rows <= it are in these tables
//   redo(id INTEGER PK, ops BLOB)            one row per group commit: its physical
//                                            changes (redo.h), replayed after R_p
//
// The tables other than redo are a checkpoint (store.h): the state as of each
// partition's R_p (meta: R_meta). Format 1 had no redo table and no R_p: its
// tables were the whole state; Migrate adds both (R_p = 0).
//   atoms(part, key BLOB, slot, field BLOB,  one row per atom (crdt/state.h); field is
//         origin, counter,                   an empty BLOB for slots without a field
//         first, hlc, amount, bytes BLOB)
//         PK (part, key, slot, field, origin, counter) WITHOUT ROWID
//   log(part, origin, first, last,           the deltas this node originated, one row per
//       delta BLOB)                          delta: EncodeDelta bytes of dots first..last
//       PK (part, origin, first) WITHOUT ROWID
//   log_floor(part, origin, through)         the highest seq ever dropped from the log of
//       PK (part, origin) WITHOUT ROWID      (part, origin); reads after less are truncated
//   applied(part, origin, seq)               "applied through" per (part, origin), for the
//       PK (part, origin) WITHOUT ROWID      replication layer
//   meta(name BLOB PK, value BLOB)           small user key/value facts (node id, ...)
//       WITHOUT ROWID
//
// Every uint64 (origin, counter, first, hlc, last, seq, through) is stored as
// sqlite::ToSql(v) = v ^ 2^63 reinterpreted as int64, so the primary keys sort
// atoms exactly as MemoryState does: (key bytes, slot, field bytes, origin,
// counter), BLOBs comparing as memcmp then length like std::string. amount is
// a plain int64.
//
// Why these shapes: an atom per row makes a write to a collection of a million
// members touch one B-tree leaf (issue 3's cost bound), and the clustered
// primary key turns every Scope of a Scan into one or a few index ranges.
// The causal context of a partition is one small blob, kept in memory and
// rewritten once per group commit that changed it.
#include "storage/schema.h"

#include <string>

#include "crdt/codec.h"

namespace geokv::storage::schema {

const char* const kCreateTables = R"sql(
CREATE TABLE settings(name TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
CREATE TABLE partitions(
  part INTEGER PRIMARY KEY NOT NULL,
  context BLOB NOT NULL,
  log_bytes INTEGER NOT NULL,
  key_count INTEGER NOT NULL,
  redo_through INTEGER NOT NULL DEFAULT 0);
CREATE TABLE redo(id INTEGER PRIMARY KEY, ops BLOB NOT NULL);
CREATE TABLE atoms(
  part INTEGER NOT NULL,
  key BLOB NOT NULL,
  slot INTEGER NOT NULL,
  field BLOB NOT NULL,
  origin INTEGER NOT NULL,
  counter INTEGER NOT NULL,
  first INTEGER NOT NULL,
  hlc INTEGER NOT NULL,
  amount INTEGER NOT NULL,
  bytes BLOB NOT NULL,
  PRIMARY KEY(part, key, slot, field, origin, counter)) WITHOUT ROWID;
CREATE TABLE log(
  part INTEGER NOT NULL,
  origin INTEGER NOT NULL,
  first INTEGER NOT NULL,
  last INTEGER NOT NULL,
  delta BLOB NOT NULL,
  PRIMARY KEY(part, origin, first)) WITHOUT ROWID;
CREATE TABLE log_floor(
  part INTEGER NOT NULL,
  origin INTEGER NOT NULL,
  through INTEGER NOT NULL,
  PRIMARY KEY(part, origin)) WITHOUT ROWID;
CREATE TABLE applied(
  part INTEGER NOT NULL,
  origin INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(part, origin)) WITHOUT ROWID;
CREATE TABLE meta(name BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
)sql";

namespace {

// The first few lines of a PRAGMA quick_check report, or "" if it says ok.
Result<std::string> QuickCheck(sqlite::Connection& db) {
  auto stmt = sqlite::Statement::Prepare(db.get(), "PRAGMA quick_check(8)", false);
  if (!stmt.ok()) return stmt.status();
  sqlite::Query q(stmt->get());
  std::string report;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    const std::string_view line = q.ColBlob(0);
    if (line == "ok") continue;
    if (!report.empty()) report += "; ";
    report += line;
  }
  if (rc != SQLITE_DONE) return sqlite::ErrorStatus(db.get(), rc, "PRAGMA quick_check");
  return report;
}

}  // namespace

Result<Existing> CheckExisting(const std::string& path, uint32_t partitions, bool quick_check) {
  const std::string where = "database " + path;
  // Read-only: a failed check must leave the file exactly as it was. (A
  // read-only connection never checkpoints a WAL into the file either.)
  auto db = sqlite::Connection::Open(path, SQLITE_OPEN_READONLY);
  if (!db.ok()) return db.status();

  // Reading the schema parses the header: this is where a file that is not a
  // SQLite database fails (SQLITE_NOTADB).
  auto tables = db->QueryInt("SELECT count(*) FROM sqlite_schema");
  if (!tables.ok()) {
    return Status::Corrupt(where + " is not a readable SQLite database (" +
                           tables.status().message() + ")");
  }
  auto app_id = db->QueryInt("PRAGMA application_id");
  if (!app_id.ok()) return Status::Corrupt(where + ": " + app_id.status().message());
  if (*app_id != kApplicationId) {
    if (*app_id == 0 && *tables == 0) return Existing::kEmpty;
    return Status::Invalid(where + " is a SQLite database but not a geokv one (application_id " +
                           std::to_string(*app_id) + "); refusing to touch it");
  }
  auto version = db->QueryInt("PRAGMA user_version");
  if (!version.ok()) return Status::Corrupt(where + ": " + version.status().message());
  if (*version > kFormatVersion) {
    return Status::Unsupported(where + " has format version " + std::to_string(*version) +
                               ", newer than this build's " + std::to_string(kFormatVersion) +
                               "; run a newer geokv (the file was not changed)");
  }
  if (*version < 1) {
    return Status::Corrupt(where + " has geokv's application id but no format version");
  }
  auto report = quick_check ? QuickCheck(*db) : Result<std::string>(std::string());
  if (!report.ok() || !report->empty()) {
    return Status::Corrupt(
        where + " is corrupt (" +
        (report.ok() ? "PRAGMA quick_check: " + *report : report.status().message()) +
        "); restore it from a replica or a backup");
  }
  auto stored = db->QueryInt("SELECT value FROM settings WHERE name = 'partitions'");
  if (!stored.ok()) {
    return Status::Corrupt(where + ": no partition count (" + stored.status().message() + ")");
  }
  if (*stored != partitions) {
    return Status::Invalid(where + " holds " + std::to_string(*stored) + " partitions, but " +
                           std::to_string(partitions) +
                           " were asked for; the partition count of a database never changes");
  }
  return Existing::kGeokv;
}

Status Create(sqlite::Connection& db, uint32_t partitions) {
  if (Status s = db.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto fail = [&](Status s) {
    (void)db.Exec("ROLLBACK");
    return s;
  };
  if (Status s = db.Exec(kCreateTables); !s.ok()) return fail(s);
  if (Status s = db.Exec("PRAGMA application_id = " + std::to_string(kApplicationId)); !s.ok()) {
    return fail(s);
  }
  if (Status s = db.Exec("PRAGMA user_version = " + std::to_string(kFormatVersion)); !s.ok()) {
    return fail(s);
  }
  if (Status s =
          db.Exec("INSERT INTO settings VALUES('partitions', " + std::to_string(partitions) + ")");
      !s.ok()) {
    return fail(s);
  }
  const std::string empty_context = crdt::EncodeDotContext(crdt::DotContext());
  auto insert = sqlite::Statement::Prepare(
      db.get(), "INSERT INTO partitions VALUES(?1, ?2, 0, 0, 0)", false);
  if (!insert.ok()) return fail(insert.status());
  for (uint32_t p = 0; p < partitions; ++p) {
    sqlite::Query q(insert->get());
    q.Int(1, p).Blob(2, empty_context);
    if (int rc = q.Step(); rc != SQLITE_DONE) {
      return fail(sqlite::ErrorStatus(db.get(), rc, "create partition rows"));
    }
  }
  return db.Exec("COMMIT");
}

Status Migrate(sqlite::Connection& db, const std::string& path) {
  auto version = db.QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.status();
  if (*version == kFormatVersion) return Status::Ok();
  if (*version != 1) {
    return Status::Unsupported("database " + path + " has format version " +
                               std::to_string(*version) + ", which this build cannot migrate");
  }
  if (Status s = db.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  Status s = db.Exec(
      "ALTER TABLE partitions ADD COLUMN redo_through INTEGER NOT NULL DEFAULT 0;"
      "CREATE TABLE redo(id INTEGER PRIMARY KEY, ops BLOB NOT NULL);"
      "PRAGMA user_version = " +
      std::to_string(kFormatVersion));
  if (s.ok()) s = db.Exec("COMMIT");
  if (!s.ok()) {
    (void)db.Exec("ROLLBACK");
    return Status::Io("database " + path + ": migrating format 1 to " +
                      std::to_string(kFormatVersion) + " failed: " + s.message());
  }
  return Status::Ok();
}

}  // namespace geokv::storage::schema
