#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "resource_fixtures.h"
#include "test_util.h"

namespace posta::storage::internal::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

constexpr ResourceType kEncounter = ResourceType::kEncounter;

TEST(EncounterTest, AcceptsTheFullExample) {
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed,
                       Parse(kEncounter, ValidEncounter(), kEncounterId));
  ASSERT_EQ(parsed.references.size(), 1u);
  EXPECT_EQ(parsed.references[0].path, "Encounter.subject");
  EXPECT_EQ(parsed.references[0].type, ResourceType::kPatient);
  EXPECT_EQ(parsed.references[0].id, kPatientId);
}

TEST(EncounterTest, SearchKeysUseUtc) {
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed,
                       Parse(kEncounter, ValidEncounter()));
  EXPECT_THAT(
      parsed.search_keys,
      UnorderedElementsAre(SearchKey{"patient", kPatientId},
                           SearchKey{"date", "2024-03-05T08:00:00"},
                           SearchKey{"status", "finished"}));
}

TEST(EncounterTest, PartialStartDateKeepsItsText) {
  Json doc = Apply(ValidEncounter(), {{"/period", R"({"start": "2024-03"})"}});
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed, Parse(kEncounter, doc));
  EXPECT_THAT(parsed.search_keys,
              ::testing::Contains(SearchKey{"date", "2024-03"}));
}

TEST(EncounterTest, AcceptsVariants) {
  const std::vector<std::vector<Edit>> variants = {
      {{"/period", ""}},
      {{"/period/end", ""}},
      // A coarser end that covers the start is not before it.
      {{"/period/end", R"("2024-03-05")"}},
      {{"/period/start", R"("2024-03-05T10:00:00.123456+02:00")"},
       {"/period/end", R"("2024-03-05T08:00:00.5Z")"}},
      {{"/period/start", R"("2024-03-05T10:00:00+14:00")"}},
      {{"/status", R"("in-progress")"}},
      {{"/subject/reference",
        R"("Patient/6F1C2A0E-3B7D-4C55-9A1E-2F4B8C9D0E11")"}},
      {{"/diagnosis/0/condition", R"({"display": "Malaria"})"}},
      {{"/participant/0", R"({"type": [{"text": "attender"}]})"}},
  };
  for (const std::vector<Edit>& edits : variants) {
    SCOPED_TRACE(edits.front().pointer + " = " + edits.front().value);
    EXPECT_OK(Parse(kEncounter, Apply(ValidEncounter(), edits)));
  }
}

TEST(EncounterTest, StatusMessageListsTheValueSet) {
  Result<ParsedResource> parsed =
      Parse(kEncounter, Apply(ValidEncounter(), {{"/status", R"("done")"}}));
  EXPECT_EQ(parsed.status(),
            Status::InvalidArgument(
                "Encounter.status",
                "\"done\" is not one of planned, arrived, triaged, "
                "in-progress, onleave, finished, cancelled, entered-in-error, "
                "unknown"));
}

TEST(EncounterTest, MissingSubject) {
  Result<ParsedResource> parsed =
      Parse(kEncounter, Apply(ValidEncounter(), {{"/subject", ""}}));
  EXPECT_EQ(parsed.status(),
            Status::InvalidArgument("Encounter.subject", "required"));
}

TEST(EncounterTest, RejectsEachBrokenRule) {
  ExpectAllRejected(
      kEncounter, ValidEncounter(),
      {
          {{{"/status", ""}}, "Encounter.status", "required"},
          {{{"/status", "1"}}, "Encounter.status", "expected a string"},
          {{{"/class", ""}}, "Encounter.class", "required"},
          {{{"/class", "[]"}}, "Encounter.class", "expected an object"},
          {{{"/class/code", ""}}, "Encounter.class.code", "required"},
          {{{"/class/system", R"("")"}},
           "Encounter.class.system",
           "must not be empty"},
          {{{"/subject/reference", R"("Group/g-1")"}},
           "Encounter.subject.reference",
           "a reference to \"Group\" is not allowed here; expected Patient"},
          {{{"/subject/reference", R"("Patient/42")"}},
           "Encounter.subject.reference",
           "is not a UUID"},
          {{{"/subject/reference", R"("Patient/")"}},
           "Encounter.subject.reference",
           "is not a UUID"},
          {{{"/subject/reference", R"("Patient/a/_history/2")"}},
           "Encounter.subject.reference",
           "is not <Type>/<id>"},
          {{{"/subject/reference", ""}},
           "Encounter.subject.reference",
           "required"},
          {{{"/subject/type", R"("Group")"}},
           "Encounter.subject.type",
           "is not Patient"},
          {{{"/period/end", R"("2024-03-05T10:00:00+03:00")"}},
           "Encounter.period.end",
           "before start"},
          {{{"/period/end", R"("2024-03-04")"}},
           "Encounter.period.end",
           "before start"},
          {{{"/period/start", R"("2024-03-05T10:00+02:00")"}},
           "Encounter.period.start",
           "not an ISO dateTime"},
          {{{"/period/start", R"("2024-03-05T10:00:00")"}},
           "Encounter.period.start",
           "not an ISO dateTime"},
          {{{"/period/start", R"("2024-03-05 10:00:00Z")"}},
           "Encounter.period.start",
           "not an ISO dateTime"},
          {{{"/period/start", R"("2024-03-05T10:00:00.Z")"}},
           "Encounter.period.start",
           "not an ISO dateTime"},
          {{{"/period/start", R"("2024-03-05T24:00:00Z")"}},
           "Encounter.period.start",
           "invalid time of day or offset"},
          {{{"/period/start", R"("2024-03-05T10:60:00Z")"}},
           "Encounter.period.start",
           "invalid time of day or offset"},
          {{{"/period/start", R"("2024-03-05T10:00:60Z")"}},
           "Encounter.period.start",
           "invalid time of day or offset"},
          {{{"/period/start", R"("2024-03-05T10:00:00+14:30")"}},
           "Encounter.period.start",
           "invalid time of day or offset"},
          {{{"/period/start", R"("9999-12-31T23:00:00-02:00")"}},
           "Encounter.period.start",
           "past the year 9999 in UTC"},
          {{{"/period", "{}"}}, "Encounter.period", "must not be empty"},
          {{{"/type/0", R"({"coding": []})"}},
           "Encounter.type[0].coding",
           "must not be empty"},
          {{{"/reasonCode/0/coding/0/system", "5"}},
           "Encounter.reasonCode[0].coding[0].system",
           "expected a string"},
          {{{"/diagnosis/0/rank", "0"}},
           "Encounter.diagnosis[0].rank",
           "must be at least 1"},
          {{{"/diagnosis/0/rank", "-1"}},
           "Encounter.diagnosis[0].rank",
           "must be at least 1"},
          {{{"/diagnosis/0/rank", "1.5"}},
           "Encounter.diagnosis[0].rank",
           "expected an integer"},
          {{{"/diagnosis/0/rank", "3000000000"}},
           "Encounter.diagnosis[0].rank",
           "out of range for a 32-bit integer"},
          {{{"/diagnosis/0/condition", ""}},
           "Encounter.diagnosis[0].condition",
           "required"},
          {{{"/diagnosis/0/condition/reference", R"("Observation/o-1")"}},
           "Encounter.diagnosis[0].condition.reference",
           "expected Condition or Procedure"},
          {{{"/participant/0", R"({"period": {"start": "2024"}})"}},
           "Encounter.participant[0]",
           "needs a type or an individual"},
          {{{"/participant/0/individual/reference", R"("Patient/x")"}},
           "Encounter.participant[0].individual.reference",
           "is not allowed here"},
          {{{"/location/0/status", R"("gone")"}},
           "Encounter.location[0].status",
           "is not one of planned, active, reserved, completed"},
          {{{"/location/0/location", ""}},
           "Encounter.location[0].location",
           "required"},
          {{{"/serviceProvider/reference", R"("Organization/")"}},
           "Encounter.serviceProvider.reference",
           "\"\" is not a FHIR id"},
          {{{"/serviceProvider/reference",
             "\"Organization/" + std::string(65, 'a') + "\""}},
           "Encounter.serviceProvider.reference",
           "is not a FHIR id"},
          {{{"/hospitalization", "{}"}},
           "Encounter.hospitalization",
           "unknown field"},
      });
}

TEST(EncounterTest, IdMustMatchTheRecord) {
  Result<ParsedResource> parsed = Parse(kEncounter, ValidEncounter(), kOtherId);
  EXPECT_EQ(parsed.status(),
            Status::InvalidArgument("Encounter.id",
                                    "\"" + std::string(kEncounterId) +
                                        "\" does not match the record id \"" +
                                        kOtherId + "\""));
  EXPECT_OK(
      Parse(kEncounter, Apply(ValidEncounter(), {{"/id", ""}}), kOtherId));
}

TEST(EncounterTest, FieldsAreCheckedInTableOrder) {
  // Both status and subject are broken; status comes first in the table.
  Json doc =
      Apply(ValidEncounter(), {{"/status", R"("done")"}, {"/subject", ""}});
  EXPECT_THAT(Parse(kEncounter, doc).status().message(),
              ::testing::StartsWith("Encounter.status: "));
  // An unknown field is reported before any field rule.
  doc = Apply(doc, {{"/statuss", R"("finished")"}});
  EXPECT_THAT(Parse(kEncounter, doc).status().message(),
              ::testing::StartsWith("Encounter.statuss: unknown field"));
  EXPECT_THAT(Parse(kEncounter, ValidEncounter())->top_level_fields,
              ElementsAre("class", "diagnosis", "location", "participant",
                          "period", "reasonCode", "serviceProvider", "status",
                          "subject", "type"));
}

}  // namespace
}  // namespace posta::storage::internal::testing
