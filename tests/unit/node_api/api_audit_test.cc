// The audit trail through Api::Handle: changes, reads and denials are
// recorded with who and from where; GET /audit is for admins (and a hub's
// coordinators, within their region).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "api_fixture.h"
#include "auth/password.h"
#include "auth/sessions.h"

namespace posta::node::testing {
namespace {

using nlohmann::json;

constexpr char kPassword[] = "correct horse";

HttpRequest WithToken(HttpRequest request, const std::string& token) {
  request.headers.emplace_back("Authorization", "Bearer " + token);
  return request;
}

HttpRequest From(HttpRequest request, const std::string& address) {
  request.remote_address = address;
  return request;
}

class AuditApiTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiOptions options;
    options.auth.mode = auth::AuthMode::kRequired;
    options.auth.stand_in = auth::kTestOnlyScrypt;
    Open(options);
    AddUser("reg", "registrar", "");
    AddUser("doc", "clinician", "");
    AddUser("boss", "admin", "");
    AddUser("north", "coordinator", "north");
  }

  void AddUser(const std::string& name, const std::string& role,
               const std::string& region) {
    storage::UserEntry user;
    user.name = name;
    user.role = role;
    user.region = region;
    auto hash = auth::HashPassword(kPassword, auth::kTestOnlyScrypt);
    ASSERT_OK(hash);
    user.password_hash = *hash;
    ASSERT_OK(store_->AddUser(user));
  }

  std::string Token(const std::string& user) {
    HttpResponse r =
        Handle(Request("POST", "/auth/login",
                       json{{"user", user}, {"password", kPassword}}.dump(),
                       "application/json"));
    EXPECT_EQ(r.status, 200) << r.body;
    return Body(r).value("token", "");
  }

  json Audit(const std::string& query, const std::string& token) {
    HttpResponse r = Handle(WithToken(Request("GET", "/audit" + query), token));
    EXPECT_EQ(r.status, 200) << r.body;
    return Body(r);
  }
};

TEST_F(AuditApiTest, ChangesReadsAndDenialsAreRecorded) {
  std::string doc = Token("doc");
  std::string reg = Token("reg");
  HttpResponse created = Handle(From(
      WithToken(Request("POST", "/fhir/Patient", PatientJson("Diaz", "Ana")),
                doc),
      "10.1.2.3:4444"));
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = Body(created)["id"];
  ASSERT_EQ(
      Handle(WithToken(Request("GET", "/fhir/Patient/" + id), doc)).status,
      200);
  ASSERT_EQ(
      Handle(WithToken(Request("GET", "/fhir/Patient?name=diaz"), doc)).status,
      200);
  // A registrar may not write encounters; nobody without a token may read.
  HttpResponse refused = Handle(From(
      WithToken(Request("POST", "/fhir/Encounter", "{}"), reg), "10.9.9.9:1"));
  ASSERT_EQ(refused.status, 403);
  ASSERT_EQ(Handle(Request("GET", "/fhir/Patient/" + id)).status, 401);

  json all = Audit("?_count=100", Token("boss"));
  std::vector<json> entries = all["entries"];
  auto find = [&](const std::string& action, const std::string& actor) {
    for (const json& e : entries) {
      if (e["action"] == action && e["actor"] == actor) return e;
    }
    ADD_FAILURE() << "no " << action << " by " << actor << " in "
                  << all.dump(1);
    return json();
  };
  json create = find("create", "doc");
  EXPECT_EQ(create["resource"], "Patient/" + id);
  EXPECT_EQ(create["role"], "clinician");
  EXPECT_EQ(create["address"], "10.1.2.3:4444");
  EXPECT_EQ(create["version"], Body(created)["meta"]["versionId"]);
  EXPECT_EQ(find("read", "doc")["resource"], "Patient/" + id);
  EXPECT_NE(find("search", "doc")["detail"].get<std::string>().find("diaz"),
            std::string::npos);
  json denied = find("denied", "reg");
  EXPECT_EQ(denied["outcome"], "denied");
  EXPECT_EQ(denied["role"], "registrar");
  EXPECT_EQ(denied["address"], "10.9.9.9:1");
  EXPECT_EQ(denied["resource"], "Encounter");
  EXPECT_NE(denied["detail"].get<std::string>().find("403"), std::string::npos);
  json anonymous = find("denied", "anonymous");
  EXPECT_EQ(anonymous["resource"], "Patient/" + id);
  EXPECT_NE(anonymous["detail"].get<std::string>().find("401"),
            std::string::npos);
  find("login", "doc");
  // The chain holds.
  ASSERT_OK_AND_ASSIGN(storage::AuditVerification v, store_->VerifyAudit());
  EXPECT_TRUE(v.breaks.empty());
}

TEST_F(AuditApiTest, FailedLoginIsRecordedWithoutThePassword) {
  HttpResponse r = Handle(
      From(Request("POST", "/auth/login",
                   json{{"user", "doc"}, {"password", "hunter2-secret"}}.dump(),
                   "application/json"),
           "10.6.6.6:1"));
  ASSERT_EQ(r.status, 401);
  ASSERT_OK_AND_ASSIGN(storage::AuditPage page,
                       store_->ReadAudit({.action = "login_failed"}));
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.entries[0].actor, "doc");
  EXPECT_EQ(page.entries[0].remote_address, "10.6.6.6:1");
  ASSERT_OK_AND_ASSIGN(storage::AuditPage everything, store_->ReadAudit({}));
  for (const storage::AuditEntry& e : everything.entries) {
    EXPECT_EQ(e.detail.find("hunter2"), std::string::npos);
    EXPECT_EQ(e.actor.find("hunter2"), std::string::npos);
  }
  // A refused login is one entry, not also a "denied" one.
  ASSERT_OK_AND_ASSIGN(storage::AuditPage denials,
                       store_->ReadAudit({.action = "denied"}));
  EXPECT_TRUE(denials.entries.empty());
}

TEST_F(AuditApiTest, OnlyAdminsAndCoordinatorsRead) {
  for (const char* user : {"reg", "doc"}) {
    HttpResponse r = Handle(WithToken(Request("GET", "/audit"), Token(user)));
    EXPECT_TRUE(IsOutcome(r, 403, "forbidden")) << user;
  }
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/audit")), 401));
  EXPECT_EQ(
      Handle(WithToken(Request("POST", "/audit", "{}"), Token("boss"))).status,
      405);
  // The refusals to read the trail are in it.
  json denied = Audit("?action=denied&resource=/audit", Token("boss"));
  EXPECT_EQ(denied["entries"].size(), 3u) << denied.dump(1);
}

TEST_F(AuditApiTest, OpenApiStillNeedsALoginForTheTrail) {
  ApiOptions options;
  options.auth.mode = auth::AuthMode::kOpen;
  options.auth.stand_in = auth::kTestOnlyScrypt;
  Open(options);
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/audit")), 401));
  // Writes without a login are recorded as anonymous.
  ASSERT_EQ(Handle(Request("POST", "/fhir/Patient", PatientJson("Diaz", "Ana")))
                .status,
            201);
  ASSERT_OK_AND_ASSIGN(storage::AuditPage page,
                       store_->ReadAudit({.action = "create"}));
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.entries[0].actor, "anonymous");
}

TEST_F(AuditApiTest, FiltersPagesAndBadParameters) {
  std::string doc = Token("doc");
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Handle(WithToken(Request("POST", "/fhir/Patient",
                                       PatientJson("P", "X")),
                               doc))
                  .status,
              201);
  }
  std::string boss = Token("boss");
  json first = Audit("?action=create&_count=2", boss);
  ASSERT_EQ(first["entries"].size(), 2u);
  ASSERT_TRUE(first["next"].is_string());
  std::set<std::string> seen;
  std::string cursor = first["next"];
  for (const json& e : first["entries"]) seen.insert(e["hash"]);
  while (true) {
    json page = Audit("?action=create&_count=2&_cursor=" + cursor, boss);
    for (const json& e : page["entries"]) seen.insert(e["hash"]);
    if (page["next"].is_null()) break;
    cursor = page["next"];
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(Audit("?actor=doc&action=create&since=2024-03-01&until=2099-01-01"
                  "T00:00:00Z",
                  boss)["entries"]
                .size(),
            5u);
  EXPECT_EQ(Audit("?until=2001-01-01", boss)["entries"].size(), 0u);
  EXPECT_EQ(Audit("?resource=Patient&action=create", boss)["entries"].size(),
            5u);
  for (const char* bad : {"?since=yesterday", "?_count=0", "?_count=x",
                          "?_cursor=-1", "?color=red"}) {
    HttpResponse r =
        Handle(WithToken(Request("GET", std::string("/audit") + bad), boss));
    EXPECT_TRUE(IsOutcome(r, 400)) << bad << ": " << r.body;
  }
}

// A write the store refuses (a patient transferred away) is a 403 like a
// role's, and recorded like one; the transfer itself is recorded by the
// clinician who made it.
TEST_F(AuditApiTest, StoreRefusalsAndTransfersAreRecorded) {
  std::string doc = Token("doc");
  HttpResponse created = Handle(WithToken(
      Request("POST", "/fhir/Patient", PatientJson("Diaz", "Ana")), doc));
  ASSERT_EQ(created.status, 201);
  const std::string id = Body(created)["id"];
  const json to = {
      {"resourceType", "Parameters"},
      {"parameter", {{{"name", "facility"}, {"valueString", "fac-2"}}}}};
  HttpResponse moved = Handle(WithToken(
      Request("POST", "/fhir/Patient/" + id + "/$transfer", to.dump()), doc));
  ASSERT_EQ(moved.status, 200) << moved.body;
  HttpResponse refused = Handle(WithToken(
      Request("PUT", "/fhir/Patient/" + id, PatientJson("Ruiz", "Ana")), doc));
  ASSERT_EQ(refused.status, 403) << refused.body;

  json boss = Audit("?resource=Patient/" + id, Token("boss"));
  std::vector<std::string> seen;
  for (const json& e : boss["entries"]) {
    seen.push_back(e["action"].get<std::string>() + " by " +
                   e["actor"].get<std::string>());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"create by doc", "transfer by doc",
                                            "denied by doc"}))
      << boss.dump(1);
  const json& denial = boss["entries"][2];
  EXPECT_NE(denial["detail"].get<std::string>().find("transferred"),
            std::string::npos)
      << denial.dump();
}

TEST_F(AuditApiTest, CoordinatorsReadTheirRegionOnly) {
  ASSERT_OK(
      store_->AddFacility({.id = "fac-1", .name = "One", .region = "north"}));
  ASSERT_OK(
      store_->AddFacility({.id = "fac-2", .name = "Two", .region = "south"}));
  std::string north = Token("north");
  // This store is fac-1's: its entries are the region's.
  json mine = Audit("", north);
  EXPECT_FALSE(mine["entries"].empty());
  for (const json& e : mine["entries"]) EXPECT_EQ(e["facility"], "fac-1");
  HttpResponse other =
      Handle(WithToken(Request("GET", "/audit?facility=fac-2"), north));
  EXPECT_TRUE(IsOutcome(other, 403, "forbidden")) << other.body;
}

}  // namespace
}  // namespace posta::node::testing
