// Private to storage/src/resources: building the search index rows of one
// resource. docs/resources.md lists the keys of each type.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "resources/fhir_types.h"
#include "resources/resources.h"

namespace posta::storage::internal {

// Bounds the index rows a single long text can add.
inline constexpr size_t kMaxWordsPerText = 32;

// FoldText with each run of whitespace made one space and the ends trimmed:
// the form string keys and string search values share.
std::string NormalizeText(std::string_view text);

// Collects the keys of one resource, each (param, value) once, in the order
// first added. Null or ill-typed JSON arguments add nothing.
class SearchKeyList {
 public:
  // Skips an empty value.
  void Add(std::string_view param, std::string value);
  // string: the normalized text and each of its first kMaxWordsPerText
  // words.
  void AddText(std::string_view param, std::string_view text);
  // token: the string itself.
  void AddCode(std::string_view param, const Json* code);
  // token: "code" and "system|code" of a Coding.
  void AddCoding(std::string_view param, const Json* coding);
  // token: AddCoding for each coding of a CodeableConcept.
  void AddConcept(std::string_view param, const Json* codeable_concept);
  // reference: the <id> of a Reference "<target>/<id>"; a reference to
  // any other type adds nothing (the parameter only finds `target`s).
  void AddReference(std::string_view param, const Json* reference,
                    std::string_view target);
  // date: DateKey::key of a date, dateTime or instant.
  void AddDate(std::string_view param, const Json* value, DateKind kind);

  std::vector<SearchKey> Take() && { return std::move(keys_); }

 private:
  // Most resources have a few dozen keys: up to kScanKeys, a repeat is
  // found by a scan of keys_; past that, `seen_` holds them all.
  static constexpr size_t kScanKeys = 48;
  std::vector<SearchKey> keys_;
  std::set<std::pair<std::string, std::string>> seen_;
};

}  // namespace posta::storage::internal
