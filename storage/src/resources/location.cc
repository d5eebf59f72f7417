#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "resources/fhir_types.h"
#include "resources/search_keys.h"

namespace posta::storage::internal {

Status CheckLocation(const Json& body, Refs& refs) {
  static const std::vector<FieldRule> kRules = {
      {"identifier", ArrayOf(CheckIdentifier)},
      {"status", CodeIn({"active", "suspended", "inactive"})},
      {"name", CheckString, true},
      {"alias", ArrayOf(CheckString)},
      {"description", CheckString},
      {"type", ArrayOf(CheckCodeableConcept)},
      {"telecom", ArrayOf(CheckContactPoint)},
      {"address", CheckAddress},
      {"partOf", ReferenceTo({"Location"}, /*literal=*/true)}};
  return CheckResourceBody(body, Path("Location", refs), kRules);
}

std::vector<SearchKey> LocationSearchKeys(const Json& body) {
  SearchKeyList keys;
  keys.AddText("name", StringField(body, "name"));
  if (const Json* aliases = FindField(body, "alias")) {
    for (const Json& alias : *aliases) {
      if (alias.is_string()) keys.AddText("name", alias.get<std::string>());
    }
  }
  if (const Json* identifiers = FindField(body, "identifier")) {
    for (const Json& identifier : *identifiers) {
      const std::string value = StringField(identifier, "value");
      const std::string system = StringField(identifier, "system");
      keys.Add("identifier", value);
      if (!system.empty()) keys.Add("identifier", system + "|" + value);
    }
  }
  keys.AddCode("status", FindField(body, "status"));
  return std::move(keys).Take();
}

}  // namespace posta::storage::internal
