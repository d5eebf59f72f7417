// Randomness is injected so tests and simulations are reproducible by seed.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

namespace posta::base {

// Threading: safe from any thread.
class Random {
 public:
  // Seeded from the OS entropy source.
  Random();
  explicit Random(uint64_t seed);

  uint64_t Next();
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t Uniform(uint64_t n);
  // A random (version 4) UUID in canonical lowercase text form.
  std::string NewUuid();
  // A time-ordered (version 7, RFC 9562) UUID: the first 48 bits are
  // `unix_ms` (a time before 1970 counts as 1970), the rest random. Ids
  // minted one after another sort in about the order they were minted, so
  // an index keyed by them grows at its end instead of at random places.
  std::string NewTimeOrderedUuid(int64_t unix_ms);
  // `n` random lowercase hex characters.
  std::string Hex(size_t n);

 private:
  std::mutex mu_;
  std::mt19937_64 gen_;
};

// True when `s` is a canonical lowercase or uppercase UUID text
// (8-4-4-4-12 hex digits).
bool IsUuid(const std::string& s);

// True when every character of `s` is a lowercase hex digit, as Hex and
// SHA-256 texts are written (true for "").
bool IsLowerHex(std::string_view s);

}  // namespace posta::base
