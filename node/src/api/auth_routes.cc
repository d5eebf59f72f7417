// Logins and the check every gated request passes: who is asking (a bearer
// token), whether someone must be (AuthOptions::mode), and whether their
// role may (auth/roles.h).
#include <spdlog/spdlog.h>

#include "api/handlers.h"
#include "api/operation_outcome.h"
#include "posta/storage/record.h"
#include "posta/storage/users.h"

namespace posta::node {
namespace {

constexpr std::string_view kLoginHint =
    "log in with POST /auth/login and send Authorization: Bearer <token>";

HttpResponse JsonAnswer(int status, const nlohmann::ordered_json& body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = DumpJson(body);
  return response;
}

// 401 with the challenge RFC 6750 asks for.
HttpResponse Unauthorized(std::string_view why, bool bad_token) {
  HttpResponse response = OutcomeResponse(401, "login", why);
  response.headers.emplace_back("WWW-Authenticate",
                                bad_token ? "Bearer realm=\"posta\", "
                                            "error=\"invalid_token\""
                                          : "Bearer realm=\"posta\"");
  return response;
}

// The token of an "Authorization: Bearer <token>" header: nullopt when there
// is no Authorization header, "" when there is one of another form.
std::optional<std::string> BearerToken(const HttpRequest& request) {
  if (!request.HasHeader("Authorization")) return std::nullopt;
  std::string value = request.Header("Authorization");
  constexpr std::string_view kScheme = "Bearer ";
  if (value.size() <= kScheme.size() ||
      !EqualsIgnoreCase(std::string_view(value).substr(0, kScheme.size()),
                        kScheme)) {
    return std::string();
  }
  std::string token = value.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.erase(0, 1);
  while (!token.empty() && token.back() == ' ') token.pop_back();
  return token;
}

Result<std::pair<std::string, std::string>> ParseLogin(
    const std::string& body) {
  POSTA_ASSIGN_OR_RETURN(nlohmann::json j, ParseRequestJson(body));
  if (!j.is_object()) return Status::Malformed("body", "not a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "user" && key != "password") {
      return Status::Malformed("body", "unknown member '" + key.substr(0, 64) +
                                           "'; give user and password");
    }
  }
  for (const char* key : {"user", "password"}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) {
      return Status::Malformed(key, "missing or not a string");
    }
  }
  return std::make_pair(j["user"].get<std::string>(),
                        j["password"].get<std::string>());
}

// A login event in the audit trail, committed before the answer goes out.
void RecordLogin(ApiContext& ctx, const HttpRequest& request,
                 storage::AuditActor who, std::string_view action,
                 std::string_view outcome) {
  who.remote_address = request.remote_address;
  storage::AuditEvent event;
  event.who = std::move(who);
  event.action = std::string(action);
  event.outcome = std::string(outcome);
  Status s = ctx.store.AppendAudit(event, storage::AuditDurability::kCommitted);
  if (!s.ok()) {
    spdlog::error("audit: could not record {} of {}: {}", action,
                  event.who.actor, s.ToString());
  }
}

HttpResponse Login(ApiContext& ctx, const HttpRequest& request) {
  Result<std::pair<std::string, std::string>> login = ParseLogin(request.body);
  if (!login.ok()) return StatusResponse(login.status(), ctx.random);
  Result<auth::LoginOutcome> out = ctx.auth.Login(login->first, login->second);
  if (!out.ok()) {
    if (out.status().code() == Status::Code::kPermissionDenied) {
      // Logged without the password; the answer does not say which part
      // was wrong.
      // Only a well-formed name is echoed into the log (no control
      // characters from the client).
      const std::string name = storage::IsValidUserName(login->first)
                                   ? login->first
                                   : std::string("(not a user name)");
      spdlog::warn("refused login as '{}' from {}", name,
                   request.remote_address);
      RecordLogin(ctx, request, storage::AuditActor{name, "", ""},
                  "login_failed", "denied");
      return Unauthorized(auth::kBadLogin, /*bad_token=*/false);
    }
    return StatusResponse(out.status(), ctx.random);
  }
  spdlog::info("user {} ({}) logged in from {}", out->principal.user,
               out->principal.role, request.remote_address);
  RecordLogin(ctx, request,
              storage::AuditActor{out->principal.user, out->principal.role, ""},
              "login", "ok");
  nlohmann::ordered_json body;
  body["token"] = out->token;
  body["expires"] = storage::FormatInstant(out->session.expires_ms);
  body["idleTimeoutSeconds"] = ctx.auth.options().idle.count() / 1000;
  body["user"] = out->principal.user;
  body["role"] = out->principal.role;
  return JsonAnswer(200, body);
}

}  // namespace

std::optional<HttpResponse> Admit(ApiContext& ctx, const HttpRequest& request,
                                  std::string_view area, auth::Access access,
                                  std::optional<auth::Principal>* principal) {
  const auth::AuthMode mode = ctx.auth.options().mode;
  const bool needed =
      mode == auth::AuthMode::kRequired ||
      (mode == auth::AuthMode::kWrites && access == auth::Access::kWrite);
  std::optional<std::string> token = BearerToken(request);
  if (!token) {
    if (!needed) return std::nullopt;  // open: today's behaviour
    return Unauthorized("authentication required: " + std::string(kLoginHint),
                        /*bad_token=*/false);
  }
  // A token given is always checked, and its role always applies.
  if (token->empty()) {
    return Unauthorized(
        "Authorization must be 'Bearer <token>'; " + std::string(kLoginHint),
        /*bad_token=*/true);
  }
  Result<auth::Principal> who = ctx.auth.Authenticate(*token);
  if (!who.ok()) {
    if (who.status().code() == Status::Code::kNotFound) {
      return Unauthorized(who.status().message(), /*bad_token=*/true);
    }
    return StatusResponse(who.status(), ctx.random);
  }
  if (Status s = auth::Authorize(who->role, area, access); !s.ok()) {
    *principal = std::move(*who);  // the refusal is recorded under their name
    return OutcomeResponse(403, "forbidden", s.message());
  }
  *principal = std::move(*who);
  return std::nullopt;
}

HttpResponse HandleAuth(ApiContext& ctx, const HttpRequest& request,
                        const std::string& action,
                        const std::vector<QueryParam>& query) {
  if (Status s = CheckQueryParams(query, {}); !s.ok()) {
    return StatusResponse(s, ctx.random);
  }
  if (action == "login") return Login(ctx, request);

  std::optional<std::string> token = BearerToken(request);
  if (!token || token->empty()) {
    return Unauthorized("no session: " + std::string(kLoginHint),
                        /*bad_token=*/token.has_value());
  }
  Result<auth::Principal> who = ctx.auth.Authenticate(*token);
  if (!who.ok()) {
    if (who.status().code() == Status::Code::kNotFound) {
      return Unauthorized(who.status().message(), /*bad_token=*/true);
    }
    return StatusResponse(who.status(), ctx.random);
  }
  if (action == "logout") {
    Status ended = ctx.auth.Logout(*token);
    if (!ended.ok() && ended.code() != Status::Code::kNotFound) {
      return StatusResponse(ended, ctx.random);
    }
    spdlog::info("user {} logged out", who->user);
    RecordLogin(ctx, request, storage::AuditActor{who->user, who->role, ""},
                "logout", "ok");
    nlohmann::ordered_json body;
    body["user"] = who->user;
    body["loggedOut"] = true;
    return JsonAnswer(200, body);
  }
  Result<storage::SessionEntry> session = ctx.auth.SessionOf(*token);
  if (!session.ok()) return StatusResponse(session.status(), ctx.random);
  nlohmann::ordered_json body;
  body["user"] = who->user;
  body["role"] = who->role;
  body["region"] = who->region.empty() ? nlohmann::ordered_json()
                                       : nlohmann::ordered_json(who->region);
  body["may"] = auth::DescribeRole(who->role);
  Result<std::string> reads = DescribeScope(ctx, *who);
  if (!reads.ok()) return StatusResponse(reads.status(), ctx.random);
  body["reads"] = *reads;
  body["expires"] = storage::FormatInstant(session->expires_ms);
  body["idleTimeoutSeconds"] = ctx.auth.options().idle.count() / 1000;
  return JsonAnswer(200, body);
}

}  // namespace posta::node
