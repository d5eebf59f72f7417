#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "posta/base/check.h"
#include "posta/base/random.h"
#include "resources/fhir_types.h"
#include "resources/resources.h"

namespace posta::storage::internal {
namespace {

constexpr int kMaxDepth = 32;
constexpr size_t kMaxStringBytes = size_t{1} << 20;  // FHIR's limit
constexpr size_t kMaxQuotedBytes = 64;
constexpr size_t kMaxFhirIdBytes = 64;

Status Invalid(const std::string& what, std::string_view why) {
  return Status::InvalidArgument(what, why);
}

const std::string& Str(const Json& value) {
  return *value.get_ptr<const std::string*>();
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Security: counts nesting on the raw text, so that neither the parser nor
// the recursive checks below ever see a document deeper than kMaxDepth.
Status CheckDepth(std::string_view body) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) {
        return Status::Malformed("body", "nested deeper than 32 levels");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return Status::Ok();
}

// The index of the rule for field `name`, or rules.size() when none.
size_t RuleFor(const std::vector<FieldRule>& rules, std::string_view name) {
  size_t i = 0;
  while (i < rules.size() && rules[i].name != name) ++i;
  return i;
}

Status ApplyRules(const Path& path, const std::vector<FieldRule>& rules,
                  const Json* const* found) {
  for (size_t i = 0; i < rules.size(); ++i) {
    const FieldRule& rule = rules[i];
    if (found[i] == nullptr) {
      if (rule.required) return Invalid(path.Field(rule.name), "required");
      continue;
    }
    POSTA_RETURN_IF_ERROR(rule.check(*found[i], path.Field(rule.name)));
  }
  return Status::Ok();
}

Status CheckObject(const Json& value, const Path& path,
                   const std::vector<FieldRule>& rules,
                   const std::vector<FieldRule>& common, bool allow_empty) {
  if (!value.is_object()) return Invalid(path, "expected an object");
  if (value.empty() && !allow_empty) return Invalid(path, "must not be empty");
  // Each field's rule, found in one pass over the object: the value for
  // rules[i] at found[i], for common[i] at found[rules.size() + i].
  std::array<const Json*, 48> found{};
  POSTA_CHECK(rules.size() + common.size() <= found.size());
  for (auto it = value.begin(); it != value.end(); ++it) {
    size_t i = RuleFor(rules, it.key());
    if (i == rules.size()) {
      const size_t j = RuleFor(common, it.key());
      if (j == common.size()) {
        return Invalid(path.Field(it.key()), "unknown field");
      }
      i += j;
    }
    found[i] = &it.value();
  }
  POSTA_RETURN_IF_ERROR(ApplyRules(path, rules, found.data()));
  return ApplyRules(path, common, found.data() + rules.size());
}

Status CheckExtension(const Json& value, const Path& path) {
  static const Check kNested = ArrayOf(CheckExtension);
  if (!value.is_object()) return Invalid(path, "expected an object");
  const Json* url = FindField(value, "url");
  if (url == nullptr) return Invalid(path.Field("url"), "required");
  POSTA_RETURN_IF_ERROR(CheckUri(*url, path.Field("url")));
  // Extensions are kept opaque: only their shape is checked.
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string& key = it.key();
    if (key == "extension") {
      POSTA_RETURN_IF_ERROR(kNested(it.value(), path.Field(key)));
    } else if (key != "url" && key != "id" &&
               !(key.size() > 5 && key.starts_with("value"))) {
      return Invalid(path.Field(key), "unknown field");
    }
  }
  return Status::Ok();
}

Status CheckNarrative(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"status", CodeIn({"generated", "extensions", "additional", "empty"}),
       true},
      {"div", CheckString, true}};
  return CheckElement(value, path, kRules);
}

bool IsFhirId(std::string_view id) {
  if (id.empty() || id.size() > kMaxFhirIdBytes) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool Contains(const std::vector<std::string_view>& items,
              std::string_view item) {
  for (std::string_view candidate : items) {
    if (candidate == item) return true;
  }
  return false;
}

Status CheckLiteralReference(const std::string& literal, const Path& path,
                             const std::vector<std::string_view>& targets) {
  const Path ref_path = path.Field("reference");
  const size_t slash = literal.find('/');
  if (slash == std::string::npos ||
      literal.find('/', slash + 1) != std::string::npos) {
    return Invalid(ref_path, Quoted(literal) + " is not <Type>/<id>");
  }
  const std::string type = literal.substr(0, slash);
  const std::string id = literal.substr(slash + 1);
  if (!Contains(targets, type)) {
    return Invalid(ref_path, "a reference to " + Quoted(type) +
                                 " is not allowed here; expected " +
                                 JoinViews(targets, " or "));
  }
  // Types posta stores are resolved by the store, so their ids are UUIDs.
  const std::optional<ResourceType> stored = ParseResourceType(type);
  if (stored.has_value() && !base::IsUuid(id)) {
    return Invalid(ref_path,
                   Quoted(id) + " is not a UUID, as " + type + " ids are");
  }
  if (!stored.has_value() && !IsFhirId(id)) {
    return Invalid(ref_path, Quoted(id) + " is not a FHIR id");
  }
  if (stored.has_value()) {
    path.refs().push_back(Reference{path.str(), *stored, id});
  }
  return Status::Ok();
}

Status CheckReference(const Json& value, const Path& path,
                      const std::vector<std::string_view>& targets,
                      bool literal) {
  static const std::vector<FieldRule> kRules = {{"reference", CheckString},
                                                {"type", CheckUri},
                                                {"identifier", CheckIdentifier},
                                                {"display", CheckString}};
  POSTA_RETURN_IF_ERROR(CheckElement(value, path, kRules));
  const Json* reference = FindField(value, "reference");
  const std::string type = StringField(value, "type");
  if (!type.empty() && !Contains(targets, type)) {
    return Invalid(path.Field("type"),
                   Quoted(type) + " is not " + JoinViews(targets, " or "));
  }
  if (reference == nullptr) {
    if (literal) return Invalid(path.Field("reference"), "required");
    if (FindField(value, "identifier") == nullptr &&
        FindField(value, "display") == nullptr) {
      return Invalid(path, "needs a reference, identifier or display");
    }
    return Status::Ok();
  }
  const std::string& literal_text = Str(*reference);
  if (!type.empty() && !literal_text.starts_with(type + "/")) {
    return Invalid(path.Field("type"),
                   Quoted(type) + " does not match the reference");
  }
  return CheckLiteralReference(literal_text, path, targets);
}

Status CheckQuantityFields(const Json& value, const Path& path,
                           bool simple) {
  static const std::vector<FieldRule> kSimple = {{"value", CheckDecimal, true},
                                                 {"unit", CheckString},
                                                 {"system", CheckUri},
                                                 {"code", CheckCode}};
  static const std::vector<FieldRule> kFull = [] {
    std::vector<FieldRule> rules = kSimple;
    rules.push_back({"comparator", CodeIn({"<", "<=", ">=", ">"})});
    return rules;
  }();
  POSTA_RETURN_IF_ERROR(CheckElement(value, path, simple ? kSimple : kFull));
  if (FindField(value, "code") != nullptr &&
      FindField(value, "system") == nullptr) {
    return Invalid(path.Field("system"), "required when code is given");
  }
  return Status::Ok();
}

Status CheckResourceType(const Json& doc, const std::string& name) {
  const std::string path = FieldPath(name, "resourceType");
  const Json* type = FindField(doc, "resourceType");
  if (type == nullptr) return Invalid(path, "required");
  if (!type->is_string() || Str(*type) != name) {
    return Invalid(path, "expected " + Quoted(name));
  }
  return Status::Ok();
}

Status CheckResourceId(const Json& doc, const std::string& name,
                       std::string_view expected_id) {
  const Json* id = FindField(doc, "id");
  if (id == nullptr) return Status::Ok();
  const std::string path = FieldPath(name, "id");
  if (!id->is_string()) return Invalid(path, "expected a string");
  if (!base::IsUuid(Str(*id))) {
    return Invalid(path, Quoted(Str(*id)) + " is not a UUID");
  }
  if (!expected_id.empty() && Str(*id) != expected_id) {
    return Invalid(path, Quoted(Str(*id)) + " does not match the record id " +
                             Quoted(expected_id));
  }
  return Status::Ok();
}

struct TypeRules {
  Status (*check)(const Json& body, Refs& refs);
  std::vector<SearchKey> (*search_keys)(const Json& body);
};

TypeRules RulesFor(ResourceType type) {
  switch (type) {
    case ResourceType::kPatient:
      return {CheckPatient, PatientSearchKeys};
    case ResourceType::kEncounter:
      return {CheckEncounter, EncounterSearchKeys};
    case ResourceType::kObservation:
      return {CheckObservation, ObservationSearchKeys};
    case ResourceType::kAppointment:
      return {CheckAppointment, AppointmentSearchKeys};
    case ResourceType::kLocation:
      return {CheckLocation, LocationSearchKeys};
  }
  return {CheckPatient, PatientSearchKeys};
}

Result<ParsedResource> ParseDocument(
    ResourceType type, std::string_view body, std::string_view expected_id,
    bool content_only,
    const std::function<void(const Json&)>* visit = nullptr) {
  POSTA_RETURN_IF_ERROR(CheckDepth(body));
  Json doc = Json::parse(body.begin(), body.end(), nullptr,
                         /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Malformed("body", "not valid JSON");
  if (!doc.is_object()) {
    return Status::Malformed("body", "expected a JSON object");
  }
  const std::string name(ResourceTypeName(type));
  if (content_only) {
    for (const char* key : {"resourceType", "id", "meta"}) {
      if (doc.contains(key))
        return Invalid(FieldPath(name, key), "not allowed in stored content");
    }
  } else {
    POSTA_RETURN_IF_ERROR(CheckResourceType(doc, name));
    POSTA_RETURN_IF_ERROR(CheckResourceId(doc, name, expected_id));
    for (const char* key : {"resourceType", "id", "meta"}) doc.erase(key);
  }

  const TypeRules rules = RulesFor(type);
  ParsedResource parsed;
  POSTA_RETURN_IF_ERROR(rules.check(doc, parsed.references));
  // Stored content is kept as it came: only a resource from a client is
  // serialized anew.
  if (!content_only) {
    parsed.content = doc.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    parsed.top_level_fields.push_back(it.key());
  }
  parsed.search_keys = rules.search_keys(doc);
  if (visit != nullptr && *visit) (*visit)(doc);
  return parsed;
}

}  // namespace

std::string FieldPath(std::string_view path, std::string_view field) {
  std::string out(path);
  out.push_back('.');
  out.append(field);
  return out;
}

std::string Path::str() const {
  if (parent_ == nullptr) return std::string(name_);
  std::string out = parent_->str();
  if (name_.empty()) {
    out.push_back('[');
    out.append(std::to_string(index_));
    out.push_back(']');
  } else {
    out.push_back('.');
    out.append(Shortened(name_));
  }
  return out;
}

Status Invalid(const Path& path, std::string_view why) {
  return Status::InvalidArgument(path.str(), why);
}

std::string Shortened(std::string_view text) {
  if (text.size() <= kMaxQuotedBytes) return std::string(text);
  size_t cut = kMaxQuotedBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return std::string(text.substr(0, cut)) + "...";
}

std::string Quoted(std::string_view text) {
  return "\"" + Shortened(text) + "\"";
}

std::string JoinViews(const std::vector<std::string_view>& items,
                      std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.append(separator);
    out.append(items[i]);
  }
  return out;
}

const Json* FindField(const Json& object, std::string_view name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

std::string StringField(const Json& object, std::string_view name) {
  const Json* value = FindField(object, name);
  if (value == nullptr || !value->is_string()) return {};
  return Str(*value);
}

Status CheckElement(const Json& value, const Path& path,
                    const std::vector<FieldRule>& rules) {
  // Rule tables that capture nothing are built once.
  static const std::vector<FieldRule> kCommon = {
      {"id", CheckString}, {"extension", ArrayOf(CheckExtension)}};
  return CheckObject(value, path, rules, kCommon, /*allow_empty=*/false);
}

Status CheckResourceBody(const Json& body, const Path& path,
                         const std::vector<FieldRule>& rules) {
  static const std::vector<FieldRule> kCommon = {
      {"text", CheckNarrative},
      {"extension", ArrayOf(CheckExtension)},
      {"language", CheckCode}};
  return CheckObject(body, path, rules, kCommon, /*allow_empty=*/true);
}

Status AtMostOne(const Json& object, const Path& choice,
                 std::initializer_list<std::string_view> fields) {
  std::vector<std::string_view> present;
  for (std::string_view field : fields) {
    if (FindField(object, field) != nullptr) present.push_back(field);
  }
  if (present.size() <= 1) return Status::Ok();
  return Invalid(choice,
                 "only one may be present; found " + JoinViews(present, ", "));
}

Status CheckString(const Json& value, const Path& path) {
  if (!value.is_string()) return Invalid(path, "expected a string");
  const std::string& text = Str(value);
  if (text.size() > kMaxStringBytes) return Invalid(path, "longer than 1 MiB");
  bool blank = true;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 && !IsSpace(c)) {
      return Invalid(path, "contains a control character");
    }
    if (!IsSpace(c)) blank = false;
  }
  if (blank) return Invalid(path, "must not be empty");
  return Status::Ok();
}

Status CheckCode(const Json& value, const Path& path) {
  POSTA_RETURN_IF_ERROR(CheckString(value, path));
  const std::string& code = Str(value);
  bool bad = IsSpace(code.front()) || IsSpace(code.back());
  for (size_t i = 1; i < code.size() && !bad; ++i) {
    bad = IsSpace(code[i]) && (IsSpace(code[i - 1]) || code[i] != ' ');
  }
  if (bad) {
    return Invalid(path,
                   "not a code (no leading, trailing or repeated "
                   "whitespace)");
  }
  return Status::Ok();
}

Status CheckUri(const Json& value, const Path& path) {
  POSTA_RETURN_IF_ERROR(CheckString(value, path));
  for (char c : Str(value)) {
    if (IsSpace(c)) return Invalid(path, "a URI must not contain whitespace");
  }
  return Status::Ok();
}

Status CheckBoolean(const Json& value, const Path& path) {
  if (!value.is_boolean()) return Invalid(path, "expected true or false");
  return Status::Ok();
}

Status CheckInteger(const Json& value, const Path& path) {
  if (!value.is_number_integer()) return Invalid(path, "expected an integer");
  constexpr int64_t kMin = std::numeric_limits<int32_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  const bool in_range =
      value.is_number_unsigned()
          ? *value.get_ptr<const Json::number_unsigned_t*>() <=
                static_cast<uint64_t>(kMax)
          : *value.get_ptr<const Json::number_integer_t*>() >= kMin &&
                *value.get_ptr<const Json::number_integer_t*>() <= kMax;
  if (!in_range) return Invalid(path, "out of range for a 32-bit integer");
  return Status::Ok();
}

Status CheckPositiveInt(const Json& value, const Path& path) {
  POSTA_RETURN_IF_ERROR(CheckInteger(value, path));
  if (!value.is_number_unsigned() ||
      *value.get_ptr<const Json::number_unsigned_t*>() == 0) {
    return Invalid(path, "must be at least 1");
  }
  return Status::Ok();
}

Status CheckUnsignedInt(const Json& value, const Path& path) {
  POSTA_RETURN_IF_ERROR(CheckInteger(value, path));
  if (!value.is_number_unsigned()) return Invalid(path, "must not be negative");
  return Status::Ok();
}

Status CheckDecimal(const Json& value, const Path& path) {
  if (!value.is_number()) return Invalid(path, "expected a number");
  return Status::Ok();
}

Status CheckDateOf(DateKind kind, const Json& value, const Path& path) {
  if (!value.is_string()) return Invalid(path, "expected a string");
  if (ParseDateKey(Str(value), kind, {}).ok()) return Status::Ok();
  // Once more, to name the path in the error.
  return ParseDateKey(Str(value), kind, path.str()).status();
}

Status CheckDate(const Json& value, const Path& path) {
  return CheckDateOf(DateKind::kDate, value, path);
}

Status CheckDateTime(const Json& value, const Path& path) {
  return CheckDateOf(DateKind::kDateTime, value, path);
}

Status CheckInstant(const Json& value, const Path& path) {
  return CheckDateOf(DateKind::kInstant, value, path);
}

Check CodeIn(std::initializer_list<std::string_view> values) {
  return [allowed = std::vector<std::string_view>(values)](
             const Json& value, const Path& path) -> Status {
    POSTA_RETURN_IF_ERROR(CheckCode(value, path));
    if (Contains(allowed, Str(value))) return Status::Ok();
    return Invalid(path, Quoted(Str(value)) + " is not one of " +
                             JoinViews(allowed, ", "));
  };
}

Check ArrayOf(Check item) {
  return [item = std::move(item)](const Json& value,
                                  const Path& path) -> Status {
    if (!value.is_array()) return Invalid(path, "expected an array");
    if (value.empty()) return Invalid(path, "must not be empty");
    for (size_t i = 0; i < value.size(); ++i) {
      POSTA_RETURN_IF_ERROR(item(value[i], path.Item(i)));
    }
    return Status::Ok();
  };
}

Status CheckCoding(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {{"system", CheckUri},
                                                {"version", CheckString},
                                                {"code", CheckCode, true},
                                                {"display", CheckString},
                                                {"userSelected", CheckBoolean}};
  return CheckElement(value, path, kRules);
}

Status CheckCodeableConcept(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {
      {"coding", ArrayOf(CheckCoding)}, {"text", CheckString}};
  POSTA_RETURN_IF_ERROR(CheckElement(value, path, kRules));
  if (FindField(value, "coding") == nullptr &&
      FindField(value, "text") == nullptr) {
    return Invalid(path, "needs a coding or text");
  }
  return Status::Ok();
}

Status CheckIdentifier(const Json& value, const Path& path) {
  // Organization is not a type posta stores: an assigner is never resolved.
  static const std::vector<FieldRule> kRules = {
      {"use", CodeIn({"usual", "official", "temp", "secondary", "old"})},
      {"type", CheckCodeableConcept},
      {"system", CheckUri},
      {"value", CheckString, true},
      {"period", CheckPeriod},
      {"assigner", ReferenceTo({"Organization"})}};
  return CheckElement(value, path, kRules);
}

Status CheckPeriod(const Json& value, const Path& path) {
  static const std::vector<FieldRule> kRules = {{"start", CheckDateTime},
                                                {"end", CheckDateTime}};
  POSTA_RETURN_IF_ERROR(CheckElement(value, path, kRules));
  return CheckNotBefore(value, path, "start", "end");
}

Status CheckQuantity(const Json& value, const Path& path) {
  return CheckQuantityFields(value, path, /*simple=*/false);
}

Status CheckSimpleQuantity(const Json& value, const Path& path) {
  return CheckQuantityFields(value, path, /*simple=*/true);
}

Check ReferenceTo(std::initializer_list<std::string_view> targets,
                  bool literal) {
  return [allowed = std::vector<std::string_view>(targets), literal](
             const Json& value, const Path& path) -> Status {
    return CheckReference(value, path, allowed, literal);
  };
}

Status CheckNotBefore(const Json& object, const Path& path,
                      std::string_view start, std::string_view end) {
  const std::string start_text = StringField(object, start);
  const std::string end_text = StringField(object, end);
  if (start_text.empty() || end_text.empty()) return Status::Ok();
  // Both were checked as dates already; a failure here was reported there.
  Result<DateKey> first = ParseDateKey(start_text, DateKind::kDateTime, {});
  Result<DateKey> last = ParseDateKey(end_text, DateKind::kDateTime, {});
  if (!first.ok() || !last.ok()) return Status::Ok();
  // Within their precisions: "2024-03" is not before "2024-03-05".
  if (last->next.has_value() && *last->next <= first->key) {
    return Invalid(path.Field(end), "before " + std::string(start));
  }
  return Status::Ok();
}

Result<ParsedResource> ParseResource(ResourceType type, std::string_view body,
                                     std::string_view expected_id) {
  return ParseResource(type, body, expected_id, nullptr);
}

Result<ParsedResource> ParseResource(
    ResourceType type, std::string_view body, std::string_view expected_id,
    const std::function<void(const Json&)>& visit) {
  try {
    return ParseDocument(type, body, expected_id, /*content_only=*/false,
                         &visit);
  } catch (const Json::exception& e) {
    // Every access above is checked first; this is the adapter's backstop.
    return Status::Malformed("body", e.what());
  }
}

Result<ParsedResource> ParseContent(ResourceType type,
                                    std::string_view content) {
  return ParseContent(type, content, nullptr);
}

Result<ParsedResource> ParseContent(
    ResourceType type, std::string_view content,
    const std::function<void(const Json&)>& visit) {
  try {
    return ParseDocument(type, content, {}, /*content_only=*/true, &visit);
  } catch (const Json::exception& e) {
    return Status::Malformed("content", e.what());
  }
}

ContentParser::ContentParser(
    std::span<const ContentToParse> items,
    std::function<void(size_t, const Json&)> visit)
    : items_(items), visit_(std::move(visit)) {
  // Below this many items per thread, starting a thread costs more than it
  // saves.
  constexpr size_t kMinPerThread = 64;
  constexpr size_t kMaxThreads = 4;
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t threads =
      items.size() < kMinPerThread
          ? 0
          : std::clamp<size_t>(items.size() / kMinPerThread, 1,
                               std::min(std::max<size_t>(cores, 2) - 1,
                                        kMaxThreads));
  // Each slot is written once, by the thread of its run, before the run's
  // count says so.
  results_.resize(items.size(), Status::Internal("parse", "not parsed yet"));
  const size_t runs = std::max<size_t>(threads, 1);
  per_run_ = std::max<size_t>(1, (items.size() + runs - 1) / runs);
  for (size_t begin = 0; begin < items.size(); begin += per_run_) {
    auto run = std::make_unique<Run>();
    run->begin = begin;
    run->end = std::min(items.size(), begin + per_run_);
    runs_.push_back(std::move(run));
  }
  if (threads == 0) {
    for (auto& run : runs_) ParseRun(*run);
    return;
  }
  threads_.reserve(runs_.size());
  for (auto& run : runs_) {
    try {
      threads_.emplace_back([this, r = run.get()] { ParseRun(*r); });
    } catch (const std::system_error&) {
      // No thread to be had (a box out of them): this run is parsed here.
      ParseRun(*run);
    }
  }
}

ContentParser::~ContentParser() {
  for (std::thread& t : threads_) t.join();
}

void ContentParser::ParseRun(Run& run) {
  for (size_t i = run.begin; i < run.end; ++i) {
    std::function<void(const Json&)> visit_one;
    if (visit_) visit_one = [this, i](const Json& doc) { visit_(i, doc); };
    results_[i] = ParseContent(items_[i].type, items_[i].content, visit_one);
    if (results_[i].ok()) {
      std::string().swap(results_[i]->content);
      std::vector<Reference>().swap(results_[i]->references);
    }
    run.done.fetch_add(1, std::memory_order_release);
    run.done.notify_all();
  }
}

Result<ParsedResource>& ContentParser::Take(size_t i) {
  Run& run = *runs_[i / per_run_];
  const size_t need = i - run.begin + 1;
  for (size_t done = run.done.load(std::memory_order_acquire); done < need;
       done = run.done.load(std::memory_order_acquire)) {
    run.done.wait(done, std::memory_order_acquire);
  }
  return results_[i];
}

}  // namespace posta::storage::internal
