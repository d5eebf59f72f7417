#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "resources/fhir_types.h"
#include "resources/search_keys.h"

namespace posta::storage::internal {
namespace {

Status CheckParticipant(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"type", ArrayOf(CheckCodeableConcept)},
      {"actor",
       ReferenceTo({"Patient", "Practitioner", "PractitionerRole",
                    "RelatedPerson", "Device", "HealthcareService",
                    "Location"})},
      {"required", CodeIn({"required", "optional", "information-only"})},
      {"status", CodeIn({"accepted", "declined", "tentative", "needs-action"}),
       true},
      {"period", CheckPeriod}};
  POSTA_RETURN_IF_ERROR(CheckElement(value, path, kRules));
  if (FindField(value, "type") == nullptr &&
      FindField(value, "actor") == nullptr) {
    return Invalid(path, "needs a type or an actor");
  }
  return Status::Ok();
}

Status CheckAppointmentFields(const Json& body, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"identifier", ArrayOf(CheckIdentifier)},
      {"status",
       CodeIn({"proposed", "pending", "booked", "arrived", "fulfilled",
               "cancelled", "noshow", "entered-in-error", "checked-in",
               "waitlist"}),
       true},
      {"cancelationReason", CheckCodeableConcept},
      {"serviceCategory", ArrayOf(CheckCodeableConcept)},
      {"serviceType", ArrayOf(CheckCodeableConcept)},
      {"specialty", ArrayOf(CheckCodeableConcept)},
      {"appointmentType", CheckCodeableConcept},
      {"reasonCode", ArrayOf(CheckCodeableConcept)},
      {"priority", CheckUnsignedInt},
      {"description", CheckString},
      {"start", CheckInstant},
      {"end", CheckInstant},
      {"minutesDuration", CheckPositiveInt},
      {"created", CheckDateTime},
      {"comment", CheckString},
      {"patientInstruction", CheckString},
      {"participant", ArrayOf(CheckParticipant), true}};
  return CheckResourceBody(body, path, kRules);
}

// FHIR's app-2 and app-3: start and end come together, and only proposed,
// cancelled and waitlisted appointments may have neither.
Status CheckTimes(const Json& body, const Path& path) {
  const bool has_start = FindField(body, "start") != nullptr;
  const bool has_end = FindField(body, "end") != nullptr;
  const std::string status = StringField(body, "status");
  const bool unscheduled =
      status == "proposed" || status == "cancelled" || status == "waitlist";
  const Path missing = path.Field(has_start ? "end" : "start");
  if (!unscheduled && !(has_start && has_end)) {
    return Invalid(missing,
                   "required unless status is proposed, cancelled or waitlist");
  }
  if (has_start != has_end) {
    return Invalid(missing, has_start ? "required when start is given"
                                      : "required when end is given");
  }
  return CheckNotBefore(body, path, "start", "end");
}

}  // namespace

Status CheckAppointment(const Json& body, Refs& refs) {
  const Path path("Appointment", refs);
  POSTA_RETURN_IF_ERROR(CheckAppointmentFields(body, path));
  return CheckTimes(body, path);
}

std::vector<SearchKey> AppointmentSearchKeys(const Json& body) {
  SearchKeyList keys;
  keys.AddDate("date", FindField(body, "start"), DateKind::kInstant);
  keys.AddCode("status", FindField(body, "status"));
  if (const Json* participants = FindField(body, "participant")) {
    for (const Json& participant : *participants) {
      keys.AddReference("patient", FindField(participant, "actor"),
                        "Patient");
    }
  }
  return std::move(keys).Take();
}

}  // namespace posta::storage::internal
