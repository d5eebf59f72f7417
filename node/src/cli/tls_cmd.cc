// posta hub tls init: a self-signed certificate for a hub's first install.
// The key and certificate go into the data directory, the config gets
// [http] tls_cert/tls_key, and the output is what the technician needs at
// each clinic: the key pin and the exact `posta enroll` line.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "cli/commands.h"
#include "http/tls.h"

namespace posta::node::cli {
namespace {

constexpr std::string_view kCertName = "hub-cert.pem";
constexpr std::string_view kKeyName = "hub-key.pem";

bool IsUnspecified(const std::string& address) {
  return address == "0.0.0.0" || address == "::";
}

// When root runs this for a data directory owned by the service user, the
// service must still read its key: give both files to that user.
Status GiveToDataDirOwner(const std::string& data_dir,
                          const std::vector<std::string>& paths) {
  struct stat dir;
  if (::geteuid() != 0 || ::stat(data_dir.c_str(), &dir) != 0 ||
      dir.st_uid == 0) {
    return Status::Ok();
  }
  for (const std::string& path : paths) {
    if (::chown(path.c_str(), dir.st_uid, dir.st_gid) != 0) {
      return Status::PermissionDenied(
          path,
          "written, but could not be given to the data directory's "
          "owner; the service may not read it");
    }
  }
  return Status::Ok();
}

void AddOnce(std::vector<std::string>& list, const std::string& value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) {
    list.push_back(value);
  }
}

}  // namespace

Status RunHubTlsInit(const HubTlsInitOptions& options, Io& io) {
  std::error_code ec;
  const std::filesystem::path config_path =
      std::filesystem::absolute(options.config_path, ec).lexically_normal();
  if (ec) return Status::IOError(options.config_path, ec.message());
  Result<std::string> text =
      io.env.ReadFile(config_path.string(), kMaxConfigBytes);
  if (!text.ok()) return text.status().WithContext("config");
  // Parsed, not loaded: a config whose old certificate is gone or broken
  // must still be fixable with --force.
  POSTA_ASSIGN_OR_RETURN(NodeConfig config,
                         ParseConfig(*text, options.config_path));
  if (config.role != "hub") {
    return Status::InvalidArgument(
        options.config_path + ": node.role",
        "this node is a " + config.role +
            "; posta hub tls init runs on the hub, with the hub's posta.toml");
  }
  if (!config.tls_cert.empty() && !options.force) {
    return Status::Conflict(
        options.config_path + ": http.tls_cert",
        "already set to \"" + config.tls_cert +
            "\"; clinics pinned its key. Pass --force to replace it (every "
            "clinic then needs the new pin)");
  }
  // As written (relative to the config's directory, like data_dir) for the
  // config; resolved for the files.
  const std::string cert_value = config.data_dir + "/" + std::string(kCertName);
  const std::string key_value = config.data_dir + "/" + std::string(kKeyName);
  std::filesystem::path data_dir(config.data_dir);
  if (data_dir.is_relative()) data_dir = config_path.parent_path() / data_dir;
  data_dir = data_dir.lexically_normal();
  const std::string cert_path = (data_dir / kCertName).string();
  const std::string key_path = (data_dir / kKeyName).string();
  if (!options.force) {
    for (const std::string& path : {cert_path, key_path}) {
      if (io.env.FileExists(path)) {
        return Status::Conflict(
            path,
            "exists; pass --force to replace it (every clinic then "
            "needs the new pin)");
      }
    }
  }

  SelfSignedRequest request;
  request.common_name = config.facility;
  for (const std::string& ip : options.ips) AddOnce(request.ip_addresses, ip);
  if (!IsUnspecified(config.listen_address)) {
    AddOnce(request.ip_addresses, config.listen_address);
  }
  for (const std::string& name : options.names) {
    AddOnce(request.dns_names, name);
  }
  POSTA_ASSIGN_OR_RETURN(PemPair pair, MakeSelfSigned(request));
  POSTA_ASSIGN_OR_RETURN(CertificateIds ids,
                         DescribeCertificate(pair.cert_pem, cert_path));

  // The key first: a certificate without its key is of no use.
  POSTA_RETURN_IF_ERROR(io.env.WriteFileAtomic(key_path, pair.key_pem, 0600));
  POSTA_RETURN_IF_ERROR(io.env.WriteFileAtomic(cert_path, pair.cert_pem, 0644));
  POSTA_RETURN_IF_ERROR(
      GiveToDataDirOwner(data_dir.string(), {key_path, cert_path}));

  config.tls_cert = cert_value;
  config.tls_key = key_value;
  const std::string rendered = RenderConfig(config);
  POSTA_RETURN_IF_ERROR(ParseConfig(rendered, "the new config").status());
  POSTA_RETURN_IF_ERROR(
      io.env.WriteFileAtomic(config_path.string(), rendered, 0640));

  // What clinics type: the first name the technician gave, else the
  // address the hub listens on.
  std::string host;
  if (!options.ips.empty()) {
    host = options.ips.front();
  } else if (!options.names.empty()) {
    host = options.names.front();
  } else if (!IsUnspecified(config.listen_address)) {
    host = config.listen_address;
  } else {
    host = "HUB-ADDRESS";
  }
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  const std::string port = config.listen_port != 0
                               ? std::to_string(config.listen_port)
                               : std::string("PORT");
  std::string names;
  for (const std::string& ip : request.ip_addresses) names += " " + ip;
  for (const std::string& name : request.dns_names) names += " " + name;

  io.out << "wrote " << key_path << " (readable by its owner only) and "
         << cert_path << "\n"
         << "self-signed certificate for " << config.facility
         << ", valid 10 years" << (names.empty() ? "" : ", for" + names) << "\n"
         << "pin:         " << ids.pin << "\n"
         << "fingerprint: SHA256 " << ids.fingerprint << "\n"
         << "[http] tls_cert and tls_key set in " << config_path.string()
         << "; restart posta serve to serve HTTPS\n"
         << "on each clinic's box, with a code from posta hub enroll-code:\n"
         << "  posta enroll --config /etc/posta/posta.toml --hub https://"
         << host << ":" << port << " --code CODE --pin " << ids.pin << "\n";
  return Status::Ok();
}

}  // namespace posta::node::cli
