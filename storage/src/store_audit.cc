// The audit trail: entries appended inside the write transaction of the
// change they describe, standalone events through the group-commit queue,
// reads with filters, and the chain check (docs/storage-format.md,
// "audit_log").
#include <algorithm>
#include <string>
#include <vector>

#include "hasher.h"
#include "posta/storage/audit.h"
#include "sqlite_store.h"

namespace posta::storage {

std::string AuditGenesisHash() { return std::string(64, '0'); }

Result<std::string> AuditEntryHash(const AuditEntry& e) {
  internal::Hasher h;
  h.Field(e.prev_hash);
  h.Field(e.node_id);
  h.Field(std::to_string(e.seq));
  h.Field(std::to_string(e.at_ms));
  h.Field(e.facility);
  h.Field(e.actor);
  h.Field(e.role);
  h.Field(e.remote_address);
  h.Field(e.action);
  h.Field(e.resource);
  h.Field(e.version);
  h.Field(e.outcome);
  h.Field(e.detail);
  return h.Hex();
}

void ShortenAuditChain(std::vector<AuditEntry>& entries, size_t hash_digits) {
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].prev_hash == entries[i - 1].hash) {
      entries[i].prev_hash.clear();
    }
  }
  // Only after every prev_hash was compared with a whole hash.
  for (size_t i = 0; i + 1 < entries.size(); ++i) {
    if (entries[i].hash.size() > hash_digits) {
      entries[i].hash.resize(hash_digits);
    }
  }
}

namespace internal {
namespace {

// Bounds on what one entry stores: the text comes partly from outside (a
// user name tried at login, a search query), so it is cut, at a UTF-8
// character boundary.
constexpr size_t kMaxShortField = 256;
constexpr size_t kMaxDetail = 1024;

std::string Bounded(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return std::string(text.substr(0, cut)) + "...";
}

constexpr std::string_view kAuditColumns =
    "pos, node_id, seq, at_ms, facility, actor, role, remote_address, action, "
    "resource, version, outcome, detail, prev_hash, hash";

AuditEntry EntryFromRow(const Statement& st) {
  AuditEntry e;
  e.node_id = st.ColumnText(1);
  e.seq = st.ColumnInt(2);
  e.at_ms = st.ColumnInt(3);
  e.facility = st.ColumnText(4);
  e.actor = st.ColumnText(5);
  e.role = st.ColumnText(6);
  e.remote_address = st.ColumnText(7);
  e.action = st.ColumnText(8);
  e.resource = st.ColumnText(9);
  e.version = st.ColumnText(10);
  e.outcome = st.ColumnText(11);
  e.detail = st.ColumnText(12);
  e.prev_hash = st.ColumnText(13);
  e.hash = st.ColumnText(14);
  return e;
}

// The last entry held of `node_id`'s chain: its seq and hash (0 and the
// genesis hash when none is held).
Status ReadChainTail(Connection& conn, const std::string& node_id,
                     int64_t& seq, std::string& hash) {
  seq = 0;
  hash = AuditGenesisHash();
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      conn.Prepare("SELECT seq, hash FROM audit_log WHERE node_id = ?1 "
                   "ORDER BY seq DESC LIMIT 1"));
  st.BindText(1, node_id);
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (row) {
    seq = st.ColumnInt(0);
    hash = st.ColumnText(1);
  }
  return Status::Ok();
}

// Where the chain of `node_id` held here ends (ReadChainTail), and its
// first break.
Status ReadChainEnd(Connection& conn, const std::string& node_id,
                    AuditReceipt& receipt, std::string& tail_hash) {
  POSTA_RETURN_IF_ERROR(
      ReadChainTail(conn, node_id, receipt.received_seq, tail_hash));
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      conn.Prepare("SELECT seq, why FROM audit_breaks WHERE node_id = ?1"));
  st.BindText(1, node_id);
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (row) {
    receipt.broken = AuditBreak{node_id, st.ColumnInt(0), st.ColumnText(1)};
  }
  return Status::Ok();
}

}  // namespace

Status InsertAuditEntry(Connection& conn, const AuditEntry& e) {
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      conn.Prepare("INSERT INTO audit_log (node_id, seq, at_ms, facility, "
                   "actor, role, remote_address, action, resource, version, "
                   "outcome, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, "
                   "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"));
  st.BindTextRef(1, e.node_id);
  st.BindInt(2, e.seq);
  st.BindInt(3, e.at_ms);
  st.BindTextRef(4, e.facility);
  st.BindTextRef(5, e.actor);
  st.BindTextRef(6, e.role);
  st.BindTextRef(7, e.remote_address);
  st.BindTextRef(8, e.action);
  st.BindTextRef(9, e.resource);
  st.BindTextRef(10, e.version);
  st.BindTextRef(11, e.outcome);
  st.BindTextRef(12, e.detail);
  st.BindTextRef(13, e.prev_hash);
  st.BindTextRef(14, e.hash);
  return st.Run();
}

Status SqliteStore::AppendAuditRow(Connection& conn, const AuditEvent& event) {
  // The chain's tail is read in the transaction that extends it, so two
  // processes writing one file (serve and a CLI command) still make one
  // chain: the write lock orders them.
  AuditEntry e;
  e.node_id = node_id_;
  e.facility = facility_;
  int64_t tail_seq = 0;
  POSTA_RETURN_IF_ERROR(ReadChainTail(conn, node_id_, tail_seq, e.prev_hash));
  e.seq = tail_seq + 1;
  e.at_ms = event.at_ms != 0 ? event.at_ms : clock_->WallNowMillis();
  e.actor = event.who.actor.empty() ? std::string(kUnattributedActor)
                                    : Bounded(event.who.actor, kMaxShortField);
  e.role = Bounded(event.who.role, kMaxShortField);
  e.remote_address = Bounded(event.who.remote_address, kMaxShortField);
  e.action = Bounded(event.action, kMaxShortField);
  e.resource = Bounded(event.resource, kMaxShortField);
  e.version = Bounded(event.version, kMaxShortField);
  e.outcome = Bounded(event.outcome, kMaxShortField);
  e.detail = Bounded(event.detail, kMaxDetail);
  POSTA_ASSIGN_OR_RETURN(e.hash, AuditEntryHash(e));
  return InsertAuditEntry(conn, e);
}

Status SqliteStore::AppendAudit(const AuditEvent& event,
                                AuditDurability durability) {
  if (options_.read_only) {
    return Status::PermissionDenied(Where(), "opened read-only");
  }
  AuditEvent stamped = event;
  if (stamped.at_ms == 0) stamped.at_ms = clock_->WallNowMillis();
  if (durability == AuditDurability::kCommitted) {
    PreparedOp op;
    op.event = std::move(stamped);
    std::vector<PreparedOp> ops;
    ops.push_back(std::move(op));
    POSTA_ASSIGN_OR_RETURN(std::vector<WriteOutcome> out,
                           RunPrepared(std::move(ops)));
    return out.front().status;
  }
  bool flush = false;
  {
    std::lock_guard lock(audit_mu_);
    const auto now = clock_->MonotonicNow();
    if (audit_pending_.empty()) audit_oldest_ = now;
    audit_pending_.push_back(std::move(stamped));
    flush = audit_pending_.size() >= kAuditFlushEntries ||
            now - audit_oldest_ >= kAuditFlushAge;
  }
  return flush ? FlushAudit() : Status::Ok();
}

Status SqliteStore::FlushAudit() {
  if (options_.read_only) return Status::Ok();
  {
    std::lock_guard lock(audit_mu_);
    if (audit_pending_.empty()) return Status::Ok();
  }
  // An op with nothing to do: its commit carries the pending entries.
  std::vector<PreparedOp> ops(1);
  POSTA_ASSIGN_OR_RETURN(std::vector<WriteOutcome> out,
                         RunPrepared(std::move(ops)));
  return out.front().status;
}

std::vector<AuditEvent> SqliteStore::TakePendingAudit() {
  std::lock_guard lock(audit_mu_);
  std::vector<AuditEvent> out = std::move(audit_pending_);
  audit_pending_.clear();
  return out;
}

void SqliteStore::RequeuePendingAudit(std::vector<AuditEvent> events) {
  if (events.empty()) return;
  std::lock_guard lock(audit_mu_);
  events.insert(events.end(), std::make_move_iterator(audit_pending_.begin()),
                std::make_move_iterator(audit_pending_.end()));
  audit_pending_ = std::move(events);
}

Result<AuditPage> SqliteStore::ReadAudit(const AuditFilter& filter) {
  if (filter.limit < 1 || filter.limit > 1000) {
    return Status::InvalidArgument("audit limit", "must be 1 to 1000");
  }
  // The caller's own reads show at once.
  POSTA_RETURN_IF_ERROR(FlushAudit());
  std::string sql =
      "SELECT " + std::string(kAuditColumns) + " FROM audit_log WHERE pos > ?1";
  int next = 2;
  std::vector<std::pair<int, std::string>> texts;
  std::vector<std::pair<int, int64_t>> ints;
  auto text = [&](std::string_view clause, const std::string& value) {
    sql += " AND " + std::string(clause) + " ?" + std::to_string(next);
    texts.emplace_back(next++, value);
  };
  if (filter.since_ms) {
    sql += " AND at_ms >= ?" + std::to_string(next);
    ints.emplace_back(next++, *filter.since_ms);
  }
  if (filter.until_ms) {
    sql += " AND at_ms < ?" + std::to_string(next);
    ints.emplace_back(next++, *filter.until_ms);
  }
  if (!filter.actor.empty()) text("actor =", filter.actor);
  if (!filter.action.empty()) text("action =", filter.action);
  if (!filter.node_id.empty()) text("node_id =", filter.node_id);
  if (!filter.resource.empty()) {
    if (filter.resource.find('/') != std::string::npos) {
      text("resource =", filter.resource);
    } else {
      // Every record of a type: "Type/" up to "Type0" ('0' follows '/').
      text("resource >", filter.resource + "/");
      text("resource <", filter.resource + "0");
    }
  }
  if (!filter.facilities.empty()) {
    sql += " AND facility IN (";
    for (size_t i = 0; i < filter.facilities.size(); ++i) {
      if (i > 0) sql += ", ";
      sql += "?" + std::to_string(next);
      texts.emplace_back(next++, filter.facilities[i]);
    }
    sql += ")";
  }
  sql += " ORDER BY pos LIMIT ?" + std::to_string(next);
  ints.emplace_back(next++, static_cast<int64_t>(filter.limit) + 1);

  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(Statement st, lease.conn().Prepare(sql));
  st.BindInt(1, filter.after_cursor);
  for (const auto& [i, v] : texts) st.BindText(i, v);
  for (const auto& [i, v] : ints) st.BindInt(i, v);
  AuditPage page;
  int64_t last_pos = 0;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (page.entries.size() == filter.limit) {
      page.next_cursor = last_pos;
      break;
    }
    last_pos = st.ColumnInt(0);
    page.entries.push_back(EntryFromRow(st));
  }
  return page;
}

Result<AuditVerification> SqliteStore::VerifyAudit() {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      lease.conn().Prepare("SELECT " + std::string(kAuditColumns) +
                           " FROM audit_log ORDER BY node_id, seq"));
  AuditVerification out;
  std::string node;
  std::string prev_hash;
  int64_t prev_seq = 0;
  bool broken = false;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    AuditEntry e = EntryFromRow(st);
    ++out.entries;
    if (out.chains == 0 || e.node_id != node) {
      ++out.chains;
      node = e.node_id;
      prev_hash = AuditGenesisHash();
      prev_seq = 0;
      broken = false;
    }
    if (broken) continue;  // one break per chain: its first
    std::string why;
    if (e.seq != prev_seq + 1) {
      why = "seq " + std::to_string(e.seq) + " follows " +
            std::to_string(prev_seq) + " (entries missing)";
    } else if (e.prev_hash != prev_hash) {
      why = "prev_hash is not the hash of seq " + std::to_string(prev_seq);
    } else {
      POSTA_ASSIGN_OR_RETURN(std::string hash, AuditEntryHash(e));
      if (hash != e.hash) why = "hash does not match the entry's content";
    }
    if (!why.empty()) {
      out.breaks.push_back(AuditBreak{node, e.seq, why});
      broken = true;
      continue;
    }
    prev_seq = e.seq;
    prev_hash = e.hash;
  }
  return out;
}

Result<std::vector<AuditEntry>> SqliteStore::AuditChainSince(
    const std::string& node_id, int64_t after_seq, size_t limit) {
  // Deferred entries first, so a push carries them.
  POSTA_RETURN_IF_ERROR(FlushAudit());
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      lease.conn().Prepare("SELECT " + std::string(kAuditColumns) +
                           " FROM audit_log WHERE node_id = ?1 AND seq > ?2 "
                           "ORDER BY seq LIMIT ?3"));
  st.BindText(1, node_id);
  st.BindInt(2, after_seq);
  st.BindInt(3, static_cast<int64_t>(limit));
  std::vector<AuditEntry> out;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(EntryFromRow(st));
  }
  return out;
}

Result<AuditReceipt> SqliteStore::StoreReceivedAudit(
    const std::string& node_id, std::span<const AuditEntry> entries) {
  AuditReceipt receipt;
  POSTA_RETURN_IF_ERROR(InWriteTransaction([&](Connection& conn) {
    return StoreReceivedAuditIn(conn, node_id, entries, receipt);
  }));
  return receipt;
}

Status SqliteStore::StoreReceivedAuditIn(Connection& conn,
                                         const std::string& node_id,
                                         std::span<const AuditEntry> entries,
                                         AuditReceipt& receipt) {
  if (node_id == node_id_) {
    return Status::InvalidArgument("audit chain of node " + node_id,
                                   "is this node's own");
  }
  std::string tail_hash;
  POSTA_RETURN_IF_ERROR(ReadChainEnd(conn, node_id, receipt, tail_hash));
  // Entries whose hash came empty wait for the next entry that has one:
  // the chain computed through them must end on it. When it does not,
  // the fault lies somewhere in the run, so none of it is stored and the
  // receipt says where it starts: the sender sends it again with hashes.
  std::vector<AuditEntry> run;
  int64_t last_seq = receipt.received_seq;
  for (size_t i = 0; i < entries.size(); ++i) {
    const AuditEntry& e = entries[i];
    const std::string where =
        "audit entry " + node_id + ":" + std::to_string(e.seq);
    if (e.node_id != node_id) {
      return Status::InvalidArgument(where,
                                     "names node " + e.node_id.substr(0, 64));
    }
    if (e.seq <= last_seq) continue;  // a replay
    if (e.seq != last_seq + 1) {
      return Status::InvalidArgument(
          where, "does not follow seq " + std::to_string(last_seq) +
                     " held here");
    }
    if (e.hash.empty() ? i + 1 == entries.size()
                       : e.hash.size() < kAuditShortHashDigits ||
                             e.hash.size() > 64) {
      return Status::InvalidArgument(
          where, "hash of " + std::to_string(e.hash.size()) +
                     " digits; whole is 64, short at least " +
                     std::to_string(kAuditShortHashDigits) +
                     ", and only an entry before the last may leave it out");
    }
    // Security: the chain is checked as it arrives; the first break is
    // flagged and kept, never silently accepted. A short entry is stored
    // whole: its prev_hash the tail held, its hash the one computed when
    // the short one is its beginning.
    AuditEntry whole = e;
    if (whole.prev_hash.empty()) whole.prev_hash = tail_hash;
    std::string why;
    if (whole.prev_hash != tail_hash) {
      why = "prev_hash is not the hash of seq " + std::to_string(last_seq) +
            " received before";
    } else {
      POSTA_ASSIGN_OR_RETURN(std::string hash, AuditEntryHash(whole));
      if (hash.compare(0, e.hash.size(), e.hash) != 0) {
        why = "hash does not match the entry's content";
      } else {
        whole.hash = std::move(hash);
      }
    }
    // An entry whose hash was left out, or one after such entries, is
    // never judged here: its hash (whole when it could not be computed)
    // would lead the chain on.
    if (!why.empty() && (!run.empty() || e.hash.empty())) {
      receipt.unverified_seq = run.empty() ? e.seq : run.front().seq;
      break;
    }
    if (!why.empty() && !receipt.broken) {
      receipt.broken = AuditBreak{node_id, e.seq, why};
      receipt.newly_broken = true;
      POSTA_ASSIGN_OR_RETURN(
          Statement st,
          conn.Prepare("INSERT INTO audit_breaks (node_id, seq, why, "
                       "found_ms) VALUES (?1, ?2, ?3, ?4)"));
      st.BindText(1, node_id);
      st.BindInt(2, e.seq);
      st.BindText(3, why);
      st.BindInt(4, clock_->WallNowMillis());
      POSTA_RETURN_IF_ERROR(st.Run());
      AuditEvent event;
      event.who.actor = "node:" + node_id;
      event.action = kAuditChainBroken;
      event.outcome = "denied";
      event.resource = "audit/" + node_id;
      event.detail = "seq " + std::to_string(e.seq) + ": " + why;
      POSTA_RETURN_IF_ERROR(AppendAuditRow(conn, event));
    }
    last_seq = whole.seq;
    tail_hash = whole.hash;
    run.push_back(std::move(whole));
    if (e.hash.empty()) continue;
    for (const AuditEntry& checked : run) {
      POSTA_RETURN_IF_ERROR(InsertAuditEntry(conn, checked));
      ++receipt.stored;
    }
    receipt.received_seq = last_seq;
    run.clear();
  }
  return Status::Ok();
}

Result<AuditReceipt> SqliteStore::AuditChainEnd(const std::string& node_id) {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  // The chain's end and its break, as of one moment.
  Transaction snapshot(lease.conn(), /*immediate=*/false);
  POSTA_RETURN_IF_ERROR(snapshot.Begin());
  AuditReceipt receipt;
  std::string tail_hash;
  POSTA_RETURN_IF_ERROR(
      ReadChainEnd(lease.conn(), node_id, receipt, tail_hash));
  return receipt;
}

Result<std::vector<AuditBreak>> SqliteStore::ListAuditBreaks() {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(Statement st,
                         lease.conn().Prepare("SELECT node_id, seq, why FROM "
                                              "audit_breaks ORDER BY node_id"));
  std::vector<AuditBreak> out;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(
        AuditBreak{st.ColumnText(0), st.ColumnInt(1), st.ColumnText(2)});
  }
  return out;
}

}  // namespace internal
}  // namespace posta::storage
