#include "storage/sqlite.h"

namespace geokv::storage::sqlite {

Status ErrorStatus(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  // The connection's message is only about this rc if it is the latest error.
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    msg += sqlite3_errmsg(db);
  } else {
    msg += sqlite3_errstr(rc);
  }
  msg += " (sqlite code " + std::to_string(rc) + ")";
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corrupt(std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Busy(std::move(msg));
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return Status::Invalid(std::move(msg));
    default:
      return Status::Io(std::move(msg));
  }
}

Connection::~Connection() {
  // Every statement is finalized by its owner first; close_v2 copes if not.
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = o.db_;
    o.db_ = nullptr;
  }
  return *this;
}

Result<Connection> Connection::Open(const std::string& path, int flags) {
  Connection c;
  const int rc = sqlite3_open_v2(path.c_str(), &c.db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return ErrorStatus(c.db_, rc, "cannot open " + path);
  sqlite3_extended_result_codes(c.db_, 1);
  return c;
}

Status Connection::Exec(std::string_view sql) {
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return ErrorStatus(db_, rc, text);
  return Status::Ok();
}

Result<int64_t> Connection::QueryInt(std::string_view sql) {
  auto stmt = Statement::Prepare(db_, sql, false);
  if (!stmt.ok()) return stmt.status();
  Query q(stmt->get());
  const int rc = q.Step();
  if (rc != SQLITE_ROW) {
    return rc == SQLITE_DONE ? Status::Corrupt(std::string(sql) + ": returned no row")
                             : ErrorStatus(db_, rc, sql);
  }
  return q.ColInt(0);
}

Status Connection::Close() {
  if (db_ == nullptr) return Status::Ok();
  const int rc = sqlite3_close(db_);
  if (rc != SQLITE_OK) return ErrorStatus(db_, rc, "close");
  db_ = nullptr;
  return Status::Ok();
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}

Result<Statement> Statement::Prepare(sqlite3* db, std::string_view sql, bool persistent) {
  Statement s;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    persistent ? SQLITE_PREPARE_PERSISTENT : 0, &s.stmt_, nullptr);
  if (rc != SQLITE_OK) return ErrorStatus(db, rc, std::string("prepare ") + std::string(sql));
  return s;
}

}  // namespace geokv::storage::sqlite
