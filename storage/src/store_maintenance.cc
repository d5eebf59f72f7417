// ContentDigest and Backup: whole-database reads.
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "hasher.h"
#include "posta/base/file_sync.h"
#include "record_rows.h"
#include "schema.h"
#include "sqlite_store.h"

namespace posta::storage::internal {
namespace {

Status HashRows(Connection& conn, std::string_view sql, std::string_view tag,
                Hasher& hasher) {
  POSTA_ASSIGN_OR_RETURN(Statement st, conn.Prepare(sql));
  int columns = sqlite3_column_count(st.raw());
  hasher.Field(tag);
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    hasher.Field("row");
    for (int c = 0; c < columns; ++c) hasher.Field(st.ColumnView(c));
  }
  return Status::Ok();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Renames without replacing a file that appeared meanwhile.
Status RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(),
                  RENAME_NOREPLACE) == 0) {
    return Status::Ok();
  }
  if (errno == EEXIST) return Status::Conflict(to, "file exists");
  if (errno != EINVAL && errno != ENOSYS) {
    return Status::IOError(to, std::strerror(errno));
  }
  // The file system cannot refuse to replace: check, then rename.
  if (PathExists(to)) return Status::Conflict(to, "file exists");
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Status::IOError(to, std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> SqliteStore::ContentDigest() {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  Connection& conn = lease.conn();
  Transaction snapshot(conn, /*immediate=*/false);
  POSTA_RETURN_IF_ERROR(snapshot.Begin());
  Hasher hasher;
  hasher.Field("posta content digest 1");
  POSTA_RETURN_IF_ERROR(HashRows(conn,
                                 "SELECT " + std::string(kRecordColumns) +
                                     " FROM " + std::string(kCurrentRecords) +
                                     " ORDER BY r.type, r.id",
                                 "records", hasher));
  // versions is both the history and the change log: its seq is hashed too.
  POSTA_RETURN_IF_ERROR(HashRows(conn,
                                 "SELECT v.seq, v.bases, " +
                                     std::string(kRecordColumns) + " FROM " +
                                     std::string(kAllVersions) +
                                     " ORDER BY v.seq",
                                 "versions", hasher));
  POSTA_RETURN_IF_ERROR(snapshot.Commit());
  return hasher.Hex();
}

Status SqliteStore::Backup(const std::string& dest_path,
                           const ProgressFn& progress) {
  const std::string where = "backup to " + dest_path;
  if (dest_path.empty())
    return Status::InvalidArgument("backup", "no destination");
  if (PathExists(dest_path)) return Status::Conflict(where, "file exists");
  const std::string partial = dest_path + ".partial";
  RemoveDatabaseFiles(partial);  // left by an earlier attempt that died

  Status status = [&]() -> Status {
    POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
    Connection& src = lease.conn();
    // A read transaction held through every step pins one snapshot: writers
    // go on appending to the WAL, and the copy never restarts.
    Transaction snapshot(src, /*immediate=*/false);
    POSTA_RETURN_IF_ERROR(snapshot.Begin());
    POSTA_RETURN_IF_ERROR(
        src.QueryInt("SELECT count(*) FROM meta", "start backup snapshot")
            .status());

    auto dest = Connection::Open(
        partial,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
        options_.vfs, static_cast<int>(options_.busy_timeout.count()));
    if (!dest.ok()) return dest.status().WithContext(where);
    Connection& copy = **dest;
    sqlite3_backup* backup =
        sqlite3_backup_init(copy.db(), "main", src.db(), "main");
    if (backup == nullptr) {
      return SqliteStatus(sqlite3_errcode(copy.db()), where, partial,
                          sqlite3_errmsg(copy.db()));
    }
    // Steps of about 1 MiB, whatever the page size, for the progress shown.
    const Result<int64_t> page_bytes =
        src.QueryInt("PRAGMA page_size", "read page size");
    const int step_pages =
        page_bytes.ok() && *page_bytes > 0
            ? static_cast<int>(std::max<int64_t>(1, (1 << 20) / *page_bytes))
            : 256;
    int rc = SQLITE_OK;
    while (rc == SQLITE_OK) {
      rc = sqlite3_backup_step(backup, step_pages);
      if (progress) {
        int64_t total = sqlite3_backup_pagecount(backup);
        progress(total - sqlite3_backup_remaining(backup), total);
      }
    }
    int finish_rc = sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) {
      return SqliteStatus(rc, where, partial, sqlite3_errstr(rc));
    }
    if (finish_rc != SQLITE_OK) return copy.Error(finish_rc, where);
    POSTA_RETURN_IF_ERROR(snapshot.Commit());

    POSTA_ASSIGN_OR_RETURN(std::string check,
                           copy.QueryText("PRAGMA integrity_check", where));
    if (check != "ok") {
      return CheckComplaintStatus(where, "copy fails integrity_check: ", check);
    }
    dest->reset();  // closes the copy, folding any WAL into the file
    if (PathExists(partial + "-wal")) {
      return Status::IOError(where, "the copy's WAL was not checkpointed");
    }
    POSTA_RETURN_IF_ERROR(base::SyncPath(partial, O_RDONLY).WithContext(where));
    POSTA_RETURN_IF_ERROR(
        RenameNoReplace(partial, dest_path).WithContext("backup"));
    return base::SyncPath(DirName(dest_path), O_RDONLY | O_DIRECTORY)
        .WithContext(where);
  }();
  if (!status.ok()) RemoveDatabaseFiles(partial);
  return status;
}

}  // namespace posta::storage::internal

namespace posta::storage {

void RemoveDatabaseFiles(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    ::unlink((path + suffix).c_str());
  }
}

Result<DatabaseFileInfo> InspectDatabaseFile(const std::string& path) {
  using internal::Connection;
  const std::string where = "database file " + path;
  {
    // SQLite would open almost anything lazily; the header says at once.
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"),
                                               &std::fclose);
    if (!file) return Status::NotFound(where, std::strerror(errno));
    char header[16] = {};
    size_t n = std::fread(header, 1, sizeof header, file.get());
    if (n != sizeof header ||
        std::memcmp(header, "SQLite format 3", sizeof header) != 0) {
      return Status::Malformed(where, "not a posta database (not SQLite)");
    }
  }
  POSTA_ASSIGN_OR_RETURN(
      std::unique_ptr<Connection> conn,
      Connection::Open(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, "",
                       10000));
  POSTA_ASSIGN_OR_RETURN(
      int64_t version,
      conn->QueryInt("PRAGMA user_version", "read schema version"));
  if (version > internal::kSchemaVersion) {
    return Status::VersionMismatch(
        where, "schema version " + std::to_string(version) +
                   " is newer than this posta supports (" +
                   std::to_string(internal::kSchemaVersion) +
                   "); use a newer posta");
  }
  // Before reading anything else: a damaged file says so, whatever page
  // the damage hit.
  POSTA_ASSIGN_OR_RETURN(std::string check,
                         conn->QueryText("PRAGMA integrity_check", where));
  if (check != "ok") {
    return internal::CheckComplaintStatus(where, "fails integrity_check: ",
                                          check);
  }
  DatabaseFileInfo info;
  info.schema_version = static_cast<int>(version);
  auto meta = [&](std::string_view key, std::string* out) -> Status {
    Result<std::string> value = internal::ReadMeta(*conn, key);
    if (!value.ok()) {
      return Status::Malformed(
          where, "not a posta database (no " + std::string(key) + " in meta)");
    }
    *out = std::move(value).value();
    return Status::Ok();
  };
  if (version < 1) {
    return Status::Malformed(where, "not a posta database (no schema)");
  }
  POSTA_RETURN_IF_ERROR(meta(internal::kMetaNodeId, &info.node_id));
  POSTA_RETURN_IF_ERROR(meta(internal::kMetaFacility, &info.facility));
  POSTA_RETURN_IF_ERROR(meta(internal::kMetaRole, &info.role));
  return info;
}

}  // namespace posta::storage
