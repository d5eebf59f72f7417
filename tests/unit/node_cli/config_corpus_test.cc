// Replays the config_fuzzer seed corpus through the fuzzer's own check
// (ParseConfig never throws; what it accepts renders and parses back
// unchanged), so CI covers it without clang; "valid-*" seeds must be
// accepted and "bad-*" seeds refused.
#include <gtest/gtest.h>

#include "test_util.h"

#include <string>

#include "config/config.h"
#include "config_fuzz_entry.h"

namespace posta::node {
namespace {

TEST(ConfigCorpusTest, SeedsPassTheFuzzCheck) {
  int seeds = 0;
  for (const auto& [name, data] : ::posta::testing::ReadCorpus(POSTA_CONFIG_CORPUS_DIR)) {
    SCOPED_TRACE(name);
    ASSERT_FALSE(data.empty());
    ++seeds;
    EXPECT_EQ(fuzz::CheckConfigInput(data), "");
    Result<NodeConfig> config = ParseConfig(data, "fuzz.toml");
    if (name.starts_with("valid-")) {
      EXPECT_TRUE(config.ok()) << config.status().ToString();
    } else {
      EXPECT_FALSE(config.ok());
    }
  }
  EXPECT_GE(seeds, 10);
}

}  // namespace
}  // namespace posta::node
