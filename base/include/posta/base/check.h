// POSTA_CHECK aborts on a broken internal invariant: a bug, never bad input.
// Outside input gets a Status (InvalidArgument, Malformed, Corruption) instead.
#pragma once

namespace posta::internal {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line);
}  // namespace posta::internal

#define POSTA_CHECK(cond)                                          \
  do {                                                             \
    if (!(cond)) ::posta::internal::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (0)
