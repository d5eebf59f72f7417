#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "posta/base/random.h"
#include "posta/storage/record.h"
#include "resources/fhir_types.h"
#include "resources/resources.h"
#include "resources/search_keys.h"

namespace posta::storage {

namespace {

using Kind = SearchParamInfo::Kind;

constexpr SearchParamInfo kPatientParams[] = {
    {"name", Kind::kString, "Patient.name",
     "The start of a family, given or text name, or of any word of one; "
     "case and accents are ignored"},
    {"identifier", Kind::kToken, "Patient.identifier",
     "An identifier as value or system|value"},
    {"birthdate", Kind::kDate, "Patient.birthDate", "The date of birth"},
    {"gender", Kind::kToken, "Patient.gender",
     "male, female, other or unknown"},
};

constexpr SearchParamInfo kEncounterParams[] = {
    {"patient", Kind::kReference, "Encounter.subject",
     "The patient seen, as Patient/<id> or <id>"},
    {"date", Kind::kDate, "Encounter.period.start",
     "When the encounter started"},
    {"status", Kind::kToken, "Encounter.status", "The encounter status"},
};

constexpr SearchParamInfo kObservationParams[] = {
    {"patient", Kind::kReference, "Observation.subject",
     "The patient observed, as Patient/<id> or <id>"},
    {"code", Kind::kToken, "Observation.code",
     "What was observed, as code or system|code"},
    {"date", Kind::kDate, "Observation.effective",
     "effectiveDateTime, effectiveInstant or effectivePeriod.start"},
    {"encounter", Kind::kReference, "Observation.encounter",
     "The encounter, as Encounter/<id> or <id>"},
    {"status", Kind::kToken, "Observation.status", "The observation status"},
    {"category", Kind::kToken, "Observation.category",
     "A category as code or system|code, e.g. vital-signs"},
};

constexpr SearchParamInfo kAppointmentParams[] = {
    {"patient", Kind::kReference,
     "Appointment.participant.actor.where(resolve() is Patient)",
     "A patient taking part, as Patient/<id> or <id>"},
    {"date", Kind::kDate, "Appointment.start", "When the appointment starts"},
    {"status", Kind::kToken, "Appointment.status", "The appointment status"},
};

constexpr SearchParamInfo kLocationParams[] = {
    {"name", Kind::kString, "Location.name | Location.alias",
     "The start of the name or an alias, or of any word of one; case and "
     "accents are ignored"},
    {"identifier", Kind::kToken, "Location.identifier",
     "An identifier as value or system|value"},
    {"status", Kind::kToken, "Location.status",
     "active, suspended or inactive"},
};

}  // namespace

std::span<const SearchParamInfo> SearchParams(ResourceType type) {
  switch (type) {
    case ResourceType::kPatient:
      return kPatientParams;
    case ResourceType::kEncounter:
      return kEncounterParams;
    case ResourceType::kObservation:
      return kObservationParams;
    case ResourceType::kAppointment:
      return kAppointmentParams;
    case ResourceType::kLocation:
      return kLocationParams;
  }
  return {};
}

namespace internal {

namespace {

// Stored in every index row: never renumber, never reuse.
constexpr SearchKeyCode kSearchKeyCodes[] = {
    {ResourceType::kPatient, "name", 1, ""},
    {ResourceType::kPatient, "identifier", 2, ""},
    {ResourceType::kPatient, "birthdate", 3, ""},
    {ResourceType::kPatient, "gender", 4, ""},
    {ResourceType::kEncounter, "patient", 5, "Patient"},
    {ResourceType::kEncounter, "date", 6, ""},
    {ResourceType::kEncounter, "status", 7, ""},
    {ResourceType::kObservation, "patient", 8, "Patient"},
    {ResourceType::kObservation, "code", 9, ""},
    {ResourceType::kObservation, "date", 10, ""},
    {ResourceType::kObservation, "encounter", 11, "Encounter"},
    {ResourceType::kObservation, "status", 12, ""},
    {ResourceType::kObservation, "category", 13, ""},
    {ResourceType::kAppointment, "patient", 14, "Patient"},
    {ResourceType::kAppointment, "date", 15, ""},
    {ResourceType::kAppointment, "status", 16, ""},
    {ResourceType::kLocation, "name", 17, ""},
    {ResourceType::kLocation, "identifier", 18, ""},
    {ResourceType::kLocation, "status", 19, ""},
};

}  // namespace

std::span<const SearchKeyCode> SearchKeyCodes() { return kSearchKeyCodes; }

int SearchKeyCodeOf(ResourceType type, std::string_view param) {
  for (const SearchKeyCode& code : kSearchKeyCodes) {
    if (code.type == type && code.param == param) return code.code;
  }
  return 0;
}

namespace {

namespace chrono = std::chrono;

constexpr int kMaxYear = 9999;
// Greater than every date key (they are ASCII), for "after the last date".
constexpr std::string_view kAfterAllKeys = "\xff";
// Greater than any UTF-8 text that starts with the same bytes.
constexpr char kPrefixEnd = '\xff';

struct DateParts {
  int year = 0;
  int month = 0;  // 0 when absent
  int day = 0;    // 0 when absent
  bool has_time = false;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int offset_hours = 0;
  int offset_minutes = 0;
  int offset_sign = 1;
};

// Reads the fixed-width fields of an ISO 8601 text, left to right.
class DateScanner {
 public:
  explicit DateScanner(std::string_view text) : text_(text) {}

  bool AtEnd() const { return pos_ == text_.size(); }
  bool Take(char c) {
    if (AtEnd() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  std::optional<int> Number(size_t width) {
    if (text_.size() - pos_ < width) return std::nullopt;
    int value = 0;
    for (size_t i = 0; i < width; ++i) {
      const char c = text_[pos_ + i];
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    pos_ += width;
    return value;
  }
  bool Digits() {
    const size_t start = pos_;
    while (!AtEnd() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

bool ScanField(DateScanner& in, char separator, size_t width, int& out) {
  if (separator != 0 && !in.Take(separator)) return false;
  const std::optional<int> value = in.Number(width);
  if (!value.has_value()) return false;
  out = *value;
  return true;
}

bool ScanTime(DateScanner& in, DateParts& parts) {
  if (!ScanField(in, 'T', 2, parts.hour) ||
      !ScanField(in, ':', 2, parts.minute) ||
      !ScanField(in, ':', 2, parts.second)) {
    return false;
  }
  parts.has_time = true;
  if (in.Take('.') && !in.Digits()) return false;
  if (in.Take('Z')) return in.AtEnd();
  if (in.Take('-')) {
    parts.offset_sign = -1;
  } else if (!in.Take('+')) {
    return false;
  }
  return ScanField(in, 0, 2, parts.offset_hours) &&
         ScanField(in, ':', 2, parts.offset_minutes) && in.AtEnd();
}

// The shape only; ranges are checked by CalendarOk and ClockOk.
std::optional<DateParts> ScanDate(std::string_view text) {
  DateScanner in(text);
  DateParts parts;
  if (!ScanField(in, 0, 4, parts.year)) return std::nullopt;
  if (in.AtEnd()) return parts;
  if (!ScanField(in, '-', 2, parts.month)) return std::nullopt;
  if (in.AtEnd()) return parts;
  if (!ScanField(in, '-', 2, parts.day)) return std::nullopt;
  if (in.AtEnd()) return parts;
  if (!ScanTime(in, parts)) return std::nullopt;
  return parts;
}

chrono::year_month_day Ymd(int year, int month, int day) {
  return chrono::year_month_day{chrono::year{year},
                                chrono::month{static_cast<unsigned>(month)},
                                chrono::day{static_cast<unsigned>(day)}};
}

bool CalendarOk(const DateParts& p) {
  if (p.year < 1) return false;
  if (p.month == 0) return true;
  if (p.month > 12) return false;
  return p.day == 0 || Ymd(p.year, p.month, p.day).ok();
}

bool ClockOk(const DateParts& p) {
  const bool offset_ok =
      p.offset_hours < 14 || (p.offset_hours == 14 && p.offset_minutes == 0);
  return p.hour <= 23 && p.minute <= 59 && p.second <= 59 && offset_ok &&
         p.offset_minutes <= 59;
}

std::string Pad(int64_t value, size_t width) {
  std::string text = std::to_string(value);
  if (text.size() < width) text.insert(0, width - text.size(), '0');
  return text;
}

std::optional<std::string> FormatDay(const chrono::year_month_day& ymd) {
  const int year = static_cast<int>(ymd.year());
  if (year > kMaxYear) return std::nullopt;
  return Pad(year, 4) + "-" + Pad(static_cast<unsigned>(ymd.month()), 2) + "-" +
         Pad(static_cast<unsigned>(ymd.day()), 2);
}

std::optional<std::string> FormatSeconds(chrono::sys_seconds time) {
  const chrono::sys_days day = chrono::floor<chrono::days>(time);
  std::optional<std::string> text = FormatDay(chrono::year_month_day{day});
  if (!text.has_value()) return std::nullopt;
  const int64_t secs = (time - day).count();
  return *text + "T" + Pad(secs / 3600, 2) + ":" + Pad(secs / 60 % 60, 2) +
         ":" + Pad(secs % 60, 2);
}

DateKey DateOnlyKey(const DateParts& p) {
  DateKey out;
  if (p.month == 0) {
    out.key = Pad(p.year, 4);
    if (p.year < kMaxYear) out.next = Pad(p.year + 1, 4);
  } else if (p.day == 0) {
    out.key = Pad(p.year, 4) + "-" + Pad(p.month, 2);
    if (p.month < 12) {
      out.next = Pad(p.year, 4) + "-" + Pad(p.month + 1, 2);
    } else if (p.year < kMaxYear) {
      out.next = Pad(p.year + 1, 4) + "-01";
    }
  } else {
    const chrono::sys_days day{Ymd(p.year, p.month, p.day)};
    out.key = FormatDay(chrono::year_month_day{day}).value_or("");
    out.next = FormatDay(chrono::year_month_day{day + chrono::days{1}});
  }
  return out;
}

Result<DateKey> TimeKey(const DateParts& p, std::string_view what) {
  const int offset = p.offset_sign * (p.offset_hours * 60 + p.offset_minutes);
  const chrono::sys_seconds utc =
      chrono::sys_days{Ymd(p.year, p.month, p.day)} + chrono::hours{p.hour} +
      chrono::minutes{p.minute - offset} + chrono::seconds{p.second};
  std::optional<std::string> key = FormatSeconds(utc);
  if (!key.has_value()) {
    return Status::InvalidArgument(what, "past the year 9999 in UTC");
  }
  return DateKey{std::move(*key), FormatSeconds(utc + chrono::seconds{1})};
}

std::string_view DateHelp(DateKind kind) {
  switch (kind) {
    case DateKind::kDate:
      return "not an ISO date (YYYY, YYYY-MM or YYYY-MM-DD)";
    case DateKind::kDateTime:
      return "not an ISO dateTime (YYYY, YYYY-MM, YYYY-MM-DD or "
             "YYYY-MM-DDThh:mm:ss[.fff] with Z or ±hh:mm)";
    case DateKind::kInstant:
      return "not an ISO instant (YYYY-MM-DDThh:mm:ss[.fff] with Z or "
             "±hh:mm)";
  }
  return "not an ISO date";
}

// Latin-1 Supplement and Latin Extended-A, U+00C0 to U+017F: the letter each
// code point folds to; '*' for two letters (TwoLetterFold), '#' to keep.
constexpr std::string_view kLatinFold =
    "aaaaaa*ceeeeiiii"   // U+00C0
    "dnooooo#ouuuuy**"   // U+00D0
    "aaaaaa*ceeeeiiii"   // U+00E0
    "dnooooo#ouuuuy*y"   // U+00F0
    "aaaaaaccccccccdd"   // U+0100
    "ddeeeeeeeeeegggg"   // U+0110
    "gggghhhhiiiiiiii"   // U+0120
    "ii**jjkkklllllll"   // U+0130
    "lllnnnnnnnnnoooo"   // U+0140
    "oo**rrrrrrssssss"   // U+0150
    "ssttttttuuuuuuuu"   // U+0160
    "uuuuwwyyyzzzzzzs";  // U+0170
constexpr uint32_t kLatinFoldFirst = 0xC0;
static_assert(kLatinFold.size() == 0x180 - kLatinFoldFirst);

std::string_view TwoLetterFold(uint32_t code_point) {
  switch (code_point) {
    case 0xC6:
    case 0xE6:
      return "ae";
    case 0xDE:
    case 0xFE:
      return "th";
    case 0xDF:
      return "ss";
    case 0x132:
    case 0x133:
      return "ij";
    case 0x152:
    case 0x153:
      return "oe";
    default:
      return "";
  }
}

bool IsWordByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

}  // namespace

Result<DateKey> ParseDateKey(std::string_view text, DateKind kind,
                             std::string_view what) {
  const std::optional<DateParts> parts = ScanDate(text);
  const bool shape_ok = parts.has_value() &&
                        (kind != DateKind::kDate || !parts->has_time) &&
                        (kind != DateKind::kInstant || parts->has_time);
  if (!shape_ok) return Status::InvalidArgument(what, DateHelp(kind));
  if (!CalendarOk(*parts)) {
    return Status::InvalidArgument(what,
                                   Quoted(text) + " is not a calendar date");
  }
  if (!parts->has_time) return DateOnlyKey(*parts);
  if (!ClockOk(*parts)) {
    return Status::InvalidArgument(
        what, Quoted(text) + " has an invalid time of day or offset");
  }
  return TimeKey(*parts, what);
}

std::string FoldText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      out.push_back(byte >= 'A' && byte <= 'Z' ? static_cast<char>(byte + 32)
                                               : text[i]);
      continue;
    }
    // Every code point folded is two bytes in UTF-8, led by 0xC3..0xC5;
    // anything else, invalid sequences included, is copied as is.
    const bool foldable =
        byte >= 0xC3 && byte <= 0xC5 && i + 1 < text.size() &&
        (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80;
    if (!foldable) {
      out.push_back(text[i]);
      continue;
    }
    const uint32_t code_point =
        ((byte & 0x1Fu) << 6) |
        (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
    const char folded = kLatinFold[code_point - kLatinFoldFirst];
    if (folded == '#') {
      out.append(text.substr(i, 2));
    } else if (folded == '*') {
      out.append(TwoLetterFold(code_point));
    } else {
      out.push_back(folded);
    }
    ++i;
  }
  return out;
}

std::string NormalizeText(std::string_view text) {
  const std::string folded = FoldText(text);
  std::string out;
  out.reserve(folded.size());
  bool pending_space = false;
  for (char c : folded) {
    if (IsBlank(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

void SearchKeyList::Add(std::string_view param, std::string value) {
  if (value.empty()) return;
  if (keys_.size() < kScanKeys) {
    for (const SearchKey& key : keys_) {
      if (key.param == param && key.value == value) return;
    }
  } else {
    if (seen_.empty()) {
      for (const SearchKey& key : keys_) seen_.emplace(key.param, key.value);
    }
    if (!seen_.emplace(std::string(param), value).second) return;
  }
  keys_.push_back(SearchKey{std::string(param), std::move(value)});
}

void SearchKeyList::AddText(std::string_view param, std::string_view text) {
  const std::string normalized = NormalizeText(text);
  Add(param, normalized);
  size_t start = 0;
  for (size_t words = 0; words < kMaxWordsPerText; ++words) {
    while (start < normalized.size() && !IsWordByte(normalized[start])) {
      ++start;
    }
    if (start == normalized.size()) break;
    size_t end = start;
    while (end < normalized.size() && IsWordByte(normalized[end])) ++end;
    Add(param, normalized.substr(start, end - start));
    start = end;
  }
}

void SearchKeyList::AddCode(std::string_view param, const Json* code) {
  if (code != nullptr && code->is_string()) {
    Add(param, code->get<std::string>());
  }
}

void SearchKeyList::AddCoding(std::string_view param, const Json* coding) {
  if (coding == nullptr) return;
  const std::string code = StringField(*coding, "code");
  if (code.empty()) return;
  Add(param, code);
  const std::string system = StringField(*coding, "system");
  if (!system.empty()) Add(param, system + "|" + code);
}

void SearchKeyList::AddConcept(std::string_view param,
                               const Json* codeable_concept) {
  const Json* codings =
      codeable_concept ? FindField(*codeable_concept, "coding") : nullptr;
  if (codings == nullptr || !codings->is_array()) return;
  for (const Json& coding : *codings) AddCoding(param, &coding);
}

void SearchKeyList::AddReference(std::string_view param,
                                 const Json* reference,
                                 std::string_view target) {
  if (reference == nullptr) return;
  std::string text = StringField(*reference, "reference");
  if (text.size() <= target.size() || !text.starts_with(target) ||
      text[target.size()] != '/') {
    return;
  }
  Add(param, text.substr(target.size() + 1));
}

void SearchKeyList::AddDate(std::string_view param, const Json* value,
                            DateKind kind) {
  if (value == nullptr || !value->is_string()) return;
  Result<DateKey> key = ParseDateKey(value->get<std::string>(), kind, param);
  if (key.ok()) Add(param, std::move(key->key));
}

namespace {

std::string_view OpName(SearchOp op) {
  switch (op) {
    case SearchOp::kDefault:
      return "(none)";
    case SearchOp::kExact:
      return ":exact";
    case SearchOp::kEq:
      return "eq";
    case SearchOp::kGe:
      return "ge";
    case SearchOp::kGt:
      return "gt";
    case SearchOp::kLe:
      return "le";
    case SearchOp::kLt:
      return "lt";
  }
  return "?";
}

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kString:
      return "string";
    case Kind::kToken:
      return "token";
    case Kind::kDate:
      return "date";
    case Kind::kReference:
      return "reference";
  }
  return "?";
}

Status OpNotAllowed(const SearchCondition& c, Kind kind) {
  return Status::InvalidArgument(
      c.param, std::string(OpName(c.op)) + " does not apply to a " +
                   std::string(KindName(kind)) + " parameter");
}

Result<KeyRange> StringRange(const SearchCondition& c) {
  if (c.op != SearchOp::kDefault && c.op != SearchOp::kExact) {
    return OpNotAllowed(c, Kind::kString);
  }
  std::string value = NormalizeText(c.value);
  if (value.empty()) return Status::InvalidArgument(c.param, "empty value");
  if (c.op == SearchOp::kExact) return KeyRange{c.param, value, "", true};
  std::string upper = value + kPrefixEnd;
  return KeyRange{c.param, std::move(value), std::move(upper)};
}

Result<KeyRange> TokenRange(const SearchCondition& c) {
  if (c.op != SearchOp::kDefault) return OpNotAllowed(c, Kind::kToken);
  return KeyRange{c.param, c.value, "", true};
}

Result<KeyRange> ReferenceRange(const SearchCondition& c) {
  if (c.op != SearchOp::kDefault) return OpNotAllowed(c, Kind::kReference);
  const std::string target = c.param == "encounter" ? "Encounter" : "Patient";
  std::string id = c.value;
  const size_t slash = id.find('/');
  if (slash != std::string::npos) {
    if (id.substr(0, slash) != target) {
      return Status::InvalidArgument(
          c.param,
          "expected " + target + "/<id> or <id>, not " + Quoted(c.value));
    }
    id.erase(0, slash + 1);
  }
  if (!base::IsUuid(id)) {
    return Status::InvalidArgument(
        c.param, Quoted(id) + " is not a " + target + " id (a UUID)");
  }
  return KeyRange{c.param, id, "", true};
}

Result<KeyRange> DateRange(const SearchCondition& c) {
  if (c.op == SearchOp::kExact) return OpNotAllowed(c, Kind::kDate);
  POSTA_ASSIGN_OR_RETURN(DateKey key,
                         ParseDateKey(c.value, DateKind::kDateTime, c.param));
  // No `next` means nothing can come after: the range runs to the end.
  const std::string next = key.next.value_or("");
  switch (c.op) {
    case SearchOp::kGe:
      return KeyRange{c.param, key.key, ""};
    case SearchOp::kGt:
      return KeyRange{c.param, key.next.value_or(std::string(kAfterAllKeys)),
                      ""};
    case SearchOp::kLe:
      return KeyRange{c.param, "", next};
    case SearchOp::kLt:
      return KeyRange{c.param, "", key.key};
    default:
      return KeyRange{c.param, key.key, next};
  }
}

std::string SupportedNames(ResourceType type) {
  std::vector<std::string_view> names;
  for (const SearchParamInfo& info : SearchParams(type)) {
    names.push_back(info.name);
  }
  return JoinViews(names, ", ");
}

}  // namespace

Result<KeyRange> ConditionToRange(ResourceType type,
                                  const SearchCondition& condition) {
  const SearchParamInfo* info = nullptr;
  for (const SearchParamInfo& candidate : SearchParams(type)) {
    if (candidate.name == condition.param) info = &candidate;
  }
  if (info == nullptr) {
    return Status::InvalidArgument(Shortened(condition.param),
                                   "not a search parameter of " +
                                       std::string(ResourceTypeName(type)) +
                                       "; supported: " + SupportedNames(type));
  }
  if (condition.value.empty()) {
    return Status::InvalidArgument(condition.param, "empty value");
  }
  switch (info->kind) {
    case Kind::kString:
      return StringRange(condition);
    case Kind::kToken:
      return TokenRange(condition);
    case Kind::kReference:
      return ReferenceRange(condition);
    case Kind::kDate:
      return DateRange(condition);
  }
  return Status::Internal(condition.param, "unknown parameter kind");
}

}  // namespace internal
}  // namespace posta::storage
