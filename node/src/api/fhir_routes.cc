// The FHIR REST interactions on one resource type: create, read, vread,
// update (and update-as-create), delete, history-instance, search-type.
#include <algorithm>
#include <optional>

#include "api/bundle.h"
#include "api/handlers.h"
#include "api/json_util.h"
#include "api/operation_outcome.h"
#include "api/search_query.h"

namespace posta::node {

namespace {

std::string Ref(const FhirCall& call) {
  return std::string(storage::ResourceTypeName(call.type)) + "/" + call.id;
}

HttpResponse ResourceResponse(int status, const storage::Record& record,
                              const FhirCall& call) {
  HttpResponse response;
  response.status = status;
  response.content_type = std::string(kFhirJsonType);
  response.body = storage::RenderResource(record);
  response.headers.emplace_back("ETag", VersionTag(record.version));
  response.headers.emplace_back("Last-Modified",
                                HttpDate(record.last_updated_ms));
  if (status == 201) {
    response.headers.emplace_back(
        "Location", ResourceUrl(call.base_url, record.type, record.id) +
                        "/_history/" + record.version.ToString());
  }
  return response;
}

// The one answer for a record that is not there and for one the caller may
// not see, so ids cannot be probed.
HttpResponse NoSuchRecord(ApiContext& ctx, const FhirCall& call) {
  return StatusResponse(Status::NotFound(Ref(call), "no such record"),
                        ctx.random);
}

// NoSuchRecord for a record that exists but is owned outside the caller's
// scope: the same answer, with the refusal kept for the audit trail.
HttpResponse OutOfScope(HttpResponse absent, std::string_view owner) {
  absent.hidden_denial =
      "owned by " + std::string(owner) + ", outside the reader's region";
  return absent;
}

HttpResponse GoneResponse(ApiContext& ctx, const FhirCall& call,
                          const storage::Record& record) {
  HttpResponse response = StatusResponse(
      Status::Gone(Ref(call), "deleted at " + storage::FormatInstant(
                                                  record.last_updated_ms)),
      ctx.random);
  response.headers.emplace_back("ETag", VersionTag(record.version));
  return response;
}

// If-Match: W/"<versionId>" (or the strong form "<versionId>"). Anything
// else, "*" and lists included, is refused rather than guessed at.
Result<std::optional<base::HlcStamp>> ParseIfMatch(const HttpRequest& http) {
  if (!http.HasHeader("If-Match")) return std::optional<base::HlcStamp>();
  std::string value = http.Header("If-Match");
  std::string_view text = value;
  if (text.substr(0, 2) == "W/") text.remove_prefix(2);
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') {
    return Status::Malformed("If-Match",
                             "expected W/\"<versionId>\" from an ETag");
  }
  Result<base::HlcStamp> stamp =
      base::HlcStamp::Parse(text.substr(1, text.size() - 2));
  if (!stamp.ok()) {
    return Status::Malformed("If-Match", "not a version id of this server");
  }
  return std::optional<base::HlcStamp>(std::move(stamp).value());
}

}  // namespace

Status CheckQueryParams(const std::vector<QueryParam>& query,
                        std::initializer_list<std::string_view> allowed) {
  for (const QueryParam& param : query) {
    if (param.name == "_format") {
      POSTA_RETURN_IF_ERROR(CheckFormat(param.value));
      continue;
    }
    if (std::find(allowed.begin(), allowed.end(), param.name) ==
        allowed.end()) {
      return Status::Malformed(param.name.substr(0, 64),
                               "query parameter not supported here");
    }
  }
  return Status::Ok();
}

HttpResponse HandleCreate(ApiContext& ctx, const FhirCall& call) {
  if (Status s = CheckQueryParams(call.query, {}); !s.ok()) {
    return StatusResponse(s, ctx.random);
  }
  if (call.http.HasHeader("If-None-Exist")) {
    return OutcomeResponse(400, "not-supported",
                           "If-None-Exist: conditional create is not "
                           "supported");
  }
  storage::WriteOp op;
  op.kind = storage::WriteKind::kCreate;
  op.type = call.type;
  op.body = call.http.body;
  const storage::AuditActor actor = AuditActorOf(call.http, call.principal);
  op.actor = &actor;
  storage::WriteOutcome outcome = ctx.store.Write(op);
  if (!outcome.status.ok()) return StatusResponse(outcome.status, ctx.random);
  return ResourceResponse(201, outcome.record, call);
}

HttpResponse HandleRead(ApiContext& ctx, const FhirCall& call) {
  if (Status s = CheckQueryParams(call.query, {}); !s.ok()) {
    return StatusResponse(s, ctx.random);
  }
  Result<storage::OwnerScope> scope = ReadScope(ctx, call.principal);
  if (!scope.ok()) return StatusResponse(scope.status(), ctx.random);
  Result<storage::Record> record = ctx.store.Get(call.type, call.id);
  if (!record.ok()) {
    if (record.status().IsNotFound()) return NoSuchRecord(ctx, call);
    return StatusResponse(record.status(), ctx.random);
  }
  // Out of scope looks exactly like absent (deleted ones too).
  if (!InScope(*scope, record->facility)) {
    return OutOfScope(NoSuchRecord(ctx, call), record->facility);
  }
  if (record->deleted) return GoneResponse(ctx, call, *record);
  return ResourceResponse(200, *record, call);
}

HttpResponse HandleVread(ApiContext& ctx, const FhirCall& call) {
  if (Status s = CheckQueryParams(call.query, {}); !s.ok()) {
    return StatusResponse(s, ctx.random);
  }
  Result<base::HlcStamp> version = base::HlcStamp::Parse(call.vid);
  if (!version.ok()) {
    return StatusResponse(
        Status::Malformed("version id", "not a version id of this server"),
        ctx.random);
  }
  auto no_such_version = [&] {
    return StatusResponse(Status::NotFound(Ref(call) + "/_history/" + call.vid,
                                           "no such version"),
                          ctx.random);
  };
  Result<storage::OwnerScope> scope = ReadScope(ctx, call.principal);
  if (!scope.ok()) return StatusResponse(scope.status(), ctx.random);
  if (scope->has_value()) {
    // The record's current owner decides, as for a read.
    Result<storage::Record> current = ctx.store.Get(call.type, call.id);
    if (!current.ok()) {
      if (current.status().IsNotFound()) return no_such_version();
      return StatusResponse(current.status(), ctx.random);
    }
    if (!InScope(*scope, current->facility)) {
      return OutOfScope(no_such_version(), current->facility);
    }
  }
  Result<storage::Record> record =
      ctx.store.GetVersion(call.type, call.id, *version);
  if (!record.ok()) {
    if (record.status().IsNotFound()) return no_such_version();
    return StatusResponse(record.status(), ctx.random);
  }
  if (record->deleted) return GoneResponse(ctx, call, *record);
  return ResourceResponse(200, *record, call);
}

HttpResponse HandleUpdate(ApiContext& ctx, const FhirCall& call) {
  if (Status s = CheckQueryParams(call.query, {}); !s.ok()) {
    return StatusResponse(s, ctx.random);
  }
  Result<std::optional<base::HlcStamp>> if_match = ParseIfMatch(call.http);
  if (!if_match.ok()) return StatusResponse(if_match.status(), ctx.random);
  storage::WriteOp op;
  op.type = call.type;
  op.id = call.id;
  op.body = call.http.body;
  // FHIR update-as-create, unless the client names the version it changes:
  // then the record must exist and still be at that version.
  op.kind = if_match->has_value() ? storage::WriteKind::kUpdate
                                  : storage::WriteKind::kUpsert;
  op.if_match = *if_match;
  const storage::AuditActor actor = AuditActorOf(call.http, call.principal);
  op.actor = &actor;
  storage::WriteOutcome outcome = ctx.store.Write(op);
  if (!outcome.status.ok()) return StatusResponse(outcome.status, ctx.random);
  return ResourceResponse(outcome.created ? 201 : 200, outcome.record, call);
}

HttpResponse HandleDelete(ApiContext& ctx, const FhirCall& call) {
  if (Status s = CheckQueryParams(call.query, {}); !s.ok()) {
    return StatusResponse(s, ctx.random);
  }
  Result<std::optional<base::HlcStamp>> if_match = ParseIfMatch(call.http);
  if (!if_match.ok()) return StatusResponse(if_match.status(), ctx.random);
  storage::WriteOp op;
  op.kind = storage::WriteKind::kDelete;
  op.type = call.type;
  op.id = call.id;
  op.if_match = *if_match;
  const storage::AuditActor actor = AuditActorOf(call.http, call.principal);
  op.actor = &actor;
  storage::WriteOutcome outcome = ctx.store.Write(op);
  if (!outcome.status.ok()) return StatusResponse(outcome.status, ctx.random);
  HttpResponse response;
  response.content_type = std::string(kFhirJsonType);
  response.body = OperationOutcomeJson(
      "information", "informational",
      Ref(call) + (outcome.changed ? " deleted" : " was already deleted"));
  response.headers.emplace_back("ETag", VersionTag(outcome.record.version));
  return response;
}

HttpResponse HandleHistory(ApiContext& ctx, const FhirCall& call) {
  if (Status s = CheckQueryParams(call.query, {"_count"}); !s.ok()) {
    return StatusResponse(s, ctx.random);
  }
  // _count is the only parameter the history takes besides _format.
  Result<ParsedSearch> parsed =
      ParseSearchQuery(call.type, call.query, ctx.options.max_page_size);
  if (!parsed.ok()) return StatusResponse(parsed.status(), ctx.random);
  bool count_given =
      std::any_of(call.query.begin(), call.query.end(),
                  [](const QueryParam& p) { return p.name == "_count"; });
  size_t limit = count_given ? parsed->query.count : ctx.options.max_page_size;

  Result<storage::OwnerScope> scope = ReadScope(ctx, call.principal);
  if (!scope.ok()) return StatusResponse(scope.status(), ctx.random);
  // One more than the limit tells whether the history was cut.
  Result<std::vector<storage::Record>> versions =
      ctx.store.History(call.type, call.id, limit + 1);
  if (!versions.ok()) {
    if (versions.status().IsNotFound()) return NoSuchRecord(ctx, call);
    return StatusResponse(versions.status(), ctx.random);
  }
  // Newest first: the first version's owner is the record's current one.
  if (versions->empty()) return NoSuchRecord(ctx, call);
  if (!InScope(*scope, versions->front().facility)) {
    return OutOfScope(NoSuchRecord(ctx, call), versions->front().facility);
  }
  bool complete = versions->size() <= limit;
  if (!complete) versions->resize(limit);
  BundleLinks links;
  links.self = ResourceUrl(call.base_url, call.type, call.id) + "/_history";
  if (count_given) links.self += "?_count=" + std::to_string(limit);
  HttpResponse response;
  response.content_type = std::string(kFhirJsonType);
  response.body = HistoryBundle(call.base_url, *versions, complete, links);
  return response;
}

HttpResponse HandleSearch(ApiContext& ctx, const FhirCall& call) {
  Result<ParsedSearch> parsed =
      ParseSearchQuery(call.type, call.query, ctx.options.max_page_size);
  if (!parsed.ok()) return StatusResponse(parsed.status(), ctx.random);
  Result<storage::OwnerScope> scope = ReadScope(ctx, call.principal);
  if (!scope.ok()) return StatusResponse(scope.status(), ctx.random);
  parsed->query.owners = std::move(*scope);
  Result<storage::SearchPage> page = ctx.store.Search(parsed->query);
  if (!page.ok()) {
    // A value the store cannot use, or a page token it did not issue for
    // this query, is a bad request, not a rule broken by a resource.
    if (page.status().code() == Status::Code::kInvalidArgument) {
      return StatusResponse(Status::Malformed(page.status().message()),
                            ctx.random);
    }
    return StatusResponse(page.status(), ctx.random);
  }

  std::string type_url = call.base_url + "/fhir/" +
                         std::string(storage::ResourceTypeName(call.type));
  std::vector<QueryParam> params = parsed->condition_params;
  params.push_back({"_count", std::to_string(parsed->query.count)});
  BundleLinks links;
  std::vector<QueryParam> self_params = params;
  if (!parsed->query.page_token.empty()) {
    self_params.push_back({"_page", parsed->query.page_token});
  }
  links.self = type_url + "?" + EncodeQuery(self_params);
  if (!page->next_page_token.empty()) {
    params.push_back({"_page", page->next_page_token});
    links.next = type_url + "?" + EncodeQuery(params);
  }
  HttpResponse response;
  response.content_type = std::string(kFhirJsonType);
  response.body = SearchsetBundle(call.base_url, *page, links);
  return response;
}

}  // namespace posta::node
