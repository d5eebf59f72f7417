// Private to storage/src/resources: the building blocks each resource type's
// validation is made of — a field-table check for JSON objects, FHIR primitive
// and data types, references, and dates. docs/resources.md describes the
// rules they enforce.
#pragma once

#include <functional>
#include <initializer_list>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "posta/base/status.h"
#include "resources/resources.h"

namespace posta::storage::internal {

using Json = nlohmann::json;
// References to stored types found while checking, for the store to resolve.
using Refs = std::vector<Reference>;

// Where a check is in a resource: the path of the value ("Patient.name[0]"),
// spelled out only when there is an error to report, and the list that the
// references to stored records found in the resource go to. A Path points at
// the one it was made from, so it lives no longer than the call that holds
// that one: pass `path.Field("x")` as an argument, or keep it in a local of
// the same call, never past it.
class Path {
 public:
  // The root, a resource type's name. REQUIRES: `root` and `refs` outlive
  // every Path made from this one.
  Path(std::string_view root, Refs& refs) : name_(root), refs_(&refs) {}

  // "<this>.<name>" and "<this>[<index>]". REQUIRES: `name` outlives the
  // result.
  Path Field(std::string_view name) const { return Path(this, name, 0); }
  Path Item(size_t index) const { return Path(this, {}, index); }

  // "Patient.name[0].given", each name cut as Shortened cuts it.
  std::string str() const;
  Refs& refs() const { return *refs_; }

 private:
  Path(const Path* parent, std::string_view name, size_t index)
      : parent_(parent), name_(name), index_(index), refs_(parent->refs_) {}

  const Path* parent_ = nullptr;
  std::string_view name_;  // empty for an item of an array
  size_t index_ = 0;
  Refs* refs_;
};

// Checks one JSON value found at `path`.
using Check = std::function<Status(const Json& value, const Path& path)>;

struct FieldRule {
  std::string_view name;
  Check check;
  bool required = false;
};

// InvalidArgument naming `path`: "Patient.gender: <why>".
Status Invalid(const Path& path, std::string_view why);

// "Patient" + "name" -> "Patient.name", for the fields checked before a
// resource's rules (resourceType, id).
std::string FieldPath(std::string_view path, std::string_view field);

// `text` in double quotes, cut to 64 bytes, for naming input in messages.
std::string Quoted(std::string_view text);
// `text` cut to 64 bytes at a UTF-8 boundary, "..." marking the cut.
std::string Shortened(std::string_view text);
// "a, b, c".
std::string JoinViews(const std::vector<std::string_view>& items,
                      std::string_view separator);

// The field `name` of `object`, or null when absent or `object` is not an
// object.
const Json* FindField(const Json& object, std::string_view name);
// The string value of field `name`, or empty when absent or not a string.
std::string StringField(const Json& object, std::string_view name);

// Checks that `value` is a non-empty object with no fields beyond `rules`,
// "id" and "extension", then applies each rule in order: a missing required
// field is "<path>.<name>: required". Rule tables are built once (static):
// a check reaches the resource's references through its Path.
Status CheckElement(const Json& value, const Path& path,
                    const std::vector<FieldRule>& rules);
// The same for a resource body without "resourceType", "id" and "meta":
// also allows "text", "extension" and "language".
Status CheckResourceBody(const Json& body, const Path& path,
                         const std::vector<FieldRule>& rules);
// At most one of `fields` is present in `object`; `choice` names the group in
// the error ("Observation.value[x]").
Status AtMostOne(const Json& object, const Path& choice,
                 std::initializer_list<std::string_view> fields);

// ---- Primitive types ----
Status CheckString(const Json& value, const Path& path);
Status CheckCode(const Json& value, const Path& path);
Status CheckUri(const Json& value, const Path& path);
Status CheckBoolean(const Json& value, const Path& path);
Status CheckInteger(const Json& value, const Path& path);
Status CheckPositiveInt(const Json& value, const Path& path);
Status CheckUnsignedInt(const Json& value, const Path& path);
Status CheckDecimal(const Json& value, const Path& path);
Status CheckDate(const Json& value, const Path& path);
Status CheckDateTime(const Json& value, const Path& path);
Status CheckInstant(const Json& value, const Path& path);

// A code from a fixed value set. REQUIRES: `values` view string literals.
Check CodeIn(std::initializer_list<std::string_view> values);
// A non-empty array whose items each pass `item`, at "<path>[i]".
Check ArrayOf(Check item);

// ---- Data types ----
Status CheckCoding(const Json& value, const Path& path);
Status CheckCodeableConcept(const Json& value, const Path& path);
Status CheckIdentifier(const Json& value, const Path& path);
Status CheckPeriod(const Json& value, const Path& path);
// A Quantity with a value; a SimpleQuantity has no "comparator".
Status CheckQuantity(const Json& value, const Path& path);
Status CheckSimpleQuantity(const Json& value, const Path& path);

// A Reference whose "reference" is "<Type>/<id>" with Type in `targets`. A
// target of a type posta stores (ParseResourceType) needs a UUID id and is
// appended to the path's refs; other targets need a FHIR id and are not
// resolved. With `literal`, the "reference" field is required; otherwise an
// identifier or display alone will do. REQUIRES: `targets` view string
// literals.
Check ReferenceTo(std::initializer_list<std::string_view> targets,
                  bool literal = false);

// `object.<end>` is not before `object.<start>` (both dateTime or instant).
Status CheckNotBefore(const Json& object, const Path& path,
                      std::string_view start, std::string_view end);

// ---- Dates ----

enum class DateKind { kDate, kDateTime, kInstant };

// A date, dateTime or instant as index keys: `key` is "YYYY", "YYYY-MM",
// "YYYY-MM-DD" or, when a time is given, UTC "YYYY-MM-DDTHH:MM:SS"
// (fractions dropped); `next` is the smallest key after every moment within
// the value's precision (2024-03 -> 2024-04), unset past year 9999.
struct DateKey {
  std::string key;
  std::optional<std::string> next;
};

// InvalidArgument(what, why) when `text` is not a `kind`.
Result<DateKey> ParseDateKey(std::string_view text, DateKind kind,
                             std::string_view what);

// ---- Per resource type ----

// Shared by Patient and Location.
Status CheckContactPoint(const Json& value, const Path& path);
Status CheckAddress(const Json& value, const Path& path);

Status CheckPatient(const Json& body, Refs& refs);
Status CheckEncounter(const Json& body, Refs& refs);
Status CheckObservation(const Json& body, Refs& refs);
Status CheckAppointment(const Json& body, Refs& refs);
Status CheckLocation(const Json& body, Refs& refs);

// REQUIRES: the body passed the type's Check.
std::vector<SearchKey> PatientSearchKeys(const Json& body);
std::vector<SearchKey> EncounterSearchKeys(const Json& body);
std::vector<SearchKey> ObservationSearchKeys(const Json& body);
std::vector<SearchKey> AppointmentSearchKeys(const Json& body);
std::vector<SearchKey> LocationSearchKeys(const Json& body);

}  // namespace posta::storage::internal
