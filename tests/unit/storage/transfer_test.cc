// Transfer of a patient and its compartment to another facility: the store
// operation, its refusals, per-version owners in history, and what a hub's
// facility-scoped change log carries after a move.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "failing_vfs.h"
#include "posta/storage/replication.h"
#include "store_test_util.h"

namespace posta::storage::testing {
namespace {

std::string ObservationBody(const std::string& patient_id) {
  return R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8310-5"}]},"effectiveDateTime":"2024-03-05T10:05:00Z","valueQuantity":{"value":38.2,"unit":"Cel"},"subject":{"reference":"Patient/)" +
         patient_id + R"("}})";
}

std::string AppointmentBody(const std::string& patient_id) {
  return R"({"resourceType":"Appointment","status":"booked","start":"2024-04-02T09:00:00Z","end":"2024-04-02T09:15:00Z","participant":[{"actor":{"reference":"Patient/)" +
         patient_id + R"("},"status":"accepted"}]})";
}

class TransferTest : public StoreFixture {
 protected:
  void SetUp() override {
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  std::string Add(RecordStore& store, ResourceType type,
                  const std::string& body) {
    WriteOutcome out = store.Write(CreateOp(type, body));
    EXPECT_TRUE(posta::testing::IsOk(out.status));
    return out.record.id;
  }

  std::unique_ptr<RecordStore> OpenHub(const std::string& file,
                                       const std::string& facility) {
    StoreOptions options = Options(dir_.File(file));
    options.facility = facility;
    options.role = "hub";
    auto hub = OpenRecordStore(options);
    EXPECT_TRUE(posta::testing::IsOk(hub));
    if (!hub.ok()) return nullptr;
    // The facilities a hub transfers to are registered there.
    for (const char* id : {"clinic-b", "clinic-c"}) {
      EXPECT_TRUE(posta::testing::IsOk((*hub)->AddFacility({id, id, "", 1})));
    }
    return std::move(hub).value();
  }

  std::unique_ptr<RecordStore> store_;  // a clinic of kFacility
};

TEST_F(TransferTest, MovesThePatientAndItsCompartmentAsNewVersions) {
  const std::string patient = AddPatient(*store_, "Moved");
  const std::string other = AddPatient(*store_, "Stays");
  const std::string e1 =
      Add(*store_, ResourceType::kEncounter, EncounterBody(patient));
  const std::string e2 = Add(*store_, ResourceType::kEncounter,
                             EncounterBody(patient, "in-progress"));
  const std::string obs =
      Add(*store_, ResourceType::kObservation, ObservationBody(patient));
  const std::string appt =
      Add(*store_, ResourceType::kAppointment, AppointmentBody(patient));
  const std::string gone =
      Add(*store_, ResourceType::kEncounter, EncounterBody(patient));
  ASSERT_OK(store_->Write(DeleteOp(ResourceType::kEncounter, gone)).status);
  const std::string others =
      Add(*store_, ResourceType::kEncounter, EncounterBody(other));
  ASSERT_OK_AND_ASSIGN(Record before,
                       store_->Get(ResourceType::kPatient, patient));
  ASSERT_OK_AND_ASSIGN(StoreStats stats_before, store_->Stats());

  clock_.Advance(std::chrono::seconds(10));
  ASSERT_OK_AND_ASSIGN(
      TransferOutcome moved,
      store_->Transfer(ResourceType::kPatient, patient, "clinic-b"));
  EXPECT_EQ(moved.from_facility, kFacility);
  EXPECT_EQ(moved.record.facility, "clinic-b");
  EXPECT_EQ(moved.record.id, patient);
  EXPECT_EQ(moved.moved[ResourceType::kPatient], 1);
  EXPECT_EQ(moved.moved[ResourceType::kEncounter], 2);  // not the deleted one
  EXPECT_EQ(moved.moved[ResourceType::kObservation], 1);
  EXPECT_EQ(moved.moved[ResourceType::kAppointment], 1);

  // Each moved record: a new version, same content, new owner, the owner's
  // stamp set; the rest untouched.
  ASSERT_OK_AND_ASSIGN(Record after,
                       store_->Get(ResourceType::kPatient, patient));
  EXPECT_EQ(after.facility, "clinic-b");
  EXPECT_EQ(after.content, before.content);
  EXPECT_GT(after.version, before.version);
  EXPECT_EQ(after.field_stamps.at(std::string(kFacilityField)), after.version);
  EXPECT_EQ(after.field_stamps.at("name"), before.field_stamps.at("name"));
  for (const auto& [type, id] :
       std::vector<std::pair<ResourceType, std::string>>{
           {ResourceType::kEncounter, e1},
           {ResourceType::kEncounter, e2},
           {ResourceType::kObservation, obs},
           {ResourceType::kAppointment, appt}}) {
    ASSERT_OK_AND_ASSIGN(Record r, store_->Get(type, id));
    EXPECT_EQ(r.facility, "clinic-b") << id;
  }
  for (const auto& [type, id] :
       std::vector<std::pair<ResourceType, std::string>>{
           {ResourceType::kEncounter, gone},
           {ResourceType::kEncounter, others},
           {ResourceType::kPatient, other}}) {
    ASSERT_OK_AND_ASSIGN(Record r, store_->Get(type, id));
    EXPECT_EQ(r.facility, kFacility) << id;
  }
  // One version each in the change log, in one transaction's worth.
  ASSERT_OK_AND_ASSIGN(auto changes,
                       store_->ChangesSince(stats_before.last_seq, 100));
  EXPECT_EQ(changes.size(), 5u);

  // History shows who owned each version.
  ASSERT_OK_AND_ASSIGN(auto history,
                       store_->History(ResourceType::kPatient, patient, 10));
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].facility, "clinic-b");
  EXPECT_EQ(history[1].facility, kFacility);
  ASSERT_OK_AND_ASSIGN(
      Record old_version,
      store_->GetVersion(ResourceType::kPatient, patient, before.version));
  EXPECT_EQ(old_version.facility, kFacility);

  // Still found by search (the index is unchanged).
  SearchQuery query;
  query.type = ResourceType::kEncounter;
  query.conditions = {{"patient", SearchOp::kDefault, patient}};
  ASSERT_OK_AND_ASSIGN(SearchPage page, store_->Search(query));
  EXPECT_EQ(page.records.size(), 2u);

  // This clinic no longer edits them.
  WriteOutcome refused = store_->Write(UpdateOp(
      ResourceType::kPatient, patient, PatientBody("Edited", "Too late")));
  EXPECT_EQ(refused.status.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(refused.status.ToString().find(
                "Patient/" + patient +
                ": was transferred to facility clinic-b; it is edited there"),
            std::string::npos)
      << refused.status.ToString();
  EXPECT_EQ(store_->Write(DeleteOp(ResourceType::kEncounter, e1)).status.code(),
            Status::Code::kPermissionDenied);
  // Its other records stay writable.
  EXPECT_OK(store_
                ->Write(UpdateOp(ResourceType::kPatient, other,
                                 PatientBody("Stays", "Edited")))
                .status);
}

TEST_F(TransferTest, RefusalsNameTheProblemAndStoreNothing) {
  const std::string patient = AddPatient(*store_, "Here");
  const std::string deleted = AddPatient(*store_, "Deleted");
  ASSERT_OK(store_->Write(DeleteOp(ResourceType::kPatient, deleted)).status);
  const std::string encounter =
      Add(*store_, ResourceType::kEncounter, EncounterBody(patient));
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->ContentDigest());

  auto code = [&](ResourceType type, const std::string& id,
                  const std::string& to) {
    return store_->Transfer(type, id, to).status().code();
  };
  EXPECT_EQ(code(ResourceType::kPatient, "3f2b6c1e-8d4a-4f1b-9c2e-5a6b7c8d9eff",
                 "clinic-b"),
            Status::Code::kNotFound);
  EXPECT_EQ(code(ResourceType::kPatient, deleted, "clinic-b"),
            Status::Code::kGone);
  EXPECT_EQ(code(ResourceType::kPatient, patient, kFacility),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(code(ResourceType::kPatient, patient, ""),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(code(ResourceType::kPatient, patient, "*"),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(code(ResourceType::kPatient, patient, "clinic b!"),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(code(ResourceType::kEncounter, encounter, "clinic-b"),
            Status::Code::kInvalidArgument);
  auto same = store_->Transfer(ResourceType::kPatient, patient, kFacility);
  EXPECT_NE(same.status().message().find("already belongs to facility " +
                                         std::string(kFacility)),
            std::string::npos)
      << same.status().ToString();
  ASSERT_OK_AND_ASSIGN(std::string unchanged, store_->ContentDigest());
  EXPECT_EQ(unchanged, digest);

  // Once moved, this clinic may not move it again; the hub may.
  ASSERT_OK(store_->Transfer(ResourceType::kPatient, patient, "clinic-b"));
  auto not_owner =
      store_->Transfer(ResourceType::kPatient, patient, "clinic-c");
  EXPECT_EQ(not_owner.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(not_owner.status().message().find("owned by facility clinic-b"),
            std::string::npos)
      << not_owner.status().ToString();

  // A shared record has no owner to change.
  std::unique_ptr<RecordStore> hub = OpenHub("hub.db", "region");
  ASSERT_NE(hub, nullptr);
  const std::string location = Add(*hub, ResourceType::kLocation,
                                   R"({"resourceType":"Location","name":"X"})");
  EXPECT_EQ(hub->Transfer(ResourceType::kLocation, location, "clinic-b")
                .status()
                .code(),
            Status::Code::kInvalidArgument);

  // The hub moves a patient only to a facility registered there.
  const std::string at_hub = AddPatient(*hub, "AtHub");
  ASSERT_OK_AND_ASSIGN(std::string hub_digest, hub->ContentDigest());
  auto unknown = hub->Transfer(ResourceType::kPatient, at_hub, "clinic-x");
  EXPECT_EQ(unknown.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find(
                "\"clinic-x\" is not a facility registered on this hub"),
            std::string::npos)
      << unknown.status().ToString();
  ASSERT_OK_AND_ASSIGN(std::string hub_after, hub->ContentDigest());
  EXPECT_EQ(hub_after, hub_digest);
  ASSERT_OK(hub->Transfer(ResourceType::kPatient, at_hub, "clinic-b"));
}

TEST_F(TransferTest, AFailedCommitMovesNothing) {
  StoreOptions options = Options(dir_.File("failing.db"));
  options.vfs = FailingVfsName();
  ASSERT_OK_AND_ASSIGN(auto store, OpenRecordStore(options));
  const std::string patient = AddPatient(*store, "Moved");
  Add(*store, ResourceType::kEncounter, EncounterBody(patient));
  ASSERT_OK_AND_ASSIGN(std::string digest, store->ContentDigest());
  ArmWalFailure(SQLITE_FULL);
  auto moved = store->Transfer(ResourceType::kPatient, patient, "clinic-b");
  DisarmWalFailure();
  EXPECT_EQ(moved.status().code(), Status::Code::kNoSpace)
      << moved.status().ToString();
  ASSERT_OK_AND_ASSIGN(std::string after, store->ContentDigest());
  EXPECT_EQ(after, digest);
  ASSERT_OK(store->Transfer(ResourceType::kPatient, patient, "clinic-b"));
}

// What a hub sends each facility around a move: the new owner gets the
// record with its history, the old one the version that moved it out, a
// third nothing; CountChanges agrees with ReadChanges.
TEST_F(TransferTest, AFacilityScopeCarriesMovesAndHistory) {
  std::unique_ptr<RecordStore> hub = OpenHub("hub.db", "region");
  ASSERT_NE(hub, nullptr);
  const std::string patient = AddPatient(*hub, "Moved");  // owner "region"
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK(hub->Write(UpdateOp(ResourceType::kPatient, patient,
                                PatientBody("Moved", "Renamed")))
                .status);
  const std::string encounter =
      Add(*hub, ResourceType::kEncounter, EncounterBody(patient));
  AddPatient(*hub, "Unrelated");

  auto read = [&](const std::string& facility, int64_t after,
                  size_t max_bytes = 1 << 20) {
    ChangeFilter filter;
    filter.facility = facility;
    filter.after_seq = after;
    filter.max_bytes = max_bytes;
    auto batch = hub->ReadChanges(filter);
    EXPECT_TRUE(posta::testing::IsOk(batch));
    auto count = hub->CountChanges(filter);
    EXPECT_TRUE(posta::testing::IsOk(count));
    if (batch.ok() && count.ok() && !batch->more) {
      EXPECT_EQ(static_cast<size_t>(*count), batch->changes.size())
          << facility << " after " << after;
    }
    return batch.ok() ? std::move(batch).value() : ChangeBatch();
  };
  ChangeBatch to_b = read("clinic-b", 0);
  EXPECT_TRUE(to_b.changes.empty());
  const int64_t b_cursor = to_b.last_seq;

  ASSERT_OK_AND_ASSIGN(
      TransferOutcome moved,
      hub->Transfer(ResourceType::kPatient, patient, "clinic-b"));
  EXPECT_EQ(moved.moved[ResourceType::kEncounter], 1);

  // clinic-b: the patient's two earlier versions then its move, the
  // encounter's earlier version then its move; history entries carry the
  // seq of their move so they stay inside the batch's range.
  to_b = read("clinic-b", b_cursor);
  ASSERT_EQ(to_b.changes.size(), 5u);
  EXPECT_EQ(to_b.changes[0].record.id, patient);
  EXPECT_EQ(to_b.changes[0].record.facility, "region");
  EXPECT_EQ(to_b.changes[1].record.id, patient);
  EXPECT_EQ(to_b.changes[1].record.facility, "region");
  EXPECT_EQ(to_b.changes[2].record.id, patient);
  EXPECT_EQ(to_b.changes[2].record.facility, "clinic-b");
  EXPECT_EQ(to_b.changes[0].seq, to_b.changes[2].seq);
  EXPECT_EQ(to_b.changes[3].record.id, encounter);
  EXPECT_EQ(to_b.changes[4].record.id, encounter);
  EXPECT_EQ(to_b.changes[4].record.facility, "clinic-b");
  for (const ChangeEntry& c : to_b.changes) {
    EXPECT_GT(c.seq, b_cursor);
    EXPECT_LE(c.seq, to_b.last_seq);
  }
  // Bounded batches cut between moves, never inside one.
  ChangeBatch small = read("clinic-b", b_cursor, 1);
  ASSERT_EQ(small.changes.size(), 3u);
  EXPECT_TRUE(small.more);
  small = read("clinic-b", small.last_seq, 1);
  EXPECT_EQ(small.changes.size(), 2u);

  // The old owner learns of the move and nothing after it; a third
  // facility sees nothing.
  ChangeBatch to_region = read("region", 0);
  EXPECT_EQ(to_region.changes.size(), 6u);  // 4 versions + 2 moves out
  EXPECT_TRUE(read("clinic-c", 0).changes.empty());
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK(hub->Write(UpdateOp(ResourceType::kPatient, patient,
                                PatientBody("Moved", "At B")))
                .status);
  EXPECT_TRUE(read("region", to_region.last_seq).changes.empty());
  EXPECT_EQ(read("clinic-b", to_b.last_seq).changes.size(), 1u);

  // A move on to clinic-c: clinic-b learns of it; clinic-c gets the whole
  // history, the versions owned by region and by clinic-b.
  ASSERT_OK(hub->Transfer(ResourceType::kPatient, patient, "clinic-c"));
  ChangeBatch b_learns = read("clinic-b", to_b.last_seq);
  EXPECT_EQ(b_learns.changes.size(), 3u);  // the edit, two moves out
  ChangeBatch to_c = read("clinic-c", 0);
  // Patient: 2 (region) + move to b + edit at b + move to c; encounter: 1 +
  // move to b + move to c.
  EXPECT_EQ(to_c.changes.size(), 8u);
  EXPECT_TRUE(read("region", to_region.last_seq).changes.empty());

  const std::vector<RecordKey> asked = {
      {ResourceType::kPatient, patient},
      {ResourceType::kPatient, "nobody"},
      {ResourceType::kEncounter, patient}};  // the id, not of this type
  ASSERT_OK_AND_ASSIGN(auto owners, hub->PastOwners(asked));
  ASSERT_EQ(owners.size(), 3u);
  EXPECT_EQ(owners[0],
            (std::vector<std::string>{"clinic-b", "clinic-c", "region"}));
  EXPECT_TRUE(owners[1].empty());
  EXPECT_TRUE(owners[2].empty());
}

}  // namespace
}  // namespace posta::storage::testing
