// The on-disk format of a geokv storage database: its tables, its format
// version and the checks that run before a database file is trusted. The
// schema itself is written out at the top of schema.cc.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "storage/sqlite.h"

namespace geokv::storage::schema {

// PRAGMA application_id of every geokv database: "gkv1" in ASCII. A SQLite file
// with another id is somebody else's and is never written to.
constexpr int64_t kApplicationId = 0x676b7631;
// PRAGMA user_version: the format this build writes. A file with a greater
// version was written by a newer build and is refused (an older build cannot
// know what it would break).
constexpr int64_t kFormatVersion = 2;

// The statements that create every table of an empty database.
extern const char* const kCreateTables;

// What CheckExisting found.
enum class Existing : uint8_t {
  kGeokv,  // a geokv database of this format with the expected partition count
  kEmpty,  // a valid SQLite database without any table: may be initialized
};

// Inspects the database file at `path` through a read-only connection (so that
// nothing in the file can change, whatever it holds): it must be a SQLite
// database with geokv's application id, a format version this build reads,
// `partitions` partitions, and (if quick_check) pass PRAGMA quick_check.
// Returns a Corrupt, Unsupported or Invalid Status naming the file and the
// problem otherwise.
Result<Existing> CheckExisting(const std::string& path, uint32_t partitions, bool quick_check);

// Brings a database that passed CheckExisting to kFormatVersion: format 1
// gets the redo table and the partitions' redo_through column, in one
// transaction. Ok without a change for the current format.
Status Migrate(sqlite::Connection& db, const std::string& path);

// Creates the tables and the rows of `partitions` empty partitions, and stamps
// the application id and format version. REQUIRES: an empty database; runs in
// its own transaction.
Status Create(sqlite::Connection& db, uint32_t partitions);

}  // namespace geokv::storage::schema
