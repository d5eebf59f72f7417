// Single writes: create, read, update, delete, history, preconditions, field
// stamps and references.
#include <nlohmann/json.hpp>

#include "store_test_util.h"

namespace posta::storage::testing {
namespace {

class WriteTest : public StoreFixture {
 protected:
  void SetUp() override {
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }
  std::unique_ptr<RecordStore> store_;
};

TEST_F(WriteTest, CreateThenGet) {
  WriteOutcome out =
      store_->Write(CreateOp(ResourceType::kPatient, PatientBody()));
  ASSERT_OK(out.status);
  EXPECT_TRUE(out.created);
  EXPECT_TRUE(out.changed);
  EXPECT_TRUE(base::IsUuid(out.record.id));
  EXPECT_EQ(out.record.facility, kFacility);
  EXPECT_EQ(out.record.version.node, store_->node_id());
  EXPECT_EQ(out.record.version.wall_ms, kMarch2024);
  EXPECT_EQ(out.record.last_updated_ms, kMarch2024);
  // resourceType and id live outside the content.
  auto content = nlohmann::json::parse(out.record.content);
  EXPECT_FALSE(content.contains("resourceType"));
  EXPECT_FALSE(content.contains("id"));
  EXPECT_EQ(content["gender"], "male");

  ASSERT_OK_AND_ASSIGN(Record got,
                       store_->Get(ResourceType::kPatient, out.record.id));
  EXPECT_EQ(got.content, out.record.content);
  EXPECT_EQ(got.version, out.record.version);
  EXPECT_EQ(got.field_stamps, out.record.field_stamps);
  EXPECT_FALSE(got.deleted);
  auto rendered = nlohmann::json::parse(RenderResource(got));
  EXPECT_EQ(rendered["name"][0]["given"][0], "José");
}

// Ids are minted time-ordered from the store's clock, so the records index
// grows at its end; a clock set back still mints valid, distinct ids.
TEST_F(WriteTest, MintedIdsFollowTheClock) {
  WriteOutcome first =
      store_->Write(CreateOp(ResourceType::kPatient, PatientBody()));
  ASSERT_OK(first.status);
  // 2024-03-05T10:00:00Z is 0x018e0e0e4500 ms.
  EXPECT_EQ(first.record.id.substr(0, 13), "018e0e0e-4500") << first.record.id;
  EXPECT_EQ(first.record.id[14], '7') << first.record.id;
  clock_.Advance(std::chrono::milliseconds(1));
  WriteOutcome second =
      store_->Write(CreateOp(ResourceType::kPatient, PatientBody()));
  ASSERT_OK(second.status);
  EXPECT_LT(first.record.id, second.record.id);
  clock_.SetWall(0);
  WriteOutcome in_1970 =
      store_->Write(CreateOp(ResourceType::kPatient, PatientBody()));
  ASSERT_OK(in_1970.status);
  EXPECT_TRUE(base::IsUuid(in_1970.record.id));
  EXPECT_EQ(in_1970.record.id.substr(0, 13), "00000000-0000");
}

TEST_F(WriteTest, GetMissingIsNotFound) {
  auto got = store_->Get(ResourceType::kPatient,
                         "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11");
  EXPECT_EQ(got.status().code(), Status::Code::kNotFound);
}

TEST_F(WriteTest, CreateWithGivenIdAndConflict) {
  const std::string id = "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11";
  WriteOutcome out =
      store_->Write(CreateOp(ResourceType::kPatient, PatientBody(), id));
  ASSERT_OK(out.status);
  EXPECT_EQ(out.record.id, id);
  WriteOutcome again =
      store_->Write(CreateOp(ResourceType::kPatient, PatientBody(), id));
  EXPECT_EQ(again.status.code(), Status::Code::kConflict);
  EXPECT_FALSE(again.changed);
}

TEST_F(WriteTest, InvalidIdIsRejected) {
  WriteOutcome out = store_->Write(
      CreateOp(ResourceType::kPatient, PatientBody(), "not-a-uuid"));
  EXPECT_EQ(out.status.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(out.status.message().rfind("Patient.id", 0), 0u)
      << out.status.message();
  WriteOutcome update =
      store_->Write(UpdateOp(ResourceType::kPatient, "", PatientBody()));
  EXPECT_EQ(update.status.code(), Status::Code::kInvalidArgument);
}

TEST_F(WriteTest, BadBodyStoresNothing) {
  WriteOutcome out = store_->Write(CreateOp(ResourceType::kPatient, "{"));
  EXPECT_EQ(out.status.code(), Status::Code::kMalformed);
  WriteOutcome wrong_type = store_->Write(
      CreateOp(ResourceType::kPatient, R"({"resourceType":"Encounter"})"));
  EXPECT_EQ(wrong_type.status.code(), Status::Code::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(auto changes, store_->ChangesSince(0, 10));
  EXPECT_TRUE(changes.empty());
}

TEST_F(WriteTest, UpdateDeleteAndHistory) {
  std::string id = AddPatient(*store_);
  ASSERT_OK_AND_ASSIGN(Record v1, store_->Get(ResourceType::kPatient, id));

  clock_.Advance(std::chrono::milliseconds(1000));
  WriteOutcome v2 = store_->Write(UpdateOp(
      ResourceType::kPatient, id, PatientBody("García", "José", "other")));
  ASSERT_OK(v2.status);
  EXPECT_TRUE(v2.changed);
  EXPECT_FALSE(v2.created);
  EXPECT_GT(v2.record.version, v1.version);
  EXPECT_EQ(v2.record.last_updated_ms, kMarch2024 + 1000);

  clock_.Advance(std::chrono::milliseconds(1000));
  WriteOutcome v3 = store_->Write(DeleteOp(ResourceType::kPatient, id));
  ASSERT_OK(v3.status);
  EXPECT_TRUE(v3.changed);
  EXPECT_TRUE(v3.record.deleted);
  ASSERT_OK_AND_ASSIGN(Record current, store_->Get(ResourceType::kPatient, id));
  EXPECT_TRUE(current.deleted);
  EXPECT_EQ(current.version, v3.record.version);

  ASSERT_OK_AND_ASSIGN(auto history,
                       store_->History(ResourceType::kPatient, id, 10));
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].version, v3.record.version);
  EXPECT_TRUE(history[0].deleted);
  EXPECT_EQ(history[1].version, v2.record.version);
  EXPECT_EQ(history[2].version, v1.version);
  EXPECT_EQ(history[2].content, v1.content);
  ASSERT_OK_AND_ASSIGN(auto newest,
                       store_->History(ResourceType::kPatient, id, 1));
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].version, v3.record.version);

  ASSERT_OK_AND_ASSIGN(
      Record old, store_->GetVersion(ResourceType::kPatient, id, v1.version));
  EXPECT_EQ(old.content, v1.content);
  base::HlcStamp bogus{1, 0, "nobody"};
  EXPECT_EQ(
      store_->GetVersion(ResourceType::kPatient, id, bogus).status().code(),
      Status::Code::kNotFound);

  // Updating a deleted record is Gone; deleting again changes nothing.
  WriteOutcome gone =
      store_->Write(UpdateOp(ResourceType::kPatient, id, PatientBody()));
  EXPECT_EQ(gone.status.code(), Status::Code::kGone);
  WriteOutcome again = store_->Write(DeleteOp(ResourceType::kPatient, id));
  ASSERT_OK(again.status);
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.record.version, v3.record.version);
  ASSERT_OK_AND_ASSIGN(auto changes, store_->ChangesSince(0, 10));
  EXPECT_EQ(changes.size(), 3u);
  EXPECT_TRUE(changes.back().deleted);
}

TEST_F(WriteTest, MissingRecordUpdateAndDeleteAreNotFound) {
  const std::string id = "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11";
  EXPECT_EQ(store_->Write(UpdateOp(ResourceType::kPatient, id, PatientBody()))
                .status.code(),
            Status::Code::kNotFound);
  EXPECT_EQ(store_->Write(DeleteOp(ResourceType::kPatient, id)).status.code(),
            Status::Code::kNotFound);
}

TEST_F(WriteTest, SameContentIsNoOp) {
  std::string id = AddPatient(*store_);
  ASSERT_OK_AND_ASSIGN(Record before, store_->Get(ResourceType::kPatient, id));
  clock_.Advance(std::chrono::milliseconds(5));
  // Same fields in another order and spacing: same content.
  WriteOutcome out = store_->Write(UpdateOp(
      ResourceType::kPatient, id,
      R"({ "gender":"male", "resourceType":"Patient","birthDate":"1980-04-02",
           "identifier":[{"system":"urn:clinic:mrn","value":"MRN-1"}],
           "name":[{"family":"García","given":["José"]}]})"));
  ASSERT_OK(out.status);
  EXPECT_FALSE(out.changed);
  EXPECT_EQ(out.record.version, before.version);
  ASSERT_OK_AND_ASSIGN(auto history,
                       store_->History(ResourceType::kPatient, id, 10));
  EXPECT_EQ(history.size(), 1u);
}

TEST_F(WriteTest, IfMatch) {
  std::string id = AddPatient(*store_);
  ASSERT_OK_AND_ASSIGN(Record v1, store_->Get(ResourceType::kPatient, id));
  WriteOp stale = UpdateOp(ResourceType::kPatient, id, PatientBody("Pérez"));
  stale.if_match = base::HlcStamp{v1.version.wall_ms - 1, 0, v1.version.node};
  WriteOutcome out = store_->Write(stale);
  EXPECT_EQ(out.status.code(), Status::Code::kPreconditionFailed);
  EXPECT_EQ(out.status.message(), "Patient/" + id + ": version is " +
                                      v1.version.ToString() + ", not " +
                                      stale.if_match->ToString());
  WriteOp fresh = stale;
  fresh.if_match = v1.version;
  ASSERT_OK(store_->Write(fresh).status);
  WriteOp del = DeleteOp(ResourceType::kPatient, id);
  del.if_match = v1.version;  // stale now
  EXPECT_EQ(store_->Write(del).status.code(),
            Status::Code::kPreconditionFailed);
}

TEST_F(WriteTest, UpsertCreatesUpdatesAndRevives) {
  const std::string id = "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11";
  WriteOutcome created = store_->Write(
      UpdateOp(ResourceType::kPatient, id, PatientBody(), WriteKind::kUpsert));
  ASSERT_OK(created.status);
  EXPECT_TRUE(created.created);
  WriteOutcome updated = store_->Write(UpdateOp(
      ResourceType::kPatient, id, PatientBody("Pérez"), WriteKind::kUpsert));
  ASSERT_OK(updated.status);
  EXPECT_FALSE(updated.created);
  EXPECT_TRUE(updated.changed);
  ASSERT_OK(store_->Write(DeleteOp(ResourceType::kPatient, id)).status);
  // Same content as before the delete still revives the record.
  WriteOutcome revived = store_->Write(UpdateOp(
      ResourceType::kPatient, id, PatientBody("Pérez"), WriteKind::kUpsert));
  ASSERT_OK(revived.status);
  EXPECT_FALSE(revived.created);
  EXPECT_TRUE(revived.changed);
  EXPECT_FALSE(revived.record.deleted);
  ASSERT_OK_AND_ASSIGN(Record got, store_->Get(ResourceType::kPatient, id));
  EXPECT_FALSE(got.deleted);
  ASSERT_OK_AND_ASSIGN(auto history,
                       store_->History(ResourceType::kPatient, id, 10));
  EXPECT_EQ(history.size(), 4u);
}

TEST_F(WriteTest, FieldStampsFollowChanges) {
  const std::string id = "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11";
  WriteOutcome v1 = store_->Write(CreateOp(
      ResourceType::kPatient,
      R"({"resourceType":"Patient","name":[{"family":"García"}],"gender":"male","birthDate":"1980-04-02"})",
      id));
  ASSERT_OK(v1.status);
  const base::HlcStamp s1 = v1.record.version;
  ASSERT_EQ(v1.record.field_stamps.size(), 3u);
  for (const auto& [field, stamp] : v1.record.field_stamps)
    EXPECT_EQ(stamp, s1) << field;

  clock_.Advance(std::chrono::milliseconds(10));
  // gender changes, birthDate goes away, name stays.
  WriteOutcome v2 = store_->Write(UpdateOp(
      ResourceType::kPatient, id,
      R"({"resourceType":"Patient","name":[{"family":"García"}],"gender":"female"})"));
  ASSERT_OK(v2.status);
  const base::HlcStamp s2 = v2.record.version;
  std::map<std::string, base::HlcStamp> want = {
      {"name", s1}, {"gender", s2}, {"birthDate", s2}};
  EXPECT_EQ(v2.record.field_stamps, want);

  clock_.Advance(std::chrono::milliseconds(10));
  WriteOutcome v3 = store_->Write(UpdateOp(
      ResourceType::kPatient, id,
      R"({"resourceType":"Patient","name":[{"family":"Pérez"}],"gender":"female"})"));
  ASSERT_OK(v3.status);
  const base::HlcStamp s3 = v3.record.version;
  want = {{"name", s3}, {"gender", s2}, {"birthDate", s2}};
  EXPECT_EQ(v3.record.field_stamps, want);
  ASSERT_OK_AND_ASSIGN(Record got, store_->Get(ResourceType::kPatient, id));
  EXPECT_EQ(got.field_stamps, want);
  ASSERT_OK_AND_ASSIGN(Record old,
                       store_->GetVersion(ResourceType::kPatient, id, s2));
  EXPECT_EQ(old.field_stamps,
            (std::map<std::string, base::HlcStamp>{
                {"name", s1}, {"gender", s2}, {"birthDate", s2}}));
}

TEST_F(WriteTest, ReferencesMustResolve) {
  ASSERT_OK_AND_ASSIGN(std::string digest_before, store_->ContentDigest());
  const std::string missing = "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11";
  WriteOutcome out =
      store_->Write(CreateOp(ResourceType::kEncounter, EncounterBody(missing)));
  EXPECT_EQ(out.status.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(out.status.message(),
            "Encounter.subject: Patient/" + missing + " does not exist");
  ASSERT_OK_AND_ASSIGN(std::string digest_after, store_->ContentDigest());
  EXPECT_EQ(digest_before, digest_after);

  std::string patient = AddPatient(*store_);
  WriteOutcome ok =
      store_->Write(CreateOp(ResourceType::kEncounter, EncounterBody(patient)));
  ASSERT_OK(ok.status);

  // A deleted patient does not resolve either.
  ASSERT_OK(store_->Write(DeleteOp(ResourceType::kPatient, patient)).status);
  WriteOutcome after_delete =
      store_->Write(CreateOp(ResourceType::kEncounter, EncounterBody(patient)));
  EXPECT_EQ(after_delete.status.code(), Status::Code::kInvalidArgument);
}

TEST_F(WriteTest, RecordsKeepTheirFacility) {
  std::string id = AddPatient(*store_);
  ASSERT_OK_AND_ASSIGN(Record got, store_->Get(ResourceType::kPatient, id));
  EXPECT_EQ(got.facility, kFacility);
  ASSERT_OK_AND_ASSIGN(auto history,
                       store_->History(ResourceType::kPatient, id, 1));
  EXPECT_EQ(history[0].facility, kFacility);
}

}  // namespace
}  // namespace posta::storage::testing
