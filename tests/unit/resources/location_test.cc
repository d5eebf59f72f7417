#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "resource_fixtures.h"
#include "test_util.h"

namespace posta::storage::internal::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

constexpr ResourceType kLocation = ResourceType::kLocation;

TEST(LocationTest, AcceptsTheFullExample) {
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed,
                       Parse(kLocation, ValidLocation()));
  EXPECT_THAT(parsed.top_level_fields,
              ElementsAre("address", "alias", "description", "identifier",
                          "name", "partOf", "status", "telecom", "type"));
  // Location is stored by posta, so partOf must resolve.
  ASSERT_EQ(parsed.references.size(), 1u);
  EXPECT_EQ(parsed.references[0].path, "Location.partOf");
  EXPECT_EQ(parsed.references[0].type, kLocation);
  EXPECT_EQ(parsed.references[0].id, kOtherId);
}

TEST(LocationTest, SearchKeys) {
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed,
                       Parse(kLocation, ValidLocation()));
  EXPECT_THAT(
      parsed.search_keys,
      UnorderedElementsAre(
          SearchKey{"name", "clinica norte"}, SearchKey{"name", "clinica"},
          SearchKey{"name", "norte"},
          SearchKey{"name", "puesto de salud norte"},
          SearchKey{"name", "puesto"}, SearchKey{"name", "de"},
          SearchKey{"name", "salud"}, SearchKey{"identifier", "clinic-norte"},
          SearchKey{"identifier", "urn:posta:facility|clinic-norte"},
          SearchKey{"status", "active"}));
}

TEST(LocationTest, AcceptsVariants) {
  const std::vector<std::vector<Edit>> variants = {
      {{"/identifier", ""},
       {"/alias", ""},
       {"/description", ""},
       {"/type", ""},
       {"/telecom", ""},
       {"/address", ""},
       {"/partOf", ""},
       {"/status", ""}},  // a name alone is enough
      {{"/status", R"("suspended")"}},
      {{"/status", R"("inactive")"}},
      {{"/address", R"({"text": "Km 12, northern road"})"}},
  };
  for (const std::vector<Edit>& edits : variants) {
    SCOPED_TRACE(edits.front().pointer);
    EXPECT_OK(Parse(kLocation, Apply(ValidLocation(), edits)).status());
  }
}

TEST(LocationTest, RejectsEachBrokenRule) {
  ExpectAllRejected(
      kLocation, ValidLocation(),
      {
          {{{"/resourceType", R"("Patient")"}},
           "Location.resourceType",
           "expected \"Location\""},
          {{{"/id", R"("room-2")"}}, "Location.id", "is not a UUID"},
          {{{"/name", ""}}, "Location.name", "required"},
          {{{"/name", R"("   ")"}}, "Location.name", ""},
          {{{"/name", "5"}}, "Location.name", "expected a string"},
          {{{"/status", R"("closed")"}},
           "Location.status",
           "\"closed\" is not one of active, suspended, inactive"},
          {{{"/alias", "[]"}}, "Location.alias", "must not be empty"},
          {{{"/alias/0", "7"}}, "Location.alias[0]", "expected a string"},
          {{{"/mode", R"("instance")"}}, "Location.mode", "unknown field"},
          {{{"/position", R"({"longitude": 1, "latitude": 2})"}},
           "Location.position",
           "unknown field"},
          {{{"/type/0/coding/0/system", "1"}},
           "Location.type[0].coding[0].system",
           "expected a string"},
          {{{"/telecom/0/system", ""}},
           "Location.telecom[0].system",
           "required when value is given"},
          {{{"/address", R"([{"city": "Huancayo"}])"}},
           "Location.address",
           "expected an object"},
          {{{"/address/use", R"("office")"}}, "Location.address.use", "office"},
          {{{"/partOf",
             R"({"reference": "Patient/)" + std::string(kOtherId) + R"("})"}},
           "Location.partOf.reference",
           "a reference to \"Patient\" is not allowed here"},
          {{{"/partOf", R"({"reference": "Location/room-2"})"}},
           "Location.partOf.reference",
           "is not a UUID"},
          {{{"/partOf", R"({"display": "District"})"}},
           "Location.partOf.reference",
           "required"},
      });
}

TEST(LocationTest, ClinicalRecordsMayReferToAStoredLocation) {
  Json encounter = ValidEncounter();
  encounter["location"] = Json::array(
      {{{"location", {{"reference", Ref("Location", kLocationId)}}}}});
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed,
                       Parse(ResourceType::kEncounter, encounter));
  bool found = false;
  for (const Reference& ref : parsed.references) {
    if (ref.type == kLocation && ref.id == kLocationId) found = true;
  }
  EXPECT_TRUE(found) << "Encounter.location must resolve";
}

}  // namespace
}  // namespace posta::storage::internal::testing
