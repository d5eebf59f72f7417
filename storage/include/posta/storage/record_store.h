// RecordStore: the clinic's durable record store (leveldb's DB). It knows
// nothing of HTTP or sync.
//
// Every successful write, in one SQLite transaction: validates the body,
// checks references resolve, stores the new current version, appends it to
// the record's history and to the change log (a strictly increasing
// sequence), and persists the hybrid logical clock. After a crash all of it
// is there or none.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "posta/base/clock.h"
#include "posta/base/random.h"
#include "posta/base/status.h"
#include "posta/storage/audit.h"
#include "posta/storage/enrollment.h"
#include "posta/storage/record.h"
#include "posta/storage/replication.h"
#include "posta/storage/reports.h"
#include "posta/storage/users.h"

namespace posta::storage {

// The schema version this build writes. A database with a higher version is
// refused (VersionMismatch naming both); a lower one is migrated at open.
int CurrentSchemaVersion();

struct StoreOptions {
  // Database file, or ":memory:" for tests.
  std::string path;
  // Create the database when it does not exist. Default: false (serve
  // refuses to start on a missing database; init creates it).
  bool create_if_missing = false;
  // On create: the owning facility of records written here, stored in the
  // database. On open: when non-empty, must match the stored facility.
  std::string facility;
  // On create: "clinic" or "hub", stored in the database.
  std::string role = "clinic";
  // Open for reads only (status, export and backup of a running node).
  bool read_only = false;
  // PRAGMA synchronous. Default: FULL (acknowledged writes survive power
  // loss). NORMAL survives process crashes only.
  enum class Synchronous { kFull, kNormal };
  Synchronous synchronous = Synchronous::kFull;
  // The writer connection's page cache (allocated as used). A large import
  // batch stays in memory until its commit under a big cache; a short-lived
  // process that only syncs can keep it small. Default: 32 MiB.
  size_t cache_bytes = size_t{32} << 20;
  // SQLite VFS name; empty for the default. Tests pass a fault VFS.
  std::string vfs;
  // How long a write waits for another process's lock.
  std::chrono::milliseconds busy_timeout{10000};
  // Not owned; must outlive the store. Default: base::SystemClock().
  base::Clock* clock = nullptr;
  // Not owned; must outlive the store. Default: an OS-seeded generator.
  base::Random* random = nullptr;
  // The disk guard: while the file system holding the database has less
  // than this many bytes free, writes of records (Write, WriteBatch,
  // ApplyChanges, Transfer, ResolveConflict) are refused with NoSpace before
  // they start, so a filling disk never gets as far as a failed commit.
  // Reads, sessions and sync cursors still work. 0: no floor. Default: 0.
  uint64_t min_free_bytes = 0;
  // Where the floor is set, named in the refusal so a person knows what to
  // change, e.g. "[storage] min_free_mb in /etc/posta/posta.toml".
  std::string min_free_setting;
  // Free bytes on the file system of a path. Tests say "10 MB free" here
  // without filling a disk. Default: base::Env::Default().FreeBytes.
  std::function<Result<uint64_t>(const std::string& path)> free_bytes;
};

enum class WriteKind {
  kCreate,  // new record; id minted unless given (then it must be unused)
  kUpdate,  // existing, not deleted record; NotFound / Gone otherwise
  kUpsert,  // update if present (or deleted: revives it), else create with id
  kDelete,  // tombstone; deleting a deleted record changes nothing
};

struct WriteOp {
  WriteKind kind = WriteKind::kCreate;
  ResourceType type = ResourceType::kPatient;
  // Required for kUpdate, kUpsert, kDelete; optional for kCreate. Must be a
  // UUID. A body "id", when present, must equal it.
  std::string id;
  // The FHIR resource JSON as received (not for kDelete). "resourceType"
  // must match `type`; "meta" is ignored.
  std::string body;
  // kUpdate, kDelete: PreconditionFailed unless the current version equals
  // it.
  std::optional<base::HlcStamp> if_match;
  // Who asks, for the audit entry a change gets in its own transaction
  // (kUnattributedActor when null). Not owned; must outlive the write.
  const AuditActor* actor = nullptr;
};

struct WriteOutcome {
  Status status;  // per-op result; the record below is valid only when ok
  Record record;  // the version now current
  bool created = false;  // a new record (not an update or revival)
  // False when the op changed nothing: an update whose content equals the
  // current content, or a delete of a deleted record. No version, history
  // or change-log entry is written then.
  bool changed = false;
};

// One entry of the change log.
struct Change {
  int64_t seq = 0;  // strictly increasing, never reused
  ResourceType type = ResourceType::kPatient;
  std::string id;
  base::HlcStamp version;
  bool deleted = false;
};

// What RecordStore::Transfer moved.
struct TransferOutcome {
  Record record;              // the transferred record's new version
  std::string from_facility;  // its owner before
  // Records moved, by type: the record itself and its compartment.
  std::map<ResourceType, int64_t> moved;
};

// Which records a reader may see, by each record's current owner
// (Record::facility): every record (nullopt), or only those whose owner is
// one of the listed facilities (kSharedFacility included only when listed;
// an empty list sees nothing). A hub's coordinator reads through the
// facilities of their region. Applied in the query itself, before paging.
using OwnerScope = std::optional<std::vector<std::string>>;

struct SearchQuery {
  ResourceType type = ResourceType::kPatient;
  std::vector<SearchCondition> conditions;  // all must hold
  size_t count = 20;                        // page size, 1..1000
  // Opaque token from the previous page; empty for the first page.
  std::string page_token;
  // Count all matches (one extra indexed query).
  bool want_total = false;
  // Only records of these owners match (and count); nullopt: every owner.
  OwnerScope owners;
};

struct SearchPage {
  // Live records only, in a stable order. For display: their field_stamps
  // are left empty (Get returns a record with them).
  std::vector<Record> records;
  std::string next_page_token;  // empty on the last page
  std::optional<int64_t> total;
};

// How a person closes a conflict.
struct ConflictResolution {
  std::string id;
  enum class Choice {
    kKeepWinner,  // the record keeps what it holds
    kTakeLoser,   // the value that lost is written back
    kNewValue,    // `value` is written (content fields only)
  };
  Choice choice = Choice::kKeepWinner;
  // kNewValue: the field's new value as JSON; nullopt removes the field.
  std::optional<std::string> value;
  std::string resolved_by;  // who decided, for the record
  // For the audit entry (actor `resolved_by` when null). Not owned.
  const AuditActor* actor = nullptr;
};

struct StoreStats {
  std::string node_id;
  std::string facility;
  std::string role;
  int schema_version = 0;
  std::map<ResourceType, int64_t> live_records;  // not deleted, by type
  int64_t deleted_records = 0;
  int64_t database_bytes = 0;  // main file plus WAL
  int64_t last_seq = 0;        // highest change-log sequence, 0 when empty
  int64_t last_write_ms = 0;   // wall clock of the last write, 0 when none
  int64_t open_conflicts = 0;
  // Changes from peers whose stamps were too far ahead of this clock.
  int64_t clock_flags = 0;
};

// Progress of a long operation: units done out of total (total may grow).
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

// A batch of writes checked ahead of its transaction
// (RecordStore::PrepareWrites); opaque to callers.
class PreparedWrites {
 public:
  explicit PreparedWrites(std::span<const WriteOp> ops) : ops_(ops) {}
  virtual ~PreparedWrites() = default;
  std::span<const WriteOp> ops() const { return ops_; }

 private:
  std::span<const WriteOp> ops_;
};

// Another node's versions checked ahead of their transaction, with the
// entries of its audit chain that go with them (RecordStore::PrepareChanges);
// opaque to callers.
class PreparedChanges {
 public:
  PreparedChanges(std::span<const ChangeEntry> changes,
                  std::span<const AuditEntry> audit)
      : changes_(changes), audit_(audit) {}
  virtual ~PreparedChanges() = default;
  std::span<const ChangeEntry> changes() const { return changes_; }
  std::span<const AuditEntry> audit() const { return audit_; }

 private:
  std::span<const ChangeEntry> changes_;
  std::span<const AuditEntry> audit_;
};

// Threading: every method is safe to call from any thread. Writes are
// serialized on one writer connection, and concurrent writers are grouped
// into one transaction (one fsync) as leveldb groups log writes; each op
// still succeeds or fails alone. Reads use their own connections and run
// beside writes.
class RecordStore {
 public:
  virtual ~RecordStore() = default;

  // This node's id (minted at create, stored in the database) and facility.
  virtual const std::string& node_id() const = 0;
  virtual const std::string& facility() const = 0;
  // The clock carried forward logically because the wall clock was behind
  // the last persisted stamp at open (a board booting in 1970).
  virtual bool wall_clock_was_behind() const = 0;
  // The highest stamp persisted before this open, and the wall clock read
  // at open: what wall_clock_was_behind compared. Zero on a new database.
  virtual int64_t last_stamp_at_open_ms() const { return 0; }
  virtual int64_t wall_clock_at_open_ms() const { return 0; }

  // The disk guard (StoreOptions::min_free_bytes): Ok while there is room
  // (or no floor, or the free space cannot be read), else NoSpace naming
  // the free bytes, the floor and where it is set. Every record write asks
  // this first; /health and the sync client ask it too.
  virtual Status CheckWriteSpace() { return Status::Ok(); }

  // Applies one write in its own transaction. Statuses: Malformed (body is
  // not a JSON object), InvalidArgument (a rule, naming the field path, e.g.
  // "Encounter.subject: Patient/… does not exist"), NotFound, Gone,
  // Conflict (create with a used id), PreconditionFailed (stale if_match),
  // IOError / NoSpace (nothing stored), PermissionDenied (read-only store,
  // or a clinic writing to a shared record, owner kSharedFacility). On a
  // hub a created Location is shared; every other created record belongs to
  // this node's facility.
  virtual WriteOutcome Write(const WriteOp& op) = 0;

  // Applies many writes in one transaction; each op succeeds or fails alone
  // (every check that can refuse one runs before it writes, and one failing
  // after that is undone alone), and later ops see earlier ones (an
  // Encounter may reference a Patient created earlier in the batch). The
  // Result is an error only when the transaction itself failed; then
  // nothing is stored.
  virtual Result<std::vector<WriteOutcome>> WriteBatch(
      std::span<const WriteOp> ops) = 0;

  // Moves a Patient and its compartment (every live Encounter, Observation
  // and Appointment whose patient reference names it, owned by the
  // patient's owner) to `to_facility`, in one transaction: each gets a new
  // version with the same content, the new owner and kFacilityField stamped,
  // so the move syncs and shows in history. Allowed on a hub, and on the
  // clinic whose facility owns the patient. Statuses: InvalidArgument (not
  // a Patient, `to_facility` not a facility id or kSharedFacility, or the
  // current owner), NotFound, Gone (deleted), PermissionDenied (a shared
  // record, a clinic that does not own it, read-only store). Each moved
  // record gets a "transfer" audit entry by `actor` (may be null) in the
  // same transaction.
  virtual Result<TransferOutcome> Transfer(ResourceType type,
                                           const std::string& id,
                                           const std::string& to_facility,
                                           const AuditActor* actor) = 0;
  // The same, unattributed (kUnattributedActor).
  Result<TransferOutcome> Transfer(ResourceType type, const std::string& id,
                                   const std::string& to_facility) {
    return Transfer(type, id, to_facility, nullptr);
  }

  // For each record named, every facility that owned some stored version
  // of it, in name order (the hub's scope check for pushed versions); empty
  // for a record not stored here. One read snapshot answers them all.
  virtual Result<std::vector<std::vector<std::string>>> PastOwners(
      std::span<const RecordKey> records) = 0;

  // WriteBatch in two steps, so that a caller may parse and validate its
  // next batch (PrepareWrites, no database work) while another thread
  // writes the previous one (WritePrepared): `posta import` overlaps the two
  // on two cores. Outcomes and statuses are those of WriteBatch. `ops` must
  // outlive the PreparedWrites. The default prepares nothing ahead.
  virtual std::unique_ptr<PreparedWrites> PrepareWrites(
      std::span<const WriteOp> ops);
  virtual Result<std::vector<WriteOutcome>> WritePrepared(
      std::unique_ptr<PreparedWrites> prepared);

  // The current version, deleted or not (check record.deleted).
  virtual Result<Record> Get(ResourceType type, const std::string& id) = 0;
  // One past version; NotFound when there is no such version.
  virtual Result<Record> GetVersion(ResourceType type, const std::string& id,
                                    const base::HlcStamp& version) = 0;
  // Every version, newest first, at most `limit`. Each version's facility
  // is the owner it gave the record.
  virtual Result<std::vector<Record>> History(ResourceType type,
                                              const std::string& id,
                                              size_t limit) = 0;

  // InvalidArgument for an unknown parameter, an operator the parameter's
  // kind does not take, or a value that does not parse. Every condition is
  // answered from an index.
  virtual Result<SearchPage> Search(const SearchQuery& query) = 0;

  // Change-log entries with seq > after_seq, oldest first, at most `limit`.
  virtual Result<std::vector<Change>> ChangesSince(int64_t after_seq,
                                                   size_t limit) = 0;

  virtual Result<StoreStats> Stats() = 0;

  // SHA-256 (hex) over every record, version and change-log entry, in a
  // canonical order: equal digests mean equal stored content.
  virtual Result<std::string> ContentDigest() = 0;

  // SHA-256 (hex) over the current state of every record owned by
  // `facility` (all records when empty): type, id, content, field stamps
  // and tombstone, in (type, id) order. Replicas that hold the same records
  // in the same state have equal digests, whatever their histories.
  virtual Result<std::string> ReplicaDigest(const std::string& facility) = 0;

  // ---- Replication (replication.h) ----

  // Change-log entries (versions and conflict changes) after
  // filter.after_seq, oldest first, within the filter's limits.
  virtual Result<ChangeBatch> ReadChanges(const ChangeFilter& filter) = 0;

  // How many versions ReadChanges would return after filter.after_seq with
  // the filter's origin and facility conditions, ignoring its size limits
  // (conflict changes not counted). Counts rows without reading them.
  virtual Result<int64_t> CountChanges(const ChangeFilter& filter) = 0;

  // Applies another node's versions and conflict changes in one
  // transaction, with `merger` deciding each version, and stores `peer`
  // in the same transaction (so a batch and the cursor that covers it land
  // together). All or nothing: InvalidArgument naming the record and field
  // when an incoming version is not a valid resource (nothing is stored).
  // Applying the same changes again stores nothing new.
  virtual Result<ApplyStats> ApplyChanges(std::span<const ChangeEntry> changes,
                                          std::span<const Conflict> conflicts,
                                          ChangeMerger& merger,
                                          const PeerState& peer) = 0;

  // ApplyChanges in two steps, as WriteBatch: PrepareChanges starts
  // checking the versions on threads of its own (no database work) and
  // returns, ApplyPrepared stores each as soon as it is checked, so that a
  // sync client may prepare batch N+1 while batch N is stored, and a
  // version is stored while the next ones are checked. Results and
  // statuses are those of ApplyChanges.
  // `audit`, entries of the peer's own chain (a push carries those of its
  // changes), is stored in the same transaction as StoreReceivedAudit
  // stores it, and ApplyStats::audit says what was done; any status
  // StoreReceivedAudit would return refuses the whole batch. `changes`
  // and `audit` must outlive the PreparedChanges (a vector moved keeps its
  // elements where they are). The default prepares nothing ahead.
  virtual std::unique_ptr<PreparedChanges> PrepareChanges(
      std::span<const ChangeEntry> changes, std::span<const AuditEntry> audit);
  virtual Result<ApplyStats> ApplyPrepared(
      std::unique_ptr<PreparedChanges> prepared,
      std::span<const Conflict> conflicts, ChangeMerger& merger,
      const PeerState& peer);

  // NotFound when the peer was never recorded.
  virtual Result<PeerState> GetPeer(const std::string& node_id) = 0;
  virtual Result<std::vector<PeerState>> ListPeers() = 0;
  virtual Status UpdatePeer(const PeerState& peer) = 0;

  // Conflicts, newest change first; open ones only when `open_only`; only
  // those of records whose current owner is in `owners`, when set (a
  // conflict of a record no longer stored is then left out).
  virtual Result<std::vector<Conflict>> ListConflicts(
      bool open_only, size_t limit, const OwnerScope& owners) = 0;
  // Every owner's conflicts.
  Result<std::vector<Conflict>> ListConflicts(bool open_only, size_t limit) {
    return ListConflicts(open_only, limit, std::nullopt);
  }
  // NotFound when there is no such conflict.
  virtual Result<Conflict> GetConflict(const std::string& id) = 0;
  // Closes an open conflict, writing the chosen value onto the record as a
  // new version when it is not the one the record holds; the record write
  // and the close land together. Conflict (409-like) when already resolved,
  // InvalidArgument when the new value does not make a valid resource.
  virtual Result<Conflict> ResolveConflict(
      const ConflictResolution& resolution) = 0;

  // ---- Audit trail (audit.h) ----
  //
  // Changes get their entries inside their own transactions (Write,
  // WriteBatch, Transfer, ResolveConflict, ApplyChanges,
  // RedeemEnrollmentCode); these record everything else.

  // Appends an event to this node's chain. kCommitted returns after the
  // commit holding it (shared with queued writes); kDeferred returns at once
  // and the entry commits with the next write, when kAuditFlushEntries are
  // waiting, when the oldest has waited kAuditFlushAge (checked at the next
  // append), at FlushAudit, ReadAudit or close. PermissionDenied on a
  // read-only store.
  virtual Status AppendAudit(const AuditEvent& event,
                             AuditDurability durability) = 0;
  // Commits the deferred entries now (OK when there are none).
  virtual Status FlushAudit() = 0;
  // Entries of every chain held here (this node's, and on a hub those
  // received from clinics), in the order stored. InvalidArgument for a
  // limit outside 1..1000.
  virtual Result<AuditPage> ReadAudit(const AuditFilter& filter) = 0;
  // Checks every chain held: seq from 1 without gaps, each prev_hash the
  // hash of the entry before, each hash recomputed.
  virtual Result<AuditVerification> VerifyAudit() = 0;

  // Entries of `node_id`'s chain with seq > after_seq, in seq order, at most
  // `limit` (a clinic's push of its own chain).
  virtual Result<std::vector<AuditEntry>> AuditChainSince(
      const std::string& node_id, int64_t after_seq, size_t limit) = 0;
  // A hub stores entries of another node's chain, in one transaction.
  // Entries at or below the seq held already are skipped (a replay stores
  // nothing). The others must follow it without a gap, in order, and name
  // `node_id` (InvalidArgument naming the seq otherwise; nothing stored).
  // Each is checked against the one before it (prev_hash) and its own hash:
  // the first failure marks the node's chain broken (audit_breaks) and adds
  // a kAuditChainBroken entry to this node's own chain; the entries are
  // stored all the same, as evidence. With no entries: only reports where
  // the chain held here ends.
  // Entries may come short (AuditEntry, "Short form"): a prev_hash left
  // empty is the hash held for seq - 1; a hash of 8 to 63 digits is the
  // beginning of the whole one, which is computed here and stored when it
  // begins so (otherwise the short hash is stored as received, a break).
  // A hash may also be left out, but for the last entry's: the entries up
  // to the next hash given are stored only when the chain computed through
  // them ends on it (AuditReceipt::unverified_seq otherwise).
  // InvalidArgument for another hash size.
  virtual Result<AuditReceipt> StoreReceivedAudit(
      const std::string& node_id, std::span<const AuditEntry> entries) = 0;
  // Where the copy held here of `node_id`'s chain ends, and its first
  // break (AuditReceipt's received_seq and broken): a read.
  virtual Result<AuditReceipt> AuditChainEnd(const std::string& node_id) = 0;
  // The received chains found broken, by node id.
  virtual Result<std::vector<AuditBreak>> ListAuditBreaks() = 0;

  // ---- Enrollment (enrollment.h; used on a hub) ----

  // Conflict when a facility with that id exists; InvalidArgument for a bad
  // id or name.
  virtual Status AddFacility(const FacilityEntry& facility) = 0;
  // By id.
  virtual Result<std::vector<FacilityEntry>> ListFacilities() = 0;
  // NotFound (naming it) when code.facility is not registered; Conflict
  // when the hash is already stored.
  virtual Status AddEnrollmentCode(const EnrollmentCode& code) = 0;
  // In one transaction: checks the code and marks it used by the node, and
  // enrolls the node (or replaces the credential of an enrolled node, which
  // also lifts a revocation). Refusals, each storing nothing:
  //   NotFound           no such code;
  //   Gone               the code expired (the message says when);
  //   Conflict           the code was used already (when, and by which node);
  //   PermissionDenied   redemption.facility is set and is not the code's
  //                      facility, or the node is enrolled for another
  //                      facility (both named).
  virtual Result<EnrolledNode> RedeemEnrollmentCode(
      const Redemption& redemption) = 0;
  // The node holding the credential with this hash; NotFound when none.
  virtual Result<EnrolledNode> FindEnrolledNode(
      const std::string& credential_hash) = 0;
  // NotFound when the node never enrolled.
  virtual Result<EnrolledNode> GetEnrolledNode(const std::string& node_id) = 0;
  // By node id.
  virtual Result<std::vector<EnrolledNode>> ListEnrolledNodes() = 0;
  // Marks the node revoked at now_ms (a node revoked before keeps its first
  // time) and returns it; NotFound when it never enrolled. Its synced data
  // stays.
  virtual Result<EnrolledNode> RevokeEnrolledNode(const std::string& node_id,
                                                  int64_t now_ms) = 0;
  // With `flag` empty: records an authenticated hello (last_seen_ms =
  // now_ms, last_address = `address`). Otherwise flags the node instead
  // (flagged_ms = now_ms, the flag text; `address` unused), leaving when
  // and where it was last seen as they were. NotFound when the node never
  // enrolled.
  virtual Status NoteEnrolledNodeSeen(const std::string& node_id,
                                      int64_t now_ms,
                                      const std::string& address,
                                      const std::string& flag) = 0;

  // ---- Reports (reports.h; kept on a hub) ----

  // One row per registered facility in scope, by id. On a clinic: no
  // facilities, so no rows.
  virtual Result<FreshnessReport> ReportFreshness(
      const ReportScope& scope) = 0;
  // Counts per facility and period over the query's range. InvalidArgument
  // (naming the field) for a date that does not parse, `to` before `from`,
  // or a range over 3660 days.
  virtual Result<ActivityReport> ReportActivity(const ActivityQuery& query) = 0;
  // Records what a clinic said at hello (replacing what it said before;
  // when it last completed a sync is kept).
  virtual Status NoteNodeReport(const NodeReport& report) = 0;
  // Records that the node completed a sync at `now_ms`.
  virtual Status NoteSyncCompleted(const std::string& node_id,
                                   const std::string& facility,
                                   int64_t now_ms) = 0;

  // ---- Users and sessions (users.h) ----

  // InvalidArgument for a bad name, role or empty hash; Conflict when a
  // user of that name exists.
  virtual Status AddUser(const UserEntry& user) = 0;
  // NotFound when there is no such user.
  virtual Result<UserEntry> GetUser(const std::string& name) = 0;
  // By name.
  virtual Result<std::vector<UserEntry>> ListUsers() = 0;
  // Replaces the password hash and ends the user's sessions, in one
  // transaction. NotFound when there is no such user.
  virtual Status SetUserPassword(const std::string& name,
                                 const std::string& password_hash,
                                 int64_t now_ms) = 0;
  // Marks the user disabled and ends its sessions, in one transaction;
  // returns how many sessions ended. NotFound when there is no such user.
  virtual Result<int64_t> DisableUser(const std::string& name,
                                      int64_t now_ms) = 0;
  // Stores a new session and drops the sessions whose absolute end is
  // before session.created_ms. NotFound when the user does not exist.
  virtual Status AddSession(const SessionEntry& session) = 0;
  // NotFound when no session has this token hash.
  virtual Result<SessionEntry> GetSession(const std::string& token_hash) = 0;
  // Sets last_used_ms; NotFound when the session is gone.
  virtual Status TouchSession(const std::string& token_hash,
                              int64_t now_ms) = 0;
  // Ends a session; NotFound when there was none.
  virtual Status DeleteSession(const std::string& token_hash) = 0;

  // PRAGMA quick_check; Corruption with SQLite's first complaint on failure,
  // or IOError when a page could not be read (a disk error, no proof of
  // damage).
  virtual Status CheckIntegrity() = 0;

  // A consistent copy of the live database at `dest_path` (SQLite online
  // backup; writers are not blocked for long). Written beside the target
  // and renamed into place after PRAGMA integrity_check passes on the copy.
  // Refuses to overwrite an existing file.
  virtual Status Backup(const std::string& dest_path,
                        const ProgressFn& progress) = 0;
};

// Opens (and, with create_if_missing, creates) the store: applies pending
// migrations in one transaction, runs PRAGMA quick_check (Corruption, and no
// writes, on failure; IOError when a page could not be read), sets WAL mode
// and the synchronous level.
Result<std::unique_ptr<RecordStore>> OpenRecordStore(
    const StoreOptions& options);

// What a database file says about itself (InspectDatabaseFile).
struct DatabaseFileInfo {
  std::string node_id;
  std::string facility;
  std::string role;
  int schema_version = 0;
};

// Reads a database file without changing it (for `posta restore` and
// `posta doctor`): Malformed when it is not an SQLite database or holds no
// posta meta; VersionMismatch when its schema is newer than this build;
// Corruption with SQLite's first complaint when PRAGMA integrity_check
// fails; IOError when a page could not be read. REQUIRES: no process
// writes the file (SQLite may create its -shm beside it for a WAL
// database).
Result<DatabaseFileInfo> InspectDatabaseFile(const std::string& path);

// Deletes a database file that no process has open, with its -wal, -shm and
// -journal beside it; missing ones are skipped. For copies left by a backup
// or restore that died.
void RemoveDatabaseFiles(const std::string& path);

// Validates a resource body without storing it or resolving references.
// Same statuses as RecordStore::Write. For `posta import --dry-run` and
// fuzzing.
Status ValidateResource(ResourceType type, std::string_view body);

}  // namespace posta::storage
