// FloorClock: the wall clock, never behind a floor. The sync client and the
// sync bundle import judge "too far in the future" with it, so a board that
// booted in 1970 measures the hub's stamps against the hub's clock (from
// the handshake, or the time a bundle was written) instead of its own.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "posta/base/clock.h"

namespace posta::sync {

// The wall clock, but never behind a floor: a board that booted in 1970
// judges "too far in the future" against the hub's clock instead.
class FloorClock final : public base::Clock {
 public:
  FloorClock(base::Clock& inner, int64_t floor_ms)
      : inner_(inner),
        floor_ms_(floor_ms),
        floor_set_at_(inner.MonotonicNow()) {}
  int64_t WallNowMillis() override {
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        inner_.MonotonicNow() - floor_set_at_);
    return std::max(inner_.WallNowMillis(), floor_ms_ + elapsed.count());
  }
  std::chrono::steady_clock::time_point MonotonicNow() override {
    return inner_.MonotonicNow();
  }

 private:
  base::Clock& inner_;
  const int64_t floor_ms_;
  const std::chrono::steady_clock::time_point floor_set_at_;
};

}  // namespace posta::sync
