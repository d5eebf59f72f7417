#include "report_facts.h"

#include <array>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "posta/storage/replication.h"

namespace posta::storage {
namespace {

struct Chapter {
  std::string_view numeral;
  std::string_view first;  // first three characters of the range
  std::string_view last;
  std::string_view title;
};

// ICD-10 (WHO, 2019) chapters by code range.
constexpr std::array<Chapter, 22> kChapters = {{
    {"I", "A00", "B99", "Certain infectious and parasitic diseases"},
    {"II", "C00", "D48", "Neoplasms"},
    {"III", "D50", "D89", "Diseases of the blood and immune mechanism"},
    {"IV", "E00", "E90", "Endocrine, nutritional and metabolic diseases"},
    {"V", "F00", "F99", "Mental and behavioural disorders"},
    {"VI", "G00", "G99", "Diseases of the nervous system"},
    {"VII", "H00", "H59", "Diseases of the eye and adnexa"},
    {"VIII", "H60", "H95", "Diseases of the ear and mastoid process"},
    {"IX", "I00", "I99", "Diseases of the circulatory system"},
    {"X", "J00", "J99", "Diseases of the respiratory system"},
    {"XI", "K00", "K93", "Diseases of the digestive system"},
    {"XII", "L00", "L99", "Diseases of the skin and subcutaneous tissue"},
    {"XIII", "M00", "M99", "Diseases of the musculoskeletal system"},
    {"XIV", "N00", "N99", "Diseases of the genitourinary system"},
    {"XV", "O00", "O99", "Pregnancy, childbirth and the puerperium"},
    {"XVI", "P00", "P96", "Conditions originating in the perinatal period"},
    {"XVII", "Q00", "Q99", "Congenital malformations"},
    {"XVIII", "R00", "R99", "Symptoms, signs and abnormal findings"},
    {"XIX", "S00", "T98", "Injury, poisoning and external causes"},
    {"XX", "V01", "Y98", "External causes of morbidity and mortality"},
    {"XXI", "Z00", "Z99", "Factors influencing health status"},
    {"XXII", "U00", "U85", "Codes for special purposes"},
}};

constexpr std::string_view kUncoded = "uncoded";

// Days since 1970-01-01 of a "YYYY-MM-DD..." prefix; nullopt when it is
// not a valid date.
std::optional<std::chrono::sys_days> ParseDay(std::string_view text) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
  }
  auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  std::chrono::year_month_day ymd{
      std::chrono::year{num(0, 4)},
      std::chrono::month{static_cast<unsigned>(num(5, 2))},
      std::chrono::day{static_cast<unsigned>(num(8, 2))}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days{ymd};
}

std::string FormatDay(std::chrono::sys_days day) {
  std::chrono::year_month_day ymd{day};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

}  // namespace

std::string Icd10Chapter(std::string_view code) {
  // "J06.9", "j069": a letter and two digits decide the chapter.
  if (code.size() < 3) return std::string(kUncoded);
  std::string head;
  head.push_back(
      static_cast<char>(std::toupper(static_cast<unsigned char>(code[0]))));
  if (head[0] < 'A' || head[0] > 'Z') return std::string(kUncoded);
  for (size_t i = 1; i < 3; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(code[i]))) {
      return std::string(kUncoded);
    }
    head.push_back(code[i]);
  }
  for (const Chapter& c : kChapters) {
    if (head >= c.first && head <= c.last) return std::string(c.numeral);
  }
  return std::string(kUncoded);
}

std::string_view Icd10ChapterTitle(std::string_view chapter) {
  if (chapter == kUncoded) return "No ICD-10 code";
  for (const Chapter& c : kChapters) {
    if (c.numeral == chapter) return c.title;
  }
  return {};
}

const std::vector<std::string>& Icd10Chapters() {
  static const std::vector<std::string> chapters = [] {
    std::vector<std::string> out;
    for (const Chapter& c : kChapters) out.emplace_back(c.numeral);
    out.emplace_back(kUncoded);
    return out;
  }();
  return chapters;
}

size_t Icd10ChapterIndex(std::string_view chapter) {
  static const std::unordered_map<std::string_view, size_t> index = [] {
    std::unordered_map<std::string_view, size_t> out;
    const std::vector<std::string>& chapters = Icd10Chapters();
    for (size_t i = 0; i < chapters.size(); ++i) out[chapters[i]] = i;
    return out;
  }();
  auto it = index.find(chapter);
  return it == index.end() ? Icd10Chapters().size() : it->second;
}

Result<std::string> PeriodStart(ReportPeriod period, std::string_view day,
                                std::string_view what) {
  std::optional<std::chrono::sys_days> d = ParseDay(day);
  if (!d || day.size() != 10) {
    return Status::InvalidArgument(std::string(what),
                                   "'" + std::string(day.substr(0, 32)) +
                                       "' is not a date; give YYYY-MM-DD");
  }
  if (period == ReportPeriod::kMonth) {
    std::chrono::year_month_day ymd{*d};
    return FormatDay(
        std::chrono::sys_days{ymd.year() / ymd.month() / std::chrono::day{1}});
  }
  // ISO weeks start on Monday.
  const std::chrono::weekday wd{*d};
  const unsigned since_monday = (wd.c_encoding() + 6) % 7;
  return FormatDay(*d - std::chrono::days{since_monday});
}

namespace internal {
namespace {

using Json = nlohmann::json;

std::string DayOf(int64_t ms) { return FormatInstant(ms).substr(0, 10); }

// The date part of a FHIR date/dateTime/instant field, when it has one.
std::optional<std::string> DateField(const Json& value) {
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  if (!ParseDay(text)) return std::nullopt;
  return text.substr(0, 10);
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool ContainsNoCase(std::string_view text, std::string_view part) {
  if (part.size() > text.size()) return false;
  for (size_t i = 0; i + part.size() <= text.size(); ++i) {
    if (EqualsNoCase(text.substr(i, part.size()), part)) return true;
  }
  return false;
}

// Whether a CodeableConcept has a LOINC coding with `code`.
bool HasLoinc(const Json& codeable, std::string_view code) {
  if (!codeable.is_object()) return false;
  auto codings = codeable.find("coding");
  if (codings == codeable.end() || !codings->is_array()) return false;
  for (const Json& c : *codings) {
    if (!c.is_object()) continue;
    auto system = c.find("system");
    auto value = c.find("code");
    if (system != c.end() && system->is_string() &&
        system->get_ref<const std::string&>() == "http://loinc.org" &&
        value != c.end() && value->is_string() &&
        value->get_ref<const std::string&>() == code) {
      return true;
    }
  }
  return false;
}

// A Quantity's value, in °C when `celsius` (a [degF] quantity converted).
std::optional<double> QuantityValue(const Json& holder, bool celsius) {
  auto q = holder.find("valueQuantity");
  if (q == holder.end() || !q->is_object()) return std::nullopt;
  auto value = q->find("value");
  if (value == q->end() || !value->is_number()) return std::nullopt;
  double v = value->get<double>();
  if (celsius) {
    std::string unit;
    for (const char* key : {"code", "unit"}) {
      auto u = q->find(key);
      if (u != q->end() && u->is_string()) {
        unit = u->get<std::string>();
        break;
      }
    }
    if (unit == "[degF]" || unit == "°F" || unit == "degF") {
      v = (v - 32.0) * 5.0 / 9.0;
    }
  }
  return v;
}

std::string StatusOf(const Json& content) {
  auto status = content.find("status");
  if (status == content.end() || !status->is_string()) return {};
  return status->get<std::string>();
}

// The chapter of an Encounter: its first reasonCode coding of an ICD-10
// system. (Encounter.diagnosis names a Condition, which posta does not
// store, so it carries no code to read here.)
std::string EncounterChapter(const Json& content) {
  auto reasons = content.find("reasonCode");
  if (reasons == content.end() || !reasons->is_array()) {
    return std::string(kUncoded);
  }
  for (const Json& reason : *reasons) {
    if (!reason.is_object()) continue;
    auto codings = reason.find("coding");
    if (codings == reason.end() || !codings->is_array()) continue;
    for (const Json& c : *codings) {
      if (!c.is_object()) continue;
      auto system = c.find("system");
      auto code = c.find("code");
      if (system == c.end() || !system->is_string() || code == c.end() ||
          !code->is_string()) {
        continue;
      }
      if (!ContainsNoCase(system->get_ref<const std::string&>(), "icd-10") &&
          !ContainsNoCase(system->get_ref<const std::string&>(), "icd10")) {
        continue;
      }
      std::string chapter = Icd10Chapter(code->get_ref<const std::string&>());
      if (chapter != kUncoded) return chapter;
    }
  }
  return std::string(kUncoded);
}

}  // namespace

std::optional<ReportFact> FactOf(ResourceType type, std::string_view content,
                                 int64_t created_ms) {
  std::optional<ReportFact> fact = ContentFactOf(type, content);
  if (fact && fact->day.empty()) fact->day = DayOf(created_ms);
  return fact;
}

std::optional<ReportFact> ContentFactOf(ResourceType type,
                                        std::string_view content) {
  Json json = Json::parse(content, nullptr, false);
  if (json.is_discarded()) return std::nullopt;
  return DocumentFactOf(type, json);
}

std::optional<ReportFact> DocumentFactOf(ResourceType type, const Json& json) {
  if (!json.is_object()) return std::nullopt;
  const std::string status = StatusOf(json);
  if (status == "entered-in-error") return std::nullopt;
  ReportFact fact;
  switch (type) {
    case ResourceType::kPatient:
      // Dated by its creation here (FactOf).
      fact.metrics.emplace_back(kMetricPatients);
      return fact;
    case ResourceType::kEncounter: {
      if (status == "cancelled") return std::nullopt;
      std::optional<std::string> day;
      if (auto period = json.find("period");
          period != json.end() && period->is_object()) {
        if (auto start = period->find("start"); start != period->end()) {
          day = DateField(*start);
        }
      }
      if (day) fact.day = *day;
      fact.metrics.emplace_back(kMetricEncounters);
      fact.metrics.push_back(std::string(kMetricChapterPrefix) +
                             EncounterChapter(json));
      return fact;
    }
    case ResourceType::kObservation: {
      if (status == "cancelled") return std::nullopt;
      const Json code = json.contains("code") ? json["code"] : Json::object();
      std::optional<double> temperature;
      std::optional<double> systolic;
      if (HasLoinc(code, "8310-5")) temperature = QuantityValue(json, true);
      if (HasLoinc(code, "8480-6")) systolic = QuantityValue(json, false);
      if (auto components = json.find("component");
          components != json.end() && components->is_array()) {
        for (const Json& c : *components) {
          if (!c.is_object() || !c.contains("code")) continue;
          if (!systolic && HasLoinc(c["code"], "8480-6")) {
            systolic = QuantityValue(c, false);
          }
          if (!temperature && HasLoinc(c["code"], "8310-5")) {
            temperature = QuantityValue(c, true);
          }
        }
      }
      if (temperature && *temperature >= kFeverCelsius) {
        fact.metrics.emplace_back(kMetricFever);
      }
      if (systolic && *systolic >= kHighSystolicMmHg) {
        fact.metrics.emplace_back(kMetricHighSystolic);
      }
      if (fact.metrics.empty()) return std::nullopt;
      std::optional<std::string> day;
      for (const char* key : {"effectiveDateTime", "effectiveInstant"}) {
        if (auto v = json.find(key); !day && v != json.end()) {
          day = DateField(*v);
        }
      }
      if (auto period = json.find("effectivePeriod");
          !day && period != json.end() && period->is_object()) {
        if (auto start = period->find("start"); start != period->end()) {
          day = DateField(*start);
        }
      }
      if (day) fact.day = *day;
      return fact;
    }
    case ResourceType::kAppointment: {
      std::optional<std::string> day;
      if (auto start = json.find("start"); start != json.end()) {
        day = DateField(*start);
      }
      if (day) fact.day = *day;
      fact.metrics.emplace_back(kMetricAppointments);
      if (status == "fulfilled" || status == "arrived" ||
          status == "checked-in") {
        fact.metrics.emplace_back(kMetricKept);
      } else if (status == "noshow") {
        fact.metrics.emplace_back(kMetricMissed);
      } else if (status == "cancelled") {
        fact.metrics.emplace_back(kMetricCancelled);
      }
      return fact;
    }
    case ResourceType::kLocation:
      return std::nullopt;
  }
  return std::nullopt;
}

std::string NextPeriodStart(ReportPeriod period,
                            std::string_view period_start) {
  std::chrono::sys_days day = *ParseDay(period_start);
  if (period == ReportPeriod::kWeek)
    return FormatDay(day + std::chrono::days{7});
  std::chrono::year_month_day ymd{day};
  std::chrono::year_month next =
      ymd.year() / ymd.month() + std::chrono::months{1};
  return FormatDay(std::chrono::sys_days{next / std::chrono::day{1}});
}

Result<int64_t> DaysBetween(std::string_view from, std::string_view to) {
  std::optional<std::chrono::sys_days> a = ParseDay(from);
  if (!a || from.size() != 10) {
    return Status::InvalidArgument("from",
                                   "'" + std::string(from.substr(0, 32)) +
                                       "' is not a date; give YYYY-MM-DD");
  }
  std::optional<std::chrono::sys_days> b = ParseDay(to);
  if (!b || to.size() != 10) {
    return Status::InvalidArgument("to",
                                   "'" + std::string(to.substr(0, 32)) +
                                       "' is not a date; give YYYY-MM-DD");
  }
  return static_cast<int64_t>((*b - *a).count());
}

std::string PeriodKey(ReportPeriod period, std::string_view period_start) {
  return (period == ReportPeriod::kWeek ? "W" : "M") +
         std::string(period_start);
}

namespace {

std::string JoinMetrics(const std::vector<std::string>& metrics) {
  std::string out;
  for (const std::string& m : metrics) {
    if (!out.empty()) out.push_back(',');
    out += m;
  }
  return out;
}

std::vector<std::string> SplitMetrics(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    out.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

Status InsertFact(Connection& conn, ReportCounts& counts, int64_t rid,
                  const std::string& facility, int64_t created_ms,
                  const ReportFact& fact) {
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      conn.Prepare("INSERT INTO report_facts (rid, facility, day, created_ms, "
                   "metrics) VALUES (?1, ?2, ?3, ?4, ?5)"));
  st.BindInt(1, rid);
  st.BindText(2, facility);
  st.BindText(3, fact.day);
  st.BindInt(4, created_ms);
  st.BindText(5, JoinMetrics(fact.metrics));
  POSTA_RETURN_IF_ERROR(st.Run());
  return counts.Add(facility, fact, +1);
}

}  // namespace

Status ReportCounts::Add(const std::string& facility, const ReportFact& fact,
                         int64_t delta) {
  for (ReportPeriod period : {ReportPeriod::kWeek, ReportPeriod::kMonth}) {
    Result<std::string> start = PeriodStart(period, fact.day, "report day");
    if (!start.ok()) {
      return Status::Corruption("report_facts", start.status().message());
    }
    std::string key = PeriodKey(period, *start);
    for (const std::string& metric : fact.metrics) {
      deltas_.push_back(Delta{facility, key, metric, delta});
    }
  }
  return Status::Ok();
}

Status ReportCounts::Flush(Connection& conn) {
  if (deltas_.empty()) return Status::Ok();
  std::sort(deltas_.begin(), deltas_.end(),
            [](const Delta& a, const Delta& b) { return a.Row() < b.Row(); });
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      conn.Prepare("INSERT INTO report_counts (facility, period, metric, n) "
                   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (facility, period, "
                   "metric) DO UPDATE SET n = n + excluded.n"));
  for (size_t i = 0; i < deltas_.size();) {
    const Delta& row = deltas_[i];
    int64_t sum = 0;
    size_t j = i;
    for (; j < deltas_.size() && deltas_[j].Row() == row.Row(); ++j) {
      sum += deltas_[j].n;
    }
    if (sum != 0) {
      st.BindText(1, row.facility);
      st.BindText(2, row.period);
      st.BindText(3, row.metric);
      st.BindInt(4, sum);
      if (Status s = st.Run(); !s.ok()) {
        deltas_.clear();
        return s;
      }
      st.Reset();
    }
    i = j;
  }
  deltas_.clear();
  return Status::Ok();
}

Status UpdateReportFacts(Connection& conn, ReportCounts& counts, int64_t rid,
                         bool is_new, const Record& next, int64_t wall_ms,
                         const std::optional<ReportFact>* content_fact) {
  int64_t created_ms = wall_ms;
  std::optional<std::pair<std::string, ReportFact>> old;
  if (!is_new) {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("SELECT facility, day, created_ms, metrics FROM "
                     "report_facts WHERE rid = ?1"));
    st.BindInt(1, rid);
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) {
      ReportFact fact{st.ColumnText(1), SplitMetrics(st.ColumnView(3))};
      created_ms = st.ColumnInt(2);
      old.emplace(st.ColumnText(0), std::move(fact));
    }
  }
  std::optional<ReportFact> now;
  if (!next.deleted) {
    now = content_fact != nullptr ? *content_fact
                                  : ContentFactOf(next.type, next.content);
    if (now && now->day.empty()) now->day = DayOf(created_ms);
  }
  if (old && now && old->first == next.facility && old->second == *now) {
    return Status::Ok();  // counted the same way: nothing to change
  }
  if (old) {
    POSTA_RETURN_IF_ERROR(counts.Add(old->first, old->second, -1));
    POSTA_ASSIGN_OR_RETURN(
        Statement del, conn.Prepare("DELETE FROM report_facts WHERE rid = ?1"));
    del.BindInt(1, rid);
    POSTA_RETURN_IF_ERROR(del.Run());
  }
  if (!now || next.facility == kSharedFacility) return Status::Ok();
  return InsertFact(conn, counts, rid, next.facility, created_ms, *now);
}

Status BackfillReportFacts(Connection& conn) {
  // Each live record's current content, and the wall time of its first
  // version here (the stamp text starts with it).
  POSTA_ASSIGN_OR_RETURN(
      Statement rows,
      conn.Prepare(
          "SELECT r.rid, r.type, r.facility, v.content, "
          "(SELECT f.version FROM versions f WHERE f.rid = r.rid "
          "ORDER BY f.seq LIMIT 1) "
          "FROM records r JOIN versions v ON v.seq = r.head "
          "WHERE r.deleted = 0 AND r.type != 'Location' ORDER BY r.rid"));
  // The sums are written every so many records, so what is held stays
  // small however many records there are.
  constexpr size_t kFlushEvery = 65536;
  ReportCounts counts;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, rows.Step());
    if (!row) break;
    std::optional<ResourceType> type = ParseResourceType(rows.ColumnView(1));
    if (!type) continue;
    const std::string facility = rows.ColumnText(2);
    if (facility == kSharedFacility) continue;
    std::string_view first = rows.ColumnView(4);
    int64_t created_ms = 0;
    for (char c : first.substr(0, first.find('.'))) {
      if (c < '0' || c > '9') break;
      created_ms = created_ms * 10 + (c - '0');
    }
    std::optional<ReportFact> fact =
        FactOf(*type, rows.ColumnView(3), created_ms);
    if (!fact) continue;
    POSTA_RETURN_IF_ERROR(InsertFact(conn, counts, rows.ColumnInt(0),
                                     facility, created_ms, *fact));
    if (counts.size() >= kFlushEvery) POSTA_RETURN_IF_ERROR(counts.Flush(conn));
  }
  return counts.Flush(conn);
}

}  // namespace internal
}  // namespace posta::storage
