#include "sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "posta/base/env.h"
#include "record_rows.h"
#include "schema.h"

namespace posta::storage {

Result<std::unique_ptr<RecordStore>> OpenRecordStore(
    const StoreOptions& options) {
  return internal::SqliteStore::Open(options);
}

namespace internal {
namespace {

// The page size of a new database (ConfigureWriter).
constexpr int kPageBytes = 8192;

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// PRAGMA quick_check: Corruption with SQLite's first complaint (IOError
// when a page could not be read).
Status QuickCheck(Connection& conn, std::string_view where) {
  POSTA_ASSIGN_OR_RETURN(std::string first,
                         conn.QueryText("PRAGMA quick_check", "quick_check"));
  if (first != "ok") return CheckComplaintStatus(where, "", first);
  return Status::Ok();
}

}  // namespace

SqliteStore::SqliteStore(const StoreOptions& options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : &base::SystemClock()),
      random_(options.random) {
  if (random_ == nullptr) {
    owned_random_ = std::make_unique<base::Random>();
    random_ = owned_random_.get();
  }
  in_memory_ = options_.path == ":memory:";
}

SqliteStore::~SqliteStore() {
  // Deferred audit entries (reads) are committed before closing. A failure
  // has no one to report to: the entries are lost as a crash would lose
  // them.
  if (writer_ != nullptr && !options_.read_only) {
    [[maybe_unused]] Status flushed = FlushAudit();
  }
  // The checkpointer and the readers go first so the writer's close is the
  // last one and checkpoints the WAL into the main file.
  checkpointer_.reset();
  idle_readers_.clear();
  writer_.reset();
}

Result<std::unique_ptr<RecordStore>> SqliteStore::Open(
    const StoreOptions& options) {
  if (options.path.empty()) {
    return Status::InvalidArgument("store path", "empty");
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(options));
  POSTA_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<RecordStore>(std::move(store));
}

Status SqliteStore::Init() {
  const bool may_create = options_.create_if_missing && !options_.read_only;
  if (!in_memory_ && !FileExists(options_.path) && !may_create) {
    return Status::NotFound(Where(),
                            "does not exist; run `posta init` to create it");
  }
  int flags = SQLITE_OPEN_NOMUTEX;
  if (options_.read_only) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE;
    if (may_create) flags |= SQLITE_OPEN_CREATE;
  }
  POSTA_ASSIGN_OR_RETURN(
      writer_,
      Connection::Open(options_.path, flags, options_.vfs,
                       static_cast<int>(options_.busy_timeout.count())));

  // Before anything that writes: a damaged file is reported, not touched.
  POSTA_RETURN_IF_ERROR(QuickCheck(*writer_, Where()));
  POSTA_ASSIGN_OR_RETURN(
      int64_t version,
      writer_->QueryInt("PRAGMA user_version", "read schema version"));
  if (version > kSchemaVersion) {
    return Status::VersionMismatch(
        Where(), "schema version " + std::to_string(version) +
                     " is newer than this posta supports (" +
                     std::to_string(kSchemaVersion) + "); upgrade posta");
  }
  if (version >= 1 && !options_.facility.empty()) {
    POSTA_ASSIGN_OR_RETURN(std::string stored,
                           ReadMeta(*writer_, kMetaFacility));
    if (stored != options_.facility) {
      return Status::InvalidArgument(Where(),
                                     "it belongs to facility \"" + stored +
                                         "\", not the configured facility \"" +
                                         options_.facility + "\"");
    }
  }
  if (!options_.read_only) {
    POSTA_RETURN_IF_ERROR(ConfigureWriter());
    if (!in_memory_) {
      POSTA_ASSIGN_OR_RETURN(
          int64_t page_bytes,
          writer_->QueryInt("PRAGMA page_size", "read page size"));
      checkpointer_ = std::make_unique<WalCheckpointer>(
          *writer_, options_.path, options_.vfs, page_bytes);
    }
  }
  POSTA_RETURN_IF_ERROR(CreateOrMigrate(static_cast<int>(version)));
  POSTA_RETURN_IF_ERROR(LoadMeta());
  // The check read every page into the writer's cache (up to its size, 32
  // MiB by default): a node does not keep them for nothing.
  sqlite3_db_release_memory(writer_->db());
  return Status::Ok();
}

Status SqliteStore::ConfigureWriter() {
  // A new database gets pages of 8 KiB, not SQLite's 4 KiB: a batch of
  // records and their index rows dirty fewer pages, so a sync or an import
  // writes, copies and syncs fewer log frames. (16 KiB was faster still,
  // but every page an idle node touches is cached: 0.7 MB more.) A
  // database that exists keeps the size it has (the pragma changes nothing
  // once the file has pages).
  POSTA_RETURN_IF_ERROR(
      writer_->Exec("PRAGMA page_size = " + std::to_string(kPageBytes),
                    "set page size"));
  POSTA_ASSIGN_OR_RETURN(
      std::string mode,
      writer_->QueryText("PRAGMA journal_mode = WAL", "set WAL mode"));
  if (!in_memory_ && mode != "wal") {
    return Status::IOError(
        Where(), "cannot use WAL mode (journal mode is " + mode + ")");
  }
  const char* sync = options_.synchronous == StoreOptions::Synchronous::kFull
                         ? "PRAGMA synchronous = FULL"
                         : "PRAGMA synchronous = NORMAL";
  POSTA_RETURN_IF_ERROR(writer_->Exec(sync, "set synchronous"));
  // A page cache (allocated as used; 32 MiB by default) keeps a large
  // import batch in memory until its commit instead of spilling pages to
  // the WAL early.
  POSTA_RETURN_IF_ERROR(
      writer_->Exec("PRAGMA cache_size = -" +
                        std::to_string(std::max<size_t>(
                            options_.cache_bytes / 1024, 256)),
                    "set cache size"));
  // The per-op savepoints keep their undo pages in memory, not a temp file.
  POSTA_RETURN_IF_ERROR(
      writer_->Exec("PRAGMA temp_store = MEMORY", "set temp store"));
  return writer_->Exec("PRAGMA foreign_keys = ON", "enable foreign keys");
}

Status SqliteStore::CreateOrMigrate(int version) {
  if (version == kSchemaVersion) return Status::Ok();
  if (version == 0) {
    POSTA_ASSIGN_OR_RETURN(
        int64_t objects,
        writer_->QueryInt("SELECT count(*) FROM sqlite_schema", "read schema"));
    if (objects > 0) {
      return Status::InvalidArgument(
          Where(), "not a posta database (tables but no schema version)");
    }
    if (!options_.create_if_missing || options_.read_only) {
      return Status::NotFound(Where(),
                              "is empty; run `posta init` to create it");
    }
    if (options_.facility.empty()) {
      return Status::InvalidArgument("facility",
                                     "required to create a database");
    }
    if (options_.role != "clinic" && options_.role != "hub") {
      return Status::InvalidArgument(
          "role",
          "\"" + options_.role.substr(0, 40) + "\" is not clinic or hub");
    }
  } else if (options_.read_only) {
    return Status::VersionMismatch(
        Where(), "schema version " + std::to_string(version) +
                     " needs an upgrade to " + std::to_string(kSchemaVersion) +
                     "; open it once read-write (posta serve) first");
  }
  Transaction txn(*writer_, /*immediate=*/true);
  POSTA_RETURN_IF_ERROR(txn.Begin());
  POSTA_RETURN_IF_ERROR(Migrate(*writer_, version, kSchemaVersion));
  if (version == 0) {
    NewDatabaseInfo info;
    info.node_id = random_->Hex(16);
    info.facility = options_.facility;
    info.role = options_.role;
    info.created_at_ms = clock_->WallNowMillis();
    POSTA_RETURN_IF_ERROR(InsertMeta(*writer_, info));
  }
  return txn.Commit();
}

Status SqliteStore::LoadMeta() {
  POSTA_ASSIGN_OR_RETURN(node_id_, ReadMeta(*writer_, kMetaNodeId));
  POSTA_ASSIGN_OR_RETURN(facility_, ReadMeta(*writer_, kMetaFacility));
  POSTA_ASSIGN_OR_RETURN(role_, ReadMeta(*writer_, kMetaRole));
  POSTA_ASSIGN_OR_RETURN(std::string hlc_text, ReadMeta(*writer_, kMetaHlc));
  if (!base::IsValidNodeId(node_id_)) {
    return Status::Corruption(Where(), "meta node_id is not a node id");
  }
  Result<base::HlcStamp> last = base::HlcStamp::Parse(hlc_text);
  if (!last.ok()) {
    return Status::Corruption(Where(), "meta hlc: " + last.status().message());
  }
  last_stamp_at_open_ms_ = last->wall_ms;
  wall_clock_at_open_ms_ = clock_->WallNowMillis();
  hlc_ = std::make_unique<base::HybridLogicalClock>(*clock_, node_id_,
                                                    std::move(last).value());
  return Status::Ok();
}

Status SqliteStore::CheckWriteSpace() {
  if (options_.min_free_bytes == 0 || in_memory_) return Status::Ok();
  const std::string dir =
      std::filesystem::path(options_.path).parent_path().string();
  const std::string probed = dir.empty() ? "." : dir;
  Result<uint64_t> free = options_.free_bytes
                              ? options_.free_bytes(probed)
                              : base::Env::Default().FreeBytes(probed);
  // Unknown free space is no reason to stop a clinic; SQLite still reports
  // a full disk at commit, and nothing half-written is kept.
  if (!free.ok() || *free >= options_.min_free_bytes) return Status::Ok();
  auto mib = [](uint64_t bytes) {
    return std::to_string(bytes >> 20) + " MiB";
  };
  std::string setting = options_.min_free_setting.empty()
                            ? "StoreOptions::min_free_bytes"
                            : options_.min_free_setting;
  return Status::NoSpace(
      probed, mib(*free) + " free, below the floor of " +
                  mib(options_.min_free_bytes) + " (" + setting +
                  "); new writes are refused until space is freed, reads "
                  "continue");
}

// ---- Readers ----

SqliteStore::ReadLease::ReadLease(SqliteStore* store,
                                  std::unique_ptr<Connection> owned)
    : store_(store), owned_(std::move(owned)) {}

SqliteStore::ReadLease::ReadLease(SqliteStore* store,
                                  std::unique_lock<std::mutex> writer_lock)
    : store_(store), writer_lock_(std::move(writer_lock)) {}

SqliteStore::ReadLease::~ReadLease() {
  if (owned_) store_->ReleaseReader(std::move(owned_));
}

Result<SqliteStore::ReadLease> SqliteStore::AcquireReader() {
  if (in_memory_) {
    // A second connection to ":memory:" would be a different database.
    return ReadLease(this, std::unique_lock<std::mutex>(writer_mu_));
  }
  std::unique_lock lock(pool_mu_);
  pool_cv_.wait(lock, [&] {
    return !idle_readers_.empty() || open_readers_ < kMaxReaders;
  });
  if (!idle_readers_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_readers_.back());
    idle_readers_.pop_back();
    return ReadLease(this, std::move(conn));
  }
  ++open_readers_;
  lock.unlock();
  auto conn = Connection::Open(
      options_.path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, options_.vfs,
      static_cast<int>(options_.busy_timeout.count()));
  if (!conn.ok()) {
    lock.lock();
    --open_readers_;
    pool_cv_.notify_one();
    return conn.status();
  }
  return ReadLease(this, std::move(conn).value());
}

void SqliteStore::ReleaseReader(std::unique_ptr<Connection> conn) {
  std::lock_guard lock(pool_mu_);
  idle_readers_.push_back(std::move(conn));
  pool_cv_.notify_one();
}

// ---- Reads ----

Result<Record> SqliteStore::Get(ResourceType type, const std::string& id) {
  static const std::string kGetSql =
      "SELECT " + std::string(kRecordColumns) + " FROM " +
      std::string(kCurrentRecords) + " WHERE r.type = ?1 AND r.id = ?2";
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(Statement st, lease.conn().Prepare(kGetSql));
  st.BindText(1, ResourceTypeName(type));
  st.BindText(2, id);
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound(RecordName(type, id));
  return RecordFromRow(st);
}

Result<Record> SqliteStore::GetVersion(ResourceType type, const std::string& id,
                                       const base::HlcStamp& version) {
  static const std::string kGetVersionSql =
      "SELECT " + std::string(kRecordColumns) + " FROM " +
      std::string(kAllVersions) +
      " WHERE r.type = ?1 AND r.id = ?2 AND v.version = ?3";
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(Statement st, lease.conn().Prepare(kGetVersionSql));
  st.BindText(1, ResourceTypeName(type));
  st.BindText(2, id);
  st.BindText(3, version.ToString());
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) {
    return Status::NotFound(RecordName(type, id) + "/_history/" +
                            version.ToString());
  }
  return RecordFromRow(st);
}

Result<std::vector<Record>> SqliteStore::History(ResourceType type,
                                                 const std::string& id,
                                                 size_t limit) {
  static const std::string kHistorySql =
      "SELECT " + std::string(kRecordColumns) + " FROM " +
      std::string(kAllVersions) +
      " WHERE r.type = ?1 AND r.id = ?2 ORDER BY v.seq DESC LIMIT ?3";
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(Statement st, lease.conn().Prepare(kHistorySql));
  st.BindText(1, ResourceTypeName(type));
  st.BindText(2, id);
  st.BindInt(3, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<Record> out;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    POSTA_ASSIGN_OR_RETURN(Record record, RecordFromRow(st));
    out.push_back(std::move(record));
  }
  return out;
}

Result<std::vector<Change>> SqliteStore::ChangesSince(int64_t after_seq,
                                                      size_t limit) {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      Statement st, lease.conn().Prepare(
                        "SELECT v.seq, r.type, r.id, v.version, v.deleted "
                        "FROM versions v JOIN records r ON r.rid = v.rid "
                        "WHERE v.seq > ?1 ORDER BY v.seq LIMIT ?2"));
  st.BindInt(1, after_seq);
  st.BindInt(2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<Change> out;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    Change change;
    change.seq = st.ColumnInt(0);
    change.id = st.ColumnText(2);
    std::string where = "change " + std::to_string(change.seq);
    std::optional<ResourceType> type = ParseResourceType(st.ColumnView(1));
    if (!type) return Status::Corruption(where, "unknown resource type");
    change.type = *type;
    Result<base::HlcStamp> version = base::HlcStamp::Parse(st.ColumnView(3));
    if (!version.ok())
      return Status::Corruption(where, version.status().message());
    change.version = std::move(version).value();
    change.deleted = st.ColumnInt(4) != 0;
    out.push_back(std::move(change));
  }
  return out;
}

Result<StoreStats> SqliteStore::Stats() {
  StoreStats stats;
  stats.node_id = node_id_;
  stats.facility = facility_;
  stats.role = role_;
  stats.schema_version = kSchemaVersion;
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  Connection& conn = lease.conn();
  Transaction snapshot(conn, /*immediate=*/false);
  POSTA_RETURN_IF_ERROR(snapshot.Begin());
  {
    // The (type, id) index answers the totals; the partial index on deleted
    // rows answers the rest, so no table scan.
    POSTA_ASSIGN_OR_RETURN(
        Statement all,
        conn.Prepare("SELECT type, count(*) FROM records GROUP BY type"));
    while (true) {
      POSTA_ASSIGN_OR_RETURN(bool row, all.Step());
      if (!row) break;
      std::optional<ResourceType> type = ParseResourceType(all.ColumnView(0));
      if (type) stats.live_records[*type] += all.ColumnInt(1);
    }
    POSTA_ASSIGN_OR_RETURN(
        Statement dead,
        conn.Prepare("SELECT type, count(*) FROM records WHERE deleted = 1 "
                     "GROUP BY type"));
    while (true) {
      POSTA_ASSIGN_OR_RETURN(bool row, dead.Step());
      if (!row) break;
      std::optional<ResourceType> type = ParseResourceType(dead.ColumnView(0));
      if (type) stats.live_records[*type] -= dead.ColumnInt(1);
      stats.deleted_records += dead.ColumnInt(1);
    }
    POSTA_ASSIGN_OR_RETURN(
        Statement last,
        conn.Prepare("SELECT seq, version FROM versions "
                     "ORDER BY seq DESC LIMIT 1"));
    POSTA_ASSIGN_OR_RETURN(bool row, last.Step());
    if (row) {
      stats.last_seq = last.ColumnInt(0);
      Result<base::HlcStamp> stamp = base::HlcStamp::Parse(last.ColumnView(1));
      if (stamp.ok()) stats.last_write_ms = stamp->wall_ms;
    }
  }
  POSTA_ASSIGN_OR_RETURN(
      stats.open_conflicts,
      conn.QueryInt("SELECT count(*) FROM conflicts WHERE state = 0",
                    "count open conflicts"));
  POSTA_ASSIGN_OR_RETURN(
      stats.clock_flags,
      conn.QueryInt("SELECT count(*) FROM clock_flags", "count clock flags"));
  POSTA_ASSIGN_OR_RETURN(int64_t pages,
                         conn.QueryInt("PRAGMA page_count", "page count"));
  POSTA_ASSIGN_OR_RETURN(int64_t page_size,
                         conn.QueryInt("PRAGMA page_size", "page size"));
  POSTA_RETURN_IF_ERROR(snapshot.Commit());
  stats.database_bytes = pages * page_size;
  if (!in_memory_) {
    struct stat st;
    if (::stat((options_.path + "-wal").c_str(), &st) == 0) {
      stats.database_bytes += static_cast<int64_t>(st.st_size);
    }
  }
  return stats;
}

Status SqliteStore::CheckIntegrity() {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  return QuickCheck(lease.conn(), Where());
}

}  // namespace internal
}  // namespace posta::storage
