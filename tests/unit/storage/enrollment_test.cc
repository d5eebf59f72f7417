// The hub's enrollment tables: facilities, one-time codes, enrolled nodes,
// and the upgrade of a version 3 database that has none of them.
#include "posta/storage/enrollment.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store_test_util.h"
#include "test_util.h"

namespace posta::storage::testing {
namespace {

std::string Hash(char c) { return std::string(64, c); }

class EnrollmentStoreTest : public StoreFixture {
 protected:
  void SetUp() override {
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
    ASSERT_OK(store_->AddFacility({"clinic-a", "Clinic A", "north", 1}));
    ASSERT_OK(store_->AddFacility({"clinic-b", "Clinic B", "", 2}));
  }

  void Issue(char code, const std::string& facility, int64_t expires_ms) {
    EnrollmentCode c;
    c.code_hash = Hash(code);
    c.facility = facility;
    c.created_ms = kMarch2024;
    c.expires_ms = expires_ms;
    ASSERT_OK(store_->AddEnrollmentCode(c));
  }

  Redemption Redeem(char code, const std::string& node, char credential,
                    const std::string& facility = "") {
    Redemption r;
    r.code_hash = Hash(code);
    r.node_id = node;
    r.facility = facility;
    r.credential_hash = Hash(credential);
    r.now_ms = kMarch2024 + 1000;
    return r;
  }

  std::string Fingerprint() {
    auto nodes = store_->ListEnrolledNodes();
    EXPECT_TRUE(posta::testing::IsOk(nodes));
    std::string out;
    for (const EnrolledNode& n : *nodes) {
      out += n.node_id + "/" + n.facility + "/" + n.credential_hash + "/" +
             std::to_string(n.revoked_ms) + ";";
    }
    return out;
  }

  std::unique_ptr<RecordStore> store_;
};

constexpr char kNode1[] = "00000000000000a1";
constexpr char kNode2[] = "00000000000000b2";

TEST_F(EnrollmentStoreTest, FacilitiesAreListedAndUnique) {
  ASSERT_OK_AND_ASSIGN(auto list, store_->ListFacilities());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "clinic-a");
  EXPECT_EQ(list[0].name, "Clinic A");
  EXPECT_EQ(list[0].region, "north");
  EXPECT_EQ(store_->AddFacility({"clinic-a", "again", "", 3}).code(),
            Status::Code::kConflict);
  EXPECT_EQ(store_->AddFacility({"bad id!", "x", "", 3}).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->AddFacility({"clinic-c", "", "", 3}).code(),
            Status::Code::kInvalidArgument);
}

TEST_F(EnrollmentStoreTest, ACodeForAnUnknownFacilityIsRefused) {
  EnrollmentCode c;
  c.code_hash = Hash('1');
  c.facility = "nowhere";
  c.expires_ms = kMarch2024 + 10000;
  Status s = store_->AddEnrollmentCode(c);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find("posta hub facility add"), std::string::npos)
      << s.message();
}

TEST_F(EnrollmentStoreTest, RedeemEnrollsOnceAndMarksTheCodeUsed) {
  Issue('1', "clinic-a", kMarch2024 + 3600000);
  ASSERT_OK_AND_ASSIGN(EnrolledNode node,
                       store_->RedeemEnrollmentCode(Redeem('1', kNode1, 'c')));
  EXPECT_EQ(node.facility, "clinic-a");
  EXPECT_EQ(node.credential_hash, Hash('c'));
  ASSERT_OK_AND_ASSIGN(EnrolledNode found, store_->FindEnrolledNode(Hash('c')));
  EXPECT_EQ(found.node_id, kNode1);
  EXPECT_EQ(store_->FindEnrolledNode(Hash('d')).status().code(),
            Status::Code::kNotFound);

  // The same code again (a replayed request, or a second box): refused,
  // naming when and by whom, and nothing changes.
  const std::string before = Fingerprint();
  auto again = store_->RedeemEnrollmentCode(Redeem('1', kNode2, 'e'));
  EXPECT_EQ(again.status().code(), Status::Code::kConflict);
  EXPECT_NE(again.status().message().find(kNode1), std::string::npos)
      << again.status().message();
  EXPECT_EQ(Fingerprint(), before);
}

TEST_F(EnrollmentStoreTest, UnknownExpiredAndMismatchedCodesStoreNothing) {
  Issue('1', "clinic-a", kMarch2024 + 500);  // expires before "now"
  Issue('2', "clinic-a", kMarch2024 + 3600000);
  const std::string before = Fingerprint();
  EXPECT_EQ(
      store_->RedeemEnrollmentCode(Redeem('9', kNode1, 'c')).status().code(),
      Status::Code::kNotFound);
  auto expired = store_->RedeemEnrollmentCode(Redeem('1', kNode1, 'c'));
  EXPECT_EQ(expired.status().code(), Status::Code::kGone);
  EXPECT_NE(expired.status().message().find("expired at"), std::string::npos);
  auto other =
      store_->RedeemEnrollmentCode(Redeem('2', kNode1, 'c', "clinic-b"));
  EXPECT_EQ(other.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(other.status().message().find("clinic-a"), std::string::npos);
  EXPECT_NE(other.status().message().find("clinic-b"), std::string::npos);
  EXPECT_EQ(Fingerprint(), before);
  // The refused redemptions left code 2 unused.
  ASSERT_OK(store_->RedeemEnrollmentCode(Redeem('2', kNode1, 'c', "clinic-a"))
                .status());
}

TEST_F(EnrollmentStoreTest,
       ReEnrollingReplacesTheCredentialAndLiftsRevocation) {
  Issue('1', "clinic-a", kMarch2024 + 3600000);
  Issue('2', "clinic-a", kMarch2024 + 3600000);
  Issue('3', "clinic-b", kMarch2024 + 3600000);
  ASSERT_OK(store_->RedeemEnrollmentCode(Redeem('1', kNode1, 'c')).status());
  ASSERT_OK_AND_ASSIGN(EnrolledNode revoked,
                       store_->RevokeEnrolledNode(kNode1, kMarch2024 + 5000));
  EXPECT_EQ(revoked.revoked_ms, kMarch2024 + 5000);
  // Revoking again keeps the first time.
  ASSERT_OK_AND_ASSIGN(revoked,
                       store_->RevokeEnrolledNode(kNode1, kMarch2024 + 9000));
  EXPECT_EQ(revoked.revoked_ms, kMarch2024 + 5000);
  EXPECT_EQ(store_->RevokeEnrolledNode(kNode2, 1).status().code(),
            Status::Code::kNotFound);

  ASSERT_OK(store_->RedeemEnrollmentCode(Redeem('2', kNode1, 'd')).status());
  EXPECT_EQ(store_->FindEnrolledNode(Hash('c')).status().code(),
            Status::Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(EnrolledNode node, store_->FindEnrolledNode(Hash('d')));
  EXPECT_EQ(node.revoked_ms, 0);
  // A code of another facility cannot move the node there.
  auto moved = store_->RedeemEnrollmentCode(Redeem('3', kNode1, 'e'));
  EXPECT_EQ(moved.status().code(), Status::Code::kPermissionDenied);
}

TEST_F(EnrollmentStoreTest, SeenAndFlagAreRecorded) {
  Issue('1', "clinic-a", kMarch2024 + 3600000);
  ASSERT_OK(store_->RedeemEnrollmentCode(Redeem('1', kNode1, 'c')).status());
  ASSERT_OK(store_->NoteEnrolledNodeSeen(kNode1, 77, "10.0.0.7:5000", ""));
  ASSERT_OK_AND_ASSIGN(EnrolledNode node, store_->GetEnrolledNode(kNode1));
  EXPECT_EQ(node.last_seen_ms, 77);
  EXPECT_EQ(node.last_address, "10.0.0.7:5000");
  EXPECT_EQ(node.flagged_ms, 0);
  ASSERT_OK(
      store_->NoteEnrolledNodeSeen(kNode1, 88, "10.0.0.9:1", "two boxes"));
  ASSERT_OK_AND_ASSIGN(node, store_->GetEnrolledNode(kNode1));
  EXPECT_EQ(node.flagged_ms, 88);
  EXPECT_EQ(node.flag, "two boxes");
  EXPECT_EQ(node.last_seen_ms, 77);  // a flag is not a sighting
  EXPECT_EQ(node.last_address, "10.0.0.7:5000");
  EXPECT_EQ(store_->NoteEnrolledNodeSeen(kNode2, 1, "", "").code(),
            Status::Code::kNotFound);
}

// A hub's code carries its region to the node it enrolls (the scope of a
// district hub's credential); a clinic's code carries none.
TEST_F(EnrollmentStoreTest, AHubCodeGivesTheNodeItsRegion) {
  EnrollmentCode hub;
  hub.code_hash = Hash('1');
  hub.facility = "clinic-a";
  hub.region = "north";
  hub.created_ms = kMarch2024;
  hub.expires_ms = kMarch2024 + 3600000;
  ASSERT_OK(store_->AddEnrollmentCode(hub));
  Issue('2', "clinic-b", kMarch2024 + 3600000);
  ASSERT_OK_AND_ASSIGN(EnrolledNode node,
                       store_->RedeemEnrollmentCode(Redeem('1', kNode1, 'c')));
  EXPECT_EQ(node.region, "north");
  ASSERT_OK_AND_ASSIGN(node, store_->GetEnrolledNode(kNode1));
  EXPECT_EQ(node.region, "north");
  ASSERT_OK_AND_ASSIGN(node,
                       store_->RedeemEnrollmentCode(Redeem('2', kNode2, 'd')));
  EXPECT_EQ(node.region, "");
  hub.code_hash = Hash('3');
  hub.region = std::string(65, 'r');
  EXPECT_EQ(store_->AddEnrollmentCode(hub).code(),
            Status::Code::kInvalidArgument);
}

// A version 8 database (made by dropping the version 9 columns) is upgraded
// at open: its records and enrollments stay, and the new columns work.
TEST_F(EnrollmentStoreTest, UpgradesAVersionEightDatabase) {
  const std::string patient = AddPatient(*store_);
  Issue('1', "clinic-a", kMarch2024 + 3600000);
  ASSERT_OK(store_->RedeemEnrollmentCode(Redeem('1', kNode1, 'c')).status());
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->ContentDigest());
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "ALTER TABLE versions DROP COLUMN via; "
                         "ALTER TABLE enrollment_codes DROP COLUMN region; "
                         "ALTER TABLE enrolled_nodes DROP COLUMN region; "
                         "PRAGMA user_version = 8;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.schema_version, CurrentSchemaVersion());
  ASSERT_OK_AND_ASSIGN(std::string after, store_->ContentDigest());
  EXPECT_EQ(after, digest);
  ASSERT_OK(store_->Get(ResourceType::kPatient, patient).status());
  ASSERT_OK_AND_ASSIGN(EnrolledNode node, store_->GetEnrolledNode(kNode1));
  EXPECT_EQ(node.region, "");
  EnrollmentCode hub;
  hub.code_hash = Hash('2');
  hub.facility = "clinic-b";
  hub.region = "north";
  hub.created_ms = kMarch2024;
  hub.expires_ms = kMarch2024 + 3600000;
  ASSERT_OK(store_->AddEnrollmentCode(hub));
  ASSERT_OK_AND_ASSIGN(node,
                       store_->RedeemEnrollmentCode(Redeem('2', kNode2, 'd')));
  EXPECT_EQ(node.region, "north");
  // Existing versions were made or received before: they count as local.
  ChangeFilter filter;
  filter.exclude_origin = kNode2;
  ASSERT_OK_AND_ASSIGN(ChangeBatch batch, store_->ReadChanges(filter));
  EXPECT_EQ(batch.changes.size(), 1u);
}

// A version 4 database (made by dropping the version 5 and 6 tables) is
// upgraded at open in one transaction: its records stay, the new tables
// work.
TEST_F(EnrollmentStoreTest, UpgradesAVersionFourDatabase) {
  const std::string patient = AddPatient(*store_);
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->ContentDigest());
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(
          db,
          "DROP TABLE node_reports; DROP TABLE report_counts; DROP TABLE report_facts; "
          "DROP TABLE audit_log; DROP TABLE audit_breaks; DROP TABLE sessions; "
          "DROP TABLE users; DROP TABLE enrolled_nodes; DROP TABLE "
          "enrollment_codes; DROP TABLE facilities; "
          "PRAGMA user_version = 4;",
          nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);

  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.schema_version, CurrentSchemaVersion());
  ASSERT_OK_AND_ASSIGN(std::string after, store_->ContentDigest());
  EXPECT_EQ(after, digest);
  ASSERT_OK(store_->Get(ResourceType::kPatient, patient).status());
  ASSERT_OK_AND_ASSIGN(auto facilities, store_->ListFacilities());
  EXPECT_TRUE(facilities.empty());
  ASSERT_OK(store_->AddFacility({"clinic-a", "Clinic A", "", 1}));
  Issue('1', "clinic-a", kMarch2024 + 3600000);
  ASSERT_OK(store_->RedeemEnrollmentCode(Redeem('1', kNode1, 'c')).status());
}

// A failing upgrade (a table in the way) rolls back entirely: the database
// stays at version 4.
TEST_F(EnrollmentStoreTest, AFailedUpgradeLeavesVersionFour) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TABLE enrolled_nodes; DROP TABLE "
                         "enrollment_codes; PRAGMA user_version = 4;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto reopened = OpenRecordStore(Options(DbPath()));
  ASSERT_FALSE(reopened.ok());
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 4);
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT count(*) FROM sqlite_master WHERE name "
                               "= 'enrollment_codes'",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace
}  // namespace posta::storage::testing
