// A SQLite VFS for tests that forwards to the default VFS and, while armed,
// fails every write or sync to a -wal file with a chosen error: a full disk
// or a failing disk at commit time.
#pragma once

namespace posta::storage::testing {

// The VFS name to put in StoreOptions::vfs. Registers it on first use.
const char* FailingVfsName();

// Until Disarm(), writes and syncs of WAL files return `sqlite_error`
// (SQLITE_FULL, SQLITE_IOERR_WRITE, ...).
void ArmWalFailure(int sqlite_error);
void DisarmWalFailure();

}  // namespace posta::storage::testing
