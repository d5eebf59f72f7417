// posta sync: one sync with the hub, in the foreground, with progress.
#pragma once

#include <string>

#include "cli/commands.h"

namespace posta::node::cli {

struct SyncCmdOptions {
  std::string config_path;
  // Attempts on a retryable failure (the link, the hub) before giving up,
  // with backoff between them.
  int attempts = 5;
  // Instead of syncing: print the JSON view of an encoded sync message
  // file (a captured batch) and exit.
  std::string dump_path;
  bool apply_config_log_level = true;
};

// Exit 0 (Ok) only when fully caught up both ways.
Status RunSync(const SyncCmdOptions& options, Io& io);

}  // namespace posta::node::cli
