#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "resource_fixtures.h"
#include "test_util.h"

namespace posta::storage::internal::testing {
namespace {

using Kind = SearchParamInfo::Kind;
using ::testing::ElementsAre;

constexpr ResourceType kPatient = ResourceType::kPatient;
constexpr ResourceType kEncounter = ResourceType::kEncounter;
constexpr ResourceType kObservation = ResourceType::kObservation;
constexpr ResourceType kAppointment = ResourceType::kAppointment;

KeyRange Range(std::string param, std::string lower, std::string upper,
               bool exact = false) {
  return KeyRange{std::move(param), std::move(lower), std::move(upper), exact};
}

void ExpectRange(ResourceType type, const SearchCondition& condition,
                 const KeyRange& want) {
  SCOPED_TRACE(condition.param + "=" + condition.value);
  Result<KeyRange> got = ConditionToRange(type, condition);
  ASSERT_OK(got);
  EXPECT_EQ(got->param, want.param);
  EXPECT_EQ(got->lower, want.lower);
  EXPECT_EQ(got->upper, want.upper);
  EXPECT_EQ(got->exact, want.exact);
}

void ExpectInvalid(ResourceType type, const SearchCondition& condition,
                   const std::string& message) {
  SCOPED_TRACE(condition.param + "=" + condition.value);
  Status status = ConditionToRange(type, condition).status();
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(status.message(), ::testing::StartsWith(message));
}

std::vector<std::string> Names(ResourceType type) {
  std::vector<std::string> names;
  for (const SearchParamInfo& info : SearchParams(type)) {
    names.emplace_back(info.name);
    EXPECT_FALSE(info.expression.empty());
    EXPECT_FALSE(info.documentation.empty());
  }
  return names;
}

TEST(SearchParamsTest, PerType) {
  EXPECT_THAT(Names(kPatient),
              ElementsAre("name", "identifier", "birthdate", "gender"));
  EXPECT_THAT(Names(kEncounter), ElementsAre("patient", "date", "status"));
  EXPECT_THAT(Names(kObservation),
              ElementsAre("patient", "code", "date", "encounter", "status",
                          "category"));
  EXPECT_THAT(Names(kAppointment), ElementsAre("patient", "date", "status"));
  EXPECT_THAT(Names(ResourceType::kLocation),
              ElementsAre("name", "identifier", "status"));
  EXPECT_EQ(SearchParams(kPatient)[0].kind, Kind::kString);
  EXPECT_EQ(SearchParams(kPatient)[2].kind, Kind::kDate);
  EXPECT_EQ(SearchParams(kEncounter)[0].kind, Kind::kReference);
  EXPECT_EQ(SearchParams(kObservation)[1].kind, Kind::kToken);
}

// Every parameter has a key number of its own, and a reference parameter
// the type its values name: an index row holds only the number and the id.
TEST(SearchParamsTest, EachHasItsOwnKeyNumber) {
  std::set<int> seen;
  size_t params = 0;
  for (ResourceType type : {kPatient, kEncounter, kObservation, kAppointment,
                            ResourceType::kLocation}) {
    for (const SearchParamInfo& info : SearchParams(type)) {
      SCOPED_TRACE(std::string(ResourceTypeName(type)) + " " +
                   std::string(info.name));
      ++params;
      const int code = SearchKeyCodeOf(type, info.name);
      EXPECT_GT(code, 0);
      EXPECT_TRUE(seen.insert(code).second) << code;
      for (const SearchKeyCode& entry : SearchKeyCodes()) {
        if (entry.code != code) continue;
        EXPECT_EQ(entry.target.empty(), info.kind != Kind::kReference);
      }
    }
  }
  EXPECT_EQ(SearchKeyCodes().size(), params);
  EXPECT_EQ(SearchKeyCodeOf(kPatient, "patient"), 0);
  // Numbers stored in databases never change.
  EXPECT_EQ(SearchKeyCodeOf(kPatient, "name"), 1);
  EXPECT_EQ(SearchKeyCodeOf(kObservation, "category"), 13);
  EXPECT_EQ(SearchKeyCodeOf(ResourceType::kLocation, "status"), 19);
}

TEST(ConditionToRangeTest, String) {
  using enum SearchOp;
  ExpectRange(kPatient, {"name", kDefault, "Jos"},
              Range("name", "jos", "jos\xff"));
  ExpectRange(kPatient, {"name", kDefault, " GARCÍA  Ló"},
              Range("name", "garcia lo", "garcia lo\xff"));
  ExpectRange(kPatient, {"name", kExact, "José  García"},
              Range("name", "jose garcia", "", true));
  for (SearchOp op : {kEq, kGe, kGt, kLe, kLt}) {
    ExpectInvalid(kPatient, {"name", op, "jose"}, "name: ");
  }
  ExpectInvalid(kPatient, {"name", kGe, "jose"},
                "name: ge does not apply to a string parameter");
  ExpectInvalid(kPatient, {"name", kDefault, " \t"}, "name: empty value");
}

TEST(ConditionToRangeTest, Token) {
  using enum SearchOp;
  ExpectRange(kPatient, {"gender", kDefault, "female"},
              Range("gender", "female", "", true));
  ExpectRange(kObservation, {"code", kDefault, "http://loinc.org|8310-5"},
              Range("code", "http://loinc.org|8310-5", "", true));
  for (SearchOp op : {kExact, kEq, kGe, kGt, kLe, kLt}) {
    ExpectInvalid(kEncounter, {"status", op, "finished"}, "status: ");
  }
  ExpectInvalid(kEncounter, {"status", kExact, "finished"},
                "status: :exact does not apply to a token parameter");
}

TEST(ConditionToRangeTest, Reference) {
  using enum SearchOp;
  const std::string patient = Ref("Patient", kPatientId);
  // The index holds a reference's bare id: the parameter names the type.
  ExpectRange(kEncounter, {"patient", kDefault, patient},
              Range("patient", kPatientId, "", true));
  ExpectRange(kObservation, {"patient", kDefault, kPatientId},
              Range("patient", kPatientId, "", true));
  ExpectRange(kObservation, {"encounter", kDefault, kEncounterId},
              Range("encounter", kEncounterId, "", true));
  ExpectRange(kAppointment, {"patient", kDefault, patient},
              Range("patient", kPatientId, "", true));
  ExpectInvalid(kObservation,
                {"patient", kDefault, Ref("Encounter", kEncounterId)},
                "patient: expected Patient/<id> or <id>");
  ExpectInvalid(kObservation,
                {"encounter", kDefault, Ref("Patient", kPatientId)},
                "encounter: expected Encounter/<id> or <id>");
  ExpectInvalid(kEncounter, {"patient", kDefault, "Patient/42"},
                "patient: \"42\" is not a Patient id (a UUID)");
  ExpectInvalid(kEncounter, {"patient", kDefault, "Patient/"}, "patient: ");
  for (SearchOp op : {kExact, kEq, kGe, kGt, kLe, kLt}) {
    ExpectInvalid(kEncounter, {"patient", op, patient}, "patient: ");
  }
}

TEST(ConditionToRangeTest, DateEquality) {
  using enum SearchOp;
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"2024", "2024", "2025"},
      {"2024-03", "2024-03", "2024-04"},
      {"2024-12", "2024-12", "2025-01"},
      {"2024-03-05", "2024-03-05", "2024-03-06"},
      {"2024-02-28", "2024-02-28", "2024-02-29"},
      {"2023-02-28", "2023-02-28", "2023-03-01"},
      {"2024-12-31", "2024-12-31", "2025-01-01"},
      {"2024-03-05T10:00:00+02:00", "2024-03-05T08:00:00",
       "2024-03-05T08:00:01"},
      {"2024-03-05T23:59:59Z", "2024-03-05T23:59:59", "2024-03-06T00:00:00"},
      {"2024-03-01T00:30:00.999+01:00", "2024-02-29T23:30:00",
       "2024-02-29T23:30:01"},
      {"2024-12-31T20:00:00-05:00", "2025-01-01T01:00:00",
       "2025-01-01T01:00:01"},
      {"9999", "9999", ""},
      {"9999-12", "9999-12", ""},
      {"9999-12-31", "9999-12-31", ""},
  };
  for (const auto& [value, lower, upper] : cases) {
    ExpectRange(kEncounter, {"date", kDefault, value},
                Range("date", lower, upper));
    ExpectRange(kEncounter, {"date", kEq, value}, Range("date", lower, upper));
  }
}

TEST(ConditionToRangeTest, DateComparisons) {
  using enum SearchOp;
  ExpectRange(kPatient, {"birthdate", kGe, "2024-03"},
              Range("birthdate", "2024-03", ""));
  ExpectRange(kPatient, {"birthdate", kGt, "2024"},
              Range("birthdate", "2025", ""));
  ExpectRange(kPatient, {"birthdate", kLe, "2024-03"},
              Range("birthdate", "", "2024-04"));
  ExpectRange(kPatient, {"birthdate", kLt, "2024-03-05"},
              Range("birthdate", "", "2024-03-05"));
  ExpectRange(kAppointment, {"date", kGt, "2024-03-05T10:00:00Z"},
              Range("date", "2024-03-05T10:00:01", ""));
  // Nothing comes after the year 9999, nor at or below "".
  ExpectRange(kPatient, {"birthdate", kGt, "9999"},
              Range("birthdate", "\xff", ""));
  ExpectRange(kPatient, {"birthdate", kLe, "9999"}, Range("birthdate", "", ""));
}

TEST(ConditionToRangeTest, BadDates) {
  using enum SearchOp;
  ExpectInvalid(kEncounter, {"date", kExact, "2024"},
                "date: :exact does not apply to a date parameter");
  for (const std::string bad :
       {"2024-13", "2024-02-30", "yesterday", "2024-03-05T10:00:00",
        "2024-03-05T10:00Z", "24-03-05", "2024-3-5", "0000"}) {
    ExpectInvalid(kEncounter, {"date", kGe, bad}, "date: ");
  }
  ExpectInvalid(kEncounter, {"date", kDefault, "2024-03-05T10:00:00"},
                "date: not an ISO dateTime");
}

TEST(ConditionToRangeTest, UnknownParameterListsTheSupportedOnes) {
  EXPECT_EQ(
      ConditionToRange(kPatient, {"phone", SearchOp::kDefault, "1"}).status(),
      Status::InvalidArgument("phone",
                              "not a search parameter of Patient; supported: "
                              "name, identifier, birthdate, gender"));
  EXPECT_EQ(
      ConditionToRange(kObservation, {"Patient", SearchOp::kDefault, "1"})
          .status()
          .message(),
      "Patient: not a search parameter of Observation; supported: patient, "
      "code, date, encounter, status, category");
  ExpectInvalid(kPatient, {"gender", SearchOp::kDefault, ""},
                "gender: empty value");
}

// The store's lookup over the keys of a parsed resource.
bool Finds(ResourceType type, const Json& doc, const SearchCondition& c) {
  Result<ParsedResource> parsed = Parse(type, doc);
  Result<KeyRange> range = ConditionToRange(type, c);
  EXPECT_OK(parsed);
  EXPECT_OK(range);
  return parsed.ok() && range.ok() && AnyMatches(*range, parsed->search_keys);
}

TEST(SearchTest, PatientNames) {
  using enum SearchOp;
  const Json patient = ValidPatient();  // José Luis García
  for (const std::string query :
       {"jos", "José", "JOSE", "garc", "García", "lu", "jose luis",
        "José Luis García", "garcia jose", "g"}) {
    EXPECT_TRUE(Finds(kPatient, patient, {"name", kDefault, query})) << query;
  }
  for (const std::string query : {"josa", "luis garcia", "garcias", "ose"}) {
    EXPECT_FALSE(Finds(kPatient, patient, {"name", kDefault, query})) << query;
  }
  EXPECT_TRUE(Finds(kPatient, patient, {"name", kExact, "garcía"}));
  EXPECT_TRUE(Finds(kPatient, patient, {"name", kExact, "JOSE LUIS GARCIA"}));
  EXPECT_FALSE(Finds(kPatient, patient, {"name", kExact, "garc"}));
}

TEST(SearchTest, PatientTokensAndDates) {
  using enum SearchOp;
  const Json patient = ValidPatient();
  EXPECT_TRUE(Finds(kPatient, patient, {"identifier", kDefault, "MRN-0042"}));
  EXPECT_TRUE(Finds(
      kPatient, patient,
      {"identifier", kDefault, "urn:oid:2.16.840.1.113883.2.1|MRN-0042"}));
  EXPECT_FALSE(Finds(kPatient, patient, {"identifier", kDefault, "mrn-0042"}));
  EXPECT_TRUE(Finds(kPatient, patient, {"gender", kDefault, "male"}));
  EXPECT_FALSE(Finds(kPatient, patient, {"gender", kDefault, "female"}));
  EXPECT_TRUE(Finds(kPatient, patient, {"birthdate", kDefault, "1984"}));
  EXPECT_TRUE(Finds(kPatient, patient, {"birthdate", kEq, "1984-02"}));
  EXPECT_TRUE(Finds(kPatient, patient, {"birthdate", kLt, "1984-03-01"}));
  EXPECT_FALSE(Finds(kPatient, patient, {"birthdate", kGt, "1984-02-29"}));
  EXPECT_TRUE(Finds(kPatient, patient, {"birthdate", kLe, "1984-02-29"}));
}

TEST(SearchTest, EncounterAndObservationDates) {
  using enum SearchOp;
  const Json encounter = ValidEncounter();  // 2024-03-05T08:00:00 UTC
  EXPECT_TRUE(Finds(kEncounter, encounter, {"date", kDefault, "2024-03-05"}));
  EXPECT_TRUE(Finds(kEncounter, encounter, {"date", kDefault, "2024-03"}));
  EXPECT_TRUE(
      Finds(kEncounter, encounter, {"date", kEq, "2024-03-05T09:00:00+01:00"}));
  EXPECT_FALSE(
      Finds(kEncounter, encounter, {"date", kEq, "2024-03-05T10:00:00Z"}));
  EXPECT_TRUE(
      Finds(kEncounter, encounter, {"date", kGe, "2024-03-05T08:00:00Z"}));
  EXPECT_FALSE(
      Finds(kEncounter, encounter, {"date", kGt, "2024-03-05T08:00:00Z"}));
  EXPECT_TRUE(Finds(kEncounter, encounter, {"date", kLt, "2024-03-06"}));
  EXPECT_FALSE(Finds(kEncounter, encounter, {"date", kLt, "2024-03-05"}));

  const Json pressure = BloodPressure();  // effectiveDateTime 2024-03-05
  EXPECT_TRUE(Finds(kObservation, pressure, {"date", kEq, "2024-03-05"}));
  EXPECT_TRUE(Finds(kObservation, pressure, {"code", kDefault, "85354-9"}));
  EXPECT_FALSE(Finds(kObservation, pressure, {"code", kDefault, "8480-6"}));
  EXPECT_TRUE(
      Finds(kObservation, pressure, {"category", kDefault, "vital-signs"}));
}

TEST(SearchTest, References) {
  using enum SearchOp;
  EXPECT_TRUE(Finds(kObservation, ValidObservation(),
                    {"encounter", kDefault, kEncounterId}));
  EXPECT_TRUE(Finds(kObservation, ValidObservation(),
                    {"patient", kDefault, kPatientId}));
  EXPECT_FALSE(
      Finds(kObservation, ValidObservation(), {"patient", kDefault, kOtherId}));
  EXPECT_TRUE(Finds(kAppointment, ValidAppointment(),
                    {"patient", kDefault, Ref("Patient", kPatientId)}));
  EXPECT_TRUE(
      Finds(kAppointment, ValidAppointment(), {"status", kDefault, "booked"}));
  EXPECT_TRUE(Finds(kAppointment, ValidAppointment(),
                    {"date", kDefault, "2024-04-02"}));
}

}  // namespace
}  // namespace posta::storage::internal::testing
