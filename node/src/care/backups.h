// Scheduled backups: `posta serve` takes a verified copy of its database
// into [backup] dir every [backup] every_h hours and keeps the newest
// [backup] keep of them. Each copy is RecordStore::Backup (SQLite online
// backup into a temp name, PRAGMA integrity_check on the copy, then a
// rename), the same as `posta backup`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.h"
#include "posta/base/clock.h"
#include "posta/base/env.h"
#include "posta/storage/record_store.h"

namespace posta::node {

// One scheduled backup file, named "posta-YYYYMMDD-HHMMSSZ.db" after the
// UTC time it was taken.
struct BackupFile {
  std::string path;
  int64_t taken_ms = 0;  // from the name
  uint64_t bytes = 0;
};

// The file name of a backup taken at `ms`.
std::string BackupFileName(int64_t ms);
// The time in a name made by BackupFileName; nullopt for any other name.
std::optional<int64_t> ParseBackupFileName(std::string_view name);

// The scheduled backups in `dir`, newest first; other files are ignored.
// Empty (not an error) when the directory does not exist.
Result<std::vector<BackupFile>> ListBackups(const std::string& dir);

// What the node knows of its scheduled backups, for /health, /metrics and
// `posta status`.
struct BackupState {
  bool enabled = false;  // every_h > 0
  std::string dir;
  int64_t last_success_ms = 0;  // time of the newest backup (0: none)
  uint64_t last_bytes = 0;      // its size
  std::string last_path;
  int64_t last_attempt_ms = 0;
  std::string last_error;  // empty after a success
  int64_t next_ms = 0;     // when the next one is due
  int64_t backups_ok = 0;  // since start
  int64_t backups_failed = 0;
};

// Runs the schedule on a thread of its own. At start it looks at the
// newest backup in the directory: if it is older than every_h (or there is
// none) a backup is taken at once, else at its time. A failure is logged,
// kept in state(), and retried after kBackupRetry (or every_h when
// shorter).
class BackupScheduler {
 public:
  static constexpr std::chrono::minutes kBackupRetry{30};

  // `store`, `clock` and `env` are not owned and must outlive the
  // scheduler. Reads the directory's newest backup; starts no thread.
  BackupScheduler(const NodeConfig& config, storage::RecordStore& store,
                  base::Clock& clock, base::Env& env);
  // Stops the thread; a backup in progress is finished first.
  ~BackupScheduler();

  // Starts the thread. REQUIRES: config.backup_every > 0.
  void Start();

  // Takes one backup now, then removes the oldest beyond `keep`. Refuses
  // (NoSpace) when the copy would bring the backup directory's disk below
  // the disk guard's floor. Updates state().
  Status RunOnce();

  BackupState state() const;

 private:
  void Run();

  const NodeConfig config_;
  storage::RecordStore& store_;
  base::Clock& clock_;
  base::Env& env_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  BackupState state_;
  std::thread thread_;
};

}  // namespace posta::node
