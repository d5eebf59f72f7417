// posta restore: puts a backup back as the node's database, after checking
// that it is a sound posta database of this node, and keeps the database
// it replaces beside it.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "care/backups.h"
#include "care/serve_lock.h"
#include "cli/commands.h"
#include "posta/base/file_sync.h"

namespace posta::node::cli {

namespace {

// Renames `from` (and its -wal) to `to`, dropping its -shm (SQLite rebuilds
// it). Missing files are skipped.
Status MoveDatabase(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const char* suffix : {"", "-wal"}) {
    if (!fs::exists(from + suffix, ec)) continue;
    fs::rename(from + suffix, to + suffix, ec);
    if (ec) return Status::IOError(from + suffix, ec.message());
  }
  fs::remove(from + "-shm", ec);
  return Status::Ok();
}

}  // namespace

Status RunRestore(const RestoreOptions& options, Io& io) {
  if (options.file.empty()) return Status::InvalidArgument("FILE", "required");
  POSTA_ASSIGN_OR_RETURN(
      NodeConfig config,
      LoadNodeConfig(options.config_path, options.apply_config_log_level,
                     io.env));
  if (!io.env.FileExists(options.file)) {
    return Status::NotFound(options.file, "no such backup file");
  }
  POSTA_RETURN_IF_ERROR(io.env.CreateDirs(config.data_dir));
  // Held to the end: a node cannot start on a half-restored directory, and
  // a running node's database is never replaced under it.
  Result<std::unique_ptr<ServeLock>> lock = ServeLock::Acquire(config.data_dir);
  if (!lock.ok()) return lock.status().WithContext("restore refused");
  const std::string target = config.DatabasePath();
  const std::string copy = target + ".restoring";
  storage::RemoveDatabaseFiles(copy);  // left by a restore that died

  // The backup is checked as a copy in data_dir: the original may sit on a
  // read-only stick, and SQLite may need to write a -shm beside the file.
  {
    std::error_code ec;
    std::filesystem::copy_file(
        options.file, copy, std::filesystem::copy_options::overwrite_existing,
        ec);
    if (ec) {
      storage::RemoveDatabaseFiles(copy);
      return Status::IOError(
          options.file,
          "cannot copy into " + config.data_dir + ": " + ec.message());
    }
  }
  Result<storage::DatabaseFileInfo> incoming =
      storage::InspectDatabaseFile(copy);
  if (!incoming.ok()) {
    storage::RemoveDatabaseFiles(copy);
    const Status& s = incoming.status();
    // The checks ran on the copy; name the file the person gave.
    std::string why = s.message();
    if (size_t colon = why.find(": "); colon != std::string::npos) {
      why = why.substr(colon + 2);
    }
    Status refused = s;
    switch (s.code()) {
      case Status::Code::kCorruption:
        refused = Status::Corruption(
            options.file, why +
                              "; the backup is damaged: choose another one "
                              "(ls " +
                              config.BackupDir() + ")");
        break;
      case Status::Code::kMalformed:
        refused = Status::Malformed(options.file, why);
        break;
      case Status::Code::kVersionMismatch:
        refused = Status::VersionMismatch(options.file, why);
        break;
      default:
        break;
    }
    return refused.WithContext("restore refused");
  }
  auto refuse = [&](Status status) {
    storage::RemoveDatabaseFiles(copy);
    return status.WithContext("restore refused");
  };
  if (incoming->role != config.role) {
    return refuse(
        Status::InvalidArgument(options.file, "it is a " + incoming->role +
                                                  "'s database and this node "
                                                  "is a " +
                                                  config.role));
  }

  // Whose database is it? The current one says which node this box is;
  // when it is missing or unreadable, the config's facility is all we know.
  std::optional<storage::DatabaseFileInfo> current;
  if (io.env.FileExists(target)) {
    Result<storage::DatabaseFileInfo> now =
        storage::InspectDatabaseFile(target);
    if (now.ok()) current = std::move(now).value();
  }
  const std::string danger =
      "two boxes with one node id break sync: the hub takes both boxes' "
      "changes as one node's, and each box's changes overwrite the other's "
      "cursor so records go missing. Restore another node's backup only onto "
      "a box that replaces that node, never beside it; then pass "
      "--force-other-node";
  if (incoming->facility != config.facility && !options.force_other_node) {
    return refuse(Status::PermissionDenied(
        options.file, "it belongs to facility \"" + incoming->facility +
                          "\", not this node's \"" + config.facility + "\"; " +
                          danger));
  }
  if (current && current->node_id != incoming->node_id &&
      !options.force_other_node) {
    return refuse(Status::PermissionDenied(
        options.file, "it is the database of node " + incoming->node_id +
                          ", and this box is node " + current->node_id + "; " +
                          danger));
  }

  // In place: the old database moves aside (kept), the copy takes its name.
  std::string side;
  if (io.env.FileExists(target)) {
    side = config.data_dir + "/posta.db.before-restore-" +
           BackupFileName(io.clock.WallNowMillis()).substr(6);
    if (side.size() > 3 && side.substr(side.size() - 3) == ".db") {
      side.resize(side.size() - 3);
    }
    if (io.env.FileExists(side)) {
      return refuse(Status::Conflict(side, "exists; try again in a second"));
    }
    if (Status moved = MoveDatabase(target, side); !moved.ok()) {
      return refuse(moved);
    }
  }
  for (const char* sidecar : {"-wal", "-shm", "-journal"}) {
    std::error_code ec;
    std::filesystem::remove(copy + sidecar, ec);
  }
  POSTA_RETURN_IF_ERROR(base::SyncPath(copy, O_RDONLY));
  {
    std::error_code ec;
    std::filesystem::rename(copy, target, ec);
    if (ec) return Status::IOError(target, ec.message());
  }
  POSTA_RETURN_IF_ERROR(
      base::SyncPath(config.data_dir, O_RDONLY | O_DIRECTORY));

  io.out << "restored " << options.file << " (node " << incoming->node_id
         << ", facility " << incoming->facility << ", schema version "
         << incoming->schema_version << ") as " << target << "\n";
  if (!side.empty()) {
    io.out << "the database it replaced is kept as " << side << "\n";
  }
  if (incoming->schema_version < storage::CurrentSchemaVersion()) {
    io.out << "its schema is older; posta serve upgrades it at start\n";
  }
  if (current && current->node_id != incoming->node_id) {
    io.out << "this box is now node " << incoming->node_id
           << "; the box that had this id before must not sync again\n";
  }
  io.out << "start the node again: posta serve --config " << config.source_path
         << " (or systemctl start posta)\n";
  return Status::Ok();
}

}  // namespace posta::node::cli
