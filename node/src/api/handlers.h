// Private to the API: the routed request and one function per endpoint.
// api.cc routes (path shape, resource type, method, id format, content type)
// and calls these; each returns the full answer, errors included.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/api.h"
#include "api/json_util.h"
#include "api/request_target.h"
#include "http/http_types.h"
#include "posta/base/random.h"
#include "posta/storage/record_store.h"

namespace posta::node {

// What every handler may use. Threading: every member is safe from any
// thread; nothing here is owned.
struct ApiContext {
  storage::RecordStore& store;
  Metrics& metrics;
  const ApiOptions& options;
  base::Clock& clock;
  base::Env& env;
  base::Random& random;
  auth::Authenticator& auth;
};

// A request routed to a FHIR endpoint.
struct FhirCall {
  const HttpRequest& http;
  // Absolute base for links ("http://127.0.0.1:8080"), or "" when neither
  // ApiOptions::base_url nor a usable Host header gives one (links are then
  // relative).
  std::string base_url;
  storage::ResourceType type = storage::ResourceType::kPatient;
  std::string id;   // a UUID for instance routes; empty otherwise
  std::string vid;  // the {vid} of _history/{vid}, undecoded by now
  const std::vector<QueryParam>& query;
  // Who asks: null when the API is open and no token was given. Where
  // "who did what" is to be recorded.
  const auth::Principal* principal = nullptr;
};

// audit_routes.cc: who asks, for the audit trail: the principal's user and
// role, or "anonymous" when the API is open and no token was given; the
// peer's address.
storage::AuditActor AuditActorOf(const HttpRequest& request,
                                 const auth::Principal* principal);

// A request routed to GET /audit.
struct AuditCall {
  const HttpRequest& http;
  const std::vector<QueryParam>& query;
  const auth::Principal* principal = nullptr;  // as FhirCall::principal
};

// audit_routes.cc: GET /audit (docs/api.md, "Audit").
HttpResponse HandleAudit(ApiContext& ctx, const AuditCall& call);

// audit_routes.cc, shared with `posta audit`: the filter of GET /audit's
// query (since, until, actor, action, resource, facility, node, _count,
// _cursor); Malformed naming the first bad parameter.
Result<storage::AuditFilter> ParseAuditFilter(
    const std::vector<QueryParam>& query);
// A time of `since`/`until`: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.fff][Z],
// UTC, as Unix milliseconds; Malformed naming `name` otherwise.
Result<int64_t> ParseAuditTime(std::string_view name, std::string_view text);
// A coordinator with a region reads only the entries of the registered
// facilities of that region: narrows filter.facilities to them
// (PermissionDenied when none is left). Anyone else: unchanged.
Result<storage::AuditFilter> ScopeAuditFilter(storage::RecordStore& store,
                                              const auth::Principal& who,
                                              storage::AuditFilter filter);
// An entry as GET /audit (and `posta audit --json`) shows it.
nlohmann::ordered_json AuditEntryJson(const storage::AuditEntry& entry);

// fhir_routes.cc
HttpResponse HandleCreate(ApiContext& ctx, const FhirCall& call);
HttpResponse HandleRead(ApiContext& ctx, const FhirCall& call);
HttpResponse HandleUpdate(ApiContext& ctx, const FhirCall& call);
HttpResponse HandleDelete(ApiContext& ctx, const FhirCall& call);
HttpResponse HandleHistory(ApiContext& ctx, const FhirCall& call);
HttpResponse HandleVread(ApiContext& ctx, const FhirCall& call);
HttpResponse HandleSearch(ApiContext& ctx, const FhirCall& call);

// transfer_route.cc: POST /fhir/Patient/{id}/$transfer (Content-Type
// already checked).
HttpResponse HandleTransfer(ApiContext& ctx, const FhirCall& call);
// What a transfer moved, as the operation answers it (and `posta transfer
// --json` prints it): a Parameters resource with "from", "to", "moved"
// (one part per type, valueInteger) and "patient" (the new version).
std::string TransferParametersJson(const storage::TransferOutcome& outcome);

// A request routed to a /conflicts endpoint.
struct ConflictCall {
  const HttpRequest& http;
  std::string id;  // 32 lowercase hex for instance routes; empty otherwise
  const std::vector<QueryParam>& query;
  const auth::Principal* principal = nullptr;  // as FhirCall::principal
};

// conflict_routes.cc: GET /conflicts, GET /conflicts/{id},
// POST /conflicts/{id}/resolve (Content-Type already checked).
HttpResponse HandleListConflicts(ApiContext& ctx, const ConflictCall& call);
HttpResponse HandleGetConflict(ApiContext& ctx, const ConflictCall& call);
HttpResponse HandleResolveConflict(ApiContext& ctx, const ConflictCall& call);

// True when `id` has the form of a conflict id: 32 lowercase hex.
bool IsConflictId(std::string_view id);

// A conflict as the API (and `posta conflicts --json`) shows it; see
// docs/api.md ("Conflicts"). Each side's value is the stored JSON text
// parsed (null when the field was absent).
nlohmann::ordered_json ConflictJson(const storage::Conflict& conflict);

// auth_routes.cc: POST /auth/login, POST /auth/logout, GET /auth/whoami
// (`action` is the last path segment).
HttpResponse HandleAuth(ApiContext& ctx, const HttpRequest& request,
                        const std::string& action,
                        const std::vector<QueryParam>& query);

// auth_routes.cc: whether `request` may have `access` to `area` (a resource
// type name, "$transfer", "conflicts", "audit", "metrics", "metadata"). Returns
// the refusal to send (401 with WWW-Authenticate, or 403 naming the role), or
// nothing; `*principal` is set whenever a valid token was presented (also
// with a 403, so the denial is recorded under the user's name).
std::optional<HttpResponse> Admit(ApiContext& ctx, const HttpRequest& request,
                                  std::string_view area, auth::Access access,
                                  std::optional<auth::Principal>* principal);

// read_scope.cc: the records `who` may read, by current owner. Every
// record (nullopt) but for a hub's coordinator: the facilities of their
// region and shared reference data (only the latter without a region).
// Reads of a record out of scope answer 404, as for no record, so ids
// cannot be probed; searches and lists leave such records out in SQL.
Result<storage::OwnerScope> ReadScope(ApiContext& ctx,
                                      const auth::Principal* who);
// True when `scope` lets a record owned by `owner` be read.
bool InScope(const storage::OwnerScope& scope, std::string_view owner);
// What `who` reads, for /auth/whoami.
Result<std::string> DescribeScope(ApiContext& ctx, const auth::Principal& who);

// capability.cc: GET /fhir/metadata.
HttpResponse HandleMetadata(ApiContext& ctx, const std::string& base_url);

// health.cc: GET /health and GET /metrics.
HttpResponse HandleHealth(ApiContext& ctx);
HttpResponse HandleMetrics(ApiContext& ctx);

// OK when every query parameter is one of `allowed` (and a _format is
// JSON); Malformed naming the first that is not.
Status CheckQueryParams(const std::vector<QueryParam>& query,
                        std::initializer_list<std::string_view> allowed);

}  // namespace posta::node
