// Logins and sessions of local users. A login checks the password and
// issues a random bearer token; only its SHA-256 is stored. A session ends
// when unused for `idle`, `absolute` after login, at logout, or when its
// user is disabled or changes password.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include "auth/password.h"
#include "auth/roles.h"
#include "posta/base/clock.h"
#include "posta/base/status.h"
#include "posta/storage/record_store.h"

namespace posta::node::auth {

// Who must log in, once "auto" is resolved against the listen address.
enum class AuthMode {
  kOpen,      // nobody (loopback with "auto"): today's open API
  kRequired,  // every request but /health, /auth/login and /sync/v1
  kWrites,    // writes only (loopback only)
};

// "auto" → kOpen on loopback, kRequired otherwise; "required", "writes".
// InvalidArgument for another word.
Result<AuthMode> ResolveAuthMode(std::string_view setting,
                                 std::string_view listen_host);
std::string_view AuthModeName(AuthMode mode);

struct AuthOptions {
  AuthMode mode = AuthMode::kOpen;
  std::chrono::milliseconds idle{12 * 3600 * 1000};
  std::chrono::milliseconds absolute{7 * 24 * 3600 * 1000};
  // The cost of the stand-in hash computed for unknown users, so that a
  // login takes the same work whether or not the name exists. Should match
  // what `posta user add` uses.
  ScryptParams stand_in = kDefaultScrypt;
};

// The message of every refused login, whatever the reason.
inline constexpr std::string_view kBadLogin = "wrong user name or password";

struct LoginOutcome {
  std::string token;  // give it back as Authorization: Bearer <token>
  storage::SessionEntry session;
  Principal principal;
};

// Threading: safe from any thread.
class Authenticator {
 public:
  // `store` and `clock` are not owned and must outlive this.
  Authenticator(storage::RecordStore& store, base::Clock& clock,
                const AuthOptions& options);

  const AuthOptions& options() const { return options_; }

  // Checks the password and starts a session. Every refusal (unknown
  // user, wrong password, disabled user) is PermissionDenied with the same
  // message (kBadLogin) after exactly one password hash; other failures are
  // the store's.
  Result<LoginOutcome> Login(std::string_view user, std::string_view password);

  // The user of a live session; NotFound (saying why: unknown, expired,
  // user disabled) otherwise. An expired session is removed. Refreshes the
  // session's last use (at most once a minute, to spare the disk).
  Result<Principal> Authenticate(std::string_view token);
  // The session behind `token` as stored, after Authenticate accepted it.
  Result<storage::SessionEntry> SessionOf(std::string_view token);

  // Ends the session; NotFound when there is none.
  Status Logout(std::string_view token);

  // Password hashes computed so far (for tests: every login costs one).
  int64_t hashes_computed() const { return hashes_.load(); }

 private:
  Result<bool> Verify(std::string_view password, std::string_view stored);

  storage::RecordStore& store_;
  base::Clock& clock_;
  const AuthOptions options_;
  std::atomic<int64_t> hashes_{0};
  std::once_flag stand_in_once_;
  Result<std::string> stand_in_ = Status::Internal("stand-in hash", "unset");
};

}  // namespace posta::node::auth
