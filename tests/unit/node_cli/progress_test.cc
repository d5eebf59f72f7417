#include "cli/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace posta::node::cli {
namespace {

using std::chrono::milliseconds;

int CountLines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

TEST(ProgressTest, FormatsBytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(5 << 20), "5.0 MiB");
}

TEST(ProgressTest, LinesEveryTenPercentAfterTheQuietSecond) {
  base::ManualClock clock;
  std::ostringstream out;
  ProgressDisplay p(out, {.label = "import"}, clock);
  p.Update(50, 1000, 50);  // within the quiet first second
  EXPECT_EQ(out.str(), "");
  clock.Advance(milliseconds(2000));
  p.Update(100, 1000, 100);
  EXPECT_EQ(out.str(), "import: 10% 100 records 50/s\n");
  p.Update(150, 1000, 150);  // same step: nothing
  EXPECT_EQ(CountLines(out.str()), 1);
  p.Update(420, 1000, 420);
  EXPECT_EQ(CountLines(out.str()), 2);
  clock.Advance(milliseconds(10000));  // slow: a line per interval anyway
  p.Update(430, 1000, 430);
  EXPECT_EQ(CountLines(out.str()), 3);
  p.Update(1000, 1000, 1000);
  p.Finish();
  EXPECT_EQ(CountLines(out.str()), 4);
  EXPECT_NE(out.str().find("import: 100% 1000 records"), std::string::npos);
}

TEST(ProgressTest, ShortTaskPrintsNothingWithoutATerminal) {
  base::ManualClock clock;
  std::ostringstream out;
  ProgressDisplay p(out, {.label = "export"}, clock);
  p.Update(10, 10, 10);
  p.Finish();
  EXPECT_EQ(out.str(), "");
}

TEST(ProgressTest, TerminalBarRedrawsAtMostTenTimesASecond) {
  base::ManualClock clock;
  std::ostringstream out;
  ProgressDisplay p(
      out,
      {.label = "import", .unit = ProgressDisplay::Unit::kBytes, .tty = true},
      clock);
  for (int i = 1; i <= 100; ++i) {
    clock.Advance(milliseconds(10));
    p.Update(i * 1024, 100 * 1024, i);
  }
  p.Finish();
  const std::string s = out.str();
  int draws = static_cast<int>(std::count(s.begin(), s.end(), '\r'));
  EXPECT_LE(draws, 12);  // 1 s of updates: ~10 redraws and the final one
  EXPECT_GE(draws, 2);
  EXPECT_NE(s.find("100% 100.0 KiB/100.0 KiB"), std::string::npos) << s;
  EXPECT_EQ(s.back(), '\n');
}

}  // namespace
}  // namespace posta::node::cli
