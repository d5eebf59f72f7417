// JSON helpers for the API: output that never throws on bad UTF-8.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "posta/base/status.h"

namespace posta::node {

// Compact JSON text. Invalid UTF-8 in strings (a percent-decoded path, say)
// becomes U+FFFD instead of throwing.
std::string DumpJson(const nlohmann::json& value);

// `text` as a quoted, escaped JSON string.
std::string JsonString(std::string_view text);

// Deepest nesting of a JSON request body the API parses (resources are
// held to the same depth by the store's own check).
inline constexpr int kMaxBodyDepth = 32;

// A request body as JSON. Security: a body nested deeper than
// kMaxBodyDepth is refused while it is read, before any of its deeper
// levels is built (the parser's callback drops them). Malformed "body:
// nested deeper than 32 levels" or "body: not JSON".
Result<nlohmann::json> ParseRequestJson(std::string_view body);

inline constexpr std::string_view kFhirJsonType =
    "application/fhir+json; charset=utf-8";

}  // namespace posta::node
