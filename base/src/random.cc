#include "posta/base/random.h"

#include <algorithm>

#include "posta/base/check.h"

namespace posta::base {

Random::Random() {
  std::random_device rd;
  std::seed_seq seq{rd(), rd(), rd(), rd()};
  gen_.seed(seq);
}

Random::Random(uint64_t seed) : gen_(seed) {}

uint64_t Random::Next() {
  std::lock_guard lock(mu_);
  return gen_();
}

uint64_t Random::Uniform(uint64_t n) {
  POSTA_CHECK(n > 0);
  std::lock_guard lock(mu_);
  return std::uniform_int_distribution<uint64_t>(0, n - 1)(gen_);
}

std::string Random::Hex(size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n);
  uint64_t bits = 0;
  int left = 0;
  for (size_t i = 0; i < n; ++i) {
    if (left == 0) {
      bits = Next();
      left = 16;
    }
    out.push_back(kDigits[bits & 0xf]);
    bits >>= 4;
    --left;
  }
  return out;
}

namespace {

// 32 hex digits as a UUID of `version`, with the RFC 9562 variant.
std::string UuidText(std::string h, char version) {
  h[12] = version;
  h[16] = "89ab"[static_cast<unsigned char>(h[16]) % 4];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" +
         h.substr(16, 4) + "-" + h.substr(20, 12);
}

}  // namespace

std::string Random::NewUuid() { return UuidText(Hex(32), '4'); }

std::string Random::NewTimeOrderedUuid(int64_t unix_ms) {
  static const char kDigits[] = "0123456789abcdef";
  const uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(unix_ms, 0));
  std::string h = Hex(32);
  for (int i = 0; i < 12; ++i) h[i] = kDigits[(ms >> (44 - 4 * i)) & 0xf];
  return UuidText(std::move(h), '7');
}

bool IsUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                 (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace posta::base
