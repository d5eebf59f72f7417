// FHIR search query strings → storage::SearchQuery.
//
// Grammar (everything else is Malformed, which the API answers with 400):
//   <param>=<value>            string: prefix match, folded case and accents
//   <param>:exact=<value>      string: whole folded value
//   <param>=[eq|ge|gt|le|lt]<date>   date: YYYY, YYYY-MM, YYYY-MM-DD, dateTime
//   <param>=<code> | <system>|<code> token
//   <param>=Patient/<id> | <id>, <param>:Patient=<id>   reference
//   _count=<1..>  page size, clamped to max_page_size
//   _page=<token> opaque token from a Bundle's next link (checked by storage)
//   _format=json|application/json|application/fhir+json
// Repeating a parameter ANDs the conditions. Unknown parameters, unknown
// modifiers, date prefixes other than the five above, and OR lists ("a,b";
// "\," is a literal comma) are refused rather than ignored.
#pragma once

#include <string>
#include <vector>

#include "api/request_target.h"
#include "posta/base/status.h"
#include "posta/storage/record.h"
#include "posta/storage/record_store.h"

namespace posta::node {

inline constexpr size_t kDefaultPageSize = 20;

struct ParsedSearch {
  storage::SearchQuery query;
  // The condition parameters as received (decoded), for Bundle links.
  std::vector<QueryParam> condition_params;
};

// REQUIRES: max_page_size >= 1.
Result<ParsedSearch> ParseSearchQuery(storage::ResourceType type,
                                      const std::vector<QueryParam>& params,
                                      size_t max_page_size);

// Checks a `_format` value: OK for JSON, Malformed otherwise.
Status CheckFormat(const std::string& value);

// A comma-separated list of the search parameter names of `type`.
std::string SearchParamNames(storage::ResourceType type);

}  // namespace posta::node
