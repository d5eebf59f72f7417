// posta status: what a node holds, read from its database without writing.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "care/backups.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "syncd/sync_runner.h"
#include "syncd/sync_state.h"

namespace posta::node::cli {

namespace {

void PrintRow(std::ostream& out, std::string_view name,
              const std::string& value) {
  char label[24];
  std::snprintf(label, sizeof label, "%-14.*s", static_cast<int>(name.size()),
                name.data());
  out << label << value << "\n";
}

}  // namespace

Status RunStatus(const StatusOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/true, io.env));
  POSTA_ASSIGN_OR_RETURN(storage::StoreStats stats, node.store->Stats());
  const int64_t now_ms = io.clock.WallNowMillis();

  POSTA_ASSIGN_OR_RETURN(SyncSummary sync, SummarizeSync(*node.store, stats));
  auto ago = [&](int64_t ms) {
    return ms > 0
               ? storage::FormatInstant(ms) + " (" + FormatAgo(ms, now_ms) + ")"
               : std::string("never");
  };

  // A clinic's enrollment and the hub's last refusal (kept by the sync
  // that got it, since this is another process).
  const bool enrolled = io.env.FileExists(node.config.CredentialPath());
  const std::string refusal = LastSyncRefusal(node.config, io.env);
  std::vector<storage::EnrolledNode> enrolled_nodes;
  if (stats.role == "hub") {
    POSTA_ASSIGN_OR_RETURN(enrolled_nodes, node.store->ListEnrolledNodes());
  }

  int64_t live = 0;
  for (const auto& [type, count] : stats.live_records) live += count;
  // The newest scheduled backup, from the directory (posta serve writes
  // them; this is another process).
  Result<std::vector<BackupFile>> backups =
      ListBackups(node.config.BackupDir());
  const BackupFile* newest_backup =
      backups.ok() && !backups->empty() ? &backups->front() : nullptr;
  const Status space = node.store->CheckWriteSpace();

  if (options.json) {
    nlohmann::ordered_json j;
    j["role"] = stats.role;
    j["facility"] = stats.facility;
    j["node_id"] = stats.node_id;
    j["schema_version"] = stats.schema_version;
    j["database_path"] = node.config.DatabasePath();
    j["database_bytes"] = stats.database_bytes;
    nlohmann::ordered_json records = nlohmann::ordered_json::object();
    for (storage::ResourceType type : storage::kAllResourceTypes) {
      auto it = stats.live_records.find(type);
      records[std::string(storage::ResourceTypeName(type))] =
          it == stats.live_records.end() ? 0 : it->second;
    }
    j["records"] = std::move(records);
    j["live_records"] = live;
    j["deleted_records"] = stats.deleted_records;
    j["last_seq"] = stats.last_seq;
    if (stats.last_write_ms > 0) {
      j["last_write"] = storage::FormatInstant(stats.last_write_ms);
    } else {
      j["last_write"] = nullptr;
    }
    j["last_write_ms"] = stats.last_write_ms;
    j["wall_clock_was_behind"] = node.store->wall_clock_was_behind();
    nlohmann::ordered_json jb;
    jb["dir"] = node.config.BackupDir();
    jb["every_h"] = node.config.backup_every.count() / 3600000;
    jb["count"] = backups.ok() ? backups->size() : 0;
    jb["last"] = newest_backup ? nlohmann::ordered_json(storage::FormatInstant(
                                     newest_backup->taken_ms))
                               : nlohmann::ordered_json(nullptr);
    jb["last_bytes"] = newest_backup ? newest_backup->bytes : 0;
    jb["last_path"] = newest_backup ? newest_backup->path : "";
    j["backup"] = std::move(jb);
    j["writes_refused"] = space.ok() ? nlohmann::ordered_json(nullptr)
                                     : nlohmann::ordered_json(space.ToString());
    nlohmann::ordered_json js;
    // hub_url for every role, for the scripts that read it; a hub also
    // gives it under the key its config uses, `upstream` (HubUrlKey).
    js["hub_url"] = node.config.hub_url;
    js[std::string(HubUrlKey(node.config))] = node.config.hub_url;
    js["hub_node_id"] = sync.has_hub ? sync.hub.node_id : "";
    js["last_sync_ms"] = sync.has_hub ? sync.hub.last_sync_ms : 0;
    js["pending_changes"] = sync.pending;
    js["open_conflicts"] = sync.open_conflicts;
    js["clock_flags"] = sync.clock_flags;
    nlohmann::ordered_json clinics = nlohmann::ordered_json::array();
    for (const storage::PeerState& peer : sync.clinics) {
      clinics.push_back({{"node_id", peer.node_id},
                         {"facility", peer.facility},
                         {"last_sync_ms", peer.last_sync_ms},
                         {"received_seq", peer.received_seq},
                         {"acked_seq", peer.acked_seq}});
    }
    js["clinics"] = std::move(clinics);
    if (stats.role == "clinic") {
      js["enrolled"] = enrolled;
      js["refused"] = refusal.empty() ? nlohmann::ordered_json(nullptr)
                                      : nlohmann::ordered_json(refusal);
    } else {
      int64_t revoked = 0, flagged = 0;
      for (const storage::EnrolledNode& n : enrolled_nodes) {
        revoked += n.revoked_ms > 0;
        flagged += n.flagged_ms > 0;
      }
      js["enrolled_nodes"] = enrolled_nodes.size();
      js["revoked_nodes"] = revoked;
      js["flagged_nodes"] = flagged;
    }
    j["sync"] = std::move(js);
    io.out << j.dump() << "\n";
    return Status::Ok();
  }

  PrintRow(io.out, "role", stats.role);
  PrintRow(io.out, "facility", stats.facility);
  PrintRow(io.out, "node id", stats.node_id);
  PrintRow(io.out, "schema", std::to_string(stats.schema_version));
  PrintRow(io.out, "records", std::to_string(live) + " live");
  for (storage::ResourceType type : storage::kAllResourceTypes) {
    auto it = stats.live_records.find(type);
    PrintRow(io.out, "  " + std::string(storage::ResourceTypeName(type)),
             std::to_string(it == stats.live_records.end() ? 0 : it->second));
  }
  PrintRow(io.out, "deleted", std::to_string(stats.deleted_records));
  PrintRow(io.out, "database",
           FormatBytes(stats.database_bytes) + " (" +
               node.config.DatabasePath() + ")");
  PrintRow(io.out, "last write",
           stats.last_write_ms > 0
               ? storage::FormatInstant(stats.last_write_ms) + " (" +
                     FormatAgo(stats.last_write_ms, now_ms) + ")"
               : "never");
  PrintRow(io.out, "change log", "seq " + std::to_string(stats.last_seq));
  PrintRow(io.out, "last backup",
           newest_backup
               ? storage::FormatInstant(newest_backup->taken_ms) + " (" +
                     FormatAgo(newest_backup->taken_ms, now_ms) + ", " +
                     FormatBytes(static_cast<int64_t>(newest_backup->bytes)) +
                     ", " + newest_backup->path + ")"
               : "none in " + node.config.BackupDir());
  if (!space.ok()) PrintRow(io.out, "writes refused", space.message());
  if (stats.role == "clinic") {
    PrintRow(
        io.out, "hub",
        node.config.hub_url.empty() ? "none (no sync)" : node.config.hub_url);
    if (!node.config.hub_url.empty()) {
      PrintRow(io.out, "enrolled",
               enrolled ? "yes (" + node.config.CredentialPath() + ")"
                        : "no: get a code from the hub's administrator and "
                          "run posta enroll --config " +
                              options.config_path + " --code CODE");
      if (!refusal.empty()) PrintRow(io.out, "sync refused", refusal);
      PrintRow(io.out, "last sync",
               ago(sync.has_hub ? sync.hub.last_sync_ms : 0));
      PrintRow(io.out, "pending",
               std::to_string(sync.pending) + " changes not yet at the hub");
    }
  } else {
    int64_t revoked = 0, flagged = 0;
    for (const storage::EnrolledNode& n : enrolled_nodes) {
      revoked += n.revoked_ms > 0;
      flagged += n.flagged_ms > 0;
    }
    PrintRow(io.out, "enrolled",
             std::to_string(enrolled_nodes.size()) + " nodes (" +
                 std::to_string(revoked) + " revoked, " +
                 std::to_string(flagged) +
                 " flagged; see posta hub node list)");
    if (!node.config.hub_url.empty()) {
      // A district hub: its link to the hub above it.
      PrintRow(io.out, "upstream",
               node.config.hub_url + ", last sync " +
                   ago(sync.has_hub ? sync.hub.last_sync_ms : 0));
    }
    PrintRow(io.out, "clinics", std::to_string(sync.clinics.size()));
    for (const storage::PeerState& peer : sync.clinics) {
      PrintRow(
          io.out, "  " + peer.facility,
          "node " + peer.node_id + ", last sync " + ago(peer.last_sync_ms));
    }
  }
  PrintRow(io.out, "conflicts", std::to_string(sync.open_conflicts) + " open");
  if (sync.clock_flags > 0) {
    PrintRow(io.out, "clock flags",
             std::to_string(sync.clock_flags) +
                 " changes came stamped too far in the future");
  }
  if (node.store->wall_clock_was_behind()) {
    PrintRow(io.out, "warning",
             "this machine's clock is behind the last write; check the date");
  }
  return Status::Ok();
}

}  // namespace posta::node::cli
