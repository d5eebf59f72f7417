// The sync protocol end to end in one process: clinics' SyncClients talk to
// a HubService through an in-process transport that can lose requests and
// answers. Real stores on real files; no sockets (tests/integration has
// those).
#include <gtest/gtest.h>

#include "sync_fixture.h"

namespace posta::sync::testing {
namespace {

class SyncProtocolTest : public SyncFixture {
 protected:
  // A second box of clinic-a, enrolled, syncing with `options`.
  Node SecondBox(const SyncOptions& options) {
    Node b;
    b.store = Open("b.db", "clinic-a", "clinic", &clinic_clock_);
    if (b.store == nullptr) return b;
    b.transport = std::make_unique<LoopTransport>(*hub_);
    b.client = std::make_unique<SyncClient>(*b.store, *b.transport,
                                            clinic_clock_, options);
    Enroll(b);
    return b;
  }
};

TEST_F(SyncProtocolTest, PushThenPullConvergesAndRespectsScope) {
  Node a = Clinic("clinic-a");
  Node b = Clinic("clinic-b");
  std::vector<std::string> a_ids;
  for (int i = 0; i < 200; ++i) {
    a_ids.push_back(Create(*a.store, "Alpha" + std::to_string(i)));
  }
  std::string b_id = Create(*b.store, "Beta");

  SyncResult ra = Sync(a);
  EXPECT_EQ(ra.pushed, 200);
  EXPECT_GT(ra.push_batches, 1);  // 16 KiB batches
  EXPECT_EQ(ra.pulled, 0);        // its own records do not come back
  SyncResult rb = Sync(b);
  EXPECT_EQ(rb.pushed, 1);
  EXPECT_EQ(rb.pulled, 0);  // nothing of clinic-a

  EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*a.store, "clinic-a"));
  EXPECT_EQ(Digest(*hub_store_, "clinic-b"), Digest(*b.store, "clinic-b"));
  EXPECT_EQ(b.store->Get(ResourceType::kPatient, a_ids[0]).status().code(),
            Status::Code::kNotFound);
  ASSERT_OK(hub_store_->Get(ResourceType::kPatient, b_id));

  // A second sync moves nothing.
  ra = Sync(a);
  EXPECT_EQ(ra.pushed, 0);
  EXPECT_EQ(ra.pulled, 0);
  ASSERT_OK_AND_ASSIGN(storage::PeerState peer,
                       hub_store_->GetPeer(a.store->node_id()));
  EXPECT_EQ(peer.facility, "clinic-a");
  ASSERT_OK_AND_ASSIGN(storage::StoreStats stats, a.store->Stats());
  EXPECT_EQ(peer.received_seq, stats.last_seq);
}

// A pull asks for its next batch while it stores the one before (protocol
// 3), saying how far it has stored: the hub's record of what the box holds
// never runs ahead of the box's disk. With a hub of protocol 2 it asks
// after storing, and sends no stored_seq (that hub would refuse it).
TEST_F(SyncProtocolTest, APullAsksAheadButAcknowledgesOnlyWhatIsStored) {
  Node a = Clinic("clinic-a");
  for (int i = 0; i < 300; ++i) Create(*a.store, "Alpha" + std::to_string(i));
  Sync(a);

  // A second box of the same facility, with small batches.
  SyncOptions small;
  small.batch_bytes = small.min_batch_bytes = 4 << 10;
  small.max_batch_bytes = 8 << 10;
  Node b = SecondBox(small);
  ASSERT_NE(b.store, nullptr);

  const std::string hub_id = hub_store_->node_id();
  uint32_t speak = kProtocolVersion;
  int pulls = 0;
  int asked_ahead = 0;
  b.transport->tamper = [&](std::string_view op, std::string& body) {
    if (op == "hello") {
      SayProtocol(body, speak);
      return;
    }
    if (op != "pull") return;
    Result<PullRequest> request = DecodePullRequest(body);
    ASSERT_TRUE(posta::testing::IsOk(request));
    ++pulls;
    if (request->stored_seq) ++asked_ahead;
    // What the hub will record as acknowledged is on the box's disk.
    Result<storage::PeerState> stored = b.store->GetPeer(hub_id);
    const int64_t on_disk = stored.ok() ? stored->received_seq : 0;
    EXPECT_LE(request->stored_seq.value_or(request->after_seq), on_disk);
  };
  SyncResult first = Sync(b);
  EXPECT_EQ(first.pulled, 300);
  EXPECT_GT(first.pull_batches, 5);
  EXPECT_EQ(asked_ahead, first.pull_batches - 1) << pulls;
  EXPECT_EQ(Digest(*a.store, "clinic-a"), Digest(*b.store, "clinic-a"));
  ASSERT_OK_AND_ASSIGN(storage::PeerState at_hub,
                       hub_store_->GetPeer(b.store->node_id()));
  ASSERT_OK_AND_ASSIGN(storage::PeerState at_box, b.store->GetPeer(hub_id));
  EXPECT_LE(at_hub.acked_seq, at_box.received_seq);

  for (int i = 0; i < 300; ++i) Create(*a.store, "Beta" + std::to_string(i));
  Sync(a);
  speak = kPullAheadProtocolVersion - 1;
  pulls = asked_ahead = 0;
  SyncResult older = Sync(b);
  EXPECT_EQ(older.pulled, 300);
  EXPECT_GT(older.pull_batches, 5);
  EXPECT_EQ(asked_ahead, 0) << pulls;
  EXPECT_EQ(Digest(*a.store, "clinic-a"), Digest(*b.store, "clinic-a"));
}

// A box short of memory caps its pulled batches (max_pull_batch_bytes)
// and still pushes in batches as large as max_batch_bytes: the hub holds
// those, and each is one commit there.
TEST_F(SyncProtocolTest, PulledBatchesHaveTheirOwnCap) {
  Node a = Clinic("clinic-a");
  for (int i = 0; i < 300; ++i) Create(*a.store, "Alpha" + std::to_string(i));
  Sync(a);

  SyncOptions options;
  options.batch_bytes = options.min_batch_bytes = 4 << 10;
  options.max_batch_bytes = 64 << 10;
  options.max_pull_batch_bytes = 8 << 10;
  Node b = SecondBox(options);
  ASSERT_NE(b.store, nullptr);
  for (int i = 0; i < 300; ++i) Create(*b.store, "Beta" + std::to_string(i));

  uint64_t largest_pull_asked = 0;
  size_t largest_push = 0;
  b.transport->tamper = [&](std::string_view op, std::string& body) {
    if (op == "pull") {
      Result<PullRequest> request = DecodePullRequest(body);
      ASSERT_TRUE(posta::testing::IsOk(request));
      largest_pull_asked = std::max(largest_pull_asked, request->max_bytes);
    } else if (op == "push") {
      Result<PushBatch> batch = DecodePushBatch(body);
      ASSERT_TRUE(posta::testing::IsOk(batch));
      size_t bytes = 0;
      for (const storage::ChangeEntry& change : batch->changes) {
        bytes += change.record.content.size();
      }
      largest_push = std::max(largest_push, bytes);
    }
  };
  SyncResult result = Sync(b);
  EXPECT_EQ(result.pushed, 300);
  EXPECT_EQ(result.pulled, 300);
  EXPECT_GT(largest_pull_asked, 0u);
  EXPECT_LE(largest_pull_asked, uint64_t{8} << 10);
  EXPECT_GT(largest_push, size_t{8} << 10);
  EXPECT_EQ(Sync(a).pulled, 300);
  EXPECT_EQ(Digest(*a.store, "clinic-a"), Digest(*b.store, "clinic-a"));
}

// The hub's freshness report learns from each sync: the clinic's pending
// changes and version at hello, and when its sync completed.
TEST_F(SyncProtocolTest, TheHubRecordsWhatEachSyncSaid) {
  Node a = Clinic("clinic-a");
  for (int i = 0; i < 3; ++i) Create(*a.store, "Alpha" + std::to_string(i));
  Sync(a);
  ASSERT_OK_AND_ASSIGN(storage::FreshnessReport first,
                       hub_store_->ReportFreshness({}));
  ASSERT_EQ(first.rows.size(), 1u);
  EXPECT_EQ(first.rows[0].facility, "clinic-a");
  EXPECT_EQ(first.rows[0].pending_changes, 3);  // said before pushing them
  EXPECT_EQ(first.rows[0].last_sync_ms, hub_clock_.WallNowMillis());
  EXPECT_EQ(first.rows[0].last_record_ms, clinic_clock_.WallNowMillis());

  Create(*a.store, "Later");
  hub_clock_.Advance(std::chrono::minutes(5));
  Sync(a);
  ASSERT_OK_AND_ASSIGN(storage::FreshnessReport second,
                       hub_store_->ReportFreshness({}));
  EXPECT_EQ(second.rows[0].pending_changes, 1);
  EXPECT_EQ(second.rows[0].last_sync_ms, hub_clock_.WallNowMillis());
}

TEST_F(SyncProtocolTest, AReplacedBoxPullsItsFacilityBack) {
  Node a = Clinic("clinic-a");
  for (int i = 0; i < 20; ++i) Create(*a.store, "Alpha" + std::to_string(i));
  Sync(a);
  // A new box for the same clinic starts empty and pulls everything.
  Node fresh = Clinic("clinic-a");
  fresh.store.reset();
  fresh.store = Open("clinic-a-new.db", "clinic-a", "clinic", &clinic_clock_);
  fresh.client = std::make_unique<SyncClient>(*fresh.store, *fresh.transport,
                                              clinic_clock_, SyncOptions{});
  Enroll(fresh);
  SyncResult r = Sync(fresh);
  EXPECT_EQ(r.pulled, 20);
  EXPECT_EQ(Digest(*fresh.store, "clinic-a"), Digest(*a.store, "clinic-a"));
}

TEST_F(SyncProtocolTest, ConcurrentEditsMergeAndConflictsReachBothSides) {
  Node a = Clinic("clinic-a");
  std::string id = Create(*a.store, "Garcia", "female", "M1");
  Sync(a);
  // The hub edits the family name while the clinic, offline, edits both
  // the family name and the identifier.
  hub_clock_.Advance(std::chrono::seconds(5));
  Update(*hub_store_, id, "Garcia-Lopez", "female", "M1");
  clinic_clock_.Advance(std::chrono::seconds(10));
  Update(*a.store, id, "Garcia Lopez", "female", "M2");

  SyncResult r = Sync(a);
  EXPECT_EQ(r.pushed, 1);
  // The clinic's name is newer and wins; the hub's concurrent name is kept
  // as a conflict, and the merged record comes back.
  ASSERT_OK_AND_ASSIGN(auto hub_conflicts,
                       hub_store_->ListConflicts(/*open_only=*/true, 10));
  ASSERT_EQ(hub_conflicts.size(), 1u);
  EXPECT_EQ(hub_conflicts[0].field, "name");
  EXPECT_NE(hub_conflicts[0].loser.value->find("Garcia-Lopez"),
            std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto clinic_conflicts,
                       a.store->ListConflicts(/*open_only=*/true, 10));
  ASSERT_EQ(clinic_conflicts.size(), 1u);
  EXPECT_EQ(clinic_conflicts[0].id, hub_conflicts[0].id);
  EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*a.store, "clinic-a"));

  // Resolved at the hub in favour of the hub's name: closes at the clinic.
  storage::ConflictResolution resolution;
  resolution.id = hub_conflicts[0].id;
  resolution.choice = storage::ConflictResolution::Choice::kTakeLoser;
  resolution.resolved_by = "coordinator";
  ASSERT_OK(hub_store_->ResolveConflict(resolution));
  Sync(a);
  ASSERT_OK_AND_ASSIGN(storage::Conflict closed,
                       a.store->GetConflict(resolution.id));
  EXPECT_EQ(closed.state, storage::ConflictState::kResolved);
  ASSERT_OK_AND_ASSIGN(storage::Record record,
                       a.store->Get(ResourceType::kPatient, id));
  EXPECT_NE(record.content.find("Garcia-Lopez"), std::string::npos);
  EXPECT_NE(record.content.find("M2"), std::string::npos);
  EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*a.store, "clinic-a"));
}

TEST_F(SyncProtocolTest, DeleteRacingAnEditIsAConflict) {
  Node a = Clinic("clinic-a");
  std::string id = Create(*a.store, "Garcia");
  Sync(a);
  hub_clock_.Advance(std::chrono::seconds(5));
  Update(*hub_store_, id, "Garcia", "male");
  clinic_clock_.Advance(std::chrono::seconds(10));
  WriteOp del;
  del.kind = WriteKind::kDelete;
  del.type = ResourceType::kPatient;
  del.id = id;
  ASSERT_OK(a.store->Write(del).status);
  Sync(a);
  ASSERT_OK_AND_ASSIGN(auto conflicts,
                       hub_store_->ListConflicts(/*open_only=*/true, 10));
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0].field, storage::kDeletedField);
  EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*a.store, "clinic-a"));
}

TEST_F(SyncProtocolTest, LostAnswersAndRequestsLoseAndDuplicateNothing) {
  Node a = Clinic("clinic-a");
  for (int i = 0; i < 40; ++i) Create(*a.store, "Alpha" + std::to_string(i));
  // The hub commits the first push but its answer is lost.
  a.transport->drop_answer = 0;
  int pushes = 0;
  a.transport->tamper = [&](std::string_view op, std::string&) {
    if (op == "push" && ++pushes == 1) a.transport->drop_answer = 1;
  };
  auto first = a.client->SyncOnce();
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), Status::Code::kUnavailable);
  a.transport->tamper = nullptr;
  ASSERT_OK_AND_ASSIGN(storage::StoreStats hub_before, hub_store_->Stats());
  // The retry resumes where the hub is; the committed batch is not resent.
  SyncResult second = Sync(a);
  EXPECT_LT(second.pushed, 40);
  ASSERT_OK_AND_ASSIGN(storage::StoreStats hub_after, hub_store_->Stats());
  EXPECT_EQ(hub_after.live_records[ResourceType::kPatient], 40);
  EXPECT_EQ(hub_after.last_seq - hub_before.last_seq, second.pushed);
  EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*a.store, "clinic-a"));

  // A request lost before the hub saw it: the next attempt does it all.
  Create(*a.store, "Late");
  a.transport->drop_request = 1;
  EXPECT_FALSE(a.client->SyncOnce().ok());
  EXPECT_EQ(Sync(a).pushed, 1);
  EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*a.store, "clinic-a"));
}

TEST_F(SyncProtocolTest, ALostPushAckIsMadeGoodByTheNextHandshake) {
  Node a = Clinic("clinic-a");
  Create(*a.store, "Alpha");
  Create(*a.store, "Beta");
  // The hub commits the push; its answer is lost, and so is everything
  // after it in that sync.
  int pushes = 0;
  a.transport->tamper = [&](std::string_view op, std::string&) {
    if (op == "push" && ++pushes == 1) a.transport->drop_answer = 1;
  };
  ASSERT_FALSE(a.client->SyncOnce().ok());
  a.transport->tamper = nullptr;
  // Nothing new to push: the handshake alone says the hub holds both.
  EXPECT_EQ(Sync(a).pushed, 0);
  ASSERT_OK_AND_ASSIGN(auto peers, a.store->ListPeers());
  ASSERT_EQ(peers.size(), 1u);
  ASSERT_OK_AND_ASSIGN(storage::StoreStats stats, a.store->Stats());
  EXPECT_EQ(peers[0].acked_seq, stats.last_seq);
  storage::ChangeFilter pending;
  pending.only_origin = a.store->node_id();
  pending.after_seq = peers[0].acked_seq;
  ASSERT_OK_AND_ASSIGN(int64_t left, a.store->CountChanges(pending));
  EXPECT_EQ(left, 0);
}

TEST_F(SyncProtocolTest, ReplayedBatchesChangeNothing) {
  Node a = Clinic("clinic-a");
  for (int i = 0; i < 5; ++i) Create(*a.store, "Alpha" + std::to_string(i));
  std::vector<std::string> pushes;
  a.transport->tamper = [&](std::string_view op, std::string& body) {
    if (op == "push") pushes.push_back(body);
  };
  Sync(a);
  ASSERT_FALSE(pushes.empty());
  ASSERT_OK_AND_ASSIGN(std::string before, hub_store_->ContentDigest());
  for (int i = 0; i < 3; ++i) {
    for (const std::string& body : pushes) {
      SyncReply reply = As(a, "push", body);
      EXPECT_EQ(reply.status, 200);
    }
  }
  ASSERT_OK_AND_ASSIGN(std::string after, hub_store_->ContentDigest());
  EXPECT_EQ(before, after);
}

TEST_F(SyncProtocolTest, BadInputIsRefusedAndStoresNothing) {
  Node a = Clinic("clinic-a");
  Create(*a.store, "Alpha");
  Sync(a);
  ASSERT_OK_AND_ASSIGN(std::string before, hub_store_->ContentDigest());
  // Garbage.
  SyncReply reply = As(a, "push", "not a batch");
  EXPECT_EQ(reply.status, 400);
  ASSERT_OK_AND_ASSIGN(ErrorReply error, DecodeErrorReply(reply.body));
  EXPECT_EQ(error.code, kErrorBadBatch);
  EXPECT_EQ(As(a, "frobnicate", "").status, 404);
  // A push from an enrolled node that never said hello.
  Node c = Clinic("clinic-c");
  PushBatch stranger;
  stranger.node_id = c.store->node_id();
  stranger.to_seq = 1;
  EXPECT_EQ(As(c, "push", Encode(stranger)).status, 409);
  // A record of another facility.
  Create(*a.store, "Beta");
  a.transport->tamper = [&](std::string_view op, std::string& body) {
    if (op != "push") return;
    auto batch = DecodePushBatch(body);
    ASSERT_OK(batch);
    batch->changes[0].record.facility = "clinic-b";
    body = Encode(*batch);
  };
  auto refused = a.client->SyncOnce();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kPermissionDenied);
  ASSERT_OK_AND_ASSIGN(std::string after, hub_store_->ContentDigest());
  EXPECT_EQ(before, after);
}

TEST_F(SyncProtocolTest,
       SharedLocationsReachEveryClinicAndOnlyTheHubEditsThem) {
  Node a = Clinic("clinic-a");
  Node b = Clinic("clinic-b");
  auto location = [](const std::string& name) {
    return R"({"resourceType":"Location","name":")" + name + R"("})";
  };
  storage::WriteOutcome shared =
      hub_store_->Write(WriteOp{WriteKind::kCreate, ResourceType::kLocation, "",
                                location("District hospital"), std::nullopt});
  ASSERT_OK(shared.status);
  storage::WriteOutcome own_a =
      a.store->Write(WriteOp{WriteKind::kCreate, ResourceType::kLocation, "",
                             location("Clinic A ward"), std::nullopt});
  ASSERT_OK(own_a.status);
  const std::string a_patient = Create(*a.store, "Alpha");
  const std::string b_patient = Create(*b.store, "Beta");

  SyncResult ra = Sync(a);
  EXPECT_EQ(ra.pushed, 2);
  EXPECT_EQ(ra.pulled, 1);  // the shared Location
  SyncResult rb = Sync(b);
  EXPECT_EQ(rb.pulled, 1);  // the shared Location, nothing of clinic-a
  for (Node* node : {&a, &b}) {
    ASSERT_OK_AND_ASSIGN(
        storage::Record got,
        node->store->Get(ResourceType::kLocation, shared.record.id));
    EXPECT_EQ(got.facility, storage::kSharedFacility);
  }
  EXPECT_EQ(
      b.store->Get(ResourceType::kLocation, own_a.record.id).status().code(),
      Status::Code::kNotFound);
  EXPECT_EQ(b.store->Get(ResourceType::kPatient, a_patient).status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(a.store->Get(ResourceType::kPatient, b_patient).status().code(),
            Status::Code::kNotFound);

  // A clinic cannot edit it; the hub can, and the edit reaches both.
  storage::WriteOutcome refused = a.store->Write(
      WriteOp{WriteKind::kUpdate, ResourceType::kLocation, shared.record.id,
              location("Renamed at a clinic"), std::nullopt});
  EXPECT_EQ(refused.status.code(), Status::Code::kPermissionDenied);
  hub_clock_.Advance(std::chrono::seconds(5));
  ASSERT_OK(hub_store_
                ->Write(WriteOp{WriteKind::kUpdate, ResourceType::kLocation,
                                shared.record.id, location("Regional hospital"),
                                std::nullopt})
                .status);
  EXPECT_EQ(Sync(a).pulled, 1);
  EXPECT_EQ(Sync(b).pulled, 1);
  const std::string shared_scope(storage::kSharedFacility);
  EXPECT_EQ(Digest(*hub_store_, shared_scope), Digest(*a.store, shared_scope));
  EXPECT_EQ(Digest(*hub_store_, shared_scope), Digest(*b.store, shared_scope));
  EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*a.store, "clinic-a"));
  EXPECT_EQ(Digest(*hub_store_, "clinic-b"), Digest(*b.store, "clinic-b"));

  // A pushed version of a shared record is refused whole.
  ASSERT_OK_AND_ASSIGN(std::string before, hub_store_->ContentDigest());
  Create(*a.store, "Gamma");
  a.transport->tamper = [&](std::string_view op, std::string& body) {
    if (op != "push") return;
    auto batch = DecodePushBatch(body);
    ASSERT_OK(batch);
    batch->changes[0].record.facility = std::string(storage::kSharedFacility);
    body = Encode(*batch);
  };
  auto scope = a.client->SyncOnce();
  ASSERT_FALSE(scope.ok());
  EXPECT_EQ(scope.status().code(), Status::Code::kPermissionDenied);
  ASSERT_OK_AND_ASSIGN(std::string after, hub_store_->ContentDigest());
  EXPECT_EQ(before, after);
}

TEST_F(SyncProtocolTest, HandshakeRefusesOtherProtocolsAndFastClocks) {
  Node a = Clinic("clinic-a");
  Hello hello;
  hello.node_id = a.store->node_id();
  hello.facility = "clinic-a";
  hello.role = "clinic";
  hello.clock_ms = kNov2026;
  hello.protocol_version = kProtocolVersion + 5;
  hello.min_protocol_version = kProtocolVersion + 5;
  SyncReply reply = As(a, "hello", Encode(hello));
  EXPECT_EQ(reply.status, 409);
  ASSERT_OK_AND_ASSIGN(ErrorReply error, DecodeErrorReply(reply.body));
  EXPECT_EQ(error.code, kErrorVersionMismatch);
  EXPECT_NE(error.message.find(std::to_string(kProtocolVersion + 5)),
            std::string::npos);
  // A newer clinic that still speaks ours is served at ours.
  hello.min_protocol_version = kProtocolVersion;
  reply = As(a, "hello", Encode(hello));
  ASSERT_EQ(reply.status, 200);
  ASSERT_OK_AND_ASSIGN(HelloReply ok, DecodeHelloReply(reply.body));
  EXPECT_EQ(ok.protocol_version, kProtocolVersion);

  // A box whose clock says 2099 is told so, with both clocks.
  base::ManualClock future(4070908800000);  // 2099-01-01
  Node b = Clinic("clinic-b", &future);
  auto refused = b.client->SyncOnce();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kPreconditionFailed);
  EXPECT_NE(refused.status().message().find("2099-01-01"), std::string::npos)
      << refused.status().message();
}

TEST_F(SyncProtocolTest, ABoardIn1970SyncsAndOrdersAfterTheHub) {
  base::ManualClock board(0);  // no real-time clock, booted in 1970
  Node a = Clinic("clinic-a", &board);
  std::string id = Create(*a.store, "Garcia", "female");
  Sync(a);
  ASSERT_OK(hub_store_->Get(ResourceType::kPatient, id));
  // The hub edits; the board pulls it and then edits again: its edit must
  // order after the hub's even though its clock says 1970.
  hub_clock_.Advance(std::chrono::seconds(5));
  Update(*hub_store_, id, "Garcia", "male");
  Sync(a);
  ASSERT_OK_AND_ASSIGN(storage::Record pulled,
                       a.store->Get(ResourceType::kPatient, id));
  EXPECT_NE(pulled.content.find("\"male\""), std::string::npos);
  board.Advance(std::chrono::seconds(1));
  Update(*a.store, id, "Garcia", "female");
  Sync(a);
  ASSERT_OK_AND_ASSIGN(storage::Record at_hub,
                       hub_store_->Get(ResourceType::kPatient, id));
  EXPECT_NE(at_hub.content.find("\"female\""), std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto conflicts, hub_store_->ListConflicts(true, 10));
  EXPECT_TRUE(conflicts.empty());
  ASSERT_OK_AND_ASSIGN(storage::StoreStats stats, a.store->Stats());
  EXPECT_EQ(stats.clock_flags, 0);  // hub stamps were not "future" to it
  EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*a.store, "clinic-a"));
}

// ---- Transfers between facilities ----

TEST_F(SyncProtocolTest, ATransferAtTheHubMovesThePatientWithItsHistory) {
  Node a = Clinic("clinic-a");
  Node b = Clinic("clinic-b");
  Node c = Clinic("clinic-c");
  const std::string patient = Create(*a.store, "Moved", "female", "M1");
  const std::string encounter = AddEncounter(*a.store, patient);
  clinic_clock_.Advance(std::chrono::seconds(1));
  Update(*a.store, patient, "Moved", "female", "M2");
  Sync(a);
  EXPECT_EQ(Sync(b).pulled, 0);
  EXPECT_EQ(Sync(c).pulled, 0);

  hub_clock_.Advance(std::chrono::seconds(5));
  ASSERT_OK_AND_ASSIGN(
      storage::TransferOutcome moved,
      hub_store_->Transfer(ResourceType::kPatient, patient, "clinic-b"));
  EXPECT_EQ(moved.moved[ResourceType::kEncounter], 1);

  // clinic-b: both records, with the versions made at clinic-a.
  SyncResult rb = Sync(b);
  EXPECT_EQ(rb.pulled, 5);  // 2 + 1 earlier versions, 2 moves
  EXPECT_EQ(Owner(*b.store, ResourceType::kPatient, patient), "clinic-b");
  EXPECT_EQ(Owner(*b.store, ResourceType::kEncounter, encounter), "clinic-b");
  ASSERT_OK_AND_ASSIGN(auto history,
                       b.store->History(ResourceType::kPatient, patient, 10));
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].facility, "clinic-b");
  EXPECT_EQ(history[1].facility, "clinic-a");
  EXPECT_EQ(history[2].facility, "clinic-a");
  EXPECT_EQ(history[2].version.node, a.store->node_id());
  EXPECT_EQ(Digest(*hub_store_, "clinic-b"), Digest(*b.store, "clinic-b"));
  // It is clinic-b's to edit now.
  clinic_clock_.Advance(std::chrono::seconds(10));
  Update(*b.store, patient, "Moved", "female", "M3");
  EXPECT_EQ(Sync(b).pushed, 1);

  // clinic-a learns of the move and edits no more; its scope no longer
  // holds the records.
  Sync(a);
  EXPECT_EQ(Owner(*a.store, ResourceType::kPatient, patient), "clinic-b");
  EXPECT_EQ(Owner(*a.store, ResourceType::kEncounter, encounter), "clinic-b");
  WriteOp edit;
  edit.kind = WriteKind::kUpdate;
  edit.type = ResourceType::kPatient;
  edit.id = patient;
  edit.body = PatientBody("Moved", "male", "M1");
  storage::WriteOutcome refused = a.store->Write(edit);
  EXPECT_EQ(refused.status.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(refused.status.message().find(
                "was transferred to facility clinic-b; it is edited there"),
            std::string::npos)
      << refused.status.ToString();
  EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*a.store, "clinic-a"));
  // clinic-a never gets clinic-b's later edit.
  ASSERT_OK_AND_ASSIGN(storage::Record at_a,
                       a.store->Get(ResourceType::kPatient, patient));
  EXPECT_EQ(at_a.content.find("M3"), std::string::npos);

  // A third clinic never sees any of it.
  EXPECT_EQ(Sync(c).pulled, 0);
  EXPECT_EQ(Owner(*c.store, ResourceType::kPatient, patient), "");
  EXPECT_EQ(Owner(*c.store, ResourceType::kEncounter, encounter), "");

  // And back: clinic-b transfers it to clinic-a, which gets clinic-b's edit.
  ASSERT_OK(b.store->Transfer(ResourceType::kPatient, patient, "clinic-a"));
  Sync(b);
  Sync(a);
  EXPECT_EQ(Owner(*a.store, ResourceType::kPatient, patient), "clinic-a");
  ASSERT_OK_AND_ASSIGN(at_a, a.store->Get(ResourceType::kPatient, patient));
  EXPECT_NE(at_a.content.find("M3"), std::string::npos);
  EXPECT_OK(a.store->Write(edit).status);
  Sync(a);
  Sync(b);
  EXPECT_EQ(Sync(c).pulled, 0);
  for (const char* f : {"clinic-a", "clinic-b"}) {
    EXPECT_EQ(Digest(*hub_store_, f), Digest(*a.store, f)) << f;
  }
  EXPECT_EQ(Digest(*hub_store_, "clinic-b"), Digest(*b.store, "clinic-b"));
  EXPECT_EQ(Owner(*hub_store_, ResourceType::kPatient, patient), "clinic-a");
  EXPECT_EQ(Owner(*b.store, ResourceType::kPatient, patient), "clinic-a");
}

TEST_F(SyncProtocolTest, TheOwningClinicTransfersEvenBeforeItFirstSyncs) {
  Node a = Clinic("clinic-a");
  Node b = Clinic("clinic-b");
  Node c = Clinic("clinic-c");
  const std::string synced = Create(*a.store, "Synced");
  AddEncounter(*a.store, synced);
  Sync(a);
  // One patient known to the hub, one created and moved while offline.
  const std::string offline = Create(*a.store, "Offline");
  ASSERT_OK(a.store->Transfer(ResourceType::kPatient, synced, "clinic-b"));
  ASSERT_OK(a.store->Transfer(ResourceType::kPatient, offline, "clinic-b"));
  SyncResult ra = Sync(a);
  EXPECT_EQ(ra.pushed, 4);  // offline's creation, three moves
  EXPECT_EQ(Owner(*hub_store_, ResourceType::kPatient, synced), "clinic-b");
  EXPECT_EQ(Owner(*hub_store_, ResourceType::kPatient, offline), "clinic-b");

  Sync(b);
  for (const std::string& id : {synced, offline}) {
    EXPECT_EQ(Owner(*b.store, ResourceType::kPatient, id), "clinic-b");
    ASSERT_OK_AND_ASSIGN(auto history,
                         b.store->History(ResourceType::kPatient, id, 10));
    EXPECT_EQ(history.size(), 2u);
  }
  EXPECT_EQ(Digest(*hub_store_, "clinic-b"), Digest(*b.store, "clinic-b"));
  EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*a.store, "clinic-a"));
  EXPECT_EQ(Sync(c).pulled, 0);
  // Nothing more moves.
  EXPECT_EQ(Sync(a).pulled, 0);
  EXPECT_EQ(Sync(b).pulled, 0);
}

TEST_F(SyncProtocolTest, AnOfflineEditRacingAHubTransferMerges) {
  Node a = Clinic("clinic-a");
  Node b = Clinic("clinic-b");
  const std::string patient = Create(*a.store, "Racing", "female", "M1");
  Sync(a);
  hub_clock_.Advance(std::chrono::seconds(5));
  ASSERT_OK(hub_store_->Transfer(ResourceType::kPatient, patient, "clinic-b"));
  // clinic-a, offline, still owns it and edits it.
  clinic_clock_.Advance(std::chrono::seconds(10));
  Update(*a.store, patient, "Racing", "female", "M2");

  // The push is accepted (clinic-a owned the record), fields merge, and
  // the owner stays the newer one.
  SyncResult ra = Sync(a);
  EXPECT_EQ(ra.pushed, 1);
  EXPECT_EQ(Owner(*hub_store_, ResourceType::kPatient, patient), "clinic-b");
  EXPECT_EQ(Owner(*a.store, ResourceType::kPatient, patient), "clinic-b");
  ASSERT_OK_AND_ASSIGN(storage::Record at_hub,
                       hub_store_->Get(ResourceType::kPatient, patient));
  EXPECT_NE(at_hub.content.find("M2"), std::string::npos);
  // No refusal loop: further syncs succeed and settle.
  Sync(a);
  EXPECT_EQ(Sync(a).pushed, 0);

  Sync(b);
  ASSERT_OK_AND_ASSIGN(storage::Record at_b,
                       b.store->Get(ResourceType::kPatient, patient));
  EXPECT_NE(at_b.content.find("M2"), std::string::npos);
  EXPECT_EQ(at_b.facility, "clinic-b");
  EXPECT_EQ(Digest(*hub_store_, "clinic-b"), Digest(*b.store, "clinic-b"));
  EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*a.store, "clinic-a"));
}

TEST_F(SyncProtocolTest, ConcurrentTransfersConvergeOnTheNewest) {
  for (bool clinic_newer : {true, false}) {
    SCOPED_TRACE(clinic_newer ? "the clinic's transfer is newer"
                              : "the hub's transfer is newer");
    hub_.reset();
    hub_store_.reset();
    hub_store_ =
        Open(clinic_newer ? "hub1.db" : "hub2.db", "region-hub", "hub");
    hub_ = std::make_unique<HubService>(*hub_store_, hub_clock_);
    const std::string tag = clinic_newer ? "1" : "2";
    Node a = Clinic("clinic-a" + tag);
    Node b = Clinic("clinic-b" + tag);
    Node c = Clinic("clinic-c" + tag);
    const std::string patient = Create(*a.store, "Contested");
    Sync(a);
    // The hub sends it to clinic-c while clinic-a, offline, sends it to
    // clinic-b.
    hub_clock_.Advance(std::chrono::seconds(clinic_newer ? 5 : 60));
    ASSERT_OK(hub_store_->Transfer(ResourceType::kPatient, patient,
                                   "clinic-c" + tag));
    clinic_clock_.Advance(std::chrono::seconds(clinic_newer ? 20 : 5));
    ASSERT_OK(
        a.store->Transfer(ResourceType::kPatient, patient, "clinic-b" + tag));
    const std::string winner = (clinic_newer ? "clinic-b" : "clinic-c") + tag;
    Sync(c);
    Sync(a);
    Sync(b);
    Sync(c);
    Sync(a);
    EXPECT_EQ(Owner(*hub_store_, ResourceType::kPatient, patient), winner);
    EXPECT_EQ(Owner(*a.store, ResourceType::kPatient, patient), winner);
    Node& won = clinic_newer ? b : c;
    Node& lost = clinic_newer ? c : b;
    EXPECT_EQ(Owner(*won.store, ResourceType::kPatient, patient), winner);
    // The losing clinic either never had it, or learned it moved on.
    const std::string at_loser =
        Owner(*lost.store, ResourceType::kPatient, patient);
    EXPECT_TRUE(at_loser.empty() || at_loser == winner) << at_loser;
    EXPECT_EQ(Digest(*hub_store_, winner), Digest(*won.store, winner));
    for (Node* n : {&a, &b, &c}) {
      const std::string f = n->store->facility();
      EXPECT_EQ(Digest(*hub_store_, f), Digest(*n->store, f)) << f;
    }
    ASSERT_OK_AND_ASSIGN(auto conflicts, hub_store_->ListConflicts(true, 10));
    EXPECT_TRUE(conflicts.empty());
  }
}

TEST_F(SyncProtocolTest, AClinicCannotClaimAnotherFacilitysPatient) {
  Node a = Clinic("clinic-a");
  Node b = Clinic("clinic-b");
  const std::string patient = Create(*a.store, "Theirs");
  Sync(a);
  ASSERT_OK_AND_ASSIGN(std::string before, hub_store_->ContentDigest());
  // clinic-b pushes a version of clinic-a's patient that moves it to
  // itself.
  Create(*b.store, "Mine");
  b.transport->tamper = [&](std::string_view op, std::string& body) {
    if (op != "push") return;
    auto batch = DecodePushBatch(body);
    ASSERT_OK(batch);
    storage::Record& r = batch->changes[0].record;
    r.id = patient;
    r.field_stamps[std::string(storage::kFacilityField)] = r.version;
    body = Encode(*batch);
  };
  auto refused = b.client->SyncOnce();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("which it never owned"),
            std::string::npos)
      << refused.status().ToString();
  ASSERT_OK_AND_ASSIGN(std::string after, hub_store_->ContentDigest());
  EXPECT_EQ(before, after);
  EXPECT_EQ(Owner(*hub_store_, ResourceType::kPatient, patient), "clinic-a");
}

}  // namespace
}  // namespace posta::sync::testing
