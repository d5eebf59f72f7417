#include "posta/sync/backoff.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "posta/base/check.h"

namespace posta::sync {

Status ValidateBackoffPolicy(const BackoffPolicy& p) {
  if (p.initial.count() <= 0) {
    return Status::InvalidArgument("backoff initial", "must be positive");
  }
  if (p.max < p.initial) {
    return Status::InvalidArgument("backoff max", "must be at least initial");
  }
  // Written so that NaN fails too.
  if (!(p.multiplier >= 1.0)) {
    return Status::InvalidArgument("backoff multiplier", "must be at least 1");
  }
  if (!(p.jitter >= 0.0 && p.jitter <= 1.0)) {
    return Status::InvalidArgument("backoff jitter", "must be in [0, 1]");
  }
  return Status::Ok();
}

Backoff::Backoff(BackoffPolicy policy, base::Random& random)
    : policy_(policy),
      random_(random),
      base_ms_(static_cast<double>(policy.initial.count())) {
  POSTA_CHECK(ValidateBackoffPolicy(policy_).ok());
}

std::chrono::milliseconds Backoff::Next() {
  const auto max_ms = static_cast<double>(policy_.max.count());
  const auto d = static_cast<int64_t>(std::min(base_ms_, max_ms));
  // Growth stops at the cap, so base_ms_ can never overflow.
  base_ms_ = std::min(base_ms_ * policy_.multiplier, max_ms);
  ++attempts_;

  int64_t spread = 0;
  if (policy_.jitter > 0) {
    spread = static_cast<int64_t>(
        std::floor(static_cast<double>(d) * policy_.jitter));
  }
  if (spread == 0) return std::chrono::milliseconds(d);
  const auto cut =
      static_cast<int64_t>(random_.Uniform(static_cast<uint64_t>(spread) + 1));
  return std::chrono::milliseconds(d - cut);
}

void Backoff::Reset() {
  base_ms_ = static_cast<double>(policy_.initial.count());
  attempts_ = 0;
}

}  // namespace posta::sync
