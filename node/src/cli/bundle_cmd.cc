// posta bundle export / import (bundle_cmd.h). The file named on the
// command line is the only path used: nothing inside a bundle names one,
// and the export's temporary file sits beside its target so that the
// rename is atomic on the stick.
#include "cli/bundle_cmd.h"

#include <sys/stat.h>

#include <fstream>

#include "cli/progress.h"
#include "posta/sync/bundle_exchange.h"
#include "syncd/sync_runner.h"

namespace posta::node::cli {
namespace {

sync::BundleOptions OptionsFor(const NodeConfig& config) {
  sync::BundleOptions options;
  options.max_clock_skew = config.max_clock_skew;
  return options;
}

// The one enrolled, unrevoked node of `facility` (or `node`, which must be
// of it).
Result<std::string> PickNode(storage::RecordStore& store,
                             const std::string& facility,
                             const std::string& node) {
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::EnrolledNode> nodes,
                         store.ListEnrolledNodes());
  std::vector<std::string> of_facility;
  for (const storage::EnrolledNode& n : nodes) {
    if (n.facility != facility || n.revoked_ms != 0) continue;
    if (!node.empty() && n.node_id != node) continue;
    of_facility.push_back(n.node_id);
  }
  if (of_facility.empty()) {
    return Status::NotFound(
        "--for " + facility + (node.empty() ? "" : " --node " + node),
        "no enrolled, unrevoked node of that facility on this hub (see "
        "posta hub node list)");
  }
  if (of_facility.size() > 1) {
    std::string list;
    for (const std::string& id : of_facility) list += " " + id;
    return Status::InvalidArgument(
        "--for " + facility,
        "the facility has several enrolled nodes (" + list.substr(1) +
            "); name the one the bundle is for with --node");
  }
  return of_facility.front();
}

std::string Counts(const sync::BundleImport& r) {
  return std::to_string(r.batches) + " batches applied (" +
         std::to_string(r.records) +
         " records: " + std::to_string(r.stats.taken) + " taken, " +
         std::to_string(r.stats.merged) + " merged, " +
         std::to_string(r.stats.ignored) + " already here; " +
         std::to_string(r.stats.conflicts) + " new conflicts), " +
         std::to_string(r.skipped_batches) + " held before";
}

}  // namespace

Status RunBundleExport(const BundleExportOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/false, io.env));
  const NodeConfig& config = node.config;
  const bool is_hub = config.role == "hub";
  if (is_hub && options.facility.empty()) {
    return Status::InvalidArgument(
        "--for", "on a hub, name the clinic's facility the bundle is for");
  }
  if (!is_hub && (!options.facility.empty() || !options.node.empty())) {
    return Status::InvalidArgument(
        options.facility.empty() ? "--node" : "--for",
        "a clinic's bundle is always for its hub; leave it out");
  }
  if (options.to.empty() || options.to == "-") {
    return Status::InvalidArgument("--to",
                                   "name the bundle file to write (on the "
                                   "stick)");
  }
  // lstat: a link at that name counts as a file there; --force replaces
  // the link itself, never what it points to.
  struct stat existing;
  if (::lstat(options.to.c_str(), &existing) == 0) {
    if (!options.force) {
      return Status::PreconditionFailed(
          options.to, "already exists; pass --force to replace it");
    }
    if (S_ISDIR(existing.st_mode)) {
      return Status::InvalidArgument(options.to, "is a directory");
    }
  }
  POSTA_ASSIGN_OR_RETURN(std::unique_ptr<OutputFile> out,
                         OutputFile::Open(options.to, io.out));
  const sync::BundleSink sink = [&out](std::string_view bytes) {
    return out->Write(bytes);
  };
  const sync::BundleOptions bundle_options = OptionsFor(config);
  // As import's display, but the file's size is not known until it is
  // written: the changes to write (counted first) are the measure.
  ProgressDisplay display(
      io.err, {.label = "bundle export", .tty = io.err_is_tty}, io.clock);
  const sync::BundleProgressFn progress = [&](const sync::BundleProgress& p) {
    display.Update(p.records, p.records_total, p.records);
  };
  Result<sync::BundleExport> written = Status::Internal("bundle", "unset");
  std::string destination;
  if (is_hub) {
    POSTA_ASSIGN_OR_RETURN(
        std::string node_id,
        PickNode(*node.store, options.facility, options.node));
    HubEndpoint endpoint(*node.store, io.clock, config);
    written = sync::ExportHubBundle(endpoint.service(), *node.store, node_id,
                                    sink, io.clock, bundle_options, progress);
    destination = "clinic " + node_id + " (facility " + options.facility + ")";
  } else {
    POSTA_ASSIGN_OR_RETURN(std::string credential,
                           LoadCredential(config, io.env));
    if (credential.empty()) {
      return Status::PreconditionFailed(
          config.CredentialPath(),
          "this clinic is not enrolled: run posta enroll --config " +
              options.config_path + " --code CODE first");
    }
    written = sync::ExportClinicBundle(*node.store, credential, sink, io.clock,
                                       bundle_options, progress);
    if (written.ok()) {
      destination = "hub " + written->header.destination_node_id;
    }
  }
  display.Finish();
  if (!written.ok()) return written.status().WithContext("bundle export");
  POSTA_RETURN_IF_ERROR(out->Commit());
  io.out << "wrote sync bundle " << options.to << " for " << destination << ": "
         << written->batches << " batches, " << written->records << " records, "
         << FormatBytes(static_cast<int64_t>(written->bytes)) << "\n";
  if (is_hub) {
    io.out << "it acknowledges the clinic's changes up to "
           << written->header.push_from << "; carry it to the clinic and run "
           << "posta bundle import there\n";
  } else {
    io.out << "it holds this clinic's changes after "
           << written->header.push_from
           << " (what the hub has acknowledged); carry it to the hub and run "
              "posta bundle import there\n";
  }
  return Status::Ok();
}

Status RunBundleImport(const BundleImportOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/false, io.env));
  const NodeConfig& config = node.config;
  struct stat file;
  if (::stat(options.file.c_str(), &file) != 0) {
    return Status::NotFound(options.file, "no such file");
  }
  if (!S_ISREG(file.st_mode)) {
    return Status::InvalidArgument(options.file,
                                   "is not a regular file (a sync bundle is "
                                   "read twice: to verify, then to apply)");
  }
  std::ifstream in(options.file, std::ios::binary);
  if (!in) return Status::IOError(options.file, "cannot be opened");
  ProgressDisplay::Options shown;
  shown.label = "bundle import";
  shown.unit = ProgressDisplay::Unit::kBytes;
  shown.tty = io.err_is_tty;
  ProgressDisplay display(io.err, shown, io.clock);
  const auto total = static_cast<int64_t>(file.st_size);
  const sync::BundleProgressFn progress = [&](const sync::BundleProgress& p) {
    display.Update(static_cast<int64_t>(p.bytes_done), total, p.records);
  };
  const sync::BundleOptions bundle_options = OptionsFor(config);
  Result<sync::BundleImport> imported = Status::Internal("bundle", "unset");
  if (config.role == "hub") {
    HubEndpoint endpoint(*node.store, io.clock, config);
    imported = sync::ImportHubBundle(endpoint.service(), *node.store, in,
                                     bundle_options, progress);
  } else {
    POSTA_ASSIGN_OR_RETURN(std::string credential,
                           LoadCredential(config, io.env));
    if (credential.empty()) {
      return Status::PreconditionFailed(
          config.CredentialPath(),
          "this clinic is not enrolled, so it cannot check who wrote a "
          "bundle: run posta enroll first");
    }
    imported = sync::ImportClinicBundle(*node.store, credential, in, io.clock,
                                        bundle_options, progress);
  }
  display.Finish();
  if (!imported.ok()) {
    return imported.status().WithContext("bundle import " + options.file);
  }
  const sync::BundleImport& r = *imported;
  io.out << "imported sync bundle " << options.file << " from "
         << (config.role == "hub" ? "clinic " : "hub ")
         << r.header.origin_node_id << " (facility " << r.header.origin_facility
         << ", written " << storage::FormatInstant(r.header.created_ms)
         << "): " << Counts(r) << "\n";
  if (config.role != "hub") {
    io.out << "the hub has acknowledged this clinic's changes up to "
           << r.push_acked << "\n";
  }
  if (!r.complete) {
    return Status::Malformed("bundle import " + options.file, r.missing);
  }
  return Status::Ok();
}

}  // namespace posta::node::cli
