#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "resource_fixtures.h"
#include "resources/search_keys.h"
#include "test_util.h"

namespace posta::storage::internal::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr ResourceType kPatient = ResourceType::kPatient;

TEST(PatientTest, AcceptsTheFullExample) {
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed, Parse(kPatient, ValidPatient()));
  // Practitioner and Organization references are not the store's to resolve.
  EXPECT_THAT(parsed.references, IsEmpty());
  EXPECT_THAT(
      parsed.top_level_fields,
      ElementsAre("active", "address", "birthDate", "gender",
                  "generalPractitioner", "identifier", "managingOrganization",
                  "maritalStatus", "name", "telecom"));
}

TEST(PatientTest, EachSearchKeyOnceHoweverManyThereAre) {
  // 150 identifiers, each given twice: past the count that SearchKeyList
  // finds repeats by scanning, so both of its ways are used.
  Json doc = ValidPatient();
  Json identifiers = Json::array();
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 150; ++i) {
      identifiers.push_back({{"value", "ID-" + std::to_string(i)}});
    }
  }
  doc["identifier"] = identifiers;
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed, Parse(kPatient, doc));
  std::set<std::pair<std::string, std::string>> distinct;
  size_t identifier_keys = 0;
  for (const SearchKey& key : parsed.search_keys) {
    EXPECT_TRUE(distinct.emplace(key.param, key.value).second)
        << key.param << " " << key.value;
    if (key.param == "identifier") ++identifier_keys;
  }
  EXPECT_EQ(identifier_keys, 150u);
}

TEST(PatientTest, SearchKeys) {
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed, Parse(kPatient, ValidPatient()));
  EXPECT_THAT(
      parsed.search_keys,
      UnorderedElementsAre(
          SearchKey{"name", "garcia"}, SearchKey{"name", "jose"},
          SearchKey{"name", "luis"}, SearchKey{"name", "jose luis garcia"},
          SearchKey{"name", "garcia jose luis"},
          SearchKey{"identifier", "MRN-0042"},
          SearchKey{"identifier", "urn:oid:2.16.840.1.113883.2.1|MRN-0042"},
          SearchKey{"birthdate", "1984-02-29"}, SearchKey{"gender", "male"}));
}

TEST(PatientTest, NameTextIsSplitIntoWords) {
  Json doc = Apply(ValidPatient(),
                   {{"/name", R"([{"text": "  María-José  O'BRIEN "}])"}});
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed, Parse(kPatient, doc));
  std::vector<std::string> names;
  for (const SearchKey& key : parsed.search_keys) {
    if (key.param == "name") names.push_back(key.value);
  }
  EXPECT_THAT(names, UnorderedElementsAre("maria-jose o'brien", "maria", "jose",
                                          "o", "brien"));
}

TEST(PatientTest, LongTextsIndexOnlyTheirFirstWords) {
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "w" + std::to_string(i) + " ";
  Json doc = ValidPatient();
  doc["name"] = Json::array({{{"text", text}}});
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed, Parse(kPatient, doc));
  size_t names = 0;
  for (const SearchKey& key : parsed.search_keys) {
    names += key.param == "name" ? 1 : 0;
  }
  EXPECT_EQ(names, 1 + kMaxWordsPerText);
}

TEST(PatientTest, AcceptsVariants) {
  const std::vector<std::vector<Edit>> variants = {
      {{"/name", ""}},        // an identifier alone is enough
      {{"/identifier", ""}},  // and so is a name
      {{"/birthDate", R"("1984")"}},
      {{"/birthDate", R"("1984-07")"}},
      {{"/birthDate", R"("2000-02-29")"}},
      {{"/deceasedBoolean", "false"}},
      {{"/deceasedDateTime", R"("2021-06-01T14:30:00-05:00")"}},
      {{"/name/0/given", ""},
       {"/name/0/family", ""},
       {"/name/0/text", R"("X")"}},
      {{"/managingOrganization", R"({"display": "Clínica Norte"})"}},
      {{"/managingOrganization",
        R"({"identifier": {"value": "ORG-1"}, "type": "Organization"})"}},
      {{"/telecom/0/period", R"({"end": "2030"})"}, {"/telecom/0/rank", "1"}},
      {{"/text", R"({"status": "generated", "div": "<div>José</div>"})"}},
      {{"/language", R"("es")"}},
      {{"/extension",
        R"([{"url": "http://example.org/ethnicity", "valueString": "x",
             "extension": [{"url": "sub", "valueCoding": {"code": "y"}}]}])"}},
      {{"/name/0/extension", R"([{"url": "http://x", "valueBoolean": true}])"},
       {"/name/0/id", R"("n1")"}},
      {{"/id", ""}},
  };
  for (const std::vector<Edit>& edits : variants) {
    SCOPED_TRACE(edits.front().pointer);
    EXPECT_OK(Parse(kPatient, Apply(ValidPatient(), edits)));
  }
}

TEST(PatientTest, RejectsEachBrokenRule) {
  const std::string pid = std::string("\"") + kPatientId + "\"";
  ExpectAllRejected(
      kPatient, ValidPatient(),
      {
          {{{"/resourceType", ""}}, "Patient.resourceType", "required"},
          {{{"/resourceType", R"("Encounter")"}},
           "Patient.resourceType",
           "expected \"Patient\""},
          {{{"/resourceType", R"("patient")"}},
           "Patient.resourceType",
           "expected \"Patient\""},
          {{{"/id", R"("123")"}}, "Patient.id", "\"123\" is not a UUID"},
          {{{"/id", "5"}}, "Patient.id", "expected a string"},
          {{{"/nickname", R"("Pepe")"}}, "Patient.nickname", "unknown field"},
          {{{"/_birthDate", R"({"id": "x"})"}},
           "Patient._birthDate",
           "unknown field"},
          {{{"/contained", "[]"}}, "Patient.contained", "unknown field"},
          {{{"/modifierExtension", "[]"}},
           "Patient.modifierExtension",
           "unknown field"},
          {{{"/name", ""}, {"/identifier", ""}},
           "Patient.name",
           "a name or an identifier is required"},
          {{{"/identifier/0/value", ""}},
           "Patient.identifier[0].value",
           "required"},
          {{{"/identifier/0/system", R"("urn oid")"}},
           "Patient.identifier[0].system",
           "must not contain whitespace"},
          {{{"/identifier/0/use", R"("primary")"}},
           "Patient.identifier[0].use",
           "\"primary\" is not one of usual, official, temp, secondary, old"},
          {{{"/identifier", "[]"}}, "Patient.identifier", "must not be empty"},
          {{{"/identifier", "{}"}}, "Patient.identifier", "expected an array"},
          {{{"/identifier/0", "null"}},
           "Patient.identifier[0]",
           "expected an object"},
          {{{"/active", R"("yes")"}},
           "Patient.active",
           "expected true or false"},
          {{{"/name/0/given/1", "5"}},
           "Patient.name[0].given[1]",
           "expected a string"},
          {{{"/name/0/given/1", R"("")"}},
           "Patient.name[0].given[1]",
           "must not be empty"},
          {{{"/name/0/given/1", R"("  ")"}},
           "Patient.name[0].given[1]",
           "must not be empty"},
          {{{"/name/0/family", R"("Gar\u0000cía")"}},
           "Patient.name[0].family",
           "contains a control character"},
          {{{"/name/0/use", R"("formal")"}},
           "Patient.name[0].use",
           "\"formal\" is not one of usual, official, temp, nickname, "
           "anonymous, old, maiden"},
          {{{"/name/0", R"({"use": "official"})"}},
           "Patient.name[0]",
           "needs a text, family or given name"},
          {{{"/name/0", "{}"}}, "Patient.name[0]", "must not be empty"},
          {{{"/name/0/famly", R"("Garcia")"}},
           "Patient.name[0].famly",
           "unknown field"},
          {{{"/name/0/period/start", R"("2024-01-01")"},
            {"/name/0/period/end", R"("2023-12-31")"}},
           "Patient.name[0].period.end",
           "before start"},
          {{{"/name/0/extension", R"([{"valueString": "x"}])"}},
           "Patient.name[0].extension[0].url",
           "required"},
          {{{"/telecom/0/system", R"("telegram")"}},
           "Patient.telecom[0].system",
           "is not one of phone, fax, email, pager, url, sms, other"},
          {{{"/telecom/0/use", R"("cell")"}},
           "Patient.telecom[0].use",
           "is not one of home, work, temp, old, mobile"},
          {{{"/telecom/0/system", ""}},
           "Patient.telecom[0].system",
           "required when value is given"},
          {{{"/telecom/0/value", ""}}, "Patient.telecom[0].value", "required"},
          {{{"/telecom/0/rank", "0"}},
           "Patient.telecom[0].rank",
           "must be at least 1"},
          {{{"/gender", R"("M")"}},
           "Patient.gender",
           "\"M\" is not one of male, female, other, unknown"},
          {{{"/gender", R"(" male")"}}, "Patient.gender", "not a code"},
          {{{"/birthDate", R"("1990-02-30")"}},
           "Patient.birthDate",
           "not a calendar date"},
          {{{"/birthDate", R"("2023-02-29")"}},
           "Patient.birthDate",
           "not a calendar date"},
          {{{"/birthDate", R"("1990-13")"}},
           "Patient.birthDate",
           "not a calendar date"},
          {{{"/birthDate", R"("0000")"}},
           "Patient.birthDate",
           "not a calendar date"},
          {{{"/birthDate", R"("1990/02/03")"}},
           "Patient.birthDate",
           "not an ISO date (YYYY, YYYY-MM or YYYY-MM-DD)"},
          {{{"/birthDate", R"("1990-2-3")"}},
           "Patient.birthDate",
           "not an ISO date"},
          {{{"/birthDate", R"("1990-02-03T10:00:00Z")"}},
           "Patient.birthDate",
           "not an ISO date"},
          {{{"/birthDate", "1990"}}, "Patient.birthDate", "expected a string"},
          {{{"/deceasedDateTime", R"("2020-01-01T10:00Z")"}},
           "Patient.deceasedDateTime",
           "not an ISO dateTime"},
          {{{"/deceasedBoolean", "true"},
            {"/deceasedDateTime", R"("2020-01-01")"}},
           "Patient.deceased[x]",
           "only one may be present; found deceasedBoolean, deceasedDateTime"},
          {{{"/address/0/type", R"("home")"}},
           "Patient.address[0].type",
           "is not one of postal, physical, both"},
          {{{"/address/0/line/0", "7"}},
           "Patient.address[0].line[0]",
           "expected a string"},
          {{{"/maritalStatus", R"({"coding": [{"display": "Married"}]})"}},
           "Patient.maritalStatus.coding[0].code",
           "required"},
          {{{"/maritalStatus", R"({"id": "m"})"}},
           "Patient.maritalStatus",
           "needs a coding or text"},
          {{{"/maritalStatus/coding/0/userSelected", R"("true")"}},
           "Patient.maritalStatus.coding[0].userSelected",
           "expected true or false"},
          {{{"/generalPractitioner/0/reference", pid}},
           "Patient.generalPractitioner[0].reference",
           "is not <Type>/<id>"},
          {{{"/generalPractitioner/0/reference", R"("Practitioner/dr lopez")"}},
           "Patient.generalPractitioner[0].reference",
           "\"dr lopez\" is not a FHIR id"},
          {{{"/generalPractitioner/0/reference",
             R"("http://hub/fhir/Practitioner/1")"}},
           "Patient.generalPractitioner[0].reference",
           "is not <Type>/<id>"},
          {{{"/generalPractitioner/0/reference", R"("Device/d1")"}},
           "Patient.generalPractitioner[0].reference",
           "a reference to \"Device\" is not allowed here; expected "
           "Organization or Practitioner or PractitionerRole"},
          {{{"/managingOrganization", "{}"}},
           "Patient.managingOrganization",
           "must not be empty"},
          {{{"/managingOrganization", R"({"type": "Organization"})"}},
           "Patient.managingOrganization",
           "needs a reference, identifier or display"},
          {{{"/managingOrganization/type", R"("Practitioner")"}},
           "Patient.managingOrganization.type",
           "\"Practitioner\" is not Organization"},
          {{{"/text", R"({"status": "generated"})"}},
           "Patient.text.div",
           "required"},
          {{{"/extension", R"([{"url": "http://x", "foo": 1})"
                           R"(])"}},
           "Patient.extension[0].foo",
           "unknown field"},
          {{{"/name/0/extension",
             R"([{"url": "http://x", "extension": [{"url": "y"}, )"
             R"({"url": "z", "bar": 2}]}])"}},
           "Patient.name[0].extension[0].extension[1].bar",
           "unknown field"},
          {{{"/name/0/period", R"({"start": "2020-01-01", "end": "2019"})"}},
           "Patient.name[0].period.end",
           "before start"},
          {{{"/telecom/0/period", R"({"start": "2020-13-01"})"}},
           "Patient.telecom[0].period.start",
           "\"2020-13-01\" is not a calendar date"},
          {{{"/language", R"("")"}}, "Patient.language", "must not be empty"},
      });
}

TEST(PatientTest, ReferenceToAPatientIsNotAllowedAsPractitioner) {
  Json doc =
      Apply(ValidPatient(), {{"/generalPractitioner/0/reference",
                              "\"Patient/" + std::string(kPatientId) + "\""}});
  Result<ParsedResource> parsed = Parse(kPatient, doc);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(),
            "Patient.generalPractitioner[0].reference: a reference to "
            "\"Patient\" is not allowed here; expected Organization or "
            "Practitioner or PractitionerRole");
}

}  // namespace
}  // namespace posta::storage::internal::testing
