// Helpers shared by the storage tests: resource bodies, store options, and
// raw SQL on a database file beside the store (to age or damage it).
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

#include "posta/base/clock.h"
#include "posta/base/random.h"
#include "posta/storage/record_store.h"
#include "test_util.h"

namespace posta::storage::testing {

// Runs `sql` (one or more statements) on the file at `path`, outside any
// store; fails the test when SQLite refuses it.
inline void ExecRaw(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

// The first column of the first row `sql` gives on the file at `path`;
// -1 when there is no row.
inline int64_t QueryRaw(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  int64_t value = -1;
  if (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
    value = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return value;
}

inline constexpr int64_t kMarch2024 = 1709632800000;  // 2024-03-05T10:00:00Z
inline constexpr char kFacility[] = "clinic-a";

inline std::string PatientBody(const std::string& family = "García",
                               const std::string& given = "José",
                               const std::string& gender = "male",
                               const std::string& birth_date = "1980-04-02",
                               const std::string& mrn = "MRN-1") {
  return R"({"resourceType":"Patient","name":[{"family":")" + family +
         R"(","given":[")" + given + R"("]}],"gender":")" + gender +
         R"(","birthDate":")" + birth_date +
         R"(","identifier":[{"system":"urn:clinic:mrn","value":")" + mrn +
         R"("}]})";
}

inline std::string EncounterBody(
    const std::string& patient_id, const std::string& status = "finished",
    const std::string& start = "2024-03-05T10:00:00Z") {
  return R"({"resourceType":"Encounter","status":")" + status +
         R"(","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/)" +
         patient_id + R"("},"period":{"start":")" + start + R"("}})";
}

inline WriteOp CreateOp(ResourceType type, std::string body,
                        std::string id = "") {
  WriteOp op;
  op.kind = WriteKind::kCreate;
  op.type = type;
  op.id = std::move(id);
  op.body = std::move(body);
  return op;
}

inline WriteOp UpdateOp(ResourceType type, std::string id, std::string body,
                        WriteKind kind = WriteKind::kUpdate) {
  WriteOp op;
  op.kind = kind;
  op.type = type;
  op.id = std::move(id);
  op.body = std::move(body);
  return op;
}

inline WriteOp DeleteOp(ResourceType type, std::string id) {
  WriteOp op;
  op.kind = WriteKind::kDelete;
  op.type = type;
  op.id = std::move(id);
  return op;
}

// A store in a temp dir (or ":memory:") with a manual clock and a seeded
// random generator.
class StoreFixture : public ::testing::Test {
 protected:
  StoreOptions Options(const std::string& path) {
    StoreOptions options;
    options.path = path;
    options.create_if_missing = true;
    options.facility = kFacility;
    options.clock = &clock_;
    options.random = &random_;
    return options;
  }
  std::string DbPath() const { return dir_.File("posta.db"); }

  // Opens (creating) the store at DbPath().
  std::unique_ptr<RecordStore> OpenStore() {
    auto store = OpenRecordStore(Options(DbPath()));
    EXPECT_TRUE(posta::testing::IsOk(store));
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Creates a patient and returns its id.
  std::string AddPatient(RecordStore& store,
                         const std::string& family = "García",
                         const std::string& given = "José") {
    WriteOutcome out = store.Write(
        CreateOp(ResourceType::kPatient, PatientBody(family, given)));
    EXPECT_TRUE(posta::testing::IsOk(out.status));
    return out.record.id;
  }

  posta::testing::TempDir dir_;
  base::ManualClock clock_{kMarch2024};
  base::Random random_{42};
};

}  // namespace posta::storage::testing
