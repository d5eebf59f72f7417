#include "cli/user_cmd.h"

#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "auth/roles.h"
#include "cli/cli_options.h"
#include "posta/storage/record.h"
#include "posta/storage/users.h"

namespace posta::node::cli {
namespace {

// One line of `in`, without its line end.
Result<std::string> ReadLine(std::istream& in, std::string_view what) {
  std::string line;
  if (!std::getline(in, line)) {
    return Status::InvalidArgument(std::string(what), "nothing to read");
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Reads from the terminal on stdin with echo off, restoring it afterwards.
Result<std::string> ReadHidden(std::istream& in, std::ostream& prompt_out,
                               std::string_view prompt) {
  termios saved{};
  const bool tty = ::tcgetattr(0, &saved) == 0;
  if (tty) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(0, TCSAFLUSH, &quiet);
  }
  prompt_out << prompt << std::flush;
  Result<std::string> line = ReadLine(in, "password");
  if (tty) ::tcsetattr(0, TCSAFLUSH, &saved);
  prompt_out << "\n";
  return line;
}

Result<std::string> ReadPassword(const PasswordSource& source, std::istream& in,
                                 Io& io) {
  std::string password;
  if (source.from_stdin) {
    POSTA_ASSIGN_OR_RETURN(password, ReadLine(in, "--password-stdin"));
  } else if (&in == &std::cin && ::isatty(0) == 1) {
    POSTA_ASSIGN_OR_RETURN(password, ReadHidden(in, io.err, "New password: "));
    POSTA_ASSIGN_OR_RETURN(std::string again,
                           ReadHidden(in, io.err, "Same password again: "));
    if (again != password) {
      return Status::InvalidArgument("password",
                                     "the two entries differ; nothing changed");
    }
  } else {
    return Status::InvalidArgument("password",
                                   "no terminal to type it on; pipe it in with "
                                   "--password-stdin");
  }
  if (password.size() < auth::kMinPasswordBytes) {
    return Status::InvalidArgument(
        "password", "shorter than " + std::to_string(auth::kMinPasswordBytes) +
                        " characters; choose a longer one");
  }
  if (password.size() > auth::kMaxPasswordBytes) {
    return Status::InvalidArgument(
        "password",
        "longer than " + std::to_string(auth::kMaxPasswordBytes) + " bytes");
  }
  return password;
}

Status CheckName(const std::string& name) {
  if (!storage::IsValidUserName(name)) {
    return Status::InvalidArgument(
        "user name \"" + name.substr(0, 64) + "\"",
        "use 1 to 64 of a-z 0-9 . _ -, starting with a letter");
  }
  return Status::Ok();
}

std::string Instant(int64_t ms) {
  return ms > 0 ? storage::FormatInstant(ms) : std::string("-");
}

}  // namespace

Status RunUserAdd(const UserAddOptions& options, std::istream& in, Io& io) {
  POSTA_RETURN_IF_ERROR(CheckName(options.name));
  POSTA_ASSIGN_OR_RETURN(
      NodeConfig config,
      LoadNodeConfig(options.config_path, options.apply_config_log_level,
                     io.env));
  POSTA_RETURN_IF_ERROR(auth::CheckRoleForNode(options.role, config.role));
  if (!options.region.empty() && options.role != "coordinator") {
    return Status::InvalidArgument("--region",
                                   "only for a coordinator (on a hub)");
  }
  // Checked before the password is asked for: no typing for nothing.
  POSTA_ASSIGN_OR_RETURN(auto store,
                         OpenStore(config, /*read_only=*/false, io.env));
  Result<storage::UserEntry> existing = store->GetUser(options.name);
  if (existing.ok()) {
    return Status::Conflict("user " + options.name, "already exists");
  }
  POSTA_ASSIGN_OR_RETURN(std::string password,
                         ReadPassword(options.password, in, io));
  storage::UserEntry user;
  user.name = options.name;
  user.role = options.role;
  user.region = options.region;
  POSTA_ASSIGN_OR_RETURN(user.password_hash,
                         auth::HashPassword(password, options.scrypt));
  user.created_ms = io.clock.WallNowMillis();
  user.changed_ms = user.created_ms;
  POSTA_RETURN_IF_ERROR(store->AddUser(user));
  io.out << "added user " << user.name << " (" << user.role << ")\n";
  return Status::Ok();
}

Status RunUserList(const UserListOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/true, io.env));
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::UserEntry> users,
                         node.store->ListUsers());
  if (options.json) {
    for (const storage::UserEntry& u : users) {
      nlohmann::ordered_json j;
      j["name"] = u.name;
      j["role"] = u.role;
      j["region"] = u.region.empty() ? nlohmann::ordered_json()
                                     : nlohmann::ordered_json(u.region);
      j["disabled"] = u.disabled;
      j["created"] = storage::FormatInstant(u.created_ms);
      j["changed"] = storage::FormatInstant(u.changed_ms);
      io.out << j.dump() << "\n";
    }
    return Status::Ok();
  }
  if (users.empty()) {
    io.out << "no users\n";
    return Status::Ok();
  }
  char line[256];
  std::snprintf(line, sizeof line, "%-24s %-12s %-9s %-24s %s\n", "NAME",
                "ROLE", "STATE", "CHANGED", "REGION");
  io.out << line;
  for (const storage::UserEntry& u : users) {
    std::snprintf(line, sizeof line, "%-24s %-12s %-9s %-24s %s\n",
                  u.name.c_str(), u.role.c_str(),
                  u.disabled ? "disabled" : "active",
                  Instant(u.changed_ms).c_str(),
                  u.region.empty() ? "-" : u.region.c_str());
    io.out << line;
  }
  return Status::Ok();
}

Status RunUserDisable(const UserDisableOptions& options, Io& io) {
  POSTA_RETURN_IF_ERROR(CheckName(options.name));
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/false, io.env));
  POSTA_ASSIGN_OR_RETURN(
      int64_t ended,
      node.store->DisableUser(options.name, io.clock.WallNowMillis()));
  io.out << "disabled user " << options.name << "; ended " << ended
         << (ended == 1 ? " session\n" : " sessions\n");
  return Status::Ok();
}

Status RunUserPasswd(const UserPasswdOptions& options, std::istream& in,
                     Io& io) {
  POSTA_RETURN_IF_ERROR(CheckName(options.name));
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/false, io.env));
  POSTA_RETURN_IF_ERROR(node.store->GetUser(options.name).status());
  POSTA_ASSIGN_OR_RETURN(std::string password,
                         ReadPassword(options.password, in, io));
  POSTA_ASSIGN_OR_RETURN(std::string hash,
                         auth::HashPassword(password, options.scrypt));
  POSTA_RETURN_IF_ERROR(node.store->SetUserPassword(options.name, hash,
                                                    io.clock.WallNowMillis()));
  io.out << "changed the password of " << options.name
         << "; their sessions ended\n";
  return Status::Ok();
}

struct UserCommands {
  UserAddOptions add_opts;
  UserListOptions list_opts;
  UserDisableOptions disable_opts;
  UserPasswdOptions passwd_opts;
  CLI::App* add = nullptr;
  CLI::App* list = nullptr;
  CLI::App* disable = nullptr;
  CLI::App* passwd = nullptr;
};

std::shared_ptr<UserCommands> AddUserCommands(CLI::App& app) {
  auto c = std::make_shared<UserCommands>();
  CLI::App* user = app.add_subcommand(
      "user", "Local users of the API: add, list, disable, passwd");
  user->require_subcommand(1);
  const char* kStdin =
      "Read the password from the first line of stdin (for scripts)";

  c->add = user->add_subcommand("add", "Add a user with a role");
  AddConfigOption(c->add, c->add_opts.config_path);
  c->add
      ->add_option("--role", c->add_opts.role,
                   "clinic: registrar, clinician or admin; hub: "
                   "coordinator or admin")
      ->required();
  c->add->add_option("--region", c->add_opts.region,
                     "A coordinator's region (hub only)");
  c->add->add_flag("--password-stdin", c->add_opts.password.from_stdin, kStdin);
  c->add
      ->add_option("NAME", c->add_opts.name,
                   "1-64 of a-z 0-9 . _ -, starting with a letter")
      ->required();

  c->list = user->add_subcommand("list", "The node's users and their state");
  AddConfigOption(c->list, c->list_opts.config_path);
  c->list->add_flag("--json", c->list_opts.json,
                    "One JSON object per line instead of a table");

  c->disable = user->add_subcommand(
      "disable", "Stop a user logging in and end their sessions now");
  AddConfigOption(c->disable, c->disable_opts.config_path);
  c->disable->add_option("NAME", c->disable_opts.name, "The user")->required();

  c->passwd = user->add_subcommand(
      "passwd", "Set a user's password (ends their sessions)");
  AddConfigOption(c->passwd, c->passwd_opts.config_path);
  c->passwd->add_flag("--password-stdin", c->passwd_opts.password.from_stdin,
                      kStdin);
  c->passwd->add_option("NAME", c->passwd_opts.name, "The user")->required();
  return c;
}

bool RunParsedUserCommand(UserCommands& c, bool apply_config_log_level, Io& io,
                          std::string* command, Status* result) {
  c.add_opts.apply_config_log_level = apply_config_log_level;
  c.list_opts.apply_config_log_level = apply_config_log_level;
  c.disable_opts.apply_config_log_level = apply_config_log_level;
  c.passwd_opts.apply_config_log_level = apply_config_log_level;
  if (c.add->parsed()) {
    *command = "user add";
    *result = RunUserAdd(c.add_opts, std::cin, io);
  } else if (c.list->parsed()) {
    *command = "user list";
    *result = RunUserList(c.list_opts, io);
  } else if (c.disable->parsed()) {
    *command = "user disable";
    *result = RunUserDisable(c.disable_opts, io);
  } else if (c.passwd->parsed()) {
    *command = "user passwd";
    *result = RunUserPasswd(c.passwd_opts, std::cin, io);
  } else {
    return false;
  }
  return true;
}

}  // namespace posta::node::cli
