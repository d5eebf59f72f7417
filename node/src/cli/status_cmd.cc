// posta status: what a node holds, read from its database without writing.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/progress.h"

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
      NodeConfig config,
      LoadNodeConfig(options.config_path, options.apply_config_log_level,
                     io.env));
  POSTA_ASSIGN_OR_RETURN(auto store,
                         OpenStore(config, /*read_only=*/true, io.env));
  POSTA_ASSIGN_OR_RETURN(storage::StoreStats stats, store->Stats());
  const int64_t now_ms = io.clock.WallNowMillis();

  int64_t live = 0;
  for (const auto& [type, count] : stats.live_records) live += count;

  if (options.json) {
    nlohmann::ordered_json j;
    j["role"] = stats.role;
    j["facility"] = stats.facility;
    j["node_id"] = stats.node_id;
    j["schema_version"] = stats.schema_version;
    j["database_path"] = config.DatabasePath();
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
    j["wall_clock_was_behind"] = store->wall_clock_was_behind();
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
  PrintRow(
      io.out, "database",
      FormatBytes(stats.database_bytes) + " (" + config.DatabasePath() + ")");
  PrintRow(io.out, "last write",
           stats.last_write_ms > 0
               ? storage::FormatInstant(stats.last_write_ms) + " (" +
                     FormatAgo(stats.last_write_ms, now_ms) + ")"
               : "never");
  PrintRow(io.out, "change log", "seq " + std::to_string(stats.last_seq));
  if (store->wall_clock_was_behind()) {
    PrintRow(io.out, "warning",
             "this machine's clock is behind the last write; check the date");
  }
  return Status::Ok();
}

}  // namespace posta::node::cli
