// Routing: path shape → resource type → method → id → content type, then the
// endpoint's handler. Every answer is timed and counted under its route
// pattern (never the raw path, so metric labels stay bounded).
#include "api/api.h"

#include <spdlog/spdlog.h>

#include <exception>

#include "api/handlers.h"
#include "api/metrics.h"
#include "api/operation_outcome.h"
#include "api/report_views.h"
#include "posta/base/random.h"

namespace posta::node {

namespace {

constexpr std::string_view kRouteUnmatched = "unmatched";

struct Route {
  std::string_view pattern;
  std::string_view allow;  // the Allow header for 405
};

constexpr Route kHealth = {"/health", "GET"};
constexpr Route kMetrics = {"/metrics", "GET"};
constexpr Route kMetadata = {"/fhir/metadata", "GET"};
constexpr Route kType = {"/fhir/{type}", "GET, POST"};
constexpr Route kInstance = {"/fhir/{type}/{id}", "GET, PUT, DELETE"};
constexpr Route kHistory = {"/fhir/{type}/{id}/_history", "GET"};
constexpr Route kVersion = {"/fhir/{type}/{id}/_history/{vid}", "GET"};
constexpr Route kTransfer = {"/fhir/{type}/{id}/$transfer", "POST"};
constexpr Route kConflicts = {"/conflicts", "GET"};
constexpr Route kConflict = {"/conflicts/{id}", "GET"};
constexpr Route kResolve = {"/conflicts/{id}/resolve", "POST"};
constexpr Route kSync = {"/sync/v1/{op}", "POST"};
constexpr Route kLogin = {"/auth/login", "POST"};
constexpr Route kLogout = {"/auth/logout", "POST"};
constexpr Route kWhoami = {"/auth/whoami", "GET"};
constexpr Route kAudit = {"/audit", "GET"};

// Methods outside this set share one label.
std::string MethodLabel(const std::string& method) {
  for (std::string_view known :
       {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"}) {
    if (method == known) return method;
  }
  return "OTHER";
}

bool MethodAllowed(const Route& route, const std::string& method) {
  std::string_view allow = route.allow;
  while (!allow.empty()) {
    size_t comma = allow.find(", ");
    if (allow.substr(0, comma) == method) return true;
    if (comma == std::string_view::npos) break;
    allow.remove_prefix(comma + 2);
  }
  return false;
}

HttpResponse MethodNotAllowed(const Route& route, const std::string& method) {
  HttpResponse response = OutcomeResponse(
      405, "not-supported",
      "method " + method.substr(0, 16) + " not allowed on " +
          std::string(route.pattern) + "; allowed: " +
          std::string(route.allow));
  response.headers.emplace_back("Allow", std::string(route.allow));
  return response;
}

// A Host header fit to be echoed in links: host or host:port, IPv6 in [].
bool IsUsableHost(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' ||
              c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

std::string BaseUrl(const ApiOptions& options, const HttpRequest& request) {
  if (!options.base_url.empty()) {
    std::string base = options.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base;
  }
  std::string host = request.Header("Host");
  // Security: the Host header is the client's; only a plain host[:port] is
  // put into Location and Bundle links.
  if (IsUsableHost(host)) return "http://" + host;
  return {};
}

// application/fhir+json or application/json, optionally with
// charset=utf-8; other parameters (fhirVersion=4.0) are ignored.
bool IsJsonContentType(std::string_view value) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  size_t semi = value.find(';');
  std::string_view media = trim(value.substr(0, semi));
  if (!EqualsIgnoreCase(media, "application/fhir+json") &&
      !EqualsIgnoreCase(media, "application/json")) {
    return false;
  }
  while (semi != std::string_view::npos) {
    value.remove_prefix(semi + 1);
    semi = value.find(';');
    std::string_view param = trim(value.substr(0, semi));
    size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    if (!EqualsIgnoreCase(trim(param.substr(0, eq)), "charset")) continue;
    std::string_view charset = trim(param.substr(eq + 1));
    if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"') {
      charset = charset.substr(1, charset.size() - 2);
    }
    if (!EqualsIgnoreCase(charset, "utf-8")) return false;
  }
  return true;
}

}  // namespace

struct Api::Impl {
  Impl(storage::RecordStore& store, Metrics& metrics,
       const ApiOptions& options, base::Clock& clock, base::Env& env)
      : options(options),
        authenticator(store, clock, this->options.auth),
        ctx{store, metrics, this->options, clock, env, random,
            authenticator} {}

  // What the audit trail needs of a request once it is answered: who
  // asked (when a token named them, refused or not) and, for reads, what
  // was read.
  struct Trail {
    std::optional<auth::Principal> who;
    std::string action;    // "read", "search"; "" records no read
    std::string resource;  // "Patient/<id>", "Patient", "audit", ...
    std::string version;
    std::string detail;
  };

  HttpResponse Dispatch(const HttpRequest& request, std::string_view& route,
                        Trail& trail);
  HttpResponse DispatchFhir(const HttpRequest& request,
                            const RequestTarget& target,
                            std::string_view& route, Trail& trail);
  HttpResponse DispatchConflicts(const HttpRequest& request,
                                 const RequestTarget& target,
                                 std::string_view& route, Trail& trail);
  // Records a denial (every 401 and 403 but the sync API's, which the hub
  // records itself, and a refused login, which Login records) or a read.
  void RecordTrail(const HttpRequest& request, std::string_view route,
                   const HttpResponse& response, const Trail& trail);
  HttpResponse DispatchSync(const HttpRequest& request,
                            const RequestTarget& target,
                            std::string_view& route);
  HttpResponse NoSuchEndpoint(const HttpRequest& request,
                              std::string_view why);

  const ApiOptions options;
  base::Random random;
  auth::Authenticator authenticator;
  ApiContext ctx;
};

HttpResponse Api::Impl::Dispatch(const HttpRequest& request,
                                 std::string_view& route, Trail& trail) {
  Result<RequestTarget> target = ParseRequestTarget(request.target);
  if (!target.ok()) return StatusResponse(target.status(), random);
  const std::vector<std::string>& segments = target->segments;

  if (segments.size() == 1 &&
      (segments[0] == "health" || segments[0] == "metrics")) {
    const Route& r = segments[0] == "health" ? kHealth : kMetrics;
    route = r.pattern;
    if (!MethodAllowed(r, request.method)) {
      return MethodNotAllowed(r, request.method);
    }
    if (segments[0] == "health") return HandleHealth(ctx);
    if (auto refused =
            Admit(ctx, request, "metrics", auth::Access::kRead, &trail.who)) {
      return *refused;
    }
    return HandleMetrics(ctx);
  }
  if (segments.size() == 2 && segments[0] == "auth") {
    const Route* r = segments[1] == "login"    ? &kLogin
                     : segments[1] == "logout" ? &kLogout
                     : segments[1] == "whoami" ? &kWhoami
                                               : nullptr;
    if (r == nullptr) {
      return NoSuchEndpoint(request, "no such endpoint; /auth/login, "
                                     "/auth/logout, /auth/whoami");
    }
    route = r->pattern;
    if (!MethodAllowed(*r, request.method)) {
      return MethodNotAllowed(*r, request.method);
    }
    if (r == &kLogin) {
      std::string content_type = request.Header("Content-Type");
      if (!IsJsonContentType(content_type)) {
        return OutcomeResponse(415, "not-supported",
                               "Content-Type '" + content_type.substr(0, 64) +
                                   "' not supported; use application/json");
      }
    }
    return HandleAuth(ctx, request, segments[1], target->query);
  }
  if (segments.size() >= 2 && segments[0] == "fhir") {
    return DispatchFhir(request, *target, route, trail);
  }
  if (!segments.empty() && segments[0] == "conflicts") {
    return DispatchConflicts(request, *target, route, trail);
  }
  if (segments.size() == 1 && segments[0] == "audit") {
    route = kAudit.pattern;
    if (!MethodAllowed(kAudit, request.method)) {
      return MethodNotAllowed(kAudit, request.method);
    }
    if (auto refused =
            Admit(ctx, request, "audit", auth::Access::kRead, &trail.who)) {
      return *refused;
    }
    // Reading the trail is recorded too, under its path as its refusals
    // are.
    trail.action = "read";
    trail.resource = "/audit";
    trail.detail = request.target;
    AuditCall call{request, target->query};
    if (trail.who) call.principal = &*trail.who;
    return HandleAudit(ctx, call);
  }
  if (segments.size() == 3 && segments[0] == "sync" && segments[1] == "v1") {
    return DispatchSync(request, *target, route);
  }
  if (!segments.empty() && (segments[0] == "reports" || segments[0] == "ui")) {
    return HandleReportRequest(ctx, request, *target, route);
  }
  return NoSuchEndpoint(request, "no such endpoint; the FHIR API is under "
                                 "/fhir");
}

HttpResponse Api::Impl::NoSuchEndpoint(const HttpRequest& request,
                                       std::string_view why) {
  std::string path = request.target.substr(0, request.target.find('?'));
  return StatusResponse(Status::NotFound(path.substr(0, 128), why), random);
}

HttpResponse Api::Impl::DispatchConflicts(const HttpRequest& request,
                                          const RequestTarget& target,
                                          std::string_view& route,
                                          Trail& trail) {
  const std::vector<std::string>& segments = target.segments;
  const Route* r = nullptr;
  if (segments.size() == 1) {
    r = &kConflicts;
  } else if (segments.size() == 2) {
    r = &kConflict;
  } else if (segments.size() == 3 && segments[2] == "resolve") {
    r = &kResolve;
  } else {
    return NoSuchEndpoint(request, "no such endpoint");
  }
  route = r->pattern;
  if (!MethodAllowed(*r, request.method)) {
    return MethodNotAllowed(*r, request.method);
  }
  if (auto refused =
          Admit(ctx, request, "conflicts",
                r == &kResolve ? auth::Access::kWrite : auth::Access::kRead,
                &trail.who)) {
    return *refused;
  }
  ConflictCall call{request, {}, target.query};
  if (trail.who) call.principal = &*trail.who;
  if (r != &kResolve) {
    trail.action = "read";
    trail.resource = segments.size() >= 2
                         ? "conflicts/" + segments[1].substr(0, 64)
                         : "conflicts";
  }
  if (segments.size() >= 2) {
    // Not the form of an id: no such conflict, without asking the store.
    if (!IsConflictId(segments[1])) {
      return StatusResponse(
          Status::NotFound("conflict '" + segments[1].substr(0, 64) + "'",
                           "no such conflict (ids are 32 lowercase hex)"),
          random);
    }
    call.id = segments[1];
  }
  if (r == &kResolve) {
    std::string content_type = request.Header("Content-Type");
    if (!IsJsonContentType(content_type)) {
      return OutcomeResponse(415, "not-supported",
                             "Content-Type '" + content_type.substr(0, 64) +
                                 "' not supported; use application/json");
    }
    return HandleResolveConflict(ctx, call);
  }
  if (r == &kConflict) return HandleGetConflict(ctx, call);
  return HandleListConflicts(ctx, call);
}

HttpResponse Api::Impl::DispatchSync(const HttpRequest& request,
                                     const RequestTarget& target,
                                     std::string_view& route) {
  const std::string& op = target.segments[2];
  if (op != "enroll" && op != "hello" && op != "push" && op != "pull" &&
      op != "audit") {
    return NoSuchEndpoint(request,
                          "no such sync operation; one of enroll, "
                          "hello, push, pull, audit");
  }
  route = kSync.pattern;
  if (!MethodAllowed(kSync, request.method)) {
    return MethodNotAllowed(kSync, request.method);
  }
  if (options.sync == nullptr) {
    return OutcomeResponse(404, "not-found", "this node is not a hub");
  }
  return options.sync->Handle(op, request);
}

HttpResponse Api::Impl::DispatchFhir(const HttpRequest& request,
                                     const RequestTarget& target,
                                     std::string_view& route, Trail& trail) {
  const std::vector<std::string>& segments = target.segments;
  const std::string& method = request.method;
  if (segments.size() == 2 && segments[1] == "metadata") {
    route = kMetadata.pattern;
    if (!MethodAllowed(kMetadata, method)) {
      return MethodNotAllowed(kMetadata, method);
    }
    if (auto refused =
            Admit(ctx, request, "metadata", auth::Access::kRead, &trail.who)) {
      return *refused;
    }
    if (Status s = CheckQueryParams(target.query, {}); !s.ok()) {
      return StatusResponse(s, random);
    }
    return HandleMetadata(ctx, BaseUrl(options, request));
  }

  const Route* r = nullptr;
  if (segments.size() == 2) {
    r = &kType;
  } else if (segments.size() == 3) {
    r = &kInstance;
  } else if (segments.size() == 4 && segments[3] == "_history") {
    r = &kHistory;
  } else if (segments.size() == 4 && segments[3] == "$transfer") {
    r = &kTransfer;
  } else if (segments.size() == 5 && segments[3] == "_history") {
    r = &kVersion;
  } else {
    std::string path = request.target.substr(0, request.target.find('?'));
    return StatusResponse(
        Status::NotFound(path.substr(0, 128), "no such endpoint"), random);
  }
  route = r->pattern;

  std::optional<storage::ResourceType> type =
      storage::ParseResourceType(segments[1]);
  if (!type) {
    std::string supported;
    for (storage::ResourceType t : storage::kAllResourceTypes) {
      if (!supported.empty()) supported += ", ";
      supported += storage::ResourceTypeName(t);
    }
    return OutcomeResponse(404, "not-supported",
                           "unknown resource type " +
                               segments[1].substr(0, 64) +
                               "; supported: " + supported);
  }
  if (!MethodAllowed(*r, method)) return MethodNotAllowed(*r, method);

  // Who may: a transfer moves clinical records too, so it is its own area.
  trail.resource = std::string(storage::ResourceTypeName(*type));
  if (segments.size() >= 3) trail.resource += "/" + segments[2].substr(0, 64);
  if (auto refused =
          Admit(ctx, request,
                r == &kTransfer ? std::string_view("$transfer")
                                : storage::ResourceTypeName(*type),
                method == "GET" ? auth::Access::kRead : auth::Access::kWrite,
                &trail.who)) {
    return *refused;
  }
  FhirCall call{request, BaseUrl(options, request), *type, {}, {},
                target.query};
  if (trail.who) call.principal = &*trail.who;
  if (method == "GET") {
    trail.action = r == &kType ? "search" : "read";
    if (r == &kType) trail.detail = request.target;
    if (r == &kHistory) trail.detail = "history";
    if (r == &kVersion) trail.version = segments[4].substr(0, 64);
  }
  if (segments.size() >= 3) {
    if (!base::IsUuid(segments[2])) {
      return StatusResponse(
          Status::Malformed(std::string(storage::ResourceTypeName(*type)) +
                                " id '" + segments[2].substr(0, 64) + "'",
                            "ids are UUIDs"),
          random);
    }
    call.id = segments[2];
  }
  if (segments.size() == 5) call.vid = segments[4];

  if (method == "POST" || method == "PUT") {
    std::string content_type = request.Header("Content-Type");
    if (!IsJsonContentType(content_type)) {
      return OutcomeResponse(
          415, "not-supported",
          "Content-Type '" + content_type.substr(0, 64) +
              "' not supported; use application/fhir+json");
    }
  }

  if (r == &kType) {
    return method == "POST" ? HandleCreate(ctx, call) : HandleSearch(ctx, call);
  }
  if (r == &kInstance) {
    if (method == "GET") return HandleRead(ctx, call);
    if (method == "PUT") return HandleUpdate(ctx, call);
    return HandleDelete(ctx, call);
  }
  if (r == &kHistory) return HandleHistory(ctx, call);
  if (r == &kTransfer) return HandleTransfer(ctx, call);
  return HandleVread(ctx, call);
}

void Api::Impl::RecordTrail(const HttpRequest& request, std::string_view route,
                            const HttpResponse& response, const Trail& trail) {
  const bool hidden = !response.hidden_denial.empty();
  const bool denied =
      response.status == 401 || response.status == 403 || hidden;
  if (denied && (route == kSync.pattern || route == kLogin.pattern)) return;
  if (!denied && (trail.action.empty() || response.status / 100 != 2)) return;
  storage::AuditEvent event;
  event.who = AuditActorOf(request, trail.who ? &*trail.who : nullptr);
  event.resource = trail.resource;
  event.version = trail.version;
  if (denied) {
    // Security: what was refused and why, as the answer said it; the
    // request's own text is bounded by the store.
    event.action = "denied";
    event.outcome = "denied";
    std::string path = request.target.substr(0, request.target.find('?'));
    if (event.resource.empty()) event.resource = path;
    event.detail = MethodLabel(request.method) + " " + path + ": " +
                   std::to_string(response.status) + " " +
                   OutcomeDiagnostics(response.body);
    if (hidden) event.detail += " (answered as absent: " + response.hidden_denial + ")";
  } else {
    event.action = trail.action;
    event.detail = trail.detail;
  }
  // A denial is committed before the answer goes out; a read's entry joins
  // the next commit (storage::AuditDurability).
  Status s = ctx.store.AppendAudit(
      event, denied ? storage::AuditDurability::kCommitted
                    : storage::AuditDurability::kDeferred);
  if (!s.ok()) {
    spdlog::error("audit: could not record {} of {} by {}: {}", event.action,
                  event.resource, event.who.actor, s.ToString());
  }
}

Api::Api(storage::RecordStore& store, Metrics& metrics,
         const ApiOptions& options, base::Clock& clock, base::Env& env)
    : impl_(std::make_unique<Impl>(store, metrics, options, clock, env)) {
  POSTA_CHECK(options.max_page_size >= 1);
}

Api::~Api() = default;

HttpResponse Api::Handle(const HttpRequest& request) {
  auto start = impl_->ctx.clock.MonotonicNow();
  std::string_view route = kRouteUnmatched;
  HttpResponse response;
  // The boundary: nothing thrown below reaches the server.
  Impl::Trail trail;
  try {
    response = impl_->Dispatch(request, route, trail);
  } catch (const std::exception& e) {
    response = StatusResponse(Status::Internal("uncaught exception", e.what()),
                              impl_->random);
  } catch (...) {
    response =
        StatusResponse(Status::Internal("uncaught exception"), impl_->random);
  }
  try {
    impl_->RecordTrail(request, route, response, trail);
  } catch (const std::exception& e) {
    spdlog::error("audit: could not record a request: {}", e.what());
  }
  try {
    auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
        impl_->ctx.clock.MonotonicNow() - start);
    impl_->ctx.metrics.ObserveRequest(MethodLabel(request.method),
                                      std::string(route), response.status,
                                      latency);
  } catch (const std::exception& e) {
    spdlog::warn("metrics: could not record a request: {}", e.what());
  }
  return response;
}

}  // namespace posta::node
