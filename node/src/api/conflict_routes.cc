// Sync conflicts for the people who settle them: list, show, resolve. Plain
// JSON (a conflict is not a FHIR resource); errors are OperationOutcomes
// like everywhere else in the API.
#include <algorithm>
#include <optional>

#include "api/handlers.h"
#include "api/operation_outcome.h"
#include "posta/base/random.h"
#include "posta/storage/replication.h"

namespace posta::node {

namespace {

constexpr size_t kDefaultCount = 50;
constexpr size_t kMaxCount = 1000;
// A chosen value nested deeper than this is refused before anything
// recursive (dump, validation) walks it.
// The store keeps at most 200 bytes of "by"; a longer note is refused
// rather than cut (a cut could split a UTF-8 character).
constexpr size_t kMaxByBytes = 200;

std::string Dump(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpResponse JsonResponse(const nlohmann::ordered_json& body) {
  HttpResponse response;
  response.content_type = "application/json";
  response.headers.emplace_back("Cache-Control", "no-store");
  response.body = Dump(body) + "\n";
  return response;
}

nlohmann::ordered_json SideJson(const storage::ConflictSide& side) {
  nlohmann::ordered_json value = nullptr;
  if (side.value) {
    value = nlohmann::ordered_json::parse(*side.value, nullptr,
                                          /*allow_exceptions=*/false);
    // The store writes compact JSON; should a value ever not parse, show
    // its text rather than hide it.
    if (value.is_discarded()) value = *side.value;
  }
  nlohmann::ordered_json j;
  j["value"] = std::move(value);
  j["present"] = side.value.has_value();
  j["stamp"] = side.stamp.ToString();
  j["origin"] = side.stamp.node;
  j["at"] = storage::FormatInstant(side.stamp.wall_ms);
  return j;
}

// The store's NotFound for an unknown conflict names only the conflict;
// one for a missing record names the record and is passed on as it is.
Status ConflictNotFound(const Status& status, const std::string& id) {
  const std::string what = "conflict " + id;
  if (status.message() != what) return status;
  return Status::NotFound(what, "no such conflict");
}

// A positive integer, clamped to kMaxCount as search clamps _count.
Result<size_t> ParseCount(const std::string& text) {
  if (text.empty() ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return Status::Malformed("_count", "must be a positive integer");
  }
  size_t first = text.find_first_not_of('0');
  if (first == std::string::npos) {
    return Status::Malformed("_count", "must be at least 1");
  }
  std::string_view digits = std::string_view(text).substr(first);
  if (digits.size() > 9) return kMaxCount;
  size_t value = 0;
  for (char c : digits) value = value * 10 + static_cast<size_t>(c - '0');
  return std::min(value, kMaxCount);
}

// {"choose": "winner"|"loser"|"value", "value": any, "by": string}.
Result<storage::ConflictResolution> ParseResolveBody(const std::string& body,
                                                     const std::string& id) {
  POSTA_ASSIGN_OR_RETURN(nlohmann::json j, ParseRequestJson(body));
  if (!j.is_object()) return Status::Malformed("body", "not a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "choose" && key != "value" && key != "by") {
      return Status::Malformed("body", "unknown member '" + key.substr(0, 64) +
                                           "'; allowed: choose, value, by");
    }
  }

  storage::ConflictResolution resolution;
  resolution.id = id;
  auto choose = j.find("choose");
  if (choose == j.end()) {
    return Status::Malformed("choose", "missing; one of winner, loser, value");
  }
  if (!choose->is_string()) {
    return Status::Malformed("choose", "must be winner, loser or value");
  }
  const std::string& choice = choose->get_ref<const std::string&>();
  auto value = j.find("value");
  if (choice == "winner" || choice == "loser") {
    if (value != j.end()) {
      return Status::Malformed("value", "only with \"choose\": \"value\"");
    }
    resolution.choice = choice == "winner"
                            ? storage::ConflictResolution::Choice::kKeepWinner
                            : storage::ConflictResolution::Choice::kTakeLoser;
  } else if (choice == "value") {
    resolution.choice = storage::ConflictResolution::Choice::kNewValue;
    // Absent or null: the field is removed.
    if (value != j.end() && !value->is_null())
      resolution.value = DumpJson(*value);
  } else {
    return Status::Malformed("choose", "'" + choice.substr(0, 32) +
                                           "' is not winner, loser or value");
  }

  auto by = j.find("by");
  if (by != j.end() && !by->is_null()) {
    if (!by->is_string()) return Status::Malformed("by", "must be a string");
    const std::string& text = by->get_ref<const std::string&>();
    if (text.size() > kMaxByBytes) {
      return Status::Malformed(
          "by", "longer than " + std::to_string(kMaxByBytes) + " bytes");
    }
    if (std::any_of(text.begin(), text.end(), [](char c) {
          return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
        })) {
      return Status::Malformed("by", "must be one line of text");
    }
    resolution.resolved_by = text;
  }
  return resolution;
}

}  // namespace

bool IsConflictId(std::string_view id) {
  return id.size() == 32 && base::IsLowerHex(id);
}

nlohmann::ordered_json ConflictJson(const storage::Conflict& conflict) {
  const bool resolved = conflict.state == storage::ConflictState::kResolved;
  nlohmann::ordered_json j;
  // Null members are kept so every conflict has the same shape.
  j["id"] = conflict.id;
  j["kind"] = conflict.field == storage::kDeletedField ? "delete-vs-edit"
                                                       : "field-edit";
  j["resourceType"] = storage::ResourceTypeName(conflict.type);
  j["recordId"] = conflict.record_id;
  j["facility"] = conflict.facility;
  j["field"] = conflict.field;
  j["state"] = resolved ? "resolved" : "open";
  j["winner"] = SideJson(conflict.winner);
  j["loser"] = SideJson(conflict.loser);
  j["resolution"] = nullptr;
  if (!conflict.resolution.empty()) j["resolution"] = conflict.resolution;
  j["resolvedBy"] = nullptr;
  if (!conflict.resolved_by.empty()) j["resolvedBy"] = conflict.resolved_by;
  j["stateStamp"] = conflict.state_stamp.ToString();
  return j;
}

HttpResponse HandleListConflicts(ApiContext& ctx, const ConflictCall& call) {
  if (Status s = CheckQueryParams(call.query, {"state", "_count"}); !s.ok()) {
    return StatusResponse(s, ctx.random);
  }
  bool open_only = true;
  size_t count = kDefaultCount;
  for (const QueryParam& param : call.query) {
    if (param.name == "state") {
      if (param.value != "open" && param.value != "all") {
        return StatusResponse(Status::Malformed("state", "must be open or all"),
                              ctx.random);
      }
      open_only = param.value == "open";
    } else if (param.name == "_count") {
      Result<size_t> parsed = ParseCount(param.value);
      if (!parsed.ok()) return StatusResponse(parsed.status(), ctx.random);
      count = *parsed;
    }
  }
  Result<storage::OwnerScope> scope = ReadScope(ctx, call.principal);
  if (!scope.ok()) return StatusResponse(scope.status(), ctx.random);
  Result<std::vector<storage::Conflict>> conflicts =
      ctx.store.ListConflicts(open_only, count, *scope);
  if (!conflicts.ok()) return StatusResponse(conflicts.status(), ctx.random);
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const storage::Conflict& conflict : *conflicts) {
    list.push_back(ConflictJson(conflict));
  }
  nlohmann::ordered_json body;
  body["total"] = conflicts->size();
  body["conflicts"] = std::move(list);
  return JsonResponse(body);
}

HttpResponse HandleGetConflict(ApiContext& ctx, const ConflictCall& call) {
  if (Status s = CheckQueryParams(call.query, {}); !s.ok()) {
    return StatusResponse(s, ctx.random);
  }
  Result<storage::Conflict> conflict = ctx.store.GetConflict(call.id);
  if (!conflict.ok()) {
    if (conflict.status().IsNotFound()) {
      return StatusResponse(ConflictNotFound(conflict.status(), call.id),
                            ctx.random);
    }
    return StatusResponse(conflict.status(), ctx.random);
  }
  Result<storage::OwnerScope> scope = ReadScope(ctx, call.principal);
  if (!scope.ok()) return StatusResponse(scope.status(), ctx.random);
  if (scope->has_value()) {
    // In scope by the record's current owner, as the list is; out of scope
    // answers as no conflict at all.
    Result<storage::Record> record =
        ctx.store.Get(conflict->type, conflict->record_id);
    if (!record.ok() && !record.status().IsNotFound()) {
      return StatusResponse(record.status(), ctx.random);
    }
    if (!record.ok() || !InScope(*scope, record->facility)) {
      HttpResponse absent = StatusResponse(
          ConflictNotFound(Status::NotFound("conflict " + call.id), call.id),
          ctx.random);
      if (record.ok()) {
        absent.hidden_denial = "a conflict of a record owned by " +
                               record->facility +
                               ", outside the reader's region";
      }
      return absent;
    }
  }
  return JsonResponse(ConflictJson(*conflict));
}

HttpResponse HandleResolveConflict(ApiContext& ctx, const ConflictCall& call) {
  if (Status s = CheckQueryParams(call.query, {}); !s.ok()) {
    return StatusResponse(s, ctx.random);
  }
  Result<storage::ConflictResolution> resolution =
      ParseResolveBody(call.http.body, call.id);
  if (!resolution.ok()) return StatusResponse(resolution.status(), ctx.random);
  const storage::AuditActor actor = AuditActorOf(call.http, call.principal);
  resolution->actor = &actor;
  Result<storage::Conflict> resolved = ctx.store.ResolveConflict(*resolution);
  if (!resolved.ok()) {
    if (resolved.status().IsNotFound()) {
      return StatusResponse(ConflictNotFound(resolved.status(), call.id),
                            ctx.random);
    }
    return StatusResponse(resolved.status(), ctx.random);
  }
  return JsonResponse(ConflictJson(*resolved));
}

}  // namespace posta::node
