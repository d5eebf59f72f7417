#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "resources/fhir_types.h"
#include "resources/search_keys.h"

namespace posta::storage::internal {
namespace {

Status CheckAnnotation(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"authorReference", ReferenceTo({"Practitioner", "Patient",
                                       "RelatedPerson", "Organization"})},
      {"authorString", CheckString},
      {"time", CheckDateTime},
      {"text", CheckString, true}};
  POSTA_RETURN_IF_ERROR(CheckElement(value, path, kRules));
  return AtMostOne(value, path.Field("author[x]"),
                   {"authorReference", "authorString"});
}

// value[x] of an Observation and of its components.
void AddValueRules(std::vector<FieldRule>& rules) {
  rules.push_back({"valueQuantity", CheckQuantity});
  rules.push_back({"valueCodeableConcept", CheckCodeableConcept});
  rules.push_back({"valueString", CheckString});
  rules.push_back({"valueBoolean", CheckBoolean});
  rules.push_back({"valueInteger", CheckInteger});
  rules.push_back({"valueDateTime", CheckDateTime});
}

Status CheckValueChoice(const Json& value, const Path& path) {
  POSTA_RETURN_IF_ERROR(
      AtMostOne(value, path.Field("value[x]"),
                {"valueQuantity", "valueCodeableConcept", "valueString",
                 "valueBoolean", "valueInteger", "valueDateTime"}));
  for (std::string_view field :
       {"valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean",
        "valueInteger", "valueDateTime"}) {
    if (FindField(value, field) != nullptr &&
        FindField(value, "dataAbsentReason") != nullptr) {
      return Invalid(path.Field("dataAbsentReason"),
                     "not allowed with a value[x]");
    }
  }
  return Status::Ok();
}

Status CheckReferenceRange(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"low", CheckSimpleQuantity},
      {"high", CheckSimpleQuantity},
      {"type", CheckCodeableConcept},
      {"appliesTo", ArrayOf(CheckCodeableConcept)},
      {"text", CheckString}};
  POSTA_RETURN_IF_ERROR(CheckElement(value, path, kRules));
  if (FindField(value, "low") == nullptr &&
      FindField(value, "high") == nullptr &&
      FindField(value, "text") == nullptr) {
    return Invalid(path, "needs a low, high or text");
  }
  return Status::Ok();
}

Status CheckComponent(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = [] {
    std::vector<FieldRule> rules = {{"code", CheckCodeableConcept, true}};
    AddValueRules(rules);
    rules.push_back({"dataAbsentReason", CheckCodeableConcept});
    rules.push_back({"interpretation", ArrayOf(CheckCodeableConcept)});
    rules.push_back({"referenceRange", ArrayOf(CheckReferenceRange)});
    return rules;
  }();
  POSTA_RETURN_IF_ERROR(CheckElement(value, path, kRules));
  return CheckValueChoice(value, path);
}

std::vector<FieldRule> ObservationRules() {
  std::vector<FieldRule> rules = {
      {"identifier", ArrayOf(CheckIdentifier)},
      {"status",
       CodeIn({"registered", "preliminary", "final", "amended", "corrected",
               "cancelled", "entered-in-error", "unknown"}),
       true},
      {"category", ArrayOf(CheckCodeableConcept)},
      {"code", CheckCodeableConcept, true},
      {"subject", ReferenceTo({"Patient"}, /*literal=*/true), true},
      {"encounter", ReferenceTo({"Encounter"}, /*literal=*/true)},
      {"effectiveDateTime", CheckDateTime},
      {"effectivePeriod", CheckPeriod},
      {"effectiveInstant", CheckInstant},
      {"issued", CheckInstant},
      {"performer",
       ArrayOf(ReferenceTo({"Practitioner", "PractitionerRole",
                            "Organization", "CareTeam", "Patient",
                            "RelatedPerson"}))},
  };
  AddValueRules(rules);
  rules.push_back({"dataAbsentReason", CheckCodeableConcept});
  rules.push_back({"interpretation", ArrayOf(CheckCodeableConcept)});
  rules.push_back({"note", ArrayOf(CheckAnnotation)});
  rules.push_back({"bodySite", CheckCodeableConcept});
  rules.push_back({"method", CheckCodeableConcept});
  rules.push_back({"referenceRange", ArrayOf(CheckReferenceRange)});
  rules.push_back({"component", ArrayOf(CheckComponent)});
  return rules;
}

}  // namespace

Status CheckObservation(const Json& body, Refs& refs) {
  static const std::vector<FieldRule> kRules = ObservationRules();
  const Path path("Observation", refs);
  POSTA_RETURN_IF_ERROR(CheckResourceBody(body, path, kRules));
  POSTA_RETURN_IF_ERROR(
      AtMostOne(body, path.Field("effective[x]"),
                {"effectiveDateTime", "effectivePeriod", "effectiveInstant"}));
  return CheckValueChoice(body, path);
}

std::vector<SearchKey> ObservationSearchKeys(const Json& body) {
  SearchKeyList keys;
  keys.AddReference("patient", FindField(body, "subject"), "Patient");
  keys.AddConcept("code", FindField(body, "code"));
  keys.AddDate("date", FindField(body, "effectiveDateTime"),
               DateKind::kDateTime);
  keys.AddDate("date", FindField(body, "effectiveInstant"), DateKind::kInstant);
  if (const Json* period = FindField(body, "effectivePeriod")) {
    keys.AddDate("date", FindField(*period, "start"), DateKind::kDateTime);
  }
  keys.AddReference("encounter", FindField(body, "encounter"), "Encounter");
  keys.AddCode("status", FindField(body, "status"));
  if (const Json* categories = FindField(body, "category")) {
    for (const Json& category : *categories) {
      keys.AddConcept("category", &category);
    }
  }
  return std::move(keys).Take();
}

}  // namespace posta::storage::internal
