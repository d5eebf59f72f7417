#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "resources/fhir_types.h"
#include "resources/search_keys.h"

namespace posta::storage::internal {
namespace {

Check ParticipantCheck(Refs& refs) {
  return [&refs](const Json& value, const std::string& path) -> Status {
    POSTA_RETURN_IF_ERROR(CheckElement(
        value, path,
        {{"type", ArrayOf(CheckCodeableConcept)},
         {"period", CheckPeriod},
         {"individual", ReferenceTo(refs, {"Practitioner", "PractitionerRole",
                                           "RelatedPerson"})}}));
    if (FindField(value, "type") == nullptr &&
        FindField(value, "individual") == nullptr) {
      return Status::InvalidArgument(path, "needs a type or an individual");
    }
    return Status::Ok();
  };
}

Check DiagnosisCheck(Refs& refs) {
  return [&refs](const Json& value, const std::string& path) -> Status {
    return CheckElement(
        value, path,
        {{"condition", ReferenceTo(refs, {"Condition", "Procedure"}), true},
         {"use", CheckCodeableConcept},
         {"rank", CheckPositiveInt}});
  };
}

Check LocationCheck(Refs& refs) {
  return [&refs](const Json& value, const std::string& path) -> Status {
    return CheckElement(
        value, path,
        {{"location", ReferenceTo(refs, {"Location"}), true},
         {"status", CodeIn({"planned", "active", "reserved", "completed"})},
         {"period", CheckPeriod}});
  };
}

}  // namespace

Status CheckEncounter(const Json& body, Refs& refs) {
  return CheckResourceBody(
      body, "Encounter",
      {{"identifier", ArrayOf(CheckIdentifier)},
       {"status",
        CodeIn({"planned", "arrived", "triaged", "in-progress", "onleave",
                "finished", "cancelled", "entered-in-error", "unknown"}),
        true},
       {"class", CheckCoding, true},
       {"type", ArrayOf(CheckCodeableConcept)},
       {"serviceType", CheckCodeableConcept},
       {"priority", CheckCodeableConcept},
       {"subject", ReferenceTo(refs, {"Patient"}, /*literal=*/true), true},
       {"participant", ArrayOf(ParticipantCheck(refs))},
       {"period", CheckPeriod},
       {"reasonCode", ArrayOf(CheckCodeableConcept)},
       {"diagnosis", ArrayOf(DiagnosisCheck(refs))},
       {"location", ArrayOf(LocationCheck(refs))},
       {"serviceProvider", ReferenceTo(refs, {"Organization"})}});
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
