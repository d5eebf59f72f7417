// Clocks are injected so tests can jump to 1970 or 2099 without sleeping.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace posta::base {

// Threading: implementations are safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch. May jump either way.
  virtual int64_t WallNowMillis() = 0;
  // A clock that never goes backwards, for timeouts and latency.
  virtual std::chrono::steady_clock::time_point MonotonicNow() = 0;
};

// The real clocks. Never destroyed; safe to share.
Clock& SystemClock();

// A clock that moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t wall_millis = 0) : wall_millis_(wall_millis) {}

  int64_t WallNowMillis() override;
  std::chrono::steady_clock::time_point MonotonicNow() override;

  // Moves both clocks forward by `d`.
  void Advance(std::chrono::milliseconds d);
  // Sets the wall clock only, forward or backward (a board booting in 1970,
  // an NTP correction). The monotonic clock is unaffected.
  void SetWall(int64_t wall_millis);

 private:
  std::mutex mu_;
  int64_t wall_millis_;
  std::chrono::steady_clock::duration mono_{};
};

}  // namespace posta::base
