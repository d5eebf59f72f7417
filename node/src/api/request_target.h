// Splits and decodes a request target ("/fhir/Patient?name=Jos%C3%A9") into
// path segments and query parameters. Hostile input gets Malformed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "posta/base/status.h"

namespace posta::node {

struct QueryParam {
  std::string name;   // decoded, e.g. "name:exact"
  std::string value;  // decoded; "+" is a space
};

struct RequestTarget {
  // Decoded path segments: "/fhir/Patient/" → {"fhir", "Patient", ""}.
  std::vector<std::string> segments;
  // In order of appearance; empty pieces ("a=1&&b=2") are skipped.
  std::vector<QueryParam> query;
};

// At most this many query parameters are accepted.
inline constexpr size_t kMaxQueryParams = 64;

// Malformed when the target does not start with "/", holds a fragment, an
// invalid percent escape ("%4", "%zz"), an encoded NUL, or more than
// kMaxQueryParams parameters.
Result<RequestTarget> ParseRequestTarget(std::string_view target);

// Decodes %XX escapes (and "+" as space when `plus_is_space`).
Result<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// Encodes everything but RFC 3986 unreserved characters, for one query
// name or value.
std::string PercentEncode(std::string_view text);

// "a=1&b=x%20y" from params.
std::string EncodeQuery(const std::vector<QueryParam>& params);

}  // namespace posta::node
