// posta bundle export / import: sync by USB stick. The batches, cursors and
// acknowledgements of network sync, written to one authenticated file that
// a person carries between a clinic with no link and its hub (a "sync
// bundle"; not the FHIR search Bundle). docs/sync-protocol.md "Sync
// bundles", docs/cli.md.
#pragma once

#include <string>

#include "cli/commands.h"

namespace posta::node::cli {

struct BundleExportOptions {
  std::string config_path;
  std::string to;        // the bundle file to write (on the stick)
  std::string facility;  // hub only: the clinic's facility (--for)
  std::string node;      // hub only: which node, when the facility has several
  bool force = false;    // replace an existing file
  bool apply_config_log_level = true;
};
// Writes the bundle to `to` + ".partial" beside it, then renames it over
// `to`; refuses an existing `to` without `force`.
Status RunBundleExport(const BundleExportOptions& options, Io& io);

struct BundleImportOptions {
  std::string config_path;
  std::string file;
  bool apply_config_log_level = true;
};
// Verifies the whole bundle, then applies it with a progress display and
// prints a summary. A bundle cut short applies its complete batches, prints
// the summary, and fails saying what is missing.
Status RunBundleImport(const BundleImportOptions& options, Io& io);

}  // namespace posta::node::cli
