// What the store offers replication: its change log in full, a way to apply
// another node's changes through a merge rule it does not know (sync/
// supplies it), conflict records, and what it knows of its peers. The store
// still knows nothing of a protocol or a network.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "posta/base/hlc.h"
#include "posta/storage/audit.h"
#include "posta/storage/record.h"

namespace posta::storage {

// Reserved key of Record::field_stamps: the stamp of the write that last
// deleted or revived the record. Absent on a record never deleted. No
// content field can have this name ('@' is not allowed in field names).
inline constexpr std::string_view kDeletedField = "@deleted";

// Owner of shared reference data: records every clinic receives and only
// the hub changes (a hub creates Locations with this owner). No facility id
// can take it (facility ids are A-Z a-z 0-9 . _ -). docs/sync-protocol.md
// describes the rules.
inline constexpr std::string_view kSharedFacility = "*";

// Reserved key of Record::field_stamps: the stamp of the write that last
// changed the record's owner (Record::facility), by a transfer. Absent on a
// record never transferred: its owner is the facility that created it. The
// owner merges like a field, so concurrent transfers converge on the newest.
inline constexpr std::string_view kFacilityField = "@facility";

// True for a facility id: 1 to 64 of A-Z a-z 0-9 . _ - (so never
// kSharedFacility).
bool IsValidFacilityId(std::string_view id);

// One version from the change log, as replication ships it. The node that
// made the version (by a local write or a merge) is record.version.node.
struct ChangeEntry {
  int64_t seq = 0;  // position in the change log of the node that read it
  Record record;    // the version: content, field stamps, tombstone
  // For each field this version changed (kDeletedField included): the stamp
  // the field had in the previous version on the node that made it. A field
  // that had no stamp before is absent.
  std::map<std::string, base::HlcStamp> base_stamps;
};

struct ConflictSide {
  // The field's value as compact JSON; nullopt when the field was absent
  // (removed). For kDeletedField: "true" (deleted) or "false" (live).
  std::optional<std::string> value;
  base::HlcStamp stamp;  // stamp.node is the side's origin
};

enum class ConflictState : uint8_t { kOpen = 0, kResolved = 1 };

// A value that lost a merge to a concurrent write, kept until a person
// decides. The same conflict found on two nodes has the same id.
struct Conflict {
  // ConflictId(type, record_id, field, loser.stamp).
  std::string id;
  ResourceType type = ResourceType::kPatient;
  std::string record_id;
  std::string facility;  // the record's owning facility when found
  std::string field;     // top-level field, or kDeletedField (delete vs edit)
  ConflictSide winner;   // what the record holds after the merge
  ConflictSide loser;    // what was set aside
  ConflictState state = ConflictState::kOpen;
  // Stamp of the last change of state; the highest wins when two nodes
  // disagree. Opening uses max(winner.stamp, loser.stamp), so every node
  // that finds the conflict opens it alike.
  base::HlcStamp state_stamp;
  // When resolved: "winner" (kept what won), "loser" (restored what lost)
  // or "value" (a new value was written), and a free-text note of who.
  std::string resolution;
  std::string resolved_by;
  int64_t seq = 0;  // position in the change log of the node that read it
};

// 32 lowercase hex characters: the first half of SHA-256 over the type
// name, record id, field and loser stamp text, separated by '\n'.
std::string ConflictId(ResourceType type, std::string_view record_id,
                       std::string_view field,
                       const base::HlcStamp& loser_stamp);

// Decides how a version from another node combines with the local record.
// sync/ implements the rule; the store calls it inside its write
// transaction for each incoming version, then stores what it returns.
class ChangeMerger {
 public:
  virtual ~ChangeMerger() = default;

  // The local record's past, for telling a stale value from a concurrent
  // one.
  class History {
   public:
    virtual ~History() = default;
    // True when some stored version of the local record had `stamp` as the
    // stamp of `field`: this node has seen that write.
    virtual bool HasSeen(std::string_view field,
                         const base::HlcStamp& stamp) = 0;
  };

  enum class Action {
    kIgnore,      // the remote version adds nothing here
    kTakeRemote,  // the result is exactly the remote version
    kMerged,      // the result mixes both: the store stamps a new version
  };
  struct Outcome {
    Action action = Action::kIgnore;
    // The resulting record state, for kTakeRemote and kMerged.
    std::string content;  // compact JSON object, keys sorted
    std::map<std::string, base::HlcStamp> field_stamps;
    bool deleted = false;
    // The resulting owner (kFacilityField decides it); empty keeps the
    // local record's owner, or the remote's for a record new here.
    std::string facility;
    // Fields whose value came with a stamp too far in the future: the
    // store gives them the new version's own stamp (kMerged only).
    std::vector<std::string> restamp_fields;
    // Each remote stamp found too far ahead of this node's clock, by field,
    // for the store to flag.
    std::vector<std::pair<std::string, base::HlcStamp>> future_stamps;
    // The remote version's own stamp is too far ahead of this node's clock
    // (a merge made on a node whose clock ran ahead, its fields stamped
    // earlier): the store must not let it move this node's clock. Such a
    // version is never kTakeRemote, so what is stored carries a stamp of
    // this node's.
    bool future_version = false;
    // Conflicts found, fully filled in (id, both sides, state_stamp).
    std::vector<Conflict> conflicts;
  };

  // `local` is null when the record is not stored here. `remote` is the
  // incoming version; remote.record's type and id name the record.
  virtual Outcome Merge(const Record* local, History& history,
                        const ChangeEntry& remote) = 0;
};

// What a node knows of one replication peer.
struct PeerState {
  std::string node_id;
  std::string facility;
  std::string role;  // "clinic" or "hub"
  // Highest sequence of the peer's change log applied here (the peer's
  // changes up to it need not be sent again).
  int64_t received_seq = 0;
  // Highest sequence of this node's change log the peer has acknowledged.
  int64_t acked_seq = 0;
  int64_t last_sync_ms = 0;  // wall clock of the last completed exchange
};

// Which changes ReadChanges returns.
struct ChangeFilter {
  int64_t after_seq = 0;
  size_t max_changes = 1000;
  // Stop before the total content size would pass this (at least one
  // change is returned when any is left).
  size_t max_bytes = 1 << 20;
  // Skip versions made by this node or received from it (it has them):
  // what a hub leaves out of a pull, and what a hub pushing to its own
  // upstream hub leaves out (what it pulled from there).
  std::string exclude_origin;
  // When set, only versions made by this node (what a node pushes: its own
  // writes and merges, not what it received).
  std::string only_origin;
  // A facility's scope, as the hub sends it to that facility's clinics;
  // empty for every facility. Versions owned by this facility or shared
  // (owner kSharedFacility); the version that moved a record out of this
  // facility; and, with a version that moved a record into it, that
  // record's earlier versions the scope did not carry (its history), sent
  // just before it and labelled with its seq. Conflicts of this facility's
  // records.
  std::string facility;
  // A scope of several facilities (a hub node's credential covering a
  // region, docs/sync-protocol.md "Tiers"): the same rules as `facility`,
  // with "this facility" read as "any of these". Used when `facility` is
  // empty; both empty means every facility.
  std::vector<std::string> facilities;
};

struct ChangeBatch {
  std::vector<ChangeEntry> changes;
  std::vector<Conflict> conflicts;  // conflict changes in the same range
  // The sequence up to which the log was read (the next after_seq); greater
  // than the last entry's seq when filtered entries were skipped.
  int64_t last_seq = 0;
  bool more = false;  // entries are left after last_seq
};

struct ApplyStats {
  int64_t taken = 0;      // stored as the remote made them
  int64_t merged = 0;     // stored as a new merged version
  int64_t ignored = 0;    // already here, or older than what is here
  int64_t conflicts = 0;  // new conflict records
  // What was done with the peer's audit entries that came with the
  // changes (RecordStore::PrepareChanges); none when none came.
  std::optional<AuditReceipt> audit;
};

}  // namespace posta::storage
