// posta conflicts list | show | resolve: the values sync set aside, for the
// person who decides which one the record keeps.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "api/handlers.h"
#include "cli/commands.h"
#include "posta/base/random.h"
#include "posta/storage/replication.h"

namespace posta::node::cli {

namespace {

// Every conflict a prefix is matched against, and every one listed.
constexpr size_t kListLimit = 100000;
constexpr size_t kValueWidth = 30;
constexpr size_t kShortId = 12;
constexpr size_t kMaxByBytes = 200;

bool IsDelete(const storage::Conflict& c) {
  return c.field == storage::kDeletedField;
}

// A side's value as people read it.
std::string SideText(const storage::Conflict& c,
                     const storage::ConflictSide& side) {
  if (IsDelete(c)) {
    return side.value && *side.value == "true" ? "deleted" : "kept";
  }
  return side.value ? *side.value : "(removed)";
}

std::string FieldText(const storage::Conflict& c) {
  return IsDelete(c) ? "(delete vs edit)" : c.field;
}

std::string RecordText(const storage::Conflict& c) {
  return std::string(storage::ResourceTypeName(c.type)) + "/" + c.record_id;
}

// The conflict named by a full id or a unique prefix (any case).
Result<storage::Conflict> FindConflict(storage::RecordStore& store,
                                       std::string id) {
  std::transform(id.begin(), id.end(), id.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  const std::string what = "conflict " + id.substr(0, 64);
  if (!base::IsLowerHex(id) || id.size() > 32 ||
      id.size() < kMinConflictPrefix) {
    return Status::NotFound(what,
                            "not a conflict id (32 hex characters, or a "
                            "unique prefix of at least " +
                                std::to_string(kMinConflictPrefix) + ")");
  }
  if (id.size() == 32) {
    Result<storage::Conflict> found = store.GetConflict(id);
    if (!found.ok() && found.status().IsNotFound()) {
      return Status::NotFound(what, "no such conflict");
    }
    return found;
  }
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::Conflict> all,
                         store.ListConflicts(/*open_only=*/false, kListLimit));
  std::vector<storage::Conflict> matches;
  for (storage::Conflict& c : all) {
    if (c.id.compare(0, id.size(), id) == 0) matches.push_back(std::move(c));
  }
  if (matches.empty()) return Status::NotFound(what, "no such conflict");
  if (matches.size() > 1) {
    return Status::InvalidArgument(what, "prefix matches " +
                                             std::to_string(matches.size()) +
                                             " conflicts; give more of the id");
  }
  return std::move(matches.front());
}

void PrintRow(std::ostream& out, std::string_view name,
              const std::string& value) {
  out << PadRight(std::string(name), 13) << value << "\n";
}

void PrintSide(std::ostream& out, std::string_view name,
               const storage::Conflict& c, const storage::ConflictSide& side,
               int64_t now_ms) {
  PrintRow(out, name, SideText(c, side));
  PrintRow(out, "  from",
           "node " + side.stamp.node + ", " +
               storage::FormatInstant(side.stamp.wall_ms) + " (" +
               FormatAgo(side.stamp.wall_ms, now_ms) + ")");
  PrintRow(out, "  version", side.stamp.ToString());
}

void PrintDetails(std::ostream& out, const storage::Conflict& c,
                  const std::string& config_path, int64_t now_ms) {
  const bool open = c.state == storage::ConflictState::kOpen;
  PrintRow(out, "conflict", c.id);
  PrintRow(out, "kind",
           IsDelete(c) ? "delete-vs-edit: one side deleted the "
                         "record, the other edited it"
                       : "field-edit: two edits of one field");
  PrintRow(out, "record", RecordText(c));
  PrintRow(out, "facility", c.facility);
  PrintRow(out, "field",
           IsDelete(c) ? std::string(storage::kDeletedField) : c.field);
  std::string state = open ? "open" : "resolved";
  if (!open) {
    state += " (" + c.resolution;
    if (!c.resolved_by.empty()) state += ", by " + c.resolved_by;
    state += ")";
  }
  state += ", " + storage::FormatInstant(c.state_stamp.wall_ms) + " (" +
           FormatAgo(c.state_stamp.wall_ms, now_ms) + ")";
  PrintRow(out, "state", state);
  PrintSide(out, "winner", c, c.winner, now_ms);
  PrintSide(out, "loser", c, c.loser, now_ms);
  PrintRow(out, "state stamp", c.state_stamp.ToString());
  if (open) {
    out << "\nThe record holds the winner. To decide:\n"
        << "  posta conflicts resolve --config " << config_path << " " << c.id
        << " --keep winner|loser\n"
        << (IsDelete(c) ? ""
                        : "  ... or --value JSON to write another value, or "
                          "--remove to remove the field\n");
  }
}

void PrintTable(std::ostream& out, const std::vector<storage::Conflict>& list,
                int64_t now_ms) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "RECORD", "FIELD", "WINNER → LOSER", "ORIGINS", "AGE"});
  for (const storage::Conflict& c : list) {
    std::string change = Shorten(SideText(c, c.winner), kValueWidth) + " → " +
                         Shorten(SideText(c, c.loser), kValueWidth);
    std::string id = c.id.substr(0, kShortId);
    if (c.state != storage::ConflictState::kOpen) {
      id += " (" + c.resolution + ")";
    }
    rows.push_back({id, RecordText(c), FieldText(c), change,
                    c.winner.stamp.node + " / " + c.loser.stamp.node,
                    FormatAgo(c.state_stamp.wall_ms, now_ms)});
  }
  PrintColumns(out, rows);
}

std::string JsonLine(const storage::Conflict& c) {
  return ConflictJson(c).dump(-1, ' ', false,
                              nlohmann::json::error_handler_t::replace);
}

Result<storage::ConflictResolution> ToResolution(
    const ConflictsResolveOptions& options, const std::string& id) {
  int chosen = (options.keep.empty() ? 0 : 1) +
               (options.value.empty() ? 0 : 1) + (options.remove ? 1 : 0);
  if (chosen != 1) {
    return Status::InvalidArgument(
        "conflicts resolve",
        "give exactly one of --keep winner|loser, --value JSON, --remove");
  }
  if (options.by.size() > kMaxByBytes) {
    return Status::InvalidArgument(
        "--by", "longer than " + std::to_string(kMaxByBytes) + " bytes");
  }
  storage::ConflictResolution r;
  r.id = id;
  r.resolved_by = options.by;
  if (!options.keep.empty()) {
    if (options.keep != "winner" && options.keep != "loser") {
      return Status::InvalidArgument("--keep", "must be winner or loser");
    }
    r.choice = options.keep == "winner"
                   ? storage::ConflictResolution::Choice::kKeepWinner
                   : storage::ConflictResolution::Choice::kTakeLoser;
    return r;
  }
  r.choice = storage::ConflictResolution::Choice::kNewValue;
  if (options.remove) return r;
  nlohmann::json value =
      nlohmann::json::parse(options.value, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return Status::InvalidArgument(
        "--value", "not JSON (quote text as JSON: --value '\"other\"')");
  }
  if (!value.is_null()) {
    r.value =
        value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return r;
}

}  // namespace

Status RunConflictsList(const ConflictsListOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/true, io.env));
  POSTA_ASSIGN_OR_RETURN(
      std::vector<storage::Conflict> list,
      node.store->ListConflicts(/*open_only=*/!options.all, kListLimit));
  if (options.json) {
    for (const storage::Conflict& c : list) io.out << JsonLine(c) << "\n";
    return Status::Ok();
  }
  if (list.empty()) {
    io.out << (options.all ? "no conflicts\n" : "no open conflicts\n");
    return Status::Ok();
  }
  PrintTable(io.out, list, io.clock.WallNowMillis());
  return Status::Ok();
}

Status RunConflictsShow(const ConflictsShowOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/true, io.env));
  POSTA_ASSIGN_OR_RETURN(storage::Conflict c,
                         FindConflict(*node.store, options.id));
  if (options.json) {
    io.out << JsonLine(c) << "\n";
    return Status::Ok();
  }
  PrintDetails(io.out, c, options.config_path, io.clock.WallNowMillis());
  return Status::Ok();
}

Status RunConflictsResolve(const ConflictsResolveOptions& options, Io& io) {
  // The choice is checked before the store is opened for writing.
  POSTA_RETURN_IF_ERROR(ToResolution(options, options.id).status());
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/false, io.env));
  POSTA_ASSIGN_OR_RETURN(storage::Conflict found,
                         FindConflict(*node.store, options.id));
  POSTA_ASSIGN_OR_RETURN(storage::ConflictResolution resolution,
                         ToResolution(options, found.id));
  const storage::AuditActor actor = CliActor();
  resolution.actor = &actor;
  POSTA_ASSIGN_OR_RETURN(storage::Conflict resolved,
                         node.store->ResolveConflict(resolution));
  std::string outcome;
  switch (resolution.choice) {
    case storage::ConflictResolution::Choice::kKeepWinner:
      outcome = "the record keeps the winner";
      break;
    case storage::ConflictResolution::Choice::kTakeLoser:
      outcome = "the loser's value was written back";
      break;
    case storage::ConflictResolution::Choice::kNewValue:
      outcome = resolution.value ? "the new value was written"
                                 : "the field was removed";
      break;
  }
  io.out << "resolved: " << outcome << "\n\n";
  PrintDetails(io.out, resolved, options.config_path, io.clock.WallNowMillis());
  return Status::Ok();
}

}  // namespace posta::node::cli
