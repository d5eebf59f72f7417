// The audit trail: chain append and verify, tamper detection, the
// same-transaction guarantee, deferred entries and filters.
#include "posta/storage/audit.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <span>
#include <string>
#include <vector>

#include "failing_vfs.h"
#include "posta/storage/record_store.h"
#include "schema.h"
#include "sqlite_util.h"
#include "store_test_util.h"

namespace posta::storage {
namespace {

using testing::CreateOp;
using testing::DeleteOp;
using testing::ExecRaw;
using testing::PatientBody;
using testing::UpdateOp;

class AuditTest : public testing::StoreFixture {
 protected:
  void SetUp() override { store_ = OpenStore(); }

  std::vector<AuditEntry> All(AuditFilter filter = {}) {
    filter.limit = 1000;
    Result<AuditPage> page = store_->ReadAudit(filter);
    EXPECT_TRUE(posta::testing::IsOk(page));
    return page.ok() ? page->entries : std::vector<AuditEntry>();
  }

  std::unique_ptr<RecordStore> store_;
  AuditActor amina_{"amina", "clinician", "10.0.0.7:5000"};
};

TEST_F(AuditTest, ChangesAreRecordedWithWhoAndWhat) {
  WriteOp create = CreateOp(ResourceType::kPatient, PatientBody());
  create.actor = &amina_;
  WriteOutcome created = store_->Write(create);
  ASSERT_OK(created.status);
  const std::string id = created.record.id;
  WriteOp update = UpdateOp(ResourceType::kPatient, id, PatientBody("Other"));
  update.actor = &amina_;
  ASSERT_OK(store_->Write(update).status);
  // A no-op write changes nothing and records nothing.
  ASSERT_OK(store_->Write(update).status);
  ASSERT_OK(store_->Write(DeleteOp(ResourceType::kPatient, id)).status);

  std::vector<AuditEntry> entries = All();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].action, "create");
  EXPECT_EQ(entries[0].resource, "Patient/" + id);
  EXPECT_EQ(entries[0].version, created.record.version.ToString());
  EXPECT_EQ(entries[0].actor, "amina");
  EXPECT_EQ(entries[0].role, "clinician");
  EXPECT_EQ(entries[0].remote_address, "10.0.0.7:5000");
  EXPECT_EQ(entries[0].node_id, store_->node_id());
  EXPECT_EQ(entries[0].facility, testing::kFacility);
  EXPECT_EQ(entries[0].at_ms, testing::kMarch2024);
  EXPECT_EQ(entries[1].action, "update");
  EXPECT_EQ(entries[2].action, "delete");
  EXPECT_EQ(entries[2].actor, std::string(kUnattributedActor));
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].seq, static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(entries[0].prev_hash, AuditGenesisHash());
  EXPECT_EQ(entries[1].prev_hash, entries[0].hash);
  EXPECT_EQ(entries[2].prev_hash, entries[1].hash);
  ASSERT_OK_AND_ASSIGN(AuditVerification v, store_->VerifyAudit());
  EXPECT_EQ(v.chains, 1);
  EXPECT_EQ(v.entries, 3);
  EXPECT_TRUE(v.breaks.empty());
}

TEST_F(AuditTest, HashCoversEveryField) {
  AuditEntry e;
  e.seq = 1;
  e.node_id = "n";
  e.prev_hash = AuditGenesisHash();
  ASSERT_OK_AND_ASSIGN(std::string base, AuditEntryHash(e));
  for (std::string AuditEntry::*field :
       {&AuditEntry::node_id, &AuditEntry::facility, &AuditEntry::actor,
        &AuditEntry::role, &AuditEntry::remote_address, &AuditEntry::action,
        &AuditEntry::resource, &AuditEntry::version, &AuditEntry::outcome,
        &AuditEntry::detail, &AuditEntry::prev_hash}) {
    AuditEntry changed = e;
    changed.*field += "x";
    ASSERT_OK_AND_ASSIGN(std::string h, AuditEntryHash(changed));
    EXPECT_NE(h, base);
  }
  AuditEntry later = e;
  later.at_ms = 1;
  ASSERT_OK_AND_ASSIGN(std::string h, AuditEntryHash(later));
  EXPECT_NE(h, base);
}

TEST_F(AuditTest, TamperingThroughSqliteIsDetected) {
  for (int i = 0; i < 4; ++i) testing::StoreFixture::AddPatient(*store_);
  store_.reset();
  // Someone with the file rewrites who did entry 2.
  ExecRaw(DbPath(), "UPDATE audit_log SET actor = 'nobody' WHERE seq = 2");
  store_ = OpenStore();
  ASSERT_OK_AND_ASSIGN(AuditVerification v, store_->VerifyAudit());
  ASSERT_EQ(v.breaks.size(), 1u);
  EXPECT_EQ(v.breaks[0].node_id, store_->node_id());
  EXPECT_EQ(v.breaks[0].seq, 2);
  EXPECT_NE(v.breaks[0].why.find("hash"), std::string::npos);
}

TEST_F(AuditTest, RemovedOrRehashedEntriesAreDetected) {
  for (int i = 0; i < 4; ++i) testing::StoreFixture::AddPatient(*store_);
  store_.reset();
  ExecRaw(DbPath(), "DELETE FROM audit_log WHERE seq = 3");
  store_ = OpenStore();
  ASSERT_OK_AND_ASSIGN(AuditVerification gap, store_->VerifyAudit());
  ASSERT_EQ(gap.breaks.size(), 1u);
  EXPECT_EQ(gap.breaks[0].seq, 4);
  store_.reset();
  // A fresh chain whose entry 2 no longer names entry 1.
  ExecRaw(DbPath(), "DELETE FROM audit_log");
  store_ = OpenStore();
  for (int i = 0; i < 3; ++i) testing::StoreFixture::AddPatient(*store_);
  store_.reset();
  ExecRaw(DbPath(), "UPDATE audit_log SET prev_hash = '" + AuditGenesisHash() +
                        "' WHERE seq = 2");
  store_ = OpenStore();
  ASSERT_OK_AND_ASSIGN(AuditVerification relinked, store_->VerifyAudit());
  ASSERT_EQ(relinked.breaks.size(), 1u);
  EXPECT_EQ(relinked.breaks[0].seq, 2);
  EXPECT_NE(relinked.breaks[0].why.find("prev_hash"), std::string::npos);
}

// A hub takes a chain in short form (ShortenAuditChain) and holds it whole;
// a short hash that does not begin the computed one is a break.
TEST_F(AuditTest, ShortEntriesAreStoredWholeOrFlagged) {
  for (int i = 0; i < 4; ++i) testing::StoreFixture::AddPatient(*store_);
  const std::string node = store_->node_id();
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEntry> chain,
                       store_->AuditChainSince(node, 0, 100));
  ASSERT_GE(chain.size(), 4u);
  std::vector<AuditEntry> sent = chain;
  ShortenAuditChain(sent);
  EXPECT_EQ(sent.front().prev_hash, AuditGenesisHash());
  EXPECT_EQ(sent.back().hash, chain.back().hash);
  for (size_t i = 1; i + 1 < sent.size(); ++i) {
    EXPECT_EQ(sent[i].prev_hash, "") << i;
    EXPECT_EQ(sent[i].hash, chain[i].hash.substr(0, kAuditShortHashDigits));
  }

  StoreOptions hub_options = Options(dir_.File("hub.db"));
  hub_options.role = "hub";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RecordStore> hub,
                       OpenRecordStore(hub_options));
  // In two calls: the second starts with an empty prev_hash, the tail held.
  ASSERT_OK_AND_ASSIGN(AuditReceipt first, hub->StoreReceivedAudit(
                                               node, std::span(sent).first(2)));
  EXPECT_EQ(first.stored, 2);
  ASSERT_OK_AND_ASSIGN(
      AuditReceipt rest,
      hub->StoreReceivedAudit(node, std::span(sent).subspan(2)));
  EXPECT_FALSE(rest.broken.has_value());
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEntry> held,
                       hub->AuditChainSince(node, 0, 100));
  ASSERT_EQ(held.size(), chain.size());
  for (size_t i = 0; i < chain.size(); ++i) {
    EXPECT_EQ(held[i].prev_hash, chain[i].prev_hash) << i;
    EXPECT_EQ(held[i].hash, chain[i].hash) << i;
  }

  // A hash shorter than kAuditShortHashDigits is refused; nothing stored.
  for (int i = 0; i < 3; ++i) testing::StoreFixture::AddPatient(*store_);
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEntry> more,
                       store_->AuditChainSince(node, chain.back().seq, 100));
  ASSERT_GE(more.size(), 3u);
  ShortenAuditChain(more);
  std::vector<AuditEntry> cut = more;
  cut[1].hash.resize(kAuditShortHashDigits - 1);
  Result<AuditReceipt> refused = hub->StoreReceivedAudit(node, cut);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(refused.status().ToString().find("digits"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(held, hub->AuditChainSince(node, 0, 100));
  EXPECT_EQ(held.size(), chain.size());

  // A short hash that is not the entry's: flagged, and kept as received.
  std::vector<AuditEntry> edited = more;
  edited[1].hash[0] = edited[1].hash[0] == '0' ? '1' : '0';
  ASSERT_OK_AND_ASSIGN(AuditReceipt flagged,
                       hub->StoreReceivedAudit(node, edited));
  ASSERT_TRUE(flagged.broken.has_value());
  EXPECT_EQ(flagged.broken->seq, edited[1].seq);
  EXPECT_NE(flagged.broken->why.find("hash"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(held, hub->AuditChainSince(node, edited[1].seq - 1, 1));
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].hash, edited[1].hash);
  ASSERT_OK_AND_ASSIGN(AuditVerification v, hub->VerifyAudit());
  ASSERT_EQ(v.breaks.size(), 1u);
  EXPECT_EQ(v.breaks[0].seq, edited[1].seq);
}

// Hashes left out but the last (as a push carries them): stored whole when
// the chain computed through them ends on the last; otherwise none of the
// run is stored, nothing is flagged, and the receipt says where to send
// again from, with hashes, which finds the entry.
TEST_F(AuditTest, EntriesWithoutHashesAreStoredOnlyWhenTheChainEndsRight) {
  for (int i = 0; i < 6; ++i) testing::StoreFixture::AddPatient(*store_);
  const std::string node = store_->node_id();
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEntry> chain,
                       store_->AuditChainSince(node, 0, 100));
  ASSERT_GE(chain.size(), 6u);
  std::vector<AuditEntry> sent = chain;
  ShortenAuditChain(sent, 0);
  for (size_t i = 0; i + 1 < sent.size(); ++i) EXPECT_EQ(sent[i].hash, "");
  EXPECT_EQ(sent.back().hash, chain.back().hash);

  StoreOptions hub_options = Options(dir_.File("hub.db"));
  hub_options.role = "hub";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RecordStore> hub,
                       OpenRecordStore(hub_options));
  const size_t half = 3;
  ASSERT_OK_AND_ASSIGN(AuditReceipt first, hub->StoreReceivedAudit(
                                               node, std::span(chain).first(half)));
  EXPECT_EQ(first.received_seq, chain[half - 1].seq);

  // The last entry's hash cannot be left out.
  std::vector<AuditEntry> rest(sent.begin() + half, sent.end());
  rest.back().hash.clear();
  Result<AuditReceipt> refused = hub->StoreReceivedAudit(node, rest);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);

  // An entry changed before it was sent: the run is not stored.
  rest.assign(sent.begin() + half, sent.end());
  std::vector<AuditEntry> edited = rest;
  edited[1].detail = "changed at the clinic";
  ASSERT_OK_AND_ASSIGN(AuditReceipt unchecked,
                       hub->StoreReceivedAudit(node, edited));
  EXPECT_EQ(unchecked.stored, 0);
  EXPECT_EQ(unchecked.received_seq, chain[half - 1].seq);
  EXPECT_EQ(unchecked.unverified_seq, rest.front().seq);
  EXPECT_FALSE(unchecked.broken.has_value());
  ASSERT_OK_AND_ASSIGN(std::vector<AuditEntry> held,
                       hub->AuditChainSince(node, 0, 100));
  EXPECT_EQ(held.size(), half);
  // A run that starts with an entry relinked elsewhere: the prev_hash
  // travels whole, the entry is not judged without its hash either.
  std::vector<AuditEntry> relinked = rest;
  relinked[0].prev_hash = std::string(64, 'b');
  ASSERT_OK_AND_ASSIGN(AuditReceipt unjudged,
                       hub->StoreReceivedAudit(node, relinked));
  EXPECT_EQ(unjudged.stored, 0);
  EXPECT_EQ(unjudged.unverified_seq, rest.front().seq);
  EXPECT_FALSE(unjudged.broken.has_value());
  // Sent again with short hashes, the changed entry is the one flagged.
  std::vector<AuditEntry> again(chain.begin() + half, chain.end());
  again[1].detail = "changed at the clinic";
  ShortenAuditChain(again);
  ASSERT_OK_AND_ASSIGN(AuditReceipt flagged,
                       hub->StoreReceivedAudit(node, again));
  ASSERT_TRUE(flagged.broken.has_value());
  EXPECT_EQ(flagged.broken->seq, again[1].seq);
  // What the hub says at hello: where its copy ends, and the break.
  ASSERT_OK_AND_ASSIGN(AuditReceipt end, hub->AuditChainEnd(node));
  EXPECT_EQ(end.received_seq, chain.back().seq);
  ASSERT_TRUE(end.broken.has_value());
  EXPECT_EQ(end.broken->seq, again[1].seq);

  // Unchanged, on another hub: stored whole.
  StoreOptions other_options = Options(dir_.File("other.db"));
  other_options.role = "hub";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RecordStore> other,
                       OpenRecordStore(other_options));
  ASSERT_OK_AND_ASSIGN(AuditReceipt none, other->AuditChainEnd(node));
  EXPECT_EQ(none.received_seq, 0);
  EXPECT_FALSE(none.broken.has_value());
  ASSERT_OK_AND_ASSIGN(AuditReceipt whole,
                       other->StoreReceivedAudit(node, sent));
  EXPECT_EQ(whole.stored, static_cast<int64_t>(chain.size()));
  EXPECT_EQ(whole.unverified_seq, 0);
  ASSERT_OK_AND_ASSIGN(held, other->AuditChainSince(node, 0, 100));
  ASSERT_EQ(held.size(), chain.size());
  for (size_t i = 0; i < chain.size(); ++i) {
    EXPECT_EQ(held[i].prev_hash, chain[i].prev_hash) << i;
    EXPECT_EQ(held[i].hash, chain[i].hash) << i;
  }
}

// A failed commit (disk full) stores neither the change nor its entry.
TEST_F(AuditTest, FailedCommitLeavesNeitherChangeNorEntry) {
  store_.reset();
  StoreOptions options = Options(DbPath());
  options.vfs = testing::FailingVfsName();
  ASSERT_OK_AND_ASSIGN(store_, OpenRecordStore(options));
  testing::StoreFixture::AddPatient(*store_);
  testing::ArmWalFailure(SQLITE_FULL);
  WriteOutcome lost =
      store_->Write(CreateOp(ResourceType::kPatient, PatientBody("Lost")));
  Status deferred_read =
      store_->AppendAudit(AuditEvent{.action = "read", .resource = "Patient/x"},
                          AuditDurability::kDeferred);
  Status flushed = store_->FlushAudit();
  testing::DisarmWalFailure();
  EXPECT_EQ(lost.status.code(), Status::Code::kNoSpace);
  EXPECT_OK(deferred_read);
  EXPECT_EQ(flushed.code(), Status::Code::kNoSpace);
  // The read's entry waited and commits with the next write.
  std::string later = testing::StoreFixture::AddPatient(*store_);
  std::vector<AuditEntry> entries = All();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].action, "create");
  EXPECT_EQ(entries[1].action, "read");
  EXPECT_EQ(entries[2].resource, "Patient/" + later);
  ASSERT_OK_AND_ASSIGN(auto changes, store_->ChangesSince(0, 10));
  EXPECT_EQ(changes.size(), 2u);
  ASSERT_OK_AND_ASSIGN(AuditVerification v, store_->VerifyAudit());
  EXPECT_TRUE(v.breaks.empty());
}

// An op that fails after its first write (here: its audit entry is refused
// by a trigger) is rolled back whole, entry and change; the other ops of
// the group keep both.
TEST_F(AuditTest, AnOpRolledBackTakesItsEntryWithIt) {
  store_.reset();
  ExecRaw(DbPath(),
          "CREATE TRIGGER refuse_one BEFORE INSERT ON audit_log "
          "WHEN NEW.actor = 'mallory' BEGIN SELECT RAISE(ABORT, 'refused'); "
          "END;");
  store_ = OpenStore();
  AuditActor mallory{"mallory", "", ""};
  std::vector<WriteOp> ops = {
      CreateOp(ResourceType::kPatient, PatientBody("Kept1")),
      CreateOp(ResourceType::kPatient, PatientBody("Refused")),
      CreateOp(ResourceType::kPatient, PatientBody("Kept2")),
  };
  ops[1].actor = &mallory;
  ASSERT_OK_AND_ASSIGN(std::vector<WriteOutcome> out, store_->WriteBatch(ops));
  EXPECT_OK(out[0].status);
  EXPECT_FALSE(out[1].status.ok());
  EXPECT_OK(out[2].status);
  ASSERT_OK_AND_ASSIGN(auto changes, store_->ChangesSince(0, 10));
  ASSERT_EQ(changes.size(), 2u);
  std::vector<AuditEntry> entries = All();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].resource, "Patient/" + changes[0].id);
  EXPECT_EQ(entries[1].resource, "Patient/" + changes[1].id);
  EXPECT_EQ(
      store_->Get(ResourceType::kPatient, out[1].record.id).status().code(),
      Status::Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(AuditVerification v, store_->VerifyAudit());
  EXPECT_TRUE(v.breaks.empty());
}

// A transfer whose entries cannot be written moves nothing.
TEST_F(AuditTest, TransferAndItsEntriesLandTogether) {
  std::string patient = testing::StoreFixture::AddPatient(*store_);
  store_.reset();
  ExecRaw(DbPath(),
          "CREATE TRIGGER refuse_transfer BEFORE INSERT ON audit_log "
          "WHEN NEW.action = 'transfer' BEGIN SELECT RAISE(ABORT, 'refused'); "
          "END;");
  store_ = OpenStore();
  EXPECT_FALSE(
      store_->Transfer(ResourceType::kPatient, patient, "clinic-b", &amina_)
          .ok());
  ASSERT_OK_AND_ASSIGN(Record still,
                       store_->Get(ResourceType::kPatient, patient));
  EXPECT_EQ(still.facility, testing::kFacility);
  store_.reset();
  ExecRaw(DbPath(), "DROP TRIGGER refuse_transfer");
  store_ = OpenStore();
  ASSERT_OK(
      store_->Transfer(ResourceType::kPatient, patient, "clinic-b", &amina_)
          .status());
  std::vector<AuditEntry> entries = All({.action = "transfer"});
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].actor, "amina");
  EXPECT_EQ(entries[0].detail, "from clinic-a to clinic-b");
}

TEST_F(AuditTest, DeferredEntriesCommitInBulkOrAtClose) {
  for (size_t i = 0; i + 1 < kAuditFlushEntries; ++i) {
    ASSERT_OK(store_->AppendAudit(
        AuditEvent{.who = amina_, .action = "read", .resource = "Patient/x"},
        AuditDurability::kDeferred));
  }
  // Not committed yet: a second connection sees none.
  auto count = [&] {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM audit_log", -1, &st, nullptr);
    sqlite3_step(st);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  };
  EXPECT_EQ(count(), 0);
  ASSERT_OK(store_->AppendAudit(AuditEvent{.action = "read"},
                                AuditDurability::kDeferred));
  EXPECT_EQ(count(), static_cast<int>(kAuditFlushEntries));
  // The oldest waiting long enough also commits them.
  ASSERT_OK(store_->AppendAudit(AuditEvent{.action = "search"},
                                AuditDurability::kDeferred));
  clock_.Advance(kAuditFlushAge);
  ASSERT_OK(store_->AppendAudit(AuditEvent{.action = "search"},
                                AuditDurability::kDeferred));
  EXPECT_EQ(count(), static_cast<int>(kAuditFlushEntries) + 2);
  ASSERT_OK(store_->AppendAudit(AuditEvent{.action = "read"},
                                AuditDurability::kDeferred));
  store_.reset();
  EXPECT_EQ(count(), static_cast<int>(kAuditFlushEntries) + 3);
}

TEST_F(AuditTest, FiltersAndPages) {
  AuditActor bob{"bob", "registrar", "10.0.0.8:1"};
  WriteOp a = CreateOp(ResourceType::kPatient, PatientBody("A"));
  a.actor = &amina_;
  ASSERT_OK(store_->Write(a).status);
  clock_.Advance(std::chrono::hours(1));
  WriteOp b = CreateOp(ResourceType::kPatient, PatientBody("B"));
  b.actor = &bob;
  WriteOutcome bo = store_->Write(b);
  ASSERT_OK(bo.status);
  ASSERT_OK(store_->AppendAudit(
      AuditEvent{.who = bob, .action = "denied", .outcome = "denied"},
      AuditDurability::kCommitted));
  ASSERT_OK(
      store_->AppendAudit(AuditEvent{.who = amina_,
                                     .action = "read",
                                     .resource = "Patient/" + bo.record.id},
                          AuditDurability::kDeferred));

  EXPECT_EQ(All({.actor = "bob"}).size(), 2u);
  EXPECT_EQ(All({.action = "denied"}).size(), 1u);
  EXPECT_EQ(All({.resource = "Patient/" + bo.record.id}).size(), 2u);
  EXPECT_EQ(All({.resource = "Patient"}).size(), 3u);
  EXPECT_EQ(All({.resource = "Encounter"}).size(), 0u);
  EXPECT_EQ(All({.since_ms = testing::kMarch2024 + 1}).size(), 3u);
  EXPECT_EQ(All({.until_ms = testing::kMarch2024 + 1}).size(), 1u);
  EXPECT_EQ(All({.facilities = {"clinic-a"}}).size(), 4u);
  EXPECT_EQ(All({.facilities = {"clinic-z"}}).size(), 0u);
  EXPECT_EQ(All({.node_id = store_->node_id()}).size(), 4u);
  EXPECT_EQ(All({.node_id = "other"}).size(), 0u);
  // Hostile text is a value, never SQL.
  EXPECT_EQ(All({.actor = "x' OR '1'='1"}).size(), 0u);

  std::vector<std::string> seen;
  AuditFilter page_filter{.limit = 3};
  while (true) {
    ASSERT_OK_AND_ASSIGN(AuditPage page, store_->ReadAudit(page_filter));
    for (const AuditEntry& e : page.entries) seen.push_back(e.hash);
    if (page.next_cursor == 0) break;
    page_filter.after_cursor = page.next_cursor;
  }
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_EQ(store_->ReadAudit({.limit = 0}).status().code(),
            Status::Code::kInvalidArgument);
}

TEST_F(AuditTest, LongOrBrokenTextIsBounded) {
  std::string huge(5000, 'x');
  huge += "\xC3\xA9";  // é, cut at a character boundary
  ASSERT_OK(store_->AppendAudit(
      AuditEvent{.who = {huge, "", ""}, .action = "denied", .detail = huge},
      AuditDurability::kCommitted));
  std::vector<AuditEntry> entries = All();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_LE(entries[0].actor.size(), 260u);
  EXPECT_LE(entries[0].detail.size(), 1030u);
  ASSERT_OK_AND_ASSIGN(AuditVerification v, store_->VerifyAudit());
  EXPECT_TRUE(v.breaks.empty());
}

TEST_F(AuditTest, ReadOnlyStoreRefusesToAppend) {
  store_.reset();
  StoreOptions options = Options(DbPath());
  options.read_only = true;
  ASSERT_OK_AND_ASSIGN(store_, OpenRecordStore(options));
  EXPECT_EQ(store_
                ->AppendAudit(AuditEvent{.action = "read"},
                              AuditDurability::kDeferred)
                .code(),
            Status::Code::kPermissionDenied);
  EXPECT_OK(store_->ReadAudit({}).status());
}

// A version 6 database gains audit_log on open, keeping its records; the
// migration alone touches nothing else.
TEST_F(AuditTest, UpgradesAVersionSixDatabase) {
  testing::StoreFixture::AddPatient(*store_);
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->ContentDigest());
  store_.reset();
  // The later versions' tables go too, so the file is a true version 6.
  ExecRaw(
      DbPath(),
      "DROP TABLE node_reports; DROP TABLE report_counts; "
      "DROP TABLE report_facts; DROP TABLE audit_log; DROP TABLE audit_breaks; "
      "PRAGMA user_version = 6");
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.schema_version, CurrentSchemaVersion());
  ASSERT_OK_AND_ASSIGN(std::string after, store_->ContentDigest());
  EXPECT_EQ(after, digest);
  EXPECT_TRUE(All().empty());
  testing::StoreFixture::AddPatient(*store_);
  EXPECT_EQ(All().size(), 1u);
  EXPECT_OK(store_->CheckIntegrity());
}

TEST_F(AuditTest, MigrationIsOneTransaction) {
  store_.reset();
  ExecRaw(
      DbPath(),
      "DROP TABLE audit_log; DROP TABLE audit_breaks; PRAGMA user_version = 6");
  {
    ASSERT_OK_AND_ASSIGN(
        auto conn,
        internal::Connection::Open(DbPath(), SQLITE_OPEN_READWRITE, "", 1000));
    internal::Transaction txn(*conn, true);
    ASSERT_OK(txn.Begin());
    ASSERT_OK(internal::Migrate(*conn, 6, 7));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db,
                         "SELECT count(*) FROM sqlite_schema WHERE name IN "
                         "('audit_log', 'audit_breaks')",
                         -1, &st, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace
}  // namespace posta::storage
