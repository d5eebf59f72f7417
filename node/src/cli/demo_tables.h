// Fixed tables behind DemoGenerator: regions with their names and places,
// diagnoses, and the vital-sign codes. Private to demo_data.cc.
#pragma once

#include <span>
#include <string_view>

namespace posta::node::demo {

struct Region {
  std::string_view country;       // ISO 3166 alpha-2
  std::string_view utc_offset;    // "+07:00", or "Z"
  std::string_view phone_prefix;  // "+84 9"
  int phone_digits;               // digits after the prefix
  bool family_first;              // the family name is written first
  std::span<const std::string_view> male_given;
  std::span<const std::string_view> female_given;
  std::span<const std::string_view> male_middle;  // may be empty
  std::span<const std::string_view> female_middle;
  std::span<const std::string_view> family;
  std::span<const std::string_view> villages;
  std::span<const std::string_view> districts;
};

std::span<const Region> Regions();

struct Diagnosis {
  std::string_view code;  // ICD-10
  std::string_view display;
  int min_age;  // years, inclusive
  int max_age;  // years, inclusive
  bool female_only;
  int weight;  // relative frequency
  bool fever;  // temperature raised
  bool hypertensive;
};

std::span<const Diagnosis> Diagnoses();

inline constexpr std::string_view kIcd10System =
    "http://hl7.org/fhir/sid/icd-10";
inline constexpr std::string_view kLoincSystem = "http://loinc.org";
inline constexpr std::string_view kUcumSystem = "http://unitsofmeasure.org";
inline constexpr std::string_view kActCodeSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ActCode";
inline constexpr std::string_view kObservationCategorySystem =
    "http://terminology.hl7.org/CodeSystem/observation-category";
inline constexpr std::string_view kAppointmentTypeSystem =
    "http://terminology.hl7.org/CodeSystem/v2-0276";
inline constexpr std::string_view kMrnSystem = "urn:posta:mrn";

}  // namespace posta::node::demo
