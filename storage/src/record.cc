#include "posta/storage/record.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "posta/storage/record_store.h"
#include "resources/resources.h"

namespace posta::storage {

std::string_view ResourceTypeName(ResourceType type) {
  switch (type) {
    case ResourceType::kPatient:
      return "Patient";
    case ResourceType::kEncounter:
      return "Encounter";
    case ResourceType::kObservation:
      return "Observation";
    case ResourceType::kAppointment:
      return "Appointment";
    case ResourceType::kLocation:
      return "Location";
  }
  return "Unknown";
}

std::optional<ResourceType> ParseResourceType(std::string_view name) {
  for (ResourceType type : kAllResourceTypes) {
    if (ResourceTypeName(type) == name) return type;
  }
  return std::nullopt;
}

std::string RecordName(ResourceType type, std::string_view id) {
  std::string out(ResourceTypeName(type));
  out.push_back('/');
  out.append(id);
  return out;
}

std::string FormatInstant(int64_t millis) {
  using namespace std::chrono;
  sys_time<milliseconds> t{milliseconds(millis)};
  sys_days day = floor<days>(t);
  year_month_day ymd{day};
  auto in_day = t - day;  // 0 <= in_day < 24h, also before 1970
  int64_t ms = in_day.count();
  char buf[48];
  std::snprintf(
      buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
      static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
      static_cast<unsigned>(ymd.day()), static_cast<long long>(ms / 3600000),
      static_cast<long long>(ms / 60000 % 60),
      static_cast<long long>(ms / 1000 % 60),
      static_cast<long long>(ms % 1000));
  return buf;
}

std::string RenderResource(const Record& record) {
  nlohmann::json meta = {
      {"versionId", record.version.ToString()},
      {"lastUpdated", FormatInstant(record.last_updated_ms)},
      {"tag", nlohmann::json::array({{{"system", kFacilityTagSystem},
                                      {"code", record.facility}}})},
  };
  // Built by hand so resourceType, id and meta come first, as FHIR servers
  // write them; nlohmann's objects would sort the keys.
  std::string out = "{\"resourceType\":";
  out.append(nlohmann::json(ResourceTypeName(record.type)).dump());
  out.append(",\"id\":");
  out.append(nlohmann::json(record.id).dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace));
  out.append(",\"meta\":");
  out.append(
      meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  // content is a compact JSON object written by the store: splice its
  // members in after meta.
  std::string_view content = record.content;
  while (!content.empty() &&
         (content.front() == ' ' || content.front() == '\n'))
    content.remove_prefix(1);
  while (!content.empty() && (content.back() == ' ' || content.back() == '\n'))
    content.remove_suffix(1);
  if (content.size() > 2 && content.front() == '{' && content.back() == '}') {
    out.push_back(',');
    out.append(content.substr(1));
  } else {
    out.push_back('}');
  }
  return out;
}

std::unique_ptr<PreparedWrites> RecordStore::PrepareWrites(
    std::span<const WriteOp> ops) {
  return std::make_unique<PreparedWrites>(ops);
}

Result<std::vector<WriteOutcome>> RecordStore::WritePrepared(
    std::unique_ptr<PreparedWrites> prepared) {
  return WriteBatch(prepared->ops());
}

std::unique_ptr<PreparedChanges> RecordStore::PrepareChanges(
    std::span<const ChangeEntry> changes, std::span<const AuditEntry> audit) {
  return std::make_unique<PreparedChanges>(changes, audit);
}

Result<ApplyStats> RecordStore::ApplyPrepared(
    std::unique_ptr<PreparedChanges> prepared,
    std::span<const Conflict> conflicts, ChangeMerger& merger,
    const PeerState& peer) {
  // Two transactions here: a store that can, stores both in one.
  POSTA_ASSIGN_OR_RETURN(
      ApplyStats stats,
      ApplyChanges(prepared->changes(), conflicts, merger, peer));
  if (!prepared->audit().empty()) {
    POSTA_ASSIGN_OR_RETURN(stats.audit,
                           StoreReceivedAudit(peer.node_id, prepared->audit()));
  }
  return stats;
}

Status ValidateResource(ResourceType type, std::string_view body) {
  return internal::ParseResource(type, body, "").status();
}

}  // namespace posta::storage
