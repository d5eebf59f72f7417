// NodeConfig: the node's settings, parsed and validated once from TOML.
// Defaults live here, in code; the file written by `posta init` shows each
// one commented.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "posta/base/env.h"
#include "posta/base/status.h"

namespace posta::node {

struct NodeConfig {
  // [node]
  std::string role = "clinic";  // "clinic" or "hub"
  std::string facility;         // required: [A-Za-z0-9._-]{1,64}
  std::string data_dir;         // required; relative paths are taken from
                                // the config file's directory
  // [http]
  std::string listen_address = "127.0.0.1";  // Default: loopback only
  uint16_t listen_port = 8080;               // 0 picks a free port (tests)
  size_t max_body_bytes = 1 << 20;           // Default: 1 MiB
  size_t max_header_bytes = 16 << 10;        // Default: 16 KiB
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  size_t max_connections = 256;
  size_t worker_threads = 4;
  // Who must log in (docs/api.md, "Authentication"): "auto" (everyone when
  // listening beyond loopback, nobody on loopback), "required" (everyone),
  // "writes" (writes only; loopback only).
  std::string auth = "auto";
  // A session ends after this long unused, or this long after login.
  // Defaults: 12 h idle, 7 days in all.
  std::chrono::milliseconds session_idle{12 * 3600 * 1000};
  std::chrono::milliseconds session_max{7 * 24 * 3600 * 1000};
  // PEM certificate and key: both set, the node serves HTTPS only (a hub's
  // sync needs it). Relative paths are taken from the config file's
  // directory; LoadConfig checks both files and that they belong together.
  // Written by `posta hub tls init`. Default: "" (plain HTTP).
  std::string tls_cert;
  std::string tls_key;
  // [storage]
  std::string synchronous = "full";  // "full" or "normal"
  // The disk guard: below this much free space on data_dir's file system
  // the node refuses new record writes (507), keeps serving reads and says
  // so in /health. Key min_free_mb; 0 turns the guard off. Default: 64 MiB.
  uint64_t min_free_bytes = uint64_t{64} << 20;
  // [sync]
  // The hub this node syncs with, e.g. "http://10.0.0.5:8081"; empty: no
  // sync. A clinic's [sync] hub_url; a hub's [sync] upstream, the hub above
  // it (a district hub's national hub; hub_url is read there too, as its
  // older name). HubUrlKey says which key.
  std::string hub_url;
  // Sync on this schedule when nothing else starts one. Default: 5 min.
  std::chrono::milliseconds sync_interval{300000};
  // Sync this soon after a local write (while the hub is reachable).
  // Default: 10 s.
  std::chrono::milliseconds sync_after_write{10000};
  // A peer stamp further ahead of this clock is flagged and cannot win.
  // Default: 24 h.
  std::chrono::milliseconds max_clock_skew{24 * 3600 * 1000};
  // HTTP proxy for the hub link; empty: the environment's (http_proxy ...);
  // "none": never a proxy.
  std::string sync_proxy;
  // For an https hub: a CA file (absolute path) trusted instead of the
  // system's, and a pin of the hub's public key ("sha256//<base64>"); both
  // set by `posta enroll --ca-file/--pin` or by hand. Default: "".
  std::string hub_ca_file;
  std::string hub_pin;
  // A hub without tls_cert refuses sync (403 tls_required) unless this is
  // true and the clinic connects from loopback: for tests and demos on one
  // machine. Default: false.
  bool allow_plain_http = false;
  // [backup] (run by `posta serve`)
  // Directory of scheduled backups; "" means data_dir/backups. Relative
  // paths are taken from the config file's directory.
  std::string backup_dir;
  // A verified backup this often (key every_h); 0: no scheduled backups.
  // Default: 24 h.
  std::chrono::milliseconds backup_every{24 * 3600 * 1000};
  // Scheduled backups kept; older ones are removed. Default: 7.
  int backup_keep = 7;
  // [reports] (a hub): a facility whose last completed sync is at most
  // `fresh_h` hours old is fresh, at most `late_h` late, else silent.
  // Defaults: 48 and 168 (2 and 7 days).
  int64_t reports_fresh_h = 48;
  int64_t reports_late_h = 168;
  // [log]
  std::string log_level = "info";  // trace, debug, info, warn, error

  // The file this was loaded from (absolute), empty when built in code.
  std::string source_path;

  // data_dir + "/posta.db"
  std::string DatabasePath() const;
  // data_dir + "/credential": a clinic's credential from `posta enroll`,
  // mode 0600.
  std::string CredentialPath() const;
  // backup_dir, or data_dir + "/backups" when it is empty.
  std::string BackupDir() const;

  friend bool operator==(const NodeConfig&, const NodeConfig&) = default;
};

// Config files larger than this are refused before parsing.
inline constexpr uint64_t kMaxConfigBytes = 64 << 10;

// Loads and validates `path`. InvalidArgument("<file>: <key>", reason) for
// an unknown key, a wrong type or a bad value; Malformed("<file>:<line>:<col>",
// reason) for TOML syntax errors; NotFound when the file is missing; TooLarge
// past kMaxConfigBytes. On success source_path is `path` made absolute and a
// relative data_dir is resolved against its directory.
Result<NodeConfig> LoadConfig(const std::string& path,
                              base::Env& env = base::Env::Default());

// Parses TOML text; `source` names it in errors. data_dir is returned as
// written (LoadConfig resolves it) and source_path is left empty.
Result<NodeConfig> ParseConfig(const std::string& toml_text,
                               const std::string& source);

// The commented TOML written by `posta init`: every key with its value and a
// comment saying what it does and its default. ParseConfig(RenderConfig(c))
// gives back `c` (less source_path).
std::string RenderConfig(const NodeConfig& config);

// The [sync] key that holds `hub_url` for this node's role, as RenderConfig
// writes it and errors name it: "upstream" on a hub, "hub_url" on a clinic.
std::string_view HubUrlKey(const NodeConfig& config);

// True for 1..64 characters of [A-Za-z0-9._-].
bool IsValidFacilityId(std::string_view id);

struct ListenAddress {
  std::string host;  // an IPv4 or IPv6 literal, without brackets
  uint16_t port = 0;
};

// Parses "127.0.0.1:8080" or "[::1]:8080". InvalidArgument(text, why) when
// the host is not an IP literal or the port is not a number in
// [min_port, 65535].
Result<ListenAddress> ParseListenAddress(std::string_view text,
                                         uint16_t min_port = 1);

// True for a loopback IP literal: 127.0.0.0/8 or ::1.
bool IsLoopbackHost(std::string_view host);

// "127.0.0.1:8080", "[::1]:8080".
std::string FormatListenAddress(const std::string& host, uint16_t port);

}  // namespace posta::node
