#include "api/json_util.h"

namespace posta::node {

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<nlohmann::json> ParseRequestJson(std::string_view body) {
  bool too_deep = false;
  nlohmann::json::parser_callback_t depth_check =
      [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        if (depth > kMaxBodyDepth) too_deep = true;
        return !too_deep;
      };
  nlohmann::json j = nlohmann::json::parse(body, depth_check,
                                           /*allow_exceptions=*/false);
  if (too_deep) {
    return Status::Malformed(
        "body",
        "nested deeper than " + std::to_string(kMaxBodyDepth) + " levels");
  }
  if (j.is_discarded()) return Status::Malformed("body", "not JSON");
  return j;
}

std::string JsonString(std::string_view text) {
  return DumpJson(nlohmann::json(std::string(text)));
}

}  // namespace posta::node
