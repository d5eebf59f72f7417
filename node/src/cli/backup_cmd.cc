// posta backup: a consistent, verified copy of the database, taken while the
// node keeps serving.
#include "cli/commands.h"
#include "cli/progress.h"

namespace posta::node::cli {

Status RunBackup(const BackupOptions& options, Io& io) {
  if (options.dest.empty()) return Status::InvalidArgument("DEST", "required");
  if (io.env.FileExists(options.dest)) {
    return Status::Conflict(options.dest,
                            "already exists; posta backup never overwrites a "
                            "file (choose a new name)");
  }
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/true, io.env));

  ProgressDisplay display(
      io.err, {.label = "backup", .item_name = "pages", .tty = io.err_is_tty},
      io.clock);
  Status status = node.store->Backup(
      options.dest,
      [&](int64_t done, int64_t total) { display.Update(done, total, done); });
  display.Finish();
  if (!status.ok()) return status.WithContext("backup");

  auto size = io.env.FileSize(options.dest);
  io.out << "backup written to " << options.dest;
  if (size.ok())
    io.out << " (" << FormatBytes(static_cast<int64_t>(*size)) << ")";
  io.out << "\nverified (integrity_check ok)\n";
  return Status::Ok();
}

}  // namespace posta::node::cli
