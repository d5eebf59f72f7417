// A SQLite VFS for fault tests: power loss and I/O errors.
//
// It forwards every call to the default (unix) VFS, so the process sees
// its files as usual, and meanwhile keeps a model of what a disk would hold
// after a power cut: for each database, WAL and journal file, the content
// made durable by the last xSync of that file, and the writes and truncates
// since then (the page cache). What is modelled:
//   - a write or truncate is durable only after an xSync of the same file
//     (by any connection);
//   - a file created here is durable (named in its directory) from its
//     first xSync: the unix VFS syncs the directory then for WAL and
//     journal files; before that a power cut removes it;
//   - a deletion is durable at once (SQLite deletes the WAL only at close,
//     after a checkpoint that synced the main file, so either outcome of a
//     lost deletion is a state SQLite recovers from);
//   - a failed xSync loses the file's unsynced writes for good, as Linux
//     does after a writeback error (they stay in the page cache, so reads
//     still see them, but no later xSync makes them durable);
//   - the -shm file is not modelled: SQLite rebuilds the WAL index at the
//     first open after a crash.
// PowerCut() rewrites the files as a power cut could leave them: the
// durable content plus a seeded choice of the unsynced writes (none, all,
// some in any order, one of them torn to a prefix).
//
// Every file operation (xRead, xWrite, xTruncate, xSync, xDelete) is
// counted from Arm(); a fault fires at the N-th counted op: a crash (that op
// and every later one fail, as if the process had stopped there), or an
// error once, or an error from then on (a failing or full disk).
//
// Thread-safe, but op numbers are only reproducible when one thread does
// the I/O (the fault tests call the store from one thread).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace posta::testing {

// Kinds of counted file operation, as a bit mask.
enum VfsOp : uint32_t {
  kVfsRead = 1u << 0,
  kVfsWrite = 1u << 1,
  kVfsTruncate = 1u << 2,
  kVfsSync = 1u << 3,
  kVfsDelete = 1u << 4,
};
// What can change a disk: the ops a crash point sweep visits.
inline constexpr uint32_t kVfsMutatingOps =
    kVfsWrite | kVfsTruncate | kVfsSync | kVfsDelete;
inline constexpr uint32_t kVfsAllOps = kVfsMutatingOps | kVfsRead;

// "vfs_read", "vfs_write", ...
const char* VfsOpName(uint32_t op);

struct VfsFault {
  enum class Kind {
    kNone,        // count only
    kCrash,       // op `at_op` and everything after it fail: the process
                  // stopped there; PowerCut() decides what the disk keeps
    kFailOnce,    // op `at_op` fails, the ones after it work
    kFailForever  // op `at_op` and every later counted op fail until Disarm
  };
  Kind kind = Kind::kNone;
  // 1-based, counted from Arm() over the kinds in `ops`.
  int64_t at_op = 0;
  uint32_t ops = kVfsMutatingOps;
  // Only ops on -wal files count (and fail).
  bool wal_only = false;
  // What a failing xWrite returns (SQLITE_IOERR_WRITE, SQLITE_FULL, ...);
  // the other ops return their own SQLITE_IOERR_* code (reads
  // SQLITE_IOERR_READ, syncs SQLITE_IOERR_FSYNC, ...).
  int write_error = 0;  // 0: SQLITE_IOERR_WRITE
};

// How PowerCut treats the writes since each file's last xSync.
enum class CutMode {
  kDropAll,       // only what was synced
  kKeepAll,       // everything, in order (what kill -9 leaves)
  kSomeShuffled,  // each kept or dropped by the seed, kept ones in any order
  kSomeTorn,      // as kSomeShuffled, then one write applied as a prefix only
};
const char* CutModeName(CutMode mode);

struct CutReport {
  int64_t files = 0;          // files rewritten (or removed)
  int64_t removed = 0;        // never durably created, so removed
  int64_t pending = 0;        // unsynced writes and truncates seen
  int64_t kept = 0;           // of which applied
  int64_t torn_bytes = -1;    // prefix length of the torn write; -1: none
  bool write_failed = false;  // a file could not be rewritten
};

class PowerLossVfs {
 public:
  // The one instance, registered with SQLite on first use (not as the
  // default VFS).
  static PowerLossVfs& Get();

  // The name for StoreOptions::vfs.
  const char* name() const;

  // Forgets every tracked file, the counter, the fault and the modes.
  // REQUIRES: no file of this VFS is open. Files already on disk are taken
  // as durable when next opened.
  void Reset();

  // Starts counting from zero with this fault.
  void Arm(const VfsFault& fault);
  // No more faults; the counter keeps going. A crash stays a crash.
  void Disarm();

  // Counted ops since Arm().
  int64_t ops() const;
  // The crash point was reached.
  bool crashed() const;
  // Errors returned because of the fault (the crash included).
  int64_t injected() const;
  // The kind (VfsOp) of each counted op since Arm(), in order.
  std::vector<uint32_t> op_log() const;

  // A disk that lies: xSync returns OK and makes nothing durable. Shows
  // that the tests find lost acknowledgements when the disk cannot keep
  // them.
  void set_lie_about_sync(bool lie);

  // Rewrites every tracked file as a power cut could leave it (see the
  // file comment), then forgets them (as Reset). REQUIRES: no file of this
  // VFS is open (close the store first). Deterministic for a seed.
  CutReport PowerCut(CutMode mode, uint64_t seed);

 private:
  PowerLossVfs();
};

}  // namespace posta::testing
