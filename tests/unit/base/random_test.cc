#include "posta/base/random.h"

#include <gtest/gtest.h>

#include <set>

namespace posta::base {
namespace {

TEST(RandomTest, SeededIsReproducible) {
  Random a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.Next(), b.Next());
}

TEST(RandomTest, UuidsAreVersion4AndDistinct) {
  Random r(7);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = r.NewUuid();
    ASSERT_TRUE(IsUuid(u)) << u;
    EXPECT_EQ(u[14], '4') << u;
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(RandomTest, TimeOrderedUuidsCarryTheirMillisecond) {
  Random r(7);
  // 2026-11-24T00:00:00.123Z is 0x01a20ada2c7b ms.
  std::string u = r.NewTimeOrderedUuid(1795478400123);
  ASSERT_TRUE(IsUuid(u)) << u;
  EXPECT_EQ(u.substr(0, 13), "01a20ada-2c7b") << u;
  EXPECT_EQ(u[14], '7') << u;
  EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
  // A board whose clock reads before 1970 mints ids of 1970.
  EXPECT_EQ(r.NewTimeOrderedUuid(-5).substr(0, 13), "00000000-0000");
  // Within one millisecond the ids differ; across milliseconds they sort.
  std::set<std::string> seen;
  std::string last;
  for (int64_t ms = 0; ms < 1000; ++ms) {
    std::string a = r.NewTimeOrderedUuid(1795478400000 + ms / 2);
    EXPECT_TRUE(seen.insert(a).second) << a;
    if (ms % 2 == 0) {
      EXPECT_LT(last, a);
      last = a;
    }
  }
}

TEST(RandomTest, IsUuidRejectsNearMisses) {
  EXPECT_FALSE(IsUuid(""));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400"));
  EXPECT_FALSE(IsUuid("123e4567xe89b-12d3-a456-426614174000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400g"));
  EXPECT_TRUE(IsUuid("123e4567-e89b-12d3-a456-426614174000"));
}

TEST(RandomTest, IsLowerHexTakesOnlyLowercaseDigits) {
  Random random(3);
  EXPECT_TRUE(IsLowerHex(random.Hex(64)));
  EXPECT_TRUE(IsLowerHex("0123456789abcdef"));
  EXPECT_TRUE(IsLowerHex(""));
  EXPECT_FALSE(IsLowerHex("ABCDEF"));
  EXPECT_FALSE(IsLowerHex("abcdeg"));
  EXPECT_FALSE(IsLowerHex("12 34"));
}

}  // namespace
}  // namespace posta::base
