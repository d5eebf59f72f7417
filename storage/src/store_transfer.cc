// Transfer: moving a patient and its compartment to another facility, and
// the owners a record had (the hub's scope check for pushed versions).
#include <string>
#include <vector>

#include "posta/storage/replication.h"
#include "record_rows.h"
#include "schema.h"
#include "sqlite_store.h"

namespace posta::storage::internal {
namespace {

// The types whose records belong to a patient's compartment, found by their
// "patient" reference parameter in the search index.
constexpr ResourceType kCompartmentTypes[] = {ResourceType::kEncounter,
                                              ResourceType::kObservation,
                                              ResourceType::kAppointment};

}  // namespace

Result<TransferOutcome> SqliteStore::Transfer(ResourceType type,
                                              const std::string& id,
                                              const std::string& to_facility,
                                              const AuditActor* actor) {
  const std::string name = RecordName(type, id);
  if (options_.read_only) {
    return Status::PermissionDenied(Where(), "opened read-only");
  }
  if (type != ResourceType::kPatient) {
    return Status::InvalidArgument(
        name,
        "only a Patient is transferred (its encounters, observations "
        "and appointments move with it)");
  }
  if (to_facility == kSharedFacility) {
    return Status::InvalidArgument(
        "facility",
        "\"*\" is the owner of shared reference data; name a "
        "facility id");
  }
  if (!IsValidFacilityId(to_facility)) {
    return Status::InvalidArgument(
        "facility", "\"" + to_facility.substr(0, 64) +
                        "\" is not a facility id (1 to 64 of A-Z a-z 0-9 . _ "
                        "-)");
  }
  POSTA_RETURN_IF_ERROR(CheckWriteSpace());

  std::lock_guard writer_lock(writer_mu_);
  Transaction txn(*writer_, /*immediate=*/true);
  POSTA_RETURN_IF_ERROR(txn.Begin());
  POSTA_RETURN_IF_ERROR(ObservePersistedClock());
  POSTA_ASSIGN_OR_RETURN(std::optional<StoredRecord> patient,
                         FindCurrent(type, id));
  if (!patient) return Status::NotFound(name);
  const std::string from = patient->record.facility;
  if (patient->record.deleted) return Status::Gone(name, "was deleted");
  if (from == kSharedFacility) {
    return Status::PermissionDenied(
        name, "shared reference data: it has no owner to change");
  }
  if (role_ != "hub" && from != facility_) {
    return Status::PermissionDenied(name, "is owned by facility " + from +
                                              "; only the hub or " + from +
                                              " can transfer it");
  }
  if (from == to_facility) {
    return Status::InvalidArgument(
        "facility", name + " already belongs to facility " + to_facility);
  }
  if (role_ == "hub" && to_facility != facility_) {
    // The hub knows its facilities (`posta hub facility add`): a mistyped
    // id would move the patient where no clinic receives it.
    POSTA_ASSIGN_OR_RETURN(bool registered,
                           IsRegisteredFacility(*writer_, to_facility));
    if (!registered) {
      return Status::InvalidArgument(
          "facility", "\"" + to_facility +
                          "\" is not a facility registered on this hub (see "
                          "posta hub facility list; register it with posta "
                          "hub facility add)");
    }
  }

  // The compartment: live records whose patient reference names it (the
  // index holds live records only), owned where the patient is. Anything
  // else stays with its owner.
  std::vector<StoredRecord> moving;
  moving.push_back(std::move(*patient));
  for (ResourceType member : kCompartmentTypes) {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        writer_->Prepare("SELECT rid FROM search_keys WHERE key = ?1 AND "
                         "value = ?2 ORDER BY rid"));
    st.BindInt(1, SearchKeyCodeOf(member, "patient"));
    st.BindText(2, id);
    std::vector<int64_t> rids;
    while (true) {
      POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      rids.push_back(st.ColumnInt(0));
    }
    for (int64_t rid : rids) {
      POSTA_ASSIGN_OR_RETURN(
          Statement read,
          writer_->Prepare("SELECT " + std::string(kRecordColumns) + " FROM " +
                           std::string(kCurrentRecords) + " WHERE r.rid = ?1"));
      read.BindInt(1, rid);
      POSTA_ASSIGN_OR_RETURN(bool row, read.Step());
      if (!row) return Status::Corruption(name, "index names a missing row");
      POSTA_ASSIGN_OR_RETURN(Record record, RecordFromRow(read));
      if (record.deleted || record.facility != from) continue;
      moving.push_back(StoredRecord{rid, std::move(record)});
    }
  }

  TransferOutcome out;
  out.from_facility = from;
  const std::string owner_field(kFacilityField);
  for (const StoredRecord& stored : moving) {
    const Record& current = stored.record;
    Record next = current;
    next.facility = to_facility;
    next.version = hlc_->Now();
    next.last_updated_ms = next.version.wall_ms;
    StampMap bases;
    SetStamp(next.field_stamps, owner_field, next.version, &bases);
    POSTA_ASSIGN_OR_RETURN(std::vector<std::string> content_keys,
                           ContentKeys(current.content));
    // Same content: the search index stays as it is.
    POSTA_RETURN_IF_ERROR(
        StoreVersion(stored.rid, current.deleted, next, bases, content_keys,
                     nullptr, nullptr, from)
            .status()
            .WithContext(RecordName(current.type, current.id)));
    AuditEvent event;
    if (actor != nullptr) event.who = *actor;
    event.action = kAuditTransfer;
    event.resource = RecordName(current.type, current.id);
    event.version = next.version.ToString();
    event.detail = "from " + from + " to " + to_facility;
    POSTA_RETURN_IF_ERROR(AppendAuditRow(*writer_, event));
    ++out.moved[current.type];
    if (current.type == type && current.id == id) out.record = std::move(next);
  }
  POSTA_RETURN_IF_ERROR(WriteMeta(*writer_, kMetaHlc, hlc_->Last().ToString()));
  POSTA_RETURN_IF_ERROR(txn.Commit());
  return out;
}

Result<std::vector<std::vector<std::string>>> SqliteStore::PastOwners(
    std::span<const RecordKey> records) {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  Connection& conn = lease.conn();
  Transaction snapshot(conn, /*immediate=*/false);
  POSTA_RETURN_IF_ERROR(snapshot.Begin());
  std::vector<std::vector<std::string>> out(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    // The record first: a hub asks this for every version pushed to it,
    // most of them new, and the records index alone answers those.
    POSTA_ASSIGN_OR_RETURN(
        Statement find,
        conn.Prepare("SELECT rid FROM records WHERE type = ?1 AND id = ?2"));
    find.BindText(1, ResourceTypeName(records[i].type));
    find.BindText(2, records[i].id);
    POSTA_ASSIGN_OR_RETURN(bool found, find.Step());
    if (!found) continue;
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("SELECT DISTINCT facility FROM versions WHERE rid = ?1 "
                     "ORDER BY facility"));
    st.BindInt(1, find.ColumnInt(0));
    while (true) {
      POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out[i].push_back(st.ColumnText(0));
    }
  }
  POSTA_RETURN_IF_ERROR(snapshot.Commit());
  return out;
}

}  // namespace posta::storage::internal
