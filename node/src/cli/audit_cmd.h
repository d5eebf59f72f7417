// posta audit [list filters] and posta audit verify: the audit trail from
// the command line (docs/cli.md, "posta audit"). Kept apart from
// commands.h: cli.cc registers the subcommands with AddAuditCommands and
// runs the one parsed.
#pragma once

#include <memory>
#include <string>

#include "cli/commands.h"
#include "posta/storage/audit.h"

namespace CLI {
class App;
}

namespace posta::node::cli {

struct AuditListOptions {
  std::string config_path;
  // As GET /audit's query (ParseAuditFilter): "" for none.
  std::string since;
  std::string until;
  std::string actor;
  std::string action;
  std::string resource;
  std::string facility;
  std::string node;
  size_t limit = 100;  // 1..1000 (--limit)
  bool json = false;   // one JSON object per line, as GET /audit's entries
  bool apply_config_log_level = true;
};
// Prints the matching entries, oldest first, as a table (or JSON lines).
// Opens the database read-only beside a running `posta serve`; what serve
// holds deferred (reads) since its last commit is not there yet.
Status RunAuditList(const AuditListOptions& options, Io& io);

struct AuditVerifyOptions {
  std::string config_path;
  bool apply_config_log_level = true;
};
// Checks every chain the database holds (RecordStore::VerifyAudit) and
// prints one line per chain; Corruption naming the node and seq of the
// first break (the command exits 1).
Status RunAuditVerify(const AuditVerifyOptions& options, Io& io);

struct AuditCommands;
std::shared_ptr<AuditCommands> AddAuditCommands(CLI::App& app);
// As RunParsedUserCommand.
bool RunParsedAuditCommand(AuditCommands& commands, bool apply_config_log_level,
                           Io& io, std::string* command, Status* result);

}  // namespace posta::node::cli
