// Audit chains travelling to the hub: a clinic's entries arrive once (a
// replay stores nothing), the hub checks each against the one before, and a
// chain edited at the clinic is flagged at the hub, not silently accepted.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "sync_fixture.h"

namespace posta::sync::testing {
namespace {

class SyncAuditTest : public SyncFixture {
 protected:
  std::vector<storage::AuditEntry> Chain(storage::RecordStore& store,
                                         const std::string& node_id) {
    Result<std::vector<storage::AuditEntry>> chain =
        store.AuditChainSince(node_id, 0, 100000);
    EXPECT_TRUE(posta::testing::IsOk(chain));
    return chain.ok() ? *chain : std::vector<storage::AuditEntry>();
  }

  // A clinic's Hello, sent by hand (As) rather than by its client.
  Hello HelloOf(const Node& node, const std::string& facility) {
    Hello hello;
    hello.node_id = node.store->node_id();
    hello.facility = facility;
    hello.role = "clinic";
    hello.clock_ms = kNov2026;
    return hello;
  }

  void Exec(const std::string& file, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.File(file).c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error),
              SQLITE_OK)
        << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }
};

TEST_F(SyncAuditTest, ClinicChainReachesTheHubOnce) {
  Node a = Clinic("clinic-a");
  for (int i = 0; i < 3; ++i) Create(*a.store, "Diaz" + std::to_string(i));
  SyncResult first = Sync(a);
  const std::string clinic = a.store->node_id();
  std::vector<storage::AuditEntry> mine = Chain(*a.store, clinic);
  ASSERT_GE(mine.size(), 3u);
  EXPECT_EQ(first.audit_pushed, static_cast<int64_t>(mine.size()));
  EXPECT_EQ(first.audit_broken_seq, 0);
  std::vector<storage::AuditEntry> held = Chain(*hub_store_, clinic);
  ASSERT_EQ(held.size(), mine.size());
  for (size_t i = 0; i < mine.size(); ++i) {
    EXPECT_EQ(held[i].hash, mine[i].hash);
    EXPECT_EQ(held[i].facility, "clinic-a");
  }
  // The hub's own chain records the push it applied.
  ASSERT_OK_AND_ASSIGN(
      storage::AuditPage applied,
      hub_store_->ReadAudit({.actor = "node:" + clinic,
                             .action = std::string(storage::kAuditSyncApply),
                             .node_id = hub_store_->node_id()}));
  EXPECT_EQ(applied.entries.size(), 1u);
  ASSERT_OK_AND_ASSIGN(storage::AuditVerification v, hub_store_->VerifyAudit());
  EXPECT_EQ(v.chains, 2);
  EXPECT_TRUE(v.breaks.empty());

  // Nothing new: nothing sent. New entries: only those.
  EXPECT_EQ(Sync(a).audit_pushed, 0);
  Create(*a.store, "Later");
  EXPECT_EQ(Sync(a).audit_pushed, 1);

  // A replay of the whole chain stores nothing.
  AuditBatch replay;
  replay.node_id = clinic;
  replay.entries = Chain(*a.store, clinic);
  SyncReply again = As(a, "audit", Encode(replay));
  ASSERT_EQ(again.status, 200);
  ASSERT_OK_AND_ASSIGN(AuditAck ack, DecodeAuditAck(again.body));
  EXPECT_EQ(ack.stored, 0);
  EXPECT_EQ(ack.received_seq, replay.entries.back().seq);
  EXPECT_EQ(Chain(*hub_store_, clinic).size(), replay.entries.size());
}

TEST_F(SyncAuditTest, AnEditedChainIsFlaggedAtTheHub) {
  Node a = Clinic("clinic-a");
  Create(*a.store, "Diaz");
  Sync(a);
  const std::string clinic = a.store->node_id();
  const int64_t synced = Chain(*a.store, clinic).back().seq;
  Create(*a.store, "Ruiz");
  Create(*a.store, "Soto");
  // Someone with the clinic's file rewrites who made the next entry.
  Exec("clinic-a.db", "UPDATE audit_log SET actor = 'nobody' WHERE seq = " +
                          std::to_string(synced + 1));
  SyncResult result = Sync(a);
  EXPECT_EQ(result.audit_broken_seq, synced + 1);

  ASSERT_OK_AND_ASSIGN(std::vector<storage::AuditBreak> breaks,
                       hub_store_->ListAuditBreaks());
  ASSERT_EQ(breaks.size(), 1u);
  EXPECT_EQ(breaks[0].node_id, clinic);
  EXPECT_EQ(breaks[0].seq, synced + 1);
  EXPECT_NE(breaks[0].why.find("hash"), std::string::npos);
  // Kept as evidence, and recorded in the hub's own chain.
  EXPECT_EQ(Chain(*hub_store_, clinic).size(), Chain(*a.store, clinic).size());
  ASSERT_OK_AND_ASSIGN(
      storage::AuditPage flagged,
      hub_store_->ReadAudit(
          {.action = std::string(storage::kAuditChainBroken)}));
  ASSERT_EQ(flagged.entries.size(), 1u);
  EXPECT_EQ(flagged.entries[0].node_id, hub_store_->node_id());
  EXPECT_EQ(flagged.entries[0].actor, "node:" + clinic);
  ASSERT_OK_AND_ASSIGN(storage::AuditVerification v, hub_store_->VerifyAudit());
  ASSERT_EQ(v.breaks.size(), 1u);
  EXPECT_EQ(v.breaks[0].node_id, clinic);
  // The flag stays; later syncs still carry it, and the hello says it.
  Create(*a.store, "Vega");
  EXPECT_EQ(Sync(a).audit_broken_seq, synced + 1);
  SyncReply said = As(a, "hello", Encode(HelloOf(a, "clinic-a")));
  ASSERT_EQ(said.status, 200);
  ASSERT_OK_AND_ASSIGN(HelloReply reply, DecodeHelloReply(said.body));
  EXPECT_EQ(reply.audit_broken_seq, synced + 1);
  EXPECT_EQ(reply.audit_received_seq, Chain(*hub_store_, clinic).back().seq);
}

TEST_F(SyncAuditTest, AChainRelinkedAtItsTailIsFlagged) {
  Node a = Clinic("clinic-a");
  Create(*a.store, "Diaz");
  Sync(a);
  const std::string clinic = a.store->node_id();
  // The clinic's unsynced tail removed and a new entry written in its
  // place: its prev_hash no longer names what the hub holds.
  const int64_t synced = Chain(*a.store, clinic).back().seq;
  Create(*a.store, "Ruiz");
  Exec("clinic-a.db", "UPDATE audit_log SET prev_hash = '" +
                          std::string(64, 'a') +
                          "' WHERE seq = " + std::to_string(synced + 1));
  Sync(a);
  ASSERT_OK_AND_ASSIGN(std::vector<storage::AuditBreak> breaks,
                       hub_store_->ListAuditBreaks());
  ASSERT_EQ(breaks.size(), 1u);
  EXPECT_NE(breaks[0].why.find("prev_hash"), std::string::npos);
}

TEST_F(SyncAuditTest, AChainRelinkedInsideABatchIsFlagged) {
  Node a = Clinic("clinic-a");
  Create(*a.store, "Diaz");
  Sync(a);
  const std::string clinic = a.store->node_id();
  const int64_t synced = Chain(*a.store, clinic).back().seq;
  for (int i = 0; i < 4; ++i) Create(*a.store, "Ruiz" + std::to_string(i));
  // The third unsynced entry no longer follows the second. The clinic
  // sends that prev_hash whole, as it differs from the hash before it.
  Exec("clinic-a.db", "UPDATE audit_log SET prev_hash = '" +
                          std::string(64, 'b') +
                          "' WHERE seq = " + std::to_string(synced + 3));
  EXPECT_EQ(Sync(a).audit_broken_seq, synced + 3);
  ASSERT_OK_AND_ASSIGN(std::vector<storage::AuditBreak> breaks,
                       hub_store_->ListAuditBreaks());
  ASSERT_EQ(breaks.size(), 1u);
  EXPECT_EQ(breaks[0].seq, synced + 3);
  EXPECT_NE(breaks[0].why.find("prev_hash"), std::string::npos);
}

// Short entries in the audit exchange (protocol 4; a hub of protocol 5
// takes the entries of a push's changes in the push, below).
TEST_F(SyncAuditTest, EntriesTravelShortAndArriveWhole) {
  Node a = Clinic("clinic-a");
  for (int i = 0; i < 5; ++i) Create(*a.store, "Diaz" + std::to_string(i));
  uint32_t speak = kPushAuditProtocolVersion - 1;
  std::vector<AuditBatch> sent;
  int asked = 0;  // audit batches without entries: "where does it end?"
  a.transport->tamper = [&](std::string_view op, std::string& body) {
    if (op == "hello") {
      SayProtocol(body, speak);
    } else if (op == "audit") {
      Result<AuditBatch> batch = DecodeAuditBatch(body);
      ASSERT_TRUE(posta::testing::IsOk(batch));
      if (batch->entries.empty()) {
        ++asked;
      } else {
        sent.push_back(*batch);
      }
    }
  };
  const std::string clinic = a.store->node_id();
  Sync(a);
  // The hello said where the hub's copy ends: no question first.
  EXPECT_EQ(asked, 0);
  ASSERT_EQ(sent.size(), 1u);
  const std::vector<storage::AuditEntry>& shortened = sent[0].entries;
  ASSERT_GE(shortened.size(), 5u);
  // The first entry links to what the hub holds (nothing yet: genesis),
  // the last ends on the whole hash; the ones between are short.
  EXPECT_EQ(shortened.front().prev_hash, storage::AuditGenesisHash());
  EXPECT_EQ(shortened.back().hash.size(), 64u);
  for (size_t i = 1; i + 1 < shortened.size(); ++i) {
    EXPECT_EQ(shortened[i].prev_hash, "") << i;
    EXPECT_EQ(shortened[i].hash.size(), storage::kAuditShortHashDigits) << i;
  }
  const std::vector<storage::AuditEntry> mine = Chain(*a.store, clinic);
  std::vector<storage::AuditEntry> held = Chain(*hub_store_, clinic);
  ASSERT_EQ(held.size(), mine.size());
  for (size_t i = 0; i < mine.size(); ++i) {
    EXPECT_EQ(held[i].prev_hash, mine[i].prev_hash) << i;
    EXPECT_EQ(held[i].hash, mine[i].hash) << i;
  }

  // To a hub of protocol 3 they travel whole, and arrive the same.
  for (int i = 0; i < 3; ++i) Create(*a.store, "Ruiz" + std::to_string(i));
  speak = kShortAuditProtocolVersion - 1;
  sent.clear();
  EXPECT_EQ(Sync(a).audit_broken_seq, 0);
  EXPECT_EQ(asked, 1);
  ASSERT_EQ(sent.size(), 1u);
  for (const storage::AuditEntry& e : sent[0].entries) {
    EXPECT_EQ(e.prev_hash.size(), 64u);
    EXPECT_EQ(e.hash.size(), 64u);
  }
  held = Chain(*hub_store_, clinic);
  ASSERT_EQ(held.size(), Chain(*a.store, clinic).size());
  EXPECT_EQ(held.back().hash, Chain(*a.store, clinic).back().hash);
  ASSERT_OK_AND_ASSIGN(storage::AuditVerification v, hub_store_->VerifyAudit());
  EXPECT_TRUE(v.breaks.empty());
}

// Protocol 5: each push carries the entries of its own changes (and any
// before them), short, naming its changes; the audit step sends only what
// the push did not carry. The hub holds the same chain.
TEST_F(SyncAuditTest, EntriesTravelWithTheirChanges) {
  Node a = Clinic("clinic-a");
  const std::string clinic = a.store->node_id();
  for (int i = 0; i < 150; ++i) Create(*a.store, "Diaz" + std::to_string(i));
  uint32_t speak = kProtocolVersion;
  int pushes = 0;
  int64_t carried = 0;
  int64_t audited = 0;  // entries sent by the audit step
  a.transport->tamper = [&](std::string_view op, std::string& body) {
    if (op == "hello") {
      SayProtocol(body, speak);
    } else if (op == "push") {
      Result<PushBatch> push = DecodePushBatch(body);
      ASSERT_TRUE(posta::testing::IsOk(push));
      ++pushes;
      EXPECT_EQ(push->audit_after_seq.has_value(),
                speak >= kPushAuditProtocolVersion);
      if (push->audit.empty()) return;
      // The batch's entries end on one of its own changes.
      bool ends_on_a_change = false;
      for (const storage::ChangeEntry& c : push->changes) {
        ends_on_a_change |= ChangeKey(c.record) == ChangeKey(push->audit.back());
      }
      EXPECT_TRUE(ends_on_a_change);
      carried += static_cast<int64_t>(push->audit.size());
    } else if (op == "audit") {
      Result<AuditBatch> batch = DecodeAuditBatch(body);
      ASSERT_TRUE(posta::testing::IsOk(batch));
      audited += static_cast<int64_t>(batch->entries.size());
    }
  };
  SyncResult first = Sync(a);
  EXPECT_GT(first.push_batches, 1);
  std::vector<storage::AuditEntry> mine = Chain(*a.store, clinic);
  EXPECT_EQ(carried, static_cast<int64_t>(mine.size()));
  EXPECT_EQ(audited, 0);
  EXPECT_EQ(first.audit_pushed, static_cast<int64_t>(mine.size()));
  std::vector<storage::AuditEntry> held = Chain(*hub_store_, clinic);
  ASSERT_EQ(held.size(), mine.size());
  for (size_t i = 0; i < mine.size(); ++i) {
    EXPECT_EQ(held[i].resource, mine[i].resource) << i;
    EXPECT_EQ(held[i].version, mine[i].version) << i;
    EXPECT_EQ(held[i].hash, mine[i].hash) << i;
  }

  // Reads after the last change travel in the audit step; a change's entry
  // still travels with it.
  Create(*a.store, "Ruiz");
  for (int i = 0; i < 3; ++i) {
    storage::AuditEvent read;
    read.who.actor = "amina";
    read.action = "read";
    read.resource = "Patient/someone";
    ASSERT_OK(a.store->AppendAudit(read, storage::AuditDurability::kCommitted));
  }
  carried = audited = 0;
  Sync(a);
  EXPECT_EQ(carried, 1);
  EXPECT_EQ(audited, 3);

  // A hub of protocol 4 takes them all in the audit step.
  for (int i = 0; i < 4; ++i) Create(*a.store, "Vega" + std::to_string(i));
  speak = kPushAuditProtocolVersion - 1;
  carried = audited = 0;
  Sync(a);
  EXPECT_EQ(carried, 0);
  EXPECT_EQ(audited, 4);
  mine = Chain(*a.store, clinic);
  held = Chain(*hub_store_, clinic);
  ASSERT_EQ(held.size(), mine.size());
  EXPECT_EQ(held.back().hash, mine.back().hash);
  ASSERT_OK_AND_ASSIGN(storage::AuditVerification v, hub_store_->VerifyAudit());
  EXPECT_TRUE(v.breaks.empty());
}

// A push's audit entries are checked before anything of the push is
// stored: another facility's entry, or entries past the hub's copy.
TEST_F(SyncAuditTest, APushWithBadAuditEntriesStoresNothing) {
  Node a = Clinic("clinic-a");
  Create(*a.store, "Diaz");
  Sync(a);
  const std::string clinic = a.store->node_id();
  Create(*a.store, "Ruiz");
  Create(*a.store, "Soto");
  ASSERT_OK_AND_ASSIGN(storage::PeerState peer, hub_store_->GetPeer(clinic));
  ASSERT_OK_AND_ASSIGN(storage::StoreStats stats, a.store->Stats());
  ASSERT_OK_AND_ASSIGN(storage::ChangeBatch changes,
                       a.store->ReadChanges({.after_seq = peer.received_seq}));
  std::vector<storage::AuditEntry> chain = Chain(*a.store, clinic);
  const size_t held_before = Chain(*hub_store_, clinic).size();
  PushBatch push;
  push.node_id = clinic;
  push.after_seq = peer.received_seq;
  push.to_seq = stats.last_seq;
  push.changes = changes.changes;
  push.audit_after_seq = chain[chain.size() - 2].seq;  // one past the hub's
  push.audit = {chain.back()};
  SyncReply reply = As(a, "push", Encode(push));
  EXPECT_EQ(reply.status, 409);
  ASSERT_OK_AND_ASSIGN(ErrorReply error, DecodeErrorReply(reply.body));
  EXPECT_EQ(error.code, "gap");

  push.audit_after_seq = static_cast<int64_t>(held_before);
  push.audit.assign(chain.begin() + static_cast<ptrdiff_t>(held_before),
                    chain.end());
  push.audit[0].facility = "clinic-b";
  reply = As(a, "push", Encode(push));
  EXPECT_EQ(reply.status, 403);
  ASSERT_OK_AND_ASSIGN(error, DecodeErrorReply(reply.body));
  EXPECT_EQ(error.code, kErrorScope);
  ASSERT_OK_AND_ASSIGN(storage::PeerState after, hub_store_->GetPeer(clinic));
  EXPECT_EQ(after.received_seq, peer.received_seq);
  EXPECT_EQ(Chain(*hub_store_, clinic).size(), held_before);

  // The same push, right: the changes and their entries are stored, and
  // sent again (its ack lost) it stores nothing more.
  push.audit[0].facility = "clinic-a";
  for (int round = 0; round < 2; ++round) {
    reply = As(a, "push", Encode(push));
    ASSERT_EQ(reply.status, 200);
    ASSERT_OK_AND_ASSIGN(PushAck ack, DecodePushAck(reply.body));
    EXPECT_EQ(ack.received_seq, stats.last_seq);
    EXPECT_EQ(ack.audit_received_seq, chain.back().seq);
    EXPECT_EQ(ack.audit_stored,
              round == 0 ? static_cast<int64_t>(push.audit.size()) : 0);
  }
  EXPECT_EQ(Chain(*hub_store_, clinic).size(), chain.size());
}

TEST_F(SyncAuditTest, OnlyTheCredentialsOwnChainInOrder) {
  Node a = Clinic("clinic-a");
  Node b = Clinic("clinic-b");
  Create(*b.store, "Diaz");
  Create(*a.store, "Ruiz");
  ASSERT_EQ(Sync(a).audit_broken_seq, 0);
  // B's entries sent with A's credential.
  AuditBatch forged;
  forged.node_id = b.store->node_id();
  forged.entries = Chain(*b.store, b.store->node_id());
  SyncReply reply = As(a, "audit", Encode(forged));
  EXPECT_EQ(reply.status, 403);
  ASSERT_OK_AND_ASSIGN(ErrorReply error, DecodeErrorReply(reply.body));
  EXPECT_EQ(error.code, kErrorScope);
  EXPECT_TRUE(Chain(*hub_store_, b.store->node_id()).empty());

  // A batch starting past what the hub holds is a gap.
  Create(*a.store, "Soto");
  Create(*a.store, "Vega");
  const std::string clinic = a.store->node_id();
  std::vector<storage::AuditEntry> chain = Chain(*a.store, clinic);
  AuditBatch ahead;
  ahead.node_id = clinic;
  ahead.after_seq = chain[chain.size() - 2].seq;
  ahead.entries = {chain.back()};
  reply = As(a, "audit", Encode(ahead));
  EXPECT_EQ(reply.status, 409);
  ASSERT_OK_AND_ASSIGN(error, DecodeErrorReply(reply.body));
  EXPECT_EQ(error.code, "gap");
  ASSERT_OK_AND_ASSIGN(std::vector<storage::AuditBreak> breaks,
                       hub_store_->ListAuditBreaks());
  EXPECT_TRUE(breaks.empty());
}

TEST_F(SyncAuditTest, AnOlderClinicStillSyncs) {
  Node a = Clinic("clinic-a");
  Hello hello = HelloOf(a, "clinic-a");
  hello.protocol_version = 1;
  hello.min_protocol_version = 1;
  SyncReply reply = As(a, "hello", Encode(hello));
  ASSERT_EQ(reply.status, 200);
  ASSERT_OK_AND_ASSIGN(HelloReply ok, DecodeHelloReply(reply.body));
  EXPECT_EQ(ok.protocol_version, 1u);
}

}  // namespace
}  // namespace posta::sync::testing
