#include "sqlite_util.h"

#include <cstdlib>
#include <mutex>
#include <string>

namespace posta::storage::internal {

Status SqliteStatus(int rc, std::string_view what, std::string_view path,
                    std::string_view detail) {
  std::string where(what);
  where.append(" (");
  where.append(path);
  where.append(")");
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return Status::NoSpace(where, detail);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(where, detail);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(where, detail);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Status::PermissionDenied(where, detail);
    case SQLITE_CONSTRAINT:
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_ERROR:
      return Status::Internal(where, detail);
    default:
      return Status::IOError(where, detail);
  }
}

Status CheckComplaintStatus(std::string_view where, std::string_view prefix,
                            std::string_view complaint) {
  std::string detail(prefix);
  detail.append(complaint);
  // SQLite's integrity check reports a page it could not read as text: a
  // page of a tree with the result code of the read, a page of the
  // freelist without one (a page number out of range is a complaint of its
  // own, "invalid page number").
  constexpr std::string_view kUnreadable =
      "unable to get the page. error code=";
  constexpr std::string_view kUnreadableFree = "freelist: failed to get page ";
  bool unreadable = complaint.find(kUnreadableFree) != std::string_view::npos;
  const size_t at = complaint.find(kUnreadable);
  if (at != std::string_view::npos) {
    const int rc = std::atoi(
        std::string(complaint.substr(at + kUnreadable.size(), 12)).c_str());
    unreadable =
        (rc & 0xff) != SQLITE_CORRUPT && (rc & 0xff) != SQLITE_NOTADB;
  }
  if (unreadable) {
    return Status::IOError(
        where, "could not read every page to check it (" + detail +
                   "): a disk or memory error, not known damage; check the "
                   "disk and retry");
  }
  return Status::Corruption(where, detail);
}

// ---- Statement ----

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (in_use_ == nullptr) {
    sqlite3_finalize(stmt_);
    return;
  }
  Reset();
  *in_use_ = false;
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Statement::BindInt(int index, int64_t value) {
  POSTA_CHECK(sqlite3_bind_int64(stmt_, index, value) == SQLITE_OK);
}

void Statement::BindText(int index, std::string_view value) {
  // A null pointer would bind SQL NULL; an empty text must stay text.
  const char* data = value.data() != nullptr ? value.data() : "";
  POSTA_CHECK(sqlite3_bind_text64(stmt_, index, data, value.size(),
                                  SQLITE_TRANSIENT, SQLITE_UTF8) == SQLITE_OK);
}

void Statement::BindTextRef(int index, const std::string& value) {
  POSTA_CHECK(sqlite3_bind_text64(stmt_, index, value.c_str(), value.size(),
                                  SQLITE_STATIC, SQLITE_UTF8) == SQLITE_OK);
}

void Statement::BindNull(int index) {
  POSTA_CHECK(sqlite3_bind_null(stmt_, index) == SQLITE_OK);
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char* sql = sqlite3_sql(stmt_);
  std::string what = "sql \"";
  what.append(std::string_view(sql != nullptr ? sql : "").substr(0, 60));
  what.append("\"");
  return conn_->Error(rc, what);
}

Status Statement::Run() {
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

int64_t Statement::ColumnInt(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

std::string_view Statement::ColumnView(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  if (text == nullptr) return {};
  return std::string_view(reinterpret_cast<const char*>(text),
                          static_cast<size_t>(n));
}

std::string Statement::ColumnText(int col) const {
  return std::string(ColumnView(col));
}

bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

// ---- Connection ----

namespace {

// SQLite keeps memory statistics by default, which takes a process-wide
// mutex on every allocation and free: the writer and the threads reading
// or checking beside it contend for it. posta reads none of them. Nor does
// a connection allocate its page cache 20 pages at a time (160 KiB with
// pages of 8 KiB, in every connection, used or not): pages are allocated
// as read. This must run before SQLite initializes; once it has (a test
// registered its VFS first), SQLite refuses it and nothing changes.
void ConfigureSqliteOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
  });
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path,
                                                     int flags,
                                                     const std::string& vfs,
                                                     int busy_timeout_ms) {
  ConfigureSqliteOnce();
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags,
                           vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string detail =
        db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return SqliteStatus(rc, "open database", path, detail);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return std::unique_ptr<Connection>(new Connection(db, path));
}

Connection::~Connection() {
  for (auto& [sql, cached] : cache_) sqlite3_finalize(cached.stmt);
  sqlite3_close_v2(db_);
}

Status Connection::Error(int rc, std::string_view what) const {
  // sqlite3_errmsg describes the most recent failure on this connection,
  // which is `rc` as long as the caller asks right away.
  return SqliteStatus(rc, what, path_, sqlite3_errmsg(db_));
}

Result<Statement> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && !it->second.in_use) {
    it->second.in_use = true;
    return Statement(this, it->second.stmt, &it->second.in_use);
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    std::string what = "prepare \"";
    what.append(sql.substr(0, 60));
    what.append("\"");
    return Error(rc, what);
  }
  if (it != cache_.end()) return Statement(this, stmt, nullptr);
  // unordered_map nodes are stable, so the flag's address stays valid.
  Cached& cached = cache_[std::string(sql)];
  cached.stmt = stmt;
  cached.in_use = true;
  return Statement(this, stmt, &cached.in_use);
}

Status Connection::Exec(std::string_view sql, std::string_view what) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string detail = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return SqliteStatus(rc, what, path_, detail);
}

Result<std::string> Connection::QueryText(std::string_view sql,
                                          std::string_view what) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()),
                              &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, what);
  rc = sqlite3_step(stmt);
  std::string out;
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (text != nullptr) {
      out.assign(reinterpret_cast<const char*>(text),
                 static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
    }
  } else if (rc != SQLITE_DONE) {
    Status s = Error(rc, what);
    sqlite3_finalize(stmt);
    return s;
  }
  sqlite3_finalize(stmt);
  return out;
}

Result<int64_t> Connection::QueryInt(std::string_view sql,
                                     std::string_view what) {
  POSTA_ASSIGN_OR_RETURN(std::string text, QueryText(sql, what));
  if (text.empty()) return int64_t{0};
  try {
    return static_cast<int64_t>(std::stoll(text));
  } catch (const std::exception&) {
    return Status::Corruption(std::string(what) + " (" + path_ + ")",
                              "not a number: " + text.substr(0, 40));
  }
}

// ---- Transaction ----

Transaction::~Transaction() { Rollback(); }

Status Transaction::Begin() {
  POSTA_ASSIGN_OR_RETURN(
      Statement st, conn_.Prepare(immediate_ ? "BEGIN IMMEDIATE" : "BEGIN"));
  POSTA_RETURN_IF_ERROR(st.Run());
  open_ = true;
  return Status::Ok();
}

Status Transaction::Commit() {
  POSTA_ASSIGN_OR_RETURN(Statement st, conn_.Prepare("COMMIT"));
  Status s = st.Run();
  if (s.ok()) open_ = false;
  return s;
}

void Transaction::Rollback() {
  if (!open_) return;
  open_ = false;
  // SQLite may already have rolled back on its own (an I/O error or a full
  // disk during the statement); ROLLBACK then has nothing to do.
  if (conn_.InAutocommit()) return;
  auto st = conn_.Prepare("ROLLBACK");
  if (st.ok()) (void)st->Run();
}

}  // namespace posta::storage::internal
