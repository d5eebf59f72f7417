// libFuzzer target for ParseResource, FoldText and ConditionToRange.
// Input: the first byte picks the resource type ('0' Patient, '1' Encounter,
// '2' Observation, '3' Appointment, '4' Location, modulo 5); the rest is the
// body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "posta/base/random.h"
#include "posta/storage/record.h"
#include "resources/resources.h"

namespace {

using ::posta::storage::ResourceType;
using ::posta::storage::SearchCondition;
using ::posta::storage::SearchOp;
using ::posta::storage::internal::ParsedResource;
using Json = nlohmann::json;

void Require(bool condition) {
  if (!condition) std::abort();
}

// What ParseResource accepts must parse again to the same result from its
// own content.
void CheckAccepted(ResourceType type, const ParsedResource& parsed) {
  Json content = Json::parse(parsed.content, nullptr, false);
  Require(content.is_object());
  Require(!content.contains("resourceType") && !content.contains("id") &&
          !content.contains("meta"));
  Require(content.size() == parsed.top_level_fields.size());
  for (const std::string& field : parsed.top_level_fields) {
    Require(content.contains(field));
  }
  for (const auto& key : parsed.search_keys) {
    bool declared = false;
    for (const auto& info : posta::storage::SearchParams(type)) {
      declared = declared || info.name == key.param;
    }
    Require(declared && !key.value.empty());
  }
  for (const auto& ref : parsed.references)
    Require(posta::base::IsUuid(ref.id));

  content["resourceType"] = std::string(ResourceTypeName(type));
  auto again =
      posta::storage::internal::ParseResource(type, content.dump(), "");
  Require(again.ok());
  Require(again->content == parsed.content);
  Require(again->search_keys == parsed.search_keys);
  Require(again->references.size() == parsed.references.size());
}

void CheckSearch(ResourceType type, std::string_view value) {
  for (const auto& info : posta::storage::SearchParams(type)) {
    for (SearchOp op :
         {SearchOp::kDefault, SearchOp::kExact, SearchOp::kEq, SearchOp::kGe,
          SearchOp::kGt, SearchOp::kLe, SearchOp::kLt}) {
      SearchCondition condition{std::string(info.name), op, std::string(value)};
      auto range = posta::storage::internal::ConditionToRange(type, condition);
      if (!range.ok()) continue;
      Require(range->exact
                  ? range->upper.empty()
                  : range->upper.empty() || range->lower < range->upper);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ResourceType type = static_cast<posta::storage::ResourceType>(
      static_cast<unsigned char>(data[0] - '0') % 5);
  const std::string_view body(reinterpret_cast<const char*>(data) + 1,
                              size - 1);

  auto parsed = posta::storage::internal::ParseResource(type, body, "");
  if (parsed.ok()) CheckAccepted(type, *parsed);

  const std::string folded = posta::storage::internal::FoldText(body);
  Require(posta::storage::internal::FoldText(folded) == folded);

  CheckSearch(type, body.substr(0, 64));
  return 0;
}
