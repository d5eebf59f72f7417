#include "posta/sync/backoff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "posta/base/random.h"
#include "test_util.h"

namespace posta::sync {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

std::vector<int64_t> Take(Backoff& b, int n) {
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(b.Next().count());
  return out;
}

TEST(BackoffTest, GrowsByMultiplierWithoutJitter) {
  base::Random random(1);
  Backoff b({.initial = seconds(1),
             .max = minutes(5),
             .multiplier = 2.0,
             .jitter = 0.0},
            random);
  EXPECT_EQ(Take(b, 6),
            (std::vector<int64_t>{1000, 2000, 4000, 8000, 16000, 32000}));
  EXPECT_EQ(b.attempts(), 6);
}

TEST(BackoffTest, StopsAtMax) {
  base::Random random(1);
  Backoff b({.initial = seconds(1),
             .max = minutes(5),
             .multiplier = 2.0,
             .jitter = 0.0},
            random);
  std::vector<int64_t> got = Take(b, 12);
  // 1, 2, 4, ... 256 s, then the 300 s cap for good.
  EXPECT_EQ(got[8], 256000);
  EXPECT_EQ(got[9], 300000);
  EXPECT_EQ(got[10], 300000);
  EXPECT_EQ(got[11], 300000);
  // Far past the point where initial * 2^n would overflow.
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(b.Next(), minutes(5));
}

TEST(BackoffTest, FractionalMultiplier) {
  base::Random random(1);
  Backoff b({.initial = milliseconds(1000),
             .max = milliseconds(3000),
             .multiplier = 1.5,
             .jitter = 0.0},
            random);
  EXPECT_EQ(Take(b, 5), (std::vector<int64_t>{1000, 1500, 2250, 3000, 3000}));
}

TEST(BackoffTest, JitterIsExactForASeed) {
  // Each delay is d - Uniform(floor(d * jitter) + 1) from the same Random,
  // so a twin generator with the same seed predicts every value.
  base::Random random(42);
  base::Random twin(42);
  Backoff b({.initial = seconds(1),
             .max = minutes(5),
             .multiplier = 2.0,
             .jitter = 0.5},
            random);
  const int64_t base[] = {1000,  2000,   4000,   8000,   16000, 32000,
                          64000, 128000, 256000, 300000, 300000};
  for (int64_t d : base) {
    int64_t want = d - static_cast<int64_t>(twin.Uniform(d / 2 + 1));
    ASSERT_EQ(b.Next().count(), want) << "base delay " << d;
  }
}

TEST(BackoffTest, SameSeedSameDelays) {
  base::Random r1(7);
  base::Random r2(7);
  base::Random r3(8);
  BackoffPolicy policy;  // defaults: jitter 0.5
  Backoff a(policy, r1);
  Backoff b(policy, r2);
  Backoff c(policy, r3);
  std::vector<int64_t> va = Take(a, 20);
  EXPECT_EQ(va, Take(b, 20));
  EXPECT_NE(va, Take(c, 20));
}

TEST(BackoffTest, JitterStaysInRange) {
  base::Random random(3);
  Backoff b({.initial = seconds(10),
             .max = seconds(10),
             .multiplier = 2.0,
             .jitter = 0.25},
            random);
  int64_t lo = 1 << 30;
  int64_t hi = 0;
  for (int i = 0; i < 5000; ++i) {
    int64_t d = b.Next().count();
    ASSERT_GE(d, 7500);
    ASSERT_LE(d, 10000);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  // The draws cover the range rather than sitting at one end.
  EXPECT_LT(lo, 7600);
  EXPECT_GT(hi, 9900);
}

TEST(BackoffTest, FullJitterReachesZero) {
  base::Random random(5);
  Backoff b({.initial = milliseconds(4),
             .max = milliseconds(4),
             .multiplier = 1.0,
             .jitter = 1.0},
            random);
  bool saw_zero = false;
  for (int i = 0; i < 200; ++i) {
    int64_t d = b.Next().count();
    ASSERT_GE(d, 0);
    ASSERT_LE(d, 4);
    saw_zero = saw_zero || d == 0;
  }
  EXPECT_TRUE(saw_zero);
}

TEST(BackoffTest, ResetStartsOver) {
  base::Random random(1);
  Backoff b({.initial = seconds(1),
             .max = minutes(5),
             .multiplier = 3.0,
             .jitter = 0.0},
            random);
  EXPECT_EQ(Take(b, 3), (std::vector<int64_t>{1000, 3000, 9000}));
  EXPECT_EQ(b.attempts(), 3);
  b.Reset();
  EXPECT_EQ(b.attempts(), 0);
  EXPECT_EQ(Take(b, 2), (std::vector<int64_t>{1000, 3000}));
  EXPECT_EQ(b.attempts(), 2);
}

TEST(BackoffTest, ValidateRejectsBadPolicies) {
  EXPECT_OK(ValidateBackoffPolicy(BackoffPolicy{}));
  auto code = [](BackoffPolicy p) { return ValidateBackoffPolicy(p).code(); };
  const auto kBad = Status::Code::kInvalidArgument;
  EXPECT_EQ(code({.initial = milliseconds(0)}), kBad);
  EXPECT_EQ(code({.initial = seconds(10), .max = seconds(5)}), kBad);
  EXPECT_EQ(code({.multiplier = 0.5}), kBad);
  EXPECT_EQ(code({.jitter = -0.1}), kBad);
  EXPECT_EQ(code({.jitter = 1.5}), kBad);
  EXPECT_EQ(code({.jitter = std::nan("")}), kBad);
}

}  // namespace
}  // namespace posta::sync
