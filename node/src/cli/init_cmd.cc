// posta init: a new node's directory, config file and empty database.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "cli/commands.h"

namespace posta::node::cli {

namespace {

// Creates `dir` and missing parents with mode 0750 (clinical data: no access
// for other users). An existing directory keeps its mode.
Status MakeDirs(const std::string& dir) {
  std::filesystem::path path = std::filesystem::path(dir).lexically_normal();
  std::filesystem::path so_far;
  for (const auto& part : path) {
    so_far /= part;
    if (part.empty() || part == "/") continue;
    if (::mkdir(so_far.c_str(), 0750) != 0 && errno != EEXIST) {
      int err = errno;
      if (err == EACCES || err == EPERM) {
        return Status::PermissionDenied(so_far.string(), std::strerror(err));
      }
      return Status::IOError(so_far.string(), std::strerror(err));
    }
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(dir, "not a directory");
  }
  return Status::Ok();
}

// Creates data_dir and the database of `config`; returns the new node's id.
Result<std::string> CreateDatabase(const NodeConfig& config, Io& io) {
  const std::string db_path = config.DatabasePath();
  if (io.env.FileExists(db_path)) {
    return Status::Conflict(
        db_path,
        "a database already exists; posta init never replaces one "
        "(back it up and move it away to start over)");
  }
  POSTA_RETURN_IF_ERROR(MakeDirs(config.data_dir));
  storage::StoreOptions store_options;
  store_options.path = db_path;
  store_options.create_if_missing = true;
  store_options.facility = config.facility;
  store_options.role = config.role;
  POSTA_ASSIGN_OR_RETURN(auto store, storage::OpenRecordStore(store_options));
  return store->node_id();
}

// What was made and what to run next; `config_path` points at the node.
void PrintCreated(const NodeConfig& config, const std::string& node_id,
                  const std::string& config_path, Io& io) {
  io.out << "created " << config.DatabasePath() << " (" << config.role
         << ", facility " << config.facility << ", node " << node_id << ")\n"
         << (config.hub_url.empty() ? std::string()
                                    : "syncs with " + config.hub_url + "\n")
         << (config.role == "hub"
                 ? "next: posta hub tls init --config " + config_path +
                       " (clinics sync over HTTPS only)\n"
                 : std::string())
         << "next: posta serve --config " << config_path << "\n";
}

// `posta init --config FILE`: the node of a config written beforehand.
Status InitFromConfig(const InitOptions& options, Io& io) {
  if (!options.dir.empty() || !options.facility.empty() ||
      !options.hub_url.empty() || options.force) {
    return Status::InvalidArgument(
        "--config",
        "takes the role, facility and addresses from the file; "
        "edit it instead of passing --dir, --facility, --hub or "
        "--force");
  }
  POSTA_ASSIGN_OR_RETURN(NodeConfig config,
                         LoadConfig(options.config_path, io.env));
  POSTA_ASSIGN_OR_RETURN(std::string node_id, CreateDatabase(config, io));
  PrintCreated(config, node_id, config.source_path, io);
  return Status::Ok();
}

}  // namespace

Status RunInit(const InitOptions& options, Io& io) {
  if (!options.config_path.empty()) return InitFromConfig(options, io);
  if (options.dir.empty()) {
    return Status::InvalidArgument("--dir", "required");
  }
  if (options.role != "clinic" && options.role != "hub") {
    return Status::InvalidArgument("--role", "must be clinic or hub");
  }
  if (!IsValidFacilityId(options.facility)) {
    return Status::InvalidArgument(
        "--facility", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
  }
  POSTA_ASSIGN_OR_RETURN(ListenAddress listen,
                         ParseListenAddress(options.listen, /*min_port=*/0));

  std::error_code ec;
  const std::string dir =
      std::filesystem::absolute(options.dir, ec).lexically_normal().string();
  if (ec) return Status::IOError(options.dir, ec.message());
  NodeConfig config{.role = options.role,
                    .facility = options.facility,
                    .data_dir = ".",
                    .listen_address = listen.host,
                    .listen_port = listen.port};
  config.hub_url = options.hub_url;
  // The same checks as at start: a bad --hub fails here, not at serve.
  POSTA_RETURN_IF_ERROR(ParseConfig(RenderConfig(config), "--hub").status());
  config.data_dir = dir;
  const std::string db_path = config.DatabasePath();
  const std::string config_path =
      (std::filesystem::path(dir) / "posta.toml").string();

  if (io.env.FileExists(db_path)) {
    return Status::Conflict(
        db_path,
        "a database already exists; posta init never replaces one "
        "(back it up and move it away to start over)");
  }
  const bool config_existed = io.env.FileExists(config_path);
  if (config_existed && !options.force) {
    return Status::Conflict(config_path,
                            "already exists; pass --force to rewrite it");
  }

  POSTA_RETURN_IF_ERROR(MakeDirs(dir));
  // The file names its data directory relative to itself, so the whole
  // directory can be moved or restored elsewhere.
  NodeConfig written = config;
  written.data_dir = ".";
  POSTA_RETURN_IF_ERROR(
      io.env.WriteFileAtomic(config_path, RenderConfig(written), 0640));
  Result<std::string> node_id = CreateDatabase(config, io);
  if (!node_id.ok()) {
    // Leave nothing half made behind: a rerun must not need --force.
    if (!config_existed) (void)io.env.RemoveFile(config_path);
    return node_id.status().WithContext("create database");
  }
  io.out << "created " << config_path << "\n";
  PrintCreated(config, *node_id, config_path, io);
  return Status::Ok();
}

}  // namespace posta::node::cli
