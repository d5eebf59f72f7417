// Every file of the fuzzer's seed corpus goes through what the fuzzer calls,
// so a seed that crashes fails here too; "valid-*" seeds must be accepted.
#include <gtest/gtest.h>

#include <string>

#include "posta/storage/record.h"
#include "resources/resources.h"
#include "test_util.h"

namespace posta::storage::internal {
namespace {

TEST(FuzzCorpusTest, SeedsDoNotCrash) {
  int seeds = 0;
  for (const auto& [name, data] : ::posta::testing::ReadCorpus(POSTA_RESOURCE_CORPUS_DIR)) {
    SCOPED_TRACE(name);
    ASSERT_FALSE(data.empty());
    ++seeds;
    const ResourceType type = static_cast<ResourceType>(
        static_cast<unsigned char>(data[0] - '0') % 5);
    const std::string_view body = std::string_view(data).substr(1);
    Result<ParsedResource> parsed = ParseResource(type, body, "");
    if (name.starts_with("valid-")) {
      EXPECT_OK(parsed);
    } else {
      EXPECT_FALSE(parsed.ok());
    }
    for (ResourceType other : kAllResourceTypes) {
      (void)ParseResource(other, data, "");
      for (const SearchParamInfo& info : SearchParams(other)) {
        (void)ConditionToRange(other,
                               {std::string(info.name), SearchOp::kDefault,
                                std::string(body.substr(0, 64))});
      }
    }
    EXPECT_EQ(FoldText(FoldText(data)), FoldText(data));
  }
  EXPECT_GE(seeds, 10);
}

}  // namespace
}  // namespace posta::storage::internal
