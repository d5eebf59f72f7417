// Logins, sessions and roles through Api::Handle: every role against every
// resource type, read and write; refusals leave the database as it was.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "api_fixture.h"
#include "auth/password.h"
#include "auth/sessions.h"

namespace posta::node::testing {
namespace {

using nlohmann::json;

constexpr char kPassword[] = "correct horse";
constexpr char kPatient[] = "6f1c2a0e-3b7d-4c55-9a1e-2f4b8c9d0e11";
constexpr char kEncounter[] = "0b9e7f52-1c3a-4d8e-b6f0-7a2c5d4e3f21";
constexpr char kObservation[] = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
constexpr char kAppointment[] = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a";
constexpr char kLocation[] = "5a7d3c1b-9e2f-4a6b-8c0d-1e2f3a4b5c6d";

std::string Ref(const std::string& type, const std::string& id) {
  return type + "/" + id;
}

// A valid body of each type, with its id.
std::map<std::string, json> Bodies() {
  std::map<std::string, json> b;
  b["Patient"] = json::parse(PatientJson("Garcia", "Ana"));
  b["Patient"]["id"] = kPatient;
  b["Encounter"] = {{"resourceType", "Encounter"},
                    {"id", kEncounter},
                    {"status", "finished"},
                    {"class", {{"code", "AMB"}}},
                    {"subject", {{"reference", Ref("Patient", kPatient)}}},
                    {"period", {{"start", "2024-03-05T10:00:00Z"}}}};
  b["Observation"] = {
      {"resourceType", "Observation"},
      {"id", kObservation},
      {"status", "final"},
      {"code",
       {{"coding", {{{"system", "http://loinc.org"}, {"code", "8310-5"}}}}}},
      {"subject", {{"reference", Ref("Patient", kPatient)}}},
      {"encounter", {{"reference", Ref("Encounter", kEncounter)}}},
      {"effectiveDateTime", "2024-03-05T10:05:00Z"},
      {"valueQuantity", {{"value", 38.2}, {"unit", "Cel"}}}};
  b["Appointment"] = {{"resourceType", "Appointment"},
                      {"id", kAppointment},
                      {"status", "booked"},
                      {"start", "2024-04-02T09:00:00Z"},
                      {"end", "2024-04-02T09:15:00Z"},
                      {"participant",
                       {{{"actor", {{"reference", Ref("Patient", kPatient)}}},
                         {"status", "accepted"}}}}};
  b["Location"] = {{"resourceType", "Location"},
                   {"id", kLocation},
                   {"status", "active"},
                   {"name", "Room 2"}};
  return b;
}

const char* IdOf(const std::string& type) {
  if (type == "Patient") return kPatient;
  if (type == "Encounter") return kEncounter;
  if (type == "Observation") return kObservation;
  if (type == "Appointment") return kAppointment;
  return kLocation;
}

HttpRequest WithToken(HttpRequest request, const std::string& token) {
  request.headers.emplace_back("Authorization", "Bearer " + token);
  return request;
}

class AuthApiTest : public ApiTest {
 protected:
  void SetUp() override { OpenWith(auth::AuthMode::kRequired); }

  void OpenWith(auth::AuthMode mode) {
    ApiOptions options;
    options.auth.mode = mode;
    options.auth.stand_in = auth::kTestOnlyScrypt;
    Open(options);
    // This node's facility is in region north, the coordinator's.
    if (!store_->GetUser("admin").ok()) {
      ASSERT_OK(store_->AddFacility({"fac-1", "Clinic One", "north", 1}));
    }
    for (const char* role :
         {"registrar", "clinician", "admin", "coordinator"}) {
      // Reopened on the same file: the users are there already.
      if (!store_->GetUser(role).ok()) {
        AddUser(role, role, role == std::string("coordinator") ? "north" : "");
      }
    }
  }

  void AddUser(const std::string& name, const std::string& role,
               const std::string& region = "") {
    storage::UserEntry user;
    user.name = name;
    user.role = role;
    user.region = region;
    auto hash = auth::HashPassword(kPassword, auth::kTestOnlyScrypt);
    ASSERT_OK(hash);
    user.password_hash = *hash;
    user.created_ms = clock_.WallNowMillis();
    user.changed_ms = user.created_ms;
    ASSERT_OK(store_->AddUser(user));
  }

  HttpResponse Login(const std::string& user, const std::string& password) {
    return Handle(Request("POST", "/auth/login",
                          json{{"user", user}, {"password", password}}.dump(),
                          "application/json"));
  }

  std::string Token(const std::string& user) {
    HttpResponse response = Login(user, kPassword);
    EXPECT_EQ(response.status, 200) << response.body;
    return Body(response).value("token", "");
  }

  // Every type stored once, by an admin.
  void Seed() {
    std::string admin = Token("admin");
    std::map<std::string, json> bodies = Bodies();
    for (const char* type :
         {"Location", "Patient", "Encounter", "Observation", "Appointment"}) {
      HttpResponse r = Handle(WithToken(
          Request("PUT", std::string("/fhir/") + type + "/" + IdOf(type),
                  bodies[type].dump()),
          admin));
      ASSERT_EQ(r.status, 201) << type << ": " << r.body;
    }
  }

  static std::string Diagnostics(const HttpResponse& response) {
    return Body(response)["issue"][0].value("diagnostics", "");
  }
};

TEST_F(AuthApiTest, LoginGivesATokenThatWorks) {
  HttpResponse login = Login("clinician", kPassword);
  ASSERT_EQ(login.status, 200) << login.body;
  EXPECT_EQ(login.content_type, "application/json");
  json body = Body(login);
  EXPECT_EQ(body["user"], "clinician");
  EXPECT_EQ(body["role"], "clinician");
  EXPECT_EQ(body["idleTimeoutSeconds"], 12 * 3600);
  // 7 days after 2024-03-09T16:00:00Z.
  EXPECT_EQ(body["expires"], "2024-03-16T16:00:00.000Z");
  std::string token = body["token"];
  EXPECT_EQ(token.size(), 64u);
  HttpResponse who = Handle(WithToken(Request("GET", "/auth/whoami"), token));
  ASSERT_EQ(who.status, 200) << who.body;
  EXPECT_EQ(Body(who)["user"], "clinician");
  EXPECT_EQ(Body(who)["region"], nullptr);
  HttpResponse created = Handle(WithToken(
      Request("POST", "/fhir/Patient", PatientJson("Ng", "Mai")), token));
  EXPECT_EQ(created.status, 201) << created.body;
}

TEST_F(AuthApiTest, WrongPasswordAndUnknownUserLookTheSame) {
  HttpResponse wrong = Login("clinician", "not the password");
  HttpResponse unknown = Login("nobody", kPassword);
  HttpResponse bad_name = Login("Not A Name!", kPassword);
  for (const HttpResponse* r : {&wrong, &unknown, &bad_name}) {
    EXPECT_TRUE(IsOutcome(*r, 401, "login"));
    EXPECT_EQ(Diagnostics(*r), "wrong user name or password");
    EXPECT_EQ(HeaderOf(*r, "WWW-Authenticate"), "Bearer realm=\"posta\"");
  }
  EXPECT_EQ(wrong.body, unknown.body);
  EXPECT_EQ(wrong.body, bad_name.body);
}

TEST_F(AuthApiTest, LoginBodyErrors) {
  EXPECT_TRUE(IsOutcome(
      Handle(Request("POST", "/auth/login", "[1]", "application/json")), 400));
  EXPECT_TRUE(
      IsOutcome(Handle(Request("POST", "/auth/login",
                               R"({"user":"admin","password":"x","extra":1})",
                               "application/json")),
                400));
  EXPECT_TRUE(
      IsOutcome(Handle(Request("POST", "/auth/login", R"({"user":"admin"})",
                               "application/json")),
                400));
  EXPECT_TRUE(IsOutcome(
      Handle(Request("POST", "/auth/login",
                     R"({"user":"admin","password":"x"})", "text/plain")),
      415));
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/auth/login")), 405));
}

TEST_F(AuthApiTest, NoTokenIs401AndStoresNothing) {
  Seed();
  const std::string before = Digest();
  HttpResponse read =
      Handle(Request("GET", "/fhir/Patient/" + std::string(kPatient)));
  EXPECT_TRUE(IsOutcome(read, 401, "login"));
  EXPECT_EQ(HeaderOf(read, "WWW-Authenticate"), "Bearer realm=\"posta\"");
  EXPECT_EQ(Diagnostics(read),
            "authentication required: log in with POST /auth/login and send "
            "Authorization: Bearer <token>");
  HttpResponse write =
      Handle(Request("POST", "/fhir/Patient", PatientJson("Ng", "Mai")));
  EXPECT_TRUE(IsOutcome(write, 401, "login"));
  HttpResponse forged = Handle(
      WithToken(Request("POST", "/fhir/Patient", PatientJson("Ng", "Mai")),
                std::string(64, 'a')));
  EXPECT_TRUE(IsOutcome(forged, 401, "login"));
  EXPECT_EQ(HeaderOf(forged, "WWW-Authenticate"),
            "Bearer realm=\"posta\", error=\"invalid_token\"");
  HttpRequest basic = Request("GET", "/fhir/Patient");
  basic.headers.emplace_back("Authorization", "Basic YWRtaW46eA==");
  EXPECT_TRUE(IsOutcome(Handle(basic), 401, "login"));
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/metrics")), 401));
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/conflicts")), 401));
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/fhir/metadata")), 401));
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/auth/whoami")), 401));
  EXPECT_EQ(Digest(), before);
}

TEST_F(AuthApiTest, HealthStaysOpenAndSyncIsNotGated) {
  HttpResponse health = Handle(Request("GET", "/health"));
  EXPECT_EQ(health.status, 200) << health.body;
  // The hub's sync endpoints authenticate nodes themselves; on a clinic
  // they are 404, not 401.
  HttpResponse sync = Handle(Request("POST", "/sync/v1/hello", "{}"));
  EXPECT_TRUE(IsOutcome(sync, 404));
}

// Every role × type × read/write. Refusals: 403 naming the role and what it
// may do, and the database unchanged.
TEST_F(AuthApiTest, RoleMatrix) {
  Seed();
  const std::map<std::string, std::string> may = {
      {"registrar",
       "may read and write Patient, Appointment; read Location, metadata"},
      {"clinician",
       "may read and write Patient, Encounter, Observation, Appointment, "
       "$transfer, conflicts; read Location, metadata"},
      {"admin", "may read and write everything"},
      {"coordinator", "may read everything"}};
  // role → type → {read, write}
  const std::map<std::string, std::map<std::string, std::pair<bool, bool>>>
      allowed = {{"registrar",
                  {{"Patient", {true, true}},
                   {"Appointment", {true, true}},
                   {"Location", {true, false}},
                   {"Encounter", {false, false}},
                   {"Observation", {false, false}}}},
                 {"clinician",
                  {{"Patient", {true, true}},
                   {"Appointment", {true, true}},
                   {"Location", {true, false}},
                   {"Encounter", {true, true}},
                   {"Observation", {true, true}}}},
                 {"admin",
                  {{"Patient", {true, true}},
                   {"Appointment", {true, true}},
                   {"Location", {true, true}},
                   {"Encounter", {true, true}},
                   {"Observation", {true, true}}}},
                 {"coordinator",
                  {{"Patient", {true, false}},
                   {"Appointment", {true, false}},
                   {"Location", {true, false}},
                   {"Encounter", {true, false}},
                   {"Observation", {true, false}}}}};
  std::map<std::string, json> bodies = Bodies();
  for (const auto& [role, types] : allowed) {
    const std::string token = Token(role);
    for (const auto& [type, rw] : types) {
      SCOPED_TRACE(role + " " + type);
      const std::string path = "/fhir/" + type + "/" + IdOf(type);
      const std::string before = Digest();
      HttpResponse read = Handle(WithToken(Request("GET", path), token));
      HttpResponse search =
          Handle(WithToken(Request("GET", "/fhir/" + type), token));
      if (rw.first) {
        EXPECT_EQ(read.status, 200) << read.body;
        EXPECT_EQ(search.status, 200) << search.body;
      } else {
        for (const HttpResponse* r : {&read, &search}) {
          EXPECT_TRUE(IsOutcome(*r, 403, "forbidden"));
          EXPECT_EQ(Diagnostics(*r), "role " + role + ": may not read " + type +
                                         "; a " + role + " " + may.at(role));
        }
        EXPECT_EQ(Digest(), before);
      }
      json body = bodies[type];
      body["id"] = IdOf(type);
      HttpResponse put =
          Handle(WithToken(Request("PUT", path, body.dump()), token));
      HttpResponse del = Handle(WithToken(Request("DELETE", path), token));
      if (rw.second) {
        EXPECT_EQ(put.status, 200) << put.body;
        EXPECT_EQ(del.status, 200) << del.body;
        // Back, for the next role.
        HttpResponse again =
            Handle(WithToken(Request("PUT", path, body.dump()), token));
        EXPECT_EQ(again.status, 200) << again.body;
      } else {
        for (const HttpResponse* r : {&put, &del}) {
          EXPECT_TRUE(IsOutcome(*r, 403, "forbidden"));
          EXPECT_EQ(Diagnostics(*r), "role " + role + ": may not write " +
                                         type + "; a " + role + " " +
                                         may.at(role));
        }
        HttpResponse create = Handle(
            WithToken(Request("POST", "/fhir/" + type, body.dump()), token));
        EXPECT_TRUE(IsOutcome(create, 403, "forbidden"));
        EXPECT_EQ(Digest(), before);
      }
    }
  }
}

// A coordinator reads the records owned by the facilities of their region,
// decided in the store's query: other regions' records answer 404 exactly
// as absent ones do, and searches leave them out before paging.
TEST_F(AuthApiTest, CoordinatorsReadOnlyTheirRegion) {
  ASSERT_OK(store_->AddFacility({"north-2", "North Two", "north", 1}));
  ASSERT_OK(store_->AddFacility({"south-1", "South One", "south", 1}));
  AddUser("coord-south", "coordinator", "south");
  AddUser("coord-none", "coordinator");
  const std::string admin = Token("admin");
  // p1 stays with fac-1 (north), p2 moves to north-2, p3 to south-1.
  std::vector<std::string> ids;
  for (const char* given : {"Uno", "Dos", "Tres"}) {
    HttpResponse r = Handle(WithToken(
        Request("POST", "/fhir/Patient", PatientJson("Scope", given)), admin));
    ASSERT_EQ(r.status, 201) << r.body;
    ids.push_back(Body(r).value("id", ""));
  }
  ASSERT_OK(
      store_->Transfer(storage::ResourceType::kPatient, ids[1], "north-2"));
  ASSERT_OK(
      store_->Transfer(storage::ResourceType::kPatient, ids[2], "south-1"));
  const std::string before = Digest();

  auto found = [&](const std::string& token, const std::string& query,
                   int64_t* total) {
    std::set<std::string> seen;
    std::string target = "/fhir/Patient?_count=1" + query;
    while (!target.empty()) {
      HttpResponse r = Handle(WithToken(Request("GET", target), token));
      EXPECT_EQ(r.status, 200) << r.body;
      json bundle = Body(r);
      if (bundle.contains("total")) *total = bundle["total"];
      for (const json& e : bundle.value("entry", json::array())) {
        seen.insert(e["resource"].value("id", ""));
      }
      target.clear();
      for (const json& link : bundle["link"]) {
        if (link["relation"] == "next") {
          std::string url = link["url"];
          target = url.substr(url.find("/fhir/"));
        }
      }
    }
    return seen;
  };
  using Ids = std::set<std::string>;
  int64_t total = -1;
  const std::string north = Token("coordinator");
  const std::string south = Token("coord-south");
  const std::string none = Token("coord-none");
  EXPECT_EQ(found(north, "", &total), (Ids{ids[0], ids[1]}));
  EXPECT_EQ(total, 2);
  EXPECT_EQ(found(south, "", &total), (Ids{ids[2]}));
  EXPECT_EQ(total, 1);
  EXPECT_EQ(found(south, "&name=scope", &total), (Ids{ids[2]}));
  EXPECT_EQ(found(south, "&name=uno", &total), Ids{});
  EXPECT_EQ(total, 0);
  EXPECT_EQ(found(none, "", &total), Ids{});
  EXPECT_EQ(total, 0);
  EXPECT_EQ(found(admin, "&name=scope", &total), (Ids{ids[0], ids[1], ids[2]}));
  EXPECT_EQ(total, 3);

  // Read, history and vread of another region's record look exactly like
  // those of a record that does not exist.
  const std::string absent = "7e57a11d-0000-4000-8000-000000000000";
  HttpResponse admin_read =
      Handle(WithToken(Request("GET", "/fhir/Patient/" + ids[0]), admin));
  ASSERT_EQ(admin_read.status, 200);
  const std::string vid = Body(admin_read)["meta"].value("versionId", "");
  auto without_id = [](std::string text, const std::string& id) {
    for (size_t at; (at = text.find(id)) != std::string::npos;) {
      text.replace(at, id.size(), "ID");
    }
    return text;
  };
  for (const std::string& suffix :
       {std::string(), std::string("/_history"), "/_history/" + vid}) {
    SCOPED_TRACE(suffix);
    HttpResponse hidden = Handle(
        WithToken(Request("GET", "/fhir/Patient/" + ids[0] + suffix), south));
    HttpResponse missing = Handle(
        WithToken(Request("GET", "/fhir/Patient/" + absent + suffix), south));
    EXPECT_TRUE(IsOutcome(hidden, 404, "not-found")) << hidden.body;
    EXPECT_EQ(without_id(Diagnostics(hidden), ids[0]),
              without_id(Diagnostics(missing), absent));
    HttpResponse none_read = Handle(
        WithToken(Request("GET", "/fhir/Patient/" + ids[0] + suffix), none));
    EXPECT_TRUE(IsOutcome(none_read, 404, "not-found"));
    HttpResponse own = Handle(
        WithToken(Request("GET", "/fhir/Patient/" + ids[0] + suffix), north));
    EXPECT_EQ(own.status, 200) << own.body;
  }
  EXPECT_EQ(Digest(), before);
  // A deleted record of another region is 404 too, not 410.
  ASSERT_EQ(
      Handle(WithToken(Request("DELETE", "/fhir/Patient/" + ids[0]), admin))
          .status,
      200);
  EXPECT_TRUE(IsOutcome(
      Handle(WithToken(Request("GET", "/fhir/Patient/" + ids[0]), south)),
      404));
  EXPECT_TRUE(IsOutcome(
      Handle(WithToken(Request("GET", "/fhir/Patient/" + ids[0]), north)),
      410));
  EXPECT_EQ(Body(Handle(WithToken(Request("GET", "/conflicts"), south)))
                .value("total", -1),
            0);

  // whoami says what each one reads.
  auto reads = [&](const std::string& token) {
    return Body(Handle(WithToken(Request("GET", "/auth/whoami"), token)))
        .value("reads", "");
  };
  EXPECT_EQ(reads(north),
            "records of region north (fac-1, north-2) and shared reference "
            "data");
  EXPECT_EQ(reads(south),
            "records of region south (south-1) and shared reference data");
  EXPECT_EQ(reads(none),
            "no facility's records, only shared reference data: this "
            "coordinator has no region (add the user again with --region)");
  EXPECT_EQ(reads(admin), "every record of this node");
}

// Deeply nested JSON bodies are refused while parsing, on every endpoint
// that takes JSON, with one message, and store nothing.
TEST_F(AuthApiTest, DeeplyNestedBodiesAre400) {
  Seed();
  const std::string admin = Token("admin");
  const std::string before = Digest();
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string nested_member =
      R"({"user":)" + std::string(33, '[') + std::string(33, ']') + "}";
  struct Case {
    std::string target, body, content_type;
  };
  for (const Case& c : {
           Case{"/auth/login", deep, "application/json"},
           Case{"/auth/login", nested_member, "application/json"},
           Case{"/fhir/Patient", "{\"a\":" + deep + "}",
                "application/fhir+json"},
           Case{std::string("/fhir/Patient/") + kPatient + "/$transfer",
                "{\"parameter\":" + deep + "}", "application/fhir+json"},
           Case{"/conflicts/" + std::string(32, 'a') + "/resolve",
                R"({"choose":"value","value":)" + deep + "}",
                "application/json"},
       }) {
    SCOPED_TRACE(c.target);
    HttpResponse r = Handle(
        WithToken(Request("POST", c.target, c.body, c.content_type), admin));
    EXPECT_TRUE(IsOutcome(r, 400)) << r.body.substr(0, 300);
    EXPECT_EQ(Diagnostics(r), "body: nested deeper than 32 levels");
    EXPECT_EQ(Digest(), before);
  }
  // 32 levels are parsed (the login then fails on its shape).
  HttpResponse shallow = Handle(
      Request("POST", "/auth/login",
              R"({"user":)" + std::string(31, '[') + std::string(31, ']') + "}",
              "application/json"));
  EXPECT_EQ(Diagnostics(shallow), "user: missing or not a string");
}

TEST_F(AuthApiTest, OtherAreasByRole) {
  Seed();
  const std::string before = Digest();
  const std::string registrar = Token("registrar");
  const std::string clinician = Token("clinician");
  const std::string admin = Token("admin");
  const std::string coordinator = Token("coordinator");
  auto status = [&](const std::string& token, HttpRequest request) {
    return Handle(WithToken(std::move(request), token)).status;
  };
  EXPECT_EQ(status(registrar, Request("GET", "/metrics")), 403);
  EXPECT_EQ(status(clinician, Request("GET", "/metrics")), 403);
  EXPECT_EQ(status(admin, Request("GET", "/metrics")), 200);
  EXPECT_EQ(status(coordinator, Request("GET", "/metrics")), 200);
  EXPECT_EQ(status(registrar, Request("GET", "/conflicts")), 403);
  EXPECT_EQ(status(clinician, Request("GET", "/conflicts")), 200);
  EXPECT_EQ(status(coordinator, Request("GET", "/conflicts")), 200);
  const std::string resolve =
      "/conflicts/0123456789abcdef0123456789abcdef/resolve";
  const std::string choice = R"({"choose":"winner"})";
  EXPECT_EQ(
      status(coordinator, Request("POST", resolve, choice, "application/json")),
      403);
  EXPECT_EQ(
      status(registrar, Request("POST", resolve, choice, "application/json")),
      403);
  // Allowed, and then there is no such conflict.
  EXPECT_EQ(
      status(clinician, Request("POST", resolve, choice, "application/json")),
      404);
  for (const std::string* t : {&registrar, &clinician, &admin, &coordinator}) {
    EXPECT_EQ(status(*t, Request("GET", "/fhir/metadata")), 200);
  }
  const std::string transfer =
      "/fhir/Patient/" + std::string(kPatient) + "/$transfer";
  const std::string to =
      R"({"resourceType":"Parameters","parameter":[{"name":"to","valueString":"fac-2"}]})";
  HttpResponse refused = Handle(WithToken(
      Request("POST", transfer, to, "application/fhir+json"), registrar));
  EXPECT_TRUE(IsOutcome(refused, 403, "forbidden"));
  EXPECT_EQ(Diagnostics(refused).rfind("role registrar: may not write "
                                       "$transfer; ",
                                       0),
            0u)
      << Diagnostics(refused);
  EXPECT_EQ(Digest(), before);
}

TEST_F(AuthApiTest, LogoutEndsTheToken) {
  const std::string token = Token("registrar");
  HttpResponse out = Handle(WithToken(Request("POST", "/auth/logout"), token));
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_EQ(Body(out)["loggedOut"], true);
  HttpResponse after =
      Handle(WithToken(Request("GET", "/fhir/Patient"), token));
  EXPECT_TRUE(IsOutcome(after, 401, "login"));
  EXPECT_EQ(Diagnostics(after), "session: unknown or ended; log in again");
  EXPECT_TRUE(IsOutcome(
      Handle(WithToken(Request("POST", "/auth/logout"), token)), 401));
}

TEST_F(AuthApiTest, SessionsExpireWhenIdleAndAfterTheirLifetime) {
  const std::string token = Token("registrar");
  // Used every 11 hours: stays alive past the idle limit of 12 hours...
  for (int i = 0; i < 14; ++i) {
    clock_.Advance(std::chrono::hours(11));
    HttpResponse r = Handle(WithToken(Request("GET", "/fhir/Patient"), token));
    ASSERT_EQ(r.status, 200) << "after " << (i + 1) * 11 << " h: " << r.body;
  }
  // ...but not past 7 days (168 h) in all.
  clock_.Advance(std::chrono::hours(15));  // 169 h
  HttpResponse old = Handle(WithToken(Request("GET", "/fhir/Patient"), token));
  EXPECT_TRUE(IsOutcome(old, 401, "login"));
  EXPECT_EQ(Diagnostics(old), "session: expired; log in again");

  const std::string idle = Token("registrar");
  clock_.Advance(std::chrono::hours(12));
  HttpResponse r = Handle(WithToken(Request("GET", "/fhir/Patient"), idle));
  EXPECT_TRUE(IsOutcome(r, 401, "login"));
  EXPECT_EQ(Diagnostics(r),
            "session: expired after being unused; log in again");
  // Gone for good, even if the clock went back.
  clock_.SetWall(clock_.WallNowMillis() - 3600 * 1000);
  EXPECT_EQ(Handle(WithToken(Request("GET", "/fhir/Patient"), idle)).status,
            401);
}

TEST_F(AuthApiTest, DisabledUserLosesSessionAndLogin) {
  const std::string token = Token("clinician");
  ASSERT_OK(store_->DisableUser("clinician", clock_.WallNowMillis()).status());
  EXPECT_EQ(Handle(WithToken(Request("GET", "/fhir/Patient"), token)).status,
            401);
  HttpResponse login = Login("clinician", kPassword);
  EXPECT_TRUE(IsOutcome(login, 401, "login"));
  EXPECT_EQ(Diagnostics(login), "wrong user name or password");
}

TEST_F(AuthApiTest, WritesModeLeavesReadsOpen) {
  OpenWith(auth::AuthMode::kWrites);
  EXPECT_EQ(Handle(Request("GET", "/fhir/Patient")).status, 200);
  const std::string before = Digest();
  EXPECT_TRUE(IsOutcome(
      Handle(Request("POST", "/fhir/Patient", PatientJson("Ng", "Mai"))), 401));
  EXPECT_EQ(Digest(), before);
  const std::string token = Token("registrar");
  EXPECT_EQ(Handle(WithToken(Request("POST", "/fhir/Patient",
                                     PatientJson("Ng", "Mai")),
                             token))
                .status,
            201);
}

// On loopback with "auto" the API is open, as before; a token given still
// counts, with its role.
TEST_F(AuthApiTest, OpenModeStillAppliesAGivenTokensRole) {
  OpenWith(auth::AuthMode::kOpen);
  EXPECT_EQ(Handle(Request("GET", "/fhir/Observation")).status, 200);
  const std::string token = Token("registrar");
  EXPECT_TRUE(
      IsOutcome(Handle(WithToken(Request("GET", "/fhir/Observation"), token)),
                403, "forbidden"));
}

// ---- The Authenticator itself ----

class AuthenticatorTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    options_.stand_in = auth::kTestOnlyScrypt;
    authenticator_ =
        std::make_unique<auth::Authenticator>(*store_, clock_, options_);
    storage::UserEntry user;
    user.name = "amina";
    user.role = "registrar";
    auto hash = auth::HashPassword(kPassword, auth::kTestOnlyScrypt);
    ASSERT_OK(hash);
    user.password_hash = *hash;
    ASSERT_OK(store_->AddUser(user));
    user.name = "bo";
    ASSERT_OK(store_->AddUser(user));
    ASSERT_OK(store_->DisableUser("bo", 1).status());
  }
  auth::AuthOptions options_;
  std::unique_ptr<auth::Authenticator> authenticator_;
};

// Timing equalization, structurally: every login computes exactly one
// password hash, whether the name exists, is disabled, or the password is
// wrong, right or overlong.
TEST_F(AuthenticatorTest, EveryLoginCostsOneHash) {
  struct Case {
    std::string user;
    std::string password;
    bool ok;
  };
  const Case cases[] = {{"amina", kPassword, true},
                        {"amina", "wrong password", false},
                        {"nobody", kPassword, false},
                        {"bo", kPassword, false},
                        {"NOT valid", kPassword, false},
                        {"amina", std::string(5000, 'x'), false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.user);
    const int64_t before = authenticator_->hashes_computed();
    auto out = authenticator_->Login(c.user, c.password);
    EXPECT_EQ(authenticator_->hashes_computed(), before + 1);
    EXPECT_EQ(out.ok(), c.ok) << out.status().message();
    if (!c.ok) {
      EXPECT_EQ(out.status().code(), Status::Code::kPermissionDenied);
      EXPECT_EQ(out.status().message(), "login: wrong user name or password");
    }
  }
}

TEST_F(AuthenticatorTest, TokensAreStoredOnlyAsHashes) {
  auto out = authenticator_->Login("amina", kPassword);
  ASSERT_OK(out);
  EXPECT_NE(out->session.token_hash, out->token);
  EXPECT_EQ(store_->GetSession(out->token).status().code(),
            Status::Code::kNotFound);
  ASSERT_OK(store_->GetSession(out->session.token_hash).status());
  auto who = authenticator_->Authenticate(out->token);
  ASSERT_OK(who);
  EXPECT_EQ(who->user, "amina");
  EXPECT_EQ(who->role, "registrar");
}

TEST(AuthModeTest, AutoDependsOnTheListenAddress) {
  EXPECT_EQ(*auth::ResolveAuthMode("auto", "127.0.0.1"), auth::AuthMode::kOpen);
  EXPECT_EQ(*auth::ResolveAuthMode("auto", "::1"), auth::AuthMode::kOpen);
  EXPECT_EQ(*auth::ResolveAuthMode("auto", "0.0.0.0"),
            auth::AuthMode::kRequired);
  EXPECT_EQ(*auth::ResolveAuthMode("auto", "10.0.0.5"),
            auth::AuthMode::kRequired);
  EXPECT_EQ(*auth::ResolveAuthMode("required", "127.0.0.1"),
            auth::AuthMode::kRequired);
  EXPECT_EQ(*auth::ResolveAuthMode("writes", "127.0.0.1"),
            auth::AuthMode::kWrites);
  EXPECT_EQ(auth::ResolveAuthMode("off", "127.0.0.1").status().code(),
            Status::Code::kInvalidArgument);
}

// ---- Password hashes ----

TEST(PasswordTest, RoundTripAndWrongPassword) {
  auto hash = auth::HashPassword("s3cret pass", auth::kTestOnlyScrypt);
  ASSERT_OK(hash);
  EXPECT_EQ(hash->rfind("scrypt$16$1$1$", 0), 0u) << *hash;
  EXPECT_EQ(*auth::VerifyPassword("s3cret pass", *hash), true);
  EXPECT_EQ(*auth::VerifyPassword("s3cret pasS", *hash), false);
  EXPECT_EQ(*auth::VerifyPassword("", *hash), false);
  // Salted: the same password hashes differently each time.
  auto again = auth::HashPassword("s3cret pass", auth::kTestOnlyScrypt);
  ASSERT_OK(again);
  EXPECT_NE(*hash, *again);
}

TEST(PasswordTest, VerifiesWithTheStoredParameters) {
  const auth::ScryptParams other{uint64_t{1} << 5, 2, 1};
  auto hash = auth::HashPassword("s3cret pass", other);
  ASSERT_OK(hash);
  auto params = auth::StoredParams(*hash);
  ASSERT_OK(params);
  EXPECT_EQ(params->n, 32u);
  EXPECT_EQ(params->r, 2u);
  EXPECT_EQ(params->p, 1u);
  EXPECT_EQ(*auth::VerifyPassword("s3cret pass", *hash), true);
  // The same salt and key under other parameters no longer match.
  std::string tampered = *hash;
  tampered.replace(0, std::string("scrypt$32$2$").size(), "scrypt$64$2$");
  EXPECT_EQ(*auth::VerifyPassword("s3cret pass", tampered), false);
}

TEST(PasswordTest, MalformedHashesAndParameters) {
  for (const char* bad :
       {"", "scrypt", "bcrypt$16$1$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$15$1$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16$0$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16$1$1$!!!$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16$1$1$c2FsdA==$aGFzaA==",
        "scrypt$2097152$8$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$16$1$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==$x"}) {
    EXPECT_EQ(auth::VerifyPassword("x", bad).status().code(),
              Status::Code::kMalformed)
        << bad;
  }
  EXPECT_EQ(auth::HashPassword("x", {3, 1, 1}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(auth::HashPassword("x", {16, 0, 1}).status().code(),
            Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace posta::node::testing
