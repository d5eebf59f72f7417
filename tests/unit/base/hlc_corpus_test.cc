// Replays the hlc_stamp_fuzzer seed corpus through the fuzzer's own check
// (parse, print, parse again), so CI covers it without clang; "valid-*"
// seeds must parse and "bad-*" seeds must be refused.
#include <gtest/gtest.h>

#include "test_util.h"

#include <filesystem>
#include <string>

#include "hlc_stamp_fuzz_entry.h"
#include "posta/base/hlc.h"

namespace posta::base {
namespace {

TEST(HlcCorpusTest, SeedsRoundTrip) {
  const std::filesystem::path dir(POSTA_HLC_STAMP_CORPUS_DIR);
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    const std::string data = ::posta::testing::ReadWholeFile(entry.path().string());
    ++seeds;
    EXPECT_EQ(fuzz::CheckHlcStampInput(data), "");
    const bool parses = HlcStamp::Parse(data).ok();
    if (name.starts_with("valid-")) {
      EXPECT_TRUE(parses);
    } else {
      EXPECT_FALSE(parses);
    }
  }
  EXPECT_GE(seeds, 10);
}

}  // namespace
}  // namespace posta::base
