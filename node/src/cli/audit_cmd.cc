#include "cli/audit_cmd.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "api/handlers.h"
#include "cli/cli_options.h"
#include "posta/storage/record.h"

namespace posta::node::cli {
namespace {

constexpr size_t kDetailWidth = 60;

Result<storage::AuditFilter> FilterOf(const AuditListOptions& o) {
  // The same parameters, parsed by the same code, as GET /audit.
  std::vector<QueryParam> query;
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) query.push_back(QueryParam{name, value});
  };
  add("since", o.since);
  add("until", o.until);
  add("actor", o.actor);
  add("action", o.action);
  add("resource", o.resource);
  add("facility", o.facility);
  add("node", o.node);
  if (o.limit < 1 || o.limit > 1000) {
    return Status::InvalidArgument("--limit", "must be 1 to 1000");
  }
  query.push_back(QueryParam{"_count", std::to_string(o.limit)});
  return ParseAuditFilter(query);
}

}  // namespace

Status RunAuditList(const AuditListOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(storage::AuditFilter filter, FilterOf(options));
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/true, io.env));
  POSTA_ASSIGN_OR_RETURN(storage::AuditPage page,
                         node.store->ReadAudit(filter));
  if (options.json) {
    for (const storage::AuditEntry& e : page.entries) {
      io.out << AuditEntryJson(e).dump(
                    -1, ' ', false,
                    nlohmann::ordered_json::error_handler_t::replace)
             << "\n";
    }
    return Status::Ok();
  }
  if (page.entries.empty()) {
    io.out << "no audit entries match\n";
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"AT", "NODE:SEQ", "ACTOR", "ROLE", "FROM", "ACTION",
                  "RESOURCE", "OUTCOME", "DETAIL"});
  for (const storage::AuditEntry& e : page.entries) {
    auto dash = [](const std::string& s) { return s.empty() ? "-" : s; };
    rows.push_back({storage::FormatInstant(e.at_ms),
                    e.node_id.substr(0, 8) + ":" + std::to_string(e.seq),
                    Shorten(e.actor, 24), dash(e.role), dash(e.remote_address),
                    e.action, Shorten(dash(e.resource), 48), e.outcome,
                    Shorten(dash(e.detail), kDetailWidth)});
  }
  PrintColumns(io.out, rows);
  if (page.next_cursor != 0) {
    io.out << "(more: narrow the filters or raise --limit)\n";
  }
  return Status::Ok();
}

Status RunAuditVerify(const AuditVerifyOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/true, io.env));
  POSTA_ASSIGN_OR_RETURN(storage::AuditVerification v,
                         node.store->VerifyAudit());
  for (const storage::AuditBreak& b : v.breaks) {
    io.out << "node " << b.node_id << ": broken at seq " << b.seq << ": "
           << b.why << "\n";
  }
  io.out << v.chains << (v.chains == 1 ? " chain, " : " chains, ") << v.entries
         << (v.entries == 1 ? " entry" : " entries") << ", " << v.breaks.size()
         << (v.breaks.size() == 1 ? " break" : " breaks") << "\n";
  if (v.breaks.empty()) return Status::Ok();
  const storage::AuditBreak& first = v.breaks.front();
  return Status::Corruption(
      "audit chain of node " + first.node_id,
      "broken at seq " + std::to_string(first.seq) + ": " + first.why);
}

struct AuditCommands {
  CLI::App* list = nullptr;
  CLI::App* verify = nullptr;
  AuditListOptions list_opts;
  AuditVerifyOptions verify_opts;
};

std::shared_ptr<AuditCommands> AddAuditCommands(CLI::App& app) {
  auto c = std::make_shared<AuditCommands>();
  CLI::App* audit = app.add_subcommand(
      "audit", "The audit trail: who did what, when and from where");
  // `posta audit --config F` lists; `posta audit verify` checks.
  c->list = audit;
  AddConfigOption(audit, c->list_opts.config_path)->required(false);
  AuditListOptions& o = c->list_opts;
  audit->add_option("--since", o.since,
                    "From this time on (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
  audit->add_option("--until", o.until, "Before this time");
  audit->add_option("--actor", o.actor,
                    "A user name, node:<id> or cli:<os user>");
  audit->add_option("--action", o.action,
                    "create, update, delete, read, search, login, "
                    "login_failed, logout, denied, transfer, ...");
  audit->add_option("--resource", o.resource, "Type/id, or a type");
  audit->add_option("--facility", o.facility, "Entries of this facility");
  audit->add_option("--node", o.node, "Entries of this node's chain");
  audit->add_option("--limit", o.limit, "At most this many (1-1000)")
      ->capture_default_str();
  audit->add_flag("--json", o.json,
                  "One JSON object per line instead of a table");

  c->verify = audit->add_subcommand(
      "verify", "Check every hash chain the database holds");
  AddConfigOption(c->verify, c->verify_opts.config_path);
  audit->callback([c] {
    if (!c->verify->parsed() && c->list_opts.config_path.empty()) {
      throw CLI::RequiredError("--config");
    }
  });
  return c;
}

bool RunParsedAuditCommand(AuditCommands& c, bool apply_config_log_level,
                           Io& io, std::string* command, Status* result) {
  c.list_opts.apply_config_log_level = apply_config_log_level;
  c.verify_opts.apply_config_log_level = apply_config_log_level;
  if (c.verify->parsed()) {
    *command = "audit verify";
    *result = RunAuditVerify(c.verify_opts, io);
  } else if (c.list->parsed()) {
    *command = "audit";
    *result = RunAuditList(c.list_opts, io);
  } else {
    return false;
  }
  return true;
}

}  // namespace posta::node::cli
