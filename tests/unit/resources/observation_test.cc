#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "resource_fixtures.h"
#include "test_util.h"

namespace posta::storage::internal::testing {
namespace {

using ::testing::UnorderedElementsAre;

constexpr ResourceType kObservation = ResourceType::kObservation;
constexpr char kCategorySystem[] =
    "http://terminology.hl7.org/CodeSystem/observation-category";

TEST(ObservationTest, AcceptsTheFullExample) {
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed,
                       Parse(kObservation, ValidObservation()));
  ASSERT_EQ(parsed.references.size(), 2u);
  EXPECT_EQ(parsed.references[0].path, "Observation.subject");
  EXPECT_EQ(parsed.references[0].type, ResourceType::kPatient);
  EXPECT_EQ(parsed.references[0].id, kPatientId);
  EXPECT_EQ(parsed.references[1].path, "Observation.encounter");
  EXPECT_EQ(parsed.references[1].type, ResourceType::kEncounter);
  EXPECT_EQ(parsed.references[1].id, kEncounterId);
  EXPECT_THAT(
      parsed.search_keys,
      UnorderedElementsAre(
          SearchKey{"patient", kPatientId},
          SearchKey{"code", "8310-5"},
          SearchKey{"code", "http://loinc.org|8310-5"},
          SearchKey{"date", "2024-03-05T10:05:00"},
          SearchKey{"encounter", kEncounterId},
          SearchKey{"status", "final"}, SearchKey{"category", "vital-signs"},
          SearchKey{"category",
                    std::string(kCategorySystem) + "|vital-signs"}));
}

TEST(ObservationTest, BloodPressureWithComponents) {
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed,
                       Parse(kObservation, BloodPressure()));
  ASSERT_EQ(parsed.references.size(), 1u);
  EXPECT_EQ(parsed.references[0].path, "Observation.subject");
  EXPECT_THAT(parsed.search_keys,
              UnorderedElementsAre(
                  SearchKey{"patient", kPatientId},
                  SearchKey{"code", "85354-9"},
                  SearchKey{"code", "http://loinc.org|85354-9"},
                  SearchKey{"date", "2024-03-05"}, SearchKey{"status", "final"},
                  SearchKey{"category", "vital-signs"},
                  SearchKey{"category",
                            std::string(kCategorySystem) + "|vital-signs"}));
}

TEST(ObservationTest, PerformerAndAuthorPatientsAreResolvedToo) {
  Json doc = Apply(
      ValidObservation(),
      {{"/performer", "[{\"reference\": \"Patient/" + std::string(kOtherId) +
                          "\"}, {\"display\": \"Nurse Achieng\"}]"},
       {"/note/0/authorReference",
        "{\"reference\": \"Patient/" + std::string(kOtherId) + "\"}"}});
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed, Parse(kObservation, doc));
  ASSERT_EQ(parsed.references.size(), 4u);
  EXPECT_EQ(parsed.references[2].path, "Observation.performer[0]");
  EXPECT_EQ(parsed.references[2].id, kOtherId);
  EXPECT_EQ(parsed.references[3].path, "Observation.note[0].authorReference");
}

TEST(ObservationTest, AcceptsVariants) {
  const std::vector<std::vector<Edit>> variants = {
      {{"/effectiveDateTime", ""},
       {"/effectivePeriod", R"({"start": "2024-03-05T10:00:00Z"})"}},
      {{"/effectiveDateTime", ""},
       {"/effectiveInstant", R"("2024-03-05T10:00:00.25Z")"}},
      {{"/effectiveDateTime", ""}},
      {{"/encounter", ""}},
      {{"/valueQuantity", ""}, {"/valueString", R"("positive")"}},
      {{"/valueQuantity", ""}, {"/valueBoolean", "false"}},
      {{"/valueQuantity", ""}, {"/valueInteger", "-2147483648"}},
      {{"/valueQuantity", ""}, {"/valueDateTime", R"("2024-03")"}},
      {{"/valueQuantity", ""},
       {"/valueCodeableConcept", R"({"text": "negative"})"}},
      {{"/valueQuantity", ""}, {"/dataAbsentReason", R"({"text": "asked"})"}},
      {{"/valueQuantity/value", "123456789012345678901234567890"}},
      {{"/valueQuantity/value", "1e308"}},
      {{"/valueQuantity/comparator", R"("<")"}},
      {{"/code", R"({"text": "Malaria rapid test"})"}},
      {{"/issued", R"("2024-03-05T10:06:00+03:00")"}},
  };
  for (const std::vector<Edit>& edits : variants) {
    SCOPED_TRACE(edits.back().pointer + " = " + edits.back().value);
    EXPECT_OK(Parse(kObservation, Apply(ValidObservation(), edits)));
  }
}

TEST(ObservationTest, QuantityValueMustBeANumber) {
  Result<ParsedResource> parsed =
      Parse(kObservation,
            Apply(ValidObservation(), {{"/valueQuantity/value", R"("38.2")"}}));
  EXPECT_EQ(parsed.status(),
            Status::InvalidArgument("Observation.valueQuantity.value",
                                    "expected a number"));
}

TEST(ObservationTest, RejectsEachBrokenRule) {
  const std::string pid = "\"Patient/" + std::string(kPatientId) + "\"";
  const std::string eid = "\"Encounter/" + std::string(kEncounterId) + "\"";
  ExpectAllRejected(
      kObservation, ValidObservation(),
      {
          {{{"/status", ""}}, "Observation.status", "required"},
          {{{"/status", R"("done")"}},
           "Observation.status",
           "\"done\" is not one of registered, preliminary, final, amended, "
           "corrected, cancelled, entered-in-error, unknown"},
          {{{"/code", ""}}, "Observation.code", "required"},
          {{{"/code", R"({"coding": [{"system": "http://loinc.org"}]})"}},
           "Observation.code.coding[0].code",
           "required"},
          {{{"/code", R"({"id": "c"})"}},
           "Observation.code",
           "needs a coding or text"},
          {{{"/subject", ""}}, "Observation.subject", "required"},
          {{{"/subject/reference", eid}},
           "Observation.subject.reference",
           "a reference to \"Encounter\" is not allowed here; expected "
           "Patient"},
          {{{"/encounter/reference", pid}},
           "Observation.encounter.reference",
           "expected Encounter"},
          {{{"/encounter/reference", R"("Encounter/abc")"}},
           "Observation.encounter.reference",
           "is not a UUID"},
          {{{"/encounter", R"({"display": "today's visit"})"}},
           "Observation.encounter.reference",
           "required"},
          {{{"/effectivePeriod", R"({"start": "2024-03-05"})"}},
           "Observation.effective[x]",
           "only one may be present; found effectiveDateTime, "
           "effectivePeriod"},
          {{{"/effectiveDateTime", R"("yesterday")"}},
           "Observation.effectiveDateTime",
           "not an ISO dateTime"},
          {{{"/issued", R"("2024-03-05")"}},
           "Observation.issued",
           "not an ISO instant"},
          {{{"/valueQuantity/value", ""}},
           "Observation.valueQuantity.value",
           "required"},
          {{{"/valueQuantity/value", "true"}},
           "Observation.valueQuantity.value",
           "expected a number"},
          {{{"/valueQuantity/comparator", R"("~")"}},
           "Observation.valueQuantity.comparator",
           "is not one of <, <=, >=, >"},
          {{{"/valueQuantity/system", ""}},
           "Observation.valueQuantity.system",
           "required when code is given"},
          {{{"/valueQuantity/unit", "5"}},
           "Observation.valueQuantity.unit",
           "expected a string"},
          {{{"/valueString", R"("high")"}},
           "Observation.value[x]",
           "found valueQuantity, valueString"},
          {{{"/valueInteger", "1.5"}},
           "Observation.valueInteger",
           "expected an integer"},
          {{{"/valueInteger", "99999999999999999999"}},
           "Observation.valueInteger",
           "expected an integer"},
          {{{"/valueInteger", "2147483648"}},
           "Observation.valueInteger",
           "out of range for a 32-bit integer"},
          {{{"/valueRatio", "{}"}}, "Observation.valueRatio", "unknown field"},
          {{{"/dataAbsentReason", R"({"text": "asked"})"}},
           "Observation.dataAbsentReason",
           "not allowed with a value[x]"},
          {{{"/note/0", R"({"authorString": "a"})"}},
           "Observation.note[0].text",
           "required"},
          {{{"/note/0/authorString", R"("a")"},
            {"/note/0/authorReference", R"({"display": "b"})"}},
           "Observation.note[0].author[x]",
           "only one may be present"},
          {{{"/interpretation", "{}"}},
           "Observation.interpretation",
           "expected an array"},
          {{{"/category/0", R"("vital-signs")"}},
           "Observation.category[0]",
           "expected an object"},
          {{{"/referenceRange/0", R"({"type": {"text": "normal"}})"}},
           "Observation.referenceRange[0]",
           "needs a low, high or text"},
          {{{"/referenceRange/0/low/comparator", R"("<")"}},
           "Observation.referenceRange[0].low.comparator",
           "unknown field"},
          {{{"/performer", R"([{"reference": "Patient/abc"}])"}},
           "Observation.performer[0].reference",
           "is not a UUID"},
          {{{"/component", "[]"}},
           "Observation.component",
           "must not be empty"},
      });
}

TEST(ObservationTest, RejectsBrokenComponents) {
  ExpectAllRejected(
      kObservation, BloodPressure(),
      {
          {{{"/component/0/code", ""}},
           "Observation.component[0].code",
           "required"},
          {{{"/component/1/valueQuantity/value", R"("80")"}},
           "Observation.component[1].valueQuantity.value",
           "expected a number"},
          {{{"/component/0/valueString", R"("high")"}},
           "Observation.component[0].value[x]",
           "found valueQuantity, valueString"},
          {{{"/component/0/dataAbsentReason", R"({"text": "x"})"}},
           "Observation.component[0].dataAbsentReason",
           "not allowed with a value[x]"},
          {{{"/component/1/subject", "{}"}},
           "Observation.component[1].subject",
           "unknown field"},
      });
}

}  // namespace
}  // namespace posta::storage::internal::testing
