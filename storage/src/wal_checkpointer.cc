#include "wal_checkpointer.h"

#include <sqlite3.h>

#include <algorithm>

#include "sqlite_util.h"

namespace posta::storage::internal {

WalCheckpointer::WalCheckpointer(Connection& writer, std::string path,
                                 std::string vfs, int64_t page_bytes,
                                 int64_t ask_bytes, int64_t writer_bytes)
    : writer_(writer),
      path_(std::move(path)),
      vfs_(std::move(vfs)),
      ask_pages_(static_cast<int>(std::max<int64_t>(ask_bytes / page_bytes, 1))),
      writer_pages_(
          static_cast<int>(std::max<int64_t>(writer_bytes / page_bytes, 1))) {
  sqlite3_wal_hook(writer_.db(), &WalCheckpointer::OnCommit, this);
}

WalCheckpointer::~WalCheckpointer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  sqlite3_wal_autocheckpoint(writer_.db(), ask_pages_);
}

int WalCheckpointer::background_runs() const {
  std::lock_guard lock(mu_);
  return runs_;
}

// Called by SQLite on the writer's thread after each commit, with the
// pages now in the log.
int WalCheckpointer::OnCommit(void* self, sqlite3* db, const char* schema,
                              int pages) {
  auto* checkpointer = static_cast<WalCheckpointer*>(self);
  if (pages >= checkpointer->writer_pages_) {
    // As SQLite's automatic checkpoint would, once the thread's copy under
    // way (if any) is done. Errors are ignored as SQLite ignores its own:
    // the commit stands, and the log is copied by a later checkpoint or at
    // close.
    std::lock_guard copying(checkpointer->copy_mu_);
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                              nullptr);
  } else if (pages >= checkpointer->ask_pages_) {
    checkpointer->Ask();
  }
  return SQLITE_OK;
}

void WalCheckpointer::Ask() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    asked_ = true;
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  }
  cv_.notify_one();
}

void WalCheckpointer::Run() {
  std::unique_ptr<Connection> conn;
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return asked_ || stopping_; });
    if (stopping_) break;
    asked_ = false;
    lock.unlock();
    if (conn == nullptr) {
      // Failing to open is left to the writer's own threshold.
      auto opened = Connection::Open(
          path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs_, 0);
      // A connection learns that the file is in WAL mode from its header,
      // on its first read; until then a checkpoint on it copies nothing.
      if (opened.ok() && (*opened)
                             ->Exec("SELECT count(*) FROM sqlite_schema",
                                    "read the header")
                             .ok()) {
        conn = std::move(opened).value();
      }
    }
    if (conn != nullptr) {
      // Passive: copies what no reader still needs, waits for no one.
      std::lock_guard copying(copy_mu_);
      sqlite3_wal_checkpoint_v2(conn->db(), "main", SQLITE_CHECKPOINT_PASSIVE,
                                nullptr, nullptr);
    }
    lock.lock();
    ++runs_;
  }
  lock.unlock();
  conn.reset();
}

}  // namespace posta::storage::internal
