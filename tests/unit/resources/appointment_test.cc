#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "resource_fixtures.h"
#include "test_util.h"

namespace posta::storage::internal::testing {
namespace {

using ::testing::UnorderedElementsAre;

constexpr ResourceType kAppointment = ResourceType::kAppointment;

TEST(AppointmentTest, AcceptsTheFullExample) {
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed,
                       Parse(kAppointment, ValidAppointment()));
  ASSERT_EQ(parsed.references.size(), 1u);
  EXPECT_EQ(parsed.references[0].path, "Appointment.participant[0].actor");
  EXPECT_EQ(parsed.references[0].type, ResourceType::kPatient);
  EXPECT_EQ(parsed.references[0].id, kPatientId);
  EXPECT_THAT(
      parsed.search_keys,
      UnorderedElementsAre(SearchKey{"date", "2024-04-02T08:00:00"},
                           SearchKey{"status", "booked"},
                           SearchKey{"patient", kPatientId}));
}

TEST(AppointmentTest, EveryPatientParticipantIsAKey) {
  Json doc =
      Apply(ValidAppointment(),
            {{"/participant/-", "{\"actor\": {\"reference\": \"Patient/" +
                                    std::string(kOtherId) +
                                    "\"}, \"status\": \"needs-action\"}"}});
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed, Parse(kAppointment, doc));
  EXPECT_EQ(parsed.references.size(), 2u);
  EXPECT_THAT(parsed.search_keys, ::testing::Contains(SearchKey{
                                      "patient", kOtherId}));
}

TEST(AppointmentTest, AcceptsVariants) {
  const std::vector<std::vector<Edit>> variants = {
      {{"/status", R"("proposed")"}, {"/start", ""}, {"/end", ""}},
      {{"/status", R"("waitlist")"}, {"/start", ""}, {"/end", ""}},
      {{"/status", R"("cancelled")"},
       {"/cancelationReason", R"({"text": "Patient travelling"})"},
       {"/start", ""},
       {"/end", ""}},
      {{"/status", R"("cancelled")"}},
      {{"/end", R"("2024-04-02T09:00:00+01:00")"}},  // end == start
      {{"/participant/1/actor", ""},
       {"/participant/1/type", R"([{"text": "nurse"}])"}},
      {{"/participant/1/actor", R"({"display": "Dr. Okoro"})"}},
      {{"/priority", "0"}},
      {{"/comment", R"("Bring the vaccination card")"}},
      {{"/created", R"("2024-03-20")"}},
  };
  for (const std::vector<Edit>& edits : variants) {
    SCOPED_TRACE(edits.front().pointer + " = " + edits.front().value);
    EXPECT_OK(Parse(kAppointment, Apply(ValidAppointment(), edits)));
  }
}

TEST(AppointmentTest, RejectsEachBrokenRule) {
  ExpectAllRejected(
      kAppointment, ValidAppointment(),
      {
          {{{"/status", ""}}, "Appointment.status", "required"},
          {{{"/status", R"("scheduled")"}},
           "Appointment.status",
           "\"scheduled\" is not one of proposed, pending, booked, arrived, "
           "fulfilled, cancelled, noshow, entered-in-error, checked-in, "
           "waitlist"},
          {{{"/participant", ""}}, "Appointment.participant", "required"},
          {{{"/participant", "[]"}},
           "Appointment.participant",
           "must not be empty"},
          {{{"/participant/0/status", ""}},
           "Appointment.participant[0].status",
           "required"},
          {{{"/participant/0/status", R"("maybe")"}},
           "Appointment.participant[0].status",
           "is not one of accepted, declined, tentative, needs-action"},
          {{{"/participant/0", R"({"status": "accepted"})"}},
           "Appointment.participant[0]",
           "needs a type or an actor"},
          {{{"/participant/0/actor/reference", R"("Patient/x")"}},
           "Appointment.participant[0].actor.reference",
           "is not a UUID"},
          {{{"/participant/0/actor/reference", R"("Organization/o1")"}},
           "Appointment.participant[0].actor.reference",
           "a reference to \"Organization\" is not allowed here"},
          {{{"/participant/1/required", R"("mandatory")"}},
           "Appointment.participant[1].required",
           "is not one of required, optional, information-only"},
          {{{"/end", ""}},
           "Appointment.end",
           "required unless status is proposed, cancelled or waitlist"},
          {{{"/start", ""}, {"/end", ""}},
           "Appointment.start",
           "required unless status is proposed, cancelled or waitlist"},
          {{{"/status", R"("proposed")"}, {"/end", ""}},
           "Appointment.end",
           "required when start is given"},
          {{{"/status", R"("proposed")"}, {"/start", ""}},
           "Appointment.start",
           "required when end is given"},
          {{{"/end", R"("2024-04-02T08:59:59+01:00")"}},
           "Appointment.end",
           "before start"},
          {{{"/start", R"("2024-04-02")"}},
           "Appointment.start",
           "not an ISO instant (YYYY-MM-DDThh:mm:ss[.fff] with Z or ±hh:mm)"},
          {{{"/start", R"("2024-04-02T09:00:00")"}},
           "Appointment.start",
           "not an ISO instant"},
          {{{"/end", R"("2024-04-31T09:00:00Z")"}},
           "Appointment.end",
           "not a calendar date"},
          {{{"/minutesDuration", "0"}},
           "Appointment.minutesDuration",
           "must be at least 1"},
          {{{"/minutesDuration", R"("15")"}},
           "Appointment.minutesDuration",
           "expected an integer"},
          {{{"/priority", "-1"}},
           "Appointment.priority",
           "must not be negative"},
          {{{"/description", "7"}},
           "Appointment.description",
           "expected a string"},
          {{{"/reasonCode", R"([{"coding": [{"code": "x  y"}]}])"}},
           "Appointment.reasonCode[0].coding[0].code",
           "not a code"},
          {{{"/serviceType/0", R"({"text": 1})"}},
           "Appointment.serviceType[0].text",
           "expected a string"},
          {{{"/slot", "[]"}}, "Appointment.slot", "unknown field"},
      });
}

}  // namespace
}  // namespace posta::storage::internal::testing
