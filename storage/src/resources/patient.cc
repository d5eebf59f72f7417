#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "resources/fhir_types.h"
#include "resources/search_keys.h"

namespace posta::storage::internal {
namespace {

Status CheckHumanName(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"use", CodeIn({"usual", "official", "temp", "nickname", "anonymous",
                      "old", "maiden"})},
      {"text", CheckString},
      {"family", CheckString},
      {"given", ArrayOf(CheckString)},
      {"prefix", ArrayOf(CheckString)},
      {"suffix", ArrayOf(CheckString)},
      {"period", CheckPeriod}};
  POSTA_RETURN_IF_ERROR(CheckElement(value, path, kRules));
  if (FindField(value, "text") == nullptr &&
      FindField(value, "family") == nullptr &&
      FindField(value, "given") == nullptr) {
    return Invalid(path, "needs a text, family or given name");
  }
  return Status::Ok();
}

}  // namespace

Status CheckContactPoint(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"system",
       CodeIn({"phone", "fax", "email", "pager", "url", "sms", "other"})},
      {"value", CheckString, true},
      {"use", CodeIn({"home", "work", "temp", "old", "mobile"})},
      {"rank", CheckPositiveInt},
      {"period", CheckPeriod}};
  POSTA_RETURN_IF_ERROR(CheckElement(value, path, kRules));
  if (FindField(value, "system") == nullptr) {
    return Invalid(path.Field("system"), "required when value is given");
  }
  return Status::Ok();
}

Status CheckAddress(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"use", CodeIn({"home", "work", "temp", "old", "billing"})},
      {"type", CodeIn({"postal", "physical", "both"})},
      {"text", CheckString},
      {"line", ArrayOf(CheckString)},
      {"city", CheckString},
      {"district", CheckString},
      {"state", CheckString},
      {"postalCode", CheckString},
      {"country", CheckString},
      {"period", CheckPeriod}};
  return CheckElement(value, path, kRules);
}

namespace {

Status CheckPatientFields(const Json& body, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"identifier", ArrayOf(CheckIdentifier)},
      {"active", CheckBoolean},
      {"name", ArrayOf(CheckHumanName)},
      {"telecom", ArrayOf(CheckContactPoint)},
      {"gender", CodeIn({"male", "female", "other", "unknown"})},
      {"birthDate", CheckDate},
      {"deceasedBoolean", CheckBoolean},
      {"deceasedDateTime", CheckDateTime},
      {"address", ArrayOf(CheckAddress)},
      {"maritalStatus", CheckCodeableConcept},
      {"generalPractitioner",
       ArrayOf(ReferenceTo({"Organization", "Practitioner",
                            "PractitionerRole"}))},
      {"managingOrganization", ReferenceTo({"Organization"})}};
  return CheckResourceBody(body, path, kRules);
}

std::vector<std::string> Strings(const Json* array) {
  std::vector<std::string> out;
  if (array == nullptr || !array->is_array()) return out;
  for (const Json& item : *array) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) out.push_back(' ');
    out.append(part);
  }
  return out;
}

void AddNameKeys(SearchKeyList& keys, const Json& name) {
  keys.AddText("name", StringField(name, "text"));
  const std::string family = StringField(name, "family");
  const std::vector<std::string> given = Strings(FindField(name, "given"));
  keys.AddText("name", family);
  for (const std::string& part : given) keys.AddText("name", part);
  // Whole names in both orders, so "garcia jose" and "jose garcia" match.
  keys.AddText("name", Join(given) + " " + family);
  keys.AddText("name", family + " " + Join(given));
}

}  // namespace

Status CheckPatient(const Json& body, Refs& refs) {
  const Path path("Patient", refs);
  POSTA_RETURN_IF_ERROR(CheckPatientFields(body, path));
  POSTA_RETURN_IF_ERROR(AtMostOne(body, path.Field("deceased[x]"),
                                  {"deceasedBoolean", "deceasedDateTime"}));
  if (FindField(body, "name") == nullptr &&
      FindField(body, "identifier") == nullptr) {
    return Invalid(path.Field("name"), "a name or an identifier is required");
  }
  return Status::Ok();
}

std::vector<SearchKey> PatientSearchKeys(const Json& body) {
  SearchKeyList keys;
  if (const Json* names = FindField(body, "name")) {
    for (const Json& name : *names) AddNameKeys(keys, name);
  }
  if (const Json* identifiers = FindField(body, "identifier")) {
    for (const Json& identifier : *identifiers) {
      const std::string value = StringField(identifier, "value");
      const std::string system = StringField(identifier, "system");
      keys.Add("identifier", value);
      if (!system.empty()) keys.Add("identifier", system + "|" + value);
    }
  }
  keys.AddDate("birthdate", FindField(body, "birthDate"), DateKind::kDate);
  keys.AddCode("gender", FindField(body, "gender"));
  return std::move(keys).Take();
}

}  // namespace posta::storage::internal
