// SqliteStore: the SQLite implementation of RecordStore.
//
// Connections: one writer connection, used only by the current group-commit
// leader (and, for ":memory:", by readers too, under writer_mu_); a pool of
// read-only connections that WAL lets read beside the writer.
//
// Group commit (leveldb's DBImpl::Write): every Write/WriteBatch caller parses
// its ops in its own thread, then queues a Writer. The front of the queue is
// the leader: it takes itself plus following writers up to kMaxGroupOps ops,
// runs them in one transaction (a savepoint per op only when one fails after
// its first write, see CommitGroup), commits (one fsync),
// hands each writer its outcomes, and wakes the next front.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "posta/base/hlc.h"
#include "posta/storage/record_store.h"
#include "record_rows.h"
#include "report_facts.h"
#include "resources/resources.h"
#include "sqlite_util.h"
#include "wal_checkpointer.h"

namespace posta::storage::internal {

// Most ops one transaction carries when grouping writers. A WriteBatch larger
// than this still runs as one transaction of its own.
inline constexpr size_t kMaxGroupOps = 256;
// Most pooled reader connections.
inline constexpr size_t kMaxReaders = 4;

// Inserts a complete entry (seq and hashes already set) into audit_log.
Status InsertAuditEntry(Connection& conn, const AuditEntry& entry);

// Whether `id` is in a hub's facility registry (`facilities`, schema v5).
Result<bool> IsRegisteredFacility(Connection& conn, const std::string& id);

class SqliteStore final : public RecordStore {
 public:
  static Result<std::unique_ptr<RecordStore>> Open(const StoreOptions& options);
  ~SqliteStore() override;

  const std::string& node_id() const override { return node_id_; }
  const std::string& facility() const override { return facility_; }
  bool wall_clock_was_behind() const override {
    return hlc_->wall_clock_was_behind();
  }
  int64_t last_stamp_at_open_ms() const override {
    return last_stamp_at_open_ms_;
  }
  int64_t wall_clock_at_open_ms() const override {
    return wall_clock_at_open_ms_;
  }
  Status CheckWriteSpace() override;

  WriteOutcome Write(const WriteOp& op) override;
  Result<std::vector<WriteOutcome>> WriteBatch(
      std::span<const WriteOp> ops) override;
  std::unique_ptr<PreparedWrites> PrepareWrites(
      std::span<const WriteOp> ops) override;
  Result<std::vector<WriteOutcome>> WritePrepared(
      std::unique_ptr<PreparedWrites> prepared) override;

  Result<Record> Get(ResourceType type, const std::string& id) override;
  Result<Record> GetVersion(ResourceType type, const std::string& id,
                            const base::HlcStamp& version) override;
  Result<std::vector<Record>> History(ResourceType type, const std::string& id,
                                      size_t limit) override;
  Result<SearchPage> Search(const SearchQuery& query) override;
  Result<std::vector<Change>> ChangesSince(int64_t after_seq,
                                           size_t limit) override;
  Result<StoreStats> Stats() override;
  Result<std::string> ContentDigest() override;
  Result<std::string> ReplicaDigest(const std::string& facility) override;
  Status CheckIntegrity() override;
  using RecordStore::Transfer;
  Result<TransferOutcome> Transfer(ResourceType type, const std::string& id,
                                   const std::string& to_facility,
                                   const AuditActor* actor) override;
  Result<std::vector<std::vector<std::string>>> PastOwners(
      std::span<const RecordKey> records) override;

  Result<ChangeBatch> ReadChanges(const ChangeFilter& filter) override;
  Result<int64_t> CountChanges(const ChangeFilter& filter) override;
  Result<ApplyStats> ApplyChanges(std::span<const ChangeEntry> changes,
                                  std::span<const Conflict> conflicts,
                                  ChangeMerger& merger,
                                  const PeerState& peer) override;
  std::unique_ptr<PreparedChanges> PrepareChanges(
      std::span<const ChangeEntry> changes,
      std::span<const AuditEntry> audit) override;
  Result<ApplyStats> ApplyPrepared(std::unique_ptr<PreparedChanges> prepared,
                                   std::span<const Conflict> conflicts,
                                   ChangeMerger& merger,
                                   const PeerState& peer) override;
  Result<PeerState> GetPeer(const std::string& node_id) override;
  Result<std::vector<PeerState>> ListPeers() override;
  Status UpdatePeer(const PeerState& peer) override;
  using RecordStore::ListConflicts;
  Result<std::vector<Conflict>> ListConflicts(
      bool open_only, size_t limit, const OwnerScope& owners) override;
  Result<Conflict> GetConflict(const std::string& id) override;
  Result<Conflict> ResolveConflict(
      const ConflictResolution& resolution) override;
  Status Backup(const std::string& dest_path,
                const ProgressFn& progress) override;

  // store_audit.cc
  Status AppendAudit(const AuditEvent& event,
                     AuditDurability durability) override;
  Status FlushAudit() override;
  Result<AuditPage> ReadAudit(const AuditFilter& filter) override;
  Result<AuditVerification> VerifyAudit() override;
  Result<std::vector<AuditEntry>> AuditChainSince(const std::string& node_id,
                                                  int64_t after_seq,
                                                  size_t limit) override;
  Result<AuditReceipt> StoreReceivedAudit(
      const std::string& node_id, std::span<const AuditEntry> entries) override;
  Result<AuditReceipt> AuditChainEnd(const std::string& node_id) override;
  Result<std::vector<AuditBreak>> ListAuditBreaks() override;

  // store_enrollment.cc
  Status AddFacility(const FacilityEntry& facility) override;
  Result<std::vector<FacilityEntry>> ListFacilities() override;
  Status AddEnrollmentCode(const EnrollmentCode& code) override;
  Result<EnrolledNode> RedeemEnrollmentCode(
      const Redemption& redemption) override;
  Result<EnrolledNode> FindEnrolledNode(
      const std::string& credential_hash) override;
  Result<EnrolledNode> GetEnrolledNode(const std::string& node_id) override;
  Result<std::vector<EnrolledNode>> ListEnrolledNodes() override;
  Result<EnrolledNode> RevokeEnrolledNode(const std::string& node_id,
                                          int64_t now_ms) override;
  Status NoteEnrolledNodeSeen(const std::string& node_id, int64_t now_ms,
                              const std::string& address,
                              const std::string& flag) override;
  // store_reports.cc
  Result<FreshnessReport> ReportFreshness(const ReportScope& scope) override;
  Result<ActivityReport> ReportActivity(const ActivityQuery& query) override;
  Status NoteNodeReport(const NodeReport& report) override;
  Status NoteSyncCompleted(const std::string& node_id,
                           const std::string& facility,
                           int64_t now_ms) override;
  Status AddUser(const UserEntry& user) override;
  Result<UserEntry> GetUser(const std::string& name) override;
  Result<std::vector<UserEntry>> ListUsers() override;
  Status SetUserPassword(const std::string& name,
                         const std::string& password_hash,
                         int64_t now_ms) override;
  Result<int64_t> DisableUser(const std::string& name, int64_t now_ms) override;
  Status AddSession(const SessionEntry& session) override;
  Result<SessionEntry> GetSession(const std::string& token_hash) override;
  Status TouchSession(const std::string& token_hash, int64_t now_ms) override;
  Status DeleteSession(const std::string& token_hash) override;

 private:
  // A connection lent for reads: a pooled reader, or the writer connection
  // (":memory:") held under writer_mu_. Returns the reader on destruction.
  class ReadLease {
   public:
    ReadLease(SqliteStore* store, std::unique_ptr<Connection> owned);
    ReadLease(SqliteStore* store, std::unique_lock<std::mutex> writer_lock);
    ReadLease(ReadLease&&) = default;
    ~ReadLease();
    Connection& conn() { return owned_ ? *owned_ : *store_->writer_; }

   private:
    SqliteStore* store_;
    std::unique_ptr<Connection> owned_;
    std::unique_lock<std::mutex> writer_lock_;
  };

  // An op after the work that needs no database: id checks and parsing.
  struct PreparedOp {
    // Null for an audit event alone (`event`), or for an op that only
    // carries the deferred audit entries to a commit (neither).
    const WriteOp* op = nullptr;
    std::optional<AuditEvent> event;
    std::string id;
    Status status;  // not OK: the op fails with this, untouched
    ParsedResource parsed;
    // On a hub, what the new content counts for in the reports
    // (ContentFactOf), found here rather than in the write transaction.
    std::optional<ReportFact> report_fact;
  };

  // PrepareWrites' result: the prepared ops, or why preparing failed.
  class Prepared;
  // PrepareChanges' result: each version parsed, or why it is not valid.
  class PreparedPeerChanges;

  // One queued Write/WriteBatch call.
  struct Writer {
    std::vector<PreparedOp> ops;
    std::vector<WriteOutcome> outcomes;
    Status txn_status;  // not OK when the whole transaction failed
    bool done = false;
    std::condition_variable cv;
  };

  explicit SqliteStore(const StoreOptions& options);

  // sqlite_store.cc
  Status Init();
  Status ConfigureWriter();
  Status CreateOrMigrate(int user_version);
  Status LoadMeta();
  Result<ReadLease> AcquireReader();
  void ReleaseReader(std::unique_ptr<Connection> conn);
  std::string Where() const { return "database " + options_.path; }

  // store_write.cc
  PreparedOp PrepareOp(const WriteOp& op);
  Result<std::vector<WriteOutcome>> RunWriter(std::span<const WriteOp> ops);
  // Queues ops already prepared (an empty `ops` returns no outcomes).
  Result<std::vector<WriteOutcome>> RunPrepared(std::vector<PreparedOp> ops);
  void CommitGroup(const std::vector<Writer*>& group);
  // One attempt of CommitGroup, with or without op savepoints, appending the
  // `deferred` audit entries first. True when it committed.
  bool CommitGroupOnce(const std::vector<Writer*>& group,
                       const std::vector<AuditEvent>& deferred);
  // Applies one op, inside a savepoint when op_savepoints_ is set. Sets
  // `fatal` when SQLite abandoned the whole transaction, or when the op
  // failed after its first write without a savepoint to undo it (then
  // op_half_written_ is set and CommitGroup runs the group again with
  // savepoints).
  WriteOutcome ApplyInSavepoint(const PreparedOp& op, Status* fatal);
  WriteOutcome ApplyOp(const PreparedOp& op);
  Status CheckReferences(const ParsedResource& parsed);
  // Stores `next` as the record's new current version: `rid` names the
  // stored record when `was_deleted` is set (its current tombstone flag),
  // else a new record row is made. Removes `old_keys` from the search index
  // (the keys of the version replaced; may be null) and adds `search_keys`
  // (null: a tombstone, nothing indexed). `moved_from`: the owner before,
  // when this version changes the record's owner. `via`: the peer a version
  // that arrived by sync came from (echo suppression). `report_fact`: on a
  // hub, ContentFactOf(next) found beforehand (null: found here). Returns
  // the version's seq.
  Result<int64_t> StoreVersion(
      int64_t rid, std::optional<bool> was_deleted, const Record& next,
      const StampMap& bases, const std::vector<std::string>& content_keys,
      const std::vector<SearchKey>* old_keys,
      const std::vector<SearchKey>* search_keys,
      std::string_view moved_from = {}, std::string_view via = {},
      const std::optional<ReportFact>* report_fact = nullptr);
  // The index keys a stored version has: none for a tombstone.
  Result<std::vector<SearchKey>> IndexedKeys(const Record& record);
  Status UnindexRecord(ResourceType type, int64_t rid,
                       const std::vector<SearchKey>& keys);
  // Runs `sql` once per key with ?1 its key number (SearchKeyCodeOf),
  // ?2 value, ?3 rid.
  Status RunForKeys(std::string_view sql, ResourceType type, int64_t rid,
                    const std::vector<SearchKey>& keys);
  Status IndexRecord(ResourceType type, int64_t rid,
                     const std::vector<SearchKey>& keys);

  // Search-index rows added inside a write transaction are held back and
  // inserted in key order just before it commits: a B-tree fills far faster
  // in key order than at random places. Rows removed meanwhile are removed
  // from the table and logged as removed, so the last change to a row
  // decides at the flush. A hub's report_counts changes are held back with
  // them and written summed (ReportCounts). With `track_undo`,
  // RollBackDeferredRows can undo the changes of an op rolled back to its
  // savepoint.
  struct IndexRow {
    int key = 0;  // SearchKeyCodeOf(type, param)
    std::string value;
    int64_t rid = 0;
    friend auto operator<=>(const IndexRow&, const IndexRow&) = default;
  };
  void BeginDeferredRows(bool track_undo);
  // Called when an op's savepoint is taken: RollBackDeferredRows undoes the
  // changes made since.
  void MarkDeferredRows() {
    index_mark_ = index_pending_.size();
    counts_mark_ = counts_pending_.size();
  }
  void RollBackDeferredRows();
  // Inserts the pending rows in key order, writes the counts, and ends the
  // deferral.
  Status FlushDeferredRows();
  // Ends the deferral without writing (the transaction is rolled back).
  void DropDeferredRows();

  // store_audit.cc. Appends `event` to this node's chain on `conn`.
  // REQUIRES: a write transaction is open on `conn` (the writer), under
  // writer_mu_.
  Status AppendAuditRow(Connection& conn, const AuditEvent& event);
  // store_audit.cc. StoreReceivedAudit's work, on `conn`, filling
  // `receipt` (InvalidArgument for this node's own chain). REQUIRES: as
  // AppendAuditRow.
  Status StoreReceivedAuditIn(Connection& conn, const std::string& node_id,
                              std::span<const AuditEntry> entries,
                              AuditReceipt& receipt);
  // The deferred entries, taken by a group-commit leader; put back when its
  // transaction failed.
  std::vector<AuditEvent> TakePendingAudit();
  void RequeuePendingAudit(std::vector<AuditEvent> events);

  // store_replication.cc. All of these run on the writer connection inside
  // an open transaction, under writer_mu_.
  struct StoredRecord {
    int64_t rid = 0;
    Record record;
  };
  Result<std::optional<StoredRecord>> FindCurrent(ResourceType type,
                                                  const std::string& id);
  // Folds the persisted clock into hlc_ (another process may have written).
  Status ObservePersistedClock();
  // `from` is the peer the change came from: a version taken as it came
  // records it (versions.via). `fact`: on a hub, DocumentFactOf the
  // change's content as parsed (null: found when stored).
  Status ApplyOneChange(const ChangeEntry& change, const ParsedResource& parsed,
                        const std::optional<ReportFact>* fact,
                        ChangeMerger& merger, const std::string& from,
                        ApplyStats& stats);
  // The next change-log position, shared by versions and conflicts.
  Result<int64_t> NextSharedSeq();
  // Stores `c` at a new change-log position; `replace` overwrites a stored
  // conflict with the same id.
  Status StoreConflict(const Conflict& c, bool replace);
  Result<std::optional<Conflict>> FindConflict(Connection& conn,
                                               const std::string& id);
  Status WritePeer(const PeerState& peer);
  // store_enrollment.cc: runs `body` in an IMMEDIATE transaction on the
  // writer connection under writer_mu_, committing when it succeeds.
  Status InWriteTransaction(const std::function<Status(Connection&)>& body);
  Result<std::optional<EnrolledNode>> FindNodeWhere(Connection& conn,
                                                    std::string_view where,
                                                    const std::string& value);
  // Writes `value` (JSON; nullopt removes) into `field` of the stored record
  // as a new version, unless the record already holds it.
  Status WriteResolvedValue(const StoredRecord& stored,
                            const std::string& field,
                            const std::optional<std::string>& value);

  StoreOptions options_;
  base::Clock* clock_;
  std::unique_ptr<base::Random> owned_random_;
  base::Random* random_;
  bool in_memory_ = false;
  int64_t last_stamp_at_open_ms_ = 0;
  int64_t wall_clock_at_open_ms_ = 0;

  std::string node_id_;
  std::string facility_;
  std::string role_;
  std::unique_ptr<base::HybridLogicalClock> hlc_;  // used by the leader only

  // Held by the group-commit leader for its transaction, and by ":memory:"
  // readers.
  std::mutex writer_mu_;
  std::unique_ptr<Connection> writer_;
  // Copies the writer's log into the file off its thread; null when
  // read-only or in memory. Goes before writer_ closes.
  std::unique_ptr<WalCheckpointer> checkpointer_;

  // Pending search-index rows (see BeginDeferredRows), used by the writer under
  // writer_mu_.
  bool index_deferred_ = false;
  bool index_track_undo_ = false;
  // Every change in the order made: (row, added).
  std::vector<std::pair<IndexRow, bool>> index_pending_;
  size_t index_mark_ = 0;  // see MarkDeferredRows
  ReportCounts counts_pending_;
  size_t counts_mark_ = 0;
  // The write path's op state, used by the writer under writer_mu_ (see
  // ApplyInSavepoint): whether each op runs in a savepoint; whether the op
  // being applied has written (set by StoreVersion); whether one failed
  // after writing.
  bool op_savepoints_ = false;
  bool op_wrote_ = false;
  bool op_half_written_ = false;

  std::mutex queue_mu_;
  std::deque<Writer*> writers_;  // guarded by queue_mu_

  // Deferred audit entries (AuditDurability::kDeferred) waiting for a
  // commit, and when the first of them arrived.
  std::mutex audit_mu_;
  std::vector<AuditEvent> audit_pending_;               // guarded by audit_mu_
  std::chrono::steady_clock::time_point audit_oldest_;  // guarded by audit_mu_

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>>
      idle_readers_;         // guarded by pool_mu_
  size_t open_readers_ = 0;  // guarded by pool_mu_
};

}  // namespace posta::storage::internal
