// Thin RAII wrappers over the SQLite C API, private to src/storage.
//
// They turn SQLite result codes into Status values and own handles so that no
// early return leaks a statement or a connection. Every unsigned 64-bit number
// crosses into SQLite through ToSql/FromSql: SQLite integers are signed, and
// flipping the top bit maps uint64 order onto int64 order, so an index on such
// a column sorts exactly as the unsigned values do.
//
// Not thread-safe: a Connection and its statements belong to one thread at a
// time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace geokv::storage::sqlite {

constexpr uint64_t kSignFlip = uint64_t{1} << 63;
// Order-preserving uint64 <-> SQLite INTEGER mapping.
constexpr int64_t ToSql(uint64_t v) { return static_cast<int64_t>(v ^ kSignFlip); }
constexpr uint64_t FromSql(int64_t v) { return static_cast<uint64_t>(v) ^ kSignFlip; }

// "<what>: <sqlite message> (<code name>)": the message a Status carries.
Status ErrorStatus(sqlite3* db, int rc, std::string_view what);

// An owned sqlite3* (closed on destruction).
class Connection {
 public:
  Connection() = default;
  ~Connection();
  Connection(Connection&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Connection& operator=(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Opens `path` with SQLITE_OPEN_* `flags` (SQLITE_OPEN_NOMUTEX is added: one
  // thread at a time uses a connection).
  static Result<Connection> Open(const std::string& path, int flags);

  sqlite3* get() const { return db_; }
  // Runs one or more statements that return no rows we need.
  Status Exec(std::string_view sql);
  // Runs a statement returning one integer (a PRAGMA, a count).
  Result<int64_t> QueryInt(std::string_view sql);
  // Closes now; reports what sqlite3_close says (statements must be finalized).
  Status Close();

 private:
  sqlite3* db_ = nullptr;
};

// An owned prepared statement (finalized on destruction).
class Statement {
 public:
  Statement() = default;
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(Statement&& o) noexcept : stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // persistent: SQLITE_PREPARE_PERSISTENT, for statements cached for the
  // connection's lifetime.
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql, bool persistent);

  sqlite3_stmt* get() const { return stmt_; }
  explicit operator bool() const { return stmt_ != nullptr; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// One execution of a prepared statement: binds, steps, reads columns, and
// resets the statement when it goes out of scope (so a cached statement is
// ready for its next use and holds no read lock). Column and parameter indexes
// are as in SQLite: parameters from 1, columns from 0. Bindings are not
// cleared (it costs): every use of a statement binds every parameter, so a
// binding left from an earlier use, pointing to freed memory, is never read.
class Query {
 public:
  explicit Query(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Query() { sqlite3_reset(stmt_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& Int(int i, int64_t v) {
    Check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Query& U64(int i, uint64_t v) { return Int(i, ToSql(v)); }
  // Binds a BLOB, also when empty (never NULL), copied by SQLite only if the
  // statement outlives `v`: the caller keeps `v` alive until the Query ends.
  Query& Blob(int i, std::string_view v) {
    Check(sqlite3_bind_blob64(stmt_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC));
    return *this;
  }
  Query& Text(int i, std::string_view v) {
    Check(sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
    return *this;
  }

  // SQLITE_ROW, SQLITE_DONE, or an error code (also a failed bind above).
  int Step() {
    if (bind_rc_ != SQLITE_OK) return bind_rc_;
    return sqlite3_step(stmt_);
  }

  int64_t ColInt(int c) const { return sqlite3_column_int64(stmt_, c); }
  uint64_t ColU64(int c) const { return FromSql(ColInt(c)); }
  // Valid until the next Step or the end of the Query.
  std::string_view ColBlob(int c) const {
    const void* p = sqlite3_column_blob(stmt_, c);
    const int n = sqlite3_column_bytes(stmt_, c);
    return p == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(p), n);
  }
  int ColType(int c) const { return sqlite3_column_type(stmt_, c); }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

}  // namespace geokv::storage::sqlite
