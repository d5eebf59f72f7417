// Users and sessions (users.h), and the upgrade of a version 5 database
// that has neither table.
#include "posta/storage/users.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "schema.h"
#include "sqlite_util.h"
#include "store_test_util.h"
#include "test_util.h"

namespace posta::storage::testing {
namespace {

std::string Hash(char c) { return std::string(64, c); }

UserEntry User(const std::string& name, const std::string& role) {
  UserEntry u;
  u.name = name;
  u.role = role;
  u.password_hash = "scrypt$16$1$1$c2FsdA==$aGFzaA==";
  u.created_ms = kMarch2024;
  u.changed_ms = kMarch2024;
  return u;
}

SessionEntry Session(char token, const std::string& user, int64_t at,
                     int64_t expires) {
  SessionEntry s;
  s.token_hash = Hash(token);
  s.user = user;
  s.created_ms = at;
  s.expires_ms = expires;
  s.last_used_ms = at;
  return s;
}

class UsersStoreTest : public StoreFixture {
 protected:
  void SetUp() override {
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }
  std::unique_ptr<RecordStore> store_;
};

TEST_F(UsersStoreTest, AddGetList) {
  ASSERT_OK(store_->AddUser(User("zoe", "clinician")));
  UserEntry amina = User("amina", "registrar");
  amina.region = "north";
  ASSERT_OK(store_->AddUser(amina));
  ASSERT_OK_AND_ASSIGN(UserEntry got, store_->GetUser("amina"));
  EXPECT_EQ(got.role, "registrar");
  EXPECT_EQ(got.region, "north");
  EXPECT_EQ(got.password_hash, amina.password_hash);
  EXPECT_FALSE(got.disabled);
  ASSERT_OK_AND_ASSIGN(auto all, store_->ListUsers());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "amina");
  EXPECT_EQ(all[1].name, "zoe");
}

TEST_F(UsersStoreTest, RefusesDuplicatesAndBadNames) {
  ASSERT_OK(store_->AddUser(User("amina", "registrar")));
  Status dup = store_->AddUser(User("amina", "admin"));
  EXPECT_EQ(dup.code(), Status::Code::kConflict);
  EXPECT_EQ(dup.message(), "user amina: already exists");
  for (const char* bad : {"", "Amina", "1amina", "a b", "amina!"}) {
    EXPECT_EQ(store_->AddUser(User(bad, "admin")).code(),
              Status::Code::kInvalidArgument)
        << bad;
  }
  UserEntry no_hash = User("bo", "admin");
  no_hash.password_hash.clear();
  EXPECT_EQ(store_->AddUser(no_hash).code(), Status::Code::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(UserEntry kept, store_->GetUser("amina"));
  EXPECT_EQ(kept.role, "registrar");
  EXPECT_EQ(store_->GetUser("nobody").status().code(), Status::Code::kNotFound);
}

TEST_F(UsersStoreTest, DisableEndsSessions) {
  ASSERT_OK(store_->AddUser(User("amina", "registrar")));
  ASSERT_OK(store_->AddUser(User("bo", "admin")));
  const int64_t later = kMarch2024 + 1000;
  ASSERT_OK(store_->AddSession(Session('a', "amina", later, later + 10000)));
  ASSERT_OK(store_->AddSession(Session('b', "amina", later, later + 10000)));
  ASSERT_OK(store_->AddSession(Session('c', "bo", later, later + 10000)));
  ASSERT_OK_AND_ASSIGN(int64_t ended, store_->DisableUser("amina", later + 5));
  EXPECT_EQ(ended, 2);
  ASSERT_OK_AND_ASSIGN(UserEntry amina, store_->GetUser("amina"));
  EXPECT_TRUE(amina.disabled);
  EXPECT_EQ(amina.changed_ms, later + 5);
  EXPECT_EQ(store_->GetSession(Hash('a')).status().code(),
            Status::Code::kNotFound);
  EXPECT_OK(store_->GetSession(Hash('c')).status());
  EXPECT_EQ(store_->DisableUser("nobody", later).status().code(),
            Status::Code::kNotFound);
}

TEST_F(UsersStoreTest, PasswordChangeEndsSessions) {
  ASSERT_OK(store_->AddUser(User("amina", "registrar")));
  ASSERT_OK(store_->AddSession(
      Session('a', "amina", kMarch2024, kMarch2024 + 10000)));
  ASSERT_OK(store_->SetUserPassword("amina", "scrypt$new", kMarch2024 + 7));
  ASSERT_OK_AND_ASSIGN(UserEntry amina, store_->GetUser("amina"));
  EXPECT_EQ(amina.password_hash, "scrypt$new");
  EXPECT_EQ(store_->GetSession(Hash('a')).status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(store_->SetUserPassword("nobody", "x", 1).code(),
            Status::Code::kNotFound);
}

TEST_F(UsersStoreTest, SessionsTouchDeleteAndPrune) {
  ASSERT_OK(store_->AddUser(User("amina", "registrar")));
  EXPECT_EQ(store_->AddSession(Session('x', "nobody", 1, 2)).code(),
            Status::Code::kNotFound);
  ASSERT_OK(store_->AddSession(Session('a', "amina", 1000, 2000)));
  ASSERT_OK(store_->TouchSession(Hash('a'), 1500));
  ASSERT_OK_AND_ASSIGN(SessionEntry a, store_->GetSession(Hash('a')));
  EXPECT_EQ(a.user, "amina");
  EXPECT_EQ(a.last_used_ms, 1500);
  EXPECT_EQ(a.expires_ms, 2000);
  // A new session drops the ones past their absolute end.
  ASSERT_OK(store_->AddSession(Session('b', "amina", 2000, 9000)));
  EXPECT_EQ(store_->GetSession(Hash('a')).status().code(),
            Status::Code::kNotFound);
  ASSERT_OK(store_->DeleteSession(Hash('b')));
  EXPECT_EQ(store_->DeleteSession(Hash('b')).code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->TouchSession(Hash('b'), 3000).code(),
            Status::Code::kNotFound);
}

// A version 5 database (what the previous release wrote) gains the users
// and sessions tables on open, keeping its records.
TEST_F(UsersStoreTest, UpgradesAVersionFiveDatabase) {
  AddPatient(*store_);
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->ContentDigest());
  store_.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP TABLE node_reports; DROP TABLE report_counts; "
                           "DROP TABLE report_facts; DROP TABLE audit_log; "
                           "DROP TABLE audit_breaks; "
                           "DROP TABLE sessions; "
                           "DROP TABLE users; PRAGMA user_version = 5",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.schema_version, CurrentSchemaVersion());
  ASSERT_OK_AND_ASSIGN(std::string after, store_->ContentDigest());
  EXPECT_EQ(after, digest);
  ASSERT_OK(store_->AddUser(User("amina", "registrar")));
  ASSERT_OK(store_->AddSession(Session('a', "amina", 1, 99)));
  EXPECT_OK(store_->CheckIntegrity());
}

// The version 6 migration runs inside the caller's transaction: rolled
// back, it leaves a version 5 file with neither table.
TEST_F(UsersStoreTest, MigrationIsOneTransaction) {
  store_.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP TABLE node_reports; DROP TABLE report_counts; "
                           "DROP TABLE report_facts; DROP TABLE audit_log; "
                           "DROP TABLE audit_breaks; "
                           "DROP TABLE sessions; "
                           "DROP TABLE users; PRAGMA user_version = 5",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  {
    ASSERT_OK_AND_ASSIGN(
        auto conn,
        internal::Connection::Open(DbPath(), SQLITE_OPEN_READWRITE, "", 1000));
    internal::Transaction txn(*conn, true);
    ASSERT_OK(txn.Begin());
    ASSERT_OK(internal::Migrate(*conn, 5, 6));
    // Not committed: the transaction rolls back when it goes away.
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT count(*) FROM sqlite_schema WHERE name "
                               "IN ('users', 'sessions')",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 5);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace
}  // namespace posta::storage::testing
