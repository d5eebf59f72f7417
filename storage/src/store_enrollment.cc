// Enrollment: a hub's facilities, one-time enrollment codes and enrolled
// nodes (enrollment.h). Only hashes are stored.
#include "posta/base/hlc.h"
#include "posta/base/random.h"
#include "posta/storage/record.h"
#include "posta/storage/replication.h"
#include "sqlite_store.h"

namespace posta::storage::internal {
namespace {

bool IsHashHex(std::string_view hash) {
  return hash.size() == 64 && base::IsLowerHex(hash);
}

constexpr std::string_view kNodeColumns =
    "SELECT node_id, facility, credential_hash, enrolled_ms, revoked_ms, "
    "last_seen_ms, last_address, flagged_ms, flag, region FROM enrolled_nodes";

EnrolledNode NodeFromRow(const Statement& st) {
  EnrolledNode node;
  node.node_id = st.ColumnText(0);
  node.facility = st.ColumnText(1);
  node.credential_hash = st.ColumnText(2);
  node.enrolled_ms = st.ColumnInt(3);
  node.revoked_ms = st.ColumnInt(4);
  node.last_seen_ms = st.ColumnInt(5);
  node.last_address = st.ColumnText(6);
  node.flagged_ms = st.ColumnInt(7);
  node.flag = st.ColumnText(8);
  node.region = st.ColumnText(9);
  return node;
}

}  // namespace

Result<bool> IsRegisteredFacility(Connection& conn, const std::string& id) {
  POSTA_ASSIGN_OR_RETURN(
      Statement find, conn.Prepare("SELECT 1 FROM facilities WHERE id = ?1"));
  find.BindText(1, id);
  return find.Step();
}

Status SqliteStore::InWriteTransaction(
    const std::function<Status(Connection&)>& body) {
  if (options_.read_only) {
    return Status::PermissionDenied(Where(), "opened read-only");
  }
  std::lock_guard writer_lock(writer_mu_);
  Transaction txn(*writer_, /*immediate=*/true);
  POSTA_RETURN_IF_ERROR(txn.Begin());
  POSTA_RETURN_IF_ERROR(body(*writer_));
  return txn.Commit();
}

Result<std::optional<EnrolledNode>> SqliteStore::FindNodeWhere(
    Connection& conn, std::string_view where, const std::string& value) {
  POSTA_ASSIGN_OR_RETURN(Statement st,
                         conn.Prepare(std::string(kNodeColumns) + " WHERE " +
                                      std::string(where) + " = ?1"));
  st.BindText(1, value);
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<EnrolledNode>();
  return std::optional<EnrolledNode>(NodeFromRow(st));
}

Status SqliteStore::AddFacility(const FacilityEntry& facility) {
  if (!IsValidFacilityId(facility.id)) {
    return Status::InvalidArgument(
        "facility id \"" + facility.id.substr(0, 64) + "\"",
        "use 1 to 64 of A-Z a-z 0-9 . _ -");
  }
  if (facility.name.empty() || facility.name.size() > 200) {
    return Status::InvalidArgument("facility " + facility.id + " name",
                                   "give 1 to 200 bytes");
  }
  if (facility.region.size() > 64) {
    return Status::InvalidArgument("facility " + facility.id + " region",
                                   "at most 64 bytes");
  }
  return InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(bool exists,
                           IsRegisteredFacility(conn, facility.id));
    if (exists) {
      return Status::Conflict("facility " + facility.id,
                              "already registered on this hub");
    }
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("INSERT INTO facilities (id, name, region, created_ms) "
                     "VALUES (?1, ?2, ?3, ?4)"));
    st.BindText(1, facility.id);
    st.BindText(2, facility.name);
    st.BindText(3, facility.region);
    st.BindInt(4, facility.created_ms);
    return st.Run();
  });
}

Result<std::vector<FacilityEntry>> SqliteStore::ListFacilities() {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      Statement st, lease.conn().Prepare("SELECT id, name, region, created_ms "
                                         "FROM facilities ORDER BY id"));
  std::vector<FacilityEntry> out;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    FacilityEntry f;
    f.id = st.ColumnText(0);
    f.name = st.ColumnText(1);
    f.region = st.ColumnText(2);
    f.created_ms = st.ColumnInt(3);
    out.push_back(std::move(f));
  }
  return out;
}

Status SqliteStore::AddEnrollmentCode(const EnrollmentCode& code) {
  if (!IsHashHex(code.code_hash)) {
    return Status::InvalidArgument("enrollment code hash",
                                   "not 64 lowercase hex digits");
  }
  if (code.region.size() > 64) {
    return Status::InvalidArgument("enrollment code region",
                                   "longer than 64 bytes");
  }
  return InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(bool exists,
                           IsRegisteredFacility(conn, code.facility));
    if (!exists) {
      return Status::NotFound(
          "facility " + code.facility.substr(0, 64),
          "not registered on this hub; add it with posta hub facility add");
    }
    POSTA_ASSIGN_OR_RETURN(
        Statement dup,
        conn.Prepare("SELECT 1 FROM enrollment_codes WHERE code_hash = ?1"));
    dup.BindText(1, code.code_hash);
    POSTA_ASSIGN_OR_RETURN(bool used, dup.Step());
    if (used) return Status::Conflict("enrollment code", "already issued");
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("INSERT INTO enrollment_codes (code_hash, facility, "
                     "created_ms, expires_ms, used_ms, used_by, region) "
                     "VALUES (?1, ?2, ?3, ?4, 0, '', ?5)"));
    st.BindText(1, code.code_hash);
    st.BindText(2, code.facility);
    st.BindInt(3, code.created_ms);
    st.BindInt(4, code.expires_ms);
    st.BindText(5, code.region);
    return st.Run();
  });
}

Result<EnrolledNode> SqliteStore::RedeemEnrollmentCode(const Redemption& r) {
  if (!base::IsValidNodeId(r.node_id)) {
    return Status::InvalidArgument("node id", "not a node id");
  }
  if (!IsHashHex(r.credential_hash) || !IsHashHex(r.code_hash)) {
    return Status::InvalidArgument("enrollment", "hash not 64 hex digits");
  }
  EnrolledNode enrolled;
  Status s = InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(
        Statement code,
        conn.Prepare("SELECT facility, expires_ms, used_ms, used_by, region "
                     "FROM enrollment_codes WHERE code_hash = ?1"));
    code.BindText(1, r.code_hash);
    POSTA_ASSIGN_OR_RETURN(bool found, code.Step());
    if (!found) return Status::NotFound("enrollment code", "unknown");
    const std::string facility = code.ColumnText(0);
    const int64_t expires_ms = code.ColumnInt(1);
    const int64_t used_ms = code.ColumnInt(2);
    const std::string used_by = code.ColumnText(3);
    const std::string region = code.ColumnText(4);
    if (used_ms != 0) {
      return Status::Conflict(
          "enrollment code",
          "already used at " + FormatInstant(used_ms) + " by node " + used_by);
    }
    if (r.now_ms >= expires_ms) {
      return Status::Gone("enrollment code",
                          "expired at " + FormatInstant(expires_ms));
    }
    if (!r.facility.empty() && r.facility != facility) {
      return Status::PermissionDenied("enrollment code",
                                      "it is for facility " + facility +
                                          " but this node is configured "
                                          "for facility " +
                                          r.facility);
    }
    POSTA_ASSIGN_OR_RETURN(std::optional<EnrolledNode> existing,
                           FindNodeWhere(conn, "node_id", r.node_id));
    if (existing && existing->facility != facility) {
      return Status::PermissionDenied(
          "node " + r.node_id, "enrolled for facility " + existing->facility +
                                   ", but the code is for facility " +
                                   facility);
    }
    POSTA_ASSIGN_OR_RETURN(
        Statement mark,
        conn.Prepare("UPDATE enrollment_codes SET used_ms = ?2, used_by = ?3 "
                     "WHERE code_hash = ?1"));
    mark.BindText(1, r.code_hash);
    mark.BindInt(2, r.now_ms);
    mark.BindText(3, r.node_id);
    POSTA_RETURN_IF_ERROR(mark.Run());
    enrolled = existing.value_or(EnrolledNode{});
    enrolled.node_id = r.node_id;
    enrolled.facility = facility;
    enrolled.region = region;
    enrolled.credential_hash = r.credential_hash;
    enrolled.enrolled_ms = r.now_ms;
    enrolled.revoked_ms = 0;
    POSTA_ASSIGN_OR_RETURN(
        Statement put,
        conn.Prepare("INSERT OR REPLACE INTO enrolled_nodes (node_id, "
                     "facility, credential_hash, enrolled_ms, revoked_ms, "
                     "last_seen_ms, last_address, flagged_ms, flag, region) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
    put.BindText(1, enrolled.node_id);
    put.BindText(2, enrolled.facility);
    put.BindText(3, enrolled.credential_hash);
    put.BindInt(4, enrolled.enrolled_ms);
    put.BindInt(5, enrolled.revoked_ms);
    put.BindInt(6, enrolled.last_seen_ms);
    put.BindText(7, enrolled.last_address);
    put.BindInt(8, enrolled.flagged_ms);
    put.BindText(9, enrolled.flag);
    put.BindText(10, enrolled.region);
    POSTA_RETURN_IF_ERROR(put.Run());
    AuditEvent event;
    event.who.actor = "node:" + r.node_id;
    event.who.remote_address = r.remote_address;
    event.action = kAuditEnroll;
    event.detail = "enrolled for facility " + facility +
                   (region.empty() ? "" : " as a hub for region " + region);
    return AppendAuditRow(conn, event);
  });
  if (!s.ok()) return s;
  return enrolled;
}

Result<EnrolledNode> SqliteStore::FindEnrolledNode(
    const std::string& credential_hash) {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      std::optional<EnrolledNode> node,
      FindNodeWhere(lease.conn(), "credential_hash", credential_hash));
  if (!node) return Status::NotFound("credential", "not enrolled here");
  return std::move(*node);
}

Result<EnrolledNode> SqliteStore::GetEnrolledNode(const std::string& node_id) {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(std::optional<EnrolledNode> node,
                         FindNodeWhere(lease.conn(), "node_id", node_id));
  if (!node) {
    return Status::NotFound("node " + node_id.substr(0, 64),
                            "never enrolled with this hub");
  }
  return std::move(*node);
}

Result<std::vector<EnrolledNode>> SqliteStore::ListEnrolledNodes() {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      lease.conn().Prepare(std::string(kNodeColumns) + " ORDER BY node_id"));
  std::vector<EnrolledNode> out;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(NodeFromRow(st));
  }
  return out;
}

Result<EnrolledNode> SqliteStore::RevokeEnrolledNode(const std::string& node_id,
                                                     int64_t now_ms) {
  EnrolledNode node;
  Status s = InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(std::optional<EnrolledNode> found,
                           FindNodeWhere(conn, "node_id", node_id));
    if (!found) {
      return Status::NotFound("node " + node_id.substr(0, 64),
                              "never enrolled with this hub (see posta hub "
                              "node list)");
    }
    node = std::move(*found);
    if (node.revoked_ms != 0) return Status::Ok();
    node.revoked_ms = now_ms;
    POSTA_ASSIGN_OR_RETURN(
        Statement st, conn.Prepare("UPDATE enrolled_nodes SET revoked_ms = ?2 "
                                   "WHERE node_id = ?1"));
    st.BindText(1, node_id);
    st.BindInt(2, now_ms);
    return st.Run();
  });
  if (!s.ok()) return s;
  return node;
}

Status SqliteStore::NoteEnrolledNodeSeen(const std::string& node_id,
                                         int64_t now_ms,
                                         const std::string& address,
                                         const std::string& flag) {
  return InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare(flag.empty()
                         ? "UPDATE enrolled_nodes SET last_seen_ms = ?2, "
                           "last_address = ?3 WHERE node_id = ?1"
                         : "UPDATE enrolled_nodes SET flagged_ms = ?2, "
                           "flag = ?3 WHERE node_id = ?1"));
    st.BindText(1, node_id);
    st.BindInt(2, now_ms);
    st.BindText(3, flag.empty() ? address.substr(0, 128) : flag.substr(0, 500));
    POSTA_RETURN_IF_ERROR(st.Run());
    if (sqlite3_changes(conn.db()) == 0) {
      return Status::NotFound("node " + node_id.substr(0, 64),
                              "never enrolled with this hub");
    }
    return Status::Ok();
  });
}

}  // namespace posta::storage::internal
