#include "posta/node/demo_data.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/demo_tables.h"
#include "posta/base/random.h"

namespace posta::node {

namespace {

using Json = nlohmann::ordered_json;
using storage::ResourceType;

constexpr int64_t kMinuteMs = 60 * 1000;
constexpr int64_t kDayMs = 24 * 60 * kMinuteMs;

int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

std::chrono::year_month_day DayOf(int64_t ms) {
  return std::chrono::year_month_day(
      std::chrono::sys_days(std::chrono::days(FloorDiv(ms, kDayMs))));
}

std::string FormatDate(int64_t ms) {
  auto ymd = DayOf(ms);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

int OffsetMinutes(std::string_view offset) {
  if (offset == "Z") return 0;
  int sign = offset[0] == '-' ? -1 : 1;
  int hours = (offset[1] - '0') * 10 + (offset[2] - '0');
  int minutes = (offset[4] - '0') * 10 + (offset[5] - '0');
  return sign * (hours * 60 + minutes);
}

// The instant `utc_ms` as local time at `offset`, e.g.
// "2025-03-04T09:15:00+07:00".
std::string FormatDateTime(int64_t utc_ms, std::string_view offset) {
  int64_t local = utc_ms + OffsetMinutes(offset) * kMinuteMs;
  int64_t in_day = local - FloorDiv(local, kDayMs) * kDayMs;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%sT%02d:%02d:%02d%.*s",
                FormatDate(local).c_str(), static_cast<int>(in_day / 3600000),
                static_cast<int>(in_day / 60000 % 60),
                static_cast<int>(in_day / 1000 % 60),
                static_cast<int>(offset.size()), offset.data());
  return buf;
}

Json Coding(std::string_view system, std::string_view code,
            std::string_view display) {
  return Json{{"system", system}, {"code", code}, {"display", display}};
}

Json Quantity(double value, std::string_view unit, std::string_view code) {
  return Json{{"value", value},
              {"unit", unit},
              {"system", demo::kUcumSystem},
              {"code", code}};
}

struct PatientFacts {
  std::string id;
  std::string display;  // the full name
  const demo::Region* region;
  bool female;
  int age;  // years at as_of
};

}  // namespace

struct DemoGenerator::Impl {
  explicit Impl(const DemoOptions& o)
      : options(o),
        rng(o.seed),
        as_of_day(FloorDiv(o.as_of_ms, kDayMs) * kDayMs) {}

  template <typename T>
  const T& Pick(std::span<const T> items) {
    return items[rng.Uniform(items.size())];
  }
  int Between(int lo, int hi) {  // inclusive
    return lo +
           static_cast<int>(rng.Uniform(static_cast<uint64_t>(hi - lo + 1)));
  }
  int Weighted(std::initializer_list<int> weights) {
    int total = 0;
    for (int w : weights) total += w;
    int roll = Between(0, total - 1);
    int index = 0;
    for (int w : weights) {
      if (roll < w) return index;
      roll -= w;
      ++index;
    }
    return index - 1;
  }
  // A time during clinic hours (08:00-16:59 local) `days` after as_of's day.
  int64_t ClinicTime(int days, const demo::Region& region) {
    const int hour = Between(8, 16);
    const int minute = Between(0, 11) * 5;
    int64_t local_ms =
        as_of_day + days * kDayMs + (hour * 60 + minute) * kMinuteMs;
    return local_ms - OffsetMinutes(region.utc_offset) * kMinuteMs;
  }

  // Ids as posta mints them (time-ordered), as if the register were typed
  // in one record a millisecond from as_of on, in the order generated.
  std::string NewId() {
    return rng.NewTimeOrderedUuid(options.as_of_ms + minted++);
  }

  void Emit(ResourceType type, const std::string& id, const Json& body) {
    queue.push_back(DemoResource{type, id, body.dump()});
  }

  PatientFacts AddPatient(size_t index);
  void AddEncounter(const PatientFacts& p, int days_ago);
  void AddObservation(const PatientFacts& p, const std::string& encounter_id,
                      int64_t when, std::string_view loinc,
                      std::string_view display, Json value_or_components,
                      bool components);
  void AddAppointment(const PatientFacts& p);

  const DemoOptions options;
  base::Random rng;
  const int64_t as_of_day;  // 00:00 UTC of as_of's day
  size_t next_patient = 0;
  int64_t minted = 0;  // ids so far
  std::deque<DemoResource> queue;
};

PatientFacts DemoGenerator::Impl::AddPatient(size_t index) {
  PatientFacts p;
  p.region = &Pick(demo::Regions());
  const demo::Region& r = *p.region;
  int gender = Weighted({49, 49, 2});  // male, female, unknown
  p.female = gender == 1 || (gender == 2 && rng.Uniform(2) == 0);
  int band = Weighted({25, 20, 42, 13});
  p.age = band == 0   ? Between(0, 4)
          : band == 1 ? Between(5, 17)
          : band == 2 ? Between(18, 59)
                      : Between(60, 89);
  int64_t birth =
      as_of_day -
      (static_cast<int64_t>(p.age) * 365 + Between(1, 364)) * kDayMs;

  const std::string_view given = Pick(p.female ? r.female_given : r.male_given);
  const std::string_view family = Pick(r.family);
  Json given_names = Json::array();
  std::string display;
  auto middles = p.female ? r.female_middle : r.male_middle;
  if (!middles.empty()) {
    std::string_view middle = Pick(middles);
    given_names.push_back(middle);
    given_names.push_back(given);
    display = std::string(family) + " " + std::string(middle) + " " +
              std::string(given);
  } else {
    given_names.push_back(given);
    display = r.family_first ? std::string(family) + " " + std::string(given)
                             : std::string(given) + " " + std::string(family);
  }
  p.display = display;
  p.id = NewId();

  char mrn[32];
  std::snprintf(mrn, sizeof mrn, "MRN-%06zu", index + 1);
  Json patient{{"resourceType", "Patient"},
               {"id", p.id},
               {"identifier", Json::array({Json{{"use", "usual"},
                                                {"system", demo::kMrnSystem},
                                                {"value", mrn}}})},
               {"active", true},
               {"name", Json::array({Json{{"use", "official"},
                                          {"text", display},
                                          {"family", family},
                                          {"given", given_names}}})}};
  if (rng.Uniform(100) < 80) {
    std::string phone(r.phone_prefix);
    for (int i = 0; i < r.phone_digits; ++i) {
      phone.push_back(static_cast<char>('0' + rng.Uniform(10)));
    }
    patient["telecom"] = Json::array(
        {Json{{"system", "phone"}, {"value", phone}, {"use", "mobile"}}});
  }
  patient["gender"] = gender == 0 ? "male" : gender == 1 ? "female" : "unknown";
  patient["birthDate"] = FormatDate(birth);
  patient["address"] = Json::array({Json{{"use", "home"},
                                         {"type", "physical"},
                                         {"city", Pick(r.villages)},
                                         {"district", Pick(r.districts)},
                                         {"country", r.country}}});
  Emit(ResourceType::kPatient, p.id, patient);
  return p;
}

void DemoGenerator::Impl::AddObservation(const PatientFacts& p,
                                         const std::string& encounter_id,
                                         int64_t when, std::string_view loinc,
                                         std::string_view display, Json value,
                                         bool components) {
  std::string id = NewId();
  Json obs{
      {"resourceType", "Observation"},
      {"id", id},
      {"status", "final"},
      {"category",
       Json::array({Json{
           {"coding", Json::array({Coding(demo::kObservationCategorySystem,
                                          "vital-signs", "Vital Signs")})}}})},
      {"code", Json{{"coding",
                     Json::array({Coding(demo::kLoincSystem, loinc, display)})},
                    {"text", display}}},
      {"subject",
       Json{{"reference", "Patient/" + p.id}, {"display", p.display}}},
      {"encounter", Json{{"reference", "Encounter/" + encounter_id}}},
      {"effectiveDateTime", FormatDateTime(when, p.region->utc_offset)}};
  obs[components ? "component" : "valueQuantity"] = std::move(value);
  Emit(ResourceType::kObservation, id, obs);
}

void DemoGenerator::Impl::AddEncounter(const PatientFacts& p, int days_ago) {
  // A diagnosis that fits the patient's age and sex, by frequency.
  std::vector<const demo::Diagnosis*> fitting;
  int total = 0;
  for (const demo::Diagnosis& d : demo::Diagnoses()) {
    if (p.age < d.min_age || p.age > d.max_age ||
        (d.female_only && !p.female)) {
      continue;
    }
    fitting.push_back(&d);
    total += d.weight;
  }
  int roll = Between(0, total - 1);
  const demo::Diagnosis* dx = fitting.back();
  for (const demo::Diagnosis* d : fitting) {
    if (roll < d->weight) {
      dx = d;
      break;
    }
    roll -= d->weight;
  }

  const std::string_view offset = p.region->utc_offset;
  const int64_t start = ClinicTime(-days_ago, *p.region);
  const int64_t end = start + Between(10, 45) * kMinuteMs;
  const std::string id = NewId();
  Json encounter{
      {"resourceType", "Encounter"},
      {"id", id},
      {"status", "finished"},
      {"class", Coding(demo::kActCodeSystem, "AMB", "ambulatory")},
      {"subject",
       Json{{"reference", "Patient/" + p.id}, {"display", p.display}}},
      {"period", Json{{"start", FormatDateTime(start, offset)},
                      {"end", FormatDateTime(end, offset)}}},
      {"reasonCode",
       Json::array({Json{
           {"coding",
            Json::array({Coding(demo::kIcd10System, dx->code, dx->display)})},
           {"text", dx->display}}})}};
  Emit(ResourceType::kEncounter, id, encounter);

  const int64_t measured = start + Between(2, 8) * kMinuteMs;
  int tenths = dx->fever ? Between(380, 402) : Between(362, 374);
  AddObservation(p, id, measured, "8310-5", "Body temperature",
                 Quantity(tenths / 10.0, "°C", "Cel"), false);

  // Rough weight for age (kg, one decimal).
  int kg10 = p.age == 0  ? Between(35, 95)
             : p.age < 5 ? Between(95, 180)
             : p.age < 12
                 ? Between(180 + (p.age - 5) * 25, 230 + (p.age - 5) * 35)
             : p.age < 18 ? Between(350, 650)
                          : Between(480, 920);
  AddObservation(p, id, measured, "29463-7", "Body weight",
                 Quantity(kg10 / 10.0, "kg", "kg"), false);

  if (p.age >= 18 || dx->hypertensive) {
    bool high = dx->hypertensive || rng.Uniform(100) < 10;
    int systolic = high ? Between(140, 182) : Between(104, 136);
    int diastolic = high ? Between(90, 112) : Between(62, 86);
    Json components = Json::array(
        {Json{{"code", Json{{"coding", Json::array({Coding(
                                           demo::kLoincSystem, "8480-6",
                                           "Systolic blood pressure")})}}},
              {"valueQuantity", Quantity(systolic, "mmHg", "mm[Hg]")}},
         Json{{"code", Json{{"coding", Json::array({Coding(
                                           demo::kLoincSystem, "8462-4",
                                           "Diastolic blood pressure")})}}},
              {"valueQuantity", Quantity(diastolic, "mmHg", "mm[Hg]")}}});
    AddObservation(p, id, measured, "85354-9", "Blood pressure panel",
                   std::move(components), true);
  }
  if (rng.Uniform(100) < 70) {
    int bpm = p.age < 1    ? Between(100, 160)
              : p.age < 12 ? Between(75, 120)
                           : Between(58, 98);
    if (dx->fever) bpm += 12;
    AddObservation(p, id, measured, "8867-4", "Heart rate",
                   Quantity(bpm, "beats/minute", "/min"), false);
  }
}

void DemoGenerator::Impl::AddAppointment(const PatientFacts& p) {
  const std::string_view offset = p.region->utc_offset;
  const bool future = rng.Uniform(100) < 40;
  const int days = future ? Between(1, 60) : -Between(1, 180);
  const int64_t start = ClinicTime(days, *p.region);
  const int minutes = Weighted({2, 5, 3}) * 10 + 10;  // 10, 20 or 30
  std::string status = "booked";
  if (!future) {
    int outcome = Weighted({70, 20, 10});
    status = outcome == 0 ? "fulfilled" : outcome == 1 ? "noshow" : "cancelled";
  }
  // Booked some days ahead, never after as_of.
  const int64_t lead = Between(1, 30) * kDayMs;
  const int64_t before_as_of = Between(0, 3) * kDayMs;
  int64_t created = std::min(start - lead, as_of_day - before_as_of);
  static constexpr std::string_view kTypes[][3] = {
      {"FOLLOWUP", "A follow up visit from a previous appointment",
       "Follow-up visit"},
      {"ROUTINE", "Routine appointment - default if not valued",
       "Routine consultation"},
      {"CHECKUP", "A routine check-up, such as an annual physical", "Check-up"},
  };
  const auto& type = kTypes[Weighted({5, 3, 2})];
  const std::string id = NewId();
  Json appt{{"resourceType", "Appointment"},
            {"id", id},
            {"status", status},
            {"appointmentType",
             Json{{"coding", Json::array({Coding(demo::kAppointmentTypeSystem,
                                                 type[0], type[1])})}}},
            {"description", type[2]},
            {"start", FormatDateTime(start, offset)},
            {"end", FormatDateTime(start + minutes * kMinuteMs, offset)},
            {"minutesDuration", minutes},
            {"created", FormatDateTime(created, offset)}};
  if (status == "cancelled") {
    static constexpr std::string_view kReasons[] = {
        "Patient travelled", "Patient unwell, could not come",
        "Clinic closed (staff training)", "Road flooded"};
    appt["cancelationReason"] =
        Json{{"text", Pick(std::span<const std::string_view>(kReasons))}};
  }
  appt["participant"] = Json::array({Json{
      {"actor", Json{{"reference", "Patient/" + p.id}, {"display", p.display}}},
      {"required", "required"},
      {"status", status == "cancelled" ? "declined" : "accepted"}}});
  Emit(ResourceType::kAppointment, id, appt);
}

DemoGenerator::DemoGenerator(const DemoOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}

DemoGenerator::~DemoGenerator() = default;

std::optional<DemoResource> DemoGenerator::Next() {
  Impl& g = *impl_;
  if (g.queue.empty() && g.next_patient < g.options.patients) {
    PatientFacts p = g.AddPatient(g.next_patient++);
    int encounters = g.Weighted({20, 30, 25, 15, 10});
    std::vector<int> days_ago;
    for (int i = 0; i < encounters; ++i) days_ago.push_back(g.Between(1, 365));
    std::sort(days_ago.rbegin(), days_ago.rend());  // oldest first
    for (int d : days_ago) g.AddEncounter(p, d);
    int appointments = g.Weighted({40, 40, 20});
    for (int i = 0; i < appointments; ++i) g.AddAppointment(p);
  }
  if (g.queue.empty()) return std::nullopt;
  DemoResource out = std::move(g.queue.front());
  g.queue.pop_front();
  return out;
}

size_t DemoGenerator::patients_started() const { return impl_->next_patient; }

DemoResource DemoFacilityLocation(std::string_view facility) {
  // FNV-1a of the facility id seeds the id, so every node derives the same.
  uint64_t seed = 14695981039346656037ull;
  for (char c : facility) {
    seed = (seed ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  base::Random rng(seed);
  DemoResource out;
  out.type = storage::ResourceType::kLocation;
  out.id = rng.NewUuid();
  const std::string code(facility);
  nlohmann::json location = {
      {"resourceType", "Location"},
      {"id", out.id},
      {"identifier",
       nlohmann::json::array(
           {{{"system", std::string(storage::kFacilityTagSystem)},
             {"value", code}}})},
      {"status", "active"},
      {"name", "Facility " + code},
      {"type", nlohmann::json::array(
                   {{{"coding",
                      nlohmann::json::array(
                          {{{"system",
                             "http://terminology.hl7.org/CodeSystem/"
                             "v3-RoleCode"},
                            {"code", "HOSP"}}})}}})}};
  out.json = location.dump();
  return out;
}

Result<int64_t> ParseDemoDate(std::string_view date) {
  const std::string what(date);
  unsigned y = 0, m = 0, d = 0;
  char tail = 0;
  if (date.size() != 10 || date[4] != '-' || date[7] != '-' ||
      std::sscanf(what.c_str(), "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3) {
    return Status::InvalidArgument(what, "expected a date YYYY-MM-DD");
  }
  std::chrono::year_month_day ymd{std::chrono::year(static_cast<int>(y)),
                                  std::chrono::month(m), std::chrono::day(d)};
  if (!ymd.ok() || y < 1970 || y > 2999) {
    return Status::InvalidArgument(what,
                                   "not a calendar date from 1970 to 2999");
  }
  return static_cast<int64_t>(
             std::chrono::sys_days(ymd).time_since_epoch().count()) *
         kDayMs;
}

}  // namespace posta::node
