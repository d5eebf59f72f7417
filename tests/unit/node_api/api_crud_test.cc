// FHIR create, read, update, delete, history and vread through Api::Handle.
#include <gtest/gtest.h>

#include "api_fixture.h"
#include "posta/base/random.h"

namespace posta::node::testing {
namespace {

using nlohmann::json;

TEST_F(ApiTest, CreateAnswers201WithLocationEtagAndResource) {
  HttpResponse response =
      Handle(Request("POST", "/fhir/Patient", PatientJson("Garcia", "José")));
  ASSERT_EQ(response.status, 201) << response.body;
  EXPECT_EQ(response.content_type, "application/fhir+json; charset=utf-8");
  json body = Body(response);
  ASSERT_FALSE(body.is_discarded());
  EXPECT_EQ(body["resourceType"], "Patient");
  std::string id = body["id"];
  EXPECT_TRUE(base::IsUuid(id));
  std::string vid = body["meta"]["versionId"];
  EXPECT_EQ(HeaderOf(response, "ETag"), "W/\"" + vid + "\"");
  EXPECT_EQ(HeaderOf(response, "Location"),
            std::string(kBase) + "/fhir/Patient/" + id + "/_history/" + vid);
  EXPECT_EQ(body["name"][0]["family"], "Garcia");
}

TEST_F(ApiTest, CreateIgnoresIdInBody) {
  json body = json::parse(PatientJson("Ng", "Mai"));
  body["id"] = "00000000-0000-4000-8000-000000000001";
  HttpResponse response = Handle(Request("POST", "/fhir/Patient", body.dump()));
  ASSERT_EQ(response.status, 201) << response.body;
  EXPECT_NE(Body(response)["id"], "00000000-0000-4000-8000-000000000001");
}

TEST_F(ApiTest, ReadAnswersCurrentVersionWithEtag) {
  std::string id = CreatePatient("Okafor", "Ada");
  HttpResponse response = Handle(Request("GET", "/fhir/Patient/" + id));
  ASSERT_EQ(response.status, 200) << response.body;
  json body = Body(response);
  EXPECT_EQ(body["id"], id);
  EXPECT_EQ(HeaderOf(response, "ETag"),
            "W/\"" + body["meta"]["versionId"].get<std::string>() + "\"");
  EXPECT_FALSE(HeaderOf(response, "Last-Modified").empty());
}

TEST_F(ApiTest, ReadOfUnknownIdIs404) {
  HttpResponse response = Handle(
      Request("GET", "/fhir/Patient/7d9f0c56-3b1a-4f6e-9a43-2f7c1d0e5b88"));
  EXPECT_TRUE(IsOutcome(response, 404, "not-found"));
}

TEST_F(ApiTest, PutUpdatesAndIssuesNewVersion) {
  std::string id = CreatePatient("Okafor", "Ada");
  HttpResponse first = Handle(Request("GET", "/fhir/Patient/" + id));
  json body = json::parse(PatientJson("Okafor", "Adaeze"));
  body["id"] = id;
  HttpResponse response =
      Handle(Request("PUT", "/fhir/Patient/" + id, body.dump()));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_NE(HeaderOf(response, "ETag"), HeaderOf(first, "ETag"));
  HttpResponse read = Handle(Request("GET", "/fhir/Patient/" + id));
  EXPECT_EQ(Body(read)["name"][0]["given"][0], "Adaeze");
}

TEST_F(ApiTest, PutOfUnknownIdCreatesWithThatId) {
  std::string id = "3f0c2a9e-8d7b-4c61-a5e4-0b9d8c7f6e51";
  HttpResponse response =
      Handle(Request("PUT", "/fhir/Patient/" + id, PatientJson("Lee", "Min")));
  ASSERT_EQ(response.status, 201) << response.body;
  EXPECT_EQ(Body(response)["id"], id);
  EXPECT_NE(HeaderOf(response, "Location").find("/fhir/Patient/" + id +
                                                "/_history/"),
            std::string::npos);
}

TEST_F(ApiTest, PutWithCurrentIfMatchSucceeds) {
  std::string id = CreatePatient("Okafor", "Ada");
  std::string etag = HeaderOf(Handle(Request("GET", "/fhir/Patient/" + id)),
                              "ETag");
  HttpRequest request =
      Request("PUT", "/fhir/Patient/" + id, PatientJson("Okafor", "Ify"));
  request.headers.emplace_back("If-Match", etag);
  EXPECT_EQ(Handle(request).status, 200);
}

TEST_F(ApiTest, PutWithStaleIfMatchIs412AndStoresNothing) {
  std::string id = CreatePatient("Okafor", "Ada");
  std::string stale =
      HeaderOf(Handle(Request("GET", "/fhir/Patient/" + id)), "ETag");
  ASSERT_EQ(Handle(Request("PUT", "/fhir/Patient/" + id,
                           PatientJson("Okafor", "Ngozi")))
                .status,
            200);
  std::string digest = Digest();
  HttpRequest request =
      Request("PUT", "/fhir/Patient/" + id, PatientJson("Okafor", "Chi"));
  request.headers.emplace_back("If-Match", stale);
  EXPECT_TRUE(IsOutcome(Handle(request), 412, "conflict"));
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, PutWithIfMatchOnUnknownIdIs404) {
  std::string id = CreatePatient("Okafor", "Ada");
  std::string etag =
      HeaderOf(Handle(Request("GET", "/fhir/Patient/" + id)), "ETag");
  std::string digest = Digest();
  HttpRequest request =
      Request("PUT", "/fhir/Patient/0b7e6d5c-4a3b-4c2d-9e1f-0a9b8c7d6e5f",
              PatientJson("Nobody", "Here"));
  request.headers.emplace_back("If-Match", etag);
  EXPECT_TRUE(IsOutcome(Handle(request), 404));
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, MalformedIfMatchIs400) {
  std::string id = CreatePatient("Okafor", "Ada");
  std::string digest = Digest();
  for (const char* bad : {"*", "W/abc", "\"not-a-version\"", "", "W/\"\"",
                          "W/\"1.2.3\", W/\"4.5.6\""}) {
    HttpRequest request =
        Request("PUT", "/fhir/Patient/" + id, PatientJson("Okafor", "X"));
    request.headers.emplace_back("If-Match", bad);
    EXPECT_TRUE(IsOutcome(Handle(request), 400)) << bad;
  }
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, PutWithDifferentBodyIdIsRejected) {
  std::string id = CreatePatient("Okafor", "Ada");
  std::string digest = Digest();
  json body = json::parse(PatientJson("Okafor", "Ada"));
  body["id"] = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d";
  HttpResponse response =
      Handle(Request("PUT", "/fhir/Patient/" + id, body.dump()));
  EXPECT_TRUE(response.status == 400 || response.status == 422)
      << response.status;
  EXPECT_TRUE(IsOutcome(response, response.status));
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, DeleteThenReadIs410AndDeleteIsIdempotent) {
  std::string id = CreatePatient("Okafor", "Ada");
  HttpResponse deleted = Handle(Request("DELETE", "/fhir/Patient/" + id));
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(Body(deleted)["resourceType"], "OperationOutcome");
  EXPECT_EQ(Body(deleted)["issue"][0]["severity"], "information");
  EXPECT_TRUE(IsOutcome(Handle(Request("GET", "/fhir/Patient/" + id)), 410,
                        "deleted"));
  std::string digest = Digest();
  EXPECT_EQ(Handle(Request("DELETE", "/fhir/Patient/" + id)).status, 200);
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, DeleteOfUnknownIdIs404) {
  std::string digest = Digest();
  EXPECT_TRUE(IsOutcome(
      Handle(Request("DELETE",
                     "/fhir/Patient/9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b")),
      404));
  EXPECT_EQ(Digest(), digest);
}

TEST_F(ApiTest, PutRevivesDeletedRecord) {
  std::string id = CreatePatient("Okafor", "Ada");
  ASSERT_EQ(Handle(Request("DELETE", "/fhir/Patient/" + id)).status, 200);
  HttpResponse response =
      Handle(Request("PUT", "/fhir/Patient/" + id, PatientJson("Okafor", "A")));
  EXPECT_TRUE(response.status == 200 || response.status == 201);
  EXPECT_EQ(Handle(Request("GET", "/fhir/Patient/" + id)).status, 200);
}

TEST_F(ApiTest, HistoryListsEveryVersionNewestFirst) {
  std::string id = CreatePatient("Okafor", "Ada");
  ASSERT_EQ(Handle(Request("PUT", "/fhir/Patient/" + id,
                           PatientJson("Okafor", "Ngozi")))
                .status,
            200);
  ASSERT_EQ(Handle(Request("DELETE", "/fhir/Patient/" + id)).status, 200);

  HttpResponse response =
      Handle(Request("GET", "/fhir/Patient/" + id + "/_history"));
  ASSERT_EQ(response.status, 200) << response.body;
  json bundle = Body(response);
  ASSERT_FALSE(bundle.is_discarded()) << response.body;
  EXPECT_EQ(bundle["resourceType"], "Bundle");
  EXPECT_EQ(bundle["type"], "history");
  EXPECT_EQ(bundle["total"], 3);
  const json& entries = bundle["entry"];
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0]["request"]["method"], "DELETE");
  EXPECT_FALSE(entries[0].contains("resource"));
  EXPECT_EQ(entries[1]["request"]["method"], "PUT");
  EXPECT_EQ(entries[1]["resource"]["name"][0]["given"][0], "Ngozi");
  EXPECT_EQ(entries[2]["request"]["method"], "POST");
  EXPECT_EQ(entries[2]["request"]["url"], "Patient");
  EXPECT_EQ(entries[2]["response"]["status"], "201 Created");
  for (const json& entry : entries) {
    EXPECT_EQ(entry["fullUrl"], std::string(kBase) + "/fhir/Patient/" + id);
    EXPECT_EQ(entry["response"]["etag"].get<std::string>().rfind("W/\"", 0),
              0u);
    EXPECT_TRUE(entry["response"].contains("lastModified"));
  }
}

TEST_F(ApiTest, HistoryCountCutsTheListAndOmitsTotal) {
  std::string id = CreatePatient("Okafor", "Ada");
  for (const char* given : {"B", "C", "D"}) {
    ASSERT_EQ(Handle(Request("PUT", "/fhir/Patient/" + id,
                             PatientJson("Okafor", given)))
                  .status,
              200);
  }
  json bundle =
      Body(Handle(Request("GET", "/fhir/Patient/" + id + "/_history?_count=2")));
  EXPECT_EQ(bundle["entry"].size(), 2u);
  EXPECT_FALSE(bundle.contains("total"));
  EXPECT_EQ(bundle["entry"][0]["resource"]["name"][0]["given"][0], "D");
}

TEST_F(ApiTest, HistoryOfUnknownIdIs404) {
  EXPECT_TRUE(IsOutcome(
      Handle(Request(
          "GET", "/fhir/Patient/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d/_history")),
      404));
}

TEST_F(ApiTest, VreadAnswersOldVersions) {
  std::string id = CreatePatient("Okafor", "Ada");
  std::string vid = Body(Handle(Request("GET", "/fhir/Patient/" + id)))
                        ["meta"]["versionId"];
  ASSERT_EQ(Handle(Request("PUT", "/fhir/Patient/" + id,
                           PatientJson("Okafor", "Ngozi")))
                .status,
            200);
  HttpResponse old =
      Handle(Request("GET", "/fhir/Patient/" + id + "/_history/" + vid));
  ASSERT_EQ(old.status, 200) << old.body;
  EXPECT_EQ(Body(old)["name"][0]["given"][0], "Ada");
  EXPECT_EQ(HeaderOf(old, "ETag"), "W/\"" + vid + "\"");
}

TEST_F(ApiTest, VreadOfDeletionIs410UnknownIs404MalformedIs400) {
  std::string id = CreatePatient("Okafor", "Ada");
  HttpResponse deleted = Handle(Request("DELETE", "/fhir/Patient/" + id));
  std::string etag = HeaderOf(deleted, "ETag");
  ASSERT_GT(etag.size(), 4u);
  std::string delete_vid = etag.substr(3, etag.size() - 4);
  EXPECT_TRUE(IsOutcome(
      Handle(Request("GET", "/fhir/Patient/" + id + "/_history/" + delete_vid)),
      410));
  EXPECT_TRUE(IsOutcome(
      Handle(Request("GET", "/fhir/Patient/" + id +
                                "/_history/1000000000000.0000.abc")),
      404));
  EXPECT_TRUE(IsOutcome(
      Handle(Request("GET", "/fhir/Patient/" + id + "/_history/latest")), 400));
}

TEST_F(ApiTest, EncounterReferencingPatientRoundTrips) {
  std::string patient = CreatePatient("Okafor", "Ada");
  json encounter = {{"resourceType", "Encounter"},
                    {"status", "finished"},
                    {"class", {{"code", "AMB"}}},
                    {"subject", {{"reference", "Patient/" + patient}}},
                    {"period", {{"start", "2024-03-01T09:00:00Z"}}}};
  HttpResponse response =
      Handle(Request("POST", "/fhir/Encounter", encounter.dump()));
  ASSERT_EQ(response.status, 201) << response.body;
  std::string id = Body(response)["id"];
  EXPECT_EQ(Handle(Request("GET", "/fhir/Encounter/" + id)).status, 200);
}

}  // namespace
}  // namespace posta::node::testing
