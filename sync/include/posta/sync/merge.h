// The merge rule of sync: how a version from another node combines with the
// local record, field by field. Pure logic: no I/O, no store access beyond
// the History the store passes in.
//
// Every top-level field of a record's content, and the tombstone (the
// reserved field storage::kDeletedField, whose value is the deleted flag),
// is merged on its own: the value with the higher stamp wins. For a field,
// with Ls/Rs the local/remote stamps (zero when absent) and Lv/Rv the values
// (absent when the field is not in the content):
//   - Rs is too far in the future (Rs.wall_ms > now + max_clock_skew): the
//     stamp is reported in Outcome::future_stamps and never wins over a
//     local value. When Ls is zero the remote value is taken and the field
//     is listed in Outcome::restamp_fields; otherwise the local value stays
//     and, when Lv != Rv, a conflict is opened with the remote as loser.
//   - Rs == Ls: the local value stays.
//   - Rs > Ls: the remote value and stamp win. When Lv != Rv, Ls is not
//     zero and remote.base_stamps[field] is not Ls (the remote did not build
//     on the local value), a conflict is opened with the local as loser.
//   - Ls > Rs: the local value stays. When Lv != Rv, Rs is not zero and
//     history.HasSeen(field, Rs) is false (the remote write is concurrent,
//     not stale), a conflict is opened with the remote as loser.
// The remote version's own stamp is judged too: when it is too far in the
// future (a node whose clock ran ahead merged older field values), it is
// reported as Outcome::future_version and the result is never kTakeRemote,
// so the store stamps the version itself and its clock is not dragged
// ahead.
// Content fields keep merging under a tombstone, so a revival brings back
// every edit. When the result is deleted, the side whose tombstone won is D
// and the other side E is live, and E holds a content field with a stamp
// above D's stamp for it and a different value (D deleted without having
// seen that edit), one more conflict is opened on kDeletedField: winner
// "true" with the winning tombstone stamp, loser "false" with the highest
// such E field stamp. At most one conflict per id is returned.
//
// Convergence: without future stamps, the result holds for each field the
// higher of the two stamps, so replicas that have received the same writes
// hold the same state whatever the order or repetition of delivery. A
// future stamp breaks this: nodes that took it and nodes that set it aside
// stay apart until a write stamped above it (the set-aside value is
// still kept as a conflict).
#pragma once

#include <chrono>

#include "posta/base/clock.h"
#include "posta/storage/record.h"
#include "posta/storage/replication.h"

namespace posta::sync {

struct MergeOptions {
  // How far ahead of this node's wall clock a remote stamp may be before it
  // is treated as a future stamp. REQUIRES: >= 0. Default: 24 hours.
  std::chrono::milliseconds max_clock_skew = std::chrono::hours(24);
};

// The per-field merge rule above as the store's ChangeMerger.
//
// Outcome, beyond what storage::ChangeMerger::Outcome states:
//   - kTakeRemote: content, field_stamps and deleted are remote.record's,
//     unchanged. Returned without parsing any JSON when `local` is null and
//     no remote stamp (field or version) is in the future.
//   - kMerged: content is the winning values as a compact JSON object with
//     sorted keys; field_stamps holds the winning non-zero stamps, including
//     those of removed fields. A field in restamp_fields carries its future
//     remote stamp, which the store must replace with the new version's.
//   - kIgnore: the result equals the local state; content, field_stamps and
//     deleted are the local record's (empty when `local` is null). Conflicts
//     may still be returned, and the same conflict (same id) is returned
//     again each time the same remote version is merged: the store keeps
//     conflicts by id.
// Fields that have a value but no stamp merge as if stamped zero, so a
// local unstamped value stays. Content that is not a JSON object (never
// the case for content the store validated) reads as an empty object and
// is not returned as is, except by the kTakeRemote path above, which does
// not read content. Merge never throws: on an internal JSON error it
// returns kIgnore with the local state and no conflicts.
//
// Threading: Merge may be called from any thread at once; the merger holds
// nothing but the clock and the options.
class FieldMerger final : public storage::ChangeMerger {
 public:
  // Reads clock.WallNowMillis() on each Merge. The clock is not owned and
  // must outlive the merger.
  explicit FieldMerger(base::Clock& clock, MergeOptions options = {});

  Outcome Merge(const storage::Record* local, History& history,
                const storage::ChangeEntry& remote) override;

 private:
  base::Clock& clock_;
  const MergeOptions options_;
};

// True when `a` and `b` hold the same state: equal content as JSON values
// (key order and spacing aside), equal field stamps, the same deleted flag
// and the same owner (facility). Type, id, version and last_updated_ms are
// not compared.
// Content that does not parse compares as text.
bool SameState(const storage::Record& a, const storage::Record& b);

}  // namespace posta::sync
