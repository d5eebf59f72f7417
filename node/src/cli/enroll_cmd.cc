// posta enroll: a technician enrolls a clinic's box with its hub using the
// one-time code the hub's administrator issued. The box gets its own
// credential, kept in data_dir/credential readable by the service user only.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "cli/commands.h"
#include "config/config_edit.h"
#include "posta/sync/credentials.h"
#include "posta/sync/http_transport.h"
#include "posta/sync/sync_client.h"
#include "syncd/sync_runner.h"

namespace posta::node::cli {
namespace {

// Writes the credential with mode 0600 and, when root enrolls for a data
// directory owned by the service user, gives the file to that user. Returns
// a warning for the output, or "" when the file is as it should be.
Result<std::string> WriteCredential(const NodeConfig& config,
                                    const std::string& credential, Io& io) {
  const std::string path = config.CredentialPath();
  POSTA_RETURN_IF_ERROR(io.env.WriteFileAtomic(path, credential + "\n", 0600));
  struct stat dir;
  if (::geteuid() == 0 && ::stat(config.data_dir.c_str(), &dir) == 0 &&
      dir.st_uid != 0) {
    if (::chown(path.c_str(), dir.st_uid, dir.st_gid) != 0) {
      return "could not give " + path +
             " to the data directory's owner; the service may not read it";
    }
  }
  struct stat file;
  if (::stat(path.c_str(), &file) != 0) {
    return Status::IOError(path, "written but cannot be read back");
  }
  if ((file.st_mode & 077) != 0) {
    // A file system without Unix modes (a FAT stick, some mounts): say so
    // rather than leave a readable credential silently.
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o",
                  static_cast<unsigned>(file.st_mode & 0777));
    return path + " is readable by other users (mode " + mode +
           "); keep the data directory on a Unix file system";
  }
  return std::string();
}

// Records the hub URL, CA file and pin given in the config file, editing
// only their lines: the technician's comments and settings stay as written.
Status RecordInConfig(const NodeConfig& loaded, const EnrollOptions& options,
                      Io& io) {
  POSTA_ASSIGN_OR_RETURN(std::string text,
                         io.env.ReadFile(loaded.source_path, kMaxConfigBytes));
  POSTA_ASSIGN_OR_RETURN(NodeConfig config,
                         ParseConfig(text, loaded.source_path));
  std::string edited = text;
  const std::pair<const std::string*, std::string NodeConfig::*> settings[] = {
      {&options.hub_url, &NodeConfig::hub_url},
      {&options.ca_file, &NodeConfig::hub_ca_file},
      {&options.pin, &NodeConfig::hub_pin}};
  // A hub's hub is its `upstream` (HubUrlKey), a clinic's its `hub_url`.
  const std::string_view keys[] = {HubUrlKey(config), "hub_ca_file", "hub_pin"};
  for (size_t i = 0; i < 3; ++i) {
    if (settings[i].first->empty()) continue;
    config.*settings[i].second = *settings[i].first;
    edited = SetConfigString(edited, "sync", keys[i], *settings[i].first);
  }
  // Checked before it is written: a bad URL or pin leaves the file alone.
  auto says_what_was_meant = [&config](const Result<NodeConfig>& reparsed) {
    return reparsed.ok() && reparsed->hub_url == config.hub_url &&
           reparsed->hub_ca_file == config.hub_ca_file &&
           reparsed->hub_pin == config.hub_pin;
  };
  Result<NodeConfig> reparsed = ParseConfig(edited, "the new config");
  if (!says_what_was_meant(reparsed) && keys[0] != "hub_url" &&
      !options.hub_url.empty()) {
    // A hub whose file still names its upstream hub with hub_url, the older
    // name: that line now disagrees with upstream, so it gets the same URL.
    edited = SetConfigString(edited, "sync", "hub_url", options.hub_url);
    reparsed = ParseConfig(edited, "the new config");
  }
  if (!says_what_was_meant(reparsed)) {
    // A file whose [sync] the line edit cannot reach (a dotted key, an
    // inline table) is written whole instead, as `posta init` would.
    edited = RenderConfig(config);
    POSTA_RETURN_IF_ERROR(ParseConfig(edited, "the new config").status());
  }
  return io.env.WriteFileAtomic(loaded.source_path, edited, 0640);
}

}  // namespace

Status RunEnroll(const EnrollOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      NodeConfig config,
      LoadNodeConfig(options.config_path, options.apply_config_log_level,
                     io.env));
  // A clinic enrolls with its hub; a hub enrolls with the hub above it
  // (docs/sync-protocol.md, "Tiers") using a hub's code, and the upstream
  // hub refuses a clinic's code at its first hello.
  // The code's form is checked before anything goes out.
  POSTA_RETURN_IF_ERROR(sync::NormalizeEnrollmentCode(options.code)
                            .status()
                            .WithContext("--code"));
  NodeConfig wanted = config;
  if (!options.hub_url.empty()) wanted.hub_url = options.hub_url;
  if (!options.ca_file.empty()) wanted.hub_ca_file = options.ca_file;
  if (!options.pin.empty()) wanted.hub_pin = options.pin;
  if (wanted.hub_url.empty()) {
    return Status::InvalidArgument(
        config.source_path + ": sync." + std::string(HubUrlKey(config)),
        "no hub to enroll with; pass --hub URL (it is kept in the config)");
  }
  // Validates the URL, CA file path and pin as the config would.
  POSTA_RETURN_IF_ERROR(
      ParseConfig(RenderConfig(wanted), "--hub/--ca-file/--pin").status());

  POSTA_ASSIGN_OR_RETURN(auto store,
                         OpenStore(config, /*read_only=*/false, io.env));
  POSTA_ASSIGN_OR_RETURN(auto transport,
                         sync::NewHttpTransport(TransportOptionsFor(wanted)));
  sync::EnrollRequest request;
  request.code = options.code;
  request.node_id = store->node_id();
  request.facility = store->facility();
  request.software = POSTA_VERSION;
  Result<sync::EnrollReply> reply = sync::Enroll(*transport, request);
  if (!reply.ok()) {
    return reply.status().WithContext("enroll with " + wanted.hub_url);
  }
  if (reply->facility != store->facility()) {
    // The hub checks this too; a hub that answered otherwise is not trusted.
    return Status::PermissionDenied(
        "enroll with " + wanted.hub_url,
        "the hub enrolled this node for facility " + reply->facility +
            " but it holds facility " + store->facility());
  }
  POSTA_ASSIGN_OR_RETURN(std::string warning,
                         WriteCredential(config, reply->credential, io));
  // The hub is known from now on, so a clinic with no link can write a
  // sync bundle for it before its first network sync.
  if (Result<storage::PeerState> hub = store->GetPeer(reply->hub_node_id);
      !hub.ok() && hub.status().code() == Status::Code::kNotFound) {
    storage::PeerState peer;
    peer.node_id = reply->hub_node_id;
    peer.role = std::string(sync::kRoleHub);
    POSTA_RETURN_IF_ERROR(store->UpdatePeer(peer));
  }
  const bool config_changed = wanted.hub_url != config.hub_url ||
                              wanted.hub_ca_file != config.hub_ca_file ||
                              wanted.hub_pin != config.hub_pin;
  if (config_changed) {
    POSTA_RETURN_IF_ERROR(RecordInConfig(config, options, io));
  }

  io.out << "enrolled node " << store->node_id() << " of facility "
         << reply->facility << " with hub " << reply->hub_node_id << " ("
         << wanted.hub_url << ")\n"
         << "credential written to " << config.CredentialPath()
         << " (readable by its owner only)\n";
  if (config_changed) {
    io.out << "hub recorded in " << config.source_path << "\n";
  }
  if (wanted.hub_url.rfind("https://", 0) == 0) {
    if (wanted.hub_ca_file.empty() && wanted.hub_pin.empty()) {
      io.out << "note: the hub's certificate is checked against the system's "
                "CAs only; pin it with --ca-file or --pin\n";
    }
  } else {
    io.out << "warning: " << wanted.hub_url
           << " is not https: records and the credential cross the network "
              "unencrypted\n";
  }
  if (!warning.empty()) io.out << "warning: " << warning << "\n";
  io.out << "next: posta sync --config " << options.config_path << "\n";
  return Status::Ok();
}

}  // namespace posta::node::cli
