// Replays the config_fuzzer seed corpus through the fuzzer's own check
// (ParseConfig never throws; what it accepts renders and parses back
// unchanged), so CI covers it without clang; "valid-*" seeds must be
// accepted and "bad-*" seeds refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "config/config.h"
#include "config_fuzz_entry.h"

namespace posta::node {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(ConfigCorpusTest, SeedsPassTheFuzzCheck) {
  const std::filesystem::path dir(POSTA_CONFIG_CORPUS_DIR);
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    const std::string data = ReadFile(entry.path());
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
