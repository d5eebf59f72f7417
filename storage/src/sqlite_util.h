// Thin RAII over the SQLite C API: one Connection owns a sqlite3* and a cache
// of prepared statements; a Statement is a borrowed, cached statement that is
// reset when it goes out of scope.
//
// Threading: a Connection is used by one thread at a time (the store's pool
// and writer lock guarantee it); it is opened with SQLITE_OPEN_NOMUTEX.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "posta/base/status.h"

namespace posta::storage::internal {

// Maps a SQLite result code to a Status: SQLITE_FULL → NoSpace,
// SQLITE_CORRUPT/NOTADB → Corruption, SQLITE_BUSY/LOCKED → Unavailable,
// SQLITE_READONLY/PERM/AUTH → PermissionDenied, SQLITE_CONSTRAINT/MISUSE/
// RANGE → Internal, everything else → IOError.
// The message is "<what> (<path>): <detail>".
Status SqliteStatus(int rc, std::string_view what, std::string_view path,
                    std::string_view detail);

// What an integrity_check or quick_check answer other than "ok" means:
// Corruption(where, prefix + complaint), unless the check could not read a
// page because of an I/O error ("unable to get the page. error code=266"),
// which says nothing about the file: then IOError, saying so.
Status CheckComplaintStatus(std::string_view where, std::string_view prefix,
                            std::string_view complaint);

class Connection;

// A prepared statement borrowed from a Connection's cache. Resets and clears
// its bindings on destruction so the next user starts clean. When the cached
// statement is already lent out (the same SQL used twice at once), the
// Statement owns a fresh one and finalizes it instead.
class Statement {
 public:
  // `in_use` is the cache entry's flag, or null for an owned statement.
  Statement(Connection* conn, sqlite3_stmt* stmt, bool* in_use)
      : conn_(conn), stmt_(stmt), in_use_(in_use) {}
  ~Statement();
  Statement(Statement&& other) noexcept
      : conn_(other.conn_), stmt_(other.stmt_), in_use_(other.in_use_) {
    other.stmt_ = nullptr;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;

  // Parameters are 1-based. Text and blobs are copied by SQLite.
  void BindInt(int index, int64_t value);
  void BindText(int index, std::string_view value);
  void BindNull(int index);
  // Binds a text without copying it (a write path binds a record's content
  // and keys to several statements each): `value` must stay alive and
  // unchanged until this statement is reset or destroyed. A temporary
  // cannot be bound so.
  void BindTextRef(int index, const std::string& value);
  void BindTextRef(int index, std::string&& value) = delete;

  // Resets the statement and clears its bindings, ready for reuse.
  void Reset();

  // Steps once: true when a row is ready, false when done.
  Result<bool> Step();
  // Steps to completion, ignoring rows.
  Status Run();

  int64_t ColumnInt(int col) const;
  std::string ColumnText(int col) const;
  std::string_view ColumnView(int col) const;  // valid until the next Step
  bool ColumnIsNull(int col) const;

  sqlite3_stmt* raw() const { return stmt_; }

 private:
  Connection* conn_;
  sqlite3_stmt* stmt_;
  bool* in_use_;
};

class Connection {
 public:
  // Opens `path` with `flags` (SQLITE_OPEN_*) through `vfs` (empty for the
  // default), with extended result codes and the busy timeout set.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path,
                                                  int flags,
                                                  const std::string& vfs,
                                                  int busy_timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }

  // A cached prepared statement for `sql` (one statement).
  Result<Statement> Prepare(std::string_view sql);
  // Runs one or more statements without caching (DDL, PRAGMA, BEGIN).
  Status Exec(std::string_view sql, std::string_view what);
  // Runs `sql` and returns the first column of its first row as text, or an
  // empty string when there is no row.
  Result<std::string> QueryText(std::string_view sql, std::string_view what);
  Result<int64_t> QueryInt(std::string_view sql, std::string_view what);

  // A Status for the last error on this connection.
  Status Error(int rc, std::string_view what) const;

  // True when no transaction is open (SQLite rolled back on its own or none
  // was begun).
  bool InAutocommit() const { return sqlite3_get_autocommit(db_) != 0; }

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  // Looked up by string_view without building a std::string.
  struct SqlHash {
    using is_transparent = void;
    size_t operator()(std::string_view sql) const {
      return std::hash<std::string_view>()(sql);
    }
  };
  std::unordered_map<std::string, Cached, SqlHash, std::equal_to<>> cache_;
};

// Runs BEGIN (or BEGIN IMMEDIATE) at construction and ROLLBACK at destruction
// unless Commit() succeeded.
class Transaction {
 public:
  Transaction(Connection& conn, bool immediate)
      : conn_(conn), immediate_(immediate) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin();
  Status Commit();
  void Rollback();

 private:
  Connection& conn_;
  bool immediate_;
  bool open_ = false;
};

}  // namespace posta::storage::internal
