// The disk guard: below StoreOptions::min_free_bytes every record write is
// refused before it starts, reads go on, and writes resume once space
// returns. The free space comes from the StoreOptions::free_bytes seam, so
// no disk is filled.
#include <gtest/gtest.h>

#include <atomic>

#include "reporting_merger.h"
#include "store_test_util.h"

namespace posta::storage::testing {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

class DiskGuardTest : public StoreFixture {
 protected:
  std::unique_ptr<RecordStore> OpenGuarded(const std::string& path) {
    StoreOptions options = Options(path);
    options.min_free_bytes = 64 * kMiB;
    options.min_free_setting = "[storage] min_free_mb in /etc/posta.toml";
    options.free_bytes = [this](const std::string& dir) -> Result<uint64_t> {
      probed_dir_ = dir;
      if (fail_probe_) return Status::IOError(dir, "statvfs failed");
      return free_.load();
    };
    auto store = OpenRecordStore(options);
    EXPECT_TRUE(posta::testing::IsOk(store));
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::atomic<uint64_t> free_{1024 * kMiB};
  bool fail_probe_ = false;
  std::string probed_dir_;
};

TEST_F(DiskGuardTest, BelowTheFloorWritesAreRefusedAndReadsContinue) {
  auto store = OpenGuarded(DbPath());
  ASSERT_NE(store, nullptr);
  const std::string kept = AddPatient(*store, "Before");
  EXPECT_EQ(probed_dir_, dir_.path());
  ASSERT_OK_AND_ASSIGN(StoreStats before, store->Stats());

  free_ = 10 * kMiB;
  Status space = store->CheckWriteSpace();
  EXPECT_EQ(space.code(), Status::Code::kNoSpace);
  // Names the free space, the floor and where it is set.
  EXPECT_NE(space.message().find("10 MiB free"), std::string::npos)
      << space.message();
  EXPECT_NE(space.message().find("64 MiB"), std::string::npos);
  EXPECT_NE(space.message().find("[storage] min_free_mb in /etc/posta.toml"),
            std::string::npos);

  WriteOutcome refused =
      store->Write(CreateOp(ResourceType::kPatient, PatientBody("During")));
  EXPECT_EQ(refused.status.code(), Status::Code::kNoSpace);
  auto batch = store->WriteBatch(std::vector<WriteOp>{
      CreateOp(ResourceType::kPatient, PatientBody("Batch"))});
  EXPECT_EQ(batch.status().code(), Status::Code::kNoSpace);
  auto moved = store->Transfer(ResourceType::kPatient, kept, "clinic-b");
  EXPECT_EQ(moved.status().code(), Status::Code::kNoSpace);

  // Nothing was written, and reads still answer.
  ASSERT_OK_AND_ASSIGN(StoreStats during, store->Stats());
  EXPECT_EQ(during.last_seq, before.last_seq);
  ASSERT_OK_AND_ASSIGN(Record read, store->Get(ResourceType::kPatient, kept));
  EXPECT_FALSE(read.deleted);

  // Space returns: writes resume.
  free_ = 65 * kMiB;
  EXPECT_OK(store->CheckWriteSpace());
  AddPatient(*store, "After");
  ASSERT_OK_AND_ASSIGN(StoreStats after, store->Stats());
  EXPECT_EQ(after.last_seq, before.last_seq + 1);
}

TEST_F(DiskGuardTest, ApplyingAnotherNodesChangesIsRefusedToo) {
  auto source = OpenStore();
  ASSERT_NE(source, nullptr);
  AddPatient(*source, "Remote");
  ASSERT_OK_AND_ASSIGN(ChangeBatch batch, source->ReadChanges(ChangeFilter{}));
  ASSERT_EQ(batch.changes.size(), 1u);

  auto hub = OpenGuarded(dir_.File("hub.db"));
  ASSERT_NE(hub, nullptr);
  free_ = 1 * kMiB;
  posta::testing::ReportingMerger merger;
  PeerState peer;
  peer.node_id = source->node_id();
  peer.facility = kFacility;
  peer.role = "clinic";
  peer.received_seq = batch.last_seq;
  auto applied =
      hub->ApplyChanges(batch.changes, batch.conflicts, merger, peer);
  EXPECT_EQ(applied.status().code(), Status::Code::kNoSpace);
  // Neither the change nor the cursor that covers it landed.
  EXPECT_TRUE(hub->GetPeer(source->node_id()).status().IsNotFound());

  free_ = 100 * kMiB;
  EXPECT_OK(hub->ApplyChanges(batch.changes, batch.conflicts, merger, peer));
}

TEST_F(DiskGuardTest, UnknownFreeSpaceOrNoFloorNeverStopsWrites) {
  auto store = OpenGuarded(DbPath());
  ASSERT_NE(store, nullptr);
  fail_probe_ = true;
  EXPECT_OK(store->CheckWriteSpace());
  AddPatient(*store);

  // The default store has no floor at all.
  auto plain = OpenRecordStore(Options(dir_.File("plain.db")));
  ASSERT_OK(plain);
  EXPECT_OK((*plain)->CheckWriteSpace());
}

}  // namespace
}  // namespace posta::storage::testing
