#include "failing_vfs.h"

#include "powerloss_vfs.h"

namespace posta::storage::testing {

using posta::testing::PowerLossVfs;
using posta::testing::VfsFault;

const char* FailingVfsName() { return PowerLossVfs::Get().name(); }

void ArmWalFailure(int sqlite_error) {
  VfsFault fault;
  fault.kind = VfsFault::Kind::kFailForever;
  fault.at_op = 1;
  fault.ops = posta::testing::kVfsWrite | posta::testing::kVfsSync;
  fault.wal_only = true;
  fault.write_error = sqlite_error;
  PowerLossVfs::Get().Arm(fault);
}

void DisarmWalFailure() { PowerLossVfs::Get().Disarm(); }

}  // namespace posta::storage::testing
