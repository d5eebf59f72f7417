// Sync bundles end to end: what a clinic or a hub writes into a bundle file
// (bundle_file.h) and how the other side applies it. The batches, cursors
// and acknowledgements are those of network sync (sync_client.h,
// hub_service.h), so a clinic may alternate between its link and bundles
// freely. docs/sync-protocol.md "Sync bundles".
//
//   clinic → hub: an ack frame with the clinic's pull cursor (a
//     PullRequest), then push batches of everything the hub has not
//     acknowledged. The hub applies each through HubService::HandleBundled,
//     the checks and transaction of a network push.
//   hub → clinic: an ack frame with what the hub has applied of the
//     clinic's log (a PushAck, as a network push answers), then pull batches
//     of the clinic's scope after the cursor it last acknowledged. The
//     clinic applies each batch with its cursor in one transaction, and
//     moves its push cursor forward to the ack (never back).
//
// Importing verifies the whole file first (every MAC, in order) and applies
// nothing when any frame fails: a changed byte or a foreign bundle changes
// nothing. A file cut short is applied up to its last complete frame, and
// the result says so. Importing a bundle again, or an older one, skips the
// batches already held.
//
// Threading: one export or import at a time per store.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <string_view>

#include "posta/base/clock.h"
#include "posta/base/status.h"
#include "posta/storage/record_store.h"
#include "posta/sync/bundle_file.h"
#include "posta/sync/hub_service.h"
#include "posta/sync/wire.h"

namespace posta::sync {

struct BundleOptions {
  // One batch, before compression. Default: 1 MiB.
  size_t batch_bytes = size_t{1} << 20;
  WireLimits limits;
  BundleLimits bundle_limits;
  // As SyncOptions::max_clock_skew, for the clinic's merges. Default: 24 h.
  std::chrono::milliseconds max_clock_skew = std::chrono::hours(24);
};

// What an export wrote.
struct BundleExport {
  BundleHeader header;
  int64_t batches = 0;  // push or pull batches (the ack not counted)
  int64_t records = 0;  // changes in them
  uint64_t bytes = 0;   // the whole file
};

// How far an export or import has come, reported after each batch.
struct BundleProgress {
  // Import: bytes of the file applied so far. Export: bytes written so far.
  uint64_t bytes_done = 0;
  int64_t batches = 0;
  int64_t records = 0;
  // Export: the changes it will write, counted before the first batch (as
  // RecordStore::CountChanges counts: conflict changes not included, so
  // `records` may pass it). Import: 0 (the file's size is the measure).
  int64_t records_total = 0;
};
using BundleProgressFn = std::function<void(const BundleProgress&)>;

// What an import did.
struct BundleImport {
  BundleHeader header;
  int64_t batches = 0;          // batches applied
  int64_t skipped_batches = 0;  // batches held before (an older bundle)
  int64_t records = 0;          // changes in the applied batches
  storage::ApplyStats stats;    // what applying them did
  // Clinic: the hub's acknowledgement of this clinic's pushes, as now
  // recorded (0 for a hub's import).
  int64_t push_acked = 0;
  // False when the file was cut short (no trailer); `missing` then says
  // where it ends ("the bundle ends after batch 3; its trailer is
  // missing"), and the complete batches before it were applied.
  bool complete = true;
  std::string missing;
};

// ---- Clinic ----

// Writes everything `store` (a clinic) made that its hub has not
// acknowledged, and its pull cursor, as a bundle for its hub. `credential`
// is the clinic's (data_dir/credential). PreconditionFailed when the clinic
// does not know its hub yet (never enrolled).
// `progress` (when set) hears after each batch written.
Result<BundleExport> ExportClinicBundle(storage::RecordStore& store,
                                        std::string_view credential,
                                        const BundleSink& sink,
                                        base::Clock& clock,
                                        const BundleOptions& options = {},
                                        const BundleProgressFn& progress = {});

// Applies a hub → clinic bundle from `in` (a seekable stream: it is read
// twice, to verify and to apply). Errors, nothing applied:
// PermissionDenied for a bundle that is not for this node, not from its
// hub, or does not verify; Malformed or TooLarge for what is not a bundle
// or breaks its bounds; InvalidArgument for a clinic-to-hub bundle.
// Unavailable "gap" (nothing more applied) when a batch starts past what
// this clinic holds: a bundle in between is missing.
Result<BundleImport> ImportClinicBundle(storage::RecordStore& store,
                                        std::string_view credential,
                                        std::istream& in, base::Clock& clock,
                                        const BundleOptions& options = {},
                                        const BundleProgressFn& progress = {});

// ---- Hub ----

// Writes, for the enrolled clinic `node_id`, the ack of what the hub has
// applied from it and every change in its scope after the cursor it last
// acknowledged. PermissionDenied for a node not enrolled or revoked.
// `progress` (when set) hears after each batch written.
Result<BundleExport> ExportHubBundle(HubService& hub,
                                     storage::RecordStore& store,
                                     const std::string& node_id,
                                     const BundleSink& sink, base::Clock& clock,
                                     const BundleOptions& options = {},
                                     const BundleProgressFn& progress = {});

// Applies a clinic → hub bundle through `hub` (whose store is `store`).
// Errors as ImportClinicBundle's, and the hub's refusals of a batch
// (scope: PermissionDenied naming the batch; the batches before it stay
// applied, as over the network).
Result<BundleImport> ImportHubBundle(HubService& hub,
                                     storage::RecordStore& store,
                                     std::istream& in,
                                     const BundleOptions& options = {},
                                     const BundleProgressFn& progress = {});

}  // namespace posta::sync
