// The audit trail: who did what to which record, when and from where, as a
// hash chain per node. docs/storage-format.md ("audit_log") specifies the
// table and the hash; docs/api.md ("Audit") the API that reads it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "posta/base/status.h"

namespace posta::storage {

// Who is behind a change or an event. `actor` is a user name, "node:<id>"
// for a peer's sync, or "cli:<os user>" for the command line.
struct AuditActor {
  std::string actor;
  std::string role;            // the user's role; "" for nodes and the CLI
  std::string remote_address;  // "" for the command line
};

// The actor of changes made without one (WriteOp::actor left null).
inline constexpr std::string_view kUnattributedActor = "-";

// The prev_hash of a chain's first entry: 64 zeros.
std::string AuditGenesisHash();

// Action names used by the store itself; callers use these and their own
// ("read", "search", "login", "login_failed", "logout", "denied", ...).
inline constexpr std::string_view kAuditCreate = "create";
inline constexpr std::string_view kAuditUpdate = "update";
inline constexpr std::string_view kAuditDelete = "delete";
inline constexpr std::string_view kAuditTransfer = "transfer";
inline constexpr std::string_view kAuditResolve = "resolve";
inline constexpr std::string_view kAuditEnroll = "enroll";
inline constexpr std::string_view kAuditSyncApply = "sync_apply";
inline constexpr std::string_view kAuditChainBroken = "chain_broken";
inline constexpr std::string_view kAuditFlagged = "flagged";

struct AuditEntry {
  // The chain's position, from 1 up without gaps on the node that wrote it.
  int64_t seq = 0;
  int64_t at_ms = 0;     // wall clock of the event
  std::string node_id;   // the node whose chain holds the entry
  std::string facility;  // that node's facility
  std::string actor;
  std::string role;
  std::string remote_address;
  std::string action;
  std::string resource;   // "Patient/<id>", a path, or ""
  std::string version;    // the version a change made, or ""
  std::string outcome;    // "ok", "denied", "failed"
  std::string detail;     // free text, bounded; never a secret
  std::string prev_hash;  // the hash of seq - 1, or AuditGenesisHash()
  std::string hash;       // AuditEntryHash of this entry
};

// Short form, for sending a chain to a hub that holds its beginning: a
// prev_hash left empty means "the hash of the entry before", and a hash may
// be cut to its first kAuditShortHashDigits (the receiver computes the
// whole one, and checks that it begins so). ShortenAuditChain leaves whole
// the first entry's prev_hash (the link to what the receiver holds), any
// prev_hash that is not the hash of the entry before it (a relinked chain
// stays visible), and the last entry's hash (so that the receiver's copy
// ends on the sender's whole hash).
// With `hash_digits` 0 every hash but the last is left out: the receiver
// computes them, and the last one checks the chain through all of them
// (RecordStore::StoreReceivedAudit).
inline constexpr size_t kAuditShortHashDigits = 8;
void ShortenAuditChain(std::vector<AuditEntry>& entries,
                       size_t hash_digits = kAuditShortHashDigits);

// SHA-256 (hex) over prev_hash and every other field but `hash`, each
// length-prefixed (docs/storage-format.md has the order).
Result<std::string> AuditEntryHash(const AuditEntry& entry);

// An event to record. The store fills seq, node, facility, prev_hash and
// hash; `at_ms` 0 takes the store's clock.
struct AuditEvent {
  int64_t at_ms = 0;
  AuditActor who;
  std::string action;
  std::string resource;
  std::string version;
  std::string outcome = "ok";
  std::string detail;
};

// How AppendAudit waits.
enum class AuditDurability {
  // Returns after the commit that holds the entry (shared with whatever
  // writes are queued at the time): logins, denials.
  kCommitted,
  // Returns at once; the entry joins the next write's commit, or a commit
  // of pending entries once enough are waiting or the oldest has waited
  // long enough (RecordStore::AppendAudit). Reads: a crash may lose the
  // entries not yet committed, never a change's entry.
  kDeferred,
};

// When deferred entries commit without a write to carry them: this many
// waiting, or the oldest waiting this long (checked at the next append).
inline constexpr size_t kAuditFlushEntries = 64;
inline constexpr std::chrono::milliseconds kAuditFlushAge{1000};

struct AuditFilter {
  std::optional<int64_t> since_ms;  // at_ms >= since
  std::optional<int64_t> until_ms;  // at_ms < until
  std::string actor;                // exact, "" for any
  std::string action;               // exact, "" for any
  std::string resource;  // exact "Type/id", or "Type" for every record of it
  std::vector<std::string> facilities;  // any of them; empty for any
  std::string node_id;                  // exact, "" for any
  // Entries after this position of the previous page; 0 for the first.
  int64_t after_cursor = 0;
  size_t limit = 100;  // 1..1000
};

struct AuditPage {
  std::vector<AuditEntry> entries;  // oldest first (in the order stored)
  int64_t next_cursor = 0;          // 0 on the last page
};

// The first place a chain does not hold.
struct AuditBreak {
  std::string node_id;
  int64_t seq = 0;
  std::string why;
};

// What a hub did with entries of a node's chain it received
// (RecordStore::StoreReceivedAudit).
struct AuditReceipt {
  int64_t received_seq = 0;  // the highest seq of the node's chain held here
  int64_t stored = 0;        // entries new here
  // The node's chain is broken here: the first break found, now or before.
  std::optional<AuditBreak> broken;
  bool newly_broken = false;  // found by this call
  // Entries from this seq on were not stored: their hashes were left out,
  // and the chain computed through them did not hold (it did not end on
  // the next hash given, or a prev_hash named another entry). The sender
  // sends them again with their hashes, which shows where the chain
  // breaks. 0 when none.
  int64_t unverified_seq = 0;
};

struct AuditVerification {
  int64_t chains = 0;              // nodes whose entries are held
  int64_t entries = 0;             // entries checked
  std::vector<AuditBreak> breaks;  // at most one per chain: its first
};

}  // namespace posta::storage
