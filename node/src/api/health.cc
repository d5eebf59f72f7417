// GET /health (JSON for monitors and `posta status`) and GET /metrics
// (Prometheus text). Both read StoreStats, which is cheap; neither runs
// PRAGMA quick_check, which can take minutes on a large database.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "api/handlers.h"
#include "api/json_util.h"
#include "api/metrics.h"
#include "api/operation_outcome.h"
#include "posta/storage/record.h"

namespace posta::node {

namespace {

// Below this much free disk the node still works but reports "degraded".
constexpr uint64_t kLowDiskBytes = 64ull << 20;

std::string Gauge(std::string_view name, std::string_view help,
                  const std::string& value) {
  std::string out = "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " gauge\n";
  out += name;
  out += ' ';
  out += value;
  out += '\n';
  return out;
}

}  // namespace

HttpResponse HandleHealth(ApiContext& ctx) {
  Result<storage::StoreStats> stats = ctx.store.Stats();
  nlohmann::json warnings = nlohmann::json::array();
  nlohmann::json database = {{"ok", stats.ok()}};
  nlohmann::json last_write = nullptr;
  nlohmann::json open_conflicts = nullptr;
  if (stats.ok()) {
    database["schema_version"] = stats->schema_version;
    database["bytes"] = stats->database_bytes;
    if (stats->last_write_ms > 0) {
      last_write = storage::FormatInstant(stats->last_write_ms);
    }
    open_conflicts = stats->open_conflicts;
  } else {
    std::string id = NewErrorId(ctx.random);
    spdlog::error("health: database check failed, error {}: {}", id,
                  stats.status().ToString());
    database["error"] = "database check failed; reference " + id;
  }

  nlohmann::json disk = {{"free_bytes", nullptr},
                         {"floor_bytes", ctx.options.min_free_bytes},
                         {"writes_refused", false}};
  if (!ctx.options.data_dir.empty()) {
    Result<uint64_t> free_bytes = ctx.env.FreeBytes(ctx.options.data_dir);
    if (free_bytes.ok()) {
      disk["free_bytes"] = *free_bytes;
      if (*free_bytes < kLowDiskBytes) warnings.push_back("low disk space");
    } else {
      warnings.push_back("free disk space unknown");
    }
  }
  if (Status space = ctx.store.CheckWriteSpace(); !space.ok()) {
    disk["writes_refused"] = true;
    disk["error"] = space.ToString();
    warnings.push_back(
        "disk below its floor: new writes are refused, reads continue (see "
        "disk.error)");
  }

  nlohmann::json clock = {{"status", "ok"}};
  if (ctx.store.wall_clock_was_behind()) {
    clock["status"] = "behind_last_stamp";
    clock["wall_clock_at_start"] =
        storage::FormatInstant(ctx.store.wall_clock_at_open_ms());
    clock["last_stamp"] =
        storage::FormatInstant(ctx.store.last_stamp_at_open_ms());
    warnings.push_back(
        "wall clock was behind the last stored version at start");
  }

  nlohmann::json backup = nullptr;
  if (ctx.options.backup_state) {
    const BackupState b = ctx.options.backup_state();
    auto instant = [](int64_t ms) -> nlohmann::json {
      if (ms <= 0) return nullptr;
      return storage::FormatInstant(ms);
    };
    backup = {
        {"enabled", b.enabled},
        {"dir", b.dir},
        {"last_success", instant(b.last_success_ms)},
        {"last_bytes", b.last_success_ms > 0 ? nlohmann::json(b.last_bytes)
                                             : nlohmann::json(nullptr)},
        {"last_attempt", instant(b.last_attempt_ms)},
        {"last_error", b.last_error.empty() ? nlohmann::json(nullptr)
                                            : nlohmann::json(b.last_error)},
        {"next", b.enabled ? instant(b.next_ms) : nlohmann::json(nullptr)}};
    if (!b.last_error.empty()) warnings.push_back("last backup failed");
  }

  nlohmann::json sync = nullptr;
  if (ctx.options.sync_state) {
    const SyncState state = ctx.options.sync_state();
    auto instant = [](int64_t ms) -> nlohmann::json {
      if (ms <= 0) return nullptr;
      return storage::FormatInstant(ms);
    };
    sync = {{"hub_reachable", state.hub_reachable},
            {"running", state.running},
            {"last_success", instant(state.last_success_ms)},
            {"last_attempt", instant(state.last_attempt_ms)},
            {"next_attempt", instant(state.next_attempt_ms)},
            {"last_error", state.last_error.empty()
                               ? nlohmann::json(nullptr)
                               : nlohmann::json(state.last_error)},
            {"needs_technician", state.needs_technician}};
    if (stats.ok()) {
      Result<SyncSummary> summary = SummarizeSync(ctx.store, *stats);
      if (summary.ok()) {
        sync["pending_changes"] = summary->pending;
      }
    }
    if (state.needs_technician) {
      warnings.push_back(
          "the hub refused this node or its certificate; no retry helps "
          "until a technician acts (see sync.last_error)");
    } else if (!state.last_error.empty()) {
      warnings.push_back("last sync failed");
    }
  }

  // Received audit chains found broken (a hub): each is a warning until a
  // person looks (docs/sync-protocol.md, "Audit").
  nlohmann::json audit = {{"broken_chains", nlohmann::json::array()}};
  if (Result<std::vector<storage::AuditBreak>> breaks =
          ctx.store.ListAuditBreaks();
      breaks.ok()) {
    for (const storage::AuditBreak& b : *breaks) {
      audit["broken_chains"].push_back(
          {{"node", b.node_id}, {"seq", b.seq}, {"why", b.why}});
      warnings.push_back("audit chain of node " + b.node_id +
                         " broken at seq " + std::to_string(b.seq));
    }
  } else {
    audit["broken_chains"] = nullptr;
    warnings.push_back("audit chains unknown");
  }

  bool ok = stats.ok() && warnings.empty();
  nlohmann::json body = {
      {"status", ok ? "ok" : "degraded"},
      {"version",
       ctx.options.version.empty() ? POSTA_VERSION : ctx.options.version},
      {"role", ctx.options.role},
      {"facility", ctx.store.facility()},
      {"node_id", ctx.store.node_id()},
      {"database", database},
      {"last_write", last_write},
      {"open_conflicts", open_conflicts},
      {"sync", sync},
      {"audit", audit},
      {"disk", disk},
      {"clock", clock},
      {"backup", backup},
      {"warnings", warnings},
  };
  HttpResponse response;
  response.status = stats.ok() ? 200 : 503;
  response.content_type = "application/json";
  response.headers.emplace_back("Cache-Control", "no-store");
  response.body = DumpJson(body) + "\n";
  return response;
}

HttpResponse HandleMetrics(ApiContext& ctx) {
  std::string out;
  ctx.metrics.Render(out);
  Result<storage::StoreStats> stats = ctx.store.Stats();
  out += Gauge("posta_database_up",
               "1 when the database answered the stats query, else 0.",
               stats.ok() ? "1" : "0");
  if (stats.ok()) {
    out +=
        "# HELP posta_records Live (not deleted) records, by resource type.\n"
        "# TYPE posta_records gauge\n";
    for (storage::ResourceType type : storage::kAllResourceTypes) {
      auto it = stats->live_records.find(type);
      int64_t count = it == stats->live_records.end() ? 0 : it->second;
      out += "posta_records{type=\"";
      out += storage::ResourceTypeName(type);
      out += "\"} " + std::to_string(count) + "\n";
    }
    out += Gauge("posta_records_deleted", "Deleted records (tombstones).",
                 std::to_string(stats->deleted_records));
    out += Gauge("posta_database_bytes",
                 "Size of the database file plus its WAL.",
                 std::to_string(stats->database_bytes));
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f",
                  static_cast<double>(stats->last_write_ms) / 1000.0);
    out += Gauge("posta_last_write_timestamp_seconds",
                 "Wall-clock time of the last write (0 when none).", seconds);
    out += Gauge("posta_changelog_last_seq",
                 "Highest change-log sequence number.",
                 std::to_string(stats->last_seq));
    out += Gauge("posta_conflicts_open",
                 "Sync conflicts waiting for a person to resolve them.",
                 std::to_string(stats->open_conflicts));
  } else {
    spdlog::warn("metrics: store stats failed: {}", stats.status().ToString());
  }
  auto counter = [&](std::string_view name, std::string_view help,
                     std::initializer_list<std::pair<std::string, int64_t>>
                         labelled) {
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n";
    out += "# TYPE " + std::string(name) + " counter\n";
    for (const auto& [labels, value] : labelled) {
      out += std::string(name) + labels + " " + std::to_string(value) + "\n";
    }
  };
  if (ctx.options.sync_state) {
    const SyncState s = ctx.options.sync_state();
    counter("posta_sync_runs_total", "Syncs with the hub, by result.",
            {{"{result=\"ok\"}", s.syncs_ok},
             {"{result=\"failed\"}", s.syncs_failed}});
    counter("posta_sync_records_total", "Records moved by sync, by direction.",
            {{"{direction=\"push\"}", s.records_pushed},
             {"{direction=\"pull\"}", s.records_pulled}});
    counter("posta_sync_bytes_total", "HTTP bytes of sync, by direction.",
            {{"{direction=\"sent\"}", static_cast<int64_t>(s.bytes_sent)},
             {"{direction=\"received\"}",
              static_cast<int64_t>(s.bytes_received)}});
    counter("posta_sync_conflicts_total", "Conflicts found while pulling.",
            {{"", s.conflicts_found}});
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f",
                  static_cast<double>(s.last_success_ms) / 1000.0);
    out += Gauge("posta_sync_last_success_timestamp_seconds",
                 "Wall-clock time of the last successful sync (0: never).",
                 seconds);
  }
  if (ctx.options.backup_state) {
    const BackupState b = ctx.options.backup_state();
    counter("posta_backups_total", "Scheduled backups since start, by result.",
            {{"{result=\"ok\"}", b.backups_ok},
             {"{result=\"failed\"}", b.backups_failed}});
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f",
                  static_cast<double>(b.last_success_ms) / 1000.0);
    out += Gauge("posta_backup_last_success_timestamp_seconds",
                 "Time of the newest scheduled backup (0: none).", seconds);
    out +=
        Gauge("posta_backup_last_bytes", "Size of the newest scheduled backup.",
              std::to_string(b.last_bytes));
  }
  if (Result<std::vector<storage::AuditBreak>> breaks =
          ctx.store.ListAuditBreaks();
      breaks.ok()) {
    out += Gauge("posta_audit_broken_chains",
                 "Received audit chains found broken (nodes).",
                 std::to_string(breaks->size()));
  }
  if (ctx.options.hub_counters) {
    const sync::HubCounters h = ctx.options.hub_counters();
    counter("posta_sync_batches_total", "Sync batches served, by direction.",
            {{"{direction=\"push\"}", h.push_batches},
             {"{direction=\"pull\"}", h.pull_batches}});
    counter("posta_sync_records_total", "Records moved by sync, by direction.",
            {{"{direction=\"push\"}", h.push_records},
             {"{direction=\"pull\"}", h.pull_records}});
    counter("posta_sync_conflicts_total", "Conflicts found in pushed batches.",
            {{"", h.conflicts}});
    counter("posta_sync_refused_total",
            "Sync requests answered with an error.", {{"", h.refused}});
    counter("posta_sync_hellos_total", "Sync handshakes.", {{"", h.hellos}});
    counter("posta_sync_denied_total",
            "Sync requests refused for who sent them (401: no, unknown or "
            "revoked credential) or what they asked (403: another "
            "facility's scope).",
            {{"{status=\"401\"}", h.unauthenticated},
             {"{status=\"403\"}", h.denied}});
    counter("posta_enrollments_total", "Nodes enrolled or re-enrolled.",
            {{"", h.enrollments}});
    counter("posta_credentials_flagged_total",
            "Credentials flagged as used by two boxes.", {{"", h.flagged}});
    counter("posta_audit_entries_received_total",
            "Audit entries received from nodes and stored.",
            {{"", h.audit_entries}});
    counter("posta_sync_push_waits_total",
            "Pushed batches sent ahead that waited for the node's batch "
            "before them.",
            {{"", h.push_waits}});
    out += Gauge("posta_sync_pushes_in_progress",
                 "Push requests being handled now.",
                 std::to_string(h.pushes_in_progress));
  }
  HttpResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.headers.emplace_back("Cache-Control", "no-store");
  response.body = std::move(out);
  return response;
}

}  // namespace posta::node
