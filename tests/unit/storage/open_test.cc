// Opening, creating and refusing databases.
#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "sqlite_util.h"
#include "store_test_util.h"

namespace posta::storage::testing {
namespace {

class OpenTest : public StoreFixture {};

TEST_F(OpenTest, CreatesNewDatabaseWithMeta) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->node_id().size(), 16u);
  EXPECT_TRUE(base::IsValidNodeId(store->node_id()));
  EXPECT_EQ(store->facility(), kFacility);
  EXPECT_FALSE(store->wall_clock_was_behind());
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.role, "clinic");
  EXPECT_EQ(stats.schema_version, CurrentSchemaVersion());
  EXPECT_EQ(stats.last_seq, 0);
  std::string node_id = store->node_id();
  store.reset();
  EXPECT_EQ(QueryRaw(DbPath(), "PRAGMA user_version"),
            CurrentSchemaVersion());
  EXPECT_EQ(QueryRaw(DbPath(),
                     "SELECT count(*) FROM meta WHERE key IN "
                     "('node_id','facility','role','created_at','hlc')"),
            5);

  // Reopening keeps the identity; an empty facility accepts the stored one.
  StoreOptions options = Options(DbPath());
  options.create_if_missing = false;
  options.facility.clear();
  ASSERT_OK_AND_ASSIGN(auto again, OpenRecordStore(options));
  EXPECT_EQ(again->node_id(), node_id);
  EXPECT_EQ(again->facility(), kFacility);
}

TEST_F(OpenTest, UsesWalMode) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryRaw(DbPath(),
                     "SELECT count(*) FROM pragma_journal_mode "
                     "WHERE journal_mode = 'wal'"),
            1);
}

TEST_F(OpenTest, NewDatabaseHas8KiBPagesAndAnOlderOneKeepsItsOwn) {
  std::string id;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    id = AddPatient(*store);
  }
  EXPECT_EQ(QueryRaw(DbPath(), "PRAGMA page_size"), 8192);

  // A database made with 4 KiB pages, as every one was before.
  ExecRaw(DbPath(),
          "PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096; VACUUM; "
          "PRAGMA journal_mode = WAL;");
  ASSERT_EQ(QueryRaw(DbPath(), "PRAGMA page_size"), 4096);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_OK_AND_ASSIGN(Record record,
                         store->Get(ResourceType::kPatient, id));
    EXPECT_EQ(record.id, id);
    AddPatient(*store);
  }
  EXPECT_EQ(QueryRaw(DbPath(), "PRAGMA page_size"), 4096);
  EXPECT_EQ(QueryRaw(DbPath(), "SELECT count(*) FROM records"), 2);
}

TEST_F(OpenTest, MissingFileIsNotFoundWithHint) {
  StoreOptions options = Options(DbPath());
  options.create_if_missing = false;
  auto store = OpenRecordStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kNotFound);
  EXPECT_NE(store.status().message().find("posta init"), std::string::npos)
      << store.status().message();
  EXPECT_FALSE(std::filesystem::exists(DbPath()));
}

TEST_F(OpenTest, CreateNeedsFacility) {
  StoreOptions options = Options(DbPath());
  options.facility.clear();
  auto store = OpenRecordStore(options);
  EXPECT_EQ(store.status().code(), Status::Code::kInvalidArgument);
}

TEST_F(OpenTest, NewerSchemaIsRefused) {
  OpenStore().reset();
  ExecRaw(DbPath(), "PRAGMA user_version = 11");
  auto store = OpenRecordStore(Options(DbPath()));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kVersionMismatch);
  EXPECT_EQ(store.status().message(),
            "database " + DbPath() +
                ": schema version 11 is newer than this posta supports (10); "
                "upgrade posta");
}

TEST_F(OpenTest, FacilityMismatchNamesBoth) {
  OpenStore().reset();
  StoreOptions options = Options(DbPath());
  options.facility = "clinic-b";
  auto store = OpenRecordStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(store.status().message().find("clinic-a"), std::string::npos);
  EXPECT_NE(store.status().message().find("clinic-b"), std::string::npos);
}

TEST_F(OpenTest, ForeignDatabaseIsRefused) {
  ExecRaw(DbPath(), "CREATE TABLE t (x)");
  auto store = OpenRecordStore(Options(DbPath()));
  EXPECT_EQ(store.status().code(), Status::Code::kInvalidArgument);
}

TEST_F(OpenTest, CorruptedFileIsDetectedWithoutWriting) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    std::vector<WriteOp> ops;
    for (int i = 0; i < 300; ++i) {
      ops.push_back(
          CreateOp(ResourceType::kPatient,
                   PatientBody("Family" + std::to_string(i), "Given")));
    }
    ASSERT_OK(store->WriteBatch(ops));
  }
  ASSERT_FALSE(std::filesystem::exists(DbPath() + "-wal"));
  auto size = std::filesystem::file_size(DbPath());
  ASSERT_GT(size, 16u * 4096);
  {
    // Overwrite the headers of every page after the first few b-tree roots.
    std::fstream file(DbPath(),
                      std::ios::in | std::ios::out | std::ios::binary);
    for (uint64_t page = 8; page * 4096 < size; page += 2) {
      file.seekp(static_cast<std::streamoff>(page * 4096));
      std::string junk(64, '\xa5');
      file.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
  }
  auto before = std::filesystem::last_write_time(DbPath());
  auto store = OpenRecordStore(Options(DbPath()));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kCorruption)
      << store.status().ToString();
  EXPECT_EQ(std::filesystem::last_write_time(DbPath()), before);
}

TEST_F(OpenTest, GarbageFileIsCorruption) {
  {
    std::ofstream file(DbPath(), std::ios::binary);
    file << std::string(8192, 'x');
  }
  auto store = OpenRecordStore(Options(DbPath()));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kCorruption)
      << store.status().ToString();
}

TEST_F(OpenTest, ReadOnlyRefusesWrites) {
  std::string id;
  {
    auto store = OpenStore();
    id = AddPatient(*store);
  }
  StoreOptions options = Options(DbPath());
  options.read_only = true;
  options.create_if_missing = false;
  ASSERT_OK_AND_ASSIGN(auto store, OpenRecordStore(options));
  ASSERT_OK_AND_ASSIGN(Record record, store->Get(ResourceType::kPatient, id));
  EXPECT_EQ(record.id, id);
  WriteOutcome out =
      store->Write(CreateOp(ResourceType::kPatient, PatientBody()));
  EXPECT_EQ(out.status.code(), Status::Code::kPermissionDenied);
  WriteOp op = DeleteOp(ResourceType::kPatient, id);
  auto batch = store->WriteBatch(std::span(&op, 1));
  EXPECT_EQ(batch.status().code(), Status::Code::kPermissionDenied);
  ASSERT_OK_AND_ASSIGN(Record still, store->Get(ResourceType::kPatient, id));
  EXPECT_FALSE(still.deleted);
}

TEST_F(OpenTest, ReadOnlyDoesNotCreate) {
  StoreOptions options = Options(DbPath());
  options.read_only = true;
  auto store = OpenRecordStore(options);
  EXPECT_EQ(store.status().code(), Status::Code::kNotFound);
}

TEST_F(OpenTest, InMemoryWorks) {
  ASSERT_OK_AND_ASSIGN(auto store, OpenRecordStore(Options(":memory:")));
  std::string id = AddPatient(*store);
  ASSERT_OK_AND_ASSIGN(Record record, store->Get(ResourceType::kPatient, id));
  EXPECT_EQ(record.facility, kFacility);
  ASSERT_OK_AND_ASSIGN(auto changes, store->ChangesSince(0, 10));
  EXPECT_EQ(changes.size(), 1u);
  EXPECT_OK(store->CheckIntegrity());
}

TEST_F(OpenTest, SynchronousNormalIsAccepted) {
  StoreOptions options = Options(DbPath());
  options.synchronous = StoreOptions::Synchronous::kNormal;
  ASSERT_OK_AND_ASSIGN(auto store, OpenRecordStore(options));
  AddPatient(*store);
}

// A page quick_check could not read because of an I/O error is no proof of
// damage: the open says so as an IOError, not as Corruption (which tells a
// person to restore a backup).
TEST(CheckComplaintTest, UnreadablePagesAreIOErrorsNotCorruption) {
  const std::string unreadable =
      "*** in database main ***\nPage 30: unable to get the page. error "
      "code=266";
  Status io = internal::CheckComplaintStatus("database x.db", "", unreadable);
  EXPECT_EQ(io.code(), Status::Code::kIOError) << io.ToString();
  EXPECT_NE(io.message().find("check the disk"), std::string::npos);
  EXPECT_NE(io.message().find("Page 30"), std::string::npos);

  Status corrupt = internal::CheckComplaintStatus(
      "database x.db", "fails integrity_check: ",
      "*** in database main ***\nPage 30: unable to get the page. error "
      "code=11");
  EXPECT_EQ(corrupt.code(), Status::Code::kCorruption) << corrupt.ToString();
  // A freelist page that could not be read is named without a code.
  Status free_page = internal::CheckComplaintStatus(
      "database x.db", "",
      "*** in database main ***\nMain freelist: failed to get page 13");
  EXPECT_EQ(free_page.code(), Status::Code::kIOError) << free_page.ToString();
  Status free_range = internal::CheckComplaintStatus(
      "database x.db", "",
      "*** in database main ***\nMain freelist: invalid page number 900");
  EXPECT_EQ(free_range.code(), Status::Code::kCorruption);
  Status index = internal::CheckComplaintStatus(
      "database x.db", "", "row 3 missing from index records_by_type");
  EXPECT_EQ(index.code(), Status::Code::kCorruption);
  EXPECT_NE(index.message().find("row 3 missing"), std::string::npos);
}

}  // namespace
}  // namespace posta::storage::testing
