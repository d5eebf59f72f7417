// Named crash points: places where a test build can be told to die at once,
// as a power cut or `kill -9` would, to prove that a restart loses and
// duplicates nothing.
//
//   POSTA_CRASH_POINT("sync.client.after_push_ack");
//
// Built only when CMake's POSTA_CRASH_POINTS option is on (scripts/test.sh
// turns it on; packages leave it off); otherwise the macro is nothing at
// all. In a test build the process kills itself with SIGKILL — no flush, no
// destructors, no atexit — when the environment variable
//
//   POSTA_CRASH_AT=<name>[:<n>]
//
// names the point, on its n-th hit in this process (default: the first).
// The variable is read once, at the first crash point reached. A name that
// is not in kCrashPoints does not compile, so the table below is the whole
// list a test can iterate (tests/fault/crash_point_test.cc does).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <type_traits>

namespace posta::base {

struct CrashPointInfo {
  std::string_view name;
  // Where it sits, for people reading a failed run.
  std::string_view where;
};

// Every crash point, in the order a sync meets them. See
// docs/sync-protocol.md ("Crash points").
inline constexpr std::array<CrashPointInfo, 12> kCrashPoints{{
    {"sync.client.before_hello", "clinic, before the handshake is sent"},
    {"sync.client.after_hello", "clinic, handshake answered, before push"},
    {"sync.client.before_push", "clinic, push batch read, before it is sent"},
    {"sync.client.after_push_ack",
     "clinic, hub acknowledged a push, before the ack is recorded"},
    {"sync.client.after_push_recorded",
     "clinic, push ack recorded, before the next batch"},
    {"sync.client.before_pull_apply",
     "clinic, pulled batch decoded, before it and its cursor are stored"},
    {"sync.client.after_pull_apply",
     "clinic, pulled batch and cursor committed, before the next pull"},
    {"sync.hub.push_decoded", "hub, push decoded and checked, before apply"},
    {"sync.hub.push_committed", "hub, push committed, before the ack is sent"},
    {"sync.hub.pull_acked",
     "hub, clinic's acked_seq recorded, before the pull is read"},
    {"sync.hub.pull_before_reply", "hub, pull batch read, before it is sent"},
    {"storage.apply.before_cursor",
     "store, peer changes applied inside the transaction, before the peer "
     "cursor is written and the transaction commits"},
}};

// The index of `name` in kCrashPoints; not a constant expression (so not
// compiled) when the name is missing.
consteval size_t CrashPointIndex(std::string_view name) {
  for (size_t i = 0; i < kCrashPoints.size(); ++i) {
    if (kCrashPoints[i].name == name) return i;
  }
  throw "unknown crash point: add it to kCrashPoints";
}

namespace internal {
// Counts a hit of point `index` and kills the process when POSTA_CRASH_AT
// names it and this is the chosen hit. Thread-safe.
void CrashPointHit(size_t index);
}  // namespace internal

// In-process crashes, for a simulation that runs a hub and its clinics in
// one process (tests/sim): instead of SIGKILL, a hit calls the installed
// handler, which may throw to unwind the "crashed" node's call stack; the
// caller then drops that node's objects and reopens it from its files. The
// exception must not derive from std::exception, so that no catch on the
// way (the hub's 500 path) swallows it; RAII transactions roll back as the
// stack unwinds, as a killed process's would. With a handler installed,
// POSTA_CRASH_AT is ignored. Only test builds call it (the macro is nothing
// without POSTA_CRASH_POINTS); `index` is the point's index in kCrashPoints.
// Pass nullptr to remove it. Not thread-safe against hits in flight:
// install before the nodes run.
using CrashPointHandler = void (*)(size_t index);
void SetCrashPointHandler(CrashPointHandler handler);

// True when this build has crash points (POSTA_CRASH_POINTS).
constexpr bool kCrashPointsBuilt =
#ifdef POSTA_CRASH_POINTS
    true;
#else
    false;
#endif

}  // namespace posta::base

#ifdef POSTA_CRASH_POINTS
#define POSTA_CRASH_POINT(name)           \
  ::posta::base::internal::CrashPointHit( \
      std::integral_constant<size_t,      \
                             ::posta::base::CrashPointIndex(name)>::value)
#else
#define POSTA_CRASH_POINT(name) ((void)0)
#endif
