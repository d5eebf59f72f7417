// Batches, group commit under concurrent writers, the change log, and the
// clock carried across reopens and processes.
#include <sqlite3.h>

#include <set>
#include <thread>

#include "failing_vfs.h"
#include "store_test_util.h"

namespace posta::storage::testing {
namespace {

class BatchTest : public StoreFixture {};

TEST_F(BatchTest, MixedBatchKeepsGoodOpsOnly) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string patient = "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11";
  const std::string nobody = "1c1e8d8e-5a43-4d3c-9d54-4a3b1b7a0c22";
  std::vector<WriteOp> ops = {
      CreateOp(ResourceType::kPatient, PatientBody(), patient),
      // Sees the patient created by the op before it.
      CreateOp(ResourceType::kEncounter, EncounterBody(patient)),
      CreateOp(ResourceType::kPatient,
               R"({"resourceType":"Patient","gender":"robot"})"),
      CreateOp(ResourceType::kPatient, PatientBody("Other"),
               patient),  // used id
      CreateOp(ResourceType::kEncounter, EncounterBody(nobody)),
      UpdateOp(ResourceType::kPatient, patient, PatientBody("Pérez")),
  };
  ASSERT_OK_AND_ASSIGN(auto outcomes, store->WriteBatch(ops));
  ASSERT_EQ(outcomes.size(), ops.size());
  EXPECT_OK(outcomes[0].status);
  EXPECT_OK(outcomes[1].status);
  EXPECT_EQ(outcomes[2].status.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(outcomes[3].status.code(), Status::Code::kConflict);
  EXPECT_EQ(outcomes[4].status.code(), Status::Code::kInvalidArgument);
  EXPECT_OK(outcomes[5].status);
  EXPECT_FALSE(outcomes[3].changed);

  ASSERT_OK_AND_ASSIGN(auto changes, store->ChangesSince(0, 100));
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].id, patient);
  EXPECT_EQ(changes[1].id, outcomes[1].record.id);
  EXPECT_EQ(changes[2].id, patient);
  ASSERT_OK_AND_ASSIGN(Record got, store->Get(ResourceType::kPatient, patient));
  EXPECT_EQ(got.version, outcomes[5].record.version);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.live_records[ResourceType::kPatient], 1);
  EXPECT_EQ(stats.live_records[ResourceType::kEncounter], 1);
}

// posta import prepares its next batch while the previous one is written:
// a batch prepared early still sees what the batches written before it
// stored.
TEST_F(BatchTest, PreparedBatchesAreWrittenInTheOrderGiven) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string patient = "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11";
  std::vector<WriteOp> first = {
      CreateOp(ResourceType::kPatient, PatientBody(), patient)};
  std::vector<WriteOp> second = {
      CreateOp(ResourceType::kEncounter, EncounterBody(patient)),
      CreateOp(ResourceType::kPatient, "bad body"),
      CreateOp(ResourceType::kPatient, PatientBody("Other"), patient)};
  std::unique_ptr<PreparedWrites> a = store->PrepareWrites(first);
  std::unique_ptr<PreparedWrites> b = store->PrepareWrites(second);
  ASSERT_OK_AND_ASSIGN(auto written_a, store->WritePrepared(std::move(a)));
  ASSERT_OK_AND_ASSIGN(auto written_b, store->WritePrepared(std::move(b)));
  ASSERT_EQ(written_a.size(), 1u);
  EXPECT_OK(written_a[0].status);
  ASSERT_EQ(written_b.size(), 3u);
  EXPECT_OK(written_b[0].status);
  EXPECT_EQ(written_b[1].status.code(), Status::Code::kMalformed);
  EXPECT_EQ(written_b[2].status.code(), Status::Code::kConflict);

  // Prepared by another store: parsed again here, and written here only.
  StoreOptions other_options = Options(dir_.File("other.db"));
  ASSERT_OK_AND_ASSIGN(auto other, OpenRecordStore(other_options));
  std::vector<WriteOp> third = {
      CreateOp(ResourceType::kPatient, PatientBody("Third"))};
  ASSERT_OK_AND_ASSIGN(auto written_c,
                       store->WritePrepared(other->PrepareWrites(third)));
  ASSERT_EQ(written_c.size(), 1u);
  EXPECT_OK(written_c[0].status);
  EXPECT_OK(store->Get(ResourceType::kPatient, written_c[0].record.id));
  ASSERT_OK_AND_ASSIGN(StoreStats other_stats, other->Stats());
  EXPECT_EQ(other_stats.live_records[ResourceType::kPatient], 0);
  ASSERT_OK_AND_ASSIGN(auto changes, store->ChangesSince(0, 10));
  EXPECT_EQ(changes.size(), 3u);
}

TEST_F(BatchTest, OpFailingMidWriteIsRolledBackAlone) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
  }
  // A trigger makes the history insert of one op fail after its current row
  // and index rows were written.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TRIGGER boom BEFORE INSERT ON versions "
                         "WHEN NEW.content LIKE '%Boom%' "
                         "BEGIN SELECT RAISE(ABORT, 'boom'); END",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string boom = "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11";
  std::vector<WriteOp> ops = {
      CreateOp(ResourceType::kPatient, PatientBody("First")),
      CreateOp(ResourceType::kPatient, PatientBody("Boom"), boom),
      CreateOp(ResourceType::kPatient, PatientBody("Third")),
  };
  ASSERT_OK_AND_ASSIGN(auto outcomes, store->WriteBatch(ops));
  EXPECT_OK(outcomes[0].status);
  EXPECT_FALSE(outcomes[1].status.ok());
  EXPECT_FALSE(outcomes[1].changed);
  EXPECT_OK(outcomes[2].status);
  EXPECT_EQ(store->Get(ResourceType::kPatient, boom).status().code(),
            Status::Code::kNotFound);
  SearchQuery query;
  query.conditions = {{"name", SearchOp::kDefault, "boom"}};
  ASSERT_OK_AND_ASSIGN(SearchPage page, store->Search(query));
  EXPECT_TRUE(page.records.empty());
  ASSERT_OK_AND_ASSIGN(auto changes, store->ChangesSince(0, 10));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].id, outcomes[0].record.id);
  EXPECT_EQ(changes[1].id, outcomes[2].record.id);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->Stats());
  EXPECT_EQ(stats.live_records[ResourceType::kPatient], 2);
}

// Index rows are written in key order when the batch commits; a record
// written twice in one batch is found by its last version only, and an op
// that fails takes none of its rows along.
TEST_F(BatchTest, IndexFollowsTheLastVersionWithinABatch) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string a = "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11";
  const std::string b = "1c1e8d8e-5a43-4d3c-9d54-4a3b1b7a0c22";
  std::vector<WriteOp> ops = {
      CreateOp(ResourceType::kPatient, PatientBody("Alpha"), a),
      UpdateOp(ResourceType::kPatient, a, PatientBody("Beta")),
      CreateOp(ResourceType::kPatient, PatientBody("Gamma"), b),
      CreateOp(ResourceType::kPatient, PatientBody("Delta"), b),  // used id
      DeleteOp(ResourceType::kPatient, b),
      UpdateOp(ResourceType::kPatient, a, PatientBody("Alpha")),
      UpdateOp(ResourceType::kPatient, a, PatientBody("Epsilon")),
  };
  ASSERT_OK_AND_ASSIGN(auto outcomes, store->WriteBatch(ops));
  EXPECT_EQ(outcomes[3].status.code(), Status::Code::kConflict);
  auto found = [&](const std::string& name) -> std::vector<std::string> {
    SearchQuery query;
    query.conditions = {{"name", SearchOp::kDefault, name}};
    auto page = store->Search(query);
    EXPECT_TRUE(posta::testing::IsOk(page));
    std::vector<std::string> ids;
    if (page.ok()) {
      for (const Record& r : page->records) ids.push_back(r.id);
    }
    return ids;
  };
  EXPECT_TRUE(found("alpha").empty());
  EXPECT_TRUE(found("beta").empty());
  EXPECT_TRUE(found("gamma").empty());  // deleted in the same batch
  EXPECT_TRUE(found("delta").empty());  // its op failed
  EXPECT_EQ(found("epsilon"), std::vector<std::string>{a});
  // The next batch finds the index as the last one left it.
  ASSERT_OK(store->Write(UpdateOp(ResourceType::kPatient, a,
                                  PatientBody("Zeta")))
                .status);
  EXPECT_TRUE(found("epsilon").empty());
  EXPECT_EQ(found("zeta"), std::vector<std::string>{a});
  EXPECT_OK(store->CheckIntegrity());
}

TEST_F(BatchTest, EmptyBatch) {
  auto store = OpenStore();
  ASSERT_OK_AND_ASSIGN(auto outcomes, store->WriteBatch({}));
  EXPECT_TRUE(outcomes.empty());
}

TEST_F(BatchTest, StampsIncreaseWithinABatch) {
  auto store = OpenStore();
  std::vector<WriteOp> ops;
  for (int i = 0; i < 600; ++i) {
    ops.push_back(
        CreateOp(ResourceType::kPatient, PatientBody("F" + std::to_string(i))));
  }
  ASSERT_OK_AND_ASSIGN(auto outcomes, store->WriteBatch(ops));
  for (size_t i = 1; i < outcomes.size(); ++i) {
    ASSERT_OK(outcomes[i].status);
    EXPECT_LT(outcomes[i - 1].record.version, outcomes[i].record.version);
  }
}

TEST_F(BatchTest, ConcurrentWritersAllSucceed) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 60;
  std::vector<std::vector<WriteOutcome>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string family = "T" + std::to_string(t) + "N" + std::to_string(i);
        if (i % 10 == 9) {
          // Some batches mixed in with the single writes.
          std::vector<WriteOp> ops = {
              CreateOp(ResourceType::kPatient, PatientBody(family + "a")),
              CreateOp(ResourceType::kPatient, PatientBody(family + "b"))};
          auto outcomes = store->WriteBatch(ops);
          if (!outcomes.ok()) {
            results[t].push_back(
                WriteOutcome{outcomes.status(), {}, false, false});
            continue;
          }
          for (auto& out : *outcomes) results[t].push_back(std::move(out));
        } else {
          results[t].push_back(store->Write(
              CreateOp(ResourceType::kPatient, PatientBody(family))));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::set<std::string> ids;
  std::set<base::HlcStamp> stamps;
  size_t total = 0;
  for (const auto& per_thread : results) {
    for (const WriteOutcome& out : per_thread) {
      ASSERT_OK(out.status);
      ids.insert(out.record.id);
      stamps.insert(out.record.version);
      ++total;
    }
  }
  EXPECT_EQ(ids.size(), total);
  EXPECT_EQ(stamps.size(), total);
  ASSERT_OK_AND_ASSIGN(auto changes, store->ChangesSince(0, 10000));
  ASSERT_EQ(changes.size(), total);
  std::set<std::string> logged;
  for (size_t i = 0; i < changes.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(changes[i - 1].seq, changes[i].seq);
      // One node's stamps follow commit order.
      EXPECT_LT(changes[i - 1].version, changes[i].version);
    }
    logged.insert(changes[i].id);
  }
  EXPECT_EQ(logged, ids);
}

TEST_F(BatchTest, ChangeLogPagesAndNeverReusesSeq) {
  auto store = OpenStore();
  std::string a = AddPatient(*store, "A");
  std::string b = AddPatient(*store, "B");
  ASSERT_OK(store->Write(DeleteOp(ResourceType::kPatient, b)).status);
  ASSERT_OK_AND_ASSIGN(auto first, store->ChangesSince(0, 2));
  ASSERT_EQ(first.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto rest, store->ChangesSince(first.back().seq, 10));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].id, b);
  EXPECT_TRUE(rest[0].deleted);
  EXPECT_GT(rest[0].seq, first.back().seq);
  ASSERT_OK_AND_ASSIGN(auto none, store->ChangesSince(rest[0].seq, 10));
  EXPECT_TRUE(none.empty());

  EXPECT_EQ(first[0].id, a);
  EXPECT_FALSE(first[0].deleted);
}

TEST_F(BatchTest, ClockSurvivesReopenAt1970) {
  base::HlcStamp last;
  {
    auto store = OpenStore();
    std::string id = AddPatient(*store);
    ASSERT_OK_AND_ASSIGN(Record rec, store->Get(ResourceType::kPatient, id));
    last = rec.version;
  }
  clock_.SetWall(0);  // the board boots without a real-time clock
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->wall_clock_was_behind());
  for (int i = 0; i < 3; ++i) {
    WriteOutcome out =
        store->Write(CreateOp(ResourceType::kPatient, PatientBody()));
    ASSERT_OK(out.status);
    EXPECT_GT(out.record.version, last);
    EXPECT_GE(out.record.version.wall_ms, kMarch2024);
    last = out.record.version;
  }
}

TEST_F(BatchTest, TwoStoresOnOneFileNeverCollide) {
  // Two handles stand in for two processes; the one with the slower clock
  // still stamps after the other because the stamp is persisted.
  base::ManualClock fast(kMarch2024 + 60000);
  base::ManualClock slow(kMarch2024);
  StoreOptions a_options = Options(DbPath());
  a_options.clock = &fast;
  ASSERT_OK_AND_ASSIGN(auto a, OpenRecordStore(a_options));
  StoreOptions b_options = Options(DbPath());
  b_options.clock = &slow;
  ASSERT_OK_AND_ASSIGN(auto b, OpenRecordStore(b_options));
  base::HlcStamp last;
  for (int i = 0; i < 4; ++i) {
    RecordStore& store = i % 2 == 0 ? *a : *b;
    WriteOutcome out =
        store.Write(CreateOp(ResourceType::kPatient, PatientBody()));
    ASSERT_OK(out.status);
    EXPECT_GT(out.record.version, last);
    last = out.record.version;
  }
  ASSERT_OK_AND_ASSIGN(auto changes, a->ChangesSince(0, 10));
  EXPECT_EQ(changes.size(), 4u);
}

TEST_F(BatchTest, FailedCommitStoresNothingAndStoreRecovers) {
  StoreOptions options = Options(DbPath());
  options.vfs = FailingVfsName();
  ASSERT_OK_AND_ASSIGN(auto store, OpenRecordStore(options));
  std::string kept = AddPatient(*store, "Kept");
  ASSERT_OK_AND_ASSIGN(std::string digest, store->ContentDigest());

  ArmWalFailure(SQLITE_FULL);
  std::vector<WriteOp> ops = {
      CreateOp(ResourceType::kPatient, PatientBody("Lost1")),
      CreateOp(ResourceType::kPatient, PatientBody("Lost2")),
      CreateOp(ResourceType::kPatient, "bad body"),
  };
  auto batch = store->WriteBatch(ops);
  WriteOutcome single =
      store->Write(CreateOp(ResourceType::kPatient, PatientBody("Lost3")));
  DisarmWalFailure();
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), Status::Code::kNoSpace)
      << batch.status().ToString();
  EXPECT_EQ(single.status.code(), Status::Code::kNoSpace)
      << single.status.ToString();
  EXPECT_NE(single.status.message().find(DbPath()), std::string::npos)
      << single.status.message();

  ASSERT_OK_AND_ASSIGN(std::string after, store->ContentDigest());
  EXPECT_EQ(after, digest);
  // Usable again once space returns.
  std::string later = AddPatient(*store, "Later");
  ASSERT_OK_AND_ASSIGN(auto changes, store->ChangesSince(0, 10));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].id, kept);
  EXPECT_EQ(changes[1].id, later);
  EXPECT_OK(store->CheckIntegrity());
}

TEST_F(BatchTest, IOErrorAtCommitIsRetryable) {
  StoreOptions options = Options(DbPath());
  options.vfs = FailingVfsName();
  ASSERT_OK_AND_ASSIGN(auto store, OpenRecordStore(options));
  ArmWalFailure(SQLITE_IOERR_WRITE);
  WriteOutcome out =
      store->Write(CreateOp(ResourceType::kPatient, PatientBody()));
  DisarmWalFailure();
  EXPECT_EQ(out.status.code(), Status::Code::kIOError) << out.status.ToString();
  EXPECT_TRUE(out.status.IsRetryable());
  AddPatient(*store);
  ASSERT_OK_AND_ASSIGN(auto changes, store->ChangesSince(0, 10));
  EXPECT_EQ(changes.size(), 1u);
}

}  // namespace
}  // namespace posta::storage::testing
