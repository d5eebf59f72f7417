#include "posta/sync/credentials.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>

#include "posta/base/check.h"
#include "posta/base/random.h"

namespace posta::sync {
namespace {

constexpr char kHex[] = "0123456789abcdef";
// Crockford's base32: digits and letters without I, L, O, U.
constexpr std::string_view kBase32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr size_t kCodeDigits = 20;  // 100 bits

template <size_t N>
Status RandomBytes(std::array<unsigned char, N>& out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return Status::Internal("RAND_bytes", "the random generator failed");
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> NewCredential() {
  std::array<unsigned char, 32> bytes;
  POSTA_RETURN_IF_ERROR(RandomBytes(bytes));
  std::string out;
  out.reserve(64);
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool IsWellFormedCredential(std::string_view credential) {
  return credential.size() == 64 && base::IsLowerHex(credential);
}

Result<std::string> NewEnrollmentCode() {
  // 13 bytes = 104 bits; the first 100 make 20 base32 digits.
  std::array<unsigned char, 13> bytes;
  POSTA_RETURN_IF_ERROR(RandomBytes(bytes));
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t digits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5 && digits < kCodeDigits) {
      bits -= 5;
      if (digits > 0 && digits % 4 == 0) out += '-';
      out += kBase32[(acc >> bits) & 31];
      ++digits;
    }
  }
  return out;
}

Result<std::string> NormalizeEnrollmentCode(std::string_view typed) {
  std::string out;
  for (char c : typed.substr(0, 200)) {
    if (c == '-' || c == ' ') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c == 'O') c = '0';
    if (c == 'I' || c == 'L') c = '1';
    if (kBase32.find(c) == std::string_view::npos) {
      const bool printable = c > ' ' && c < 127;
      return Status::InvalidArgument(
          "enrollment code",
          "has " +
              (printable ? "'" + std::string(1, c) + "'"
                         : std::string("a character")) +
              ", which no code contains; type it as the hub administrator "
              "gave it");
    }
    out += c;
  }
  if (out.size() != kCodeDigits) {
    return Status::InvalidArgument("enrollment code",
                                   "has " + std::to_string(out.size()) +
                                       " letters and digits; a code has " +
                                       std::to_string(kCodeDigits) +
                                       " (like 7KQ2-M9XD-C4TR-0HWB-E5NZ)");
  }
  return out;
}

std::string HashSecret(std::string_view secret) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  POSTA_CHECK(EVP_Digest(secret.data(), secret.size(), md, &n, EVP_sha256(),
                         nullptr) == 1);
  std::string out;
  out.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

bool SameHash(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace posta::sync
