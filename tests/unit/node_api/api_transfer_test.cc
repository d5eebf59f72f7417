// POST /fhir/Patient/{id}/$transfer through Api::Handle: what moves, what
// the answer says, the refusals, and the 403 for edits after the move.
#include <gtest/gtest.h>

#include "api_fixture.h"

namespace posta::node::testing {
namespace {

using nlohmann::json;

std::string TransferBody(const std::string& facility) {
  return json{
      {"resourceType", "Parameters"},
      {"parameter", {{{"name", "facility"}, {"valueString", facility}}}}}
      .dump();
}

class ApiTransferTest : public ApiTest {
 protected:
  std::string CreateEncounter(const std::string& patient) {
    json body = {{"resourceType", "Encounter"},
                 {"status", "finished"},
                 {"class", {{"code", "AMB"}}},
                 {"subject", {{"reference", "Patient/" + patient}}}};
    HttpResponse response =
        Handle(Request("POST", "/fhir/Encounter", body.dump()));
    EXPECT_EQ(response.status, 201) << response.body;
    return Body(response).value("id", "");
  }

  HttpResponse Transfer(const std::string& id, const std::string& body) {
    return Handle(Request("POST", "/fhir/Patient/" + id + "/$transfer", body));
  }
};

TEST_F(ApiTransferTest, MovesThePatientAndSaysWhatMoved) {
  const std::string id = CreatePatient("Moved", "Ana");
  const std::string encounter = CreateEncounter(id);
  CreateEncounter(id);
  HttpResponse response = Transfer(id, TransferBody("fac-2"));
  ASSERT_EQ(response.status, 200) << response.body;
  json body = Body(response);
  EXPECT_EQ(body["resourceType"], "Parameters");
  EXPECT_EQ(body["parameter"][0]["name"], "from");
  EXPECT_EQ(body["parameter"][0]["valueString"], "fac-1");
  EXPECT_EQ(body["parameter"][1]["valueString"], "fac-2");
  const json& moved = body["parameter"][2]["part"];
  ASSERT_EQ(moved.size(), 4u);
  EXPECT_EQ(moved[0], (json{{"name", "Patient"}, {"valueInteger", 1}}));
  EXPECT_EQ(moved[1], (json{{"name", "Encounter"}, {"valueInteger", 2}}));
  EXPECT_EQ(moved[2], (json{{"name", "Observation"}, {"valueInteger", 0}}));
  const json& patient = body["parameter"][3]["resource"];
  EXPECT_EQ(patient["id"], id);
  EXPECT_EQ(patient["meta"]["tag"][0]["code"], "fac-2");
  EXPECT_EQ(HeaderOf(response, "ETag"),
            "W/\"" + patient["meta"]["versionId"].get<std::string>() + "\"");

  // History shows both owners.
  json history =
      Body(Handle(Request("GET", "/fhir/Patient/" + id + "/_history")));
  ASSERT_EQ(history["entry"].size(), 2u);
  EXPECT_EQ(history["entry"][0]["resource"]["meta"]["tag"][0]["code"], "fac-2");
  EXPECT_EQ(history["entry"][1]["resource"]["meta"]["tag"][0]["code"], "fac-1");

  // This clinic edits them no more.
  HttpResponse put = Handle(
      Request("PUT", "/fhir/Patient/" + id, PatientJson("Moved", "Eva")));
  EXPECT_TRUE(IsOutcome(put, 403, "security"));
  EXPECT_NE(put.body.find("Patient/" + id +
                          ": was transferred to facility fac-2; it is edited "
                          "there"),
            std::string::npos)
      << put.body;
  EXPECT_TRUE(IsOutcome(
      Handle(Request("DELETE", "/fhir/Encounter/" + encounter)), 403));
  EXPECT_TRUE(IsOutcome(Transfer(id, TransferBody("fac-3")), 403, "security"));
}

TEST_F(ApiTransferTest, MetadataNamesTheOperationOnPatient) {
  json statement = Body(Handle(Request("GET", "/fhir/metadata")));
  for (const json& resource : statement["rest"][0]["resource"]) {
    if (resource["type"] == "Patient") {
      ASSERT_EQ(resource["operation"].size(), 1u);
      EXPECT_EQ(resource["operation"][0]["name"], "transfer");
    } else {
      EXPECT_FALSE(resource.contains("operation")) << resource["type"];
    }
  }
}

TEST_F(ApiTransferTest, RefusalsAreOperationOutcomesAndStoreNothing) {
  const std::string id = CreatePatient("Here", "Ana");
  const std::string encounter = CreateEncounter(id);
  const std::string gone = CreatePatient("Gone", "Eva");
  ASSERT_EQ(Handle(Request("DELETE", "/fhir/Patient/" + gone)).status, 200);
  const std::string before = Digest();
  EXPECT_TRUE(IsOutcome(Transfer(gone, TransferBody("fac-2")), 410));
  EXPECT_TRUE(IsOutcome(Transfer(id, "not json"), 400));
  EXPECT_TRUE(IsOutcome(Transfer(id, R"({"resourceType":"Patient"})"), 400));
  EXPECT_TRUE(IsOutcome(
      Transfer(id, R"({"resourceType":"Parameters","parameter":[]})"), 400));
  EXPECT_TRUE(IsOutcome(
      Transfer(
          id,
          R"({"resourceType":"Parameters","parameter":[{"name":"to","valueString":"fac-2"}]})"),
      400));
  EXPECT_TRUE(IsOutcome(Transfer(id, TransferBody("fac-1")), 422, "invalid"));
  EXPECT_TRUE(IsOutcome(Transfer(id, TransferBody("*")), 422));
  EXPECT_TRUE(IsOutcome(Transfer(id, TransferBody("")), 422));
  EXPECT_TRUE(IsOutcome(Transfer(id, TransferBody("a b")), 422));
  EXPECT_TRUE(IsOutcome(
      Transfer("7d9f0c56-3b1a-4f6e-9a43-2f7c1d0e5b88", TransferBody("fac-2")),
      404));
  EXPECT_TRUE(IsOutcome(
      Handle(Request("POST", "/fhir/Encounter/" + encounter + "/$transfer",
                     TransferBody("fac-2"))),
      422));
  EXPECT_TRUE(IsOutcome(
      Handle(Request("GET", "/fhir/Patient/" + id + "/$transfer")), 405));
  EXPECT_TRUE(
      IsOutcome(Handle(Request("POST", "/fhir/Patient/" + id + "/$transfer",
                               TransferBody("fac-2"), "text/plain")),
                415));
  EXPECT_EQ(Digest(), before);
}

}  // namespace
}  // namespace posta::node::testing
