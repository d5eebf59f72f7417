// JSON helpers for the API: output that never throws on bad UTF-8.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace posta::node {

// Compact JSON text. Invalid UTF-8 in strings (a percent-decoded path, say)
// becomes U+FFFD instead of throwing.
std::string DumpJson(const nlohmann::json& value);

// `text` as a quoted, escaped JSON string.
std::string JsonString(std::string_view text);

inline constexpr std::string_view kFhirJsonType =
    "application/fhir+json; charset=utf-8";

}  // namespace posta::node
