// SyncClient: the clinic's side of the sync protocol (docs/sync-protocol.md).
// One SyncOnce call shakes hands, pushes every local change the hub has not
// applied, then pulls every change in the clinic's scope past its cursor,
// batch by batch; each pushed batch is acknowledged after the hub's commit,
// and each pulled batch lands with its cursor in one transaction, so a link
// that dies loses at most the batch in flight.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "posta/base/clock.h"
#include "posta/base/status.h"
#include "posta/storage/record_store.h"
#include "posta/sync/http_transport.h"
#include "posta/sync/wire.h"

namespace posta::sync {

// Most audit entries one AuditBatch carries.
inline constexpr size_t kAuditBatchEntries = 500;

struct SyncOptions {
  // First push and pull batch size, before compression; each direction's
  // halves after a slow batch and after a batch the link dropped, and
  // doubles after a quick one, between min and max, and the next SyncOnce
  // on the same client starts from where the last left it. Defaults:
  // 256 KiB, 16 KiB .. 4 MiB (the hub may cap it lower). A pull that
  // prepares its next batch ahead (while storing is slower than the link)
  // holds two batches at once, and keeps its batches to half the max.
  size_t batch_bytes = size_t{256} << 10;
  size_t min_batch_bytes = size_t{16} << 10;
  size_t max_batch_bytes = size_t{4} << 20;
  // A lower cap for pulled batches alone (0: none). A pulled batch is held
  // by this box while it is stored, a pushed one by the hub while it is
  // applied: a box short of memory caps the first and still pushes in
  // batches as large as the hub takes, each one commit there.
  size_t max_pull_batch_bytes = 0;
  // A batch slower than this halves the next; faster than a quarter of it
  // doubles the next. Default: 8 s.
  std::chrono::milliseconds target_batch_time{std::chrono::seconds(8)};
  std::chrono::milliseconds max_clock_skew = std::chrono::hours(24);
  // With a hub of protocol 3 or later, ask for the next pulled batch while
  // storing the one before (on a thread of its own, which also decodes the
  // answer and prepares its versions while storing is the slower side; the
  // transport, the clock and RecordStore::PrepareChanges are then called
  // from it). False keeps every step of a sync in one order on one
  // thread, as the deterministic simulation needs.
  bool ask_ahead = true;
  WireLimits limits;
  std::string software;  // this posta's version, sent in the handshake
};

struct SyncProgress {
  std::string phase;   // "hello", "push", "pull", "audit", "done"
  int64_t pushed = 0;  // records sent and acknowledged
  int64_t pulled = 0;  // records received and stored
  int64_t audited = 0;  // audit trail entries sent and acknowledged
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  int64_t push_pending = 0;  // local changes not yet acknowledged (estimate)

  // Whether this attempt has moved anything yet (records either way, or
  // audit entries): an attempt that did, and then failed, starts the
  // retry backoff again from its first delay.
  bool moved() const { return pushed > 0 || pulled > 0 || audited > 0; }
};
using SyncProgressFn = std::function<void(const SyncProgress&)>;

struct SyncResult {
  std::string hub_node_id;
  int64_t pushed = 0;
  int64_t pulled = 0;
  int64_t push_batches = 0;
  int64_t pull_batches = 0;
  int64_t conflicts = 0;  // new conflicts found while pulling
  // Audit entries the hub took (protocol 2 hubs), and where the hub found
  // this node's chain broken (0 when it holds).
  int64_t audit_pushed = 0;
  int64_t audit_broken_seq = 0;
  int64_t clock_offset_ms = 0;  // hub clock minus ours at the handshake
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

// Threading: one SyncOnce at a time per client.
class SyncClient {
 public:
  // None owned; all must outlive the client.
  SyncClient(storage::RecordStore& store, Transport& transport,
             base::Clock& clock, SyncOptions options = {});

  // Syncs until both directions are caught up. Errors: Unavailable (link or
  // hub; retry later), VersionMismatch (protocols too far apart; names
  // both), PreconditionFailed (this box's clock is too far ahead of the
  // hub's; names both), PermissionDenied (scope; not enrolled or revoked:
  // see StatusFromErrorReply), Malformed or
  // InvalidArgument (the hub or this node sent something invalid). Whatever
  // completed before an error stays done.
  Result<SyncResult> SyncOnce(const SyncProgressFn& progress = {});

  // A second connection to the same hub, carrying the same credential: a
  // pushed batch then goes out on it while the hub applies the one before
  // (a hub of protocol 6, and SyncOptions::ask_ahead). Not owned; must
  // outlive the client; null for none (each batch then waits for the ack
  // of the one before).
  void SetSecondTransport(Transport* second) { second_ = second; }

 private:
  storage::RecordStore& store_;
  Transport& transport_;
  Transport* second_ = nullptr;
  base::Clock& clock_;
  SyncOptions options_;
  // Batch sizes learned from the link, kept between SyncOnce calls; 0
  // until the first.
  size_t push_batch_bytes_ = 0;
  size_t pull_batch_bytes_ = 0;
  size_t audit_batch_entries_ = 0;  // audit entries per batch, likewise
};

// The Status an ErrorReply stands for (the hub's code and message kept).
// Refusals no retry can cure until a person acts — scope, not enrolled,
// revoked, a bad, expired or used enrollment code — are PermissionDenied.
Status StatusFromErrorReply(int http_status, const ErrorReply& reply);

// The enrollment exchange (POST /sync/v1/enroll), sent without a
// credential. Errors: PermissionDenied for the hub's refusals (the code
// unknown, expired or used, another facility; the hub's message kept),
// Unavailable for the link, Malformed for an answer that is not one.
Result<EnrollReply> Enroll(Transport& transport, const EnrollRequest& request,
                           const WireLimits& limits = {});

// One handshake (POST /sync/v1/hello) and nothing else, with the
// credential set on the transport: `posta doctor` asks whether the hub is
// reachable, trusts this node and keeps a sane clock. Errors as SyncOnce's
// hello (PermissionDenied for a refused credential or a TLS pin that does
// not match, Unavailable for the link).
Result<HelloReply> SayHello(Transport& transport, const Hello& hello,
                            const WireLimits& limits = {});

}  // namespace posta::sync
