// Per-input check shared by hlc_stamp_fuzzer and the corpus replay test
// (tests/unit/base/hlc_corpus_test.cc): HlcStamp::Parse must not crash, and
// what it accepts must print to a form that parses back to the same stamp.
#pragma once

#include <string>
#include <string_view>

#include "posta/base/hlc.h"

namespace posta::fuzz {

// Empty when `data` passes; otherwise what went wrong.
inline std::string CheckHlcStampInput(std::string_view data) {
  auto parsed = base::HlcStamp::Parse(data);
  if (!parsed.ok()) return {};
  const std::string text = parsed->ToString();
  auto again = base::HlcStamp::Parse(text);
  if (!again.ok()) return "\"" + text + "\" does not parse back";
  if (!(*again == *parsed)) return "\"" + text + "\" parses to another stamp";
  if (again->ToString() != text) return "\"" + text + "\" prints differently";
  if (!base::IsValidNodeId(parsed->node)) return "accepted a bad node id";
  return {};
}

}  // namespace posta::fuzz
