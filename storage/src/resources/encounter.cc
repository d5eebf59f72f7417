#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "resources/fhir_types.h"
#include "resources/search_keys.h"

namespace posta::storage::internal {
namespace {

Status CheckParticipant(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"type", ArrayOf(CheckCodeableConcept)},
      {"period", CheckPeriod},
      {"individual",
       ReferenceTo({"Practitioner", "PractitionerRole", "RelatedPerson"})}};
  POSTA_RETURN_IF_ERROR(CheckElement(value, path, kRules));
  if (FindField(value, "type") == nullptr &&
      FindField(value, "individual") == nullptr) {
    return Invalid(path, "needs a type or an individual");
  }
  return Status::Ok();
}

Status CheckDiagnosis(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"condition", ReferenceTo({"Condition", "Procedure"}), true},
      {"use", CheckCodeableConcept},
      {"rank", CheckPositiveInt}};
  return CheckElement(value, path, kRules);
}

Status CheckEncounterLocation(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"location", ReferenceTo({"Location"}), true},
      {"status", CodeIn({"planned", "active", "reserved", "completed"})},
      {"period", CheckPeriod}};
  return CheckElement(value, path, kRules);
}

}  // namespace

Status CheckEncounter(const Json& body, Refs& refs) {
  static const std::vector<FieldRule> kRules = {
      {"identifier", ArrayOf(CheckIdentifier)},
      {"status",
       CodeIn({"planned", "arrived", "triaged", "in-progress", "onleave",
               "finished", "cancelled", "entered-in-error", "unknown"}),
       true},
      {"class", CheckCoding, true},
      {"type", ArrayOf(CheckCodeableConcept)},
      {"serviceType", CheckCodeableConcept},
      {"priority", CheckCodeableConcept},
      {"subject", ReferenceTo({"Patient"}, /*literal=*/true), true},
      {"participant", ArrayOf(CheckParticipant)},
      {"period", CheckPeriod},
      {"reasonCode", ArrayOf(CheckCodeableConcept)},
      {"diagnosis", ArrayOf(CheckDiagnosis)},
      {"location", ArrayOf(CheckEncounterLocation)},
      {"serviceProvider", ReferenceTo({"Organization"})}};
  return CheckResourceBody(body, Path("Encounter", refs), kRules);
}

std::vector<SearchKey> EncounterSearchKeys(const Json& body) {
  SearchKeyList keys;
  keys.AddReference("patient", FindField(body, "subject"), "Patient");
  if (const Json* period = FindField(body, "period")) {
    keys.AddDate("date", FindField(*period, "start"), DateKind::kDateTime);
  }
  keys.AddCode("status", FindField(body, "status"));
  return std::move(keys).Take();
}

}  // namespace posta::storage::internal
