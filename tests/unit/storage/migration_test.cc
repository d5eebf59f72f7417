// Upgrading a schema version 1 database (tests/fixtures/schema_v1.sql) in
// place.
#include <sqlite3.h>

#include <fstream>
#include <sstream>

#include "posta/storage/replication.h"
#include "schema.h"
#include "sqlite_util.h"
#include "store_test_util.h"

namespace posta::storage::testing {
namespace {

constexpr char kLucia[] = "3f2b6c1e-8d4a-4f1b-9c2e-5a6b7c8d9e01";
constexpr char kJose[] = "3f2b6c1e-8d4a-4f1b-9c2e-5a6b7c8d9e02";
constexpr char kPedro[] = "3f2b6c1e-8d4a-4f1b-9c2e-5a6b7c8d9e03";
constexpr char kVisit[] = "3f2b6c1e-8d4a-4f1b-9c2e-5a6b7c8d9e04";

std::string ReadFixture() {
  std::ifstream in(std::string(POSTA_FIXTURES_DIR) + "/schema_v1.sql");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "type name sql" of every schema object, sorted.
std::vector<std::string> SchemaOf(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db,
                               "SELECT type, name, coalesce(sql, '') FROM "
                               "sqlite_schema ORDER BY name",
                               -1, &st, nullptr),
            SQLITE_OK);
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string line;
    for (int c = 0; c < 3; ++c) {
      line += reinterpret_cast<const char*>(sqlite3_column_text(st, c));
      line += " ";
    }
    out.push_back(line);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

class MigrationTest : public StoreFixture {
 protected:
  void SetUp() override {
    fixture_ = ReadFixture();
    ASSERT_FALSE(fixture_.empty())
        << "fixture not found in " << POSTA_FIXTURES_DIR;
    ExecRaw(DbPath(), fixture_);
  }
  StoreOptions ReopenOptions() {
    StoreOptions options = Options(DbPath());
    options.create_if_missing = false;
    options.facility.clear();
    return options;
  }
  std::string fixture_;
};

TEST_F(MigrationTest, FixtureMatchesTheFirstMigration) {
  const std::string fresh = dir_.File("fresh.db");
  {
    ASSERT_OK_AND_ASSIGN(
        auto conn,
        internal::Connection::Open(
            fresh, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "", 1000));
    internal::Transaction txn(*conn, true);
    ASSERT_OK(txn.Begin());
    ASSERT_OK(internal::Migrate(*conn, 0, 1));
    ASSERT_OK(txn.Commit());
  }
  EXPECT_EQ(SchemaOf(fresh), SchemaOf(DbPath()));
}

TEST_F(MigrationTest, UpgradesInPlace) {
  ASSERT_OK_AND_ASSIGN(auto store, OpenRecordStore(ReopenOptions()));
  EXPECT_EQ(store->node_id(), "0123456789abcdef");
  EXPECT_EQ(store->facility(), "clinic-old");
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.schema_version, CurrentSchemaVersion());
  EXPECT_EQ(stats.live_records[ResourceType::kPatient], 2);
  EXPECT_EQ(stats.live_records[ResourceType::kEncounter], 1);
  EXPECT_EQ(stats.deleted_records, 1);
  EXPECT_EQ(stats.last_seq, 6);
  EXPECT_OK(store->CheckIntegrity());

  // Old records are found through the new index.
  SearchQuery query;
  query.conditions = {{"name", SearchOp::kDefault, "lucia"}};
  ASSERT_OK_AND_ASSIGN(SearchPage page, store->Search(query));
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_EQ(page.records[0].id, kLucia);
  query.conditions = {
      {"identifier", SearchOp::kDefault, "urn:clinic:mrn|MRN-101"}};
  ASSERT_OK_AND_ASSIGN(page, store->Search(query));
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_EQ(page.records[0].id, kJose);
  query.conditions = {{"name", SearchOp::kDefault, "pedro"}};
  ASSERT_OK_AND_ASSIGN(page, store->Search(query));
  EXPECT_TRUE(page.records.empty());  // deleted
  query.type = ResourceType::kEncounter;
  query.conditions = {{"patient", SearchOp::kDefault, kLucia}};
  ASSERT_OK_AND_ASSIGN(page, store->Search(query));
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_EQ(page.records[0].id, kVisit);

  // Data intact.
  ASSERT_OK_AND_ASSIGN(Record lucia,
                       store->Get(ResourceType::kPatient, kLucia));
  EXPECT_EQ(
      lucia.content,
      R"({"birthDate":"1975-08-19","gender":"female","identifier":[{"system":"urn:clinic:mrn","value":"MRN-100"}],"name":[{"family":"Núñez","given":["Lucía"]}]})");
  EXPECT_EQ(lucia.version.ToString(), "1700000200000.0000.0123456789abcdef");
  EXPECT_EQ(lucia.field_stamps.at("gender").wall_ms, 1700000200000);
  EXPECT_EQ(lucia.field_stamps.at("name").wall_ms, 1700000000000);
  ASSERT_OK_AND_ASSIGN(auto history,
                       store->History(ResourceType::kPatient, kLucia, 10));
  EXPECT_EQ(history.size(), 2u);
  ASSERT_OK_AND_ASSIGN(Record pedro,
                       store->Get(ResourceType::kPatient, kPedro));
  EXPECT_TRUE(pedro.deleted);
  // Version 3 stamps the delete, which version 2 did not.
  EXPECT_EQ(pedro.field_stamps.at(std::string(kDeletedField)), pedro.version);
  ASSERT_OK_AND_ASSIGN(auto changes, store->ChangesSince(0, 100));
  ASSERT_EQ(changes.size(), 6u);
  EXPECT_EQ(changes[4].id, kPedro);
  EXPECT_TRUE(changes[4].deleted);

  // New writes continue the change log and the clock.
  clock_.SetWall(0);
  WriteOutcome out = store->Write(UpdateOp(
      ResourceType::kPatient, kJose,
      PatientBody("Ramírez", "José", "male", "1962-01-30", "MRN-102")));
  ASSERT_OK(out.status);
  EXPECT_GT(out.record.version.ToString(),
            "1700000500000.0000.0123456789abcdef");
  EXPECT_EQ(out.record.field_stamps.at("name").wall_ms, 1700000100000);
  ASSERT_OK_AND_ASSIGN(changes, store->ChangesSince(6, 100));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].seq, 7);
  store.reset();

  // The upgrade is stored: the next open migrates nothing.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), CurrentSchemaVersion());
  sqlite3_finalize(st);
  sqlite3_close(db);
  ASSERT_OK_AND_ASSIGN(auto again, OpenRecordStore(ReopenOptions()));
}

// Version 4 adds an owner per version: a version 3 file (the fixture as
// the version 3 migration leaves it) gets each version's owner from its
// record, and records can be transferred from then on.
TEST_F(MigrationTest, UpgradesAVersionThreeDatabase) {
  {
    ASSERT_OK_AND_ASSIGN(
        auto conn,
        internal::Connection::Open(DbPath(), SQLITE_OPEN_READWRITE, "", 1000));
    internal::Transaction txn(*conn, true);
    ASSERT_OK(txn.Begin());
    ASSERT_OK(internal::Migrate(*conn, 1, 3));
    ASSERT_OK(txn.Commit());
  }
  for (const std::string& line : SchemaOf(DbPath())) {
    EXPECT_EQ(line.find("moved_from"), std::string::npos) << line;
  }
  ASSERT_OK_AND_ASSIGN(auto store, OpenRecordStore(ReopenOptions()));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.schema_version, CurrentSchemaVersion());
  EXPECT_EQ(stats.last_seq, 6);
  ASSERT_OK_AND_ASSIGN(auto history,
                       store->History(ResourceType::kPatient, kLucia, 10));
  ASSERT_EQ(history.size(), 2u);
  for (const Record& version : history) {
    EXPECT_EQ(version.facility, "clinic-old");
  }
  ChangeFilter scope;
  scope.facility = "clinic-old";
  ASSERT_OK_AND_ASSIGN(ChangeBatch batch, store->ReadChanges(scope));
  EXPECT_EQ(batch.changes.size(), 6u);
  ASSERT_OK_AND_ASSIGN(int64_t count, store->CountChanges(scope));
  EXPECT_EQ(count, 6);
  scope.facility = "clinic-new";
  ASSERT_OK_AND_ASSIGN(batch, store->ReadChanges(scope));
  EXPECT_TRUE(batch.changes.empty());

  ASSERT_OK_AND_ASSIGN(
      TransferOutcome moved,
      store->Transfer(ResourceType::kPatient, kLucia, "clinic-new"));
  EXPECT_EQ(moved.moved[ResourceType::kEncounter], 1);  // kVisit
  ASSERT_OK_AND_ASSIGN(history,
                       store->History(ResourceType::kPatient, kLucia, 10));
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].facility, "clinic-new");
  EXPECT_EQ(history[1].facility, "clinic-old");
  ASSERT_OK_AND_ASSIGN(batch, store->ReadChanges(scope));
  EXPECT_EQ(batch.changes.size(), 5u);  // 2 + 1 earlier versions, 2 moves
  EXPECT_OK(store->CheckIntegrity());
}

TEST_F(MigrationTest, ReadOnlyOpenDoesNotUpgrade) {
  StoreOptions options = ReopenOptions();
  options.read_only = true;
  auto store = OpenRecordStore(options);
  EXPECT_EQ(store.status().code(), Status::Code::kVersionMismatch);
}

TEST_F(MigrationTest, FailedBackfillLeavesVersionOne) {
  // A stored body the resource rules reject: the upgrade stops, names the
  // record, and rolls back completely.
  ExecRaw(
      DbPath(),
      "UPDATE records SET content = '{\"gender\":\"robot\"}' WHERE rid = 2");
  auto store = OpenRecordStore(ReopenOptions());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kCorruption);
  EXPECT_NE(store.status().message().find(kJose), std::string::npos)
      << store.status().message();
  std::vector<std::string> schema = SchemaOf(DbPath());
  for (const std::string& line : schema) {
    EXPECT_EQ(line.find("search_index"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace posta::storage::testing
