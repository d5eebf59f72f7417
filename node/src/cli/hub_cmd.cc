// posta hub facility|enroll-code|node: a hub administrator registers
// facilities, issues one-time enrollment codes, lists and revokes enrolled
// nodes. Each opens the hub's database beside a running `posta serve`
// (SQLite's locking and the busy timeout serialize the writes).
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "posta/sync/credentials.h"

namespace posta::node::cli {
namespace {

// The hub's node, or InvalidArgument when the config is a clinic's.
Result<OpenedNode> OpenHub(const std::string& config_path, bool apply_log_level,
                           bool read_only, Io& io) {
  POSTA_ASSIGN_OR_RETURN(NodeConfig config,
                         LoadNodeConfig(config_path, apply_log_level, io.env));
  if (config.role != "hub") {
    return Status::InvalidArgument(
        config.source_path + ": node.role",
        "this node is a " + config.role +
            "; posta hub commands run on the hub, with the hub's posta.toml");
  }
  return OpenNode(config_path, /*apply_log_level=*/false, read_only, io.env);
}

std::string Instant(int64_t ms) {
  return ms > 0 ? storage::FormatInstant(ms) : std::string("-");
}

nlohmann::ordered_json InstantJson(int64_t ms) {
  if (ms <= 0) return nullptr;
  return storage::FormatInstant(ms);
}

}  // namespace

Result<std::chrono::milliseconds> ParseExpiry(std::string_view text) {
  const std::string shown = "--expires " + std::string(text.substr(0, 32));
  if (text.size() < 2 || text.size() > 8) {
    return Status::InvalidArgument(shown,
                                   "write a number and m, h or d, like 48h");
  }
  const char unit = text.back();
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') {
      return Status::InvalidArgument(shown,
                                     "write a number and m, h or d, like 48h");
    }
    n = n * 10 + (c - '0');
  }
  std::chrono::milliseconds life{0};
  switch (unit) {
    case 'm':
      life = std::chrono::minutes(n);
      break;
    case 'h':
      life = std::chrono::hours(n);
      break;
    case 'd':
      life = std::chrono::hours(24 * n);
      break;
    default:
      return Status::InvalidArgument(
          shown, "the unit must be m (minutes), h (hours) or d (days)");
  }
  if (life.count() <= 0) {
    return Status::InvalidArgument(shown, "must be more than zero");
  }
  if (life > kMaxEnrollCodeLife) {
    return Status::InvalidArgument(
        shown, "longer than 30 days; issue a code when the box is ready");
  }
  return life;
}

Status RunHubFacilityAdd(const HubFacilityAddOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode hub,
      OpenHub(options.config_path, options.apply_config_log_level, false, io));
  storage::FacilityEntry facility;
  facility.id = options.id;
  facility.name = options.name;
  facility.region = options.region;
  facility.created_ms = io.clock.WallNowMillis();
  POSTA_RETURN_IF_ERROR(hub.store->AddFacility(facility));
  io.out << "added facility " << facility.id << " (" << facility.name << ")";
  if (!facility.region.empty()) io.out << " in region " << facility.region;
  io.out << "; issue a code for its box with: posta hub enroll-code --config "
         << options.config_path << " --facility " << facility.id << "\n";
  return Status::Ok();
}

Status RunHubFacilityList(const HubListOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode hub,
      OpenHub(options.config_path, options.apply_config_log_level, true, io));
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::FacilityEntry> facilities,
                         hub.store->ListFacilities());
  if (options.json) {
    for (const storage::FacilityEntry& f : facilities) {
      nlohmann::ordered_json j;
      j["id"] = f.id;
      j["name"] = f.name;
      j["region"] = f.region;
      j["created"] = InstantJson(f.created_ms);
      io.out << j.dump() << "\n";
    }
    return Status::Ok();
  }
  if (facilities.empty()) {
    io.out << "no facilities; add one with posta hub facility add\n";
    return Status::Ok();
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-24s %-12s %-24s %s\n", "FACILITY",
                "REGION", "ADDED", "NAME");
  io.out << line;
  for (const storage::FacilityEntry& f : facilities) {
    std::snprintf(line, sizeof line, "%-24s %-12s %-24s %s\n", f.id.c_str(),
                  f.region.empty() ? "-" : f.region.c_str(),
                  Instant(f.created_ms).c_str(), f.name.c_str());
    io.out << line;
  }
  return Status::Ok();
}

Status RunHubEnrollCode(const HubEnrollCodeOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(std::chrono::milliseconds life,
                         ParseExpiry(options.expires));
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode hub,
      OpenHub(options.config_path, options.apply_config_log_level, false, io));
  if (!options.region.empty()) {
    // A mistyped region would enroll a hub that receives nothing.
    POSTA_ASSIGN_OR_RETURN(std::vector<storage::FacilityEntry> facilities,
                           hub.store->ListFacilities());
    const bool known = std::any_of(facilities.begin(), facilities.end(),
                                   [&](const storage::FacilityEntry& f) {
                                     return f.region == options.region;
                                   });
    if (!known) {
      return Status::InvalidArgument(
          "--region " + options.region.substr(0, 64),
          "no facility registered here is in this region; register the "
          "district's facilities first (posta hub facility add --region " +
              options.region.substr(0, 64) + ")");
    }
  }
  POSTA_ASSIGN_OR_RETURN(std::string code, sync::NewEnrollmentCode());
  POSTA_ASSIGN_OR_RETURN(std::string canonical,
                         sync::NormalizeEnrollmentCode(code));
  storage::EnrollmentCode stored;
  stored.code_hash = sync::HashSecret(canonical);
  stored.facility = options.facility;
  stored.region = options.region;
  stored.created_ms = io.clock.WallNowMillis();
  stored.expires_ms = stored.created_ms + life.count();
  POSTA_RETURN_IF_ERROR(hub.store->AddEnrollmentCode(stored));
  io.out << "enrollment code for "
         << (options.region.empty() ? "" : "the hub of ") << "facility "
         << options.facility;
  if (!options.region.empty()) {
    io.out << " (serving region " << options.region << ")";
  }
  io.out << ": " << code << "\n"
         << "valid once, until " << storage::FormatInstant(stored.expires_ms)
         << "; it is not shown again. On the "
         << (options.region.empty() ? "clinic's" : "hub's") << " box run:\n"
         << "  posta enroll --config /etc/posta/posta.toml --hub <this hub's "
            "URL> --code "
         << code << "\n";
  return Status::Ok();
}

Status RunHubNodeList(const HubListOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode hub,
      OpenHub(options.config_path, options.apply_config_log_level, true, io));
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::EnrolledNode> nodes,
                         hub.store->ListEnrolledNodes());
  if (options.json) {
    for (const storage::EnrolledNode& n : nodes) {
      nlohmann::ordered_json j;
      j["node_id"] = n.node_id;
      j["facility"] = n.facility;
      j["region"] = n.region;  // "" for a clinic; a hub node's scope
      j["enrolled"] = InstantJson(n.enrolled_ms);
      j["last_seen"] = InstantJson(n.last_seen_ms);
      j["last_address"] = n.last_address;
      j["revoked"] = InstantJson(n.revoked_ms);
      j["flagged"] = InstantJson(n.flagged_ms);
      j["flag"] = n.flag;
      io.out << j.dump() << "\n";
    }
    return Status::Ok();
  }
  if (nodes.empty()) {
    io.out << "no enrolled nodes; issue a code with posta hub enroll-code\n";
    return Status::Ok();
  }
  const int64_t now = io.clock.WallNowMillis();
  char line[512];
  std::snprintf(line, sizeof line, "%-17s %-20s %-24s %-34s %s\n", "NODE",
                "FACILITY", "ENROLLED", "LAST SEEN", "STATE");
  io.out << line;
  for (const storage::EnrolledNode& n : nodes) {
    std::string seen = n.last_seen_ms > 0 ? FormatAgo(n.last_seen_ms, now) +
                                                " from " + n.last_address
                                          : std::string("never");
    std::string state = n.revoked_ms > 0 ? "revoked " + Instant(n.revoked_ms)
                                         : std::string("active");
    if (!n.region.empty()) state += "; hub of region " + n.region;
    if (n.flagged_ms > 0) {
      state += "; FLAGGED " + Instant(n.flagged_ms) + ": " + n.flag;
    }
    std::snprintf(line, sizeof line, "%-17s %-20s %-24s %-34s %s\n",
                  n.node_id.c_str(), n.facility.c_str(),
                  Instant(n.enrolled_ms).c_str(), seen.c_str(), state.c_str());
    io.out << line;
  }
  return Status::Ok();
}

Status RunHubNodeRevoke(const HubNodeRevokeOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode hub,
      OpenHub(options.config_path, options.apply_config_log_level, false, io));
  POSTA_ASSIGN_OR_RETURN(
      storage::EnrolledNode node,
      hub.store->RevokeEnrolledNode(options.node_id, io.clock.WallNowMillis()));
  io.out << "node " << node.node_id << " of facility " << node.facility
         << " revoked at " << storage::FormatInstant(node.revoked_ms)
         << "; its next sync is refused, what it synced stays. To let it "
            "back, issue a new code (posta hub enroll-code) and run posta "
            "enroll on the box.\n";
  return Status::Ok();
}

}  // namespace posta::node::cli
