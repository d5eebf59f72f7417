// Backoff: how long the sync client waits before retrying after a retryable
// error. It owns no timer and never sleeps (mosh's "how long until you need
// me"); the scheduler asks for the next delay and arms its own timer.
#pragma once

#include <chrono>

#include "posta/base/random.h"
#include "posta/base/status.h"

namespace posta::sync {

struct BackoffPolicy {
  // Delay before the first retry, before jitter. Default: 1 s.
  std::chrono::milliseconds initial{std::chrono::seconds(1)};
  // Ceiling on any delay. Default: 5 min.
  std::chrono::milliseconds max{std::chrono::minutes(5)};
  // Each delay is the previous one times this, up to `max`. Default: 2.
  double multiplier = 2.0;
  // Fraction of each delay that is random: a delay d is drawn uniformly
  // from [d * (1 - jitter), d], whole milliseconds. 0 is no jitter; 1 is
  // "full jitter" over [0, d]. Jitter keeps clinics that lost the hub
  // together from all coming back in the same second. Default: 0.5.
  double jitter = 0.5;
};

// OK, or InvalidArgument naming the first field that breaks a rule:
// initial > 0, max >= initial, multiplier >= 1, 0 <= jitter <= 1.
Status ValidateBackoffPolicy(const BackoffPolicy& policy);

// Delays for successive retries of one operation:
//   attempt 0: initial, attempt n: min(max, initial * multiplier^n),
// each then jittered as BackoffPolicy::jitter says. The sequence is a pure
// function of the policy and the values drawn from `random`, so a seeded
// Random gives the same delays on every run.
//
// Threading: not thread-safe; one owner (the sync scheduler).
class Backoff {
 public:
  // REQUIRES: ValidateBackoffPolicy(policy).ok().
  // `random` is not owned and must outlive the Backoff.
  Backoff(BackoffPolicy policy, base::Random& random);

  // The delay before the next retry; counts one attempt. Draws one value
  // from `random` (Uniform) when the delay's jitter span is at least 1 ms.
  std::chrono::milliseconds Next();

  // Back to the initial delay, e.g. after a successful sync.
  void Reset();

  // Calls to Next() since construction or the last Reset().
  int attempts() const { return attempts_; }

 private:
  BackoffPolicy policy_;
  base::Random& random_;
  double base_ms_;  // un-jittered delay Next() returns next
  int attempts_ = 0;
};

}  // namespace posta::sync
