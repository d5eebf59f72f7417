// Secrets of enrollment: the one-time enrollment code an administrator
// reads out to a technician, and the credential a node then presents on
// every sync request. Both come from OpenSSL's RAND_bytes; the hub keeps
// only their SHA-256 (storage/enrollment.h), and compares hashes in
// constant time.
#pragma once

#include <string>
#include <string_view>

#include "posta/base/status.h"

namespace posta::sync {

// A new credential: 256 random bits as 64 lowercase hex digits.
Result<std::string> NewCredential();

// True for 64 lowercase hex digits (what NewCredential makes).
bool IsWellFormedCredential(std::string_view credential);

// A new enrollment code: 100 random bits in Crockford base32 (no I, L, O,
// U), five groups of four: "7KQ2-M9XD-C4TR-0HWB-E5NZ". Meant to be typed.
Result<std::string> NewEnrollmentCode();

// The canonical form of a typed code: dashes and spaces dropped, upper
// case, and the look-alikes O→0, I and L→1 taken as Crockford does.
// InvalidArgument (saying what is wrong) unless 20 base32 digits remain.
Result<std::string> NormalizeEnrollmentCode(std::string_view typed);

// SHA-256 of `secret` as 64 lowercase hex digits.
std::string HashSecret(std::string_view secret);

// Constant-time equality of two hashes (CRYPTO_memcmp); false when their
// lengths differ.
bool SameHash(std::string_view a, std::string_view b);

}  // namespace posta::sync
