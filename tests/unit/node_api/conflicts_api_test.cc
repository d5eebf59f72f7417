// /conflicts: list, show and resolve sync conflicts through the API, their
// figures in /health and /metrics, and the /sync/v1 routing hook. Conflicts
// are made as sync makes them: another node's version applied through a
// merger that reports them.
#include <gtest/gtest.h>

#include <optional>

#include "api_fixture.h"
#include "posta/storage/replication.h"
#include "reporting_merger.h"

namespace posta::node::testing {
namespace {

using nlohmann::json;

using ::posta::testing::ConflictSpec;
using ::posta::testing::kOtherNode;
using ::posta::testing::ReportingMerger;
constexpr const char* kJson = "application/json";

class FakeSync final : public SyncEndpoint {
 public:
  HttpResponse Handle(std::string_view op,
                      const HttpRequest& request) override {
    ops.emplace_back(op);
    bodies.push_back(request.body);
    HttpResponse response;
    response.content_type = "application/octet-stream";
    response.body = "sync:" + std::string(op);
    return response;
  }
  std::vector<std::string> ops;
  std::vector<std::string> bodies;
};

class ConflictsApiTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    storage::StoreOptions options;
    options.path = dir_.File("origin.db");
    options.create_if_missing = true;
    options.facility = "fac-1";
    options.clock = &store_clock_;
    auto origin = storage::OpenRecordStore(options);
    ASSERT_OK(origin);
    origin_ = std::move(origin).value();
  }

  // A patient written on the origin node and synced here, where the merge
  // reports `specs`. Returns the patient's id.
  std::string SyncPatientWithConflicts(std::vector<ConflictSpec> specs) {
    store_clock_.Advance(std::chrono::seconds(1));
    storage::WriteOp op;
    op.kind = storage::WriteKind::kCreate;
    op.type = storage::ResourceType::kPatient;
    op.body = PatientJson("Okafor", "Ada");
    storage::WriteOutcome written = origin_->Write(op);
    EXPECT_OK(written.status);
    storage::ChangeFilter filter;
    filter.after_seq = origin_seq_;
    auto batch = origin_->ReadChanges(filter);
    EXPECT_OK(batch);
    if (!batch.ok()) return {};
    origin_seq_ = batch->last_seq;
    storage::PeerState peer;
    peer.node_id = origin_->node_id();
    peer.facility = "fac-1";
    peer.role = "clinic";
    peer.received_seq = batch->last_seq;
    merger_.specs = std::move(specs);
    EXPECT_OK(store_->ApplyChanges(batch->changes, batch->conflicts, merger_,
                                   peer));
    return written.record.id;
  }

  // A gender conflict: the record holds "female", "male" lost.
  std::string GenderConflict() {
    SyncPatientWithConflicts(
        {{"gender", std::string("\"female\""), std::string("\"male\"")}});
    return OnlyOpenConflictId();
  }

  std::string OnlyOpenConflictId() {
    HttpResponse response = Handle(Request("GET", "/conflicts"));
    EXPECT_EQ(response.status, 200) << response.body;
    json body = Body(response);
    if (body["conflicts"].empty()) return {};
    return body["conflicts"][0].value("id", "");
  }

  HttpResponse Resolve(const std::string& id, const json& body) {
    return Handle(
        Request("POST", "/conflicts/" + id + "/resolve", body.dump(), kJson));
  }

  json Patient(const std::string& id) {
    HttpResponse response = Handle(Request("GET", "/fhir/Patient/" + id));
    EXPECT_EQ(response.status, 200) << response.body;
    return Body(response);
  }

  std::string MetricsText() { return Handle(Request("GET", "/metrics")).body; }

  std::unique_ptr<storage::RecordStore> origin_;
  int64_t origin_seq_ = 0;
  ReportingMerger merger_;
};

TEST_F(ConflictsApiTest, ListIsEmptyOnAFreshNode) {
  HttpResponse response = Handle(Request("GET", "/conflicts"));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, kJson);
  EXPECT_EQ(Body(response), json::parse(R"({"total":0,"conflicts":[]})"));
}

TEST_F(ConflictsApiTest, ListShowsOpenConflictsNewestFirst) {
  std::string first = SyncPatientWithConflicts(
      {{"gender", std::string("\"female\""), std::string("\"male\"")}});
  std::string second = SyncPatientWithConflicts(
      {{std::string(storage::kDeletedField), std::string("false"),
        std::string("true")}});

  HttpResponse response = Handle(Request("GET", "/conflicts"));
  ASSERT_EQ(response.status, 200) << response.body;
  json body = Body(response);
  ASSERT_EQ(body["total"], 2);
  ASSERT_EQ(body["conflicts"].size(), 2u);
  const json& newest = body["conflicts"][0];
  EXPECT_EQ(newest["recordId"], second);
  EXPECT_EQ(newest["kind"], "delete-vs-edit");
  EXPECT_EQ(newest["field"], "@deleted");
  EXPECT_EQ(newest["winner"]["value"], false);
  EXPECT_EQ(newest["loser"]["value"], true);

  const json& c = body["conflicts"][1];
  EXPECT_EQ(c["recordId"], first);
  std::string id = c["id"];
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(c["kind"], "field-edit");
  EXPECT_EQ(c["resourceType"], "Patient");
  EXPECT_EQ(c["facility"], "fac-1");
  EXPECT_EQ(c["field"], "gender");
  EXPECT_EQ(c["state"], "open");
  EXPECT_EQ(c["winner"]["value"], "female");
  EXPECT_EQ(c["winner"]["present"], true);
  EXPECT_EQ(c["winner"]["origin"], origin_->node_id());
  EXPECT_EQ(c["loser"]["value"], "male");
  EXPECT_EQ(c["loser"]["origin"], kOtherNode);
  EXPECT_EQ(c["loser"]["at"], "2024-03-09T15:00:01.000Z");
  EXPECT_EQ(c["winner"]["at"], "2024-03-09T16:00:01.000Z");
  ASSERT_OK_AND_ASSIGN(base::HlcStamp stamp,
                       base::HlcStamp::Parse(c["loser"]["stamp"].get<std::string>()));
  EXPECT_EQ(stamp.node, kOtherNode);
  EXPECT_TRUE(c["resolution"].is_null());
  EXPECT_TRUE(c["resolvedBy"].is_null());
  EXPECT_TRUE(c["stateStamp"].is_string());

  body = Body(Handle(Request("GET", "/conflicts?_count=1")));
  EXPECT_EQ(body["total"], 1);
  EXPECT_EQ(body["conflicts"][0]["recordId"], second);
  body = Body(Handle(Request("GET", "/conflicts?state=all&_count=5000")));
  EXPECT_EQ(body["total"], 2);
}

TEST_F(ConflictsApiTest, AnAbsentSideIsNullAndNotPresent) {
  SyncPatientWithConflicts({{"birthDate", std::string("\"1990-04-12\""),
                             std::nullopt}});
  json c = Body(Handle(Request("GET", "/conflicts")))["conflicts"][0];
  EXPECT_TRUE(c["loser"]["value"].is_null());
  EXPECT_EQ(c["loser"]["present"], false);
}

TEST_F(ConflictsApiTest, BadListParametersAre400) {
  for (const char* target :
       {"/conflicts?state=closed", "/conflicts?_count=0", "/conflicts?_count=x",
        "/conflicts?_count=-1", "/conflicts?_pretty=1", "/conflicts?_format=xml"}) {
    EXPECT_TRUE(IsOutcome(Handle(Request("GET", target)), 400, "structure"))
        << target;
  }
  EXPECT_EQ(Handle(Request("GET", "/conflicts?state=open&_format=json")).status,
            200);
}

TEST_F(ConflictsApiTest, GetShowsOneConflict) {
  std::string id = GenderConflict();
  HttpResponse response = Handle(Request("GET", "/conflicts/" + id));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, kJson);
  json c = Body(response);
  EXPECT_EQ(c["id"], id);
  EXPECT_EQ(c["loser"]["value"], "male");
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/conflicts/" + id + "?x=1")),
                        400));
}

TEST_F(ConflictsApiTest, UnknownOrMalformedIdsAre404) {
  GenderConflict();
  std::string unknown(32, 'a');
  HttpResponse response = Handle(Request("GET", "/conflicts/" + unknown));
  ASSERT_TRUE(IsOutcome(response, 404, "not-found"));
  EXPECT_NE(Body(response)["issue"][0]["diagnostics"].get<std::string>().find(
                "no such conflict"),
            std::string::npos);
  EXPECT_TRUE(IsOutcome(
      Resolve(unknown, {{"choose", "winner"}}), 404, "not-found"));
  for (const std::string& bad :
       {std::string("xyz"), std::string(32, 'A'), std::string(33, 'a'),
        std::string(31, 'a'), std::string(31, 'a') + "g", std::string("")}) {
    EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/conflicts/" + bad)), 404))
        << bad;
    EXPECT_TRUE(IsOutcome(Resolve(bad, {{"choose", "winner"}}), 404)) << bad;
  }
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/conflicts/" + unknown + "/x")),
                        404));
}

TEST_F(ConflictsApiTest, ResolveWithTheLoserWritesTheRecord) {
  std::string record = SyncPatientWithConflicts(
      {{"gender", std::string("\"female\""), std::string("\"male\"")}});
  std::string id = OnlyOpenConflictId();
  EXPECT_EQ(Patient(record)["gender"], "female");

  HttpResponse response =
      Resolve(id, {{"choose", "loser"}, {"by", "Nurse Amina"}});
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, kJson);
  json c = Body(response);
  EXPECT_EQ(c["state"], "resolved");
  EXPECT_EQ(c["resolution"], "loser");
  EXPECT_EQ(c["resolvedBy"], "Nurse Amina");
  EXPECT_EQ(Patient(record)["gender"], "male");

  // Already resolved: 409, and nothing changes.
  json before = Patient(record);
  EXPECT_TRUE(IsOutcome(Resolve(id, {{"choose", "winner"}}), 409, "conflict"));
  EXPECT_EQ(Patient(record), before);

  EXPECT_EQ(Body(Handle(Request("GET", "/conflicts")))["total"], 0);
  json all = Body(Handle(Request("GET", "/conflicts?state=all")));
  ASSERT_EQ(all["total"], 1);
  EXPECT_EQ(all["conflicts"][0]["state"], "resolved");
}

TEST_F(ConflictsApiTest, ResolveWithTheWinnerKeepsTheRecord) {
  std::string record = SyncPatientWithConflicts(
      {{"gender", std::string("\"female\""), std::string("\"male\"")}});
  std::string id = OnlyOpenConflictId();
  json before = Patient(record);
  HttpResponse response = Resolve(id, {{"choose", "winner"}});
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["resolution"], "winner");
  EXPECT_TRUE(Body(response)["resolvedBy"].is_null());
  EXPECT_EQ(Patient(record), before);  // same version, same content
}

TEST_F(ConflictsApiTest, ResolveWithANewValue) {
  std::string record = SyncPatientWithConflicts(
      {{"gender", std::string("\"female\""), std::string("\"male\"")}});
  std::string id = OnlyOpenConflictId();

  // A value the record cannot hold: 422 naming the field, still open.
  HttpResponse bad = Resolve(id, {{"choose", "value"}, {"value", "sometimes"}});
  ASSERT_TRUE(IsOutcome(bad, 422, "invalid"));
  EXPECT_NE(Body(bad)["issue"][0]["diagnostics"].get<std::string>().find(
                "gender"),
            std::string::npos)
      << bad.body;
  EXPECT_EQ(Body(Handle(Request("GET", "/conflicts/" + id)))["state"], "open");
  EXPECT_EQ(Patient(record)["gender"], "female");

  HttpResponse response =
      Resolve(id, {{"choose", "value"}, {"value", "other"}});
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["resolution"], "value");
  EXPECT_EQ(Patient(record)["gender"], "other");
}

TEST_F(ConflictsApiTest, ResolveWithNullOrNoValueRemovesTheField) {
  std::string a = SyncPatientWithConflicts(
      {{"gender", std::string("\"female\""), std::string("\"male\"")}});
  std::string a_conflict = OnlyOpenConflictId();
  ASSERT_EQ(Resolve(a_conflict, {{"choose", "value"}, {"value", nullptr}}).status,
            200);
  EXPECT_FALSE(Patient(a).contains("gender"));

  std::string b = SyncPatientWithConflicts(
      {{"gender", std::string("\"female\""), std::string("\"male\"")}});
  std::string b_conflict = OnlyOpenConflictId();
  ASSERT_EQ(Resolve(b_conflict, {{"choose", "value"}}).status, 200);
  EXPECT_FALSE(Patient(b).contains("gender"));
  EXPECT_EQ(Patient(b)["name"][0]["family"], "Okafor");
}

TEST_F(ConflictsApiTest, DeleteVersusEditIsResolvedByASide) {
  std::string record = SyncPatientWithConflicts(
      {{std::string(storage::kDeletedField), std::string("false"),
        std::string("true")}});
  std::string id = OnlyOpenConflictId();
  // A delete conflict takes no value.
  EXPECT_TRUE(IsOutcome(Resolve(id, {{"choose", "value"}, {"value", true}}),
                        422));
  ASSERT_EQ(Resolve(id, {{"choose", "loser"}}).status, 200);
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/fhir/Patient/" + record)), 410));
}

TEST_F(ConflictsApiTest, MalformedResolveBodiesAre400) {
  std::string id = GenderConflict();
  std::string deep = "{\"choose\":\"value\",\"value\":" + std::string(100, '[') +
                     std::string(100, ']') + "}";
  for (const std::string& body :
       {std::string("not json"), std::string("[]"), std::string("\"winner\""),
        std::string("{}"), std::string(R"({"choose":"maybe"})"),
        std::string(R"({"choose":3})"), std::string(R"({"choose":"Winner"})"),
        std::string(R"({"choose":"winner","extra":1})"),
        std::string(R"({"choose":"winner","value":1})"),
        std::string(R"({"choose":"loser","by":7})"),
        std::string(R"({"choose":"loser","by":"two\nlines"})"),
        std::string(R"({"by":"x"})"),
        R"({"choose":"loser","by":")" + std::string(201, 'x') + "\"}", deep}) {
    HttpResponse response = Handle(
        Request("POST", "/conflicts/" + id + "/resolve", body, kJson));
    EXPECT_TRUE(IsOutcome(response, 400, "structure")) << body;
  }
  EXPECT_EQ(Body(Handle(Request("GET", "/conflicts/" + id)))["state"], "open");
  // 200 bytes of "by" are fine.
  HttpResponse ok =
      Resolve(id, {{"choose", "winner"}, {"by", std::string(200, 'x')}});
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(ConflictsApiTest, ResolveNeedsAJsonContentType) {
  std::string id = GenderConflict();
  std::string body = R"({"choose":"winner"})";
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded",
                           "application/json; charset=latin1"}) {
    EXPECT_TRUE(IsOutcome(Handle(Request("POST", "/conflicts/" + id +
                                                     "/resolve",
                                         body, type)),
                          415, "not-supported"))
        << type;
  }
  EXPECT_TRUE(IsOutcome(
      Handle(Request("POST", "/conflicts/" + id + "/resolve", "", "")), 415));
  EXPECT_EQ(Handle(Request("POST", "/conflicts/" + id + "/resolve", body,
                           "application/json; charset=utf-8"))
                .status,
            200);
}

TEST_F(ConflictsApiTest, WrongMethodsAre405WithAllow) {
  std::string id(32, 'b');
  struct Case {
    std::string method;
    std::string target;
    const char* allow;
  };
  for (const Case& c : std::vector<Case>{
           {"POST", "/conflicts", "GET"},
           {"DELETE", "/conflicts/" + id, "GET"},
           {"PUT", "/conflicts/" + id, "GET"},
           {"GET", "/conflicts/" + id + "/resolve", "POST"},
           {"GET", "/sync/v1/push", "POST"}}) {
    HttpResponse response = Handle(Request(c.method, c.target));
    EXPECT_TRUE(IsOutcome(response, 405, "not-supported")) << c.target;
    EXPECT_EQ(HeaderOf(response, "Allow"), c.allow) << c.target;
  }
}

TEST_F(ConflictsApiTest, HealthAndMetricsCountOpenConflicts) {
  json health = Body(Handle(Request("GET", "/health")));
  EXPECT_EQ(health["open_conflicts"], 0);
  EXPECT_NE(MetricsText().find("\nposta_conflicts_open 0\n"), std::string::npos);

  SyncPatientWithConflicts(
      {{"gender", std::string("\"female\""), std::string("\"male\"")},
       {"birthDate", std::string("\"1990-04-12\""), std::nullopt}});
  health = Body(Handle(Request("GET", "/health")));
  EXPECT_EQ(health["open_conflicts"], 2);
  EXPECT_EQ(health["status"], "ok");
  std::string metrics = MetricsText();
  EXPECT_NE(metrics.find("# TYPE posta_conflicts_open gauge\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("\nposta_conflicts_open 2\n"), std::string::npos)
      << metrics;

  std::string id = OnlyOpenConflictId();
  ASSERT_EQ(Handle(Request("GET", "/conflicts/" + id)).status, 200);
  ASSERT_EQ(Resolve(id, {{"choose", "winner"}}).status, 200);
  EXPECT_EQ(Resolve(id, {{"choose", "winner"}}).status, 409);
  EXPECT_EQ(Handle(Request("GET", "/conflicts/nope")).status, 404);
  EXPECT_EQ(Body(Handle(Request("GET", "/health")))["open_conflicts"], 1);
  metrics = MetricsText();
  EXPECT_NE(metrics.find("\nposta_conflicts_open 1\n"), std::string::npos);
  for (const char* line : {
           "posta_http_requests_total{method=\"GET\",route=\"/conflicts\","
           "code=\"200\"} 1\n",
           "posta_http_requests_total{method=\"GET\",route=\"/conflicts/"
           "{id}\",code=\"200\"} 1\n",
           "posta_http_requests_total{method=\"GET\",route=\"/conflicts/"
           "{id}\",code=\"404\"} 1\n",
           "posta_http_requests_total{method=\"POST\",route=\"/conflicts/"
           "{id}/resolve\",code=\"200\"} 1\n",
           "posta_http_requests_total{method=\"POST\",route=\"/conflicts/"
           "{id}/resolve\",code=\"409\"} 1\n"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << metrics;
  }
}

TEST_F(ConflictsApiTest, SyncRoutesToTheEndpointOnAHub) {
  FakeSync sync;
  ApiOptions options;
  options.role = "hub";
  options.sync = &sync;
  Open(options);

  for (const char* op : {"hello", "push", "pull"}) {
    HttpResponse response = Handle(Request(
        "POST", std::string("/sync/v1/") + op, "batch", "application/x-posta"));
    EXPECT_EQ(response.status, 200) << op;
    EXPECT_EQ(response.body, std::string("sync:") + op);
    EXPECT_EQ(response.content_type, "application/octet-stream");
  }
  EXPECT_EQ(sync.ops, (std::vector<std::string>{"hello", "push", "pull"}));
  EXPECT_EQ(sync.bodies[1], "batch");

  EXPECT_TRUE(IsOutcome(Handle(Request("POST", "/sync/v1/merge", "x")), 404));
  EXPECT_TRUE(IsOutcome(Handle(Request("POST", "/sync/v2/push", "x")), 404));
  EXPECT_TRUE(IsOutcome(Handle(Request("POST", "/sync/v1", "x")), 404));
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/sync/v1/pull")), 405));
  EXPECT_EQ(sync.ops.size(), 3u);

  std::string metrics = MetricsText();
  EXPECT_NE(metrics.find("posta_http_requests_total{method=\"POST\",route=\""
                         "/sync/v1/{op}\",code=\"200\"} 3\n"),
            std::string::npos)
      << metrics;
}

TEST_F(ConflictsApiTest, SyncIs404OnAClinic) {
  HttpResponse response = Handle(Request("POST", "/sync/v1/push", "x"));
  ASSERT_TRUE(IsOutcome(response, 404, "not-found"));
  EXPECT_EQ(Body(response)["issue"][0]["diagnostics"], "this node is not a hub");
  EXPECT_NE(MetricsText().find("route=\"/sync/v1/{op}\",code=\"404\"} 1\n"),
            std::string::npos);
}

TEST_F(ApiTest, HealthAndMetricsShowAClinicsSync) {
  SyncState state;
  state.enabled = true;
  state.hub_reachable = false;
  state.last_attempt_ms = 1763900000000;
  state.last_error = "hub 127.0.0.1:8081 unreachable: Connection refused";
  state.syncs_ok = 3;
  state.syncs_failed = 2;
  state.records_pushed = 40;
  state.records_pulled = 7;
  ApiOptions options;
  options.sync_state = [&] { return state; };
  Open(options);
  nlohmann::json health = Body(Handle(Request("GET", "/health")));
  EXPECT_EQ(health["status"], "degraded");
  EXPECT_EQ(health["sync"]["hub_reachable"], false);
  EXPECT_EQ(health["sync"]["last_error"], state.last_error);
  EXPECT_TRUE(health["sync"]["last_success"].is_null());
  EXPECT_EQ(health["sync"]["pending_changes"], 0);
  std::string metrics = Handle(Request("GET", "/metrics")).body;
  EXPECT_NE(metrics.find("posta_sync_runs_total{result=\"failed\"} 2\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("posta_sync_records_total{direction=\"pull\"} 7\n"),
            std::string::npos);
  EXPECT_EQ(health["sync"]["needs_technician"], false);
  EXPECT_NE(health["warnings"].dump().find("last sync failed"),
            std::string::npos)
      << health.dump();

  // Refused by the hub: said plainly, as needing a person.
  state.hub_reachable = true;
  state.last_error =
      "PermissionDenied: hub refused (401 revoked): node 0123456789abcdef "
      "was revoked ...; to sync again, ask the hub administrator for an "
      "enrollment code and run posta enroll";
  state.needs_technician = true;
  health = Body(Handle(Request("GET", "/health")));
  EXPECT_EQ(health["status"], "degraded");
  EXPECT_EQ(health["sync"]["needs_technician"], true);
  EXPECT_EQ(health["sync"]["last_error"], state.last_error);
  EXPECT_NE(health["warnings"].dump().find(
                "no retry helps until a technician acts"),
            std::string::npos)
      << health.dump();

  // A node without sync says so plainly.
  Open(ApiOptions{});
  EXPECT_TRUE(Body(Handle(Request("GET", "/health")))["sync"].is_null());
}

}  // namespace
}  // namespace posta::node::testing
