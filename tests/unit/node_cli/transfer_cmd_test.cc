// posta transfer against a node's database: what it prints, what it
// stores, and its refusals.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "posta/storage/replication.h"
#include "test_util.h"

namespace posta::node::cli {
namespace {

using ::posta::testing::TempDir;

class TransferCmdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.File("node");
    config_ = dir_ + "/posta.toml";
    Io io = MakeIo();
    ASSERT_OK(RunInit({.dir = dir_,
                       .role = "clinic",
                       .facility = "clinic-001",
                       .listen = "127.0.0.1:8181"},
                      io));
    out_.str("");
  }

  Io MakeIo() { return Io{.out = out_, .err = err_}; }

  std::unique_ptr<storage::RecordStore> Open() {
    storage::StoreOptions options;
    options.path = dir_ + "/posta.db";
    auto store = storage::OpenRecordStore(options);
    EXPECT_TRUE(::posta::testing::IsOk(store));
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // A patient with one encounter; returns the patient's id.
  std::string AddPatient() {
    auto store = Open();
    storage::WriteOp op;
    op.type = storage::ResourceType::kPatient;
    op.body = nlohmann::json{{"resourceType", "Patient"},
                             {"name", {{{"family", "Okafor"}}}}}
                  .dump();
    storage::WriteOutcome patient = store->Write(op);
    EXPECT_TRUE(::posta::testing::IsOk(patient.status));
    op.type = storage::ResourceType::kEncounter;
    op.body = nlohmann::json{{"resourceType", "Encounter"},
                             {"status", "finished"},
                             {"class", {{"code", "AMB"}}},
                             {"subject",
                              {{"reference", "Patient/" + patient.record.id}}}}
                  .dump();
    EXPECT_TRUE(::posta::testing::IsOk(store->Write(op).status));
    return patient.record.id;
  }

  Status Run(const std::string& record, const std::string& to,
             bool json = false) {
    Io io = MakeIo();
    return RunTransfer({.config_path = config_,
                        .record = record,
                        .to = to,
                        .json = json,
                        .apply_config_log_level = false},
                       io);
  }

  TempDir tmp_;
  std::string dir_;
  std::string config_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(TransferCmdTest, MovesThePatientAndPrintsWhatMoved) {
  const std::string id = AddPatient();
  ASSERT_OK(Run("Patient/" + id, "clinic-002"));
  const std::string out = out_.str();
  EXPECT_NE(
      out.find("transferred Patient/" + id + " from clinic-001 to clinic-002"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("  Patient     1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  Encounter   1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  Observation 0\n"), std::string::npos) << out;
  ASSERT_OK_AND_ASSIGN(storage::Record r,
                       Open()->Get(storage::ResourceType::kPatient, id));
  EXPECT_EQ(r.facility, "clinic-002");
  // Now another facility's: this clinic cannot move it again.
  Status again = Run(id, "clinic-003");
  EXPECT_EQ(again.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(again.message().find("owned by facility clinic-002"),
            std::string::npos)
      << again.ToString();
}

TEST_F(TransferCmdTest, JsonPrintsTheParameters) {
  const std::string id = AddPatient();
  ASSERT_OK(Run(id, "clinic-002", /*json=*/true));
  nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["resourceType"], "Parameters");
  EXPECT_EQ(j["parameter"][1]["valueString"], "clinic-002");
  EXPECT_EQ(j["parameter"][3]["resource"]["id"], id);
}

TEST_F(TransferCmdTest, BadArgumentsStoreNothing) {
  const std::string id = AddPatient();
  ASSERT_OK_AND_ASSIGN(std::string before, Open()->ContentDigest());
  EXPECT_EQ(Run("Encounter/" + id, "clinic-002").code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(Run("Patient/not-a-uuid", "clinic-002").code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(Run(id, "clinic-001").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Run(id, "*").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(
      Run("Patient/3f0c2a9e-8d7b-4c61-a5e4-0b9d8c7f6e51", "clinic-002").code(),
      Status::Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(std::string after, Open()->ContentDigest());
  EXPECT_EQ(before, after);
}

}  // namespace
}  // namespace posta::node::cli
