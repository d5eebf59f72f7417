// Location over the FHIR API: create, read, update, history, search, and the
// references clinical records make to it.
#include <gtest/gtest.h>

#include <set>

#include "api_fixture.h"
#include "posta/sync/merge.h"

namespace posta::node::testing {
namespace {

using nlohmann::json;

json LocationJson(const std::string& name) {
  return {{"resourceType", "Location"},
          {"status", "active"},
          {"name", name},
          {"identifier",
           json::array({{{"system", "urn:posta:facility"}, {"value", "n-1"}}})},
          {"address", {{"city", "Huancayo"}}}};
}

class ApiLocationTest : public ApiTest {
 protected:
  std::string CreateLocation(const json& body) {
    HttpResponse response =
        Handle(Request("POST", "/fhir/Location", body.dump()));
    EXPECT_EQ(response.status, 201) << response.body;
    return Body(response).value("id", "");
  }

  std::set<std::string> SearchIds(const std::string& query) {
    HttpResponse response = Handle(Request("GET", "/fhir/Location?" + query));
    EXPECT_EQ(response.status, 200) << response.body;
    std::set<std::string> ids;
    const json bundle = Body(response);
    for (const json& entry : bundle["entry"]) {
      ids.insert(entry["resource"]["id"].get<std::string>());
    }
    return ids;
  }
};

TEST_F(ApiLocationTest, CreateReadUpdateAndHistory) {
  const std::string id = CreateLocation(LocationJson("Clínica Norte"));
  HttpResponse read = Handle(Request("GET", "/fhir/Location/" + id));
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(Body(read)["name"], "Clínica Norte");
  EXPECT_EQ(Body(read)["address"]["city"], "Huancayo");

  json changed = LocationJson("Clínica Norte");
  changed["id"] = id;
  changed["status"] = "suspended";
  HttpResponse put =
      Handle(Request("PUT", "/fhir/Location/" + id, changed.dump()));
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(Body(put)["status"], "suspended");

  HttpResponse history =
      Handle(Request("GET", "/fhir/Location/" + id + "/_history"));
  ASSERT_EQ(history.status, 200) << history.body;
  EXPECT_EQ(Body(history)["entry"].size(), 2u);
}

TEST_F(ApiLocationTest, SearchByNamePrefixIdentifierAndStatus) {
  const std::string north = CreateLocation(LocationJson("Clínica Norte"));
  json south_body = LocationJson("Posta Sur");
  south_body["status"] = "inactive";
  south_body["alias"] = json::array({"Puesto ÁNDES"});
  south_body["identifier"][0]["value"] = "s-2";
  const std::string south = CreateLocation(south_body);

  EXPECT_EQ(SearchIds("name=clinica"), std::set<std::string>{north});
  EXPECT_EQ(SearchIds("name=NOR"), std::set<std::string>{north});
  EXPECT_EQ(SearchIds("name=andes"), std::set<std::string>{south});
  EXPECT_EQ(SearchIds("identifier=urn:posta:facility%7Cs-2"),
            std::set<std::string>{south});
  EXPECT_EQ(SearchIds("status=active"), std::set<std::string>{north});
  EXPECT_EQ(SearchIds("name=p"), std::set<std::string>{south});
  HttpResponse bad = Handle(Request("GET", "/fhir/Location?birthdate=2024"));
  EXPECT_TRUE(IsOutcome(bad, 400)) << bad.body;
}

TEST_F(ApiLocationTest, InvalidLocationsAreRefusedNamingTheField) {
  json unknown = LocationJson("X");
  unknown["position"] = {{"latitude", 1}, {"longitude", 2}};
  HttpResponse response =
      Handle(Request("POST", "/fhir/Location", unknown.dump()));
  ASSERT_TRUE(IsOutcome(response, 422, "invalid")) << response.body;
  EXPECT_NE(response.body.find("Location.position"), std::string::npos);

  json nameless = LocationJson("X");
  nameless.erase("name");
  response = Handle(Request("POST", "/fhir/Location", nameless.dump()));
  ASSERT_TRUE(IsOutcome(response, 422, "invalid")) << response.body;
  EXPECT_NE(response.body.find("Location.name"), std::string::npos);

  json orphan = LocationJson("Ward 3");
  orphan["partOf"] = {
      {"reference", "Location/7d9f0c56-3b1a-4f6e-9a43-2f7c1d0e5b88"}};
  response = Handle(Request("POST", "/fhir/Location", orphan.dump()));
  EXPECT_EQ(response.status, 422) << response.body;
  EXPECT_NE(response.body.find("does not exist"), std::string::npos);
}

TEST_F(ApiLocationTest, PartOfAndEncounterLocationResolve) {
  const std::string parent = CreateLocation(LocationJson("District"));
  json ward = LocationJson("Ward 3");
  ward["partOf"] = {{"reference", "Location/" + parent}};
  const std::string ward_id = CreateLocation(ward);

  const std::string patient = CreatePatient("Quispe", "Rosa");
  json encounter = {
      {"resourceType", "Encounter"},
      {"status", "finished"},
      {"class",
       {{"system", "http://terminology.hl7.org/CodeSystem/v3-ActCode"},
        {"code", "AMB"}}},
      {"subject", {{"reference", "Patient/" + patient}}},
      {"location",
       json::array({{{"location", {{"reference", "Location/" + ward_id}}}}})}};
  HttpResponse response =
      Handle(Request("POST", "/fhir/Encounter", encounter.dump()));
  EXPECT_EQ(response.status, 201) << response.body;
}

TEST_F(ApiLocationTest, MetadataListsLocation) {
  HttpResponse response = Handle(Request("GET", "/fhir/metadata"));
  ASSERT_EQ(response.status, 200) << response.body;
  bool found = false;
  const json statement = Body(response);
  for (const json& resource : statement["rest"][0]["resource"]) {
    if (resource["type"] != "Location") continue;
    found = true;
    std::set<std::string> params;
    for (const json& p : resource["searchParam"]) params.insert(p["name"]);
    EXPECT_EQ(params, (std::set<std::string>{"name", "identifier", "status"}));
  }
  EXPECT_TRUE(found);
}

TEST_F(ApiLocationTest, AClinicCannotChangeASharedLocation) {
  // A hub's Location, received by this clinic through sync.
  storage::StoreOptions hub_options;
  hub_options.path = dir_.File("hub.db");
  hub_options.create_if_missing = true;
  hub_options.facility = "region";
  hub_options.role = "hub";
  hub_options.clock = &store_clock_;
  ASSERT_OK_AND_ASSIGN(auto hub, storage::OpenRecordStore(hub_options));
  storage::WriteOutcome shared = hub->Write(
      {storage::WriteKind::kCreate, storage::ResourceType::kLocation, "",
       LocationJson("District").dump(), std::nullopt});
  ASSERT_OK(shared.status);
  ASSERT_OK_AND_ASSIGN(storage::ChangeBatch batch,
                       hub->ReadChanges(storage::ChangeFilter{}));
  sync::FieldMerger merger(store_clock_);
  storage::PeerState peer;
  peer.node_id = hub->node_id();
  peer.facility = "region";
  peer.role = "hub";
  ASSERT_OK(store_->ApplyChanges(batch.changes, batch.conflicts, merger, peer));
  const std::string path = "/fhir/Location/" + shared.record.id;

  HttpResponse read = Handle(Request("GET", path));
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(Body(read)["meta"]["tag"][0]["code"], "*");
  json changed = LocationJson("Renamed");
  changed["id"] = shared.record.id;
  HttpResponse put = Handle(Request("PUT", path, changed.dump()));
  ASSERT_TRUE(IsOutcome(put, 403)) << put.body;
  EXPECT_NE(put.body.find("edited at the hub"), std::string::npos) << put.body;
  HttpResponse del = Handle(Request("DELETE", path));
  ASSERT_TRUE(IsOutcome(del, 403)) << del.body;
  EXPECT_EQ(Body(Handle(Request("GET", path)))["name"], "District");
}

}  // namespace
}  // namespace posta::node::testing
