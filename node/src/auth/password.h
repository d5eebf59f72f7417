// Password hashing for local users: scrypt (OpenSSL's EVP_PBE_scrypt) with a
// random 16-byte salt, stored as one self-describing string
//   scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>
// so a hash made with other cost parameters still verifies with the ones it
// was made with.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "posta/base/status.h"

namespace posta::node::auth {

struct ScryptParams {
  uint64_t n = uint64_t{1} << 15;  // CPU/memory cost, a power of two
  uint64_t r = 8;                  // block size
  uint64_t p = 1;                  // parallelism
};

// What new hashes use: N=2^15, r=8, p=1 (32 MiB, about 0.1 s on a small
// box; docs/cli.md gives the figures measured).
inline constexpr ScryptParams kDefaultScrypt{};
// Cheap parameters for tests only: a hash made with them is as valid as
// any other, just fast to guess. Never used by the product.
inline constexpr ScryptParams kTestOnlyScrypt{uint64_t{1} << 4, 1, 1};

// Passwords shorter than this are refused by the CLI.
inline constexpr size_t kMinPasswordBytes = 8;
// Longer ones are refused too (scrypt takes any length; this bounds work).
inline constexpr size_t kMaxPasswordBytes = 1024;

// A new hash string of `password`. InvalidArgument when the parameters are
// out of the accepted range (N a power of two in [2, 2^20], r in [1, 32],
// p in [1, 16]); Internal when OpenSSL fails.
Result<std::string> HashPassword(std::string_view password,
                                 const ScryptParams& params = kDefaultScrypt);

// True when `password` matches `stored`, using the parameters and salt
// recorded in `stored`; false for a wrong password. Malformed when `stored`
// is not a hash string this code makes (or its parameters are out of
// range). The comparison is constant-time.
Result<bool> VerifyPassword(std::string_view password, std::string_view stored);

// The parameters recorded in a hash string; Malformed as VerifyPassword.
Result<ScryptParams> StoredParams(std::string_view stored);

}  // namespace posta::node::auth
