// The write path: per-op preparation in the caller's thread, then group
// commit on the writer connection (see sqlite_store.h).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "posta/storage/replication.h"
#include "record_rows.h"
#include "report_facts.h"
#include "schema.h"
#include "sqlite_store.h"

namespace posta::storage::internal {
namespace {

std::string QuotedId(std::string_view text) {
  std::string out = "\"";
  out.append(text.substr(0, 64));
  if (text.size() > 64) out.append("...");
  out.append("\"");
  return out;
}

// Field stamps of a new version: a field whose value is new or changed gets
// `stamp`; an unchanged field keeps its stamp; a field present before and
// absent now gets `stamp` too (its removal is the change); entries for fields
// removed by earlier versions stay as they were. Each field that had a stamp
// and gets `stamp` has its old stamp added to `bases`.
StampMap NextFieldStamps(const Record& current, const ParsedResource& next,
                         const base::HlcStamp& stamp, StampMap* bases) {
  StampMap out = current.field_stamps;
  nlohmann::json before =
      nlohmann::json::parse(current.content, nullptr, false);
  nlohmann::json after = nlohmann::json::parse(next.content, nullptr, false);
  if (!before.is_object()) before = nlohmann::json::object();
  if (!after.is_object()) after = nlohmann::json::object();
  for (const std::string& field : next.top_level_fields) {
    auto old_value = before.find(field);
    auto new_value = after.find(field);
    bool same = old_value != before.end() && new_value != after.end() &&
                *old_value == *new_value && out.count(field) > 0;
    if (!same) SetStamp(out, field, stamp, bases);
  }
  for (const auto& [field, value] : before.items()) {
    if (!after.contains(field)) SetStamp(out, field, stamp, bases);
  }
  return out;
}

}  // namespace

WriteOutcome SqliteStore::Write(const WriteOp& op) {
  Result<std::vector<WriteOutcome>> outcomes = RunWriter(std::span(&op, 1));
  WriteOutcome out;
  if (!outcomes.ok()) {
    out.status = outcomes.status();
    return out;
  }
  return std::move(outcomes->front());
}

Result<std::vector<WriteOutcome>> SqliteStore::WriteBatch(
    std::span<const WriteOp> ops) {
  return RunWriter(ops);
}

class SqliteStore::Prepared final : public PreparedWrites {
 public:
  Prepared(SqliteStore* store, std::span<const WriteOp> ops)
      : PreparedWrites(ops), store(store) {}
  SqliteStore* store;
  std::vector<PreparedOp> ops;
  Status status;
};

std::unique_ptr<PreparedWrites> SqliteStore::PrepareWrites(
    std::span<const WriteOp> ops) {
  auto prepared = std::make_unique<Prepared>(this, ops);
  prepared->ops.reserve(ops.size());
  try {
    for (const WriteOp& op : ops) prepared->ops.push_back(PrepareOp(op));
  } catch (const std::exception& e) {
    prepared->status = Status::Internal("prepare write", e.what());
  }
  return prepared;
}

Result<std::vector<WriteOutcome>> SqliteStore::WritePrepared(
    std::unique_ptr<PreparedWrites> prepared) {
  auto* mine = dynamic_cast<Prepared*>(prepared.get());
  // Prepared by another store (or by the default): nothing was parsed.
  if (mine == nullptr || mine->store != this) {
    return WriteBatch(prepared->ops());
  }
  if (!mine->status.ok()) return mine->status;
  return RunPrepared(std::move(mine->ops));
}

SqliteStore::PreparedOp SqliteStore::PrepareOp(const WriteOp& op) {
  PreparedOp prepared;
  prepared.op = &op;
  std::string_view type_name = ResourceTypeName(op.type);
  std::string id_path = std::string(type_name) + ".id";
  if (op.id.empty()) {
    if (op.kind != WriteKind::kCreate) {
      prepared.status = Status::InvalidArgument(id_path, "required");
      return prepared;
    }
    // Time-ordered: the records index grows at its end.
    prepared.id = random_->NewTimeOrderedUuid(clock_->WallNowMillis());
  } else if (!base::IsUuid(op.id)) {
    prepared.status =
        Status::InvalidArgument(id_path, QuotedId(op.id) + " is not a UUID");
    return prepared;
  } else {
    prepared.id = op.id;
  }
  if (op.kind == WriteKind::kDelete) return prepared;
  // A create without an id ignores any id in the body, as a FHIR create does.
  std::string_view expected_id = op.id.empty() ? std::string_view() : op.id;
  // On a hub, the record's report fact is read from the document parsed
  // here, not from its text again in the write transaction.
  std::function<void(const nlohmann::json&)> visit;
  if (role_ == "hub") {
    visit = [&](const nlohmann::json& doc) {
      prepared.report_fact = DocumentFactOf(op.type, doc);
    };
  }
  Result<ParsedResource> parsed =
      ParseResource(op.type, op.body, expected_id, visit);
  if (!parsed.ok()) {
    prepared.status = parsed.status();
    prepared.report_fact.reset();
  } else {
    prepared.parsed = std::move(parsed).value();
  }
  return prepared;
}

Result<std::vector<WriteOutcome>> SqliteStore::RunWriter(
    std::span<const WriteOp> ops) {
  if (options_.read_only) {
    return Status::PermissionDenied(Where(), "opened read-only");
  }
  if (ops.empty()) return std::vector<WriteOutcome>();
  std::vector<PreparedOp> prepared;
  prepared.reserve(ops.size());
  try {
    for (const WriteOp& op : ops) prepared.push_back(PrepareOp(op));
  } catch (const std::exception& e) {
    return Status::Internal("prepare write", e.what());
  }
  return RunPrepared(std::move(prepared));
}

Result<std::vector<WriteOutcome>> SqliteStore::RunPrepared(
    std::vector<PreparedOp> ops) {
  if (options_.read_only) {
    return Status::PermissionDenied(Where(), "opened read-only");
  }
  if (ops.empty()) return std::vector<WriteOutcome>();
  POSTA_RETURN_IF_ERROR(CheckWriteSpace());
  Writer w;
  w.ops = std::move(ops);

  std::unique_lock lock(queue_mu_);
  writers_.push_back(&w);
  while (!w.done && &w != writers_.front()) w.cv.wait(lock);
  if (!w.done) {
    // This writer leads: take it and the writers queued behind it, up to
    // kMaxGroupOps ops (a larger batch goes alone).
    std::vector<Writer*> group;
    size_t op_count = 0;
    for (Writer* next : writers_) {
      if (!group.empty() && op_count + next->ops.size() > kMaxGroupOps) break;
      group.push_back(next);
      op_count += next->ops.size();
    }
    lock.unlock();
    {
      std::lock_guard writer_lock(writer_mu_);
      CommitGroup(group);
    }
    lock.lock();
    for (Writer* done : group) {
      POSTA_CHECK(writers_.front() == done);
      writers_.pop_front();
      done->done = true;
      // Signalled under queue_mu_: the waiter cannot return (and destroy its
      // Writer) before the lock is released.
      if (done != &w) done->cv.notify_one();
    }
    if (!writers_.empty()) writers_.front()->cv.notify_one();
  }
  lock.unlock();
  if (!w.txn_status.ok()) return w.txn_status;
  return std::move(w.outcomes);
}

void SqliteStore::CommitGroup(const std::vector<Writer*>& group) {
  // Deferred audit entries (reads) ride on this commit; should it fail,
  // they wait for the next one.
  std::vector<AuditEvent> deferred = TakePendingAudit();
  // Ops run without a savepoint each (see ApplyInSavepoint). In the rare
  // case one fails after its first write, the group is rolled back and run
  // again with a savepoint per op, so that op alone is undone.
  op_savepoints_ = false;
  op_half_written_ = false;
  bool committed = CommitGroupOnce(group, deferred);
  if (op_half_written_) {
    op_savepoints_ = true;
    committed = CommitGroupOnce(group, deferred);
    op_savepoints_ = false;
  }
  if (!committed) RequeuePendingAudit(std::move(deferred));
}

bool SqliteStore::CommitGroupOnce(const std::vector<Writer*>& group,
                                  const std::vector<AuditEvent>& deferred) {
  for (Writer* w : group) w->outcomes.assign(w->ops.size(), WriteOutcome());
  Transaction txn(*writer_, /*immediate=*/true);
  Status status = txn.Begin();
  if (status.ok()) {
    // Another process may have written since: carry its stamps forward so
    // ours still order after them.
    Result<std::string> persisted = ReadMeta(*writer_, kMetaHlc);
    if (!persisted.ok()) {
      status = persisted.status();
    } else if (auto stamp = base::HlcStamp::Parse(*persisted); stamp.ok()) {
      hlc_->Observe(*stamp);
    } else {
      status =
          Status::Corruption(Where(), "meta hlc: " + stamp.status().message());
    }
  }
  for (size_t i = 0; status.ok() && i < deferred.size(); ++i) {
    status = AppendAuditRow(*writer_, deferred[i]);
  }
  BeginDeferredRows(/*track_undo=*/op_savepoints_);
  for (Writer* w : group) {
    for (size_t i = 0; status.ok() && i < w->ops.size(); ++i) {
      w->outcomes[i] = ApplyInSavepoint(w->ops[i], &status);
    }
  }
  if (status.ok()) {
    status = FlushDeferredRows();
  } else {
    DropDeferredRows();
  }
  if (status.ok())
    status = WriteMeta(*writer_, kMetaHlc, hlc_->Last().ToString());
  if (status.ok()) status = txn.Commit();
  if (status.ok()) return true;
  DropDeferredRows();
  txn.Rollback();
  if (op_half_written_ && !op_savepoints_) return false;  // run again
  Status failed = status.WithContext("write transaction");
  for (Writer* w : group) {
    w->txn_status = failed;
    for (WriteOutcome& out : w->outcomes)
      out = WriteOutcome{failed, {}, false, false};
  }
  return false;
}

WriteOutcome SqliteStore::ApplyInSavepoint(const PreparedOp& op,
                                           Status* fatal) {
  if (!op.status.ok()) return WriteOutcome{op.status, {}, false, false};
  if (!op_savepoints_) {
    // Everything that can refuse an op (its kind, If-Match, its references,
    // the keys of the version it replaces) is checked before its first
    // write, so a refused op has nothing to undo and needs no savepoint (one
    // made SQLite copy every page the op touched to its statement journal).
    op_wrote_ = false;
    WriteOutcome out;
    try {
      out = ApplyOp(op);
    } catch (const std::exception& e) {
      out = WriteOutcome{Status::Internal("write", e.what()), {}, false, false};
    }
    if (out.status.ok()) return out;
    if (writer_->InAutocommit()) {
      *fatal = out.status;  // SQLite abandoned the transaction
    } else if (op_wrote_) {
      op_half_written_ = true;  // stops the group; CommitGroup runs it again
      *fatal = out.status;
    }
    out.record = Record();
    out.created = out.changed = false;
    return out;
  }
  auto run = [&](std::string_view sql) -> Status {
    POSTA_ASSIGN_OR_RETURN(Statement st, writer_->Prepare(sql));
    return st.Run();
  };
  if (Status s = run("SAVEPOINT op"); !s.ok()) {
    *fatal = s;
    return WriteOutcome{s, {}, false, false};
  }
  MarkDeferredRows();
  WriteOutcome out;
  try {
    out = ApplyOp(op);
  } catch (const std::exception& e) {
    out = WriteOutcome{Status::Internal("write", e.what()), {}, false, false};
  }
  if (out.status.ok()) {
    if (Status s = run("RELEASE op"); !s.ok()) *fatal = s;
    return out;
  }
  if (writer_->InAutocommit()) {
    // SQLite abandoned the transaction (disk full, I/O error): every op in
    // it is lost, not just this one.
    *fatal = out.status;
    return out;
  }
  RollBackDeferredRows();
  Status undo = run("ROLLBACK TO op");
  if (undo.ok()) undo = run("RELEASE op");
  if (!undo.ok()) *fatal = undo;
  out.record = Record();
  out.created = out.changed = false;
  return out;
}

WriteOutcome SqliteStore::ApplyOp(const PreparedOp& prepared) {
  if (prepared.op == nullptr) {
    // An audit event alone, or nothing (a commit for the deferred entries).
    WriteOutcome out;
    if (prepared.event) {
      op_wrote_ = true;
      out.status = AppendAuditRow(*writer_, *prepared.event);
    }
    return out;
  }
  const WriteOp& op = *prepared.op;
  const std::string& id = prepared.id;
  const std::string name = RecordName(op.type, id);
  WriteOutcome out;
  auto fail = [&](Status s) {
    out.status = std::move(s);
    return out;
  };

  // The current row, if any.
  std::optional<Record> current;
  int64_t rid = 0;
  {
    Result<std::optional<StoredRecord>> found = FindCurrent(op.type, id);
    if (!found.ok()) return fail(found.status());
    if (*found) {
      rid = (*found)->rid;
      current = std::move((*found)->record);
    }
  }

  // Shared reference data reaches clinics read-only: the hub's copy is the
  // one edited, and a clinic's edit would be refused at push.
  if (current && current->facility == kSharedFacility && role_ != "hub") {
    return fail(Status::PermissionDenied(
        name, "shared reference data: it is edited at the hub"));
  }
  // A record transferred away stays here as it was when it left; its new
  // facility edits it.
  if (current && current->facility != facility_ && role_ != "hub") {
    return fail(Status::PermissionDenied(name, "was transferred to facility " +
                                                   current->facility +
                                                   "; it is edited there"));
  }
  switch (op.kind) {
    case WriteKind::kCreate:
      if (current) return fail(Status::Conflict(name, "already exists"));
      break;
    case WriteKind::kUpdate:
      if (!current) return fail(Status::NotFound(name));
      if (current->deleted) return fail(Status::Gone(name, "was deleted"));
      break;
    case WriteKind::kDelete:
      if (!current) return fail(Status::NotFound(name));
      break;
    case WriteKind::kUpsert:
      break;
  }
  if (op.if_match) {
    if (!current)
      return fail(Status::PreconditionFailed(name, "does not exist"));
    if (current->version != *op.if_match) {
      return fail(Status::PreconditionFailed(
          name, "version is " + current->version.ToString() + ", not " +
                    op.if_match->ToString()));
    }
  }

  Record next;
  StampMap bases;
  const std::string deleted_field(kDeletedField);
  if (op.kind == WriteKind::kDelete) {
    if (current->deleted) {
      out.record = std::move(*current);
      return out;  // nothing to do
    }
    // A tombstone keeps the content and field stamps it had.
    next = *current;
    next.deleted = true;
  } else {
    const ParsedResource& parsed = prepared.parsed;
    if (current && !current->deleted && current->content == parsed.content) {
      out.record = std::move(*current);
      return out;  // same content: no new version
    }
    if (Status s = CheckReferences(parsed); !s.ok()) return fail(s);
    next.type = op.type;
    next.id = id;
    // A hub's Locations are shared with every clinic; anything else belongs
    // to the facility that created it.
    next.facility = current ? current->facility
                    : (role_ == "hub" && op.type == ResourceType::kLocation)
                        ? std::string(kSharedFacility)
                        : facility_;
    next.content = parsed.content;
    next.deleted = false;
  }
  next.version = hlc_->Now();
  // The stamp's wall time, not the raw clock: it never goes backwards.
  next.last_updated_ms = next.version.wall_ms;
  if (op.kind != WriteKind::kDelete) {
    if (current) {
      next.field_stamps =
          NextFieldStamps(*current, prepared.parsed, next.version, &bases);
    } else {
      for (const std::string& field : prepared.parsed.top_level_fields) {
        next.field_stamps[field] = next.version;
      }
    }
  }
  // A delete, or an upsert that revives a tombstone, turns the flag.
  if (current && current->deleted != next.deleted) {
    SetStamp(next.field_stamps, deleted_field, next.version, &bases);
  }
  std::vector<std::string> content_keys;
  if (op.kind == WriteKind::kDelete) {
    auto keys = ContentKeys(next.content);
    if (!keys.ok()) return fail(keys.status().WithContext(name));
    content_keys = std::move(keys).value();
  } else {
    content_keys = prepared.parsed.top_level_fields;
  }
  std::vector<SearchKey> old_keys;
  if (current) {
    Result<std::vector<SearchKey>> keys = IndexedKeys(*current);
    if (!keys.ok()) return fail(keys.status());
    old_keys = std::move(keys).value();
  }
  Result<int64_t> stored = StoreVersion(
      rid, current ? std::optional<bool>(current->deleted) : std::nullopt, next,
      bases, content_keys, &old_keys,
      next.deleted ? nullptr : &prepared.parsed.search_keys,
      /*moved_from=*/{}, /*via=*/{},
      next.deleted ? nullptr : &prepared.report_fact);
  if (!stored.ok()) return fail(stored.status());
  // The change's audit entry, in its transaction: a crash keeps both or
  // neither.
  AuditEvent event;
  if (op.actor != nullptr) event.who = *op.actor;
  event.action = op.kind == WriteKind::kDelete ? kAuditDelete
                 : current                     ? kAuditUpdate
                                               : kAuditCreate;
  event.resource = name;
  event.version = next.version.ToString();
  if (Status s = AppendAuditRow(*writer_, event); !s.ok()) return fail(s);

  out.created = !current.has_value();
  out.changed = true;
  out.record = std::move(next);
  return out;
}

Result<int64_t> SqliteStore::StoreVersion(
    int64_t rid, std::optional<bool> was_deleted, const Record& next,
    const StampMap& bases, const std::vector<std::string>& content_keys,
    const std::vector<SearchKey>* old_keys,
    const std::vector<SearchKey>* search_keys, std::string_view moved_from,
    std::string_view via, const std::optional<ReportFact>* report_fact) {
  op_wrote_ = true;
  const std::string_view type_name = ResourceTypeName(next.type);
  if (!was_deleted) {
    // A new record: its row id is chosen first, so its first version can
    // name it.
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        writer_->Prepare("SELECT coalesce(max(rid), 0) + 1 FROM records"));
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::Internal(Where(), "no next record id");
    rid = st.ColumnInt(0);
  }
  int64_t seq = 0;
  {
    // Bound without copies (BindTextRef): they outlive the statement.
    const std::string version = next.version.ToString();
    const std::string stamps =
        EncodeCompactStamps(next.field_stamps, next.version, content_keys);
    const std::string base_stamps = EncodeStampMap(bases);
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        writer_->Prepare("INSERT INTO versions (rid, version, content, stamps, "
                         "bases, deleted, facility, moved_from, via) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
    st.BindInt(1, rid);
    st.BindTextRef(2, version);
    st.BindTextRef(3, next.content);
    st.BindTextRef(4, stamps);
    st.BindTextRef(5, base_stamps);
    st.BindInt(6, next.deleted ? 1 : 0);
    st.BindTextRef(7, next.facility);
    st.BindText(8, moved_from);
    st.BindText(9, via);
    POSTA_RETURN_IF_ERROR(st.Run());
    seq = sqlite3_last_insert_rowid(writer_->db());
  }
  if (was_deleted) {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        writer_->Prepare("UPDATE records SET head = ?1, deleted = ?2, "
                         "facility = ?3 WHERE rid = ?4"));
    st.BindInt(1, seq);
    st.BindInt(2, next.deleted ? 1 : 0);
    st.BindText(3, next.facility);
    st.BindInt(4, rid);
    POSTA_RETURN_IF_ERROR(st.Run());
    if (old_keys != nullptr) {
      POSTA_RETURN_IF_ERROR(UnindexRecord(next.type, rid, *old_keys));
    }
  } else {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        writer_->Prepare("INSERT INTO records (rid, type, id, facility, head, "
                         "deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    st.BindInt(1, rid);
    st.BindText(2, type_name);
    st.BindTextRef(3, next.id);
    st.BindTextRef(4, next.facility);
    st.BindInt(5, seq);
    st.BindInt(6, next.deleted ? 1 : 0);
    POSTA_RETURN_IF_ERROR(st.Run());
  }
  if (search_keys != nullptr) {
    POSTA_RETURN_IF_ERROR(IndexRecord(next.type, rid, *search_keys));
  }
  if (role_ == "hub") {
    // The coordinators' reports count what the hub holds (report_facts.h).
    POSTA_RETURN_IF_ERROR(UpdateReportFacts(*writer_, counts_pending_, rid,
                                            !was_deleted, next,
                                            next.version.wall_ms, report_fact));
    // Outside a deferral (BeginDeferredRows) nothing else would write them.
    if (!index_deferred_) {
      POSTA_RETURN_IF_ERROR(counts_pending_.Flush(*writer_));
    }
  }
  return seq;
}

Status SqliteStore::CheckReferences(const ParsedResource& parsed) {
  for (const Reference& ref : parsed.references) {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        writer_->Prepare(
            "SELECT deleted FROM records WHERE type = ?1 AND id = ?2"));
    st.BindText(1, ResourceTypeName(ref.type));
    st.BindText(2, ref.id);
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row || st.ColumnInt(0) != 0) {
      return Status::InvalidArgument(
          ref.path, RecordName(ref.type, ref.id) + " does not exist");
    }
  }
  return Status::Ok();
}

namespace {

// The key number of a parameter the parser indexed; Internal when the
// table of numbers lacks it (a parameter added without one).
Result<int> KeyCode(ResourceType type, const SearchKey& key) {
  const int code = SearchKeyCodeOf(type, key.param);
  if (code == 0) {
    return Status::Internal(std::string(ResourceTypeName(type)) + " " +
                                key.param,
                            "search parameter without a key number");
  }
  return code;
}

}  // namespace

Status SqliteStore::UnindexRecord(ResourceType type, int64_t rid,
                                  const std::vector<SearchKey>& keys) {
  if (index_deferred_ && !index_pending_.empty()) {
    for (const SearchKey& key : keys) {
      POSTA_ASSIGN_OR_RETURN(int code, KeyCode(type, key));
      index_pending_.emplace_back(IndexRow{code, key.value, rid}, false);
    }
  }
  return RunForKeys(
      "DELETE FROM search_keys WHERE key = ?1 AND value = ?2 AND rid = ?3",
      type, rid, keys);
}

Result<std::vector<SearchKey>> SqliteStore::IndexedKeys(const Record& record) {
  if (record.deleted) return std::vector<SearchKey>();
  Result<ParsedResource> parsed = ParseContent(record.type, record.content);
  if (!parsed.ok()) {
    return Status::Corruption(RecordName(record.type, record.id),
                              "stored content: " + parsed.status().message());
  }
  return std::move(parsed->search_keys);
}

Status SqliteStore::IndexRecord(ResourceType type, int64_t rid,
                                const std::vector<SearchKey>& keys) {
  if (index_deferred_) {
    for (const SearchKey& key : keys) {
      POSTA_ASSIGN_OR_RETURN(int code, KeyCode(type, key));
      index_pending_.emplace_back(IndexRow{code, key.value, rid}, true);
    }
    return Status::Ok();
  }
  return RunForKeys(
      "INSERT OR IGNORE INTO search_keys (key, value, rid) "
      "VALUES (?1, ?2, ?3)",
      type, rid, keys);
}

Status SqliteStore::RunForKeys(std::string_view sql, ResourceType type,
                               int64_t rid,
                               const std::vector<SearchKey>& keys) {
  if (keys.empty()) return Status::Ok();
  POSTA_ASSIGN_OR_RETURN(Statement st, writer_->Prepare(sql));
  for (const SearchKey& key : keys) {
    POSTA_ASSIGN_OR_RETURN(int code, KeyCode(type, key));
    st.BindInt(1, code);
    st.BindText(2, key.value);
    st.BindInt(3, rid);
    POSTA_RETURN_IF_ERROR(st.Run());
    st.Reset();
  }
  return Status::Ok();
}

void SqliteStore::BeginDeferredRows(bool track_undo) {
  index_pending_.clear();
  index_mark_ = 0;
  counts_pending_.Clear();
  counts_mark_ = 0;
  index_deferred_ = true;
  index_track_undo_ = track_undo;
}

void SqliteStore::RollBackDeferredRows() {
  POSTA_CHECK(index_track_undo_);
  index_pending_.resize(index_mark_);
  counts_pending_.Truncate(counts_mark_);
}

Status SqliteStore::FlushDeferredRows() {
  index_deferred_ = false;
  POSTA_RETURN_IF_ERROR(counts_pending_.Flush(*writer_));
  std::vector<std::pair<IndexRow, bool>> changes = std::move(index_pending_);
  index_pending_.clear();
  if (changes.empty()) return Status::Ok();
  // In key order; the changes to one row stay in the order made, and the
  // last one decides.
  std::stable_sort(
      changes.begin(), changes.end(),
      [](const auto& a, const auto& b) { return a.first < b.first; });
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      writer_->Prepare("INSERT OR IGNORE INTO search_keys (key, value, rid) "
                       "VALUES (?1, ?2, ?3)"));
  for (size_t i = 0; i < changes.size(); ++i) {
    const auto& [row, added] = changes[i];
    if (i + 1 < changes.size() && changes[i + 1].first == row) continue;
    if (!added) continue;
    st.BindInt(1, row.key);
    st.BindTextRef(2, row.value);
    st.BindInt(3, row.rid);
    POSTA_RETURN_IF_ERROR(st.Run());
    st.Reset();
  }
  return Status::Ok();
}

void SqliteStore::DropDeferredRows() {
  index_deferred_ = false;
  index_pending_.clear();
  counts_pending_.Clear();
}

}  // namespace posta::storage::internal
