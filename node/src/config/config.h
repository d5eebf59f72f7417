// NodeConfig: the node's settings, parsed and validated once from TOML.
// Defaults live here, in code; the file written by `posta init` shows each
// one commented.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

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
  uint16_t listen_port = 8080;
  size_t max_body_bytes = 1 << 20;     // Default: 1 MiB
  size_t max_header_bytes = 16 << 10;  // Default: 16 KiB
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  size_t max_connections = 256;
  size_t worker_threads = 4;
  // [storage]
  std::string synchronous = "full";  // "full" or "normal"
  // [log]
  std::string log_level = "info";  // trace, debug, info, warn, error

  // The file this was loaded from (absolute), empty when built in code.
  std::string source_path;

  // data_dir + "/posta.db"
  std::string DatabasePath() const;
};

// Loads and validates `path`. InvalidArgument("<file>: <key>", reason) for
// an unknown key, a wrong type or a bad value; Malformed("<file>:<line>:<col>",
// reason) for TOML syntax errors; NotFound when the file is missing.
Result<NodeConfig> LoadConfig(const std::string& path,
                              base::Env& env = base::Env::Default());

// Parses TOML text; `source` names it in errors.
Result<NodeConfig> ParseConfig(const std::string& toml_text,
                               const std::string& source);

// The commented TOML written by `posta init`: every key with its value and a
// comment saying what it does and its default.
std::string RenderConfig(const NodeConfig& config);

}  // namespace posta::node
