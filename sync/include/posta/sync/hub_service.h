// HubService: the hub's side of the sync protocol (docs/sync-protocol.md) as
// plain request → response functions over encoded messages. node/ adapts
// HTTP to Handle; nothing here knows of sockets.
//
// Every request but enroll carries a credential (posta/sync/credentials.h):
// the hub finds the enrolled node by the credential's hash and takes the
// node id and facility from it (docs/sync-protocol.md, "Enrollment").
//
// The hub keeps, per clinic (a peer in the store): its facility, the highest
// sequence of the clinic's change log applied here (`received_seq`, where
// the clinic's next push starts), and the clinic's pull cursor as last
// acknowledged (`acked_seq`).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "posta/base/clock.h"
#include "posta/storage/record_store.h"
#include "posta/sync/wire.h"

namespace posta::sync {

// A request the hub refused for who sent it (401) or for what it asked
// (403), for the log and the audit trail.
struct Denial {
  int status = 0;            // 401 or 403
  std::string code;          // ErrorReply::code
  std::string node_id;       // the credential's node; "" when unauthenticated
  std::string remote_address;
  std::string message;       // ErrorReply::message
};

struct HubOptions {
  // Largest push batch a clinic may send, before compression, and largest
  // pull batch the hub sends. Default: 4 MiB.
  size_t max_batch_bytes = size_t{4} << 20;
  // A clinic whose wall clock is further ahead than this is refused at the
  // handshake; a stamp further ahead is flagged and cannot win merges.
  // Default: 24 h.
  std::chrono::milliseconds max_clock_skew = std::chrono::hours(24);
  WireLimits limits;
  // This hub's software version, for logs.
  std::string software;
  // Called for every 401 and 403 answer, on the request's thread (so it
  // must be thread-safe). node/ logs a warning and records a "denied"
  // audit entry. Default: none.
  std::function<void(const Denial&)> on_denied;
  // Called when a node's credential is flagged as used by two boxes
  // (docs/sync-protocol.md), with the node and why; thread-safe as above.
  std::function<void(const std::string& node_id, const std::string& why)>
      on_flagged;
  // Called when a node's pushed audit chain is first found broken, with
  // the node, the seq and why; thread-safe as above. The store has flagged
  // it already (RecordStore::StoreReceivedAudit).
  std::function<void(const storage::AuditBreak&)> on_audit_broken;
};

// One request to the hub's sync endpoint, as node/ hands it over.
struct SyncRequest {
  std::string_view op;    // "enroll", "hello", "push" or "pull"
  std::string_view body;  // the encoded request
  // The Authorization header's value ("Bearer <credential>"); "" when absent.
  std::string_view authorization;
  // The peer's address ("10.0.0.7:50412"), for node list and logs.
  std::string_view remote_address;
  // True for a batch that came in a sync bundle (HandleBundled): it has no
  // address, and an older bundle carried again is not a second box.
  bool from_bundle = false;
};

struct SyncReply {
  int status = 200;
  std::string content_type;  // kContentType
  std::string body;          // an encoded message (ErrorReply unless 200)
};

// What a hub counts, for /metrics.
struct HubCounters {
  int64_t hellos = 0;
  int64_t push_batches = 0;
  int64_t push_records = 0;
  int64_t pull_batches = 0;
  int64_t pull_records = 0;
  int64_t conflicts = 0;
  int64_t refused = 0;  // answers other than 200
  int64_t unauthenticated = 0;  // 401: no, unknown or revoked credential
  int64_t denied = 0;           // 403: outside the credential's scope
  int64_t enrollments = 0;      // nodes enrolled (or re-enrolled)
  int64_t flagged = 0;          // credentials flagged as used by two boxes
  int64_t audit_batches = 0;    // audit batches received
  int64_t audit_entries = 0;    // audit entries new here
  // Pushed batches that came while the same node's batch before them was
  // being applied, and waited for it (sent ahead, protocol 6).
  int64_t push_waits = 0;
  int64_t pushes_in_progress = 0;  // push requests being handled now
};

// Threading: Handle may be called from many threads at once; the store
// serializes the writes.
class HubService {
 public:
  // `store` and `clock` are not owned and must outlive the service.
  HubService(storage::RecordStore& store, base::Clock& clock,
             HubOptions options = {});
  ~HubService();

  // "enroll" needs no credential (the code stands for one); "hello", "push",
  // "pull" and "audit" need the credential of an enrolled, unrevoked node, and
  // the node id and facility come from it, never from the payload.
  //   200: the encoded reply (EnrollReply, HelloReply, PushAck, PullBatch).
  //   400 bad_batch: undecodable or invalid input (nothing stored);
  //   401 not_enrolled, revoked; bad_code, code_expired (enroll);
  //   403 scope: a record of another facility, or a node id or facility
  //       that is not the credential's; code_used (enroll);
  //   409 version_mismatch, clock_skew, hello_first, gap (an audit batch
  //       starting past the chain's end here);
  //   404 unknown op; 413 too_large; 500 internal (retry later).
  // Every non-200 body is an encoded ErrorReply naming the problem.
  SyncReply Handle(const SyncRequest& request);

  HubCounters counters() const;

  // ---- Sync bundles (bundle_exchange.h) ----
  // The enrolled node a bundle names as its origin, or PermissionDenied
  // with the words of the network's 401s (not enrolled, revoked), counted
  // and reported to on_denied like them.
  Result<storage::EnrolledNode> BundleOrigin(const std::string& node_id);
  // A message that came in a sync bundle from `node`, which the bundle's
  // MAC authenticated in place of a credential (the caller checked that the
  // node is enrolled and not revoked). op "push": an encoded PushBatch,
  // with every check and the apply of a network push (scope, owners,
  // transfers, idempotence; the peer is recorded first when the node never
  // said hello). op "ack": an encoded PullRequest, the clinic's pull
  // cursor, recorded as the peer's acked_seq only when it moves forward
  // (an older bundle changes nothing). Answers as Handle does.
  SyncReply HandleBundled(std::string_view op, std::string_view body,
                          const storage::EnrolledNode& node);
  // The pull batch Handle("pull") would answer for `node` from `after_seq`
  // (the same scope), without recording it as acknowledged.
  Result<PullBatch> ReadPull(const storage::EnrolledNode& node,
                             int64_t after_seq, uint64_t max_bytes);
  // How many versions the pulls from `after_seq` would carry for `node`
  // (RecordStore::CountChanges over the same scope; nothing read).
  Result<int64_t> CountPull(const storage::EnrolledNode& node,
                            int64_t after_seq);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace posta::sync
