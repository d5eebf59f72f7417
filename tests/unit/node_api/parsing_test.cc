// The API's pure pieces: request targets, search query strings, the
// Status → HTTP table, OperationOutcome field paths, metrics text, dates.
#include <gtest/gtest.h>

#include "api/metrics.h"
#include "api/operation_outcome.h"
#include "api/request_target.h"
#include "api/search_query.h"
#include "api/status_http.h"
#include "http/http_types.h"
#include "test_util.h"

namespace posta::node {
namespace {

using storage::ResourceType;
using storage::SearchOp;

TEST(RequestTargetTest, SplitsAndDecodes) {
  ASSERT_OK_AND_ASSIGN(RequestTarget target,
                       ParseRequestTarget("/fhir/Pat%69ent?name=Jos%C3%A9+Garc"
                                          "%C3%ADa&&_count=5&flag"));
  EXPECT_EQ(target.segments,
            (std::vector<std::string>{"fhir", "Patient"}));
  ASSERT_EQ(target.query.size(), 3u);
  EXPECT_EQ(target.query[0].name, "name");
  EXPECT_EQ(target.query[0].value, "José García");
  EXPECT_EQ(target.query[1].value, "5");
  EXPECT_EQ(target.query[2].name, "flag");
  EXPECT_EQ(target.query[2].value, "");
}

TEST(RequestTargetTest, PlusIsLiteralInPaths) {
  ASSERT_OK_AND_ASSIGN(RequestTarget target, ParseRequestTarget("/a+b/"));
  EXPECT_EQ(target.segments, (std::vector<std::string>{"a+b", ""}));
}

TEST(RequestTargetTest, RejectsHostileTargets) {
  for (const char* bad : {"", "fhir/Patient", "*", "/a%", "/a%2", "/a%g0",
                          "/a?b=%", "/a?b=%0", "/a%00b", "/a?x=%00",
                          "/a#frag", "http://host/fhir"}) {
    EXPECT_EQ(ParseRequestTarget(bad).status().code(),
              Status::Code::kMalformed)
        << bad;
  }
}

TEST(RequestTargetTest, BoundsTheNumberOfParameters) {
  std::string target = "/fhir/Patient?";
  for (size_t i = 0; i <= kMaxQueryParams; ++i) target += "a=1&";
  EXPECT_FALSE(ParseRequestTarget(target).ok());
}

TEST(RequestTargetTest, EncodeQueryRoundTrips) {
  std::vector<QueryParam> params = {{"name:exact", "José & co=1+2"},
                                    {"_page", "p1f"}};
  ASSERT_OK_AND_ASSIGN(RequestTarget target,
                       ParseRequestTarget("/x?" + EncodeQuery(params)));
  ASSERT_EQ(target.query.size(), 2u);
  EXPECT_EQ(target.query[0].name, params[0].name);
  EXPECT_EQ(target.query[0].value, params[0].value);
  EXPECT_EQ(target.query[1].value, "p1f");
}

Result<ParsedSearch> Parse(ResourceType type, std::vector<QueryParam> params,
                           size_t max = 1000) {
  return ParseSearchQuery(type, params, max);
}

TEST(SearchQueryTest, MapsParametersToConditions) {
  ASSERT_OK_AND_ASSIGN(
      ParsedSearch parsed,
      Parse(ResourceType::kPatient, {{"name:exact", "ana"},
                                     {"birthdate", "ge2000-01-01"},
                                     {"birthdate", "1999"},
                                     {"gender", "female"},
                                     {"_count", "7"}}));
  const auto& c = parsed.query.conditions;
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].param, "name");
  EXPECT_EQ(c[0].op, SearchOp::kExact);
  EXPECT_EQ(c[1].op, SearchOp::kGe);
  EXPECT_EQ(c[1].value, "2000-01-01");
  EXPECT_EQ(c[2].op, SearchOp::kDefault);
  EXPECT_EQ(c[2].value, "1999");
  EXPECT_EQ(c[3].op, SearchOp::kDefault);
  EXPECT_EQ(parsed.query.count, 7u);
  EXPECT_TRUE(parsed.query.want_total);
  EXPECT_EQ(parsed.condition_params.size(), 4u);
}

TEST(SearchQueryTest, DatePrefixes) {
  for (const auto& [prefix, op] :
       std::vector<std::pair<std::string, SearchOp>>{{"eq", SearchOp::kEq},
                                                     {"ge", SearchOp::kGe},
                                                     {"gt", SearchOp::kGt},
                                                     {"le", SearchOp::kLe},
                                                     {"lt", SearchOp::kLt}}) {
    ASSERT_OK_AND_ASSIGN(ParsedSearch parsed,
                         Parse(ResourceType::kEncounter,
                               {{"date", prefix + "2024-03-01T10:00:00Z"}}));
    EXPECT_EQ(parsed.query.conditions[0].op, op);
    EXPECT_EQ(parsed.query.conditions[0].value, "2024-03-01T10:00:00Z");
  }
  for (const char* bad : {"ne2024", "sa2024", "ap2024", "zz2024", "ge"}) {
    EXPECT_EQ(Parse(ResourceType::kEncounter, {{"date", bad}}).status().code(),
              Status::Code::kMalformed)
        << bad;
  }
}

TEST(SearchQueryTest, ReferenceTypeModifier) {
  ASSERT_OK_AND_ASSIGN(
      ParsedSearch parsed,
      Parse(ResourceType::kObservation, {{"patient:Patient", "abc"}}));
  EXPECT_EQ(parsed.query.conditions[0].value, "Patient/abc");
  EXPECT_FALSE(
      Parse(ResourceType::kObservation, {{"patient:missing", "true"}}).ok());
}

TEST(SearchQueryTest, EscapedCommaIsLiteral) {
  ASSERT_OK_AND_ASSIGN(ParsedSearch parsed,
                       Parse(ResourceType::kPatient, {{"name", "a\\,b"}}));
  EXPECT_EQ(parsed.query.conditions[0].value, "a,b");
  EXPECT_FALSE(Parse(ResourceType::kPatient, {{"name", "a,b"}}).ok());
}

TEST(SearchQueryTest, CountIsClampedAndPageTokenSkipsTotal) {
  ASSERT_OK_AND_ASSIGN(ParsedSearch big,
                       Parse(ResourceType::kPatient,
                             {{"_count", "99999999999999999999"}}, 50));
  EXPECT_EQ(big.query.count, 50u);
  ASSERT_OK_AND_ASSIGN(ParsedSearch small,
                       Parse(ResourceType::kPatient, {}, 5));
  EXPECT_EQ(small.query.count, 5u);
  ASSERT_OK_AND_ASSIGN(ParsedSearch paged,
                       Parse(ResourceType::kPatient, {{"_page", "p10"}}));
  EXPECT_EQ(paged.query.page_token, "p10");
  EXPECT_FALSE(paged.query.want_total);
  for (const char* bad : {"0", "000", "-3", "1.5", "", " 2"}) {
    EXPECT_FALSE(Parse(ResourceType::kPatient, {{"_count", bad}}).ok()) << bad;
  }
}

TEST(SearchQueryTest, UnknownParametersAreRefused) {
  EXPECT_FALSE(Parse(ResourceType::kPatient, {{"date", "2024"}}).ok());
  EXPECT_FALSE(Parse(ResourceType::kAppointment, {{"name", "x"}}).ok());
  EXPECT_FALSE(Parse(ResourceType::kPatient, {{"_id", "x"}}).ok());
  EXPECT_OK(Parse(ResourceType::kPatient, {{"_format", "json"}}));
}

TEST(StatusHttpTest, TableMatchesTheContract) {
  using C = Status::Code;
  std::vector<std::pair<C, int>> expected = {
      {C::kOk, 200},          {C::kMalformed, 400},
      {C::kInvalidArgument, 422}, {C::kNotFound, 404},
      {C::kGone, 410},        {C::kPreconditionFailed, 412},
      {C::kConflict, 409},    {C::kTooLarge, 413},
      {C::kPermissionDenied, 403}, {C::kNoSpace, 507},
      {C::kUnavailable, 503}, {C::kIOError, 500},
      {C::kCorruption, 500},  {C::kInternal, 500},
      {C::kVersionMismatch, 500}};
  for (const auto& [code, http] : expected) {
    EXPECT_EQ(MapStatus(code).http_status, http) << CodeName(code);
  }
}

TEST(OperationOutcomeTest, FieldPathFromMessage) {
  EXPECT_EQ(FieldPathOf("Patient.birthDate: not an ISO date"),
            "Patient.birthDate");
  EXPECT_EQ(FieldPathOf("write Patient/1: Encounter.subject.reference: bad"),
            "Encounter.subject.reference");
  EXPECT_EQ(FieldPathOf("Patient.name[0].given: wrong type"),
            "Patient.name[0].given");
  EXPECT_EQ(FieldPathOf("body: not JSON"), "");
  EXPECT_EQ(FieldPathOf("Practitioner.name: x"), "");
  EXPECT_EQ(FieldPathOf("Patient.: x"), "");
  EXPECT_EQ(FieldPathOf("Patient.birthDate"), "");
}

TEST(OperationOutcomeTest, ServerErrorsHideTheStatus) {
  base::Random random(7);
  // Each 500: what it must not show, and what it says instead.
  const struct {
    Status status;
    std::string_view hidden;
    std::string_view said;
  } kCases[] = {
      {Status::Corruption("/data/posta.db", "bad page"), "posta.db",
       "storage error: the node's database is damaged, and nothing was "
       "changed"},
      {Status::IOError("/data/posta.db", "disk I/O error"), "posta.db",
       "storage error: the node could not read or write its database; retry"},
      {Status::Internal("merge", "/src/x.cc:12"), "x.cc",
       "internal error; reference "},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.status.ToString());
    HttpResponse response = StatusResponse(c.status, random);
    EXPECT_EQ(response.status, 500);
    EXPECT_EQ(response.body.find(c.hidden), std::string::npos);
    EXPECT_NE(response.body.find(c.said), std::string::npos);
    EXPECT_NE(response.body.find("; reference "), std::string::npos);
  }
  HttpResponse busy = StatusResponse(Status::Unavailable("db", "busy"), random);
  EXPECT_EQ(busy.status, 503);
  ASSERT_EQ(busy.headers.size(), 1u);
  EXPECT_EQ(busy.headers[0].first, "Retry-After");
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Metrics metrics;
  metrics.ObserveRequest("GET", "/r", 200, std::chrono::microseconds(500));
  metrics.ObserveRequest("GET", "/r", 200, std::chrono::microseconds(20000));
  metrics.ObserveRequest("GET", "/r", 500, std::chrono::seconds(10));
  std::string out;
  metrics.Render(out);
  auto has = [&](const std::string& s) {
    return out.find(s) != std::string::npos;
  };
  EXPECT_TRUE(has("posta_http_request_duration_seconds_bucket{route=\"/r\","
                  "le=\"0.001\"} 1\n"))
      << out;
  EXPECT_TRUE(has("le=\"0.025\"} 2\n"));
  EXPECT_TRUE(has("le=\"5\"} 2\n"));
  EXPECT_TRUE(has("le=\"+Inf\"} 3\n"));
  EXPECT_TRUE(has("posta_http_request_duration_seconds_count{route=\"/r\"} 3\n"));
  EXPECT_TRUE(has("posta_http_requests_total{method=\"GET\",route=\"/r\","
                  "code=\"500\"} 1\n"));
}

TEST(HttpTypesTest, HttpDateIsImfFixdate) {
  EXPECT_EQ(HttpDate(784111777000), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(HttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(HttpTypesTest, HeaderLookupIgnoresCase) {
  HttpRequest request;
  request.headers = {{"content-TYPE", "a"}, {"Content-Type", "b"}};
  EXPECT_EQ(request.Header("Content-Type"), "a");
  EXPECT_TRUE(request.HasHeader("CONTENT-type"));
  EXPECT_EQ(request.Header("Host"), "");
  EXPECT_FALSE(request.HasHeader("Host"));
}

}  // namespace
}  // namespace posta::node
