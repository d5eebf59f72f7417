// Helpers shared by the storage tests: resource bodies and store options.
#pragma once

#include <memory>
#include <string>

#include "posta/base/clock.h"
#include "posta/base/random.h"
#include "posta/storage/record_store.h"
#include "test_util.h"

namespace posta::storage::testing {

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
