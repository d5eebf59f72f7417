// The figures every kill -9 test prints, in one format, so that
// tests/soak/kill.sh can collect them from any of the loops:
//
//   kill -9 figures [<loop>]: cycles N, acknowledged writes N, lost N,
//   duplicated N, integrity failures N
//
// (on one line). lost, duplicated and integrity failures must be 0. Also
// the reading of the counts the loops take from the environment.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace posta::testing {

struct KillFigures {
  int64_t cycles = 0;
  int64_t acknowledged = 0;  // writes (or records) the system acknowledged
  int64_t lost = 0;          // acknowledged but missing afterwards
  int64_t duplicated = 0;    // one version applied more than once
  int64_t integrity_failures = 0;  // integrity_check, audit verify
};

inline void PrintKillFigures(const std::string& loop, const KillFigures& f) {
  std::printf(
      "kill -9 figures [%s]: cycles %lld, acknowledged writes %lld, lost "
      "%lld, duplicated %lld, integrity failures %lld\n",
      loop.c_str(), static_cast<long long>(f.cycles),
      static_cast<long long>(f.acknowledged), static_cast<long long>(f.lost),
      static_cast<long long>(f.duplicated),
      static_cast<long long>(f.integrity_failures));
  std::fflush(stdout);
}

// The count in environment variable `name` (at least 1), `fallback` when it
// is unset or empty: cycles, checks, seeds of a kill loop.
inline int64_t EnvCount(const char* name, int64_t fallback) {
  const char* env = std::getenv(name);
  if (env == nullptr || *env == '\0') return fallback;
  const int64_t n = std::atoll(env);
  return n < 1 ? 1 : n;
}

}  // namespace posta::testing
