#include "posta/sync/merge.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "posta/base/clock.h"
#include "posta/storage/replication.h"

namespace posta::sync {
namespace {

using base::HlcStamp;
using storage::ChangeEntry;
using storage::ChangeMerger;
using storage::Conflict;
using storage::ConflictId;
using storage::kDeletedField;
using storage::Record;
using storage::ResourceType;
using Action = ChangeMerger::Action;

constexpr int64_t kNow = 1'700'000'000'000;  // 2023-11-14
constexpr int64_t kDay = 24 * 60 * 60 * 1000;
const std::string kDel(kDeletedField);
const char kRecordId[] = "0b7a2c1e-9f3d-4c55-8e21-6a4b3c2d1e0f";

HlcStamp S(int64_t wall_ms, uint32_t counter, std::string node) {
  return HlcStamp{wall_ms, counter, std::move(node)};
}
// A stamp `ms` milliseconds after kNow - 1000 on node `node`.
HlcStamp T(int64_t ms, std::string node) {
  return S(kNow - 1000 + ms, 0, std::move(node));
}

Record Rec(std::string content, std::map<std::string, HlcStamp> stamps,
           bool deleted = false, std::string facility = "fac-a") {
  Record r;
  r.type = ResourceType::kPatient;
  r.id = kRecordId;
  r.facility = std::move(facility);
  r.content = std::move(content);
  r.field_stamps = std::move(stamps);
  r.deleted = deleted;
  for (const auto& [field, stamp] : r.field_stamps) {
    if (stamp > r.version) r.version = stamp;
  }
  return r;
}

ChangeEntry Entry(Record record,
                  std::map<std::string, HlcStamp> base_stamps = {}) {
  ChangeEntry e;
  e.seq = 1;
  e.record = std::move(record);
  e.base_stamps = std::move(base_stamps);
  return e;
}

class FakeHistory final : public ChangeMerger::History {
 public:
  void Add(const std::string& field, const HlcStamp& stamp) {
    seen_.emplace(field, stamp);
  }
  void AddAll(const Record& r) {
    for (const auto& [field, stamp] : r.field_stamps) Add(field, stamp);
  }
  bool HasSeen(std::string_view field, const HlcStamp& stamp) override {
    return seen_.count({std::string(field), stamp}) > 0;
  }

 private:
  std::set<std::pair<std::string, HlcStamp>> seen_;
};

class MergeTest : public ::testing::Test {
 protected:
  ChangeMerger::Outcome Merge(const Record* local, const ChangeEntry& remote) {
    if (local) history_.AddAll(*local);
    return merger_.Merge(local, history_, remote);
  }

  base::ManualClock clock_{kNow};
  FieldMerger merger_{clock_};
  FakeHistory history_;
};

TEST_F(MergeTest, NewRecordIsTakenAsIs) {
  Record remote = Rec(R"({"gender":"female","name":"Ana"})",
                      {{"gender", T(1, "b")}, {"name", T(1, "b")}});
  auto out = Merge(nullptr, Entry(remote));
  EXPECT_EQ(out.action, Action::kTakeRemote);
  EXPECT_EQ(out.content, remote.content);
  EXPECT_EQ(out.field_stamps, remote.field_stamps);
  EXPECT_FALSE(out.deleted);
  EXPECT_TRUE(out.conflicts.empty());
  EXPECT_TRUE(out.restamp_fields.empty());
  EXPECT_TRUE(out.future_stamps.empty());
}

TEST_F(MergeTest, NewRecordIsTakenWithoutParsingContent) {
  // Only the fast path can return text that is not JSON unchanged.
  Record remote = Rec("not json at all", {{"name", T(1, "b")}});
  auto out = Merge(nullptr, Entry(remote));
  EXPECT_EQ(out.action, Action::kTakeRemote);
  EXPECT_EQ(out.content, "not json at all");
}

TEST_F(MergeTest, NewTombstoneIsTakenAsIs) {
  Record remote =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "b")}, {kDel, T(2, "b")}}, true);
  auto out = Merge(nullptr, Entry(remote));
  EXPECT_EQ(out.action, Action::kTakeRemote);
  EXPECT_TRUE(out.deleted);
  EXPECT_TRUE(out.conflicts.empty());
}

TEST_F(MergeTest, NewerRemoteThatBuiltOnLocalWinsWithoutConflict) {
  Record local = Rec(R"({"gender":"female","name":"Ana"})",
                     {{"gender", T(1, "a")}, {"name", T(1, "a")}});
  Record remote = Rec(R"({"gender":"female","name":"Ana Maria"})",
                      {{"gender", T(1, "a")}, {"name", T(5, "b")}});
  auto out = Merge(&local, Entry(remote, {{"name", T(1, "a")}}));
  EXPECT_EQ(out.action, Action::kTakeRemote);
  EXPECT_EQ(out.content, remote.content);
  EXPECT_EQ(out.field_stamps, remote.field_stamps);
  EXPECT_TRUE(out.conflicts.empty());
}

TEST_F(MergeTest, EditsOfDifferentFieldsMergeWithoutConflict) {
  Record local = Rec(R"({"gender":"male","name":"Ana"})",
                     {{"gender", T(4, "a")}, {"name", T(1, "a")}});
  Record remote = Rec(R"({"gender":"female","name":"Ana Maria"})",
                      {{"gender", T(1, "a")}, {"name", T(5, "b")}});
  history_.Add("gender", T(1, "a"));  // the gender we changed from
  auto out = Merge(&local, Entry(remote, {{"name", T(1, "a")}}));
  EXPECT_EQ(out.action, Action::kMerged);
  EXPECT_EQ(out.content, R"({"gender":"male","name":"Ana Maria"})");
  EXPECT_EQ(out.field_stamps.at("gender"), T(4, "a"));
  EXPECT_EQ(out.field_stamps.at("name"), T(5, "b"));
  EXPECT_TRUE(out.conflicts.empty());
}

TEST_F(MergeTest, ConcurrentEditNewerRemoteWinsAndLocalIsConflictLoser) {
  Record local = Rec(R"({"name":"Ana B"})", {{"name", T(3, "a")}});
  Record remote =
      Rec(R"({"name":"Ana C"})", {{"name", T(5, "b")}}, false, "fac-b");
  // The remote built on the value before ours (stamp 1), not on ours. Its
  // owner differs without a transfer stamp (@facility) to say which is
  // newer: the local owner stays, so the result mixes both.
  auto out = Merge(&local, Entry(remote, {{"name", T(1, "a")}}));
  EXPECT_EQ(out.action, Action::kMerged);
  EXPECT_EQ(out.facility, "fac-a");
  EXPECT_EQ(out.content, R"({"name":"Ana C"})");
  ASSERT_EQ(out.conflicts.size(), 1u);
  const Conflict& c = out.conflicts[0];
  EXPECT_EQ(c.id,
            ConflictId(ResourceType::kPatient, kRecordId, "name", T(3, "a")));
  EXPECT_EQ(c.id.size(), 32u);
  EXPECT_EQ(c.type, ResourceType::kPatient);
  EXPECT_EQ(c.record_id, kRecordId);
  EXPECT_EQ(c.facility, "fac-a");  // the local record's
  EXPECT_EQ(c.field, "name");
  EXPECT_EQ(c.winner.value, R"("Ana C")");
  EXPECT_EQ(c.winner.stamp, T(5, "b"));
  EXPECT_EQ(c.winner.stamp.node, "b");
  EXPECT_EQ(c.loser.value, R"("Ana B")");
  EXPECT_EQ(c.loser.stamp, T(3, "a"));
  EXPECT_EQ(c.loser.stamp.node, "a");
  EXPECT_EQ(c.state, storage::ConflictState::kOpen);
  EXPECT_EQ(c.state_stamp, T(5, "b"));
  EXPECT_EQ(c.seq, 0);
}

TEST_F(MergeTest, ConcurrentEditOlderRemoteLosesAsConflict) {
  Record local = Rec(R"({"name":"Ana C"})", {{"name", T(5, "a")}});
  Record remote = Rec(R"({"name":"Ana B"})", {{"name", T(3, "b")}});
  auto out = Merge(&local, Entry(remote, {{"name", T(1, "a")}}));
  EXPECT_EQ(out.action, Action::kIgnore);
  EXPECT_EQ(out.content, local.content);
  ASSERT_EQ(out.conflicts.size(), 1u);
  const Conflict& c = out.conflicts[0];
  EXPECT_EQ(c.id,
            ConflictId(ResourceType::kPatient, kRecordId, "name", T(3, "b")));
  EXPECT_EQ(c.winner.value, R"("Ana C")");
  EXPECT_EQ(c.winner.stamp, T(5, "a"));
  EXPECT_EQ(c.loser.value, R"("Ana B")");
  EXPECT_EQ(c.loser.stamp, T(3, "b"));
  EXPECT_EQ(c.state_stamp, T(5, "a"));
}

TEST_F(MergeTest, BothNodesFindTheSameConflictId) {
  Record on_a = Rec(R"({"name":"Ana B"})", {{"name", T(3, "a")}});
  Record on_b = Rec(R"({"name":"Ana C"})", {{"name", T(5, "b")}});
  auto base = std::map<std::string, HlcStamp>{{"name", T(1, "a")}};
  FakeHistory history_a;
  FakeHistory history_b;
  history_a.AddAll(on_a);
  history_b.AddAll(on_b);
  auto at_a = merger_.Merge(&on_a, history_a, Entry(on_b, base));
  auto at_b = merger_.Merge(&on_b, history_b, Entry(on_a, base));
  ASSERT_EQ(at_a.conflicts.size(), 1u);
  ASSERT_EQ(at_b.conflicts.size(), 1u);
  EXPECT_EQ(at_a.conflicts[0].id, at_b.conflicts[0].id);
  EXPECT_EQ(at_a.conflicts[0].winner.stamp, at_b.conflicts[0].winner.stamp);
  EXPECT_EQ(at_a.conflicts[0].loser.value, at_b.conflicts[0].loser.value);
  EXPECT_EQ(at_a.conflicts[0].state_stamp, at_b.conflicts[0].state_stamp);
}

TEST_F(MergeTest, StaleReplayIsIgnoredWithoutConflict) {
  Record local = Rec(R"({"name":"Ana C"})", {{"name", T(5, "a")}});
  history_.Add("name", T(3, "b"));  // we held that value once
  Record remote = Rec(R"({"name":"Ana B"})", {{"name", T(3, "b")}});
  auto out = Merge(&local, Entry(remote, {{"name", T(1, "a")}}));
  EXPECT_EQ(out.action, Action::kIgnore);
  EXPECT_TRUE(out.conflicts.empty());
}

TEST_F(MergeTest, EqualConcurrentValuesDoNotConflict) {
  Record local = Rec(R"({"name":"Ana"})", {{"name", T(3, "a")}});
  Record remote = Rec(R"({"name":"Ana"})", {{"name", T(5, "b")}});
  auto newer = Merge(&local, Entry(remote));
  EXPECT_EQ(newer.action, Action::kTakeRemote);
  EXPECT_EQ(newer.field_stamps.at("name"), T(5, "b"));
  EXPECT_TRUE(newer.conflicts.empty());

  auto older = Merge(&remote, Entry(local));
  EXPECT_EQ(older.action, Action::kIgnore);
  EXPECT_TRUE(older.conflicts.empty());
}

TEST_F(MergeTest, EqualStampsKeepLocal) {
  Record local = Rec(R"({"name":"Ana"})", {{"name", T(3, "a")}});
  auto out = Merge(&local, Entry(local));
  EXPECT_EQ(out.action, Action::kIgnore);
  EXPECT_TRUE(out.conflicts.empty());
}

TEST_F(MergeTest, NodeIdBreaksStampTies) {
  Record local = Rec(R"({"name":"Ana B"})", {{"name", S(kNow, 2, "b")}});
  Record remote = Rec(R"({"name":"Ana A"})", {{"name", S(kNow, 2, "a")}});
  auto out = Merge(&local, Entry(remote));
  EXPECT_EQ(out.action, Action::kIgnore);
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_EQ(out.conflicts[0].loser.stamp.node, "a");
}

TEST_F(MergeTest, RemovalNewerThanConcurrentEditWins) {
  Record local = Rec(R"({"name":"Ana","phone":"555"})",
                     {{"name", T(1, "a")}, {"phone", T(3, "a")}});
  // The remote removed "phone" (its stamp stays) without seeing our edit.
  Record remote =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}, {"phone", T(5, "b")}});
  auto out = Merge(&local, Entry(remote, {{"phone", T(1, "a")}}));
  EXPECT_EQ(out.action, Action::kTakeRemote);
  EXPECT_EQ(out.content, R"({"name":"Ana"})");
  EXPECT_EQ(out.field_stamps.at("phone"), T(5, "b"));
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_EQ(out.conflicts[0].field, "phone");
  EXPECT_EQ(out.conflicts[0].winner.value, std::nullopt);
  EXPECT_EQ(out.conflicts[0].loser.value, R"("555")");
}

TEST_F(MergeTest, EditNewerThanConcurrentRemovalWins) {
  Record local =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}, {"phone", T(3, "a")}});
  Record remote = Rec(R"({"name":"Ana","phone":"777"})",
                      {{"name", T(1, "a")}, {"phone", T(5, "b")}});
  auto out = Merge(&local, Entry(remote, {{"phone", T(1, "a")}}));
  EXPECT_EQ(out.action, Action::kTakeRemote);
  EXPECT_EQ(out.content, R"({"name":"Ana","phone":"777"})");
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_EQ(out.conflicts[0].winner.value, R"("777")");
  EXPECT_EQ(out.conflicts[0].loser.value, std::nullopt);
  EXPECT_EQ(out.conflicts[0].loser.stamp, T(3, "a"));
}

TEST_F(MergeTest, RemovalStampIsKeptForAbsentField) {
  Record local = Rec(R"({"name":"Ana","phone":"555"})",
                     {{"name", T(1, "a")}, {"phone", T(1, "a")}});
  Record remote =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}, {"phone", T(4, "b")}});
  auto out = Merge(&local, Entry(remote, {{"phone", T(1, "a")}}));
  EXPECT_EQ(out.action, Action::kTakeRemote);
  EXPECT_EQ(out.field_stamps.count("phone"), 1u);
  EXPECT_TRUE(out.conflicts.empty());
}

// Shared history: {name: "Ana" @1}. Node d deletes at `delete_ms`; node e
// concurrently edits name at `edit_ms`. Each node merges the other's version.
struct DeleteEditCase {
  int64_t delete_ms;
  int64_t edit_ms;
};

class DeleteVsEditTest : public MergeTest,
                         public ::testing::WithParamInterface<DeleteEditCase> {
};

TEST_P(DeleteVsEditTest, BothNodesOpenOneTombstoneConflict) {
  const HlcStamp del = T(GetParam().delete_ms, "d");
  const HlcStamp edit = T(GetParam().edit_ms, "e");
  Record tombstone =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "x")}, {kDel, del}}, true);
  Record edited = Rec(R"({"name":"Ana B"})", {{"name", edit}});

  FakeHistory at_d_history;
  at_d_history.AddAll(tombstone);
  at_d_history.Add("name", T(1, "x"));
  auto at_d = merger_.Merge(&tombstone, at_d_history,
                            Entry(edited, {{"name", T(1, "x")}}));
  FakeHistory at_e_history;
  at_e_history.AddAll(edited);
  at_e_history.Add("name", T(1, "x"));
  auto at_e = merger_.Merge(&edited, at_e_history, Entry(tombstone, {}));

  const std::string expected_id =
      ConflictId(ResourceType::kPatient, kRecordId, kDel, edit);
  for (const auto* out : {&at_d, &at_e}) {
    EXPECT_TRUE(out->deleted);
    // The edit merges in under the tombstone, for a revival to bring back.
    EXPECT_EQ(out->content, R"({"name":"Ana B"})");
    EXPECT_EQ(out->field_stamps.at(kDel), del);
    EXPECT_EQ(out->field_stamps.at("name"), edit);
    ASSERT_EQ(out->conflicts.size(), 1u);
    const Conflict& c = out->conflicts[0];
    EXPECT_EQ(c.id, expected_id);
    EXPECT_EQ(c.field, kDel);
    EXPECT_EQ(c.winner.value, "true");
    EXPECT_EQ(c.winner.stamp, del);
    EXPECT_EQ(c.loser.value, "false");
    EXPECT_EQ(c.loser.stamp, edit);
    EXPECT_EQ(c.state_stamp, std::max(del, edit));
  }
  EXPECT_EQ(at_d.action, Action::kMerged);
  EXPECT_EQ(at_e.action, Action::kMerged);
}

INSTANTIATE_TEST_SUITE_P(EitherOrder, DeleteVsEditTest,
                         ::testing::Values(DeleteEditCase{10, 20},
                                           DeleteEditCase{20, 10}));

TEST_F(MergeTest, DeleteThatSawTheEditIsNotAConflict) {
  Record edited = Rec(R"({"name":"Ana B"})", {{"name", T(5, "e")}});
  Record tombstone = Rec(R"({"name":"Ana B"})",
                         {{"name", T(5, "e")}, {kDel, T(9, "d")}}, true);
  auto out = Merge(&edited, Entry(tombstone, {{kDel, HlcStamp{}}}));
  EXPECT_EQ(out.action, Action::kTakeRemote);
  EXPECT_TRUE(out.deleted);
  EXPECT_TRUE(out.conflicts.empty());
}

TEST_F(MergeTest, TwoDeletesAndAnEditUnderATombstoneAreNotATombstoneConflict) {
  // Both sides are deleted: no live edit was set aside by this merge.
  Record local =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "x")}, {kDel, T(8, "a")}}, true);
  Record remote = Rec(R"({"name":"Ana B"})",
                      {{"name", T(5, "e")}, {kDel, T(3, "b")}}, true);
  history_.Add("name", T(1, "x"));
  auto out = Merge(&local, Entry(remote, {{"name", T(1, "x")}}));
  EXPECT_EQ(out.action, Action::kMerged);
  EXPECT_TRUE(out.deleted);
  EXPECT_EQ(out.content, R"({"name":"Ana B"})");
  EXPECT_TRUE(out.conflicts.empty());
}

TEST_F(MergeTest, ConcurrentDeleteAndRevivalConflictOnTombstone) {
  // Node b deleted (stamp 10) while node a, after its own delete (stamp 6),
  // revived the record (stamp 12) without seeing b's delete.
  Record local =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "x")}, {kDel, T(10, "b")}}, true);
  Record remote =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "x")}, {kDel, T(12, "a")}});
  auto out = Merge(&local, Entry(remote, {{kDel, T(6, "a")}}));
  EXPECT_EQ(out.action, Action::kTakeRemote);
  EXPECT_FALSE(out.deleted);
  ASSERT_EQ(out.conflicts.size(), 1u);
  const Conflict& c = out.conflicts[0];
  EXPECT_EQ(c.field, kDel);
  EXPECT_EQ(c.winner.value, "false");
  EXPECT_EQ(c.winner.stamp, T(12, "a"));
  EXPECT_EQ(c.loser.value, "true");
  EXPECT_EQ(c.loser.stamp, T(10, "b"));
}

TEST_F(MergeTest, RevivalWithEditLosingToDeleteIsOneConflict) {
  // A revival that also edited, stamped below a concurrent delete: the
  // tombstone conflict and the delete-vs-edit conflict are the same one.
  Record local =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "x")}, {kDel, T(10, "b")}}, true);
  Record remote =
      Rec(R"({"name":"Ana B"})", {{"name", T(8, "a")}, {kDel, T(8, "a")}});
  auto out =
      Merge(&local, Entry(remote, {{kDel, T(6, "a")}, {"name", T(1, "x")}}));
  EXPECT_EQ(out.action, Action::kMerged);
  EXPECT_TRUE(out.deleted);
  EXPECT_EQ(out.content, R"({"name":"Ana B"})");
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_EQ(out.conflicts[0].id,
            ConflictId(ResourceType::kPatient, kRecordId, kDel, T(8, "a")));
}

TEST_F(MergeTest, FutureStampNeverWinsOverLocalValue) {
  const HlcStamp future = S(kNow + kDay + 1, 0, "b");
  Record local = Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}});
  Record remote = Rec(R"({"name":"Ana Z"})", {{"name", future}});
  auto out = Merge(&local, Entry(remote, {{"name", T(1, "a")}}));
  EXPECT_EQ(out.action, Action::kIgnore);
  EXPECT_EQ(out.content, R"({"name":"Ana"})");
  ASSERT_EQ(out.future_stamps.size(), 1u);
  EXPECT_EQ(out.future_stamps[0].first, "name");
  EXPECT_EQ(out.future_stamps[0].second, future);
  EXPECT_TRUE(out.restamp_fields.empty());
  // Even though it built on our value, the future write is set aside.
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_EQ(out.conflicts[0].loser.stamp, future);
  EXPECT_EQ(out.conflicts[0].loser.value, R"("Ana Z")");
}

TEST_F(MergeTest, FutureValueForNewFieldIsTakenAndRestamped) {
  const HlcStamp future = S(kNow + 2 * kDay, 0, "b");
  Record local = Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}});
  Record remote = Rec(R"({"name":"Ana","phone":"555"})",
                      {{"name", T(1, "a")}, {"phone", future}});
  auto out = Merge(&local, Entry(remote, {}));
  EXPECT_EQ(out.action, Action::kMerged);
  EXPECT_EQ(out.content, R"({"name":"Ana","phone":"555"})");
  EXPECT_EQ(out.restamp_fields, std::vector<std::string>{"phone"});
  ASSERT_EQ(out.future_stamps.size(), 1u);
  EXPECT_EQ(out.future_stamps[0].second, future);
  EXPECT_TRUE(out.conflicts.empty());
}

TEST_F(MergeTest, FutureStampOnNewRecordIsMergedNotTaken) {
  const HlcStamp future = S(kNow + 2 * kDay, 0, "b");
  Record remote = Rec(R"({"gender":"male","name":"Ana"})",
                      {{"gender", T(1, "b")}, {"name", future}});
  auto out = Merge(nullptr, Entry(remote));
  EXPECT_EQ(out.action, Action::kMerged);
  EXPECT_EQ(out.content, remote.content);
  EXPECT_EQ(out.restamp_fields, std::vector<std::string>{"name"});
  EXPECT_EQ(out.field_stamps.at("gender"), T(1, "b"));
}

// A node whose clock ran ahead merges older values: its version stamp is
// far ahead though no field stamp is. Taking that version as is would hand
// its stamp to the store (and drag the store's clock ahead with it).
TEST_F(MergeTest, FutureVersionOfPastFieldsIsMergedNotTaken) {
  Record remote = Rec(R"({"gender":"male","name":"Ana"})",
                      {{"gender", T(1, "b")}, {"name", T(2, "c")}});
  remote.version = S(kNow + 10 * kDay, 0, "b");
  auto fresh = Merge(nullptr, Entry(remote));
  EXPECT_EQ(fresh.action, Action::kMerged);
  EXPECT_TRUE(fresh.future_version);
  EXPECT_TRUE(fresh.future_stamps.empty());
  EXPECT_EQ(fresh.content, remote.content);
  EXPECT_EQ(fresh.field_stamps, remote.field_stamps);

  Record local = Rec(R"({"gender":"female","name":"Ana"})",
                     {{"gender", T(0, "a")}, {"name", T(2, "c")}});
  auto over = Merge(&local, Entry(remote, {{"gender", T(0, "a")}}));
  EXPECT_EQ(over.action, Action::kMerged);
  EXPECT_TRUE(over.future_version);
  EXPECT_EQ(over.field_stamps, remote.field_stamps);

  // Within the bound the version is taken as before.
  remote.version = S(kNow + kDay, 0, "b");
  auto near = Merge(nullptr, Entry(remote));
  EXPECT_EQ(near.action, Action::kTakeRemote);
  EXPECT_FALSE(near.future_version);
}

TEST_F(MergeTest, SkewBoundIsInclusiveAndReadFromTheClockEachTime) {
  Record local = Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}});
  Record remote =
      Rec(R"({"name":"Ana Z"})", {{"name", S(kNow + kDay, 0, "b")}});
  auto at_bound = Merge(&local, Entry(remote, {{"name", T(1, "a")}}));
  EXPECT_EQ(at_bound.action, Action::kTakeRemote);
  EXPECT_TRUE(at_bound.future_stamps.empty());

  clock_.SetWall(kNow - 1);
  auto past_bound = Merge(&local, Entry(remote, {{"name", T(1, "a")}}));
  EXPECT_EQ(past_bound.action, Action::kIgnore);
  EXPECT_EQ(past_bound.future_stamps.size(), 1u);
}

TEST_F(MergeTest, ClockSkewOptionIsHonoured) {
  FieldMerger strict(clock_, MergeOptions{std::chrono::minutes(1)});
  Record local = Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}});
  Record remote =
      Rec(R"({"name":"Ana Z"})", {{"name", S(kNow + 61'000, 0, "b")}});
  auto out = strict.Merge(&local, history_, Entry(remote));
  EXPECT_EQ(out.action, Action::kIgnore);
  EXPECT_EQ(out.future_stamps.size(), 1u);
}

TEST_F(MergeTest, StampsOfANodeBootedIn1970OrderByCounter) {
  // A board without a real-time clock: wall time near zero, carried on by
  // the counter. Such stamps are old, never future, and order normally.
  Record local = Rec(R"({"name":"Ana"})", {{"name", S(5000, 3, "a")}});
  Record remote = Rec(R"({"name":"Ana B"})", {{"name", S(5000, 7, "b")}});
  auto out = Merge(&local, Entry(remote, {{"name", S(5000, 3, "a")}}));
  EXPECT_EQ(out.action, Action::kTakeRemote);
  EXPECT_TRUE(out.future_stamps.empty());
  EXPECT_TRUE(out.conflicts.empty());

  // A 1970 write loses to a concurrent write of today.
  Record today = Rec(R"({"name":"Ana C"})", {{"name", T(1, "c")}});
  auto older = Merge(&today, Entry(remote));
  EXPECT_EQ(older.action, Action::kIgnore);
  ASSERT_EQ(older.conflicts.size(), 1u);
  EXPECT_EQ(older.conflicts[0].loser.stamp, S(5000, 7, "b"));
}

TEST_F(MergeTest, ApplyingTheSameRemoteTwiceIsIgnoredTheSecondTime) {
  Record local = Rec(R"({"gender":"male","name":"Ana B"})",
                     {{"gender", T(6, "a")}, {"name", T(3, "a")}});
  Record remote = Rec(R"({"gender":"female","name":"Ana C"})",
                      {{"gender", T(2, "b")}, {"name", T(5, "b")}});
  ChangeEntry entry =
      Entry(remote, {{"gender", T(1, "x")}, {"name", T(1, "x")}});
  auto first = Merge(&local, entry);
  ASSERT_EQ(first.action, Action::kMerged);
  ASSERT_EQ(first.conflicts.size(), 2u);

  Record merged = local;
  merged.content = first.content;
  merged.field_stamps = first.field_stamps;
  merged.deleted = first.deleted;
  auto second = Merge(&merged, entry);
  EXPECT_EQ(second.action, Action::kIgnore);
  EXPECT_FALSE(SameState(merged, local));
  // The remote's losing gender is still unseen here: the same conflict is
  // found again, with the same id.
  ASSERT_EQ(second.conflicts.size(), 1u);
  EXPECT_EQ(second.conflicts[0].field, "gender");
  bool found = false;
  for (const Conflict& c : first.conflicts) {
    found |= c.id == second.conflicts[0].id;
  }
  EXPECT_TRUE(found);
}

TEST_F(MergeTest, BadContentDoesNotThrow) {
  Record local = Rec("[1,2", {{"name", T(1, "a")}});
  Record remote = Rec("\"text\"", {{"name", T(2, "b")}});
  ChangeMerger::Outcome out;
  EXPECT_NO_THROW(out = Merge(&local, Entry(remote)));
  // Neither text is returned as is: the result is a JSON object.
  EXPECT_EQ(out.action, Action::kMerged);
  EXPECT_EQ(out.content, "{}");
  EXPECT_EQ(out.field_stamps.at("name"), T(2, "b"));
}

TEST_F(MergeTest, UnstampedLocalValueIsKept) {
  Record local = Rec(R"({"name":"Ana","note":"x"})", {{"name", T(1, "a")}});
  Record remote = Rec(R"({"name":"Ana B"})", {{"name", T(2, "b")}});
  auto out = Merge(&local, Entry(remote, {{"name", T(1, "a")}}));
  EXPECT_EQ(out.action, Action::kMerged);
  EXPECT_EQ(out.content, R"({"name":"Ana B","note":"x"})");
}

// ---- The owner (@facility) ----

const std::string kOwner(storage::kFacilityField);

TEST_F(MergeTest, ANewerTransferIsTakenWithoutConflict) {
  Record local = Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}});
  Record remote =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}, {kOwner, T(5, "h")}},
          false, "fac-b");
  auto out = Merge(&local, Entry(remote));
  EXPECT_EQ(out.action, Action::kTakeRemote);
  EXPECT_EQ(out.facility, "fac-b");
  EXPECT_TRUE(out.conflicts.empty());
}

TEST_F(MergeTest, ConcurrentTransfersKeepTheNewestOwnerWithoutConflict) {
  Record local =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}, {kOwner, T(7, "a")}},
          false, "fac-b");
  Record older =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}, {kOwner, T(5, "h")}},
          false, "fac-c");
  auto out = Merge(&local, Entry(older));
  EXPECT_EQ(out.action, Action::kIgnore);
  EXPECT_EQ(out.facility, "fac-b");
  EXPECT_TRUE(out.conflicts.empty());
  // Seen from the other side, the same owner wins.
  FakeHistory other_history;
  auto back = merger_.Merge(&older, other_history, Entry(local));
  EXPECT_EQ(back.action, Action::kTakeRemote);
  EXPECT_EQ(back.facility, "fac-b");
  EXPECT_TRUE(back.conflicts.empty());
}

TEST_F(MergeTest, AnEditRacingATransferMergesUnderTheNewOwner) {
  // Here: moved to fac-b at 5. There: the old owner edited the name at 8,
  // without knowing of the move.
  Record local =
      Rec(R"({"name":"Ana"})", {{"name", T(1, "a")}, {kOwner, T(5, "h")}},
          false, "fac-b");
  Record edit = Rec(R"({"name":"Ana Maria"})", {{"name", T(8, "a")}});
  auto out = Merge(&local, Entry(edit, {{"name", T(1, "a")}}));
  EXPECT_EQ(out.action, Action::kMerged);
  EXPECT_EQ(out.content, R"({"name":"Ana Maria"})");
  EXPECT_EQ(out.facility, "fac-b");
  EXPECT_EQ(out.field_stamps.at(kOwner), T(5, "h"));
  EXPECT_TRUE(out.conflicts.empty());
}

TEST(SameStateTest, ComparesContentAsJsonAndStampsAndTombstone) {
  Record a = Rec(R"({"a":1,"b":[1,2]})", {{"a", T(1, "a")}});
  Record b = Rec(R"({ "b": [1, 2], "a": 1 })", {{"a", T(1, "a")}});
  b.version = T(9, "z");
  EXPECT_TRUE(SameState(a, b));
  b.facility = "other";  // the owner is part of the state
  EXPECT_FALSE(SameState(a, b));
  b.facility = a.facility;
  b.deleted = true;
  EXPECT_FALSE(SameState(a, b));
  b.deleted = false;
  b.field_stamps["a"] = T(2, "a");
  EXPECT_FALSE(SameState(a, b));
  b.field_stamps["a"] = T(1, "a");
  b.content = R"({"a":2,"b":[1,2]})";
  EXPECT_FALSE(SameState(a, b));
  b.content = "not json";
  EXPECT_FALSE(SameState(a, b));
}

}  // namespace
}  // namespace posta::sync
