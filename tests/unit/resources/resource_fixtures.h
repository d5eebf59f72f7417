// Valid example resources and a table format for breaking them one rule at a
// time, shared by the resources tests.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "posta/base/status.h"
#include "posta/storage/record.h"
#include "resources/resources.h"

namespace posta {
// Readable Status values in test failures.
inline void PrintTo(const Status& status, std::ostream* out) {
  *out << status.ToString();
}
}  // namespace posta

namespace posta::storage::internal::testing {

using Json = nlohmann::json;

inline constexpr char kPatientId[] = "6f1c2a0e-3b7d-4c55-9a1e-2f4b8c9d0e11";
inline constexpr char kEncounterId[] = "0b9e7f52-1c3a-4d8e-b6f0-7a2c5d4e3f21";
inline constexpr char kOtherId[] = "c3d2e1f0-a9b8-4c7d-8e6f-5a4b3c2d1e0f";

inline std::string Ref(std::string_view type, std::string_view id) {
  return std::string(type) + "/" + std::string(id);
}

inline Json ValidPatient() {
  Json doc = Json::parse(R"json({
    "resourceType": "Patient",
    "meta": {"versionId": "7", "lastUpdated": "2024-01-01T00:00:00Z"},
    "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.1",
                    "value": "MRN-0042"}],
    "active": true,
    "name": [{"use": "official", "family": "García",
              "given": ["José", "Luis"], "period": {"start": "1984"}}],
    "telecom": [{"system": "phone", "value": "+34 600 000 000",
                 "use": "mobile"}],
    "gender": "male",
    "birthDate": "1984-02-29",
    "address": [{"use": "home", "type": "physical",
                 "line": ["Calle Mayor 1"], "city": "Ávila",
                 "country": "ES"}],
    "maritalStatus": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
        "code": "M"}]},
    "generalPractitioner": [{"reference": "Practitioner/dr-lopez"}],
    "managingOrganization": {"reference": "Organization/clinic.7"}
  })json");
  doc["id"] = kPatientId;
  return doc;
}

inline Json ValidEncounter() {
  Json doc = Json::parse(R"json({
    "resourceType": "Encounter",
    "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
              "code": "AMB", "display": "ambulatory"},
    "type": [{"text": "Antenatal visit"}],
    "participant": [{"individual": {"reference": "Practitioner/nurse-3"}}],
    "period": {"start": "2024-03-05T10:00:00+02:00",
               "end": "2024-03-05T10:30:00+02:00"},
    "reasonCode": [{"coding": [{"system": "http://snomed.info/sct",
                                "code": "386661006", "display": "Fever"}]}],
    "diagnosis": [{"condition": {"reference": "Condition/c-1"},
                   "use": {"text": "billing"}, "rank": 1}],
    "location": [{"location": {"display": "Room 2"},
                  "status": "completed"}],
    "serviceProvider": {"reference": "Organization/clinic.7"}
  })json");
  doc["id"] = kEncounterId;
  doc["subject"] = {{"reference", Ref("Patient", kPatientId)},
                    {"display", "José García"}};
  return doc;
}

inline Json VitalSignsCategory() {
  return Json::parse(R"json([{"coding": [{
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "vital-signs"}]}])json");
}

inline Json ValidObservation() {
  Json doc = Json::parse(R"json({
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5",
                         "display": "Body temperature"}]},
    "effectiveDateTime": "2024-03-05T10:05:00Z",
    "valueQuantity": {"value": 38.2, "unit": "Cel",
                      "system": "http://unitsofmeasure.org", "code": "Cel"},
    "interpretation": [{"coding": [{"code": "H"}]}],
    "referenceRange": [{"low": {"value": 36.1}, "high": {"value": 37.2}}],
    "note": [{"text": "Taken orally"}]
  })json");
  doc["category"] = VitalSignsCategory();
  doc["subject"] = {{"reference", Ref("Patient", kPatientId)}};
  doc["encounter"] = {{"reference", Ref("Encounter", kEncounterId)}};
  return doc;
}

inline Json BloodPressure() {
  Json doc = Json::parse(R"json({
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9",
                         "display": "Blood pressure panel"}]},
    "effectiveDateTime": "2024-03-05",
    "component": [
      {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6",
                            "display": "Systolic blood pressure"}]},
       "valueQuantity": {"value": 120, "unit": "mmHg",
                         "system": "http://unitsofmeasure.org",
                         "code": "mm[Hg]"}},
      {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4",
                            "display": "Diastolic blood pressure"}]},
       "valueQuantity": {"value": 80, "unit": "mmHg",
                         "system": "http://unitsofmeasure.org",
                         "code": "mm[Hg]"}}
    ]
  })json");
  doc["category"] = VitalSignsCategory();
  doc["subject"] = {{"reference", Ref("Patient", kPatientId)}};
  return doc;
}

inline Json ValidAppointment() {
  Json doc = Json::parse(R"json({
    "resourceType": "Appointment",
    "status": "booked",
    "serviceType": [{"text": "Vaccination"}],
    "description": "Measles, second dose",
    "start": "2024-04-02T09:00:00+01:00",
    "end": "2024-04-02T09:15:00.500+01:00",
    "minutesDuration": 15,
    "participant": [
      {"actor": {"reference": "Practitioner/nurse-3"},
       "required": "required", "status": "accepted"}
    ]
  })json");
  doc["participant"].insert(
      doc["participant"].begin(),
      Json{{"actor", {{"reference", Ref("Patient", kPatientId)}}},
           {"status", "accepted"}});
  return doc;
}

inline constexpr char kLocationId[] = "5a7d3c1b-9e2f-4a6b-8c0d-1e2f3a4b5c6d";

inline Json ValidLocation() {
  Json doc = Json::parse(R"json({
    "resourceType": "Location",
    "identifier": [{"system": "urn:posta:facility", "value": "clinic-norte"}],
    "status": "active",
    "name": "Clínica Norte",
    "alias": ["Puesto de Salud Norte"],
    "description": "Health post on the northern road",
    "type": [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
        "code": "HOSP"}]}],
    "telecom": [{"system": "phone", "value": "+51 64 000 000"}],
    "address": {"line": ["Jr. Lima 12"], "city": "Huancayo", "country": "PE"}
  })json");
  doc["id"] = kLocationId;
  doc["partOf"] = {{"reference", Ref("Location", kOtherId)}};
  return doc;
}

// One change to a valid document: `value` is JSON text, or empty to remove
// the field at `pointer`.
struct Edit {
  std::string pointer;
  std::string value;
};

struct BrokenCase {
  std::vector<Edit> edits;
  std::string path;  // the "what" of the expected error
  std::string why;   // a part of the expected "why"
};

inline Json Apply(Json doc, const std::vector<Edit>& edits) {
  for (const Edit& edit : edits) {
    Json op = {{"path", edit.pointer}};
    if (edit.value.empty()) {
      op["op"] = "remove";
    } else {
      op["op"] = "add";
      op["value"] = Json::parse(edit.value);
    }
    doc = doc.patch(Json::array({op}));
  }
  return doc;
}

inline Result<ParsedResource> Parse(ResourceType type, const Json& doc,
                                    std::string_view expected_id = "") {
  return ParseResource(type, doc.dump(), expected_id);
}

// Breaks `valid` as each case says and expects InvalidArgument naming the
// case's path.
inline void ExpectAllRejected(ResourceType type, const Json& valid,
                              const std::vector<BrokenCase>& cases) {
  for (const BrokenCase& c : cases) {
    SCOPED_TRACE(c.path + " <- " + c.edits.front().pointer + " = " +
                 c.edits.front().value);
    Result<ParsedResource> parsed = Parse(type, Apply(valid, c.edits));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(),
                ::testing::StartsWith(c.path + ": "));
    EXPECT_THAT(parsed.status().message(), ::testing::HasSubstr(c.why));
  }
}

// What the store's index lookup does with a range.
inline bool RangeMatches(const KeyRange& range, const SearchKey& key) {
  if (key.param != range.param) return false;
  if (range.exact) return key.value == range.lower;
  return key.value >= range.lower &&
         (range.upper.empty() || key.value < range.upper);
}

inline bool AnyMatches(const KeyRange& range,
                       const std::vector<SearchKey>& keys) {
  for (const SearchKey& key : keys) {
    if (RangeMatches(range, key)) return true;
  }
  return false;
}

}  // namespace posta::storage::internal::testing
