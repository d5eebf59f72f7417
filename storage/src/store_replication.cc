// Replication: reading the change log in full, applying other nodes'
// changes through a ChangeMerger, conflicts, peers and the replica digest.
#include <algorithm>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "hasher.h"
#include "posta/base/crash_point.h"
#include "record_rows.h"
#include "schema.h"
#include "sqlite_store.h"
#include "store_search.h"

namespace posta::storage::internal {
namespace {

constexpr std::string_view kChangeColumns =
    "v.seq, v.bases, r.type, r.id, v.facility, v.content, v.version, "
    "v.stamps, v.deleted, v.moved_from, v.rid, v.via";

constexpr std::string_view kConflictColumns =
    "cid, type, record_id, facility, field, winner_value, winner_stamp, "
    "loser_value, loser_stamp, state, state_stamp, resolution, resolved_by, "
    "seq";

Result<ChangeEntry> ChangeFromRow(const Statement& st) {
  ChangeEntry change;
  change.seq = st.ColumnInt(0);
  POSTA_ASSIGN_OR_RETURN(change.record, RecordFromRow(st, 2));
  auto bases = DecodeStampMap(st.ColumnView(1));
  if (!bases.ok()) {
    return Status::Corruption(RecordName(change.record.type, change.record.id),
                              "bases: " + bases.status().message());
  }
  change.base_stamps = std::move(bases).value();
  return change;
}

Result<Conflict> ConflictFromRow(const Statement& st) {
  Conflict c;
  c.id = st.ColumnText(0);
  const std::string where = "conflict " + c.id;
  std::optional<ResourceType> type = ParseResourceType(st.ColumnView(1));
  if (!type) return Status::Corruption(where, "unknown resource type");
  c.type = *type;
  c.record_id = st.ColumnText(2);
  c.facility = st.ColumnText(3);
  c.field = st.ColumnText(4);
  auto side = [&](int value_col, ConflictSide& out) -> Status {
    if (!st.ColumnIsNull(value_col)) out.value = st.ColumnText(value_col);
    Result<base::HlcStamp> stamp =
        base::HlcStamp::Parse(st.ColumnView(value_col + 1));
    if (!stamp.ok()) return Status::Corruption(where, stamp.status().message());
    out.stamp = std::move(stamp).value();
    return Status::Ok();
  };
  POSTA_RETURN_IF_ERROR(side(5, c.winner));
  POSTA_RETURN_IF_ERROR(side(7, c.loser));
  c.state =
      st.ColumnInt(9) == 0 ? ConflictState::kOpen : ConflictState::kResolved;
  Result<base::HlcStamp> state_stamp = base::HlcStamp::Parse(st.ColumnView(10));
  if (!state_stamp.ok()) {
    return Status::Corruption(where, state_stamp.status().message());
  }
  c.state_stamp = std::move(state_stamp).value();
  c.resolution = st.ColumnText(11);
  c.resolved_by = st.ColumnText(12);
  c.seq = st.ColumnInt(13);
  return c;
}

void BindOptional(Statement& st, int index,
                  const std::optional<std::string>& value) {
  if (value) {
    st.BindText(index, *value);
  } else {
    st.BindNull(index);
  }
}

// History::HasSeen over the versions of one stored record, loaded once.
class StoredHistory final : public ChangeMerger::History {
 public:
  StoredHistory(Connection& conn, int64_t rid) : conn_(conn), rid_(rid) {}

  bool HasSeen(std::string_view field, const base::HlcStamp& stamp) override {
    if (rid_ == 0) return false;
    if (!loaded_) Load();
    for (const Row& row : rows_) {
      auto it = row.stamps.find(std::string(field));
      if (it != row.stamps.end()) {
        if (it->second == stamp) return true;
      } else if (row.version == stamp &&
                 std::find(row.keys.begin(), row.keys.end(), field) !=
                     row.keys.end()) {
        return true;
      }
    }
    return false;
  }

  const Status& status() const { return status_; }

 private:
  struct Row {
    base::HlcStamp version;
    StampMap stamps;  // compact
    std::vector<std::string> keys;
  };

  void Load() {
    loaded_ = true;
    status_ = [&]() -> Status {
      POSTA_ASSIGN_OR_RETURN(
          Statement st,
          conn_.Prepare("SELECT version, stamps, content FROM versions "
                        "WHERE rid = ?1"));
      st.BindInt(1, rid_);
      while (true) {
        POSTA_ASSIGN_OR_RETURN(bool more, st.Step());
        if (!more) break;
        Row row;
        POSTA_ASSIGN_OR_RETURN(row.version,
                               base::HlcStamp::Parse(st.ColumnView(0)));
        POSTA_ASSIGN_OR_RETURN(row.stamps, DecodeStampMap(st.ColumnView(1)));
        POSTA_ASSIGN_OR_RETURN(row.keys, ContentKeys(st.ColumnView(2)));
        rows_.push_back(std::move(row));
      }
      return Status::Ok();
    }();
  }

  Connection& conn_;
  const int64_t rid_;
  bool loaded_ = false;
  std::vector<Row> rows_;
  Status status_;
};

// The facilities a filter's scope names; empty for every facility.
std::vector<std::string> ScopeOf(const ChangeFilter& filter) {
  if (!filter.facility.empty()) return {filter.facility};
  return filter.facilities;
}

}  // namespace

Result<int64_t> SqliteStore::NextSharedSeq() {
  // Conflict changes take their positions from the versions table's
  // AUTOINCREMENT counter, so both share one change log.
  POSTA_ASSIGN_OR_RETURN(
      Statement read,
      writer_->Prepare(
          "SELECT seq FROM sqlite_sequence WHERE name = 'versions'"));
  POSTA_ASSIGN_OR_RETURN(bool row, read.Step());
  const int64_t next = (row ? read.ColumnInt(0) : 0) + 1;
  read.Reset();
  POSTA_ASSIGN_OR_RETURN(
      Statement write,
      writer_->Prepare(row ? "UPDATE sqlite_sequence SET seq = ?1 "
                             "WHERE name = 'versions'"
                           : "INSERT INTO sqlite_sequence (name, seq) "
                             "VALUES ('versions', ?1)"));
  write.BindInt(1, next);
  POSTA_RETURN_IF_ERROR(write.Run());
  return next;
}

Status SqliteStore::StoreConflict(const Conflict& c, bool replace) {
  POSTA_ASSIGN_OR_RETURN(int64_t seq, NextSharedSeq());
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      writer_->Prepare(
          std::string(replace ? "INSERT OR REPLACE" : "INSERT") +
          " INTO conflicts (" + std::string(kConflictColumns) +
          ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
          "?14)"));
  st.BindText(1, c.id);
  st.BindText(2, ResourceTypeName(c.type));
  st.BindText(3, c.record_id);
  st.BindText(4, c.facility);
  st.BindText(5, c.field);
  BindOptional(st, 6, c.winner.value);
  st.BindText(7, c.winner.stamp.ToString());
  BindOptional(st, 8, c.loser.value);
  st.BindText(9, c.loser.stamp.ToString());
  st.BindInt(10, c.state == ConflictState::kOpen ? 0 : 1);
  st.BindText(11, c.state_stamp.ToString());
  st.BindText(12, c.resolution);
  st.BindText(13, c.resolved_by);
  st.BindInt(14, seq);
  return st.Run();
}

Result<std::optional<Conflict>> SqliteStore::FindConflict(
    Connection& conn, const std::string& id) {
  POSTA_ASSIGN_OR_RETURN(
      Statement st, conn.Prepare("SELECT " + std::string(kConflictColumns) +
                                 " FROM conflicts WHERE cid = ?1"));
  st.BindText(1, id);
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<Conflict>();
  POSTA_ASSIGN_OR_RETURN(Conflict c, ConflictFromRow(st));
  return std::optional<Conflict>(std::move(c));
}

Result<std::optional<SqliteStore::StoredRecord>> SqliteStore::FindCurrent(
    ResourceType type, const std::string& id) {
  static const std::string kSql =
      "SELECT r.rid, " + std::string(kRecordColumns) + " FROM " +
      std::string(kCurrentRecords) + " WHERE r.type = ?1 AND r.id = ?2";
  POSTA_ASSIGN_OR_RETURN(Statement st, writer_->Prepare(kSql));
  st.BindText(1, ResourceTypeName(type));
  st.BindText(2, id);
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<StoredRecord>();
  StoredRecord out;
  out.rid = st.ColumnInt(0);
  POSTA_ASSIGN_OR_RETURN(out.record, RecordFromRow(st, 1));
  return std::optional<StoredRecord>(std::move(out));
}

// ---- Reading the log ----

Result<int64_t> SqliteStore::CountChanges(const ChangeFilter& filter) {
  // The same conditions as ReadChanges, in SQL: a version made by a node
  // ends with "." + its node id.
  auto made_by = [](std::string_view param) {
    const std::string p(param);
    return "(length(v.version) > length(" + p +
           ") AND substr(v.version, -length(" + p + ")) = " + p + ")";
  };
  std::string origin;
  if (!filter.exclude_origin.empty()) {
    origin += " AND NOT " + made_by("?2") + " AND v.via != ?6";
  }
  if (!filter.only_origin.empty()) origin += " AND " + made_by("?3");
  std::string sql =
      "SELECT (SELECT count(*) FROM versions v WHERE v.seq > ?1" + origin;
  const std::vector<std::string> scope = ScopeOf(filter);
  if (!scope.empty()) {
    // The scope (?4: a JSON array of facilities), then the history that
    // comes with each move into it: the versions before the last move in
    // after the cursor, outside the scope.
    constexpr std::string_view kScope =
        "(v.facility = ?5 OR v.facility IN (SELECT value FROM json_each(?4)) "
        "OR v.moved_from IN (SELECT value FROM json_each(?4)))";
    constexpr std::string_view kMoveIn =
        "m.seq > ?1 AND m.facility IN (SELECT value FROM json_each(?4)) AND "
        "m.moved_from != '' AND m.moved_from NOT IN (SELECT value FROM "
        "json_each(?4))";
    sql += " AND " + std::string(kScope) +
           ") + (SELECT count(*) FROM versions v WHERE v.rid IN (SELECT "
           "m.rid FROM versions m WHERE " +
           std::string(kMoveIn) +
           ") AND v.seq < (SELECT max(m.seq) FROM versions m WHERE m.rid = "
           "v.rid AND " +
           std::string(kMoveIn) + ") AND NOT " + std::string(kScope) + origin;
  }
  sql += ")";
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(Statement st, lease.conn().Prepare(sql));
  st.BindInt(1, filter.after_seq);
  if (!filter.exclude_origin.empty()) {
    st.BindText(2, "." + filter.exclude_origin);
    st.BindText(6, filter.exclude_origin);
  }
  if (!filter.only_origin.empty()) st.BindText(3, "." + filter.only_origin);
  if (!scope.empty()) {
    st.BindText(4, nlohmann::json(scope).dump());
    st.BindText(5, kSharedFacility);
  }
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::Internal("count of changes", "no row");
  return st.ColumnInt(0);
}

Result<ChangeBatch> SqliteStore::ReadChanges(const ChangeFilter& filter) {
  static const std::string kSql = "SELECT " + std::string(kChangeColumns) +
                                  " FROM " + std::string(kAllVersions) +
                                  " WHERE v.seq > ?1 ORDER BY v.seq";
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  Connection& conn = lease.conn();
  Transaction snapshot(conn, /*immediate=*/false);
  POSTA_RETURN_IF_ERROR(snapshot.Begin());
  ChangeBatch batch;
  POSTA_ASSIGN_OR_RETURN(
      int64_t log_end,
      conn.QueryInt("SELECT coalesce((SELECT seq FROM sqlite_sequence "
                    "WHERE name = 'versions'), 0)",
                    "change log end"));
  batch.last_seq = std::max(filter.after_seq, log_end);
  const std::string origin_suffix = "." + filter.exclude_origin;
  const std::string only_suffix = "." + filter.only_origin;
  // Whether the version in `st`'s current row is left out by origin, or is
  // outside the facility's scope.
  auto origin_excluded = [&](const Statement& st) {
    const std::string_view version = st.ColumnView(6);
    auto made_by = [&](const std::string& suffix) {
      return version.size() > suffix.size() &&
             version.substr(version.size() - suffix.size()) == suffix;
    };
    return (!filter.exclude_origin.empty() &&
            (made_by(origin_suffix) ||
             st.ColumnView(11) == filter.exclude_origin)) ||
           (!filter.only_origin.empty() && !made_by(only_suffix));
  };
  const std::vector<std::string> scope_list = ScopeOf(filter);
  const std::set<std::string, std::less<>> scope(scope_list.begin(),
                                                 scope_list.end());
  auto scoped = [&](std::string_view facility) {
    return scope.find(facility) != scope.end();
  };
  auto in_scope = [&](const Statement& st) {
    const std::string_view owner = st.ColumnView(4);
    return scope.empty() || scoped(owner) || owner == kSharedFacility ||
           scoped(st.ColumnView(9));
  };
  {
    POSTA_ASSIGN_OR_RETURN(Statement st, conn.Prepare(kSql));
    st.BindInt(1, filter.after_seq);
    size_t bytes = 0;
    // History versions already in this batch (a record moved in twice).
    std::set<int64_t> history_sent;
    while (true) {
      POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      if (origin_excluded(st) || !in_scope(st)) continue;
      size_t size = st.ColumnView(5).size() + st.ColumnView(7).size();
      // A record that moved into the facility brings its earlier versions
      // along, so the receiving clinic holds its history. They travel just
      // before the move, as one unit labelled with its seq.
      std::vector<ChangeEntry> unit;
      const bool moved_in = !scope.empty() && scoped(st.ColumnView(4)) &&
                            !st.ColumnView(9).empty() &&
                            !scoped(st.ColumnView(9));
      if (moved_in) {
        const int64_t seq = st.ColumnInt(0);
        POSTA_ASSIGN_OR_RETURN(
            Statement history,
            conn.Prepare("SELECT " + std::string(kChangeColumns) + " FROM " +
                         std::string(kAllVersions) +
                         " WHERE v.rid = ?1 AND v.seq < ?2 ORDER BY v.seq"));
        history.BindInt(1, st.ColumnInt(10));
        history.BindInt(2, seq);
        while (true) {
          POSTA_ASSIGN_OR_RETURN(bool more, history.Step());
          if (!more) break;
          if (origin_excluded(history) || in_scope(history)) continue;
          if (!history_sent.insert(history.ColumnInt(0)).second) continue;
          size += history.ColumnView(5).size() + history.ColumnView(7).size();
          POSTA_ASSIGN_OR_RETURN(ChangeEntry change, ChangeFromRow(history));
          change.seq = seq;
          unit.push_back(std::move(change));
        }
      }
      if (!batch.changes.empty() &&
          (batch.changes.size() + unit.size() >= filter.max_changes ||
           bytes + size > filter.max_bytes)) {
        batch.last_seq = batch.changes.back().seq;
        batch.more = true;
        break;
      }
      bytes += size;
      for (ChangeEntry& change : unit) {
        batch.changes.push_back(std::move(change));
      }
      POSTA_ASSIGN_OR_RETURN(ChangeEntry change, ChangeFromRow(st));
      batch.changes.push_back(std::move(change));
    }
  }
  {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("SELECT " + std::string(kConflictColumns) +
                     " FROM conflicts WHERE seq > ?1 AND seq <= ?2 "
                     "ORDER BY seq"));
    st.BindInt(1, filter.after_seq);
    st.BindInt(2, batch.last_seq);
    while (true) {
      POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      POSTA_ASSIGN_OR_RETURN(Conflict c, ConflictFromRow(st));
      if (!scope.empty() && !scoped(c.facility)) continue;
      batch.conflicts.push_back(std::move(c));
    }
  }
  POSTA_RETURN_IF_ERROR(snapshot.Commit());
  return batch;
}

// ---- Applying a peer's changes ----

class SqliteStore::PreparedPeerChanges final : public PreparedChanges {
 public:
  PreparedPeerChanges(SqliteStore* store, std::span<const ChangeEntry> changes,
                      std::span<const AuditEntry> audit)
      : PreparedChanges(changes, audit), store(store) {}
  SqliteStore* store;
  std::vector<ContentToParse> contents;
  // On a hub, what each version counts for in the reports.
  std::vector<std::optional<ReportFact>> facts;
  // Last, so that its threads are done before what they fill goes.
  std::unique_ptr<ContentParser> parser;
};

std::unique_ptr<PreparedChanges> SqliteStore::PrepareChanges(
    std::span<const ChangeEntry> changes, std::span<const AuditEntry> audit) {
  auto prepared = std::make_unique<PreparedPeerChanges>(this, changes, audit);
  prepared->contents.reserve(changes.size());
  for (const ChangeEntry& change : changes) {
    prepared->contents.push_back({change.record.type, change.record.content});
  }
  // On a hub, what each version counts for in the reports is read from the
  // document parsed here, on the parsing threads, not from its text again
  // in the write transaction.
  std::function<void(size_t, const nlohmann::json&)> visit;
  if (role_ == "hub") {
    prepared->facts.resize(changes.size());
    visit = [facts = &prepared->facts, changes](size_t i,
                                                const nlohmann::json& doc) {
      (*facts)[i] = DocumentFactOf(changes[i].record.type, doc);
    };
  }
  // Begun now; ApplyPrepared takes each version as it is ready.
  prepared->parser =
      std::make_unique<ContentParser>(prepared->contents, std::move(visit));
  return prepared;
}

Result<ApplyStats> SqliteStore::ApplyChanges(
    std::span<const ChangeEntry> changes, std::span<const Conflict> conflicts,
    ChangeMerger& merger, const PeerState& peer) {
  return ApplyPrepared(PrepareChanges(changes, {}), conflicts, merger, peer);
}

Result<ApplyStats> SqliteStore::ApplyPrepared(
    std::unique_ptr<PreparedChanges> prepared,
    std::span<const Conflict> conflicts, ChangeMerger& merger,
    const PeerState& peer) {
  if (options_.read_only) {
    return Status::PermissionDenied(Where(), "opened read-only");
  }
  auto* mine = dynamic_cast<PreparedPeerChanges*>(prepared.get());
  // Prepared by another store (or by the default): nothing was parsed.
  if (mine == nullptr || mine->store != this) {
    return ApplyPrepared(PrepareChanges(prepared->changes(), prepared->audit()),
                         conflicts, merger, peer);
  }
  const std::span<const ChangeEntry> changes = mine->changes();
  // Incoming versions are input from outside: each is checked before it is
  // stored, and one that is not valid refuses the whole batch (its
  // transaction is rolled back). The checks of the content run on the
  // parser's threads while the versions before are stored.
  for (const ChangeEntry& change : changes) {
    const Record& r = change.record;
    if (!base::IsUuid(r.id)) {
      return Status::InvalidArgument(RecordName(r.type, r.id),
                                     "id is not a UUID");
    }
    if (r.facility.empty()) {
      return Status::InvalidArgument(RecordName(r.type, r.id),
                                     "no owning facility");
    }
  }
  for (const Conflict& c : conflicts) {
    if (c.id != ConflictId(c.type, c.record_id, c.field, c.loser.stamp)) {
      return Status::InvalidArgument("conflict " + c.id.substr(0, 40),
                                     "id does not match its content");
    }
  }

  POSTA_RETURN_IF_ERROR(CheckWriteSpace());
  std::lock_guard writer_lock(writer_mu_);
  Transaction txn(*writer_, /*immediate=*/true);
  POSTA_RETURN_IF_ERROR(txn.Begin());
  POSTA_RETURN_IF_ERROR(ObservePersistedClock());
  ApplyStats stats;
  BeginDeferredRows(/*track_undo=*/false);
  for (size_t i = 0; i < changes.size(); ++i) {
    const Result<ParsedResource>& parsed = mine->parser->Take(i);
    Status s =
        parsed.ok()
            ? ApplyOneChange(changes[i], *parsed,
                             mine->facts.empty() ? nullptr : &mine->facts[i],
                             merger, peer.node_id, stats)
            : parsed.status().WithContext(
                  RecordName(changes[i].record.type, changes[i].record.id));
    if (!s.ok()) {
      DropDeferredRows();
      return s;
    }
  }
  POSTA_RETURN_IF_ERROR(FlushDeferredRows());
  for (const Conflict& incoming : conflicts) {
    POSTA_ASSIGN_OR_RETURN(std::optional<Conflict> local,
                           FindConflict(*writer_, incoming.id));
    if (local && local->state_stamp >= incoming.state_stamp) continue;
    POSTA_RETURN_IF_ERROR(StoreConflict(incoming, /*replace=*/true));
    if (!local) ++stats.conflicts;
  }
  if (stats.taken + stats.merged + stats.conflicts > 0) {
    // One entry per applied batch, in its transaction: each version's own
    // entry is in the chain of the node that made it.
    AuditEvent event;
    event.who.actor = "node:" + peer.node_id;
    event.action = kAuditSyncApply;
    event.detail = std::to_string(changes.size()) +
                   " versions received: " + std::to_string(stats.taken) +
                   " taken, " + std::to_string(stats.merged) + " merged, " +
                   std::to_string(stats.ignored) + " ignored; " +
                   std::to_string(stats.conflicts) + " new conflicts";
    POSTA_RETURN_IF_ERROR(AppendAuditRow(*writer_, event));
  }
  // The peer's own entries of these changes, after them in the same
  // transaction: a batch is never held without the entries that came with
  // it.
  if (!mine->audit().empty()) {
    AuditReceipt receipt;
    POSTA_RETURN_IF_ERROR(
        StoreReceivedAuditIn(*writer_, peer.node_id, mine->audit(), receipt));
    stats.audit = std::move(receipt);
  }
  POSTA_CRASH_POINT("storage.apply.before_cursor");
  POSTA_RETURN_IF_ERROR(WritePeer(peer));
  POSTA_RETURN_IF_ERROR(WriteMeta(*writer_, kMetaHlc, hlc_->Last().ToString()));
  POSTA_RETURN_IF_ERROR(txn.Commit());
  return stats;
}

Status SqliteStore::ObservePersistedClock() {
  POSTA_ASSIGN_OR_RETURN(std::string persisted, ReadMeta(*writer_, kMetaHlc));
  Result<base::HlcStamp> stamp = base::HlcStamp::Parse(persisted);
  if (!stamp.ok()) {
    return Status::Corruption(Where(), "meta hlc: " + stamp.status().message());
  }
  hlc_->Observe(*stamp);
  return Status::Ok();
}

Status SqliteStore::ApplyOneChange(const ChangeEntry& change,
                                   const ParsedResource& parsed,
                                   const std::optional<ReportFact>* fact,
                                   ChangeMerger& merger,
                                   const std::string& from, ApplyStats& stats) {
  const Record& remote = change.record;
  const std::string name = RecordName(remote.type, remote.id);
  POSTA_ASSIGN_OR_RETURN(std::optional<StoredRecord> local,
                         FindCurrent(remote.type, remote.id));
  StoredHistory history(*writer_, local ? local->rid : 0);
  ChangeMerger::Outcome outcome =
      merger.Merge(local ? &local->record : nullptr, history, change);
  POSTA_RETURN_IF_ERROR(history.status().WithContext(name));

  for (const auto& [field, stamp] : outcome.future_stamps) {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        writer_->Prepare("INSERT OR IGNORE INTO clock_flags (type, "
                         "record_id, field, stamp, seen_ms) "
                         "VALUES (?1, ?2, ?3, ?4, ?5)"));
    st.BindText(1, ResourceTypeName(remote.type));
    st.BindText(2, remote.id);
    st.BindText(3, field);
    st.BindText(4, stamp.ToString());
    st.BindInt(5, clock_->WallNowMillis());
    POSTA_RETURN_IF_ERROR(st.Run());
  }
  // A stamp from a clock too far ahead must not drag this clock along,
  // whether a field's or the version's own.
  if (outcome.future_stamps.empty() && !outcome.future_version) {
    hlc_->Observe(remote.version);
  }

  for (const Conflict& c : outcome.conflicts) {
    POSTA_ASSIGN_OR_RETURN(std::optional<Conflict> known,
                           FindConflict(*writer_, c.id));
    if (known) continue;
    POSTA_RETURN_IF_ERROR(StoreConflict(c, /*replace=*/false));
    ++stats.conflicts;
  }

  if (outcome.action == ChangeMerger::Action::kIgnore) {
    ++stats.ignored;
    return Status::Ok();
  }
  Record next;
  next.type = remote.type;
  next.id = remote.id;
  next.facility = !outcome.facility.empty() ? outcome.facility
                  : local                   ? local->record.facility
                                            : remote.facility;
  next.content = std::move(outcome.content);
  next.field_stamps = std::move(outcome.field_stamps);
  next.deleted = outcome.deleted;
  StampMap bases;
  const ParsedResource* keys_from = &parsed;
  ParsedResource merged_parse;
  if (outcome.action == ChangeMerger::Action::kTakeRemote) {
    next.version = remote.version;
    bases = change.base_stamps;
    ++stats.taken;
  } else {
    next.version = hlc_->Now();
    for (const std::string& field : outcome.restamp_fields) {
      next.field_stamps[field] = next.version;
    }
    if (local) {
      for (const auto& [field, stamp] : next.field_stamps) {
        auto old = local->record.field_stamps.find(field);
        if (old != local->record.field_stamps.end() && old->second != stamp) {
          bases.emplace(field, old->second);
        }
      }
    }
    // Two valid versions merged field by field can still break a rule that
    // spans fields (a period's end before its start). The merged state is
    // kept, as every replica keeps it; such a record is simply not indexed.
    Result<ParsedResource> reparsed = ParseContent(next.type, next.content);
    if (reparsed.ok()) {
      merged_parse = std::move(reparsed).value();
    }
    keys_from = &merged_parse;
    ++stats.merged;
  }
  next.last_updated_ms = next.version.wall_ms;
  // Content taken as it came was parsed already: its keys are known.
  // So is what it counts for in the reports.
  std::vector<std::string> content_keys;
  const bool as_parsed = outcome.action == ChangeMerger::Action::kTakeRemote &&
                         next.content == remote.content;
  if (as_parsed) {
    content_keys = parsed.top_level_fields;
  } else {
    POSTA_ASSIGN_OR_RETURN(content_keys, ContentKeys(next.content));
    fact = nullptr;
  }
  std::vector<SearchKey> old_keys;
  if (local) {
    POSTA_ASSIGN_OR_RETURN(old_keys, IndexedKeys(local->record));
  }
  return StoreVersion(
             local ? local->rid : 0,
             local ? std::optional<bool>(local->record.deleted) : std::nullopt,
             next, bases, content_keys, &old_keys,
             next.deleted ? nullptr : &keys_from->search_keys,
             local && local->record.facility != next.facility
                 ? std::string_view(local->record.facility)
                 : std::string_view(),
             // A merge is this node's own version; a version taken as it
             // came is the sender's.
             outcome.action == ChangeMerger::Action::kTakeRemote
                 ? std::string_view(from)
                 : std::string_view(),
             next.deleted ? nullptr : fact)
      .status()
      .WithContext(name);
}

// ---- Peers ----

Status SqliteStore::WritePeer(const PeerState& peer) {
  if (peer.node_id.empty()) return Status::Ok();
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      writer_->Prepare("INSERT OR REPLACE INTO peers (node_id, facility, "
                       "role, received_seq, acked_seq, last_sync_ms) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  st.BindText(1, peer.node_id);
  st.BindText(2, peer.facility);
  st.BindText(3, peer.role);
  st.BindInt(4, peer.received_seq);
  st.BindInt(5, peer.acked_seq);
  st.BindInt(6, peer.last_sync_ms);
  return st.Run();
}

Status SqliteStore::UpdatePeer(const PeerState& peer) {
  if (options_.read_only) {
    return Status::PermissionDenied(Where(), "opened read-only");
  }
  if (!base::IsValidNodeId(peer.node_id)) {
    return Status::InvalidArgument("peer", "not a node id");
  }
  std::lock_guard writer_lock(writer_mu_);
  Transaction txn(*writer_, /*immediate=*/true);
  POSTA_RETURN_IF_ERROR(txn.Begin());
  POSTA_RETURN_IF_ERROR(WritePeer(peer));
  return txn.Commit();
}

namespace {

PeerState PeerFromRow(const Statement& st) {
  PeerState peer;
  peer.node_id = st.ColumnText(0);
  peer.facility = st.ColumnText(1);
  peer.role = st.ColumnText(2);
  peer.received_seq = st.ColumnInt(3);
  peer.acked_seq = st.ColumnInt(4);
  peer.last_sync_ms = st.ColumnInt(5);
  return peer;
}

constexpr std::string_view kPeerSelect =
    "SELECT node_id, facility, role, received_seq, acked_seq, last_sync_ms "
    "FROM peers";

}  // namespace

Result<PeerState> SqliteStore::GetPeer(const std::string& node_id) {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      lease.conn().Prepare(std::string(kPeerSelect) + " WHERE node_id = ?1"));
  st.BindText(1, node_id);
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("peer " + node_id.substr(0, 64));
  return PeerFromRow(st);
}

Result<std::vector<PeerState>> SqliteStore::ListPeers() {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      lease.conn().Prepare(std::string(kPeerSelect) + " ORDER BY node_id"));
  std::vector<PeerState> out;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(PeerFromRow(st));
  }
  return out;
}

// ---- Conflicts ----

Result<std::vector<Conflict>> SqliteStore::ListConflicts(
    bool open_only, size_t limit, const OwnerScope& owners) {
  std::string where;
  if (open_only) where = " WHERE state = 0";
  if (owners) {
    // The owners arrive as one bound JSON array, never spliced.
    where += where.empty() ? " WHERE" : " AND";
    where +=
        " EXISTS (SELECT 1 FROM records r WHERE r.type = conflicts.type AND "
        "r.id = conflicts.record_id AND r.facility IN (SELECT value FROM "
        "json_each(?2)))";
  }
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      lease.conn().Prepare("SELECT " + std::string(kConflictColumns) +
                           " FROM conflicts" + where +
                           " ORDER BY seq DESC LIMIT ?1"));
  st.BindInt(1, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  if (owners) st.BindText(2, OwnersJson(*owners));
  std::vector<Conflict> out;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    POSTA_ASSIGN_OR_RETURN(Conflict c, ConflictFromRow(st));
    out.push_back(std::move(c));
  }
  return out;
}

Result<Conflict> SqliteStore::GetConflict(const std::string& id) {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(std::optional<Conflict> c,
                         FindConflict(lease.conn(), id));
  if (!c) return Status::NotFound("conflict " + id.substr(0, 64));
  return std::move(*c);
}

Result<Conflict> SqliteStore::ResolveConflict(
    const ConflictResolution& resolution) {
  if (options_.read_only) {
    return Status::PermissionDenied(Where(), "opened read-only");
  }
  POSTA_RETURN_IF_ERROR(CheckWriteSpace());
  std::lock_guard writer_lock(writer_mu_);
  Transaction txn(*writer_, /*immediate=*/true);
  POSTA_RETURN_IF_ERROR(txn.Begin());
  POSTA_RETURN_IF_ERROR(ObservePersistedClock());
  const std::string where = "conflict " + resolution.id.substr(0, 64);
  POSTA_ASSIGN_OR_RETURN(std::optional<Conflict> found,
                         FindConflict(*writer_, resolution.id));
  if (!found) return Status::NotFound(where);
  Conflict c = std::move(*found);
  if (c.state != ConflictState::kOpen) {
    return Status::Conflict(where, "already resolved (" + c.resolution + ")");
  }
  const bool is_delete = c.field == kDeletedField;
  std::optional<std::string> target;
  switch (resolution.choice) {
    case ConflictResolution::Choice::kKeepWinner:
      c.resolution = "winner";
      break;
    case ConflictResolution::Choice::kTakeLoser:
      c.resolution = "loser";
      target = c.loser.value;
      break;
    case ConflictResolution::Choice::kNewValue:
      if (is_delete) {
        return Status::InvalidArgument(
            where, "a delete conflict is resolved by keeping one side");
      }
      c.resolution = "value";
      target = resolution.value;
      break;
  }
  if (resolution.choice != ConflictResolution::Choice::kKeepWinner) {
    POSTA_ASSIGN_OR_RETURN(std::optional<StoredRecord> stored,
                           FindCurrent(c.type, c.record_id));
    if (!stored) return Status::NotFound(RecordName(c.type, c.record_id));
    POSTA_RETURN_IF_ERROR(WriteResolvedValue(*stored, c.field, target));
  }
  c.state = ConflictState::kResolved;
  c.state_stamp = hlc_->Now();
  c.resolved_by = resolution.resolved_by.substr(0, 200);
  POSTA_RETURN_IF_ERROR(StoreConflict(c, /*replace=*/true));
  AuditEvent event;
  if (resolution.actor != nullptr) {
    event.who = *resolution.actor;
  } else {
    event.who.actor = c.resolved_by;
  }
  event.action = kAuditResolve;
  event.resource = RecordName(c.type, c.record_id);
  event.detail = "conflict " + c.id + " on " + c.field + ": " + c.resolution;
  POSTA_RETURN_IF_ERROR(AppendAuditRow(*writer_, event));
  POSTA_RETURN_IF_ERROR(WriteMeta(*writer_, kMetaHlc, hlc_->Last().ToString()));
  POSTA_RETURN_IF_ERROR(txn.Commit());
  POSTA_ASSIGN_OR_RETURN(std::optional<Conflict> out,
                         FindConflict(*writer_, c.id));
  return std::move(*out);
}

Status SqliteStore::WriteResolvedValue(
    const StoredRecord& stored, const std::string& field,
    const std::optional<std::string>& value) {
  const Record& current = stored.record;
  const std::string name = RecordName(current.type, current.id);
  Record next = current;
  StampMap bases;
  ParsedResource parsed;
  if (field == kDeletedField) {
    next.deleted = value.has_value() && *value == "true";
    if (next.deleted == current.deleted) return Status::Ok();
  } else {
    nlohmann::json content =
        nlohmann::json::parse(current.content, nullptr, false);
    if (!content.is_object()) {
      return Status::Corruption(name, "stored content is not an object");
    }
    if (value) {
      nlohmann::json parsed_value =
          nlohmann::json::parse(*value, nullptr, false);
      if (parsed_value.is_discarded()) {
        return Status::Malformed(name + "." + field, "value is not JSON");
      }
      content[field] = std::move(parsed_value);
    } else {
      content.erase(field);
    }
    next.content = content.dump();
    if (next.content == current.content) return Status::Ok();
  }
  Result<ParsedResource> checked = ParseContent(next.type, next.content);
  if (!checked.ok()) return checked.status().WithContext(name);
  parsed = std::move(checked).value();
  if (!next.deleted) POSTA_RETURN_IF_ERROR(CheckReferences(parsed));
  next.version = hlc_->Now();
  next.last_updated_ms = next.version.wall_ms;
  SetStamp(next.field_stamps, field, next.version, &bases);
  POSTA_ASSIGN_OR_RETURN(std::vector<SearchKey> old_keys, IndexedKeys(current));
  return StoreVersion(stored.rid, current.deleted, next, bases,
                      parsed.top_level_fields, &old_keys,
                      next.deleted ? nullptr : &parsed.search_keys)
      .status();
}

// ---- Digest ----

Result<std::string> SqliteStore::ReplicaDigest(const std::string& facility) {
  static const std::string kSql =
      "SELECT r.type, r.id, v.content, v.version, v.stamps, v.deleted, "
      "r.facility FROM " +
      std::string(kCurrentRecords) + " ORDER BY r.type, r.id";
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  Connection& conn = lease.conn();
  Transaction snapshot(conn, /*immediate=*/false);
  POSTA_RETURN_IF_ERROR(snapshot.Begin());
  POSTA_ASSIGN_OR_RETURN(Statement st, conn.Prepare(kSql));
  Hasher hasher;
  auto field = [&](std::string_view bytes) { hasher.Field(bytes); };
  field("posta replica digest 1");
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (!facility.empty() && st.ColumnView(6) != facility) continue;
    POSTA_ASSIGN_OR_RETURN(base::HlcStamp version,
                           base::HlcStamp::Parse(st.ColumnView(3)));
    POSTA_ASSIGN_OR_RETURN(
        StampMap stamps,
        ExpandStamps(st.ColumnView(4), version, st.ColumnView(2)));
    field(st.ColumnView(0));
    field(st.ColumnView(1));
    field(st.ColumnView(2));
    field(EncodeStampMap(stamps));
    field(st.ColumnInt(5) != 0 ? "deleted" : "live");
  }
  POSTA_RETURN_IF_ERROR(snapshot.Commit());
  return hasher.Hex();
}

}  // namespace posta::storage::internal
