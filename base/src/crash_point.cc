#include "posta/base/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace posta::base::internal {
namespace {

struct CrashTarget {
  size_t index = kCrashPoints.size();  // none
  long hit = 1;
};

// POSTA_CRASH_AT, parsed once. An unknown name or a bad count is reported on
// stderr and ignored: a typo in a test must not pass silently as "no crash",
// but the test sees the message and the run that never died.
CrashTarget ParseTarget() {
  CrashTarget target;
  const char* env = std::getenv("POSTA_CRASH_AT");
  if (env == nullptr || *env == '\0') return target;
  std::string_view spec(env);
  std::string_view name = spec;
  long hit = 1;
  if (size_t colon = spec.rfind(':'); colon != std::string_view::npos) {
    name = spec.substr(0, colon);
    const std::string count(spec.substr(colon + 1));
    char* end = nullptr;
    hit = std::strtol(count.c_str(), &end, 10);
    if (count.empty() || *end != '\0' || hit < 1) {
      std::fprintf(stderr, "POSTA_CRASH_AT=%s: bad hit count\n", env);
      return target;
    }
  }
  for (size_t i = 0; i < kCrashPoints.size(); ++i) {
    if (kCrashPoints[i].name == name) {
      target.index = i;
      target.hit = hit;
      return target;
    }
  }
  std::fprintf(stderr, "POSTA_CRASH_AT=%s: no such crash point\n", env);
  return target;
}

std::atomic<long> hits[kCrashPoints.size()];

std::atomic<CrashPointHandler> handler{nullptr};

}  // namespace

void CrashPointHit(size_t index) {
  if (CrashPointHandler h = handler.load(); h != nullptr) {
    h(index);  // may throw: an in-process crash (tests/sim)
    return;
  }
  static const CrashTarget target = ParseTarget();
  if (index != target.index) return;
  if (hits[index].fetch_add(1) + 1 != target.hit) return;
  // Only async-signal-safe calls from here: the process dies as a power cut
  // would leave it.
  static constexpr char kMsg[] = "posta: crash point hit, SIGKILL\n";
  (void)!::write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
  ::raise(SIGKILL);
  ::_exit(137);  // not reached
}

}  // namespace posta::base::internal

namespace posta::base {

void SetCrashPointHandler(CrashPointHandler h) { internal::handler.store(h); }

}  // namespace posta::base
