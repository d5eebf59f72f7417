// Property test of the merge rule: N replicas, each with its own clock, HLC
// and an in-memory store, write and sync at random; replays, repeats and
// reordering included, and transfers of records between owners. Checks that
// replicas converge (owners included), that no value is set aside silently,
// and that every node names a conflict alike.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "posta/base/clock.h"
#include "posta/base/hlc.h"
#include "posta/storage/replication.h"
#include "posta/sync/merge.h"

namespace posta::sync {
namespace {

using base::HlcStamp;
using storage::ChangeEntry;
using storage::ChangeMerger;
using storage::Conflict;
using storage::kDeletedField;
using storage::Record;
using storage::ResourceType;
using Json = nlohmann::json;
using Action = ChangeMerger::Action;

constexpr int64_t kEpoch = 1'700'000'000'000;
constexpr int64_t kDayMs = 24 * 60 * 60 * 1000;
const std::string kDel(kDeletedField);
const std::string kOwner(storage::kFacilityField);
const std::vector<std::string> kOwners = {"fac", "f1", "f2"};
const std::vector<std::string> kFields = {"birthDate", "gender", "name",
                                          "phone"};

Json RandomValue(std::mt19937_64& rng) {
  // Few values, so equal concurrent writes happen.
  switch (rng() % 4) {
    case 0:
      return "a";
    case 1:
      return "b";
    case 2:
      return 1;
    default:
      return Json::array({1, "x"});
  }
}

Json ParseContent(const std::string& text) {
  Json parsed = Json::parse(text, nullptr, false);
  return parsed.is_object() ? parsed : Json::object();
}

// A field's value as ConflictSide holds it.
std::optional<std::string> ValueText(const Json& content, bool deleted,
                                     const std::string& field) {
  if (field == kDel) return deleted ? "true" : "false";
  auto it = content.find(field);
  if (it == content.end()) return std::nullopt;
  return it->dump();
}

HlcStamp StampOf(const std::map<std::string, HlcStamp>& stamps,
                 const std::string& field) {
  auto it = stamps.find(field);
  return it == stamps.end() ? HlcStamp{} : it->second;
}

using FieldStamps = std::set<std::pair<std::string, HlcStamp>>;

class SetHistory final : public ChangeMerger::History {
 public:
  explicit SetHistory(const FieldStamps& seen) : seen_(seen) {}
  bool HasSeen(std::string_view field, const HlcStamp& stamp) override {
    return seen_.count({std::string(field), stamp}) > 0;
  }

 private:
  const FieldStamps& seen_;
};

struct Replica {
  Replica(std::string id, int64_t wall_ms)
      : node(std::move(id)), clock(wall_ms), hlc(clock, node) {}

  std::string node;
  base::ManualClock clock;
  base::HybridLogicalClock hlc;
  FieldMerger merger{clock};
  std::map<std::string, Record> records;
  // Per record, every (field, stamp) a stored version held: History.
  std::map<std::string, FieldStamps> held;
  std::vector<ChangeEntry> log;
  std::map<std::string, Conflict> conflicts;  // by id
  // Oracle: per record and field, every stamp this node knows causally
  // (held, or in the past of one held).
  std::map<std::string, std::map<std::string, std::set<HlcStamp>>> known;
};

// A value that a merge set aside: what it was, and what it lost to.
struct Loss {
  std::string record_id;
  std::string field;
  HlcStamp stamp;
  std::optional<std::string> value;
  HlcStamp winner;
  std::string where;
};

class Simulation {
 public:
  // Clocks are up to an hour apart, well inside the skew bound; with
  // `fast_node`, node n0's clock runs two days ahead of the others.
  Simulation(uint64_t seed, int nodes, bool fast_node = false) : rng_(seed) {
    for (int i = 0; i < nodes; ++i) {
      int64_t offset = static_cast<int64_t>(rng_() % 7'200'000) - 3'600'000;
      if (fast_node && i == 0) offset += 2 * kDayMs;
      replicas_.push_back(
          std::make_unique<Replica>("n" + std::to_string(i), kEpoch + offset));
    }
  }

  void Step() {
    for (auto& r : replicas_) {
      r->clock.Advance(std::chrono::milliseconds(rng_() % 50));
    }
    if (rng_() % 10 < 6) {
      LocalOp(Pick());
    } else {
      Replica& from = Pick();
      Replica& to = Pick();
      if (&from != &to) Sync(from, to, /*random_delivery=*/true);
    }
  }

  // Everyone to everyone until a round changes nothing.
  ::testing::AssertionResult SyncUntilQuiet() {
    for (int round = 0; round < 40; ++round) {
      bool changed = false;
      for (auto& from : replicas_) {
        for (auto& to : replicas_) {
          if (from != to) changed |= Sync(*from, *to, false);
        }
      }
      if (!changed) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "no quiet round after 40";
  }

  ::testing::AssertionResult CheckConverged() const {
    const Replica& first = *replicas_.front();
    for (const auto& r : replicas_) {
      if (r->records.size() != first.records.size()) {
        return ::testing::AssertionFailure()
               << r->node << " has " << r->records.size() << " records, "
               << first.node << " has " << first.records.size();
      }
      for (const auto& [id, record] : first.records) {
        auto it = r->records.find(id);
        if (it == r->records.end()) {
          return ::testing::AssertionFailure() << r->node << " lacks " << id;
        }
        if (!SameState(record, it->second)) {
          return ::testing::AssertionFailure()
                 << id << " differs: " << first.node << " " << Describe(record)
                 << " vs " << r->node << " " << Describe(it->second);
        }
      }
    }
    return ::testing::AssertionSuccess();
  }

  // Every value set aside was either overwritten by a write that had seen
  // it, or is the loser of a conflict on some node.
  ::testing::AssertionResult CheckLossesCovered() const {
    std::set<std::tuple<std::string, std::string, HlcStamp>> superseded;
    for (const auto& [key, past] : causal_) {
      const auto& [id, field, stamp] = key;
      for (const HlcStamp& seen : past) superseded.emplace(id, field, seen);
    }
    for (const Loss& loss : losses_) {
      if (superseded.count({loss.record_id, loss.field, loss.stamp})) continue;
      std::string id = storage::ConflictId(
          ResourceType::kPatient, loss.record_id, loss.field, loss.stamp);
      bool found = false;
      for (const auto& r : replicas_) {
        auto it = r->conflicts.find(id);
        if (it == r->conflicts.end()) continue;
        if (it->second.loser.stamp != loss.stamp ||
            it->second.loser.value != loss.value) {
          return ::testing::AssertionFailure()
                 << "conflict " << id << " on " << r->node
                 << " has another loser than " << loss.stamp.ToString();
        }
        found = true;
      }
      if (!found) {
        return ::testing::AssertionFailure()
               << "silent loss at " << loss.where << ": " << loss.record_id
               << "." << loss.field << " = " << loss.value.value_or("<absent>")
               << " @" << loss.stamp.ToString() << " lost to @"
               << loss.winner.ToString();
      }
    }
    return ::testing::AssertionSuccess();
  }

  // The same lost write has the same conflict id and loser everywhere.
  ::testing::AssertionResult CheckConflictIds() const {
    std::map<std::tuple<std::string, std::string, HlcStamp>, std::string> ids;
    std::map<std::string, Conflict> by_id;
    for (const auto& r : replicas_) {
      for (const auto& [id, c] : r->conflicts) {
        auto key = std::make_tuple(c.record_id, c.field, c.loser.stamp);
        auto [it, added] = ids.emplace(key, id);
        if (!added && it->second != id) {
          return ::testing::AssertionFailure()
                 << "two ids for one lost write: " << it->second << ", " << id;
        }
        auto [other, first] = by_id.emplace(id, c);
        if (!first && (other->second.loser.value != c.loser.value ||
                       other->second.field != c.field ||
                       other->second.record_id != c.record_id)) {
          return ::testing::AssertionFailure()
                 << "conflict " << id << " differs on " << r->node;
        }
      }
    }
    return ::testing::AssertionSuccess();
  }

  size_t conflict_count() const {
    size_t n = 0;
    for (const auto& r : replicas_) n += r->conflicts.size();
    return n;
  }
  size_t loss_count() const { return losses_.size(); }
  size_t transfer_count() const { return transfers_; }

 private:
  Replica& Pick() { return *replicas_[rng_() % replicas_.size()]; }

  static std::string Describe(const Record& r) {
    std::ostringstream out;
    out << r.content << (r.deleted ? " deleted" : "") << " {";
    for (const auto& [field, stamp] : r.field_stamps) {
      out << field << ":" << stamp.ToString() << " ";
    }
    out << "}";
    return out.str();
  }

  void LocalOp(Replica& r) {
    if (r.records.empty() || rng_() % 5 == 0) {
      Json content = Json::object();
      size_t n = 1 + rng_() % 3;
      for (size_t i = 0; i < n; ++i) {
        content[kFields[rng_() % kFields.size()]] = RandomValue(rng_);
      }
      Write(r, "rec-" + std::to_string(next_record_++), nullptr, content,
            false);
      return;
    }
    auto it = r.records.begin();
    std::advance(it, rng_() % r.records.size());
    const std::string id = it->first;
    const Record current = it->second;
    Json content = ParseContent(current.content);
    if (current.deleted) {
      // A revival, sometimes with an edit in the same version.
      if (rng_() % 2)
        content[kFields[rng_() % kFields.size()]] = RandomValue(rng_);
      Write(r, id, &current, content, false);
      return;
    }
    if (rng_() % 12 == 0) {
      Transfer(r, id, current);
      return;
    }
    unsigned op = rng_() % 100;
    if (op < 60) {
      size_t n = 1 + rng_() % 2;
      for (size_t i = 0; i < n; ++i) {
        content[kFields[rng_() % kFields.size()]] = RandomValue(rng_);
      }
      Write(r, id, &current, content, false);
    } else if (op < 85) {
      const std::string& field = kFields[rng_() % kFields.size()];
      content.erase(field);
      Write(r, id, &current, content, false);
    } else {
      Write(r, id, &current, content, true);
    }
  }

  // A local write as the store makes it: changed fields (and the tombstone)
  // get the new version's stamp, and base_stamps their previous stamps.
  void Write(Replica& r, const std::string& id, const Record* current,
             const Json& content, bool deleted) {
    Json before = current ? ParseContent(current->content) : Json::object();
    std::map<std::string, HlcStamp> stamps;
    if (current) stamps = current->field_stamps;
    std::set<std::string> changed;
    for (const auto& [field, value] : before.items()) {
      if (!content.contains(field) || content[field] != value) {
        changed.insert(field);
      }
    }
    for (const auto& [field, value] : content.items()) {
      if (!before.contains(field)) changed.insert(field);
    }
    if (deleted != (current && current->deleted)) changed.insert(kDel);
    if (changed.empty()) return;

    const HlcStamp version = r.hlc.Now();
    ChangeEntry entry;
    for (const std::string& field : changed) {
      auto old = stamps.find(field);
      if (old != stamps.end()) entry.base_stamps[field] = old->second;
      stamps[field] = version;
      Mint(r, id, field, version);
    }
    Record next;
    next.type = ResourceType::kPatient;
    next.id = id;
    next.facility = current ? current->facility : kOwners.front();
    next.content = content.dump();
    next.field_stamps = std::move(stamps);
    next.deleted = deleted;
    next.version = version;
    next.last_updated_ms = version.wall_ms;
    entry.record = std::move(next);
    Store(r, std::move(entry));
  }

  // A transfer as the store makes it: the same content under a new owner,
  // with the owner's stamp (kFacilityField) moved to the new version.
  void Transfer(Replica& r, const std::string& id, const Record& current) {
    const std::string& to = kOwners[rng_() % kOwners.size()];
    if (to == current.facility) return;
    const HlcStamp version = r.hlc.Now();
    ChangeEntry entry;
    Record next = current;
    auto old = next.field_stamps.find(kOwner);
    if (old != next.field_stamps.end()) entry.base_stamps[kOwner] = old->second;
    next.field_stamps[kOwner] = version;
    Mint(r, id, kOwner, version);
    next.facility = to;
    next.version = version;
    next.last_updated_ms = version.wall_ms;
    entry.record = std::move(next);
    ++transfers_;
    Store(r, std::move(entry));
  }

  void Mint(Replica& r, const std::string& id, const std::string& field,
            const HlcStamp& stamp) {
    auto& known = r.known[id][field];
    causal_[{id, field, stamp}] = known;
    known.insert(stamp);
  }

  void Adopt(Replica& r, const std::string& id, const std::string& field,
             const HlcStamp& stamp) {
    auto& known = r.known[id][field];
    if (!known.insert(stamp).second) return;
    auto it = causal_.find({id, field, stamp});
    if (it != causal_.end()) known.insert(it->second.begin(), it->second.end());
  }

  void Store(Replica& r, ChangeEntry entry) {
    const Record& record = entry.record;
    for (const auto& [field, stamp] : record.field_stamps) {
      r.held[record.id].emplace(field, stamp);
    }
    r.records[record.id] = record;
    entry.seq = static_cast<int64_t>(r.log.size()) + 1;
    r.log.push_back(std::move(entry));
  }

  // Ships `from`'s log to `to`; true when `to` stored anything. With
  // random_delivery, starts from an old cursor at times (repeats), stops
  // after a random batch, and applies some batches twice.
  bool Sync(Replica& from, Replica& to, bool random_delivery) {
    size_t& cursor = cursors_[{from.node, to.node}];
    size_t begin = cursor;
    size_t end = from.log.size();
    bool twice = false;
    if (random_delivery) {
      if (cursor > 0 && rng_() % 4 == 0) begin = rng_() % (cursor + 1);
      end = std::min(end, begin + 1 + rng_() % 8);
      twice = rng_() % 5 == 0;
    }
    std::vector<ChangeEntry> batch(from.log.begin() + begin,
                                   from.log.begin() + end);
    bool changed = false;
    for (int pass = 0; pass < (twice ? 2 : 1); ++pass) {
      for (const ChangeEntry& entry : batch) {
        // ReadChanges' exclude_origin: a node's own versions stay home.
        if (entry.record.version.node == to.node) continue;
        changed |= Apply(to, entry);
      }
    }
    cursor = std::max(cursor, end);
    return changed;
  }

  bool Apply(Replica& r, const ChangeEntry& entry) {
    const std::string& id = entry.record.id;
    // As the real caller does, the HLC follows no peer stamp past the skew
    // bound.
    if (entry.record.version.wall_ms <= r.clock.WallNowMillis() + kDayMs) {
      r.hlc.Observe(entry.record.version);
    }
    auto found = r.records.find(id);
    const Record* local = found == r.records.end() ? nullptr : &found->second;
    SetHistory history(r.held[id]);
    ChangeMerger::Outcome out = r.merger.Merge(local, history, entry);

    for (const Conflict& c : out.conflicts) {
      EXPECT_EQ(c.id, storage::ConflictId(c.type, c.record_id, c.field,
                                          c.loser.stamp));
      r.conflicts[c.id] = c;
    }

    Record result;
    ChangeEntry stored;
    switch (out.action) {
      case Action::kIgnore:
        EXPECT_NE(local, nullptr);
        if (local) RecordLosses(r, local, entry.record, *local);
        return false;
      case Action::kTakeRemote:
        EXPECT_EQ(out.content, entry.record.content);
        EXPECT_EQ(out.field_stamps, entry.record.field_stamps);
        EXPECT_EQ(out.deleted, entry.record.deleted);
        EXPECT_EQ(out.facility, entry.record.facility);
        stored = entry;
        for (const auto& [field, stamp] : entry.record.field_stamps) {
          Adopt(r, id, field, stamp);
        }
        break;
      case Action::kMerged: {
        const HlcStamp version = r.hlc.Now();
        Record next = local ? *local : entry.record;
        next.content = out.content;
        next.field_stamps = out.field_stamps;
        next.deleted = out.deleted;
        EXPECT_FALSE(out.facility.empty());
        next.facility = out.facility;
        next.version = version;
        next.last_updated_ms = version.wall_ms;
        std::set<std::string> restamped(out.restamp_fields.begin(),
                                        out.restamp_fields.end());
        for (auto& [field, stamp] : next.field_stamps) {
          if (restamped.count(field)) {
            stamp = version;
            Mint(r, id, field, version);
          } else {
            Adopt(r, id, field, stamp);
          }
          HlcStamp before =
              local ? StampOf(local->field_stamps, field) : HlcStamp{};
          if (before != stamp && !before.IsZero()) {
            stored.base_stamps[field] = before;
          }
        }
        stored.record = std::move(next);
        break;
      }
    }
    RecordLosses(r, local, entry.record, stored.record);
    Store(r, std::move(stored));
    return true;
  }

  void RecordLosses(const Replica& r, const Record* local, const Record& remote,
                    const Record& result) {
    static const Record kNone;
    const Record& l = local ? *local : kNone;
    Json lc = ParseContent(l.content);
    Json rc = ParseContent(remote.content);
    Json fc = ParseContent(result.content);
    std::set<std::string> fields;
    for (const auto& [field, stamp] : l.field_stamps) fields.insert(field);
    for (const auto& [field, stamp] : remote.field_stamps) fields.insert(field);
    for (const std::string& field : fields) {
      HlcStamp fs = StampOf(result.field_stamps, field);
      auto fv = ValueText(fc, result.deleted, field);
      auto check = [&](const Record& side, const Json& content,
                       const char* which) {
        HlcStamp s = StampOf(side.field_stamps, field);
        auto v = ValueText(content, side.deleted, field);
        if (!s.IsZero() && s != fs && v != fv) {
          losses_.push_back(Loss{remote.id, field, s, v, fs,
                                 r.node + " (" + which + " side)"});
        }
      };
      check(l, lc, "local");
      check(remote, rc, "remote");
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::map<std::pair<std::string, std::string>, size_t> cursors_;
  // Oracle: for each minted (record, field, stamp), the stamps of that
  // field its node knew when it wrote.
  std::map<std::tuple<std::string, std::string, HlcStamp>, std::set<HlcStamp>>
      causal_;
  std::vector<Loss> losses_;
  int next_record_ = 0;
  size_t transfers_ = 0;
};

TEST(MergePropertyTest, ReplicasConvergeAndNoValueIsLostSilently) {
  constexpr int kSeeds = 300;
  constexpr int kSteps = 40;
  size_t conflicts = 0;
  size_t losses = 0;
  size_t transfers = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Simulation sim(seed, 3 + static_cast<int>(seed % 3));
    for (int i = 0; i < kSteps; ++i) sim.Step();
    ASSERT_TRUE(sim.SyncUntilQuiet());
    ASSERT_TRUE(sim.CheckConverged());
    ASSERT_TRUE(sim.CheckLossesCovered());
    ASSERT_TRUE(sim.CheckConflictIds());
    conflicts += sim.conflict_count();
    losses += sim.loss_count();
    transfers += sim.transfer_count();
  }
  // The workload must reach the interesting cases, or it proves nothing.
  EXPECT_GT(conflicts, 100u);
  EXPECT_GT(losses, 100u);
  EXPECT_GT(transfers, 100u);
}

// A node whose clock runs past the skew bound: its writes never win over
// values the others hold, so replicas need not converge, but nothing it
// wrote, and nothing it set aside, is lost without a conflict.
TEST(MergePropertyTest, FastClockNodeLosesNothingSilently) {
  constexpr int kSeeds = 100;
  constexpr int kSteps = 40;
  size_t conflicts = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Simulation sim(seed, 3 + static_cast<int>(seed % 3), /*fast_node=*/true);
    for (int i = 0; i < kSteps; ++i) sim.Step();
    ASSERT_TRUE(sim.SyncUntilQuiet());
    ASSERT_TRUE(sim.CheckLossesCovered());
    ASSERT_TRUE(sim.CheckConflictIds());
    conflicts += sim.conflict_count();
  }
  EXPECT_GT(conflicts, 100u);
}

}  // namespace
}  // namespace posta::sync
