// FHIR search and paging through Api::Handle.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "api_fixture.h"
#include "posta/storage/record.h"

namespace posta::node::testing {
namespace {

using nlohmann::json;

// The target ("/fhir/...?...") of an absolute link.
std::string TargetOf(const std::string& url) {
  size_t pos = url.find("/fhir/");
  return pos == std::string::npos ? url : url.substr(pos);
}

std::string LinkOf(const json& bundle, const std::string& relation) {
  for (const json& link : bundle["link"]) {
    if (link["relation"] == relation) return link["url"];
  }
  return {};
}

std::set<std::string> IdsOf(const json& bundle) {
  std::set<std::string> ids;
  for (const json& entry : bundle["entry"]) {
    ids.insert(entry["resource"]["id"].get<std::string>());
  }
  return ids;
}

TEST_F(ApiTest, SearchByNameFoldsCaseAndAccents) {
  std::string jose = CreatePatient("García", "José");
  CreatePatient("Okafor", "Ada");
  for (const char* query :
       {"name=jose", "name=JOSÉ", "name=Jos%C3%A9", "name=garc",
        "name=jose+garcia", "name:exact=garcia"}) {
    HttpResponse response =
        Handle(Request("GET", std::string("/fhir/Patient?") + query));
    ASSERT_EQ(response.status, 200) << query << ": " << response.body;
    json bundle = Body(response);
    EXPECT_EQ(bundle["type"], "searchset");
    EXPECT_EQ(IdsOf(bundle), std::set<std::string>{jose}) << query;
    EXPECT_EQ(bundle["entry"][0]["search"]["mode"], "match");
    EXPECT_EQ(bundle["entry"][0]["fullUrl"],
              std::string(kBase) + "/fhir/Patient/" + jose);
  }
  json none = Body(Handle(Request("GET", "/fhir/Patient?name:exact=gar")));
  EXPECT_EQ(none["total"], 0);
  EXPECT_TRUE(none["entry"].empty());
}

TEST_F(ApiTest, SearchPagesWithNextLinksUntilDone) {
  std::set<std::string> created;
  for (int i = 0; i < 5; ++i) {
    created.insert(CreatePatient("Mensah", "Kofi" + std::to_string(i)));
  }
  CreatePatient("Other", "Person");

  std::set<std::string> seen;
  std::string target = "/fhir/Patient?name=mensah&_count=2";
  int pages = 0;
  while (!target.empty() && pages < 10) {
    HttpResponse response = Handle(Request("GET", target));
    ASSERT_EQ(response.status, 200) << target << ": " << response.body;
    json bundle = Body(response);
    if (pages == 0) {
      EXPECT_EQ(bundle["total"], 5);
    }
    EXPECT_LE(bundle["entry"].size(), 2u);
    for (const std::string& id : IdsOf(bundle)) {
      EXPECT_TRUE(seen.insert(id).second) << "seen twice: " << id;
    }
    std::string next = LinkOf(bundle, "next");
    if (!next.empty()) {
      EXPECT_EQ(next.rfind(kBase, 0), 0u) << next;
      EXPECT_NE(next.find("_count=2"), std::string::npos) << next;
      EXPECT_NE(next.find("_page="), std::string::npos) << next;
      EXPECT_NE(next.find("name=mensah"), std::string::npos) << next;
    }
    target = next.empty() ? "" : TargetOf(next);
    ++pages;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, created);
}

TEST_F(ApiTest, SearchCountAboveMaximumIsClamped) {
  ApiOptions options;
  options.max_page_size = 3;
  Open(options);
  for (int i = 0; i < 4; ++i)
    CreatePatient("Boateng", "Ama" + std::to_string(i));
  json bundle = Body(Handle(Request("GET", "/fhir/Patient?_count=500")));
  EXPECT_EQ(bundle["entry"].size(), 3u);
  EXPECT_NE(LinkOf(bundle, "next").find("_count=3"), std::string::npos);
  EXPECT_NE(LinkOf(bundle, "self").find("_count=3"), std::string::npos);
}

TEST_F(ApiTest, SearchDefaultsToTwentyPerPage) {
  for (int i = 0; i < 21; ++i)
    CreatePatient("Diallo", "Awa" + std::to_string(i));
  json bundle = Body(Handle(Request("GET", "/fhir/Patient")));
  EXPECT_EQ(bundle["entry"].size(), 20u);
  EXPECT_EQ(bundle["total"], 21);
  EXPECT_FALSE(LinkOf(bundle, "next").empty());
}

TEST_F(ApiTest, SearchByBirthdateTakesPrefixes) {
  std::string old = CreatePatient("Ayodele", "Old", "1950-06-01");
  std::string young = CreatePatient("Ayodele", "Young", "2010-06-01");
  auto ids = [&](const std::string& query) {
    HttpResponse response = Handle(Request("GET", "/fhir/Patient?" + query));
    EXPECT_EQ(response.status, 200) << query << ": " << response.body;
    return IdsOf(Body(response));
  };
  EXPECT_EQ(ids("birthdate=ge2000-01-01"), std::set<std::string>{young});
  EXPECT_EQ(ids("birthdate=lt2000-01-01"), std::set<std::string>{old});
  EXPECT_EQ(ids("birthdate=1950"), std::set<std::string>{old});
  EXPECT_EQ(ids("birthdate=eq2010-06"), std::set<std::string>{young});
  // Repeated parameters AND together.
  EXPECT_EQ(ids("birthdate=gt1949-12-31&birthdate=le1950-12-31"),
            std::set<std::string>{old});
  EXPECT_TRUE(ids("birthdate=gt2000&birthdate=lt2000").empty());
}

TEST_F(ApiTest, SearchByReferenceTakesTypedOrBareIds) {
  std::string ada = CreatePatient("Okafor", "Ada");
  std::string kofi = CreatePatient("Mensah", "Kofi");
  std::string encounter_id;
  for (const std::string& patient : {ada, kofi}) {
    json encounter = {{"resourceType", "Encounter"},
                      {"status", "finished"},
                      {"class", {{"code", "AMB"}}},
                      {"subject", {{"reference", "Patient/" + patient}}}};
    HttpResponse response =
        Handle(Request("POST", "/fhir/Encounter", encounter.dump()));
    ASSERT_EQ(response.status, 201) << response.body;
    if (patient == ada) encounter_id = Body(response)["id"];
  }
  for (const std::string& query :
       {"patient=Patient/" + ada, "patient=" + ada, "patient:Patient=" + ada}) {
    HttpResponse response = Handle(Request("GET", "/fhir/Encounter?" + query));
    ASSERT_EQ(response.status, 200) << query << ": " << response.body;
    EXPECT_EQ(IdsOf(Body(response)), std::set<std::string>{encounter_id})
        << query;
  }
}

TEST_F(ApiTest, SearchByTokenMatchesCode) {
  std::string id = CreatePatient("Okafor", "Ada");
  json bundle = Body(Handle(Request("GET", "/fhir/Patient?gender=female")));
  EXPECT_EQ(IdsOf(bundle), std::set<std::string>{id});
  bundle = Body(Handle(Request("GET", "/fhir/Patient?gender=male")));
  EXPECT_TRUE(bundle["entry"].empty());
}

TEST_F(ApiTest, SearchDoesNotReturnDeletedRecords) {
  std::string id = CreatePatient("Okafor", "Ada");
  ASSERT_EQ(Handle(Request("DELETE", "/fhir/Patient/" + id)).status, 200);
  json bundle = Body(Handle(Request("GET", "/fhir/Patient?name=okafor")));
  EXPECT_TRUE(bundle["entry"].empty());
  EXPECT_EQ(bundle["total"], 0);
}

TEST_F(ApiTest, BadSearchParametersAre400AndChangeNothing) {
  CreatePatient("Okafor", "Ada");
  std::string digest = Digest();
  for (const char* query : {
           "nickname=ada",            // unknown parameter
           "_sort=name",              // unsupported result parameter
           "name:contains=ad",        // unsupported modifier
           "gender:text=female",      // modifier on a token
           "birthdate=ne2000-01-01",  // unsupported prefix
           "birthdate=xx2000",        // unknown prefix
           "birthdate=not-a-date",    // unparsable date
           "name=",                   // empty value
           "name=a,b",                // OR lists
           "_count=0", "_count=-1", "_count=abc", "_count=1&_count=2",
           "_page=zzz",  // token not from this store
           "_format=xml",
           "name=%zz",    // invalid percent escape
           "name=%4",     // truncated escape
           "name=a%00b",  // encoded NUL
       }) {
    HttpResponse response =
        Handle(Request("GET", std::string("/fhir/Patient?") + query));
    EXPECT_TRUE(IsOutcome(response, 400)) << query;
  }
  EXPECT_EQ(Digest(), digest);
}

// Hostile query strings: every value is bound, never spliced into SQL, and
// '%' or '_' are not wildcards (prefixes are index ranges, not LIKE). Each
// is a 400 naming the parameter or an honest result, and the database is
// unchanged and still whole.
TEST_F(ApiTest, SqlShapedSearchParametersAreOnlyValues) {
  const std::string ada = CreatePatient("Okafor", "Ada");
  const std::string pct = CreatePatient("Cien%", "Por_ciento");
  const std::string digest = Digest();
  struct Case {
    std::string query;
    int status;
    std::string diagnostics;    // 400: the exact message
    std::set<std::string> ids;  // 200: exactly these
  };
  const std::string long_value(1025, 'a');
  const std::vector<Case> cases = {
      {"name=%27%20OR%201%3D1%20--", 200, "", {}},
      {"name=x%27%3B%20DROP%20TABLE%20records%3B%20--", 200, "", {}},
      {"identifier=x%22%3B%20DROP%20TABLE%20search_index", 200, "", {}},
      {"gender=female%27%20OR%20%271%27%3D%271", 200, "", {}},
      {"name=%25", 200, "", {}},         // '%' alone matches no name
      {"name=_", 200, "", {}},           // nor does '_'
      {"name=cien%25", 200, "", {pct}},  // but is a literal character
      {"name=por_", 200, "", {pct}},
      {"name=o%25", 200, "", {}},  // not "o followed by anything"
      {"_id=x%22%3B%20DROP%20TABLE",
       400,
       "_id: unknown search parameter for Patient; supported: name, "
       "identifier, birthdate, gender, _count, _page, _format",
       {}},
      {"name=a%00b", 400, "request target: encoded NUL", {}},
      {"name=" + long_value, 400, "name: value longer than 1024 bytes", {}},
      {"birthdate=ge1990%27%20OR%20%271%27%3D%271",
       400,
       "birthdate: not an ISO dateTime (YYYY, YYYY-MM, YYYY-MM-DD or "
       "YYYY-MM-DDThh:mm:ss[.fff] with Z or \u00b1hh:mm)",
       {}},
      {"patient=Patient%2Fx%27%20OR%201%3D1",
       400,
       "patient: \"x' OR 1=1\" is not a Patient id (a UUID)",
       {}},
      {"_count=1%20OR%201%3D1", 400, "_count: must be a positive integer", {}},
      // Far above the cap: clamped to it, as any large page size.
      {"_count=99999999999999999999999", 200, "", {ada, pct}},
      {"_sort=name%3B%20DROP%20TABLE%20records",
       400,
       "_sort: unknown search parameter for Patient; supported: name, "
       "identifier, birthdate, gender, _count, _page, _format",
       {}},
      {"_page=p1%27%20OR%201%3D1",
       400,
       "page_token: not a token from this store",
       {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.query);
    const std::string type =
        c.query.rfind("patient=", 0) == 0 ? "Encounter" : "Patient";
    HttpResponse r = Handle(Request("GET", "/fhir/" + type + "?" + c.query));
    ASSERT_EQ(r.status, c.status) << r.body;
    if (c.status == 200) {
      EXPECT_EQ(IdsOf(Body(r)), c.ids);
    } else {
      EXPECT_TRUE(IsOutcome(r, 400));
      EXPECT_EQ(Body(r)["issue"][0].value("diagnostics", ""), c.diagnostics);
    }
  }
  EXPECT_EQ(Digest(), digest);
  // Still whole: both patients are found as before.
  EXPECT_EQ(IdsOf(Body(Handle(Request("GET", "/fhir/Patient?_count=10")))),
            (std::set<std::string>{ada, pct}));
}

TEST_F(ApiTest, UnknownSearchParameterNamesTheSupportedOnes) {
  json body = Body(Handle(Request("GET", "/fhir/Patient?nickname=ada")));
  std::string diagnostics = body["issue"][0]["diagnostics"];
  for (const auto& info :
       storage::SearchParams(storage::ResourceType::kPatient)) {
    EXPECT_NE(diagnostics.find(std::string(info.name)), std::string::npos)
        << diagnostics;
  }
}

TEST_F(ApiTest, MetadataListsExactlyTheStoreSearchParameters) {
  HttpResponse response = Handle(Request("GET", "/fhir/metadata"));
  ASSERT_EQ(response.status, 200) << response.body;
  json statement = Body(response);
  EXPECT_EQ(statement["resourceType"], "CapabilityStatement");
  EXPECT_EQ(statement["fhirVersion"], "4.0.1");
  EXPECT_EQ(statement["rest"][0]["mode"], "server");
  const json& resources = statement["rest"][0]["resource"];
  ASSERT_EQ(resources.size(), storage::kAllResourceTypes.size());
  for (size_t i = 0; i < resources.size(); ++i) {
    storage::ResourceType type = storage::kAllResourceTypes[i];
    const json& resource = resources[i];
    EXPECT_EQ(resource["type"], std::string(storage::ResourceTypeName(type)));
    EXPECT_EQ(resource["versioning"], "versioned-update");
    EXPECT_EQ(resource["conditionalUpdate"], false);
    std::set<std::string> interactions;
    for (const json& interaction : resource["interaction"]) {
      interactions.insert(interaction["code"].get<std::string>());
    }
    EXPECT_EQ(interactions, (std::set<std::string>{
                                "read", "vread", "update", "delete", "create",
                                "search-type", "history-instance"}));
    std::vector<std::pair<std::string, std::string>> listed;
    for (const json& param : resource["searchParam"]) {
      listed.emplace_back(param["name"], param["type"]);
    }
    std::vector<std::pair<std::string, std::string>> expected;
    for (const auto& info : storage::SearchParams(type)) {
      const char* kind = "";
      switch (info.kind) {
        case storage::SearchParamInfo::Kind::kString:
          kind = "string";
          break;
        case storage::SearchParamInfo::Kind::kToken:
          kind = "token";
          break;
        case storage::SearchParamInfo::Kind::kDate:
          kind = "date";
          break;
        case storage::SearchParamInfo::Kind::kReference:
          kind = "reference";
          break;
      }
      expected.emplace_back(std::string(info.name), kind);
    }
    EXPECT_EQ(listed, expected) << resource["type"];
  }
}

}  // namespace
}  // namespace posta::node::testing
