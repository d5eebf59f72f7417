// GET /fhir/metadata: the CapabilityStatement, generated from what the
// store supports (resource types, SearchParams) so it cannot drift.
#include "api/handlers.h"
#include "api/json_util.h"
#include "posta/storage/record.h"

namespace posta::node {

namespace {

std::string_view KindName(storage::SearchParamInfo::Kind kind) {
  switch (kind) {
    case storage::SearchParamInfo::Kind::kString: return "string";
    case storage::SearchParamInfo::Kind::kToken: return "token";
    case storage::SearchParamInfo::Kind::kDate: return "date";
    case storage::SearchParamInfo::Kind::kReference: return "reference";
  }
  return "string";
}

nlohmann::json ResourceEntry(storage::ResourceType type) {
  nlohmann::json interactions = nlohmann::json::array();
  for (const char* code : {"read", "vread", "update", "delete", "create",
                           "search-type", "history-instance"}) {
    interactions.push_back({{"code", code}});
  }
  nlohmann::json params = nlohmann::json::array();
  for (const storage::SearchParamInfo& info : storage::SearchParams(type)) {
    std::string doc(info.documentation);
    if (!info.expression.empty()) {
      if (!doc.empty()) doc += " ";
      doc += "(" + std::string(info.expression) + ")";
    }
    params.push_back({{"name", std::string(info.name)},
                      {"type", std::string(KindName(info.kind))},
                      {"documentation", doc}});
  }
  nlohmann::json entry = {
      {"type", std::string(storage::ResourceTypeName(type))},
      {"interaction", interactions},
      {"versioning", "versioned-update"},
      {"readHistory", true},
      {"updateCreate", true},
      {"conditionalCreate", false},
      {"conditionalRead", "not-supported"},
      {"conditionalUpdate", false},
      {"conditionalDelete", "not-supported"},
      {"searchParam", params},
  };
  if (type == storage::ResourceType::kPatient) {
    entry["operation"] = nlohmann::json::array(
        {{{"name", "transfer"},
          {"definition", "urn:posta:operation:transfer"},
          {"documentation",
           "POST Patient/{id}/$transfer with Parameters facility "
           "(valueString): moves the patient and its encounters, "
           "observations and appointments to that facility"}}});
  }
  return entry;
}

}  // namespace

HttpResponse HandleMetadata(ApiContext& ctx, const std::string& base_url) {
  nlohmann::json resources = nlohmann::json::array();
  for (storage::ResourceType type : storage::kAllResourceTypes) {
    resources.push_back(ResourceEntry(type));
  }
  std::string version =
      ctx.options.version.empty() ? POSTA_VERSION : ctx.options.version;
  nlohmann::json statement = {
      {"resourceType", "CapabilityStatement"},
      {"status", "active"},
      {"date", storage::FormatInstant(ctx.clock.WallNowMillis())},
      {"kind", "instance"},
      {"software", {{"name", "posta"}, {"version", version}}},
      {"implementation",
       {{"description", "posta " + ctx.options.role + " node"},
        {"url", base_url + "/fhir"}}},
      {"fhirVersion", "4.0.1"},
      {"format", {"json", "application/fhir+json"}},
      {"rest",
       {{{"mode", "server"},
         {"resource", resources},
         {"searchParam",
          {{{"name", "_count"},
            {"type", "number"},
            {"documentation",
             "page size, default 20, larger values are clamped to " +
                 std::to_string(ctx.options.max_page_size)}}}}}}},
  };
  HttpResponse response;
  response.content_type = std::string(kFhirJsonType);
  response.body = DumpJson(statement);
  return response;
}

}  // namespace posta::node
