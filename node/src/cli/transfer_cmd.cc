// posta transfer: moves a patient and its compartment to another facility
// (RecordStore::Transfer), on the hub or on the clinic that owns it. The
// next sync carries the move.
#include <string>

#include "api/handlers.h"
#include "cli/commands.h"

namespace posta::node::cli {

namespace {

// "Patient/<id>" or a bare id: the patient's id.
Result<std::string> PatientId(const std::string& ref) {
  std::string id = ref;
  const size_t slash = ref.find('/');
  if (slash != std::string::npos) {
    if (ref.substr(0, slash) != "Patient") {
      return Status::InvalidArgument(
          "RECORD", "\"" + ref.substr(0, 80) +
                        "\": only a Patient is transferred (its encounters, "
                        "observations and appointments move with it)");
    }
    id = ref.substr(slash + 1);
  }
  if (!base::IsUuid(id)) {
    return Status::InvalidArgument(
        "RECORD", "\"" + ref.substr(0, 80) + "\" is not Patient/<uuid>");
  }
  return id;
}

}  // namespace

Status RunTransfer(const TransferOptions& options, Io& io) {
  // The arguments are checked before the store is opened for writing.
  POSTA_ASSIGN_OR_RETURN(std::string id, PatientId(options.record));
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/false, io.env));
  const storage::AuditActor actor = CliActor();
  POSTA_ASSIGN_OR_RETURN(storage::TransferOutcome outcome,
                         node.store->Transfer(storage::ResourceType::kPatient,
                                              id, options.to, &actor));
  if (options.json) {
    io.out << TransferParametersJson(outcome) << "\n";
    return Status::Ok();
  }
  io.out << "transferred Patient/" << id << " from " << outcome.from_facility
         << " to " << outcome.record.facility << "\n";
  for (storage::ResourceType type : storage::kAllResourceTypes) {
    if (type == storage::ResourceType::kLocation) continue;
    auto it = outcome.moved.find(type);
    std::string name(storage::ResourceTypeName(type));
    name.resize(12, ' ');
    io.out << "  " << name << (it == outcome.moved.end() ? 0 : it->second)
           << "\n";
  }
  io.out << "the next sync carries the move to the hub and to "
         << outcome.record.facility << "\n";
  return Status::Ok();
}

}  // namespace posta::node::cli
