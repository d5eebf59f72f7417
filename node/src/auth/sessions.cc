#include "auth/sessions.h"

#include "config/config.h"
#include "posta/sync/credentials.h"

namespace posta::node::auth {
namespace {

// Last use is written at most this often, not on every request.
constexpr int64_t kTouchEveryMs = 60 * 1000;

}  // namespace

Result<AuthMode> ResolveAuthMode(std::string_view setting,
                                 std::string_view listen_host) {
  if (setting == "auto") {
    return IsLoopbackHost(listen_host) ? AuthMode::kOpen : AuthMode::kRequired;
  }
  if (setting == "required") return AuthMode::kRequired;
  if (setting == "writes") return AuthMode::kWrites;
  return Status::InvalidArgument(
      "[http] auth \"" + std::string(setting.substr(0, 32)) + "\"",
      "use auto, required or writes");
}

std::string_view AuthModeName(AuthMode mode) {
  switch (mode) {
    case AuthMode::kOpen:
      return "open";
    case AuthMode::kRequired:
      return "required";
    case AuthMode::kWrites:
      return "writes";
  }
  return "open";
}

Authenticator::Authenticator(storage::RecordStore& store, base::Clock& clock,
                             const AuthOptions& options)
    : store_(store), clock_(clock), options_(options) {}

Result<bool> Authenticator::Verify(std::string_view password,
                                   std::string_view stored) {
  hashes_.fetch_add(1);
  return VerifyPassword(password, stored);
}

Result<LoginOutcome> Authenticator::Login(std::string_view user,
                                          std::string_view password) {
  // Made on first use, not at start: it costs as much as a login.
  std::call_once(stand_in_once_, [&] {
    stand_in_ = HashPassword("posta stand-in password", options_.stand_in);
  });
  const Status refused = Status::PermissionDenied("login", kBadLogin);
  if (password.size() > kMaxPasswordBytes) {
    // Same work as any other refusal.
    POSTA_RETURN_IF_ERROR(stand_in_.status());
    POSTA_RETURN_IF_ERROR(Verify("", *stand_in_).status());
    return refused;
  }
  Result<storage::UserEntry> found =
      storage::IsValidUserName(user)
          ? store_.GetUser(std::string(user))
          : Result<storage::UserEntry>(Status::NotFound("user"));
  if (!found.ok() && found.status().code() != Status::Code::kNotFound) {
    return found.status();
  }
  if (!found.ok()) {
    // An unknown name costs one hash too, so timing does not tell names.
    POSTA_RETURN_IF_ERROR(stand_in_.status());
    POSTA_RETURN_IF_ERROR(Verify(password, *stand_in_).status());
    return refused;
  }
  Result<bool> match = Verify(password, found->password_hash);
  if (!match.ok() && match.status().code() != Status::Code::kMalformed) {
    return match.status();
  }
  // A disabled user is refused like a wrong password, after the same work.
  if (!match.ok() || !*match || found->disabled) return refused;

  POSTA_ASSIGN_OR_RETURN(std::string token, sync::NewCredential());
  const int64_t now = clock_.WallNowMillis();
  LoginOutcome out;
  out.token = token;
  out.session.token_hash = sync::HashSecret(token);
  out.session.user = found->name;
  out.session.created_ms = now;
  out.session.expires_ms = now + options_.absolute.count();
  out.session.last_used_ms = now;
  POSTA_RETURN_IF_ERROR(store_.AddSession(out.session));
  out.principal = {found->name, found->role, found->region};
  return out;
}

Result<storage::SessionEntry> Authenticator::SessionOf(std::string_view token) {
  if (!sync::IsWellFormedCredential(token)) {
    return Status::NotFound("session", "not a token this node issued");
  }
  Result<storage::SessionEntry> session =
      store_.GetSession(sync::HashSecret(token));
  if (!session.ok() && session.status().code() == Status::Code::kNotFound) {
    return Status::NotFound("session", "unknown or ended; log in again");
  }
  return session;
}

Result<Principal> Authenticator::Authenticate(std::string_view token) {
  POSTA_ASSIGN_OR_RETURN(storage::SessionEntry session, SessionOf(token));
  const int64_t now = clock_.WallNowMillis();
  const bool too_old = now >= session.expires_ms;
  const bool idle = now - session.last_used_ms >= options_.idle.count();
  if (too_old || idle) {
    Status ended = store_.DeleteSession(session.token_hash);
    if (!ended.ok() && ended.code() != Status::Code::kNotFound) return ended;
    return Status::NotFound("session", too_old ? "expired; log in again"
                                               : "expired after being unused; "
                                                 "log in again");
  }
  Result<storage::UserEntry> user = store_.GetUser(session.user);
  if (!user.ok() && user.status().code() != Status::Code::kNotFound) {
    return user.status();
  }
  if (!user.ok() || user->disabled) {
    return Status::NotFound("session", "the user is disabled");
  }
  if (now - session.last_used_ms >= kTouchEveryMs) {
    Status touched = store_.TouchSession(session.token_hash, now);
    if (!touched.ok() && touched.code() != Status::Code::kNotFound) {
      return touched;
    }
  }
  return Principal{user->name, user->role, user->region};
}

Status Authenticator::Logout(std::string_view token) {
  POSTA_ASSIGN_OR_RETURN(storage::SessionEntry session, SessionOf(token));
  return store_.DeleteSession(session.token_hash);
}

}  // namespace posta::node::auth
