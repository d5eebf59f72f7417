// Replays the config_fuzzer seed corpus through the fuzzer's own check
// (ParseConfig never throws; what it accepts renders and parses back
// unchanged), so CI covers it without clang; "valid-*" seeds must be
// accepted and "bad-*" seeds refused.
#include <gtest/gtest.h>

#include "test_util.h"

#include <filesystem>
#include <string>

#include "config/config.h"
#include "config_fuzz_entry.h"

namespace posta::node {
namespace {

TEST(ConfigCorpusTest, SeedsPassTheFuzzCheck) {
  const std::filesystem::path dir(POSTA_CONFIG_CORPUS_DIR);
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    const std::string data = ::posta::testing::ReadWholeFile(entry.path().string());
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
