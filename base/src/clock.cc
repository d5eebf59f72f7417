#include "posta/base/clock.h"

namespace posta::base {

namespace {
class RealClock final : public Clock {
 public:
  int64_t WallNowMillis() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point MonotonicNow() override {
    return std::chrono::steady_clock::now();
  }
};
}  // namespace

Clock& SystemClock() {
  static RealClock* clock = new RealClock();  // never destroyed
  return *clock;
}

int64_t ManualClock::WallNowMillis() {
  std::lock_guard lock(mu_);
  return wall_millis_;
}

std::chrono::steady_clock::time_point ManualClock::MonotonicNow() {
  std::lock_guard lock(mu_);
  return std::chrono::steady_clock::time_point(mono_);
}

void ManualClock::Advance(std::chrono::milliseconds d) {
  std::lock_guard lock(mu_);
  wall_millis_ += d.count();
  mono_ += d;
}

void ManualClock::SetWall(int64_t wall_millis) {
  std::lock_guard lock(mu_);
  wall_millis_ = wall_millis;
}

}  // namespace posta::base
