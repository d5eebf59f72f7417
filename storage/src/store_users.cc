// Local user accounts and login sessions (users.h). The password hash is
// stored as given; session tokens only as their SHA-256.
#include "posta/storage/record.h"
#include "posta/storage/users.h"
#include "sqlite_store.h"

namespace posta::storage {

bool IsValidUserName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (!(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace internal {
namespace {

constexpr std::string_view kUserColumns =
    "SELECT name, role, password_hash, region, disabled, created_ms, "
    "changed_ms FROM users";

UserEntry UserFromRow(const Statement& st) {
  UserEntry user;
  user.name = st.ColumnText(0);
  user.role = st.ColumnText(1);
  user.password_hash = st.ColumnText(2);
  user.region = st.ColumnText(3);
  user.disabled = st.ColumnInt(4) != 0;
  user.created_ms = st.ColumnInt(5);
  user.changed_ms = st.ColumnInt(6);
  return user;
}

Status NoSuchUser(const std::string& name) {
  return Status::NotFound("user " + name.substr(0, 64), "no such user");
}

// Ends every session of `name`; returns how many there were.
Result<int64_t> EndSessions(Connection& conn, const std::string& name) {
  POSTA_ASSIGN_OR_RETURN(Statement st,
                         conn.Prepare("DELETE FROM sessions WHERE user = ?1"));
  st.BindText(1, name);
  POSTA_RETURN_IF_ERROR(st.Run());
  return static_cast<int64_t>(sqlite3_changes(conn.db()));
}

}  // namespace

Status SqliteStore::AddUser(const UserEntry& user) {
  if (!IsValidUserName(user.name)) {
    return Status::InvalidArgument(
        "user name \"" + user.name.substr(0, 64) + "\"",
        "use 1 to 64 of a-z 0-9 . _ -, starting with a letter");
  }
  if (user.role.empty() || user.role.size() > 32) {
    return Status::InvalidArgument("user " + user.name + " role",
                                   "give 1 to 32 bytes");
  }
  if (user.password_hash.empty()) {
    return Status::InvalidArgument("user " + user.name + " password hash",
                                   "empty");
  }
  if (user.region.size() > 64) {
    return Status::InvalidArgument("user " + user.name + " region",
                                   "at most 64 bytes");
  }
  return InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(Statement find,
                           conn.Prepare("SELECT 1 FROM users WHERE name = ?1"));
    find.BindText(1, user.name);
    POSTA_ASSIGN_OR_RETURN(bool exists, find.Step());
    if (exists) {
      return Status::Conflict("user " + user.name, "already exists");
    }
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("INSERT INTO users (name, role, password_hash, region, "
                     "disabled, created_ms, changed_ms) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    st.BindText(1, user.name);
    st.BindText(2, user.role);
    st.BindText(3, user.password_hash);
    st.BindText(4, user.region);
    st.BindInt(5, user.disabled ? 1 : 0);
    st.BindInt(6, user.created_ms);
    st.BindInt(7, user.changed_ms);
    return st.Run();
  });
}

Result<UserEntry> SqliteStore::GetUser(const std::string& name) {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      lease.conn().Prepare(std::string(kUserColumns) + " WHERE name = ?1"));
  st.BindText(1, name);
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NoSuchUser(name);
  return UserFromRow(st);
}

Result<std::vector<UserEntry>> SqliteStore::ListUsers() {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      lease.conn().Prepare(std::string(kUserColumns) + " ORDER BY name"));
  std::vector<UserEntry> out;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(UserFromRow(st));
  }
  return out;
}

Status SqliteStore::SetUserPassword(const std::string& name,
                                    const std::string& password_hash,
                                    int64_t now_ms) {
  if (password_hash.empty()) {
    return Status::InvalidArgument("user " + name + " password hash", "empty");
  }
  return InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("UPDATE users SET password_hash = ?2, changed_ms = ?3 "
                     "WHERE name = ?1"));
    st.BindText(1, name);
    st.BindText(2, password_hash);
    st.BindInt(3, now_ms);
    POSTA_RETURN_IF_ERROR(st.Run());
    if (sqlite3_changes(conn.db()) == 0) return NoSuchUser(name);
    return EndSessions(conn, name).status();
  });
}

Result<int64_t> SqliteStore::DisableUser(const std::string& name,
                                         int64_t now_ms) {
  int64_t ended = 0;
  Status s = InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("UPDATE users SET disabled = 1, changed_ms = ?2 "
                     "WHERE name = ?1"));
    st.BindText(1, name);
    st.BindInt(2, now_ms);
    POSTA_RETURN_IF_ERROR(st.Run());
    if (sqlite3_changes(conn.db()) == 0) return NoSuchUser(name);
    POSTA_ASSIGN_OR_RETURN(ended, EndSessions(conn, name));
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return ended;
}

Status SqliteStore::AddSession(const SessionEntry& session) {
  return InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(Statement find,
                           conn.Prepare("SELECT 1 FROM users WHERE name = ?1"));
    find.BindText(1, session.user);
    POSTA_ASSIGN_OR_RETURN(bool exists, find.Step());
    if (!exists) return NoSuchUser(session.user);
    // Sessions past their absolute end can never be used again.
    POSTA_ASSIGN_OR_RETURN(
        Statement prune,
        conn.Prepare("DELETE FROM sessions WHERE expires_ms <= ?1"));
    prune.BindInt(1, session.created_ms);
    POSTA_RETURN_IF_ERROR(prune.Run());
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("INSERT INTO sessions (token_hash, user, created_ms, "
                     "expires_ms, last_used_ms) VALUES (?1, ?2, ?3, ?4, ?5)"));
    st.BindText(1, session.token_hash);
    st.BindText(2, session.user);
    st.BindInt(3, session.created_ms);
    st.BindInt(4, session.expires_ms);
    st.BindInt(5, session.last_used_ms);
    return st.Run();
  });
}

Result<SessionEntry> SqliteStore::GetSession(const std::string& token_hash) {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      lease.conn().Prepare("SELECT token_hash, user, created_ms, expires_ms, "
                           "last_used_ms FROM sessions WHERE token_hash = ?1"));
  st.BindText(1, token_hash);
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("session", "no such session");
  SessionEntry session;
  session.token_hash = st.ColumnText(0);
  session.user = st.ColumnText(1);
  session.created_ms = st.ColumnInt(2);
  session.expires_ms = st.ColumnInt(3);
  session.last_used_ms = st.ColumnInt(4);
  return session;
}

Status SqliteStore::TouchSession(const std::string& token_hash,
                                 int64_t now_ms) {
  return InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare(
            "UPDATE sessions SET last_used_ms = ?2 WHERE token_hash = ?1"));
    st.BindText(1, token_hash);
    st.BindInt(2, now_ms);
    POSTA_RETURN_IF_ERROR(st.Run());
    if (sqlite3_changes(conn.db()) == 0) {
      return Status::NotFound("session", "no such session");
    }
    return Status::Ok();
  });
}

Status SqliteStore::DeleteSession(const std::string& token_hash) {
  return InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("DELETE FROM sessions WHERE token_hash = ?1"));
    st.BindText(1, token_hash);
    POSTA_RETURN_IF_ERROR(st.Run());
    if (sqlite3_changes(conn.db()) == 0) {
      return Status::NotFound("session", "no such session");
    }
    return Status::Ok();
  });
}

}  // namespace internal
}  // namespace posta::storage
