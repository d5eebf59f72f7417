// Local user accounts and their login sessions. The store keeps a password
// hash string it never interprets (node/src/auth makes and checks it) and
// only the SHA-256 of each session token. docs/storage-format.md describes
// the tables.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace posta::storage {

struct UserEntry {
  std::string name;           // 1..64 of [a-z0-9._-], starting with a letter
  std::string role;           // "registrar", "clinician", "admin", ...
  std::string password_hash;  // self-describing, e.g. "scrypt$N$r$p$..."
  std::string region;         // a coordinator's region; "" otherwise
  bool disabled = false;
  int64_t created_ms = 0;
  int64_t changed_ms = 0;  // last change of password, role or state
};

struct SessionEntry {
  std::string token_hash;  // SHA-256 (hex) of the bearer token
  std::string user;        // a UserEntry name
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // absolute end, whatever the use
  int64_t last_used_ms = 0;
};

// True for a user name the store accepts: 1 to 64 of a-z 0-9 . _ -,
// starting with a letter.
bool IsValidUserName(std::string_view name);

}  // namespace posta::storage
