// The coordinators' reports through Api::Handle on a hub: JSON, CSV and
// pages, region scopes, freshness thresholds, the pages' login cookie.
#include <gtest/gtest.h>

#include <algorithm>

#include "api_fixture.h"
#include "auth/password.h"
#include "posta/storage/reports.h"

namespace posta::node::testing {
namespace {

using nlohmann::json;

constexpr char kPassword[] = "correct horse";
constexpr int64_t kHour = 3600 * 1000;

class ReportsApiTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenHub(auth::AuthMode::kRequired); }

  void OpenHub(auth::AuthMode mode, const std::string& role = "hub") {
    api_.reset();
    store_.reset();
    storage::StoreOptions store_options;
    store_options.path = dir_.File("hub.db");
    store_options.create_if_missing = true;
    store_options.facility = "clinic-a";
    store_options.role = role;
    store_options.clock = &clock_;
    auto store = storage::OpenRecordStore(store_options);
    ASSERT_OK(store);
    store_ = std::move(store).value();
    ApiOptions options;
    options.role = role;
    options.version = "9.9.9";
    options.data_dir = dir_.path();
    options.auth.mode = mode;
    options.auth.stand_in = auth::kTestOnlyScrypt;
    options.fresh_after = std::chrono::hours(48);
    options.late_after = std::chrono::hours(168);
    api_ = std::make_unique<Api>(*store_, metrics_, options, clock_);
    if (role != "hub") return;
    ASSERT_OK(store_->AddFacility({"clinic-a", "Clinic A", "north", 1}));
    ASSERT_OK(store_->AddFacility({"clinic-b", "=Clinic, \"B\"", "south", 2}));
    AddUser("nora", "coordinator", "north");
    AddUser("sam", "coordinator", "south");
    AddUser("root", "admin", "");
    AddUser("rita", "registrar", "");
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
    user.created_ms = clock_.WallNowMillis();
    user.changed_ms = user.created_ms;
    ASSERT_OK(store_->AddUser(user));
  }

  std::string Token(const std::string& user) {
    HttpResponse r = api_->Handle(
        Request("POST", "/auth/login",
                json{{"user", user}, {"password", kPassword}}.dump(),
                "application/json"));
    EXPECT_EQ(r.status, 200) << r.body;
    return Body(r).value("token", "");
  }

  HttpResponse Get(const std::string& target, const std::string& token) {
    HttpRequest request = Request("GET", target);
    if (!token.empty()) {
      request.headers.emplace_back("Authorization", "Bearer " + token);
    }
    return api_->Handle(request);
  }

  std::string Create(const json& body) {
    HttpRequest request =
        Request("POST", "/fhir/" + body["resourceType"].get<std::string>(),
                body.dump());
    request.headers.emplace_back("Authorization", "Bearer " + Token("root"));
    HttpResponse r = api_->Handle(request);
    EXPECT_EQ(r.status, 201) << r.body;
    return Body(r).value("id", "");
  }

  // At clinic-a (the hub's own facility here): a patient, two encounters
  // in March 2024 (respiratory, infectious), a fever, a kept appointment.
  void Seed() {
    const std::string p = Create(json::parse(PatientJson("García", "José")));
    for (const char* code : {"J06.9", "A09"}) {
      Create({{"resourceType", "Encounter"},
              {"status", "finished"},
              {"class", {{"code", "AMB"}}},
              {"subject", {{"reference", "Patient/" + p}}},
              {"period", {{"start", "2024-03-05T10:00:00Z"}}},
              {"reasonCode",
               {{{"coding",
                  {{{"system", "http://hl7.org/fhir/sid/icd-10"},
                    {"code", code}}}}}}}});
    }
    Create(
        {{"resourceType", "Observation"},
         {"status", "final"},
         {"code",
          {{"coding", {{{"system", "http://loinc.org"}, {"code", "8310-5"}}}}}},
         {"subject", {{"reference", "Patient/" + p}}},
         {"effectiveDateTime", "2024-03-05T10:05:00Z"},
         {"valueQuantity", {{"value", 38.6}, {"unit", "Cel"}}}});
    Create({{"resourceType", "Appointment"},
            {"status", "fulfilled"},
            {"start", "2024-03-06T09:00:00Z"},
            {"end", "2024-03-06T09:15:00Z"},
            {"participant",
             {{{"actor", {{"reference", "Patient/" + p}}},
               {"status", "accepted"}}}}});
  }

  posta::testing::TempDir dir_;
  base::ManualClock clock_{1710000000000};  // 2024-03-09T16:00:00Z
  Metrics metrics_;
  std::unique_ptr<storage::RecordStore> store_;
  std::unique_ptr<Api> api_;
};

TEST_F(ReportsApiTest, ActivityJsonHoldsTheFigures) {
  Seed();
  HttpResponse r =
      Get("/reports/activity?period=month&from=2024-03-01&to=2024-03-31",
          Token("root"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  json body = Body(r);
  EXPECT_EQ(body["period"], "month");
  EXPECT_EQ(body["periods"], json::array({"2024-03-01"}));
  ASSERT_EQ(body["facilities"].size(), 2u);  // an admin sees both facilities
  const json& a = body["facilities"][0];
  EXPECT_EQ(a["facility"], "clinic-a");
  EXPECT_EQ(a["name"], "Clinic A");
  EXPECT_EQ(a["region"], "north");
  EXPECT_EQ(a["newPatients"], json::array({1}));
  EXPECT_EQ(a["encounters"], json::array({2}));
  EXPECT_EQ(a["feverObservations"], json::array({1}));
  EXPECT_EQ(a["highSystolicObservations"], json::array({0}));
  EXPECT_EQ(a["appointments"]["booked"], json::array({1}));
  EXPECT_EQ(a["appointments"]["kept"], json::array({1}));
  EXPECT_EQ(a["appointments"]["missed"], json::array({0}));
  EXPECT_EQ(a["encountersByChapter"],
            json({{"I", json::array({1})}, {"X", json::array({1})}}));
  const json& b = body["facilities"][1];
  EXPECT_EQ(b["facility"], "clinic-b");
  EXPECT_EQ(b["encounters"], json::array({0}));
  EXPECT_TRUE(b["encountersByChapter"].empty());
  EXPECT_FALSE(body["updated"].is_null());
}

// The chapters' titles come once, in a legend, and every figure is a
// series of numbers in the order of "periods": the shape that keeps a
// year of weeks at many facilities small.
TEST_F(ReportsApiTest, ActivityJsonIsSeriesWithOneLegend) {
  Seed();
  // A second patient (reaching the hub now, in the week of 4 March) with
  // encounters in two later weeks of March 2024 (Mondays 4, 11, 18, 25),
  // one late on the Sunday that ends its week, in the clinic's time.
  const std::string q = Create(json::parse(PatientJson("Okafor", "Ada")));
  for (const char* start : {"2024-03-17T23:30:00+03:00", "2024-03-25"}) {
    Create({{"resourceType", "Encounter"},
            {"status", "finished"},
            {"class", {{"code", "AMB"}}},
            {"subject", {{"reference", "Patient/" + q}}},
            {"period", {{"start", start}}},
            {"reasonCode",
             {{{"coding",
                {{{"system", "http://hl7.org/fhir/sid/icd-10"},
                  {"code", "J45"}}}}}}}});
  }
  HttpResponse r =
      Get("/reports/activity?period=week&from=2024-03-04&to=2024-03-31&"
          "facility=clinic-a",
          Token("root"));
  ASSERT_EQ(r.status, 200) << r.body;
  json body = Body(r);
  const json periods =
      json::array({"2024-03-04", "2024-03-11", "2024-03-18", "2024-03-25"});
  EXPECT_EQ(body["periods"], periods);

  // The legend: every chapter in order, "uncoded" last, each title once.
  const std::vector<std::string>& chapters = storage::Icd10Chapters();
  ASSERT_EQ(body["chapters"].size(), chapters.size());
  for (size_t i = 0; i < chapters.size(); ++i) {
    EXPECT_EQ(body["chapters"][i]["chapter"], chapters[i]);
    EXPECT_EQ(body["chapters"][i]["title"],
              std::string(storage::Icd10ChapterTitle(chapters[i])));
  }
  EXPECT_EQ(body["chapters"][9]["chapter"], "X");
  EXPECT_EQ(body["chapters"][9]["title"], "Diseases of the respiratory system");
  const std::string title = "Diseases of the respiratory system";
  size_t titles = 0;
  for (size_t at = r.body.find(title); at != std::string::npos;
       at = r.body.find(title, at + 1)) {
    ++titles;
  }
  EXPECT_EQ(titles, 1u) << r.body;

  ASSERT_EQ(body["facilities"].size(), 1u);
  const json& a = body["facilities"][0];
  // Seed(): two on Tuesday 5 March; then Sunday 17 (local) and Monday 25.
  EXPECT_EQ(a["encounters"], json::array({2, 1, 0, 1}));
  EXPECT_EQ(a["newPatients"], json::array({2, 0, 0, 0}));
  EXPECT_EQ(a["feverObservations"], json::array({1, 0, 0, 0}));
  EXPECT_EQ(a["appointments"]["booked"], json::array({1, 0, 0, 0}));
  EXPECT_EQ(a["appointments"]["cancelled"], json::array({0, 0, 0, 0}));
  // Only the chapters seen, each as long as "periods".
  EXPECT_EQ(a["encountersByChapter"], json({{"I", json::array({1, 0, 0, 0})},
                                            {"X", json::array({1, 1, 0, 1})}}));
  for (const auto& [key, value] : a.items()) {
    if (value.is_array()) {
      EXPECT_EQ(value.size(), periods.size()) << key;
      for (const json& n : value) EXPECT_TRUE(n.is_number_integer()) << key;
    }
  }
  // No row objects: nothing per period repeats a facility or a date.
  EXPECT_EQ(r.body.find("\"period\":\"2024-03-11\""), std::string::npos);
  EXPECT_EQ(r.body.find("\"title\":\"Diseases of the respiratory system\"",
                        r.body.find("\"facilities\"")),
            std::string::npos);

  // The CSV holds the same figures, one row per facility and week.
  r =
      Get("/reports/activity.csv?period=week&from=2024-03-04&to=2024-03-31&"
          "facility=clinic-a",
          Token("root"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\r\nclinic-a,2024-03-11,0,1,0,0,0,0,0,0,"
                        "0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0\r\n"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(std::count(r.body.begin(), r.body.end(), '\n'), 5) << r.body;
}

TEST_F(ReportsApiTest, ACoordinatorSeesOnlyTheirRegion) {
  Seed();
  json north = Body(
      Get("/reports/activity?from=2024-03-01&to=2024-03-31", Token("nora")));
  ASSERT_EQ(north["facilities"].size(), 1u);
  EXPECT_EQ(north["facilities"][0]["facility"], "clinic-a");
  EXPECT_EQ(north["region"], "north");
  json south = Body(
      Get("/reports/activity?from=2024-03-01&to=2024-03-31", Token("sam")));
  ASSERT_EQ(south["facilities"].size(), 1u);
  EXPECT_EQ(south["facilities"][0]["facility"], "clinic-b");
  EXPECT_EQ(south["facilities"][0]["encounters"], json::array({0}));
  EXPECT_TRUE(south["facilities"][0]["encountersByChapter"].empty());
  // Asking for another region's facility by name shows nothing of it.
  HttpResponse other =
      Get("/reports/activity?facility=clinic-a&from=2024-03-01&to=2024-03-31",
          Token("sam"));
  EXPECT_TRUE(IsOutcome(other, 404));
  json fresh = Body(Get("/reports/freshness", Token("sam")));
  ASSERT_EQ(fresh["facilities"].size(), 1u);
  EXPECT_EQ(fresh["facilities"][0]["facility"], "clinic-b");
}

TEST_F(ReportsApiTest, WhoMayAsk) {
  EXPECT_TRUE(IsOutcome(Get("/reports/freshness", ""), 401));
  EXPECT_TRUE(IsOutcome(Get("/reports/freshness", Token("rita")), 403));
  EXPECT_EQ(Get("/reports/freshness", Token("nora")).status, 200);
  EXPECT_TRUE(IsOutcome(Get("/reports/nothing", Token("nora")), 404));
  HttpRequest post = Request("POST", "/reports/freshness", "{}");
  post.headers.emplace_back("Authorization", "Bearer " + Token("root"));
  EXPECT_TRUE(IsOutcome(api_->Handle(post), 405));
}

TEST_F(ReportsApiTest, BadParametersAreNamed) {
  const std::string t = Token("root");
  HttpResponse r = Get("/reports/activity?period=year", t);
  EXPECT_TRUE(IsOutcome(r, 400));
  EXPECT_NE(r.body.find("period"), std::string::npos);
  r = Get("/reports/activity?from=2024-02-30", t);
  EXPECT_TRUE(IsOutcome(r, 400)) << r.body;
  EXPECT_NE(r.body.find("from"), std::string::npos);
  EXPECT_TRUE(IsOutcome(Get("/reports/freshness?status=stale", t), 400));
  EXPECT_TRUE(IsOutcome(Get("/reports/freshness?sort=colour", t), 400));
  EXPECT_TRUE(IsOutcome(Get("/reports/freshness?color=red", t), 400));
}

TEST_F(ReportsApiTest, FreshnessFollowsTheThresholds) {
  const int64_t now = clock_.WallNowMillis();
  ASSERT_OK(store_->NoteNodeReport(
      {"00000000000000a1", "clinic-a", "posta 0.1.0", 5, now - kHour}));
  // Only enrolled nodes count: enroll one per facility.
  for (auto [node, facility, code] :
       {std::tuple{"00000000000000a1", "clinic-a", '1'},
        std::tuple{"00000000000000b2", "clinic-b", '2'}}) {
    storage::EnrollmentCode c;
    c.code_hash = std::string(64, code);
    c.facility = facility;
    c.expires_ms = now + kHour;
    ASSERT_OK(store_->AddEnrollmentCode(c));
    storage::Redemption r;
    r.code_hash = c.code_hash;
    r.node_id = node;
    r.credential_hash = std::string(64, code == '1' ? 'a' : 'b');
    r.now_ms = now - 10 * 24 * kHour;
    ASSERT_OK(store_->RedeemEnrollmentCode(r).status());
  }
  ASSERT_OK(
      store_->NoteSyncCompleted("00000000000000a1", "clinic-a", now - kHour));
  const std::string t = Token("root");
  json body = Body(Get("/reports/freshness", t));
  ASSERT_EQ(body["facilities"].size(), 2u);
  EXPECT_EQ(body["facilities"][0]["status"], "fresh");
  EXPECT_EQ(body["facilities"][0]["pendingChanges"], 5);
  EXPECT_EQ(body["facilities"][0]["nodeVersion"], "posta 0.1.0");
  EXPECT_EQ(body["facilities"][1]["status"], "silent");  // never synced
  EXPECT_TRUE(body["facilities"][1]["pendingChanges"].is_null());
  EXPECT_TRUE(body["facilities"][1]["lastSync"].is_null());
  EXPECT_EQ(body["thresholds"]["freshHours"], 48);

  clock_.Advance(std::chrono::milliseconds(3 * 24 * kHour));
  const std::string t2 = Token("root");  // the first session went idle
  body = Body(Get("/reports/freshness?status=late", t2));
  ASSERT_EQ(body["facilities"].size(), 1u);
  EXPECT_EQ(body["facilities"][0]["facility"], "clinic-a");
  body = Body(Get("/reports/freshness?sort=status", t2));
  EXPECT_EQ(body["facilities"][0]["facility"], "clinic-b");  // silent first
  clock_.Advance(std::chrono::milliseconds(5 * 24 * kHour));
  body = Body(Get("/reports/freshness?status=silent", Token("root")));
  EXPECT_EQ(body["facilities"].size(), 2u);
}

TEST_F(ReportsApiTest, CsvIsASpreadsheetFile) {
  Seed();
  HttpResponse r = Get("/reports/freshness.csv", Token("root"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "text/csv; charset=utf-8");
  EXPECT_EQ(
      HeaderOf(r, "Content-Disposition").rfind("attachment; filename=", 0), 0u);
  ASSERT_EQ(r.body.substr(0, 3), "\xEF\xBB\xBF");
  EXPECT_EQ(r.body.substr(3, r.body.find("\r\n") - 3),
            "facility,name,region,status,last_sync,last_seen,last_record,"
            "pending_changes,node_version,open_conflicts,nodes");
  // A name a spreadsheet would run as a formula is quoted and defused.
  EXPECT_NE(r.body.find("\r\nclinic-b,\"'=Clinic, \"\"B\"\"\",south,silent,"),
            std::string::npos)
      << r.body;

  r = Get("/reports/activity.csv?from=2024-03-01&to=2024-03-31&period=month",
          Token("root"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\r\nclinic-a,2024-03-01,1,2,1,0,1,1,0,0,1,"),
            std::string::npos)
      << r.body;
}

TEST_F(ReportsApiTest, PagesLogInWithACookie) {
  Seed();
  HttpResponse page = api_->Handle(Request("GET", "/ui/activity"));
  ASSERT_EQ(page.status, 303);
  EXPECT_EQ(HeaderOf(page, "Location"), "/ui/login?next=%2Fui%2Factivity");

  HttpResponse form =
      api_->Handle(Request("GET", "/ui/login?next=/ui/activity"));
  ASSERT_EQ(form.status, 200);
  EXPECT_NE(form.body.find("<form class=\"login\""), std::string::npos);

  HttpResponse wrong = api_->Handle(Request(
      "POST", "/ui/login", "user=nora&password=nope&next=%2Fui%2Factivity",
      "application/x-www-form-urlencoded"));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_TRUE(HeaderOf(wrong, "Set-Cookie").empty());

  HttpResponse login = api_->Handle(
      Request("POST", "/ui/login",
              "user=nora&password=correct+horse&next=%2Fui%2Factivity",
              "application/x-www-form-urlencoded"));
  ASSERT_EQ(login.status, 303) << login.body;
  EXPECT_EQ(HeaderOf(login, "Location"), "/ui/activity");
  const std::string cookie = HeaderOf(login, "Set-Cookie");
  ASSERT_EQ(cookie.rfind("posta_session=", 0), 0u);
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  const std::string token = cookie.substr(14, cookie.find(';') - 14);

  HttpRequest get =
      Request("GET", "/ui/activity?from=2024-03-01&to=2024-03-31");
  get.headers.emplace_back("Cookie", "theme=dark; posta_session=" + token);
  page = api_->Handle(get);
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(
      HeaderOf(page, "Content-Security-Policy").find("default-src 'none'"),
      std::string::npos);
  EXPECT_NE(page.body.find("Data last updated"), std::string::npos);
  EXPECT_NE(page.body.find("<svg"), std::string::npos);
  EXPECT_NE(
      page.body.find("data-facility=\"clinic-a\" data-period=\"2024-03-01\""),
      std::string::npos);
  EXPECT_EQ(page.body.find("clinic-b"), std::string::npos);  // another region
  EXPECT_EQ(page.body.find("<script"), std::string::npos);

  // A form posted from another site is refused.
  HttpRequest cross =
      Request("POST", "/ui/logout", "x=1", "application/x-www-form-urlencoded");
  cross.headers.emplace_back("Origin", "http://evil.example");
  cross.headers.emplace_back("Cookie", "posta_session=" + token);
  EXPECT_EQ(api_->Handle(cross).status, 403);

  // A coordinator may look at the conflicts but not resolve them.
  get.target = "/ui/conflicts";
  page = api_->Handle(get);
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("No open conflicts"), std::string::npos);
  HttpRequest resolve =
      Request("POST", "/ui/conflicts/0123456789abcdef0123456789abcdef/resolve",
              "choose=winner", "application/x-www-form-urlencoded");
  resolve.headers.emplace_back("Cookie", "posta_session=" + token);
  EXPECT_EQ(api_->Handle(resolve).status, 403);

  HttpRequest logout =
      Request("POST", "/ui/logout", "x=1", "application/x-www-form-urlencoded");
  logout.headers.emplace_back("Cookie", "posta_session=" + token);
  HttpResponse out = api_->Handle(logout);
  EXPECT_EQ(out.status, 303);
  EXPECT_NE(HeaderOf(out, "Set-Cookie").find("Max-Age=0"), std::string::npos);
  get.target = "/ui/freshness";
  EXPECT_EQ(api_->Handle(get).status, 303);  // the session has ended
}

TEST_F(ReportsApiTest, LoginNeverRedirectsAway) {
  HttpResponse login = api_->Handle(Request(
      "POST", "/ui/login",
      "user=nora&password=correct+horse&next=https%3A%2F%2Fevil.example%2F",
      "application/x-www-form-urlencoded"));
  ASSERT_EQ(login.status, 303);
  EXPECT_EQ(HeaderOf(login, "Location"), "/ui/freshness");
}

TEST_F(ReportsApiTest, AClinicHasNoReports) {
  OpenHub(auth::AuthMode::kOpen, "clinic");
  EXPECT_TRUE(
      IsOutcome(api_->Handle(Request("GET", "/reports/freshness")), 404));
  EXPECT_TRUE(IsOutcome(api_->Handle(Request("GET", "/ui/freshness")), 404));
}

}  // namespace
}  // namespace posta::node::testing
