// Private to storage: what the store knows of each FHIR resource type —
// validation, the references that must resolve, and the search keys to index.
// Pure functions over JSON; no SQLite here.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "posta/base/status.h"
#include "posta/storage/record.h"

namespace posta::storage::internal {

// One row of the search index: (param, value). Values are normalized so that
// SQLite's BINARY comparison answers the query:
//   string: folded text (FoldText) of each word and of the whole value;
//   token: "code" and "system|code";
//   reference: the <id> of "Patient/<id>" (the parameter names the type);
//   date: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS" (converted to UTC when the
//         source carries an offset).
struct SearchKey {
  std::string param;
  std::string value;
  friend bool operator==(const SearchKey&, const SearchKey&) = default;
};

// The number that stands for a (type, parameter) in the index's rows
// (search_keys.key, docs/storage-format.md). A number once given is never
// given to anything else. `target` is the type a reference parameter's
// values name, empty for other kinds.
struct SearchKeyCode {
  ResourceType type;
  std::string_view param;
  int code;
  std::string_view target;
};

// Every parameter of SearchParams, numbered.
std::span<const SearchKeyCode> SearchKeyCodes();

// The number of `param` of `type`; 0 when it has none (not a parameter).
int SearchKeyCodeOf(ResourceType type, std::string_view param);

// A reference the store must resolve before accepting the write.
struct Reference {
  std::string path;  // field path for the error, e.g. "Encounter.subject"
  ResourceType type;
  std::string id;
};

struct ParsedResource {
  // The body without "resourceType", "id" and "meta", serialized compactly
  // (nlohmann dump()) so equal content gives equal text.
  std::string content;
  std::vector<std::string> top_level_fields;  // keys of content
  std::vector<SearchKey> search_keys;
  std::vector<Reference> references;
};

// Parses and validates `body` as a resource of `type`.
//   Malformed("body", why): not JSON, or not a JSON object, or nested deeper
//     than 32 levels (a number too large for a double is not valid JSON).
//   InvalidArgument("<Type>.<path>", why): "resourceType" missing or not
//     `type`; "id" present and not equal to `expected_id` (when non-empty) or
//     not a UUID; a required field missing; a wrong JSON type; a value not in
//     its enumeration; a date that is not ISO 8601; a reference that is not
//     "<Type>/<id>" of an allowed type (the id a UUID when posta stores that
//     type); an unknown field. docs/resources.md lists the rules.
Result<ParsedResource> ParseResource(ResourceType type, std::string_view body,
                                     std::string_view expected_id);

// ParseResource, and `visit` called with the valid document (without
// "resourceType", "id" and "meta") before it is released, so that a caller
// who needs more from it does not parse the content again.
Result<ParsedResource> ParseResource(
    ResourceType type, std::string_view body, std::string_view expected_id,
    const std::function<void(const nlohmann::json&)>& visit);

// Parses and validates stored content (the resource without "resourceType",
// "id" and "meta", as another node sends it): the rules of ParseResource,
// and InvalidArgument when any of those three keys is present. The result's
// `content` is left empty: the caller already holds the text.
Result<ParsedResource> ParseContent(ResourceType type,
                                    std::string_view content);

// ParseContent, and `visit` called with the valid document before it is
// released (as ParseResource's).
Result<ParsedResource> ParseContent(
    ResourceType type, std::string_view content,
    const std::function<void(const nlohmann::json&)>& visit);

// One stored content to check with ParseContent.
struct ContentToParse {
  ResourceType type;
  std::string_view content;
};

// ParseContent of each item, begun at once on helper threads, each result
// taken as soon as it is ready: the caller stores version i while later
// ones are still being checked. A small batch (under 64 items) is parsed
// in the constructor, on the caller's thread. A large one (another node's
// push or pull) is split in contiguous runs across one thread fewer than
// the cores (at least one, at most four), so the caller keeps a core of its
// own; the results are the same as one ParseContent after another, but for
// what storing a peer's version does not need: each valid result keeps its
// top-level fields and search keys, and lets go of its content text and
// references as soon as they are made (a batch prepared ahead weighs less).
// `visit`, when given, is called with each valid document and its item's
// index, on the thread that parsed it: it must only touch what belongs to
// that index, and what it wrote is visible once Take(index) returned.
// `items`, and what `visit` touches, must outlive the parser, whose
// destructor waits for its threads.
class ContentParser {
 public:
  ContentParser(
      std::span<const ContentToParse> items,
      std::function<void(size_t, const nlohmann::json&)> visit = nullptr);
  ~ContentParser();
  ContentParser(const ContentParser&) = delete;
  ContentParser& operator=(const ContentParser&) = delete;

  size_t size() const { return results_.size(); }
  // Waits until item i is parsed; the result stays the parser's.
  Result<ParsedResource>& Take(size_t i);

 private:
  struct Run {
    size_t begin = 0;
    size_t end = 0;
    std::atomic<size_t> done{0};  // items of the run parsed, in order
  };
  void ParseRun(Run& run);

  std::span<const ContentToParse> items_;
  std::function<void(size_t, const nlohmann::json&)> visit_;
  std::vector<Result<ParsedResource>> results_;
  std::vector<std::unique_ptr<Run>> runs_;
  size_t per_run_ = 0;
  std::vector<std::thread> threads_;
};

// Lowercase and without accents, for Latin text in UTF-8: "José" → "jose",
// "ÇAĞLAR" → "caglar". Other characters pass through unchanged.
std::string FoldText(std::string_view text);

// The index values of one parameter that answer a condition: when `exact`,
// the single value `lower` (and `upper` is empty); otherwise the half-open
// range [lower, upper), where an empty `upper` means no upper bound. Bounds
// may hold bytes that are not UTF-8 ("\xff"): bind them as TEXT and compare
// with BINARY collation.
struct KeyRange {
  std::string param;
  std::string lower;
  std::string upper;
  bool exact = false;
};

// Turns a search condition into the index range that answers it.
// InvalidArgument("<param>", why) for an unknown parameter, an operator its
// kind does not take, or a value that does not parse.
Result<KeyRange> ConditionToRange(ResourceType type,
                                  const SearchCondition& condition);

}  // namespace posta::storage::internal
