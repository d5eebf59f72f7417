// DemoGenerator: realistic, deterministic demo records for trying posta,
// for tests and for benchmarks.
//
// Per patient, in dependency order: the Patient (a name from one of several
// regions, an MRN identifier "urn:posta:mrn" / "MRN-000123", gender, birth
// date, phone, village and district), then 0-4 finished ambulatory
// Encounters in the 12 months before `as_of` with an ICD-10 reason, each
// followed by its vital-sign Observations (LOINC: body temperature,
// blood pressure panel, body weight, heart rate), then 0-2 Appointments
// (booked in the future; fulfilled, noshow or cancelled in the past).
// Every resource passes storage::ValidateResource, and every reference
// points to a resource generated before it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "posta/base/status.h"
#include "posta/storage/record.h"

namespace posta::node {

// 2025-06-01T00:00:00Z: the reference instant when none is given.
inline constexpr int64_t kDefaultDemoAsOfMillis = 1748736000000;

struct DemoOptions {
  size_t patients = 100;
  // The same seed and as_of give the same resources, byte for byte, ids
  // included.
  uint64_t seed = 1;
  // Past events fall before this instant, booked appointments after it.
  int64_t as_of_ms = kDefaultDemoAsOfMillis;
};

struct DemoResource {
  storage::ResourceType type = storage::ResourceType::kPatient;
  std::string id;    // a UUID, also the body's "id"
  std::string json;  // the FHIR resource, compact, without a newline
};

// Threading: one thread at a time.
class DemoGenerator {
 public:
  explicit DemoGenerator(const DemoOptions& options);
  ~DemoGenerator();
  DemoGenerator(const DemoGenerator&) = delete;
  DemoGenerator& operator=(const DemoGenerator&) = delete;

  // The next resource, or nullopt after the last patient's last resource.
  std::optional<DemoResource> Next();

  // Patients whose resources have all been returned or queued.
  size_t patients_started() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One Location standing for `facility`: name "Facility <id>", identifier
// kFacilityTagSystem|<id>, status active, and an id derived from the
// facility id alone, so seeding it again on any node names the same record.
// REQUIRES: `facility` is a valid facility id.
DemoResource DemoFacilityLocation(std::string_view facility);

// "2025-06-01" → milliseconds at 00:00 UTC that day. InvalidArgument for
// anything else (or a year outside 1970-2999).
Result<int64_t> ParseDemoDate(std::string_view date);

}  // namespace posta::node
