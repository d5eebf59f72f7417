// The store's side of replication: the change log read in full, applying
// another node's versions through a merger, conflicts, peers and the
// replica digest. The merge rule itself is sync's (tests/unit/sync); here a
// plain rule keeps the store's part in view.
#include "posta/storage/replication.h"

#include <gtest/gtest.h>

#include <thread>

#include "store_test_util.h"

namespace posta::storage::testing {
namespace {

using posta::testing::IsOk;

// Takes the remote version when its version stamp is newer, and reports a
// conflict on "gender" when asked to.
class NewerWins final : public ChangeMerger {
 public:
  bool report_conflict = false;
  int calls = 0;

  Outcome Merge(const Record* local, History& history,
                const ChangeEntry& remote) override {
    ++calls;
    Outcome out;
    const Record& r = remote.record;
    if (local == nullptr || r.version > local->version) {
      out.action = Action::kTakeRemote;
      out.content = r.content;
      out.field_stamps = r.field_stamps;
      out.deleted = r.deleted;
    }
    if (local != nullptr) {
      last_seen_own = history.HasSeen("name", local->field_stamps.at("name"));
    }
    if (report_conflict) {
      Conflict c;
      c.type = r.type;
      c.record_id = r.id;
      c.facility = r.facility;
      c.field = "gender";
      c.winner = {std::string("\"male\""), r.version};
      c.loser = {std::string("\"female\""),
                 base::HlcStamp{1, 0, "0000000000000001"}};
      c.id = ConflictId(c.type, c.record_id, c.field, c.loser.stamp);
      c.state_stamp = r.version;
      out.conflicts.push_back(c);
    }
    return out;
  }
  bool last_seen_own = false;
};

class ReplicationTest : public StoreFixture {
 protected:
  void SetUp() override {
    a_ = OpenStore();
    ASSERT_NE(a_, nullptr);
    StoreOptions options = Options(dir_.File("b.db"));
    options.role = "hub";
    auto b = OpenRecordStore(options);
    ASSERT_OK(b);
    b_ = std::move(b).value();
  }

  ChangeBatch ReadAll(RecordStore& store, int64_t after = 0) {
    ChangeFilter filter;
    filter.after_seq = after;
    auto batch = store.ReadChanges(filter);
    EXPECT_TRUE(IsOk(batch));
    return batch.ok() ? std::move(batch).value() : ChangeBatch();
  }

  PeerState PeerA(int64_t received) {
    PeerState peer;
    peer.node_id = a_->node_id();
    peer.facility = kFacility;
    peer.role = "clinic";
    peer.received_seq = received;
    return peer;
  }

  // After a refused batch: nothing of it on b_, not even a version before
  // the one that refused it, nor the cursor that would have covered it.
  void ExpectNothingStored(const ChangeBatch& batch) {
    auto stats = b_->Stats();
    ASSERT_TRUE(IsOk(stats));
    EXPECT_EQ(stats->last_seq, 0);
    EXPECT_EQ(b_->GetPeer(a_->node_id()).status().code(),
              Status::Code::kNotFound);
    EXPECT_EQ(b_->Get(ResourceType::kPatient, batch.changes[0].record.id)
                  .status()
                  .code(),
              Status::Code::kNotFound);
    EXPECT_OK(b_->CheckIntegrity());
  }

  std::unique_ptr<RecordStore> a_;
  std::unique_ptr<RecordStore> b_;
  NewerWins merger_;
};

TEST_F(ReplicationTest, ChangesCarryFullVersionsAndBases) {
  std::string id = AddPatient(*a_, "García", "José");
  clock_.Advance(std::chrono::seconds(1));
  WriteOutcome v2 = a_->Write(
      UpdateOp(ResourceType::kPatient, id,
               PatientBody("García", "José", "male", "1980-04-03", "MRN-1")));
  ASSERT_OK(v2.status);
  clock_.Advance(std::chrono::seconds(1));
  WriteOutcome v3 = a_->Write(DeleteOp(ResourceType::kPatient, id));
  ASSERT_OK(v3.status);

  ChangeBatch batch = ReadAll(*a_);
  ASSERT_EQ(batch.changes.size(), 3u);
  EXPECT_FALSE(batch.more);
  EXPECT_EQ(batch.last_seq, 3);
  const ChangeEntry& first = batch.changes[0];
  EXPECT_EQ(first.seq, 1);
  EXPECT_TRUE(first.base_stamps.empty());
  for (const auto& [field, stamp] : first.record.field_stamps) {
    EXPECT_EQ(stamp, first.record.version) << field;
  }
  const ChangeEntry& second = batch.changes[1];
  EXPECT_EQ(second.record.field_stamps.at("birthDate"), v2.record.version);
  EXPECT_EQ(second.record.field_stamps.at("name"), first.record.version);
  ASSERT_EQ(second.base_stamps.size(), 1u);
  EXPECT_EQ(second.base_stamps.at("birthDate"), first.record.version);
  const ChangeEntry& third = batch.changes[2];
  EXPECT_TRUE(third.record.deleted);
  EXPECT_EQ(third.record.field_stamps.at(std::string(kDeletedField)),
            v3.record.version);
  EXPECT_TRUE(third.base_stamps.empty());  // never deleted before
}

TEST_F(ReplicationTest, ReadChangesHonoursLimitsOriginAndFacility) {
  for (int i = 0; i < 5; ++i) AddPatient(*a_, "Family" + std::to_string(i));
  ChangeFilter filter;
  filter.max_changes = 2;
  ASSERT_OK_AND_ASSIGN(ChangeBatch page, a_->ReadChanges(filter));
  ASSERT_EQ(page.changes.size(), 2u);
  EXPECT_TRUE(page.more);
  EXPECT_EQ(page.last_seq, 2);
  filter.after_seq = page.last_seq;
  filter.max_changes = 100;
  filter.max_bytes = 1;  // still one change, never zero
  ASSERT_OK_AND_ASSIGN(page, a_->ReadChanges(filter));
  ASSERT_EQ(page.changes.size(), 1u);
  EXPECT_EQ(page.changes[0].seq, 3);

  ChangeFilter mine;
  mine.exclude_origin = a_->node_id();
  ASSERT_OK_AND_ASSIGN(page, a_->ReadChanges(mine));
  EXPECT_TRUE(page.changes.empty());
  EXPECT_EQ(page.last_seq, 5);  // skipped entries still advance the cursor
  EXPECT_FALSE(page.more);

  mine.exclude_origin.clear();
  mine.only_origin = a_->node_id();
  ASSERT_OK_AND_ASSIGN(page, a_->ReadChanges(mine));
  EXPECT_EQ(page.changes.size(), 5u);
  mine.only_origin = "0000000000000009";
  ASSERT_OK_AND_ASSIGN(page, a_->ReadChanges(mine));
  EXPECT_TRUE(page.changes.empty());

  ChangeFilter other;
  other.facility = "clinic-b";
  ASSERT_OK_AND_ASSIGN(page, a_->ReadChanges(other));
  EXPECT_TRUE(page.changes.empty());
  other.facility = kFacility;
  ASSERT_OK_AND_ASSIGN(page, a_->ReadChanges(other));
  EXPECT_EQ(page.changes.size(), 5u);
}

TEST_F(ReplicationTest, CountChangesAgreesWithReadChanges) {
  for (int i = 0; i < 3; ++i) AddPatient(*a_, "Count" + std::to_string(i));
  ChangeBatch batch = ReadAll(*a_);
  ASSERT_OK(b_->ApplyChanges(batch.changes, batch.conflicts, merger_,
                             PeerA(batch.last_seq))
                .status());
  for (int i = 0; i < 2; ++i) AddPatient(*b_, "Hub" + std::to_string(i));

  std::vector<ChangeFilter> filters(8);
  filters[1].exclude_origin = a_->node_id();
  filters[2].only_origin = a_->node_id();
  filters[3].only_origin = b_->node_id();
  filters[4].facility = kFacility;
  filters[5].facility = "clinic-b";
  filters[6].after_seq = 2;
  filters[6].only_origin = a_->node_id();
  filters[7].exclude_origin = b_->node_id();
  filters[7].facility = kFacility;
  const std::vector<int64_t> want = {5, 2, 3, 2, 5, 0, 1, 3};
  for (size_t i = 0; i < filters.size(); ++i) {
    ChangeFilter filter = filters[i];
    filter.max_changes = 1000;
    filter.max_bytes = size_t{1} << 30;
    ASSERT_OK_AND_ASSIGN(ChangeBatch page, b_->ReadChanges(filter));
    ASSERT_OK_AND_ASSIGN(int64_t count, b_->CountChanges(filters[i]));
    EXPECT_EQ(count, static_cast<int64_t>(page.changes.size())) << i;
    EXPECT_EQ(count, want[i]) << i;
  }
}

TEST_F(ReplicationTest, ApplyTakesVersionsAndRecordsThePeer) {
  std::string id = AddPatient(*a_, "Núñez", "Lucía");
  ChangeBatch batch = ReadAll(*a_);
  ASSERT_OK_AND_ASSIGN(ApplyStats stats,
                       b_->ApplyChanges(batch.changes, batch.conflicts, merger_,
                                        PeerA(batch.last_seq)));
  EXPECT_EQ(stats.taken, 1);
  ASSERT_OK_AND_ASSIGN(Record got, b_->Get(ResourceType::kPatient, id));
  ASSERT_OK_AND_ASSIGN(Record want, a_->Get(ResourceType::kPatient, id));
  EXPECT_EQ(got.content, want.content);
  EXPECT_EQ(got.version, want.version);
  EXPECT_EQ(got.field_stamps, want.field_stamps);
  EXPECT_EQ(got.facility, kFacility);  // the origin's, not the hub's
  ASSERT_OK_AND_ASSIGN(PeerState peer, b_->GetPeer(a_->node_id()));
  EXPECT_EQ(peer.received_seq, 1);
  EXPECT_EQ(peer.role, "clinic");
  // Found through the hub's own search index.
  SearchQuery query;
  query.conditions = {{"name", SearchOp::kDefault, "lucia"}};
  ASSERT_OK_AND_ASSIGN(SearchPage page, b_->Search(query));
  EXPECT_EQ(page.records.size(), 1u);
  // The hub's change log now holds the version, made by the clinic.
  ChangeBatch hub_log = ReadAll(*b_);
  ASSERT_EQ(hub_log.changes.size(), 1u);
  EXPECT_EQ(hub_log.changes[0].record.version.node, a_->node_id());
  EXPECT_EQ(ReadAll(*b_, 0).changes.size(), 1u);
  ChangeFilter echo;
  echo.exclude_origin = a_->node_id();
  ASSERT_OK_AND_ASSIGN(ChangeBatch back, b_->ReadChanges(echo));
  EXPECT_TRUE(back.changes.empty());

  // Equal states, equal replica digests, whatever the logs.
  ASSERT_OK_AND_ASSIGN(std::string da, a_->ReplicaDigest(kFacility));
  ASSERT_OK_AND_ASSIGN(std::string db, b_->ReplicaDigest(kFacility));
  EXPECT_EQ(da, db);
  ASSERT_OK_AND_ASSIGN(std::string other, b_->ReplicaDigest("clinic-b"));
  EXPECT_NE(other, db);
}

// A batch carrying several versions of one record leaves the hub's index
// as the last version has it.
TEST_F(ReplicationTest, ABatchIndexesTheLastVersionOfEachRecord) {
  std::string kept = AddPatient(*a_, "Uno", "Ana");
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK(a_->Write(UpdateOp(ResourceType::kPatient, kept,
                               PatientBody("Dos", "Ana")))
                .status);
  std::string gone = AddPatient(*a_, "Tres", "Eva");
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK(a_->Write(DeleteOp(ResourceType::kPatient, gone)).status);
  ChangeBatch batch = ReadAll(*a_);
  ASSERT_EQ(batch.changes.size(), 4u);
  ASSERT_OK_AND_ASSIGN(ApplyStats stats,
                       b_->ApplyChanges(batch.changes, batch.conflicts, merger_,
                                        PeerA(batch.last_seq)));
  EXPECT_EQ(stats.taken, 4);
  auto found = [&](RecordStore& store, const std::string& name) {
    SearchQuery query;
    query.conditions = {{"name", SearchOp::kDefault, name}};
    auto page = store.Search(query);
    EXPECT_TRUE(IsOk(page));
    std::vector<std::string> ids;
    if (page.ok()) {
      for (const Record& r : page->records) ids.push_back(r.id);
    }
    return ids;
  };
  for (const char* name : {"uno", "dos", "tres", "ana", "eva"}) {
    EXPECT_EQ(found(*b_, name), found(*a_, name)) << name;
  }
  EXPECT_EQ(found(*b_, "dos"), std::vector<std::string>{kept});
  EXPECT_TRUE(found(*b_, "tres").empty());
  EXPECT_OK(b_->CheckIntegrity());
}

TEST_F(ReplicationTest, ApplyingAgainStoresNothingNew) {
  std::string id = AddPatient(*a_);
  ChangeBatch batch = ReadAll(*a_);
  ASSERT_OK(b_->ApplyChanges(batch.changes, batch.conflicts, merger_,
                             PeerA(batch.last_seq)));
  ASSERT_OK_AND_ASSIGN(StoreStats before, b_->Stats());
  ASSERT_OK_AND_ASSIGN(ApplyStats again,
                       b_->ApplyChanges(batch.changes, batch.conflicts, merger_,
                                        PeerA(batch.last_seq)));
  EXPECT_EQ(again.taken, 0);
  EXPECT_EQ(again.ignored, 1);
  ASSERT_OK_AND_ASSIGN(StoreStats after, b_->Stats());
  EXPECT_EQ(after.last_seq, before.last_seq);
  EXPECT_TRUE(merger_.last_seen_own);  // history knows the stamp it holds
}

TEST_F(ReplicationTest, AnInvalidVersionRejectsTheWholeBatch) {
  AddPatient(*a_, "Uno");
  AddPatient(*a_, "Dos");
  ChangeBatch batch = ReadAll(*a_);
  ASSERT_EQ(batch.changes.size(), 2u);
  batch.changes[1].record.content = R"({"gender":"sometimes"})";
  auto result = b_->ApplyChanges(batch.changes, batch.conflicts, merger_,
                                 PeerA(batch.last_seq));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(result.status().message().find("Patient/"), std::string::npos)
      << result.status().message();
  EXPECT_NE(result.status().message().find("gender"), std::string::npos);
  // Nor the valid version before the invalid one, though it was merged.
  ExpectNothingStored(batch);

  batch = ReadAll(*a_);
  batch.changes[0].record.id = "not-a-uuid";
  EXPECT_EQ(
      b_->ApplyChanges(batch.changes, {}, merger_, PeerA(2)).status().code(),
      Status::Code::kInvalidArgument);
  batch = ReadAll(*a_);
  batch.changes[0].record.content = R"({"resourceType":"Patient"})";
  EXPECT_EQ(
      b_->ApplyChanges(batch.changes, {}, merger_, PeerA(2)).status().code(),
      Status::Code::kInvalidArgument);
}

// What a sync client does while it pulls: the next batch is prepared on
// another thread while the one before is stored; the result is that of
// applying each batch whole.
TEST_F(ReplicationTest, ABatchPreparedWhileAnotherIsStoredAppliesTheSame) {
  for (int i = 0; i < 40; ++i) AddPatient(*a_, "Prep" + std::to_string(i));
  ChangeBatch all = ReadAll(*a_);
  ASSERT_EQ(all.changes.size(), 40u);
  std::vector<ChangeEntry> first(all.changes.begin(), all.changes.begin() + 25);
  std::vector<ChangeEntry> second(all.changes.begin() + 25, all.changes.end());

  std::unique_ptr<PreparedChanges> prepared_first = b_->PrepareChanges(first, {});
  std::unique_ptr<PreparedChanges> prepared_second;
  std::thread ahead([&] { prepared_second = b_->PrepareChanges(second, {}); });
  auto stored = b_->ApplyPrepared(std::move(prepared_first), {}, merger_,
                                  PeerA(first.back().seq));
  ahead.join();
  ASSERT_OK(stored);
  EXPECT_EQ(stored->taken, 25);
  // The batch moved after it was prepared: its changes stay where they are.
  std::vector<ChangeEntry> moved = std::move(second);
  ASSERT_OK_AND_ASSIGN(ApplyStats rest,
                       b_->ApplyPrepared(std::move(prepared_second), {},
                                         merger_, PeerA(moved.back().seq)));
  EXPECT_EQ(rest.taken, 15);

  ASSERT_OK_AND_ASSIGN(std::string da, a_->ReplicaDigest(kFacility));
  ASSERT_OK_AND_ASSIGN(std::string db, b_->ReplicaDigest(kFacility));
  EXPECT_EQ(da, db);
  ASSERT_OK_AND_ASSIGN(PeerState peer, b_->GetPeer(a_->node_id()));
  EXPECT_EQ(peer.received_seq, 40);
  SearchQuery query;
  query.conditions = {{"name", SearchOp::kDefault, "prep39"}};
  ASSERT_OK_AND_ASSIGN(SearchPage page, b_->Search(query));
  EXPECT_EQ(page.records.size(), 1u);
  EXPECT_OK(b_->CheckIntegrity());
}

// Preparing checks nothing away: an invalid version is refused when the
// batch is applied, naming it, and nothing is stored.
TEST_F(ReplicationTest, APreparedBatchWithAnInvalidVersionStoresNothing) {
  AddPatient(*a_, "Uno");
  AddPatient(*a_, "Dos");
  ChangeBatch batch = ReadAll(*a_);
  batch.changes[1].record.content = R"({"gender":"sometimes"})";
  auto result = b_->ApplyPrepared(b_->PrepareChanges(batch.changes, {}), {},
                                  merger_, PeerA(batch.last_seq));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(result.status().message().find("gender"), std::string::npos)
      << result.status().message();
  // Nor the valid version before the invalid one, though it was merged.
  ExpectNothingStored(batch);

  // Prepared by another store: applied from scratch, checked the same.
  batch = ReadAll(*a_);
  ASSERT_OK_AND_ASSIGN(ApplyStats applied,
                       b_->ApplyPrepared(a_->PrepareChanges(batch.changes, {}), {},
                                         merger_, PeerA(batch.last_seq)));
  EXPECT_EQ(applied.taken, 2);
}

// A push carries the audit entries of its changes: they are stored in the
// changes' transaction, and an entry the chain refuses refuses the batch.
TEST_F(ReplicationTest, AuditEntriesThatComeWithChangesShareTheirTransaction) {
  AddPatient(*a_, "Uno");
  AddPatient(*a_, "Dos");
  ChangeBatch batch = ReadAll(*a_);
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEntry> chain,
                       a_->AuditChainSince(a_->node_id(), 0, 100));
  ASSERT_GE(chain.size(), 2u);

  // An entry that does not follow the one before it: nothing is stored,
  // neither the changes nor the peer's cursor nor any entry.
  std::vector<AuditEntry> gap = chain;
  gap.back().seq += 5;
  auto refused = b_->ApplyPrepared(b_->PrepareChanges(batch.changes, gap), {},
                                   merger_, PeerA(batch.last_seq));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("does not follow"),
            std::string::npos)
      << refused.status().message();
  ExpectNothingStored(batch);
  ASSERT_OK_AND_ASSIGN(AuditReceipt before, b_->AuditChainEnd(a_->node_id()));
  EXPECT_EQ(before.received_seq, 0);

  ASSERT_OK_AND_ASSIGN(
      ApplyStats stats,
      b_->ApplyPrepared(b_->PrepareChanges(batch.changes, chain), {}, merger_,
                        PeerA(batch.last_seq)));
  EXPECT_EQ(stats.taken, 2);
  ASSERT_TRUE(stats.audit.has_value());
  EXPECT_EQ(stats.audit->stored, static_cast<int64_t>(chain.size()));
  EXPECT_EQ(stats.audit->received_seq, chain.back().seq);
  EXPECT_FALSE(stats.audit->broken.has_value());
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEntry> held,
                       b_->AuditChainSince(a_->node_id(), 0, 100));
  ASSERT_EQ(held.size(), chain.size());
  EXPECT_EQ(held.back().hash, chain.back().hash);
  // Without entries, no receipt.
  ASSERT_OK_AND_ASSIGN(ApplyStats again,
                       b_->ApplyChanges(batch.changes, {}, merger_,
                                        PeerA(batch.last_seq)));
  EXPECT_FALSE(again.audit.has_value());
}

TEST_F(ReplicationTest, ConflictsShareTheChangeLogAndSyncByStateStamp) {
  std::string id = AddPatient(*a_);
  ChangeBatch batch = ReadAll(*a_);
  merger_.report_conflict = true;
  ASSERT_OK_AND_ASSIGN(
      ApplyStats stats,
      b_->ApplyChanges(batch.changes, {}, merger_, PeerA(batch.last_seq)));
  EXPECT_EQ(stats.conflicts, 1);
  ASSERT_OK_AND_ASSIGN(StoreStats hub_stats, b_->Stats());
  EXPECT_EQ(hub_stats.open_conflicts, 1);
  // Found again (a replay): still one conflict, no new log entry.
  ASSERT_OK_AND_ASSIGN(stats, b_->ApplyChanges(batch.changes, {}, merger_,
                                               PeerA(batch.last_seq)));
  EXPECT_EQ(stats.conflicts, 0);

  ChangeBatch hub_log = ReadAll(*b_);
  ASSERT_EQ(hub_log.changes.size(), 1u);
  ASSERT_EQ(hub_log.conflicts.size(), 1u);
  const Conflict& c = hub_log.conflicts[0];
  EXPECT_EQ(c.record_id, id);
  EXPECT_EQ(c.state, ConflictState::kOpen);
  // The conflict took its own position in the log, after the version.
  EXPECT_NE(c.seq, hub_log.changes[0].seq);
  EXPECT_EQ(hub_log.last_seq, std::max(c.seq, hub_log.changes[0].seq));
  // A later local write continues after both.
  clock_.Advance(std::chrono::seconds(1));
  WriteOutcome later =
      b_->Write(CreateOp(ResourceType::kPatient, PatientBody("Tres")));
  ASSERT_OK(later.status);
  ChangeBatch tail = ReadAll(*b_, hub_log.last_seq);
  ASSERT_EQ(tail.changes.size(), 1u);
  EXPECT_GT(tail.changes[0].seq, c.seq);

  // Resolved at the hub: the value that lost is written back.
  ConflictResolution resolution;
  resolution.id = c.id;
  resolution.choice = ConflictResolution::Choice::kTakeLoser;
  resolution.resolved_by = "coordinator";
  ASSERT_OK_AND_ASSIGN(Conflict closed, b_->ResolveConflict(resolution));
  EXPECT_EQ(closed.state, ConflictState::kResolved);
  EXPECT_EQ(closed.resolution, "loser");
  EXPECT_GT(closed.state_stamp, c.state_stamp);
  ASSERT_OK_AND_ASSIGN(Record record, b_->Get(ResourceType::kPatient, id));
  EXPECT_NE(record.content.find("\"gender\":\"female\""), std::string::npos);
  EXPECT_EQ(record.field_stamps.at("gender"), record.version);
  EXPECT_EQ(b_->ResolveConflict(resolution).status().code(),
            Status::Code::kConflict);

  // The close travels: the clinic learns the conflict and then its end.
  merger_.report_conflict = false;
  ChangeBatch to_clinic = ReadAll(*b_);
  ASSERT_OK(a_->ApplyChanges(to_clinic.changes, to_clinic.conflicts, merger_,
                             PeerState{}));
  ASSERT_OK_AND_ASSIGN(Conflict at_clinic, a_->GetConflict(c.id));
  EXPECT_EQ(at_clinic.state, ConflictState::kResolved);
  ASSERT_OK_AND_ASSIGN(StoreStats clinic_stats, a_->Stats());
  EXPECT_EQ(clinic_stats.open_conflicts, 0);
  // An older state of it changes nothing.
  std::vector<Conflict> stale = {c};
  ASSERT_OK(a_->ApplyChanges({}, stale, merger_, PeerState{}));
  ASSERT_OK_AND_ASSIGN(at_clinic, a_->GetConflict(c.id));
  EXPECT_EQ(at_clinic.state, ConflictState::kResolved);
  // A conflict whose id does not match its content is refused.
  stale[0].record_id = AddPatient(*a_);
  EXPECT_EQ(a_->ApplyChanges({}, stale, merger_, PeerState{}).status().code(),
            Status::Code::kInvalidArgument);
}

TEST_F(ReplicationTest, ResolvingWithANewValueValidatesIt) {
  AddPatient(*a_);
  ChangeBatch batch = ReadAll(*a_);
  merger_.report_conflict = true;
  ASSERT_OK(b_->ApplyChanges(batch.changes, {}, merger_, PeerA(1)));
  ASSERT_OK_AND_ASSIGN(auto open, b_->ListConflicts(/*open_only=*/true, 10));
  ASSERT_EQ(open.size(), 1u);
  // Scoped by the record's current owner, in the query.
  ASSERT_OK_AND_ASSIGN(
      auto in_scope,
      b_->ListConflicts(true, 10, std::vector<std::string>{"x", kFacility}));
  EXPECT_EQ(in_scope.size(), 1u);
  ASSERT_OK_AND_ASSIGN(
      auto other_scope,
      b_->ListConflicts(true, 10, std::vector<std::string>{"clinic-b", "*"}));
  EXPECT_TRUE(other_scope.empty());
  ASSERT_OK_AND_ASSIGN(auto no_scope,
                       b_->ListConflicts(true, 10, std::vector<std::string>{}));
  EXPECT_TRUE(no_scope.empty());
  ConflictResolution resolution;
  resolution.id = open[0].id;
  resolution.choice = ConflictResolution::Choice::kNewValue;
  resolution.value = "\"sometimes\"";
  auto bad = b_->ResolveConflict(resolution);
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(Conflict still, b_->GetConflict(open[0].id));
  EXPECT_EQ(still.state, ConflictState::kOpen);
  resolution.value = "\"other\"";
  ASSERT_OK(b_->ResolveConflict(resolution));
  ASSERT_OK_AND_ASSIGN(open, b_->ListConflicts(/*open_only=*/true, 10));
  EXPECT_TRUE(open.empty());
  ASSERT_OK_AND_ASSIGN(auto all, b_->ListConflicts(/*open_only=*/false, 10));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].resolution, "value");
  EXPECT_EQ(b_->GetConflict("nope").status().code(), Status::Code::kNotFound);
}

TEST_F(ReplicationTest, PeersAreKept) {
  PeerState peer = PeerA(7);
  peer.acked_seq = 3;
  peer.last_sync_ms = 1234;
  ASSERT_OK(b_->UpdatePeer(peer));
  peer.received_seq = 9;
  ASSERT_OK(b_->UpdatePeer(peer));
  ASSERT_OK_AND_ASSIGN(auto peers, b_->ListPeers());
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].received_seq, 9);
  EXPECT_EQ(peers[0].acked_seq, 3);
  EXPECT_EQ(peers[0].last_sync_ms, 1234);
  peer.node_id = "Not A Node";
  EXPECT_EQ(b_->UpdatePeer(peer).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace posta::storage::testing

namespace posta::storage::testing {
namespace {

std::string LocationBody(const std::string& name,
                         const std::string& status = "active") {
  return R"({"resourceType":"Location","name":")" + name + R"(","status":")" +
         status + R"("})";
}

TEST_F(ReplicationTest, HubLocationsAreSharedAndReadOnlyAtClinics) {
  // b_ is a hub, a_ a clinic.
  WriteOutcome shared =
      b_->Write(CreateOp(ResourceType::kLocation, LocationBody("District")));
  ASSERT_OK(shared.status);
  EXPECT_EQ(shared.record.facility, kSharedFacility);
  const std::string hub_patient = AddPatient(*b_, "Hub", "Made");
  ASSERT_OK_AND_ASSIGN(Record patient,
                       b_->Get(ResourceType::kPatient, hub_patient));
  EXPECT_EQ(patient.facility, kFacility);  // only Locations are shared
  WriteOutcome own =
      a_->Write(CreateOp(ResourceType::kLocation, LocationBody("Ward 2")));
  ASSERT_OK(own.status);
  EXPECT_EQ(own.record.facility, kFacility);  // a clinic's own Location

  ChangeBatch from_hub = ReadAll(*b_);
  PeerState hub_peer;
  hub_peer.node_id = b_->node_id();
  hub_peer.facility = kFacility;
  hub_peer.role = "hub";
  ASSERT_OK(a_->ApplyChanges(from_hub.changes, from_hub.conflicts, merger_,
                             hub_peer));
  const std::string& id = shared.record.id;
  ASSERT_OK_AND_ASSIGN(Record at_clinic, a_->Get(ResourceType::kLocation, id));
  EXPECT_EQ(at_clinic.facility, kSharedFacility);

  for (const WriteOp& op :
       {UpdateOp(ResourceType::kLocation, id, LocationBody("Renamed")),
        UpdateOp(ResourceType::kLocation, id, LocationBody("Renamed"),
                 WriteKind::kUpsert),
        DeleteOp(ResourceType::kLocation, id)}) {
    WriteOutcome refused = a_->Write(op);
    EXPECT_EQ(refused.status.code(), Status::Code::kPermissionDenied);
    EXPECT_NE(refused.status.message().find("edited at the hub"),
              std::string::npos)
        << refused.status.ToString();
  }
  ASSERT_OK_AND_ASSIGN(Record unchanged, a_->Get(ResourceType::kLocation, id));
  EXPECT_EQ(unchanged.version, at_clinic.version);
  // The clinic's own Location and the hub's copy stay writable.
  EXPECT_OK(a_->Write(UpdateOp(ResourceType::kLocation, own.record.id,
                               LocationBody("Ward 2", "suspended")))
                .status);
  WriteOutcome edited = b_->Write(UpdateOp(
      ResourceType::kLocation, id, LocationBody("District", "inactive")));
  ASSERT_OK(edited.status);
  EXPECT_EQ(edited.record.facility, kSharedFacility);
}

TEST_F(ReplicationTest, AFacilityFilterAlsoReturnsSharedRecords) {
  WriteOutcome shared =
      b_->Write(CreateOp(ResourceType::kLocation, LocationBody("District")));
  ASSERT_OK(shared.status);
  AddPatient(*b_, "Owned", "ByA");  // facility kFacility
  ChangeFilter other;
  other.facility = "clinic-b";
  ASSERT_OK_AND_ASSIGN(ChangeBatch page, b_->ReadChanges(other));
  ASSERT_EQ(page.changes.size(), 1u);
  EXPECT_EQ(page.changes[0].record.id, shared.record.id);
  EXPECT_EQ(page.changes[0].record.facility, kSharedFacility);
  other.facility = kFacility;
  ASSERT_OK_AND_ASSIGN(page, b_->ReadChanges(other));
  EXPECT_EQ(page.changes.size(), 2u);
  // Shared records have their own digest scope.
  ASSERT_OK_AND_ASSIGN(std::string shared_digest,
                       b_->ReplicaDigest(std::string(kSharedFacility)));
  ASSERT_OK_AND_ASSIGN(std::string empty, a_->ReplicaDigest("*"));
  EXPECT_NE(shared_digest, empty);
}

}  // namespace
}  // namespace posta::storage::testing
