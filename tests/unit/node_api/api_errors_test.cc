// Every bad input gets the right status and an OperationOutcome, and leaves
// the store as it was; internal failures never leak details. Also /health
// and /metrics.
#include <gtest/gtest.h>

#include <stdexcept>

#include "api_fixture.h"
#include "posta/base/env.h"

namespace posta::node::testing {
namespace {

using nlohmann::json;

TEST_F(ApiTest, MalformedJsonIs400) {
  std::string digest = Digest();
  for (const char* body : {"{", "not json", "[1,2]", "\"Patient\"",
                           "{\"resourceType\":\"Patient\",}"}) {
    EXPECT_TRUE(IsOutcome(Handle(Request("POST", "/fhir/Patient", body)), 400,
                          "structure"))
        << body;
  }
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, WrongFieldTypeIs422NamingTheField) {
  std::string digest = Digest();
  json body = json::parse(PatientJson("Okafor", "Ada"));
  body["birthDate"] = 19900412;
  HttpResponse response = Handle(Request("POST", "/fhir/Patient", body.dump()));
  ASSERT_TRUE(IsOutcome(response, 422, "invalid"));
  EXPECT_EQ(Body(response)["issue"][0]["expression"][0], "Patient.birthDate");
  body["birthDate"] = "12/04/1990";
  EXPECT_TRUE(
      IsOutcome(Handle(Request("POST", "/fhir/Patient", body.dump())), 422));
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, ResourceTypeMismatchIsRejected) {
  std::string digest = Digest();
  HttpResponse response =
      Handle(Request("POST", "/fhir/Encounter", PatientJson("Okafor", "Ada")));
  EXPECT_TRUE(response.status == 400 || response.status == 422);
  EXPECT_TRUE(IsOutcome(response, response.status));
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, UnknownResourceTypeIs404ListingSupportedTypes) {
  std::string digest = Digest();
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{
           {"GET", "/fhir/Practitioner"},
           {"POST", "/fhir/patient"},
           {"GET", "/fhir/Medication/3f0c2a9e-8d7b-4c61-a5e4-0b9d8c7f6e51"}}) {
    HttpResponse response =
        Handle(Request(method, target, PatientJson("A", "B")));
    ASSERT_TRUE(IsOutcome(response, 404)) << target;
    std::string diagnostics = Body(response)["issue"][0]["diagnostics"];
    EXPECT_NE(diagnostics.find("unknown resource type"), std::string::npos);
    EXPECT_NE(diagnostics.find("supported: Location, Patient, Encounter, "
                               "Observation, Appointment"),
              std::string::npos)
        << diagnostics;
  }
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, BadIdIs400) {
  std::string digest = Digest();
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{
           {"GET", "/fhir/Patient/123"},
           {"PUT", "/fhir/Patient/not-a-uuid"},
           {"DELETE", "/fhir/Patient/..%2F..%2Fetc"},
           {"GET", "/fhir/Patient/x/_history"},
           {"GET", "/fhir/Patient/%27%20OR%201=1--"}}) {
    EXPECT_TRUE(IsOutcome(
        Handle(Request(method, target, PatientJson("Okafor", "Ada"))), 400))
        << method << " " << target;
  }
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, WrongContentTypeIs415) {
  std::string digest = Digest();
  std::string body = PatientJson("Okafor", "Ada");
  for (const char* type :
       {"text/plain", "application/xml", "application/fhir+xml",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin1"}) {
    EXPECT_TRUE(IsOutcome(Handle(Request("POST", "/fhir/Patient", body, type)),
                          415, "not-supported"))
        << type;
  }
  HttpRequest missing = Request("POST", "/fhir/Patient", body, "");
  EXPECT_TRUE(IsOutcome(Handle(missing), 415));
  EXPECT_EQ(Digest(), digest);
  for (const char* type : {"application/json", "Application/FHIR+JSON",
                           "application/fhir+json; charset=UTF-8",
                           "application/fhir+json;fhirVersion=4.0"}) {
    EXPECT_EQ(Handle(Request("POST", "/fhir/Patient", body, type)).status, 201)
        << type;
  }
}

TEST_F(ApiTest, WrongMethodIs405WithAllow) {
  std::string digest = Digest();
  struct Case {
    const char* method;
    std::string target;
    const char* allow;
  };
  std::string id = "/fhir/Patient/3f0c2a9e-8d7b-4c61-a5e4-0b9d8c7f6e51";
  for (const Case& c :
       std::vector<Case>{{"DELETE", "/fhir/Patient", "GET, POST"},
                         {"PATCH", id, "GET, PUT, DELETE"},
                         {"POST", id, "GET, PUT, DELETE"},
                         {"POST", id + "/_history", "GET"},
                         {"POST", "/fhir/metadata", "GET"},
                         {"POST", "/health", "GET"},
                         {"HEAD", "/metrics", "GET"}}) {
    HttpResponse response = Handle(Request(c.method, c.target));
    EXPECT_TRUE(IsOutcome(response, 405, "not-supported")) << c.target;
    EXPECT_EQ(HeaderOf(response, "Allow"), c.allow) << c.target;
  }
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, UnknownRoutesAre404) {
  for (const char* target : {"/", "/fhir",
                             "/fhir/Patient/3f0c2a9e-8d7b-4c61-"
                             "a5e4-0b9d8c7f6e51/extra",
                             "/admin", "/health/x"}) {
    EXPECT_TRUE(IsOutcome(Handle(Request("GET", target)), 404)) << target;
  }
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "no-slash")), 400));
}

TEST_F(ApiTest, UnknownQueryParameterOnReadIs400) {
  std::string id = CreatePatient("Okafor", "Ada");
  EXPECT_TRUE(IsOutcome(
      Handle(Request("GET", "/fhir/Patient/" + id + "?_pretty=1")), 400));
  EXPECT_EQ(
      Handle(Request("GET", "/fhir/Patient/" + id + "?_format=json")).status,
      200);
}

TEST_F(ApiTest, ConditionalCreateIsRefused) {
  std::string digest = Digest();
  HttpRequest request =
      Request("POST", "/fhir/Patient", PatientJson("Okafor", "Ada"));
  request.headers.emplace_back("If-None-Exist", "name=okafor");
  EXPECT_TRUE(IsOutcome(Handle(request), 400, "not-supported"));
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, LinksAreRelativeWithoutAUsableHost) {
  HttpRequest request =
      Request("POST", "/fhir/Patient", PatientJson("Okafor", "Ada"));
  request.headers[0].second = "evil.example\r\nSet-Cookie: x=1";
  HttpResponse response = Handle(request);
  ASSERT_EQ(response.status, 201);
  EXPECT_EQ(HeaderOf(response, "Location").rfind("/fhir/Patient/", 0), 0u);
}

TEST_F(ApiTest, ConfiguredBaseUrlWins) {
  ApiOptions options;
  options.base_url = "https://posta.clinic/";
  Open(options);
  HttpResponse response =
      Handle(Request("POST", "/fhir/Patient", PatientJson("Okafor", "Ada")));
  EXPECT_EQ(
      HeaderOf(response, "Location").rfind("https://posta.clinic/fhir/", 0),
      0u);
}

TEST_F(ApiTest, HealthReportsStoreAndDisk) {
  HttpResponse empty = Handle(Request("GET", "/health"));
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(empty.content_type, "application/json");
  EXPECT_TRUE(Body(empty)["last_write"].is_null());

  CreatePatient("Okafor", "Ada");
  HttpResponse response = Handle(Request("GET", "/health"));
  ASSERT_EQ(response.status, 200);
  json health = Body(response);
  EXPECT_EQ(health["status"], "ok") << response.body;
  EXPECT_EQ(health["version"], "9.9.9");
  EXPECT_EQ(health["role"], "clinic");
  EXPECT_EQ(health["facility"], "fac-1");
  EXPECT_EQ(health["node_id"], store_->node_id());
  EXPECT_EQ(health["database"]["ok"], true);
  EXPECT_GT(health["database"]["schema_version"].get<int>(), 0);
  EXPECT_GT(health["database"]["bytes"].get<int64_t>(), 0);
  EXPECT_EQ(health["last_write"], "2024-03-09T16:00:00.000Z");
  EXPECT_TRUE(health["disk"]["free_bytes"].is_number());
}

class NoSpaceEnv : public base::EnvWrapper {
 public:
  NoSpaceEnv() : EnvWrapper(base::Env::Default()) {}
  Result<uint64_t> FreeBytes(const std::string&) override {
    return uint64_t{1} << 20;
  }
};

TEST_F(ApiTest, HealthIsDegradedOnLowDisk) {
  NoSpaceEnv env;
  ApiOptions options;
  options.data_dir = dir_.path();
  Api api(*store_, metrics_, options, clock_, env);
  HttpResponse response = api.Handle(Request("GET", "/health"));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Body(response)["status"], "degraded");
  EXPECT_EQ(Body(response)["disk"]["free_bytes"], 1 << 20);
}

TEST_F(ApiTest, MetricsCountRequestsByRoutePatternAndReportStore) {
  std::string id = CreatePatient("Okafor", "Ada");
  Handle(Request("GET", "/fhir/Patient/" + id));
  Handle(Request("GET", "/fhir/Patient/" + id));
  Handle(Request("GET", "/fhir/Nope"));
  HttpResponse response = Handle(Request("GET", "/metrics"));
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = response.body;
  auto has = [&](const std::string& line) {
    return text.find(line) != std::string::npos;
  };
  EXPECT_TRUE(
      has("posta_http_requests_total{method=\"GET\",route=\"/fhir/"
          "{type}/{id}\",code=\"200\"} 2\n"))
      << text;
  EXPECT_TRUE(
      has("posta_http_requests_total{method=\"POST\",route=\"/fhir/"
          "{type}\",code=\"201\"} 1\n"));
  EXPECT_TRUE(has("route=\"/fhir/{type}\",code=\"404\"} 1\n"));
  EXPECT_TRUE(has("# TYPE posta_http_request_duration_seconds histogram"));
  EXPECT_TRUE(
      has("posta_http_request_duration_seconds_bucket{route=\"/fhir/"
          "{type}/{id}\",le=\"+Inf\"} 2\n"));
  EXPECT_TRUE(has("posta_records{type=\"Patient\"} 1\n"));
  EXPECT_TRUE(has("posta_records{type=\"Appointment\"} 0\n"));
  EXPECT_TRUE(has("posta_records_deleted 0\n"));
  EXPECT_TRUE(has("posta_database_bytes "));
  EXPECT_TRUE(has("posta_last_write_timestamp_seconds 1710000000.000\n"));
  EXPECT_TRUE(has("posta_changelog_last_seq 1\n"));
  EXPECT_EQ(text.find(id), std::string::npos) << "raw ids in labels";
  EXPECT_EQ(text.find("Nope"), std::string::npos) << "raw paths in labels";
}

// A RecordStore that forwards to a real one but can fail or throw.
class FlakyStore : public storage::RecordStore {
 public:
  explicit FlakyStore(storage::RecordStore& target) : t_(target) {}
  bool fail_reads = false;
  bool throw_reads = false;
  bool fail_stats = false;

  const std::string& node_id() const override { return t_.node_id(); }
  const std::string& facility() const override { return t_.facility(); }
  bool wall_clock_was_behind() const override {
    return t_.wall_clock_was_behind();
  }
  storage::WriteOutcome Write(const storage::WriteOp& op) override {
    return t_.Write(op);
  }
  Result<std::vector<storage::WriteOutcome>> WriteBatch(
      std::span<const storage::WriteOp> ops) override {
    return t_.WriteBatch(ops);
  }
  using storage::RecordStore::Transfer;
  Result<storage::TransferOutcome> Transfer(
      storage::ResourceType type, const std::string& id,
      const std::string& to_facility,
      const storage::AuditActor* actor) override {
    return t_.Transfer(type, id, to_facility, actor);
  }
  Status AppendAudit(const storage::AuditEvent& event,
                     storage::AuditDurability durability) override {
    return t_.AppendAudit(event, durability);
  }
  Status FlushAudit() override { return t_.FlushAudit(); }
  Result<storage::AuditPage> ReadAudit(
      const storage::AuditFilter& filter) override {
    return t_.ReadAudit(filter);
  }
  Result<storage::AuditVerification> VerifyAudit() override {
    return t_.VerifyAudit();
  }
  Result<std::vector<storage::AuditEntry>> AuditChainSince(
      const std::string& node_id, int64_t after_seq, size_t limit) override {
    return t_.AuditChainSince(node_id, after_seq, limit);
  }
  Result<storage::AuditReceipt> StoreReceivedAudit(
      const std::string& node_id,
      std::span<const storage::AuditEntry> entries) override {
    return t_.StoreReceivedAudit(node_id, entries);
  }
  Result<storage::AuditReceipt> AuditChainEnd(
      const std::string& node_id) override {
    return t_.AuditChainEnd(node_id);
  }
  Result<std::vector<storage::AuditBreak>> ListAuditBreaks() override {
    return t_.ListAuditBreaks();
  }
  Result<std::vector<std::vector<std::string>>> PastOwners(
      std::span<const storage::RecordKey> records) override {
    return t_.PastOwners(records);
  }
  Result<storage::Record> Get(storage::ResourceType type,
                              const std::string& id) override {
    if (throw_reads) throw std::runtime_error("boom: /secret/path");
    if (fail_reads) {
      return Status::IOError("/var/lib/posta/posta.db", "disk I/O error");
    }
    return t_.Get(type, id);
  }
  Result<storage::Record> GetVersion(storage::ResourceType type,
                                     const std::string& id,
                                     const base::HlcStamp& v) override {
    return t_.GetVersion(type, id, v);
  }
  Result<std::vector<storage::Record>> History(storage::ResourceType type,
                                               const std::string& id,
                                               size_t limit) override {
    return t_.History(type, id, limit);
  }
  Result<storage::SearchPage> Search(const storage::SearchQuery& q) override {
    return t_.Search(q);
  }
  Result<std::vector<storage::Change>> ChangesSince(int64_t after,
                                                    size_t limit) override {
    return t_.ChangesSince(after, limit);
  }
  Result<storage::StoreStats> Stats() override {
    if (fail_stats) return Status::IOError("stats", "database is locked");
    return t_.Stats();
  }
  Result<std::string> ContentDigest() override { return t_.ContentDigest(); }
  Result<std::string> ReplicaDigest(const std::string& facility) override {
    return t_.ReplicaDigest(facility);
  }
  Status CheckIntegrity() override { return t_.CheckIntegrity(); }
  Status AddUser(const storage::UserEntry& user) override {
    return t_.AddUser(user);
  }
  Result<storage::UserEntry> GetUser(const std::string& name) override {
    return t_.GetUser(name);
  }
  Result<std::vector<storage::UserEntry>> ListUsers() override {
    return t_.ListUsers();
  }
  Status SetUserPassword(const std::string& name, const std::string& hash,
                         int64_t now_ms) override {
    return t_.SetUserPassword(name, hash, now_ms);
  }
  Result<int64_t> DisableUser(const std::string& name,
                              int64_t now_ms) override {
    return t_.DisableUser(name, now_ms);
  }
  Status AddSession(const storage::SessionEntry& session) override {
    return t_.AddSession(session);
  }
  Result<storage::SessionEntry> GetSession(const std::string& hash) override {
    return t_.GetSession(hash);
  }
  Status TouchSession(const std::string& hash, int64_t now_ms) override {
    return t_.TouchSession(hash, now_ms);
  }
  Status DeleteSession(const std::string& hash) override {
    return t_.DeleteSession(hash);
  }
  Result<storage::ChangeBatch> ReadChanges(
      const storage::ChangeFilter& filter) override {
    return t_.ReadChanges(filter);
  }
  Result<int64_t> CountChanges(const storage::ChangeFilter& filter) override {
    return t_.CountChanges(filter);
  }
  Result<storage::ApplyStats> ApplyChanges(
      std::span<const storage::ChangeEntry> changes,
      std::span<const storage::Conflict> conflicts,
      storage::ChangeMerger& merger, const storage::PeerState& peer) override {
    return t_.ApplyChanges(changes, conflicts, merger, peer);
  }
  Result<storage::PeerState> GetPeer(const std::string& node_id) override {
    return t_.GetPeer(node_id);
  }
  Result<std::vector<storage::PeerState>> ListPeers() override {
    return t_.ListPeers();
  }
  Status UpdatePeer(const storage::PeerState& peer) override {
    return t_.UpdatePeer(peer);
  }
  Status AddFacility(const storage::FacilityEntry& f) override {
    return t_.AddFacility(f);
  }
  Result<std::vector<storage::FacilityEntry>> ListFacilities() override {
    return t_.ListFacilities();
  }
  Status AddEnrollmentCode(const storage::EnrollmentCode& code) override {
    return t_.AddEnrollmentCode(code);
  }
  Result<storage::EnrolledNode> RedeemEnrollmentCode(
      const storage::Redemption& r) override {
    return t_.RedeemEnrollmentCode(r);
  }
  Result<storage::EnrolledNode> FindEnrolledNode(
      const std::string& hash) override {
    return t_.FindEnrolledNode(hash);
  }
  Result<storage::EnrolledNode> GetEnrolledNode(
      const std::string& node_id) override {
    return t_.GetEnrolledNode(node_id);
  }
  Result<std::vector<storage::EnrolledNode>> ListEnrolledNodes() override {
    return t_.ListEnrolledNodes();
  }
  Result<storage::EnrolledNode> RevokeEnrolledNode(const std::string& node_id,
                                                   int64_t now_ms) override {
    return t_.RevokeEnrolledNode(node_id, now_ms);
  }
  Status NoteEnrolledNodeSeen(const std::string& node_id, int64_t now_ms,
                              const std::string& address,
                              const std::string& flag) override {
    return t_.NoteEnrolledNodeSeen(node_id, now_ms, address, flag);
  }
  Result<storage::FreshnessReport> ReportFreshness(
      const storage::ReportScope& scope) override {
    return t_.ReportFreshness(scope);
  }
  Result<storage::ActivityReport> ReportActivity(
      const storage::ActivityQuery& query) override {
    return t_.ReportActivity(query);
  }
  Status NoteNodeReport(const storage::NodeReport& report) override {
    return t_.NoteNodeReport(report);
  }
  Status NoteSyncCompleted(const std::string& node_id,
                           const std::string& facility,
                           int64_t now_ms) override {
    return t_.NoteSyncCompleted(node_id, facility, now_ms);
  }
  using storage::RecordStore::ListConflicts;
  Result<std::vector<storage::Conflict>> ListConflicts(
      bool open_only, size_t limit,
      const storage::OwnerScope& owners) override {
    return t_.ListConflicts(open_only, limit, owners);
  }
  Result<storage::Conflict> GetConflict(const std::string& id) override {
    return t_.GetConflict(id);
  }
  Result<storage::Conflict> ResolveConflict(
      const storage::ConflictResolution& resolution) override {
    return t_.ResolveConflict(resolution);
  }
  Status Backup(const std::string& dest,
                const storage::ProgressFn& progress) override {
    return t_.Backup(dest, progress);
  }

 private:
  storage::RecordStore& t_;
};

TEST_F(ApiTest, InternalErrorsAre500WithOnlyAReference) {
  FlakyStore flaky(*store_);
  Api api(flaky, metrics_, ApiOptions{}, clock_);
  std::string target = "/fhir/Patient/3f0c2a9e-8d7b-4c61-a5e4-0b9d8c7f6e51";
  for (bool throwing : {false, true}) {
    flaky.fail_reads = !throwing;
    flaky.throw_reads = throwing;
    HttpResponse response = api.Handle(Request("GET", target));
    ASSERT_TRUE(IsOutcome(response, 500, "exception"));
    std::string diagnostics = Body(response)["issue"][0]["diagnostics"];
    // A failing disk says so (fail_reads); anything else says only that
    // something went wrong.
    EXPECT_EQ(diagnostics.rfind(throwing ? "internal error; reference "
                                         : "storage error: the node could "
                                           "not read or write its database",
                                0),
              0u)
        << diagnostics;
    EXPECT_NE(diagnostics.find("; reference "), std::string::npos);
    EXPECT_EQ(diagnostics.find("posta.db"), std::string::npos);
    EXPECT_EQ(diagnostics.find("secret"), std::string::npos);
  }
}

TEST_F(ApiTest, HealthIs503WhenTheDatabaseCheckFails) {
  FlakyStore flaky(*store_);
  flaky.fail_stats = true;
  Api api(flaky, metrics_, ApiOptions{}, clock_);
  HttpResponse response = api.Handle(Request("GET", "/health"));
  EXPECT_EQ(response.status, 503);
  json health = Body(response);
  EXPECT_EQ(health["status"], "degraded");
  EXPECT_EQ(health["database"]["ok"], false);
  HttpResponse metrics = api.Handle(Request("GET", "/metrics"));
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("posta_database_up 0\n"), std::string::npos);
}

}  // namespace
}  // namespace posta::node::testing
