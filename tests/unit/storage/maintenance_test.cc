// Stats, content digests, integrity checks and online backups.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "store_test_util.h"

namespace posta::storage::testing {
namespace {

class MaintenanceTest : public StoreFixture {
 protected:
  void SetUp() override {
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }
  std::unique_ptr<RecordStore> store_;
};

TEST_F(MaintenanceTest, StatsCountByType) {
  std::string a = AddPatient(*store_, "A");
  std::string b = AddPatient(*store_, "B");
  AddPatient(*store_, "C");
  clock_.Advance(std::chrono::milliseconds(500));
  ASSERT_OK(store_->Write(CreateOp(ResourceType::kEncounter, EncounterBody(a)))
                .status);
  ASSERT_OK(store_->Write(DeleteOp(ResourceType::kPatient, b)).status);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.node_id, store_->node_id());
  EXPECT_EQ(stats.facility, kFacility);
  EXPECT_EQ(stats.role, "clinic");
  EXPECT_EQ(stats.schema_version, 7);
  EXPECT_EQ(stats.live_records[ResourceType::kPatient], 2);
  EXPECT_EQ(stats.live_records[ResourceType::kEncounter], 1);
  EXPECT_EQ(stats.live_records.count(ResourceType::kObservation), 0u);
  EXPECT_EQ(stats.deleted_records, 1);
  EXPECT_EQ(stats.last_seq, 5);
  EXPECT_GE(stats.last_write_ms, kMarch2024 + 500);
  EXPECT_GT(stats.database_bytes, 4096);
}

TEST_F(MaintenanceTest, DigestTracksContent) {
  ASSERT_OK_AND_ASSIGN(std::string empty, store_->ContentDigest());
  EXPECT_EQ(empty.size(), 64u);
  std::string id = AddPatient(*store_);
  ASSERT_OK_AND_ASSIGN(std::string one, store_->ContentDigest());
  EXPECT_NE(one, empty);
  ASSERT_OK_AND_ASSIGN(std::string again, store_->ContentDigest());
  EXPECT_EQ(one, again);
  // A no-op write changes nothing; a real one changes the digest.
  ASSERT_OK(store_->Write(UpdateOp(ResourceType::kPatient, id, PatientBody()))
                .status);
  ASSERT_OK_AND_ASSIGN(std::string noop, store_->ContentDigest());
  EXPECT_EQ(noop, one);
  ASSERT_OK(store_->Write(DeleteOp(ResourceType::kPatient, id)).status);
  ASSERT_OK_AND_ASSIGN(std::string deleted, store_->ContentDigest());
  EXPECT_NE(deleted, one);
}

TEST_F(MaintenanceTest, EqualStoresHaveEqualDigests) {
  // Same seeds, same clock, same writes: byte-for-byte the same content.
  auto build = [](const std::string& path) {
    base::ManualClock clock(kMarch2024);
    base::Random random(7);
    StoreOptions options;
    options.path = path;
    options.create_if_missing = true;
    options.facility = kFacility;
    options.clock = &clock;
    options.random = &random;
    auto store = OpenRecordStore(options);
    EXPECT_TRUE(posta::testing::IsOk(store));
    std::string id =
        (*store)
            ->Write(CreateOp(ResourceType::kPatient, PatientBody()))
            .record.id;
    clock.Advance(std::chrono::milliseconds(3));
    (void)(*store)->Write(
        CreateOp(ResourceType::kEncounter, EncounterBody(id)));
    return (*store)->ContentDigest();
  };
  auto a = build(dir_.File("a.db"));
  auto b = build(dir_.File("b.db"));
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(*a, *b);
  auto c = build(":memory:");
  ASSERT_OK(c);
  EXPECT_EQ(*a, *c);
}

TEST_F(MaintenanceTest, CheckIntegrityPasses) {
  EXPECT_OK(store_->CheckIntegrity());
}

TEST_F(MaintenanceTest, BackupWhileWriting) {
  std::vector<WriteOp> ops;
  for (int i = 0; i < 2000; ++i) {
    ops.push_back(CreateOp(ResourceType::kPatient,
                           PatientBody("Before" + std::to_string(i))));
  }
  ASSERT_OK_AND_ASSIGN(auto before, store_->WriteBatch(ops));
  ASSERT_OK_AND_ASSIGN(StoreStats stats_before, store_->Stats());

  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    while (!stop.load()) {
      WriteOutcome out = store_->Write(
          CreateOp(ResourceType::kPatient, PatientBody("During")));
      if (out.status.ok()) ++written;
    }
  });
  int64_t last_done = -1, last_total = 0;
  int calls = 0;
  const std::string dest = dir_.File("backup.db");
  Status status = store_->Backup(dest, [&](int64_t done, int64_t total) {
    EXPECT_GE(done, last_done);
    last_done = done;
    last_total = total;
    ++calls;
  });
  stop = true;
  writer.join();
  ASSERT_OK(status);
  EXPECT_GT(calls, 1);
  EXPECT_EQ(last_done, last_total);
  EXPECT_FALSE(std::filesystem::exists(dest + ".partial"));
  EXPECT_FALSE(std::filesystem::exists(dest + "-wal"));

  StoreOptions options = Options(dest);
  options.create_if_missing = false;
  ASSERT_OK_AND_ASSIGN(auto copy, OpenRecordStore(options));
  EXPECT_OK(copy->CheckIntegrity());
  EXPECT_EQ(copy->node_id(), store_->node_id());
  for (const WriteOutcome& out : before) {
    ASSERT_OK(copy->Get(ResourceType::kPatient, out.record.id));
  }
  ASSERT_OK_AND_ASSIGN(StoreStats copied, copy->Stats());
  EXPECT_GE(copied.last_seq, stats_before.last_seq);
  EXPECT_LE(copied.last_seq, stats_before.last_seq + written.load());
}

TEST_F(MaintenanceTest, BackupRefusesExistingFile) {
  const std::string dest = dir_.File("taken.db");
  { std::ofstream(dest) << "keep me"; }
  Status status = store_->Backup(dest, nullptr);
  EXPECT_EQ(status.code(), Status::Code::kConflict);
  std::ifstream in(dest);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "keep me");
}

TEST_F(MaintenanceTest, BackupToMissingDirectoryIsIOError) {
  const std::string dest = dir_.File("no/such/dir/backup.db");
  Status status = store_->Backup(dest, nullptr);
  EXPECT_EQ(status.code(), Status::Code::kIOError) << status.ToString();
  EXPECT_NE(status.message().find(dest), std::string::npos) << status.message();
  EXPECT_FALSE(std::filesystem::exists(dest + ".partial"));
}

TEST_F(MaintenanceTest, BackupOfMemoryStore) {
  ASSERT_OK_AND_ASSIGN(auto memory, OpenRecordStore(Options(":memory:")));
  std::string id = AddPatient(*memory);
  const std::string dest = dir_.File("from-memory.db");
  ASSERT_OK(memory->Backup(dest, nullptr));
  StoreOptions options = Options(dest);
  options.create_if_missing = false;
  ASSERT_OK_AND_ASSIGN(auto copy, OpenRecordStore(options));
  ASSERT_OK(copy->Get(ResourceType::kPatient, id));
}

}  // namespace
}  // namespace posta::storage::testing
