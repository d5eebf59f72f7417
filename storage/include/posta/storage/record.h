// The record: one FHIR resource as posta stores it, plus the resource types
// and search parameters the store understands.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "posta/base/hlc.h"

namespace posta::storage {

enum class ResourceType : uint8_t {
  kPatient = 0,
  kEncounter = 1,
  kObservation = 2,
  kAppointment = 3,
  kLocation = 4,
};

// In export order: a type appears after every type it references.
inline constexpr std::array<ResourceType, 5> kAllResourceTypes = {
    ResourceType::kLocation, ResourceType::kPatient, ResourceType::kEncounter,
    ResourceType::kObservation, ResourceType::kAppointment};

// "Patient", "Encounter", ...
std::string_view ResourceTypeName(ResourceType type);
// Exact, case-sensitive FHIR names only.
std::optional<ResourceType> ParseResourceType(std::string_view name);
// "Patient/<id>": how messages and the audit trail name a record.
std::string RecordName(ResourceType type, std::string_view id);

// A record's name: its type and id.
struct RecordKey {
  ResourceType type;
  std::string id;

  friend auto operator<=>(const RecordKey&, const RecordKey&) = default;
};

struct Record {
  ResourceType type = ResourceType::kPatient;
  std::string id;        // UUID minted by the node that created the record
  std::string facility;  // owning facility id
  // The resource as a JSON object without "resourceType", "id" and "meta":
  // those are the store's and are added back by RenderResource.
  std::string content;
  base::HlcStamp version;  // stamp of the write that made this version
  // One stamp per top-level field of `content` (and of fields removed by a
  // later version): the stamp of the write that last changed that field.
  std::map<std::string, base::HlcStamp> field_stamps;
  bool deleted = false;
  int64_t last_updated_ms = 0;  // wall clock of that write, for meta.lastUpdated
};

// The record as a FHIR resource: resourceType, id, meta (versionId = version
// text, lastUpdated as an ISO instant, and the owning facility as a tag with
// system kFacilityTagSystem), then the content's fields.
// REQUIRES: !record.deleted.
std::string RenderResource(const Record& record);

inline constexpr std::string_view kFacilityTagSystem = "urn:posta:facility";

// Milliseconds since the epoch as "2024-03-05T10:00:00.123Z".
std::string FormatInstant(int64_t millis);

// ---- Search ----

struct SearchParamInfo {
  enum class Kind { kString, kToken, kDate, kReference };
  std::string_view name;  // FHIR search parameter name, e.g. "birthdate"
  Kind kind;
  std::string_view expression;  // FHIRPath-like description, for metadata
  std::string_view documentation;
};

// The parameters Search accepts for `type`, for the CapabilityStatement.
std::span<const SearchParamInfo> SearchParams(ResourceType type);

enum class SearchOp {
  kDefault,  // string: prefix; token, reference, date: equality
  kExact,    // string only: the whole folded value
  kEq,       // date: within the given precision (2024-03 = all of March)
  kGe,
  kGt,
  kLe,
  kLt,
};

struct SearchCondition {
  std::string param;  // one of SearchParams(type)
  SearchOp op = SearchOp::kDefault;
  // string: any text, folded (case and accents) by the store;
  // token: "code" or "system|code";
  // reference: "Patient/<id>" or "<id>";
  // date: YYYY, YYYY-MM, YYYY-MM-DD or a dateTime.
  std::string value;
};

}  // namespace posta::storage
