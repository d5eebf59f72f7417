// A full or failing disk at commit time, for storage tests: while armed,
// every write or sync of a -wal file fails. A thin use of the power-loss
// VFS (tests/support/powerloss_vfs.h), which the fault tests drive op by op.
#pragma once

namespace posta::storage::testing {

// The VFS name to put in StoreOptions::vfs. Registers it on first use.
const char* FailingVfsName();

// Until Disarm(), writes of WAL files return `sqlite_error` (SQLITE_FULL,
// SQLITE_IOERR_WRITE, ...) and their syncs SQLITE_IOERR_FSYNC.
void ArmWalFailure(int sqlite_error);
void DisarmWalFailure();

}  // namespace posta::storage::testing
