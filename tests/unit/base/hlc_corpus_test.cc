// Replays the hlc_stamp_fuzzer seed corpus through the fuzzer's own check
// (parse, print, parse again), so CI covers it without clang; "valid-*"
// seeds must parse and "bad-*" seeds must be refused.
#include <gtest/gtest.h>

#include "test_util.h"

#include <string>

#include "hlc_stamp_fuzz_entry.h"
#include "posta/base/hlc.h"

namespace posta::base {
namespace {

TEST(HlcCorpusTest, SeedsRoundTrip) {
  int seeds = 0;
  for (const auto& [name, data] : ::posta::testing::ReadCorpus(POSTA_HLC_STAMP_CORPUS_DIR)) {
    SCOPED_TRACE(name);
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
