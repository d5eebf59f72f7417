// GET /audit: the audit trail for admins (and a hub's coordinators, within
// their region), and the pieces `posta audit` shares with it.
#include <algorithm>
#include <charconv>
#include <ctime>

#include "api/handlers.h"
#include "api/operation_outcome.h"
#include "posta/storage/record.h"

namespace posta::node {
namespace {

constexpr std::string_view kAuditParams =
    "since, until, actor, action, resource, facility, node, _count, _cursor";

Result<int64_t> ParseInt(std::string_view name, std::string_view text) {
  int64_t value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Status::Malformed(
        std::string(name),
        "'" + std::string(text.substr(0, 64)) + "' is not a whole number");
  }
  return value;
}

HttpResponse JsonAnswer(const nlohmann::ordered_json& body) {
  HttpResponse response;
  response.content_type = "application/json";
  response.headers.emplace_back("Cache-Control", "no-store");
  // Ordered as built (DumpJson would sort the members).
  response.body = body.dump(-1, ' ', false,
                            nlohmann::ordered_json::error_handler_t::replace) +
                  "\n";
  return response;
}

}  // namespace

Result<int64_t> ParseAuditTime(std::string_view name, std::string_view text) {
  // YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS with an optional .fff and Z, in UTC.
  auto digits = [&](size_t pos, size_t n, int* out) {
    if (pos + n > text.size()) return false;
    int value = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      value = value * 10 + (text[i] - '0');
    }
    *out = value;
    return true;
  };
  auto at = [&](size_t pos, char c) {
    return pos < text.size() && text[pos] == c;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
  bool ok = digits(0, 4, &y) && at(4, '-') && digits(5, 2, &mo) && at(7, '-') &&
            digits(8, 2, &d);
  size_t end = 10;
  if (ok && text.size() > 10) {
    ok = at(10, 'T') && digits(11, 2, &h) && at(13, ':') &&
         digits(14, 2, &mi) && at(16, ':') && digits(17, 2, &s);
    end = 19;
    if (ok && at(19, '.')) {
      ok = digits(20, 3, &ms);
      end = 23;
    }
    if (ok && at(end, 'Z')) ++end;
  }
  ok = ok && end == text.size() && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 &&
       h <= 23 && mi <= 59 && s <= 60;
  if (!ok) {
    return Status::Malformed(std::string(name),
                             "'" + std::string(text.substr(0, 64)) +
                                 "' is not a time; use YYYY-MM-DD or "
                                 "YYYY-MM-DDTHH:MM:SSZ (UTC)");
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

Result<storage::AuditFilter> ParseAuditFilter(
    const std::vector<QueryParam>& query) {
  storage::AuditFilter filter;
  for (const QueryParam& p : query) {
    const std::string& v = p.value;
    if (p.name == "_format") {
      POSTA_RETURN_IF_ERROR(CheckQueryParams({p}, {}));
    } else if (p.name == "since") {
      POSTA_ASSIGN_OR_RETURN(filter.since_ms, ParseAuditTime(p.name, v));
    } else if (p.name == "until") {
      POSTA_ASSIGN_OR_RETURN(filter.until_ms, ParseAuditTime(p.name, v));
    } else if (p.name == "actor") {
      filter.actor = v;
    } else if (p.name == "action") {
      filter.action = v;
    } else if (p.name == "resource") {
      filter.resource = v;
    } else if (p.name == "facility") {
      filter.facilities.push_back(v);
    } else if (p.name == "node") {
      filter.node_id = v;
    } else if (p.name == "_count") {
      POSTA_ASSIGN_OR_RETURN(int64_t n, ParseInt(p.name, v));
      if (n < 1 || n > 1000) {
        return Status::Malformed("_count", "must be 1 to 1000, not " + v);
      }
      filter.limit = static_cast<size_t>(n);
    } else if (p.name == "_cursor") {
      POSTA_ASSIGN_OR_RETURN(int64_t n, ParseInt(p.name, v));
      if (n < 0) return Status::Malformed("_cursor", "must not be negative");
      filter.after_cursor = n;
    } else {
      return Status::Malformed(p.name.substr(0, 64),
                               "query parameter not supported here; use " +
                                   std::string(kAuditParams));
    }
    for (const std::string* text :
         {&filter.actor, &filter.action, &filter.resource, &filter.node_id}) {
      if (text->size() > 256) {
        return Status::Malformed(p.name.substr(0, 64), "longer than 256 bytes");
      }
    }
  }
  return filter;
}

nlohmann::ordered_json AuditEntryJson(const storage::AuditEntry& e) {
  nlohmann::ordered_json j;
  j["node"] = e.node_id;
  j["seq"] = e.seq;
  j["at"] = storage::FormatInstant(e.at_ms);
  j["facility"] = e.facility;
  j["actor"] = e.actor;
  j["role"] = e.role;
  j["address"] = e.remote_address;
  j["action"] = e.action;
  j["resource"] = e.resource;
  j["version"] = e.version;
  j["outcome"] = e.outcome;
  j["detail"] = e.detail;
  j["prevHash"] = e.prev_hash;
  j["hash"] = e.hash;
  return j;
}

storage::AuditActor AuditActorOf(const HttpRequest& request,
                                 const auth::Principal* principal) {
  storage::AuditActor actor;
  if (principal != nullptr) {
    actor.actor = principal->user;
    actor.role = principal->role;
  } else {
    actor.actor = "anonymous";
  }
  actor.remote_address = request.remote_address;
  return actor;
}

Result<storage::AuditFilter> ScopeAuditFilter(storage::RecordStore& store,
                                              const auth::Principal& who,
                                              storage::AuditFilter filter) {
  if (who.role != "coordinator" || who.region.empty()) return filter;
  // A coordinator reads the entries of the facilities of their region (the
  // hub's registry), and of those only the ones asked for.
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::FacilityEntry> registry,
                         store.ListFacilities());
  std::vector<std::string> allowed;
  for (const storage::FacilityEntry& f : registry) {
    if (f.region != who.region) continue;
    if (filter.facilities.empty() ||
        std::find(filter.facilities.begin(), filter.facilities.end(), f.id) !=
            filter.facilities.end()) {
      allowed.push_back(f.id);
    }
  }
  if (allowed.empty()) {
    return Status::PermissionDenied(
        "region " + who.region,
        filter.facilities.empty()
            ? "no registered facility is in this region"
            : "the facilities asked for are not in this region");
  }
  filter.facilities = std::move(allowed);
  return filter;
}

HttpResponse HandleAudit(ApiContext& ctx, const AuditCall& call) {
  if (call.principal == nullptr) {
    // The trail names patients and people: never open, whatever [http] auth
    // says about other reads.
    HttpResponse response = OutcomeResponse(
        401, "login",
        "the audit trail is read by a logged-in admin (or a hub's "
        "coordinator); log in with POST /auth/login and send Authorization: "
        "Bearer <token>");
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"posta\"");
    return response;
  }
  Result<storage::AuditFilter> filter = ParseAuditFilter(call.query);
  if (!filter.ok()) return StatusResponse(filter.status(), ctx.random);
  Result<storage::AuditFilter> scoped =
      ScopeAuditFilter(ctx.store, *call.principal, std::move(filter).value());
  if (!scoped.ok()) {
    if (scoped.status().code() == Status::Code::kPermissionDenied) {
      return OutcomeResponse(403, "forbidden", scoped.status().message());
    }
    return StatusResponse(scoped.status(), ctx.random);
  }
  Result<storage::AuditPage> page = ctx.store.ReadAudit(*scoped);
  if (!page.ok()) return StatusResponse(page.status(), ctx.random);
  nlohmann::ordered_json body;
  body["entries"] = nlohmann::ordered_json::array();
  for (const storage::AuditEntry& e : page->entries) {
    body["entries"].push_back(AuditEntryJson(e));
  }
  body["next"] =
      page->next_cursor == 0
          ? nlohmann::ordered_json()
          : nlohmann::ordered_json(std::to_string(page->next_cursor));
  return JsonAnswer(body);
}

}  // namespace posta::node
