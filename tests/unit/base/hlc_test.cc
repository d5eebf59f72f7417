#include "posta/base/hlc.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace posta::base {
namespace {

constexpr int64_t kNov2026 = 1795392000000;  // 2026-11-23T00:00:00Z

TEST(HlcStampTest, TextRoundTripsAndSortsLikeStamps) {
  HlcStamp a{kNov2026, 3, "node-a"};
  ASSERT_OK_AND_ASSIGN(HlcStamp b, HlcStamp::Parse(a.ToString()));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.ToString(), "1795392000000.0003.node-a");
  HlcStamp later{kNov2026, 10, "node-a"};
  EXPECT_LT(a, later);
  EXPECT_LT(a.ToString(), later.ToString());
}

TEST(HlcStampTest, ParseRejectsGarbage) {
  for (const char* bad : {"", "1.2", "x.1.n", "1.x.n", "1.1.", "1.1.N!",
                          "-5.1.n", "99999999999999999999.1.n"}) {
    EXPECT_FALSE(HlcStamp::Parse(bad).ok()) << bad;
  }
}

TEST(HlcStampTest, TiesBrokenByNode) {
  EXPECT_LT((HlcStamp{5, 1, "a"}), (HlcStamp{5, 1, "b"}));
  EXPECT_LT((HlcStamp{5, 1, "z"}), (HlcStamp{5, 2, "a"}));
}

TEST(HybridLogicalClockTest, FollowsWallClockWhenItMovesForward) {
  ManualClock clock(kNov2026);
  HybridLogicalClock hlc(clock, "n1");
  HlcStamp s1 = hlc.Now();
  EXPECT_EQ(s1.wall_ms, kNov2026);
  EXPECT_EQ(s1.counter, 0u);
  clock.Advance(std::chrono::milliseconds(5));
  HlcStamp s2 = hlc.Now();
  EXPECT_EQ(s2.wall_ms, kNov2026 + 5);
  EXPECT_LT(s1, s2);
}

TEST(HybridLogicalClockTest, NeverGoesBackwardsWhenWallClockDoes) {
  ManualClock clock(kNov2026);
  HybridLogicalClock hlc(clock, "n1");
  HlcStamp before = hlc.Now();
  clock.SetWall(0);  // the board rebooted into 1970
  HlcStamp after = hlc.Now();
  EXPECT_LT(before, after);
  EXPECT_EQ(after.wall_ms, kNov2026);
  EXPECT_EQ(after.counter, before.counter + 1);
}

TEST(HybridLogicalClockTest, ResumesAfterPersistedStampAcrossRestart) {
  ManualClock clock(0);  // no real-time clock: 1970 at boot
  HlcStamp persisted{kNov2026, 7, "n1"};
  HybridLogicalClock hlc(clock, "n1", persisted);
  EXPECT_TRUE(hlc.wall_clock_was_behind());
  HlcStamp next = hlc.Now();
  EXPECT_GT(next, persisted);
}

TEST(HybridLogicalClockTest, ObservedStampsOrderLaterLocalStamps) {
  ManualClock clock(kNov2026);
  HybridLogicalClock hlc(clock, "n1");
  HlcStamp remote{kNov2026 + 1000, 4, "n2"};
  hlc.Observe(remote);
  HlcStamp local = hlc.Now();
  EXPECT_GT(local, remote);
}

TEST(HybridLogicalClockTest, CounterOverflowCarriesIntoWall) {
  ManualClock clock(10);
  HybridLogicalClock hlc(clock, "n1", HlcStamp{10, UINT32_MAX, "n1"});
  HlcStamp s = hlc.Now();
  EXPECT_EQ(s.wall_ms, 11);
  EXPECT_EQ(s.counter, 0u);
}

TEST(HybridLogicalClockTest, ManyStampsStrictlyIncrease) {
  ManualClock clock(kNov2026);
  HybridLogicalClock hlc(clock, "n1");
  HlcStamp prev = hlc.Now();
  for (int i = 0; i < 10000; ++i) {
    if (i % 7 == 0) clock.SetWall(kNov2026 - i);  // jitter backwards
    if (i % 11 == 0) clock.Advance(std::chrono::milliseconds(3));
    HlcStamp s = hlc.Now();
    ASSERT_LT(prev, s) << i;
    prev = s;
  }
}

}  // namespace
}  // namespace posta::base
