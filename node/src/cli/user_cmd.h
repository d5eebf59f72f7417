// posta user add|list|disable|passwd: local user accounts of a node
// (docs/cli.md, "posta user"). Each opens the database beside a running
// `posta serve`. Kept apart from commands.h: cli.cc registers the
// subcommands with AddUserCommands and runs the one parsed.
#pragma once

#include <istream>
#include <memory>
#include <string>

#include "auth/password.h"
#include "cli/commands.h"

namespace CLI {
class App;
}

namespace posta::node::cli {

// Where a new password comes from: one line of `in` when `from_stdin`
// (--password-stdin); else the terminal, without echo, typed twice; with
// neither, an error saying to use --password-stdin.
struct PasswordSource {
  bool from_stdin = false;
};

struct UserAddOptions {
  std::string config_path;
  std::string name;
  std::string role;
  std::string region;  // coordinators: their region (optional)
  PasswordSource password;
  // The scrypt cost of the new hash. Tests lower it (auth::kTestOnlyScrypt);
  // the command line always uses the default.
  auth::ScryptParams scrypt = auth::kDefaultScrypt;
  bool apply_config_log_level = true;
};
// InvalidArgument for a bad name, a role not valid on this node, or a
// password shorter than 8 bytes; Conflict when the name is taken.
Status RunUserAdd(const UserAddOptions& options, std::istream& in, Io& io);

struct UserListOptions {
  std::string config_path;
  bool json = false;  // one JSON object per line
  bool apply_config_log_level = true;
};
// Never prints password hashes.
Status RunUserList(const UserListOptions& options, Io& io);

struct UserDisableOptions {
  std::string config_path;
  std::string name;
  bool apply_config_log_level = true;
};
// Disables the user and ends its sessions at once.
Status RunUserDisable(const UserDisableOptions& options, Io& io);

struct UserPasswdOptions {
  std::string config_path;
  std::string name;
  PasswordSource password;
  auth::ScryptParams scrypt = auth::kDefaultScrypt;  // as UserAddOptions
  bool apply_config_log_level = true;
};
// Sets a new password and ends the user's sessions.
Status RunUserPasswd(const UserPasswdOptions& options, std::istream& in,
                     Io& io);

// The `posta user` subcommands on `app` and their parsed options.
struct UserCommands;
std::shared_ptr<UserCommands> AddUserCommands(CLI::App& app);
// Runs the `posta user` subcommand that was parsed, if any: returns false
// when none was; else sets `command` (for hints) and `result`.
bool RunParsedUserCommand(UserCommands& commands, bool apply_config_log_level,
                          Io& io, std::string* command, Status* result);

}  // namespace posta::node::cli
