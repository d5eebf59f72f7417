#include "posta/sync/merge.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace posta::sync {
namespace {

using base::HlcStamp;
using nlohmann::json;
using storage::ChangeEntry;
using storage::ChangeMerger;
using storage::Conflict;
using storage::ConflictSide;
using storage::kDeletedField;
using storage::kFacilityField;
using storage::Record;
using Stamps = std::map<std::string, HlcStamp>;

// Content that is not a JSON object reads as an empty one and is never
// returned as is.
json ParseObject(const std::string& text, bool* valid) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  *valid = parsed.is_object();
  if (!*valid) return json::object();
  return parsed;
}

const HlcStamp& StampOf(const Stamps& stamps, const std::string& field) {
  static const HlcStamp kZero;
  auto it = stamps.find(field);
  return it == stamps.end() ? kZero : it->second;
}

// One side of the merge. A null record is a side with no fields that is
// not deleted.
struct Side {
  const Record* record = nullptr;
  json content = json::object();
  bool valid = true;  // content parsed as a JSON object

  const Stamps& stamps() const {
    static const Stamps kNone;
    return record ? record->field_stamps : kNone;
  }
  bool deleted() const { return record && record->deleted; }
  std::string facility() const { return record ? record->facility : ""; }
  const json* Value(const std::string& field) const {
    auto it = content.find(field);
    return it == content.end() ? nullptr : &*it;
  }
  // The value as ConflictSide holds it.
  std::optional<std::string> Text(const std::string& field) const {
    if (field == kDeletedField) return deleted() ? "true" : "false";
    if (field == kFacilityField) return facility();
    const json* value = Value(field);
    if (!value) return std::nullopt;
    return value->dump();
  }
  bool SameValue(const Side& other, const std::string& field) const {
    if (field == kDeletedField) return deleted() == other.deleted();
    if (field == kFacilityField) return facility() == other.facility();
    const json* a = Value(field);
    const json* b = other.Value(field);
    if (!a || !b) return a == b;
    return *a == *b;
  }
};

class FieldMerge {
 public:
  FieldMerge(const Record* local, ChangeMerger::History& history,
             const ChangeEntry& remote, int64_t horizon_ms)
      : history_(history), remote_entry_(remote), horizon_ms_(horizon_ms) {
    local_.record = local;
    if (local) local_.content = ParseObject(local->content, &local_.valid);
    remote_.record = &remote.record;
    remote_.content = ParseObject(remote.record.content, &remote_.valid);
  }

  ChangeMerger::Outcome Run() {
    std::set<std::string> fields;
    for (const Side* side : {&local_, &remote_}) {
      for (const auto& [field, stamp] : side->stamps()) fields.insert(field);
      for (const auto& [field, value] : side->content.items()) {
        fields.insert(field);
      }
    }
    // Every side has a tombstone value and an owner, stamped or not.
    fields.insert(std::string(kDeletedField));
    fields.insert(std::string(kFacilityField));
    for (const std::string& field : fields) MergeField(field);
    if (deleted_) CheckDeleteRacingEdit();
    out_.future_version = IsFuture(remote_entry_.record.version);
    return Finish();
  }

 private:
  bool IsFuture(const HlcStamp& stamp) const {
    return !stamp.IsZero() && stamp.wall_ms > horizon_ms_;
  }

  void MergeField(const std::string& field) {
    const HlcStamp& ls = StampOf(local_.stamps(), field);
    const HlcStamp& rs = StampOf(remote_.stamps(), field);
    const bool same_value = local_.SameValue(remote_, field);
    bool take_remote = false;
    if (IsFuture(rs)) {
      out_.future_stamps.emplace_back(field, rs);
      if (ls.IsZero()) {
        take_remote = true;
        out_.restamp_fields.push_back(field);
      } else if (!same_value) {
        AddConflict(field, local_, ls, remote_, rs);
      }
    } else if (rs == ls) {
      take_remote = false;
    } else if (rs > ls) {
      take_remote = true;
      if (!same_value && !ls.IsZero()) {
        auto base = remote_entry_.base_stamps.find(field);
        bool built_on_local =
            base != remote_entry_.base_stamps.end() && base->second == ls;
        if (!built_on_local) AddConflict(field, remote_, rs, local_, ls);
      }
    } else {
      // A stale replay of a write this node already had is not a conflict;
      // only a write it never held is concurrent with what it has.
      if (!same_value && !rs.IsZero() && !history_.HasSeen(field, rs)) {
        AddConflict(field, local_, ls, remote_, rs);
      }
    }

    const Side& winner = take_remote ? remote_ : local_;
    const HlcStamp& stamp = take_remote ? rs : ls;
    if (!stamp.IsZero()) stamps_[field] = stamp;
    if (field == kDeletedField) {
      deleted_ = winner.deleted();
      deleted_winner_ = &winner;
      deleted_stamp_ = stamp;
    } else if (field == kFacilityField) {
      facility_ = winner.facility();
    } else if (const json* value = winner.Value(field)) {
      content_[field] = *value;
    }
  }

  // An edit the deleting side never saw is set aside by the tombstone even
  // though its value merges in underneath; say so once per merge.
  void CheckDeleteRacingEdit() {
    const Side& d = *deleted_winner_;
    const Side& e = (&d == &local_) ? remote_ : local_;
    if (!e.record || e.deleted()) return;
    std::optional<HlcStamp> highest;
    for (const auto& [field, stamp] : e.stamps()) {
      if (field == kDeletedField || field == kFacilityField) continue;
      if (stamp <= StampOf(d.stamps(), field)) continue;
      if (e.SameValue(d, field)) continue;
      if (!highest || stamp > *highest) highest = stamp;
    }
    if (!highest) return;
    AddConflictSides(std::string(kDeletedField),
                     ConflictSide{"true", deleted_stamp_},
                     ConflictSide{"false", *highest});
  }

  void AddConflict(const std::string& field, const Side& winner,
                   const HlcStamp& winner_stamp, const Side& loser,
                   const HlcStamp& loser_stamp) {
    // Concurrent transfers are not a question for a person: the newest
    // owner wins on every replica, and the other transfer is simply undone.
    if (field == kFacilityField) return;
    AddConflictSides(field, ConflictSide{winner.Text(field), winner_stamp},
                     ConflictSide{loser.Text(field), loser_stamp});
  }

  void AddConflictSides(const std::string& field, ConflictSide winner,
                        ConflictSide loser) {
    const Record& remote = remote_entry_.record;
    Conflict conflict;
    conflict.id =
        storage::ConflictId(remote.type, remote.id, field, loser.stamp);
    for (const Conflict& found : out_.conflicts) {
      if (found.id == conflict.id) return;
    }
    conflict.type = remote.type;
    conflict.record_id = remote.id;
    conflict.facility =
        local_.record ? local_.record->facility : remote.facility;
    conflict.field = field;
    conflict.state_stamp = std::max(winner.stamp, loser.stamp);
    conflict.winner = std::move(winner);
    conflict.loser = std::move(loser);
    conflict.state = storage::ConflictState::kOpen;
    out_.conflicts.push_back(std::move(conflict));
  }

  ChangeMerger::Outcome Finish() {
    const Record* local = local_.record;
    const Record& remote = remote_entry_.record;
    // A record new here keeps the remote's owner unless a stamp said more.
    if (facility_.empty())
      facility_ = local ? local->facility : remote.facility;
    if (local && local_.valid && deleted_ == local->deleted &&
        facility_ == local->facility && stamps_ == local->field_stamps &&
        content_ == local_.content) {
      out_.action = ChangeMerger::Action::kIgnore;
      out_.facility = local->facility;
      out_.content = local->content;
      out_.field_stamps = local->field_stamps;
      out_.deleted = local->deleted;
    } else if (remote_.valid && out_.restamp_fields.empty() &&
               !out_.future_version && deleted_ == remote.deleted &&
               facility_ == remote.facility && stamps_ == remote.field_stamps &&
               content_ == remote_.content) {
      out_.action = ChangeMerger::Action::kTakeRemote;
      out_.facility = remote.facility;
      out_.content = remote.content;
      out_.field_stamps = remote.field_stamps;
      out_.deleted = remote.deleted;
    } else {
      out_.action = ChangeMerger::Action::kMerged;
      out_.content = content_.dump();
      out_.field_stamps = std::move(stamps_);
      out_.deleted = deleted_;
      out_.facility = facility_;
    }
    return std::move(out_);
  }

  ChangeMerger::History& history_;
  const ChangeEntry& remote_entry_;
  const int64_t horizon_ms_;
  Side local_;
  Side remote_;

  json content_ = json::object();
  Stamps stamps_;
  bool deleted_ = false;
  std::string facility_;
  const Side* deleted_winner_ = nullptr;
  HlcStamp deleted_stamp_;
  ChangeMerger::Outcome out_;
};

}  // namespace

FieldMerger::FieldMerger(base::Clock& clock, MergeOptions options)
    : clock_(clock), options_(options) {}

ChangeMerger::Outcome FieldMerger::Merge(const Record* local, History& history,
                                         const ChangeEntry& remote) {
  const int64_t now_ms = clock_.WallNowMillis();
  const int64_t skew_ms = options_.max_clock_skew.count();
  const int64_t horizon_ms =
      now_ms > std::numeric_limits<int64_t>::max() - skew_ms
          ? std::numeric_limits<int64_t>::max()
          : now_ms + skew_ms;
  const Record& r = remote.record;

  // Most incoming versions are of records new here: take them unparsed.
  if (!local && !(r.version.wall_ms > horizon_ms)) {
    bool any_future = std::any_of(
        r.field_stamps.begin(), r.field_stamps.end(), [&](const auto& entry) {
          return !entry.second.IsZero() && entry.second.wall_ms > horizon_ms;
        });
    if (!any_future) {
      Outcome out;
      out.action = Action::kTakeRemote;
      out.content = r.content;
      out.field_stamps = r.field_stamps;
      out.deleted = r.deleted;
      out.facility = r.facility;
      return out;
    }
  }

  try {
    return FieldMerge(local, history, remote, horizon_ms).Run();
  } catch (const json::exception&) {
    // Content here was validated before it was stored or sent; a JSON error
    // means a bug elsewhere, and keeping the local state is the safe answer.
    Outcome out;
    if (local) {
      out.content = local->content;
      out.field_stamps = local->field_stamps;
      out.deleted = local->deleted;
      out.facility = local->facility;
    }
    return out;
  }
}

bool SameState(const Record& a, const Record& b) {
  if (a.deleted != b.deleted || a.facility != b.facility ||
      a.field_stamps != b.field_stamps) {
    return false;
  }
  if (a.content == b.content) return true;
  json ja = json::parse(a.content, nullptr, /*allow_exceptions=*/false);
  json jb = json::parse(b.content, nullptr, /*allow_exceptions=*/false);
  if (ja.is_discarded() || jb.is_discarded()) return false;
  return ja == jb;
}

}  // namespace posta::sync
