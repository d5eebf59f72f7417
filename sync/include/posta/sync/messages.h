// The messages of the sync protocol: plain values, one struct per message
// kind. wire.h encodes and decodes them; nothing here knows a byte layout.
//
// A session: the clinic sends Hello, the hub answers HelloReply (or
// ErrorReply "version_mismatch"); then the clinic pushes PushBatch messages
// from HelloReply::received_seq on (each answered by PushAck) and pulls
// with PullRequest (each answered by PullBatch) until PullBatch::more is
// false. Any request may be answered by ErrorReply instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "posta/base/hlc.h"
#include "posta/storage/audit.h"
#include "posta/storage/replication.h"

namespace posta::sync {

// The protocol version this build speaks, and the oldest one it still
// serves. A peer whose range [min_protocol_version, protocol_version] does
// not meet ours gets ErrorReply{kErrorVersionMismatch}.
// Version 2 added the audit exchange (AuditBatch/AuditAck); a peer at 1
// syncs records as before and sends no audit entries. Version 3 added
// PullRequest::stored_seq, so that a clinic asks for its next batch while
// it stores the one before; a peer at 2 asks after storing, as before.
// Version 4 lets AuditBatch entries come short (storage::ShortenAuditChain),
// and adds HelloReply::audit_received_seq, so that the audit step needs no
// question first; a clinic sends whole entries to an older hub, and asks.
// Version 5 lets a PushBatch carry the audit entries of its own changes
// (PushBatch::audit), each naming its change instead of spelling out the
// record and version; a clinic sends them apart to an older hub.
// Version 6 changes no message: its hub lets a push that starts past what
// it applied wait for the same node's push in flight before it, so that a
// clinic sends its next batch while the hub applies the one before.
inline constexpr uint32_t kProtocolVersion = 6;
inline constexpr uint32_t kMinProtocolVersion = 1;
// The first protocol version with the audit exchange.
inline constexpr uint32_t kAuditProtocolVersion = 2;
// The first protocol version whose hub reads PullRequest::stored_seq.
inline constexpr uint32_t kPullAheadProtocolVersion = 3;
// The first protocol version whose hub takes short audit entries and says
// in HelloReply where its copy of the caller's chain ends.
inline constexpr uint32_t kShortAuditProtocolVersion = 4;
// The first protocol version whose hub takes audit entries in a PushBatch.
inline constexpr uint32_t kPushAuditProtocolVersion = 5;
// The first protocol version whose hub waits for a push sent ahead.
inline constexpr uint32_t kPushAheadProtocolVersion = 6;

// Node roles, as in storage::StoreOptions::role.
inline constexpr std::string_view kRoleClinic = "clinic";
inline constexpr std::string_view kRoleHub = "hub";

// ErrorReply::code values (short machine text: [a-z0-9_], 1..64 chars).
inline constexpr std::string_view kErrorVersionMismatch = "version_mismatch";
inline constexpr std::string_view kErrorBadBatch = "bad_batch";
inline constexpr std::string_view kErrorScope = "scope";
// 409: a push that starts past what the hub applied from the node.
inline constexpr std::string_view kErrorGap = "gap";
inline constexpr std::string_view kErrorTooLarge = "too_large";
// The hub's disk is below its free-space floor (HTTP 507): retry later.
inline constexpr std::string_view kErrorInsufficientStorage =
    "insufficient_storage";
// Authentication (401): no credential or one the hub does not know, and a
// revoked node. Enrollment: an unknown (401), expired (401) or used (403)
// code.
inline constexpr std::string_view kErrorNotEnrolled = "not_enrolled";
inline constexpr std::string_view kErrorRevoked = "revoked";
inline constexpr std::string_view kErrorBadCode = "bad_code";
inline constexpr std::string_view kErrorCodeExpired = "code_expired";
inline constexpr std::string_view kErrorCodeUsed = "code_used";
// 403: the hub takes sync over HTTPS only (it has no certificate, or the
// clinic is not on its own machine for allow_plain_http).
inline constexpr std::string_view kErrorTlsRequired = "tls_required";

// The version of the enrollment exchange (EnrollRequest/EnrollReply), apart
// from the sync protocol's: a node enrolls once, before it syncs.
inline constexpr uint32_t kEnrollVersion = 1;

// Clinic → hub, first message of a session. Its layout on the wire never
// changes between protocol versions, so any two versions can at least agree
// on which one to speak (or that they cannot).
struct Hello {
  uint32_t protocol_version = kProtocolVersion;
  uint32_t min_protocol_version = kMinProtocolVersion;
  std::string node_id;   // base::IsValidNodeId
  std::string facility;  // the sender's facility id
  std::string role;      // kRoleClinic or kRoleHub
  int64_t clock_ms = 0;  // the sender's wall clock when it sent this
  base::HlcStamp hlc;    // the sender's last stamp; zero on a new node
  std::string software;  // version text, for logs and reports ("posta 0.1.0")
  // Extension, after the frozen fields (absent from an older clinic's
  // Hello): how many changes made here the sender has not yet had
  // acknowledged, for the hub's freshness report. A hub that predates it
  // refuses the trailing bytes; the client then says hello without it.
  std::optional<int64_t> pending_changes;

  friend bool operator==(const Hello&, const Hello&) = default;
};

// Hub → clinic, the answer to Hello. Frozen layout, like Hello.
struct HelloReply {
  uint32_t protocol_version = kProtocolVersion;  // the one both will speak
  std::string node_id;
  std::string facility;
  std::string role;
  int64_t clock_ms = 0;
  base::HlcStamp hlc;
  // Highest seq of the caller's change log this hub has applied: the next
  // PushBatch starts after it.
  int64_t received_seq = 0;
  // The hub's cap on one PushBatch, counted before compression.
  uint64_t max_batch_bytes = 0;
  // An extension (protocol 4), written only to a node that speaks it: where
  // the hub's copy of the caller's audit chain ends, and the first entry it
  // found broken (0: the chain holds), so that the audit step sends entries
  // without asking first (an AuditBatch with none).
  std::optional<int64_t> audit_received_seq;
  int64_t audit_broken_seq = 0;

  friend bool operator==(const HelloReply&, const HelloReply&) = default;
};

// Clinic → hub: the sender's change-log entries in (after_seq, to_seq].
// to_seq may exceed the last change's seq when entries were filtered out.
// Every change's and conflict's seq lies in (after_seq, to_seq].
struct PushBatch {
  std::string node_id;  // the sender
  int64_t after_seq = 0;
  int64_t to_seq = 0;
  std::vector<storage::ChangeEntry> changes;
  std::vector<storage::Conflict> conflicts;
  // Extension (protocol 5), after the fields above: entries of the sender's
  // own audit chain, seq audit_after_seq + 1, + 2, ... (short form, with
  // every hash but the last left out: storage::ShortenAuditChain with 0
  // digits), which the hub stores after the changes. On the wire an entry
  // whose resource and version are those of one of the batch's changes
  // names that change instead. Sent only to a hub of
  // kPushAuditProtocolVersion or later: an older one refuses the trailing
  // bytes.
  std::optional<int64_t> audit_after_seq;
  std::vector<storage::AuditEntry> audit;
};

// What ties an audit entry to the change it records (the store names the
// record and the version in the write's entry): equal keys, one change.
std::string ChangeKey(const storage::Record& record);
std::string ChangeKey(const storage::AuditEntry& entry);

// Hub → clinic, the answer to PushBatch: what the hub did with it.
struct PushAck {
  int64_t received_seq = 0;  // the batch's to_seq once applied
  int64_t taken = 0;
  int64_t merged = 0;
  int64_t ignored = 0;
  int64_t conflicts = 0;
  // Extension, written when the batch carried audit_after_seq: as AuditAck
  // received_seq, stored and broken_seq.
  std::optional<int64_t> audit_received_seq;
  int64_t audit_stored = 0;
  int64_t audit_broken_seq = 0;

  friend bool operator==(const PushAck&, const PushAck&) = default;
};

// Clinic → hub: "send me your changes after after_seq".
struct PullRequest {
  std::string node_id;  // the caller
  int64_t after_seq = 0;
  uint64_t max_bytes = 0;  // cap on the reply's batch, before compression
  // Extension (protocol 3), after the fields above: how far the caller has
  // stored the hub's log, when that is short of after_seq (it asks for the
  // batch after one it is still storing). Absent: after_seq. The hub
  // records it as the node's acknowledged cursor; never above after_seq.
  // Sent only to a hub of kPullAheadProtocolVersion or later: an older one
  // refuses the trailing bytes.
  std::optional<int64_t> stored_seq;

  friend bool operator==(const PullRequest&, const PullRequest&) = default;
};

// Hub → clinic: the hub's change-log entries in (after_seq, to_seq], as
// PushBatch. `more` is true when entries are left after to_seq.
struct PullBatch {
  int64_t after_seq = 0;
  int64_t to_seq = 0;
  bool more = false;
  std::vector<storage::ChangeEntry> changes;
  std::vector<storage::Conflict> conflicts;
};

// Clinic → hub (protocol 2), POST /sync/v1/audit: entries of the sender's
// own audit chain, seq after_seq + 1, after_seq + 2, ... in order. Without
// entries it asks where the hub's copy of the chain ends. From protocol 4
// the entries may be short (storage::ShortenAuditChain).
struct AuditBatch {
  std::string node_id;  // the sender; every entry's node_id
  int64_t after_seq = 0;
  std::vector<storage::AuditEntry> entries;
};

// Hub → clinic, the answer to AuditBatch.
struct AuditAck {
  int64_t received_seq = 0;  // the highest seq of the chain the hub holds
  int64_t stored = 0;        // entries new at the hub
  // The first place the hub found the chain broken (0 and "" when it
  // holds).
  int64_t broken_seq = 0;
  std::string broken_why;

  friend bool operator==(const AuditAck&, const AuditAck&) = default;
};

// Clinic → hub, POST /sync/v1/enroll: "enroll me with this one-time code".
// The only request without a credential; the code stands for one.
struct EnrollRequest {
  uint32_t version = kEnrollVersion;
  std::string code;      // as typed; the hub normalizes it
  std::string node_id;   // base::IsValidNodeId
  std::string facility;  // the node's configured facility; "" when none
  std::string software;  // version text, for logs

  friend bool operator==(const EnrollRequest&, const EnrollRequest&) = default;
};

// Hub → clinic, the answer to EnrollRequest.
struct EnrollReply {
  uint32_t version = kEnrollVersion;
  // The node's new credential, sent this once: the hub keeps only its hash.
  std::string credential;
  std::string facility;     // the facility the node is enrolled for
  std::string hub_node_id;  // the hub's own node id
  int64_t clock_ms = 0;     // the hub's wall clock

  friend bool operator==(const EnrollReply&, const EnrollReply&) = default;
};

// Either side, instead of the expected answer.
struct ErrorReply {
  std::string code;     // kError* or another short machine text
  std::string message;  // for people

  friend bool operator==(const ErrorReply&, const ErrorReply&) = default;
};

// Field-by-field equality, every record, stamp and conflict included
// (storage's types define no operator==).
bool operator==(const PushBatch& a, const PushBatch& b);
bool operator==(const PullBatch& a, const PullBatch& b);
bool operator==(const AuditBatch& a, const AuditBatch& b);

}  // namespace posta::sync
