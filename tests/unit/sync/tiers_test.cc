// Tiers: a district hub that syncs upstream to a national hub as a clinic
// does, with a credential whose scope is its region's facilities
// (docs/sync-protocol.md, "Tiers"). Records go clinic -> district ->
// national and back down; nothing is echoed, nothing is stored twice, a
// conflict is one conflict everywhere, and a record outside the region is
// refused like a forged origin.
#include <gtest/gtest.h>

#include <map>

#include "sync_fixture.h"

namespace posta::sync::testing {
namespace {

constexpr char kDistrict[] = "district-n";

class TiersTest : public SyncFixture {
 protected:
  void SetUp() override {
    SyncFixture::SetUp();
    // The national hub (the fixture's hub) knows the district, its region's
    // clinics, and a clinic of another region.
    for (const auto& [id, region] :
         std::map<std::string, std::string>{{kDistrict, "north"},
                                            {"clinic-a", "north"},
                                            {"clinic-b", "north"},
                                            {"clinic-s", "south"}}) {
      ASSERT_OK(hub_store_->AddFacility(
          {id, "Facility " + id, region, hub_clock_.WallNowMillis()}));
      facilities_.insert(id);
    }
    district_.store = Open("district.db", kDistrict, "hub", &district_clock_);
    district_hub_ =
        std::make_unique<HubService>(*district_.store, district_clock_);
    district_.transport = std::make_unique<LoopTransport>(*hub_);
    district_.client = std::make_unique<SyncClient>(
        *district_.store, *district_.transport, district_clock_);
    EnrollRequest request;
    request.code = HubCode(kDistrict, "north");
    request.node_id = district_.store->node_id();
    request.facility = kDistrict;
    Result<EnrollReply> reply = sync::Enroll(*district_.transport, request);
    ASSERT_OK(reply.status());
    ASSERT_OK(district_.transport->SetBearerToken(reply->credential));
    for (const char* id : {"clinic-a", "clinic-b"}) {
      ASSERT_OK(district_.store->AddFacility(
          {id, std::string("Facility ") + id, "north",
           district_clock_.WallNowMillis()}));
    }
  }

  // A code of the national hub enrolling a hub node of `facility` whose
  // scope is `region`.
  std::string HubCode(const std::string& facility, const std::string& region) {
    Result<std::string> code = NewEnrollmentCode();
    EXPECT_TRUE(posta::testing::IsOk(code));
    storage::EnrollmentCode stored;
    stored.code_hash = HashSecret(*NormalizeEnrollmentCode(*code));
    stored.facility = facility;
    stored.region = region;
    stored.created_ms = hub_clock_.WallNowMillis();
    stored.expires_ms = stored.created_ms + 3600000;
    EXPECT_TRUE(posta::testing::IsOk(hub_store_->AddEnrollmentCode(stored)));
    return *code;
  }

  // A clinic of the district, enrolled there.
  Node DistrictClinic(const std::string& facility) {
    Node node;
    node.store = Open(facility + ".db", facility, "clinic", &clinic_clock_);
    node.transport = std::make_unique<LoopTransport>(*district_hub_);
    node.client = std::make_unique<SyncClient>(*node.store, *node.transport,
                                               clinic_clock_);
    Result<std::string> code = NewEnrollmentCode();
    EXPECT_TRUE(posta::testing::IsOk(code));
    storage::EnrollmentCode stored;
    stored.code_hash = HashSecret(*NormalizeEnrollmentCode(*code));
    stored.facility = facility;
    stored.created_ms = district_clock_.WallNowMillis();
    stored.expires_ms = stored.created_ms + 3600000;
    EXPECT_TRUE(
        posta::testing::IsOk(district_.store->AddEnrollmentCode(stored)));
    EnrollRequest request;
    request.code = *code;
    request.node_id = node.store->node_id();
    request.facility = facility;
    Result<EnrollReply> reply = sync::Enroll(*node.transport, request);
    EXPECT_TRUE(posta::testing::IsOk(reply));
    if (reply.ok()) {
      EXPECT_TRUE(posta::testing::IsOk(
          node.transport->SetBearerToken(reply->credential)));
    }
    return node;
  }

  void Tick(int seconds) {
    hub_clock_.Advance(std::chrono::seconds(seconds));
    district_clock_.Advance(std::chrono::seconds(seconds));
    clinic_clock_.Advance(std::chrono::seconds(seconds));
  }

  // Every version in `store`'s log, by record and version stamp: each must
  // be there once.
  void ExpectNoDuplicateVersions(storage::RecordStore& store) {
    storage::ChangeFilter all;
    all.max_changes = 100000;
    all.max_bytes = size_t{64} << 20;
    ASSERT_OK_AND_ASSIGN(storage::ChangeBatch batch, store.ReadChanges(all));
    std::map<std::string, int> seen;
    for (const storage::ChangeEntry& c : batch.changes) {
      ++seen[c.record.id + "@" + c.record.version.ToString()];
    }
    for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key;
  }

  std::string CreateLocation(storage::RecordStore& store,
                             const std::string& name) {
    WriteOp op;
    op.kind = WriteKind::kCreate;
    op.type = ResourceType::kLocation;
    op.body = R"({"resourceType":"Location","name":")" + name + R"("})";
    storage::WriteOutcome out = store.Write(op);
    EXPECT_TRUE(posta::testing::IsOk(out.status));
    return out.record.id;
  }

  base::ManualClock district_clock_{kNov2026};
  Node district_;
  std::unique_ptr<HubService> district_hub_;
};

TEST_F(TiersTest, RecordsGoUpThroughTheDistrictAndCorrectionsComeDown) {
  Node a = DistrictClinic("clinic-a");
  const std::string id = Create(*a.store, "Okafor", "female", "M1");
  EXPECT_EQ(Sync(a).pushed, 1);
  SyncResult up = Sync(district_);
  EXPECT_EQ(up.pushed, 1);
  // The national hub does not send the clinic's version back down.
  EXPECT_EQ(up.pulled, 0);
  ASSERT_OK_AND_ASSIGN(storage::Record at_national,
                       hub_store_->Get(ResourceType::kPatient, id));
  EXPECT_EQ(at_national.facility, "clinic-a");
  EXPECT_EQ(at_national.version.node, a.store->node_id());

  // A correction made at the national hub reaches the clinic.
  Tick(5);
  Update(*hub_store_, id, "Okafor-Eze", "female", "M1");
  up = Sync(district_);
  EXPECT_EQ(up.pushed, 0);
  EXPECT_EQ(up.pulled, 1);
  EXPECT_EQ(Sync(a).pulled, 1);
  ASSERT_OK_AND_ASSIGN(storage::Record at_clinic,
                       a.store->Get(ResourceType::kPatient, id));
  EXPECT_NE(at_clinic.content.find("Okafor-Eze"), std::string::npos);

  // Caught up: nothing goes either way again (the correction is not pushed
  // back up as new, the clinic's version not sent back down).
  up = Sync(district_);
  EXPECT_EQ(up.pushed, 0);
  EXPECT_EQ(up.pulled, 0);
  SyncResult again = Sync(a);
  EXPECT_EQ(again.pushed, 0);
  EXPECT_EQ(again.pulled, 0);
  EXPECT_EQ(Digest(*a.store, "clinic-a"), Digest(*hub_store_, "clinic-a"));
  EXPECT_EQ(Digest(*district_.store, "clinic-a"),
            Digest(*hub_store_, "clinic-a"));
  ExpectNoDuplicateVersions(*hub_store_);
  ExpectNoDuplicateVersions(*district_.store);
  ExpectNoDuplicateVersions(*a.store);
}

TEST_F(TiersTest, EditsAtEveryLevelConvergeOnEveryScope) {
  Node a = DistrictClinic("clinic-a");
  Node b = DistrictClinic("clinic-b");
  const std::string pa = Create(*a.store, "Mensah", "male", "A1");
  const std::string pb = Create(*b.store, "Diallo", "female", "B1");
  const std::string pd = Create(*district_.store, "Kone", "male", "D1");
  const std::string national_place = CreateLocation(*hub_store_, "Central");
  const std::string district_place =
      CreateLocation(*district_.store, "District store");
  Sync(a);
  Sync(b);
  Sync(district_);
  Sync(a);
  Sync(b);
  // Edits at every level, then everyone syncs twice.
  Tick(5);
  Update(*hub_store_, pb, "Diallo", "female", "B2");
  Update(*district_.store, pa, "Mensah", "male", "A2");
  Update(*b.store, pb, "Diallo-Sy", "female", "B1");
  for (int round = 0; round < 2; ++round) {
    Sync(a);
    Sync(b);
    Sync(district_);
  }
  Sync(a);
  Sync(b);
  for (const char* facility : {"clinic-a", "clinic-b", "*"}) {
    EXPECT_EQ(Digest(*district_.store, facility), Digest(*hub_store_, facility))
        << facility;
  }
  EXPECT_EQ(Digest(*a.store, "clinic-a"), Digest(*hub_store_, "clinic-a"));
  EXPECT_EQ(Digest(*b.store, "clinic-b"), Digest(*hub_store_, "clinic-b"));
  EXPECT_EQ(Digest(*a.store, "*"), Digest(*hub_store_, "*"));
  EXPECT_EQ(Digest(*district_.store, kDistrict),
            Digest(*hub_store_, kDistrict));
  // Both edits of B's patient merged (different fields): no conflict.
  ASSERT_OK_AND_ASSIGN(storage::Record merged,
                       b.store->Get(ResourceType::kPatient, pb));
  EXPECT_NE(merged.content.find("Diallo-Sy"), std::string::npos);
  EXPECT_NE(merged.content.find("B2"), std::string::npos);
  // Shared reference data from either hub reaches the clinics; a clinic
  // does not receive another clinic's records nor the district's own.
  ASSERT_OK(a.store->Get(ResourceType::kLocation, national_place).status());
  ASSERT_OK(a.store->Get(ResourceType::kLocation, district_place).status());
  ASSERT_OK(hub_store_->Get(ResourceType::kLocation, district_place).status());
  EXPECT_EQ(a.store->Get(ResourceType::kPatient, pb).status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(a.store->Get(ResourceType::kPatient, pd).status().code(),
            Status::Code::kNotFound);
  ASSERT_OK(hub_store_->Get(ResourceType::kPatient, pd).status());
  for (storage::RecordStore* store : {hub_store_.get(), district_.store.get(),
                                      a.store.get(), b.store.get()}) {
    ExpectNoDuplicateVersions(*store);
  }
}

TEST_F(TiersTest, TheDistrictReceivesOnlyItsRegion) {
  Node south = Clinic("clinic-s");  // enrolled at the national hub itself
  const std::string ps = Create(*south.store, "Banda", "female", "S1");
  const std::string pn = Create(*hub_store_, "Phiri", "male", "N1");
  Sync(south);
  Node a = DistrictClinic("clinic-a");
  Sync(district_);
  EXPECT_EQ(district_.store->Get(ResourceType::kPatient, ps).status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(district_.store->Get(ResourceType::kPatient, pn).status().code(),
            Status::Code::kNotFound);

  // Moved into the region, the record comes down with its history.
  ASSERT_OK(
      hub_store_->Transfer(ResourceType::kPatient, ps, "clinic-a").status());
  Sync(district_);
  ASSERT_OK_AND_ASSIGN(storage::Record moved,
                       district_.store->Get(ResourceType::kPatient, ps));
  EXPECT_EQ(moved.facility, "clinic-a");
  Sync(a);
  ASSERT_OK(a.store->Get(ResourceType::kPatient, ps).status());
  EXPECT_EQ(Digest(*a.store, "clinic-a"), Digest(*hub_store_, "clinic-a"));
}

TEST_F(TiersTest, ARecordOutsideTheRegionIsRefusedAndNothingStored) {
  Sync(district_);  // hello: the national hub knows the district
  // A version of a south clinic's record, as a tampered district would
  // relay it.
  auto forged = Open("forged.db", "clinic-s", "clinic", &clinic_clock_);
  Create(*forged, "Zulu", "male", "Z1");
  storage::ChangeFilter all;
  ASSERT_OK_AND_ASSIGN(storage::ChangeBatch read, forged->ReadChanges(all));
  ASSERT_EQ(read.changes.size(), 1u);
  PushBatch push;
  push.node_id = district_.store->node_id();
  push.after_seq = 0;
  push.to_seq = 1;
  push.changes = read.changes;
  ASSERT_OK_AND_ASSIGN(storage::StoreStats before, hub_store_->Stats());
  SyncReply reply = As(district_, "push", Encode(push));
  EXPECT_EQ(reply.status, 403);
  ASSERT_OK_AND_ASSIGN(ErrorReply error, DecodeErrorReply(reply.body));
  EXPECT_EQ(error.code, kErrorScope);
  EXPECT_NE(error.message.find("region north"), std::string::npos)
      << error.message;
  EXPECT_NE(error.message.find("clinic-s"), std::string::npos) << error.message;
  ASSERT_OK_AND_ASSIGN(storage::StoreStats after, hub_store_->Stats());
  EXPECT_EQ(after.last_seq, before.last_seq);
  EXPECT_EQ(hub_store_->Get(ResourceType::kPatient, read.changes[0].record.id)
                .status()
                .code(),
            Status::Code::kNotFound);
}

TEST_F(TiersTest, TheRoleComesFromTheCredential) {
  Node south = Clinic("clinic-s");
  // A clinic's credential cannot sync as a hub...
  Hello hello;
  hello.node_id = south.store->node_id();
  hello.facility = "clinic-s";
  hello.role = std::string(kRoleHub);
  hello.clock_ms = hub_clock_.WallNowMillis();
  SyncReply reply = As(south, "hello", Encode(hello));
  EXPECT_EQ(reply.status, 403);
  ASSERT_OK_AND_ASSIGN(ErrorReply error, DecodeErrorReply(reply.body));
  EXPECT_NE(error.message.find("enrolled as a clinic"), std::string::npos)
      << error.message;
  // ...nor a hub's as a clinic.
  hello.node_id = district_.store->node_id();
  hello.facility = kDistrict;
  hello.role = std::string(kRoleClinic);
  reply = As(district_, "hello", Encode(hello));
  EXPECT_EQ(reply.status, 403);
  ASSERT_OK_AND_ASSIGN(error, DecodeErrorReply(reply.body));
  EXPECT_NE(error.message.find("enrolled as a hub for region north"),
            std::string::npos)
      << error.message;
}

TEST_F(TiersTest, AChangeArrivingByTwoPathsIsStoredOnce) {
  Node a = DistrictClinic("clinic-a");
  const std::string id = Create(*a.store, "Osei", "male", "M1");
  Sync(a);
  Sync(district_);
  ASSERT_OK_AND_ASSIGN(storage::StoreStats before, hub_store_->Stats());
  // The clinic is moved to the national hub itself and pushes its whole
  // log there: the national hub has every version already.
  a.transport = std::make_unique<LoopTransport>(*hub_);
  a.client =
      std::make_unique<SyncClient>(*a.store, *a.transport, clinic_clock_);
  Enroll(a);
  SyncResult direct = Sync(a);
  EXPECT_EQ(direct.pushed, 1);
  EXPECT_EQ(direct.pulled, 0);
  ASSERT_OK_AND_ASSIGN(storage::StoreStats after, hub_store_->Stats());
  EXPECT_EQ(after.last_seq, before.last_seq);
  ExpectNoDuplicateVersions(*hub_store_);
  // And the district sees nothing new from it.
  SyncResult up = Sync(district_);
  EXPECT_EQ(up.pulled, 0);
  ASSERT_OK(hub_store_->Get(ResourceType::kPatient, id).status());
}

TEST_F(TiersTest, AConflictIsOneConflictOnEveryTier) {
  Node a = DistrictClinic("clinic-a");
  const std::string id = Create(*a.store, "Asante", "female", "M1");
  Sync(a);
  Sync(district_);
  // The national hub and the clinic (offline) change the name at once.
  Tick(5);
  Update(*hub_store_, id, "Asante-Boateng", "female", "M1");
  Tick(5);
  Update(*a.store, id, "Asante Boateng", "female", "M1");
  Sync(a);
  Sync(district_);
  Sync(a);
  Sync(district_);
  std::string conflict_id;
  for (storage::RecordStore* store :
       {hub_store_.get(), district_.store.get(), a.store.get()}) {
    ASSERT_OK_AND_ASSIGN(auto conflicts,
                         store->ListConflicts(/*open_only=*/false, 10));
    ASSERT_EQ(conflicts.size(), 1u) << store->node_id();
    EXPECT_EQ(conflicts[0].field, "name");
    if (conflict_id.empty()) conflict_id = conflicts[0].id;
    EXPECT_EQ(conflicts[0].id, conflict_id);
  }
  EXPECT_EQ(Digest(*a.store, "clinic-a"), Digest(*hub_store_, "clinic-a"));

  // Resolved at the national hub: closed at the clinic, still one.
  storage::ConflictResolution resolution;
  resolution.id = conflict_id;
  resolution.choice = storage::ConflictResolution::Choice::kTakeLoser;
  resolution.resolved_by = "coordinator";
  ASSERT_OK(hub_store_->ResolveConflict(resolution));
  Sync(district_);
  Sync(a);
  Sync(district_);
  ASSERT_OK_AND_ASSIGN(storage::Conflict closed,
                       a.store->GetConflict(conflict_id));
  EXPECT_EQ(closed.state, storage::ConflictState::kResolved);
  for (storage::RecordStore* store :
       {hub_store_.get(), district_.store.get(), a.store.get()}) {
    ASSERT_OK_AND_ASSIGN(auto conflicts,
                         store->ListConflicts(/*open_only=*/false, 10));
    EXPECT_EQ(conflicts.size(), 1u) << store->node_id();
  }
  EXPECT_EQ(Digest(*a.store, "clinic-a"), Digest(*hub_store_, "clinic-a"));
  EXPECT_EQ(Digest(*district_.store, "clinic-a"),
            Digest(*hub_store_, "clinic-a"));
}

}  // namespace
}  // namespace posta::sync::testing
