// Per-input check shared by config_fuzzer and the corpus replay test
// (tests/unit/node_cli/config_corpus_test.cc): ParseConfig must neither
// throw nor crash, and a config it accepts must survive RenderConfig →
// ParseConfig unchanged (the promise of config.h).
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "config/config.h"

namespace posta::fuzz {

// Empty when `data` passes; otherwise what went wrong.
inline std::string CheckConfigInput(std::string_view data) {
  try {
    auto config = node::ParseConfig(std::string(data), "fuzz.toml");
    if (!config.ok()) {
      if (config.status().message().empty()) return "error without a message";
      return {};
    }
    if (!node::IsValidFacilityId(config->facility)) {
      return "accepted facility \"" + config->facility + "\"";
    }
    const std::string rendered = node::RenderConfig(*config);
    auto again = node::ParseConfig(rendered, "rendered.toml");
    if (!again.ok()) {
      return "rendered config does not parse: " + again.status().ToString();
    }
    if (!(*again == *config)) return "rendered config parses differently";
    return {};
  } catch (const std::exception& e) {
    return std::string("ParseConfig threw: ") + e.what();
  } catch (...) {
    return "ParseConfig threw";
  }
}

}  // namespace posta::fuzz
