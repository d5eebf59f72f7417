#include "api/json_util.h"

namespace posta::node {

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string JsonString(std::string_view text) {
  return DumpJson(nlohmann::json(std::string(text)));
}

}  // namespace posta::node
