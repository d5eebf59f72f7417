// Copies the write-ahead log back into the database file on a thread of
// its own. SQLite's automatic checkpoint runs inside the commit of the
// connection that wrote, so every thousand pages a write waited for the
// copy and its fsync; with this, the writer only appends to the log.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

struct sqlite3;

namespace posta::storage::internal {

class Connection;

class WalCheckpointer {
 public:
  // A checkpoint is asked for when a commit leaves this much in the log
  // (SQLite's own automatic threshold, 1,000 pages of 4 KiB)...
  static constexpr int64_t kAskBytes = int64_t{4} << 20;
  // ...and the writer copies what is left itself once the log holds this
  // much: writes that never pause long enough for the log to start over
  // (it starts over only at a write that finds it all copied) do not let it
  // grow without bound. The higher, the less of a long stream of writes
  // the writer copies itself.
  static constexpr int64_t kWriterBytes = int64_t{64} << 20;

  // Takes over checkpointing from `writer`, whose file has pages of
  // `page_bytes` (its WAL hook, replacing the automatic checkpoint). The
  // thread, and its own read-write connection to `path` through `vfs`
  // (empty for the default), start at the first checkpoint asked for: an
  // idle node has neither. `writer` must outlive this object. Tests may
  // lower the two thresholds.
  WalCheckpointer(Connection& writer, std::string path, std::string vfs,
                  int64_t page_bytes, int64_t ask_bytes = kAskBytes,
                  int64_t writer_bytes = kWriterBytes);
  // Stops the thread after the checkpoint under way, closes its connection
  // and hands checkpointing back to SQLite, so that the writer's close is
  // the last and copies the rest.
  ~WalCheckpointer();
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Checkpoints run so far on the thread (for tests).
  int background_runs() const;

 private:
  static int OnCommit(void* self, sqlite3* db, const char* schema, int pages);
  void Ask();
  void Run();

  Connection& writer_;
  const std::string path_;
  const std::string vfs_;
  const int ask_pages_;
  const int writer_pages_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool asked_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  int runs_ = 0;           // guarded by mu_
  // Held by whoever copies, the thread or the writer: a passive checkpoint
  // started while another runs is refused at once (busy), so the writer
  // past its threshold waits for the thread's to end rather than let the
  // log grow on.
  std::mutex copy_mu_;
  std::thread thread_;     // started by the first Ask
};

}  // namespace posta::storage::internal
