// POST /fhir/Patient/{id}/$transfer: moves a patient and its compartment to
// another facility (RecordStore::Transfer). A FHIR operation: Parameters in
// (the target facility), Parameters out (what moved).
#include <nlohmann/json.hpp>
#include <optional>

#include "api/bundle.h"
#include "api/handlers.h"
#include "api/operation_outcome.h"

namespace posta::node {

namespace {

// {"resourceType":"Parameters","parameter":[{"name":"facility",
// "valueString":"clinic-b"}]}: the one parameter this operation takes.
Result<std::string> ParseTransferBody(const std::string& body) {
  POSTA_ASSIGN_OR_RETURN(nlohmann::json j, ParseRequestJson(body));
  auto type = j.is_object() ? j.find("resourceType") : j.end();
  if (!j.is_object() || type == j.end() || *type != "Parameters") {
    return Status::Malformed(
        "body",
        "expected a Parameters resource: {\"resourceType\": "
        "\"Parameters\", \"parameter\": [{\"name\": \"facility\", "
        "\"valueString\": \"<facility id>\"}]}");
  }
  auto params = j.find("parameter");
  if (params == j.end() || !params->is_array()) {
    return Status::Malformed("Parameters.parameter",
                             "missing; name the target \"facility\"");
  }
  std::optional<std::string> facility;
  for (const nlohmann::json& p : *params) {
    auto name = p.is_object() ? p.find("name") : p.end();
    if (!p.is_object() || name == p.end() || !name->is_string()) {
      return Status::Malformed("Parameters.parameter",
                               "each parameter needs a \"name\"");
    }
    if (*name != "facility") {
      return Status::Malformed(
          "Parameters.parameter",
          "unknown parameter \"" +
              name->get_ref<const std::string&>().substr(0, 64) +
              "\"; $transfer takes \"facility\" only");
    }
    auto value = p.find("valueString");
    if (value == p.end() || !value->is_string()) {
      return Status::Malformed("Parameters.parameter.facility",
                               "needs a valueString (the facility id)");
    }
    if (facility) {
      return Status::Malformed("Parameters.parameter.facility",
                               "given more than once");
    }
    facility = value->get<std::string>();
  }
  if (!facility) {
    return Status::Malformed("Parameters.parameter",
                             "missing; name the target \"facility\"");
  }
  return *facility;
}

}  // namespace

std::string TransferParametersJson(const storage::TransferOutcome& outcome) {
  nlohmann::ordered_json moved = nlohmann::ordered_json::array();
  for (storage::ResourceType type : storage::kAllResourceTypes) {
    if (type == storage::ResourceType::kLocation) continue;
    auto it = outcome.moved.find(type);
    moved.push_back(
        {{"name", std::string(storage::ResourceTypeName(type))},
         {"valueInteger", it == outcome.moved.end() ? 0 : it->second}});
  }
  nlohmann::ordered_json out;
  out["resourceType"] = "Parameters";
  out["parameter"] = nlohmann::ordered_json::array(
      {{{"name", "from"}, {"valueString", outcome.from_facility}},
       {{"name", "to"}, {"valueString", outcome.record.facility}},
       {{"name", "moved"}, {"part", std::move(moved)}},
       {{"name", "patient"},
        {"resource", nlohmann::ordered_json::parse(
                         storage::RenderResource(outcome.record))}}});
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpResponse HandleTransfer(ApiContext& ctx, const FhirCall& call) {
  if (Status s = CheckQueryParams(call.query, {}); !s.ok()) {
    return StatusResponse(s, ctx.random);
  }
  Result<std::string> facility = ParseTransferBody(call.http.body);
  if (!facility.ok()) return StatusResponse(facility.status(), ctx.random);
  const storage::AuditActor actor = AuditActorOf(call.http, call.principal);
  Result<storage::TransferOutcome> outcome =
      ctx.store.Transfer(call.type, call.id, *facility, &actor);
  if (!outcome.ok()) return StatusResponse(outcome.status(), ctx.random);
  HttpResponse response;
  response.content_type = std::string(kFhirJsonType);
  response.body = TransferParametersJson(*outcome);
  response.headers.emplace_back("ETag", VersionTag(outcome->record.version));
  return response;
}

}  // namespace posta::node
