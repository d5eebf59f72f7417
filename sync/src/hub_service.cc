#include "posta/sync/hub_service.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "posta/base/crash_point.h"
#include "posta/sync/credentials.h"
#include "posta/sync/merge.h"
#include "posta/sync/sync_client.h"

namespace posta::sync {
namespace {

SyncReply Refuse(int status, std::string_view code, std::string message) {
  ErrorReply error;
  error.code = std::string(code);
  error.message = std::move(message);
  return SyncReply{status, std::string(kContentType), Encode(error)};
}

SyncReply FromStatus(const Status& status) {
  switch (status.code()) {
    case Status::Code::kMalformed:
    case Status::Code::kInvalidArgument:
      return Refuse(400, kErrorBadBatch, status.ToString());
    case Status::Code::kTooLarge:
      return Refuse(413, kErrorTooLarge, status.ToString());
    case Status::Code::kPermissionDenied:
      return Refuse(403, kErrorScope, status.ToString());
    case Status::Code::kNoSpace:
      // The hub's disk is below its floor: nothing was applied; the clinic
      // keeps the batch and tries again later.
      return Refuse(507, kErrorInsufficientStorage,
                    "hub: " + status.ToString());
    default:
      return Refuse(500, "internal", "hub: " + status.ToString());
  }
}

std::string Clock(int64_t ms) { return storage::FormatInstant(ms); }

SyncReply Ok(std::string body) {
  return SyncReply{200, std::string(kContentType), std::move(body)};
}

// The credential in an Authorization header value "Bearer <credential>";
// "" when there is none of that form.
std::string_view BearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return {};
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

// The "why" of a Status message "what: why".
std::string Why(const Status& s) {
  const std::string& m = s.message();
  const size_t colon = m.find(": ");
  return colon == std::string::npos ? m : m.substr(colon + 2);
}

// "10.0.0.7" of "10.0.0.7:50412" ("[::1]:5" gives "[::1]"): a node's
// source port changes with every connection, its host should not.
std::string_view HostOf(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return address;
  if (address.find(':') != colon && address.front() != '[') return address;
  return address.substr(0, colon);
}

// What a technician is told whenever a node is not (or no longer) let in.
constexpr std::string_view kEnrollAdvice =
    "ask the hub administrator for an enrollment code and run posta enroll";

// Enroll, hello and pull requests carry a few ids and numbers: hundreds of
// bytes. Decoded under this cap instead of the batch-sized one, a small
// compressed body cannot make the hub allocate megabytes for them.
inline constexpr size_t kMaxSmallRequestBytes = size_t{64} << 10;

WireLimits SmallRequestLimits(const WireLimits& limits) {
  WireLimits small = limits;
  small.max_decoded_bytes =
      std::min(limits.max_decoded_bytes, kMaxSmallRequestBytes);
  return small;
}

// The pushes being handled, by node, numbered as they arrived (PushTicket).
struct PushQueue {
  std::mutex mu;
  std::condition_variable done;
  std::map<std::string, std::set<uint64_t>, std::less<>> by_node;
  uint64_t last = 0;
  std::atomic<int64_t> waits{0};  // pushes that waited for an earlier one

  int64_t InProgress() {
    std::lock_guard lock(mu);
    int64_t n = 0;
    for (const auto& [node, tickets] : by_node) {
      n += static_cast<int64_t>(tickets.size());
    }
    return n;
  }
};

// A push being handled, from its arrival to the end of its transaction. A
// clinic of protocol 6 sends its next batch while the hub applies the one
// before: the later one is decoded and checked meanwhile, and then waits
// for the earlier one instead of being refused as a gap. Only one earlier
// push of the node is waited for (a clinic has at most two in flight), so
// a request never holds a thread for a chain of others.
class PushTicket {
 public:
  PushTicket(PushQueue& queue, std::string node_id)
      : queue_(queue), node_id_(std::move(node_id)) {
    std::lock_guard lock(queue_.mu);
    number_ = ++queue_.last;
    queue_.by_node[node_id_].insert(number_);
  }
  ~PushTicket() { Release(); }
  PushTicket(const PushTicket&) = delete;
  PushTicket& operator=(const PushTicket&) = delete;

  // Whether exactly one earlier push of the node is being handled: the
  // one this push may wait for.
  bool OneEarlier() {
    std::lock_guard lock(queue_.mu);
    return Earlier() == 1;
  }

  // Waits until no earlier push of the node is being handled, for at most
  // `limit`, and counts the wait.
  void WaitForEarlier(std::chrono::milliseconds limit) {
    ++queue_.waits;
    std::unique_lock lock(queue_.mu);
    queue_.done.wait_for(lock, limit, [&] { return Earlier() == 0; });
  }

  // Lets the node's next push go on, once this one's transaction is over
  // (before its batch is freed and its answer sent).
  void Release() {
    {
      std::lock_guard lock(queue_.mu);
      if (released_) return;
      released_ = true;
      auto it = queue_.by_node.find(node_id_);
      it->second.erase(number_);
      if (it->second.empty()) queue_.by_node.erase(it);
    }
    queue_.done.notify_all();
  }

 private:
  // The node's pushes being handled that came before this one; under mu.
  size_t Earlier() const {
    const std::set<uint64_t>& mine = queue_.by_node.find(node_id_)->second;
    return static_cast<size_t>(
        std::distance(mine.begin(), mine.find(number_)));
  }

  PushQueue& queue_;
  const std::string node_id_;
  uint64_t number_ = 0;
  bool released_ = false;  // guarded by queue_.mu
};

// Longest a push sent ahead waits for the one before it: that one is being
// applied, which takes seconds at most for the largest batch.
constexpr std::chrono::minutes kPushAheadWait{2};

}  // namespace

struct HubService::Impl {
  Impl(storage::RecordStore& store, base::Clock& clock, HubOptions options)
      : store(store),
        clock(clock),
        options(std::move(options)),
        merger(clock, MergeOptions{this->options.max_clock_skew}) {}

  SyncReply Enroll(const SyncRequest& request);
  // The enrolled node whose credential the request carries, or (in
  // `refusal`) the 401 answer. `who` is set to the credential's node when
  // the credential is known (revoked or not), for the denial log.
  std::optional<storage::EnrolledNode> Authenticate(const SyncRequest& request,
                                                    SyncReply& refusal,
                                                    std::string& who);
  SyncReply Hello(const SyncRequest& request,
                  const storage::EnrolledNode& node);
  SyncReply Push(const SyncRequest& request, const storage::EnrolledNode& node);
  SyncReply Pull(const SyncRequest& request, const storage::EnrolledNode& node);
  SyncReply Audit(const SyncRequest& request,
                  const storage::EnrolledNode& node);
  // Entries of `node`'s own audit chain after after_seq (an AuditBatch's,
  // or a PushBatch's): the refusal when an entry names another facility or
  // they start past the hub's copy of the chain; otherwise none, and
  // `held` says where that copy ends.
  std::optional<SyncReply> CheckAudit(
      const storage::EnrolledNode& node, int64_t after_seq,
      std::span<const storage::AuditEntry> entries,
      storage::AuditReceipt& held);
  // Stores entries CheckAudit let through, and counts them.
  Result<storage::AuditReceipt> StoreAudit(
      const storage::EnrolledNode& node,
      std::span<const storage::AuditEntry> entries);
  // Counts what was stored of a node's chain, and tells of a new break.
  void NoteAudit(const storage::AuditReceipt& receipt);
  Result<PullBatch> ReadPull(const storage::EnrolledNode& node,
                             int64_t after_seq, uint64_t max_bytes);
  // What `node` may pull after `after_seq`: its scope, less what it made
  // or sent.
  Result<storage::ChangeFilter> PullFilter(const storage::EnrolledNode& node,
                                           int64_t after_seq);
  SyncReply BundleAck(std::string_view body, const storage::EnrolledNode& node);
  // A bundle's node that never said hello gets its peer record here.
  Status EnsurePeer(const storage::EnrolledNode& node);
  // Counts an answer and reports a 401 or 403 to on_denied.
  void Account(const SyncReply& reply, const std::string& who,
               std::string_view remote_address);
  // The peer that said hello as `node_id`, or the reply refusing it.
  Result<storage::PeerState> KnownPeer(const std::string& node_id);
  // Records that `node`'s credential looks used by two boxes: flag it in the
  // store (posta hub node list shows it) and count it.
  void Flag(const storage::EnrolledNode& node, const std::string& why);
  // The facilities `node`'s credential covers: its own, and for a hub node
  // every facility registered here with its region (read now, so a
  // facility added to the region later joins the scope).
  Result<std::vector<std::string>> ScopeOf(const storage::EnrolledNode& node);

  storage::RecordStore& store;
  base::Clock& clock;
  const HubOptions options;
  FieldMerger merger;
  PushQueue pushes;
  std::atomic<int64_t> hellos{0}, push_batches{0}, push_records{0},
      pull_batches{0}, pull_records{0}, conflicts{0}, refused{0},
      unauthenticated{0}, denied{0}, enrollments{0}, flagged{0},
      audit_batches{0}, audit_entries{0};
};

HubService::HubService(storage::RecordStore& store, base::Clock& clock,
                       HubOptions options)
    : impl_(new Impl(store, clock, std::move(options))) {}

HubService::~HubService() { delete impl_; }

void HubService::Impl::Account(const SyncReply& reply, const std::string& who,
                               std::string_view remote_address) {
  if (reply.status != 200) ++refused;
  if (reply.status == 401) ++unauthenticated;
  if (reply.status == 403) ++denied;
  if ((reply.status == 401 || reply.status == 403) && options.on_denied) {
    Denial denial;
    denial.status = reply.status;
    denial.node_id = who;
    denial.remote_address = std::string(remote_address.substr(0, 128));
    if (Result<ErrorReply> error = DecodeErrorReply(reply.body); error.ok()) {
      denial.code = error->code;
      denial.message = error->message;
    }
    options.on_denied(denial);
  }
}

HubCounters HubService::counters() const {
  HubCounters c;
  c.hellos = impl_->hellos;
  c.push_batches = impl_->push_batches;
  c.push_records = impl_->push_records;
  c.pull_batches = impl_->pull_batches;
  c.pull_records = impl_->pull_records;
  c.conflicts = impl_->conflicts;
  c.refused = impl_->refused;
  c.unauthenticated = impl_->unauthenticated;
  c.denied = impl_->denied;
  c.enrollments = impl_->enrollments;
  c.flagged = impl_->flagged;
  c.audit_batches = impl_->audit_batches;
  c.audit_entries = impl_->audit_entries;
  c.push_waits = impl_->pushes.waits;
  c.pushes_in_progress = impl_->pushes.InProgress();
  return c;
}

SyncReply HubService::Handle(const SyncRequest& request) {
  SyncReply reply;
  std::string who;
  try {
    const std::string_view op = request.op;
    if (op == "enroll") {
      reply = impl_->Enroll(request);
    } else if (op == "hello" || op == "push" || op == "pull" || op == "audit") {
      std::optional<storage::EnrolledNode> node =
          impl_->Authenticate(request, reply, who);
      if (node) {
        if (op == "hello") {
          reply = impl_->Hello(request, *node);
        } else if (op == "push") {
          reply = impl_->Push(request, *node);
        } else if (op == "audit") {
          reply = impl_->Audit(request, *node);
        } else {
          reply = impl_->Pull(request, *node);
        }
      }
    } else {
      reply = Refuse(404, "unknown_op",
                     "no sync operation \"" + std::string(op.substr(0, 20)) +
                         "\"; expected enroll, hello, push, pull or audit");
    }
  } catch (const std::exception& e) {
    reply = Refuse(500, "internal", std::string("hub: ") + e.what());
  }
  impl_->Account(reply, who, request.remote_address);
  return reply;
}

SyncReply HubService::Impl::Enroll(const SyncRequest& request) {
  Result<EnrollRequest> enroll =
      DecodeEnrollRequest(request.body, SmallRequestLimits(options.limits));
  if (!enroll.ok()) return FromStatus(enroll.status());
  if (enroll->version != kEnrollVersion) {
    return Refuse(409, kErrorVersionMismatch,
                  "node " + enroll->node_id + " speaks enrollment version " +
                      std::to_string(enroll->version) + "; this hub speaks " +
                      std::to_string(kEnrollVersion) +
                      "; upgrade the older one");
  }
  Result<std::string> code = NormalizeEnrollmentCode(enroll->code);
  if (!code.ok()) {
    return Refuse(401, kErrorBadCode, code.status().ToString());
  }
  Result<std::string> credential = NewCredential();
  if (!credential.ok()) return FromStatus(credential.status());
  storage::Redemption redemption;
  redemption.code_hash = HashSecret(*code);
  redemption.node_id = enroll->node_id;
  redemption.facility = enroll->facility;
  redemption.credential_hash = HashSecret(*credential);
  redemption.now_ms = clock.WallNowMillis();
  redemption.remote_address =
      std::string(request.remote_address.substr(0, 128));
  Result<storage::EnrolledNode> node = store.RedeemEnrollmentCode(redemption);
  if (!node.ok()) {
    const Status& s = node.status();
    switch (s.code()) {
      case Status::Code::kNotFound:
        return Refuse(401, kErrorBadCode,
                      "hub " + store.node_id() +
                          " does not know this enrollment code; check it was "
                          "typed as given, or ask the hub administrator for "
                          "a new one");
      case Status::Code::kGone:
        return Refuse(401, kErrorCodeExpired,
                      "this enrollment code " + Why(s) +
                          "; ask the hub administrator for a new one");
      case Status::Code::kConflict:
        return Refuse(403, kErrorCodeUsed,
                      "this enrollment code was " + Why(s) +
                          "; a code enrolls one box once: ask the hub "
                          "administrator for a new one");
      case Status::Code::kPermissionDenied:
        return Refuse(403, kErrorScope, s.ToString());
      default:
        return FromStatus(s);
    }
  }
  ++enrollments;
  EnrollReply reply;
  reply.credential = std::move(credential).value();
  reply.facility = node->facility;
  reply.hub_node_id = store.node_id();
  reply.clock_ms = redemption.now_ms;
  return Ok(Encode(reply));
}

std::optional<storage::EnrolledNode> HubService::Impl::Authenticate(
    const SyncRequest& request, SyncReply& refusal, std::string& who) {
  const std::string not_enrolled = "this node is not enrolled with hub " +
                                   store.node_id() + "; " +
                                   std::string(kEnrollAdvice);
  const std::string_view token = BearerToken(request.authorization);
  if (!IsWellFormedCredential(token)) {
    refusal = Refuse(401, kErrorNotEnrolled, not_enrolled);
    return std::nullopt;
  }
  const std::string hash = HashSecret(token);
  Result<storage::EnrolledNode> node = store.FindEnrolledNode(hash);
  // The lookup is by hash, so its timing tells nothing of the credential;
  // the constant-time comparison is what decides.
  if (!node.ok() || !SameHash(node->credential_hash, hash)) {
    if (node.ok() || node.status().code() == Status::Code::kNotFound) {
      refusal = Refuse(401, kErrorNotEnrolled, not_enrolled);
    } else {
      refusal = FromStatus(node.status());
    }
    return std::nullopt;
  }
  who = node->node_id;
  if (node->revoked_ms != 0) {
    refusal = Refuse(401, kErrorRevoked,
                     "node " + node->node_id + " was revoked on hub " +
                         store.node_id() + " at " + Clock(node->revoked_ms) +
                         " (what it synced before stays); to sync again, " +
                         std::string(kEnrollAdvice));
    return std::nullopt;
  }
  return std::move(node).value();
}

void HubService::Impl::Flag(const storage::EnrolledNode& node,
                            const std::string& why) {
  ++flagged;
  // Best effort: the refusal or the sync goes on even if the flag cannot be
  // written; the counter still moves and the hook still logs it.
  (void)store.NoteEnrolledNodeSeen(node.node_id, clock.WallNowMillis(), "",
                                   why);
  if (options.on_flagged) options.on_flagged(node.node_id, why);
}

Result<storage::PeerState> HubService::Impl::KnownPeer(
    const std::string& node_id) {
  Result<storage::PeerState> peer = store.GetPeer(node_id);
  if (!peer.ok() && peer.status().code() == Status::Code::kNotFound) {
    return Status::PreconditionFailed("node " + node_id.substr(0, 64),
                                      "unknown here; say hello first");
  }
  return peer;
}

SyncReply HubService::Impl::Hello(const SyncRequest& request,
                                  const storage::EnrolledNode& node) {
  Result<sync::Hello> hello =
      DecodeHello(request.body, SmallRequestLimits(options.limits));
  if (!hello.ok()) return FromStatus(hello.status());
  if (hello->node_id != node.node_id) {
    // A credential copied to a second box (or a forged hello).
    Flag(node, "its credential was presented by node " + hello->node_id +
                   " from " +
                   std::string(request.remote_address.substr(0, 64)));
    return Refuse(403, kErrorScope,
                  "this credential belongs to node " + node.node_id +
                      " (facility " + node.facility + "), not to node " +
                      hello->node_id +
                      "; every box enrolls with its own code (posta enroll)");
  }
  if (hello->facility != node.facility) {
    return Refuse(403, kErrorScope,
                  "node " + node.node_id + " is enrolled for facility " +
                      node.facility + ", not " + hello->facility +
                      " (as its configuration says)");
  }
  if (hello->protocol_version < kMinProtocolVersion ||
      hello->min_protocol_version > kProtocolVersion) {
    return Refuse(
        409, kErrorVersionMismatch,
        "node " + hello->node_id + " speaks sync protocol " +
            std::to_string(hello->min_protocol_version) + ".." +
            std::to_string(hello->protocol_version) + "; this hub speaks " +
            std::to_string(kMinProtocolVersion) + ".." +
            std::to_string(kProtocolVersion) + "; upgrade the older one");
  }
  // A hub syncs upstream only with a hub's credential (one with a region),
  // and a hub's credential serves nothing but a hub: the role, like the
  // scope, comes from the credential.
  if (hello->role == kRoleHub && node.region.empty()) {
    return Refuse(403, kErrorScope,
                  "node " + node.node_id + " is enrolled as a clinic of " +
                      "facility " + node.facility +
                      ", but says it is a hub; a hub syncs upstream with a "
                      "hub's enrollment code (posta hub enroll-code "
                      "--region)");
  }
  if (hello->role != kRoleHub && !node.region.empty()) {
    return Refuse(403, kErrorScope,
                  "node " + node.node_id + " is enrolled as a hub for " +
                      "region " + node.region + ", but says it is a " +
                      hello->role + "; a clinic enrolls with a clinic's code");
  }
  const int64_t now = clock.WallNowMillis();
  if (hello->clock_ms > now + options.max_clock_skew.count()) {
    return Refuse(409, "clock_skew",
                  "node " + hello->node_id + " clock reads " +
                      Clock(hello->clock_ms) + " but the hub's reads " +
                      Clock(now) + "; set the box's date and time");
  }
  storage::PeerState peer;
  Result<storage::PeerState> known = store.GetPeer(hello->node_id);
  if (known.ok()) {
    peer = std::move(known).value();
    if (peer.facility != hello->facility) {
      return Refuse(403, kErrorScope,
                    "node " + hello->node_id + " is enrolled for facility " +
                        peer.facility + ", not " + hello->facility);
    }
  } else if (known.status().code() != Status::Code::kNotFound) {
    return FromStatus(known.status());
  } else {
    peer.node_id = hello->node_id;
    peer.facility = hello->facility;
    // The side of the link, not the node's kind: a hub node syncing here
    // is downstream like a clinic ("hub" is kept for this node's own
    // upstream hub). posta hub node list shows its region.
    peer.role = std::string(kRoleClinic);
  }
  peer.last_sync_ms = now;
  if (Status s = store.UpdatePeer(peer); !s.ok()) return FromStatus(s);
  if (Status s = store.NoteEnrolledNodeSeen(
          node.node_id, now, std::string(request.remote_address), "");
      !s.ok()) {
    return FromStatus(s);
  }
  storage::NodeReport said;
  said.node_id = node.node_id;
  said.facility = node.facility;
  said.software = hello->software;
  said.pending_changes = hello->pending_changes.value_or(-1);
  said.hello_ms = now;
  if (Status s = store.NoteNodeReport(said); !s.ok()) return FromStatus(s);
  ++hellos;
  HelloReply reply;
  reply.protocol_version = std::min(hello->protocol_version, kProtocolVersion);
  reply.node_id = store.node_id();
  reply.facility = store.facility();
  reply.role = std::string(kRoleHub);
  reply.clock_ms = now;
  reply.received_seq = peer.received_seq;
  reply.max_batch_bytes = options.max_batch_bytes;
  if (reply.protocol_version >= kShortAuditProtocolVersion) {
    Result<storage::AuditReceipt> held = store.AuditChainEnd(node.node_id);
    if (!held.ok()) return FromStatus(held.status());
    reply.audit_received_seq = held->received_seq;
    if (held->broken) reply.audit_broken_seq = held->broken->seq;
  }
  return SyncReply{200, std::string(kContentType), Encode(reply)};
}

SyncReply HubService::Impl::Audit(const SyncRequest& request,
                                  const storage::EnrolledNode& node) {
  Result<AuditBatch> batch = DecodeAuditBatch(request.body, options.limits);
  if (!batch.ok()) return FromStatus(batch.status());
  // Security: a node sends only its own chain (the decoder checked every
  // entry names the batch's node), as its credential says.
  if (batch->node_id != node.node_id) {
    return Refuse(403, kErrorScope,
                  "audit entries of node " + batch->node_id +
                      " with the credential of node " + node.node_id +
                      "; a node sends only its own audit chain");
  }
  storage::AuditReceipt held;
  if (std::optional<SyncReply> refused =
          CheckAudit(node, batch->after_seq, batch->entries, held)) {
    return *std::move(refused);
  }
  Result<storage::AuditReceipt> receipt =
      batch->entries.empty() ? Result<storage::AuditReceipt>(std::move(held))
                             : StoreAudit(node, batch->entries);
  if (!receipt.ok()) return FromStatus(receipt.status());
  ++audit_batches;
  AuditAck ack;
  ack.received_seq = receipt->received_seq;
  ack.stored = receipt->stored;
  if (receipt->broken) {
    ack.broken_seq = receipt->broken->seq;
    ack.broken_why = receipt->broken->why;
  }
  return SyncReply{200, std::string(kContentType), Encode(ack)};
}

std::optional<SyncReply> HubService::Impl::CheckAudit(
    const storage::EnrolledNode& node, int64_t after_seq,
    std::span<const storage::AuditEntry> entries,
    storage::AuditReceipt& held) {
  for (const storage::AuditEntry& e : entries) {
    if (e.facility != node.facility) {
      return Refuse(403, kErrorScope,
                    "audit entry " + std::to_string(e.seq) +
                        " names facility " + e.facility + "; node " +
                        node.node_id + " is enrolled for facility " +
                        node.facility);
    }
  }
  Result<storage::AuditReceipt> end = store.AuditChainEnd(node.node_id);
  if (!end.ok()) return FromStatus(end.status());
  if (after_seq > end->received_seq) {
    return Refuse(
        409, kErrorGap,
        "audit entries start after " + std::to_string(after_seq) +
            " but the hub holds the chain up to " +
            std::to_string(end->received_seq) + "; send again from there");
  }
  held = std::move(end).value();
  return std::nullopt;
}

Result<storage::AuditReceipt> HubService::Impl::StoreAudit(
    const storage::EnrolledNode& node,
    std::span<const storage::AuditEntry> entries) {
  POSTA_ASSIGN_OR_RETURN(storage::AuditReceipt receipt,
                         store.StoreReceivedAudit(node.node_id, entries));
  NoteAudit(receipt);
  return receipt;
}

void HubService::Impl::NoteAudit(const storage::AuditReceipt& receipt) {
  audit_entries += receipt.stored;
  if (receipt.newly_broken && options.on_audit_broken) {
    options.on_audit_broken(*receipt.broken);
  }
}

SyncReply HubService::Impl::Push(const SyncRequest& request,
                                 const storage::EnrolledNode& node) {
  PushTicket ticket(pushes, node.node_id);
  Result<PushBatch> batch = DecodePushBatch(request.body, options.limits);
  if (!batch.ok()) return FromStatus(batch.status());
  if (batch->node_id != node.node_id) {
    return Refuse(403, kErrorScope,
                  "a push for node " + batch->node_id +
                      " with the credential of node " + node.node_id +
                      "; a node pushes only its own changes");
  }
  Result<storage::PeerState> peer = KnownPeer(batch->node_id);
  // A batch that starts past what the hub applied, while the node's push
  // before it is being handled, was sent ahead: its versions are checked
  // while it waits for that one, and it then starts where that one left
  // the node's log.
  std::unique_ptr<storage::PreparedChanges> checked_early;
  if (peer.ok() && batch->after_seq > peer->received_seq &&
      ticket.OneEarlier()) {
    checked_early = store.PrepareChanges(batch->changes, batch->audit);
    ticket.WaitForEarlier(kPushAheadWait);
    peer = KnownPeer(batch->node_id);
  }
  if (!peer.ok()) {
    if (peer.status().code() == Status::Code::kPreconditionFailed) {
      return Refuse(409, "hello_first", peer.status().ToString());
    }
    return FromStatus(peer.status());
  }
  if (peer->facility != node.facility) {
    return Refuse(403, kErrorScope,
                  "node " + node.node_id + " is enrolled for facility " +
                      node.facility + " but was known here for facility " +
                      peer->facility);
  }
  if (batch->after_seq < peer->received_seq && !request.from_bundle) {
    // The node's log starts behind what the hub already applied from it.
    // A lost ack resent from the same place is normal; from another address
    // it is what a copy of the box (its database and credential) looks
    // like, so it is flagged (docs/sync-protocol.md).
    Result<storage::EnrolledNode> seen = store.GetEnrolledNode(node.node_id);
    if (seen.ok() && !seen->last_address.empty() &&
        HostOf(seen->last_address) != HostOf(request.remote_address)) {
      Flag(node, "a push went back from " + std::to_string(peer->received_seq) +
                     " to " + std::to_string(batch->after_seq) + " from " +
                     std::string(request.remote_address.substr(0, 64)) +
                     " (last seen at " + seen->last_address + ")");
    }
  }
  // The batch's audit entries (protocol 5) are checked before anything is
  // stored, and stored with its changes, in their transaction (again for a
  // batch sent again: the entries held already are skipped).
  storage::AuditReceipt audit_held;
  if (batch->audit_after_seq) {
    if (std::optional<SyncReply> refused = CheckAudit(
            node, *batch->audit_after_seq, batch->audit, audit_held)) {
      return *std::move(refused);
    }
  }
  auto answer = [&](PushAck ack) {
    if (batch->audit_after_seq) {
      ack.audit_received_seq = audit_held.received_seq;
      ack.audit_stored = audit_held.stored;
      if (audit_held.broken) ack.audit_broken_seq = audit_held.broken->seq;
    }
    return SyncReply{200, std::string(kContentType), Encode(ack)};
  };
  PushAck ack;
  if (batch->to_seq <= peer->received_seq) {
    // A batch applied before (its ack was lost): acknowledge it again.
    ack.received_seq = peer->received_seq;
    if (!batch->audit.empty()) {
      Result<storage::AuditReceipt> receipt = StoreAudit(node, batch->audit);
      if (!receipt.ok()) return FromStatus(receipt.status());
      audit_held = std::move(receipt).value();
    }
    return answer(ack);
  }
  if (batch->after_seq > peer->received_seq) {
    return Refuse(409, kErrorGap,
                  "batch starts after " + std::to_string(batch->after_seq) +
                      " but the hub has applied up to " +
                      std::to_string(peer->received_seq) +
                      "; push again from there");
  }
  // Scope: a clinic pushes versions of records its facility owns, or
  // owned at some version the hub holds (an edit made offline while the
  // record was transferred away merges, and the owner stays the newer one);
  // a record new to the hub must first come as its own. Never a shared
  // record. A hub node (a district hub) likewise for any facility of its
  // region, and shared records too: it edits reference data as a hub.
  Result<std::vector<std::string>> scope = ScopeOf(node);
  if (!scope.ok()) return FromStatus(scope.status());
  const bool hub_node = !node.region.empty();
  auto in_scope = [&](const std::string& facility) {
    return std::find(scope->begin(), scope->end(), facility) != scope->end();
  };
  const std::string pusher =
      "node " + node.node_id + " of " +
      (hub_node ? "region " + node.region : "facility " + node.facility);
  // Who owned each record the batch names, read in one snapshot.
  std::vector<storage::RecordKey> named;
  named.reserve(batch->changes.size());
  for (const storage::ChangeEntry& change : batch->changes) {
    named.push_back({change.record.type, change.record.id});
  }
  for (const storage::Conflict& c : batch->conflicts) {
    named.push_back({c.type, c.record_id});
  }
  std::sort(named.begin(), named.end());
  named.erase(std::unique(named.begin(), named.end()), named.end());
  Result<std::vector<std::vector<std::string>>> past_owners =
      store.PastOwners(named);
  if (!past_owners.ok()) return FromStatus(past_owners.status());
  // The owners of a record, found by its place in `named` (sorted).
  auto owners_of = [&](storage::ResourceType type, const std::string& id)
      -> Result<std::vector<std::string>*> {
    const storage::RecordKey key{type, id};
    auto it = std::lower_bound(named.begin(), named.end(), key);
    if (it == named.end() || *it != key) {
      return Status::Internal("push", "owners of a record not read");
    }
    return &(*past_owners)[static_cast<size_t>(it - named.begin())];
  };
  auto owned_by_peer = [&](const std::vector<std::string>& owners) {
    return std::any_of(owners.begin(), owners.end(), in_scope);
  };
  for (const storage::ChangeEntry& change : batch->changes) {
    const storage::Record& r = change.record;
    Result<std::vector<std::string>*> owners = owners_of(r.type, r.id);
    if (!owners.ok()) return FromStatus(owners.status());
    const bool shared = r.facility == storage::kSharedFacility;
    if (shared && hub_node) {
      // Reference data a hub node edits: merged like the hub's own.
    } else if (shared || !owned_by_peer(**owners)) {
      // A record new here belongs to the facility that created it, and is
      // that facility's from then on (a later version in the same batch
      // may transfer it).
      const bool new_here = (*owners)->empty() && in_scope(r.facility);
      if (!new_here) {
        const std::string& owner =
            (*owners)->empty() || r.facility == storage::kSharedFacility
                ? r.facility
                : (*owners)->front();
        return Refuse(403, kErrorScope,
                      pusher + " sent " +
                          std::string(storage::ResourceTypeName(r.type)) + "/" +
                          r.id + " of facility " + owner +
                          (owner == storage::kSharedFacility
                               ? " (shared reference data is edited at the hub)"
                               : ", which it never owned"));
      }
      (*owners)->push_back(r.facility);
    }
  }
  std::vector<storage::Conflict> incoming;
  for (storage::Conflict& c : batch->conflicts) {
    const bool shared_ok = hub_node && c.facility == storage::kSharedFacility;
    if (!in_scope(c.facility) && !shared_ok) {
      Result<std::vector<std::string>*> owners = owners_of(c.type, c.record_id);
      if (!owners.ok()) return FromStatus(owners.status());
      if (!owned_by_peer(**owners)) {
        return Refuse(
            403, kErrorScope,
            pusher + " sent conflict " + c.id + " of facility " + c.facility);
      }
    }
    incoming.push_back(std::move(c));
  }
  // The changes the hub has not applied yet: all of them, but in a batch
  // sent again from behind its ack.
  const int64_t received = peer->received_seq;
  std::vector<storage::ChangeEntry> fresh_changes;
  std::unique_ptr<storage::PreparedChanges> prepared;
  if (std::all_of(batch->changes.begin(), batch->changes.end(),
                  [&](const storage::ChangeEntry& change) {
                    return change.seq > received;
                  })) {
    prepared = checked_early != nullptr
                   ? std::move(checked_early)
                   : store.PrepareChanges(batch->changes, batch->audit);
  } else {
    checked_early.reset();  // its threads read the changes: done first
    for (storage::ChangeEntry& change : batch->changes) {
      if (change.seq > received) fresh_changes.push_back(std::move(change));
    }
    prepared = store.PrepareChanges(fresh_changes, batch->audit);
  }
  const size_t fresh = prepared->changes().size();
  storage::PeerState next = *peer;
  next.received_seq = batch->to_seq;
  next.last_sync_ms = clock.WallNowMillis();
  POSTA_CRASH_POINT("sync.hub.push_decoded");
  Result<storage::ApplyStats> stats = store.ApplyPrepared(
      std::move(prepared), incoming, merger, next);
  ticket.Release();
  if (!stats.ok()) return FromStatus(stats.status());
  POSTA_CRASH_POINT("sync.hub.push_committed");
  if (stats->audit) {
    NoteAudit(*stats->audit);
    audit_held = *stats->audit;
  }
  ++push_batches;
  push_records += static_cast<int64_t>(fresh);
  conflicts += stats->conflicts;
  ack.received_seq = next.received_seq;
  ack.taken = stats->taken;
  ack.merged = stats->merged;
  ack.ignored = stats->ignored;
  ack.conflicts = stats->conflicts;
  return answer(ack);
}

SyncReply HubService::Impl::Pull(const SyncRequest& call,
                                 const storage::EnrolledNode& node) {
  Result<PullRequest> request =
      DecodePullRequest(call.body, SmallRequestLimits(options.limits));
  if (!request.ok()) return FromStatus(request.status());
  if (request->node_id != node.node_id) {
    return Refuse(403, kErrorScope,
                  "a pull for node " + request->node_id +
                      " with the credential of node " + node.node_id +
                      "; a node pulls only its own facility's changes");
  }
  Result<storage::PeerState> peer = KnownPeer(request->node_id);
  if (!peer.ok()) {
    if (peer.status().code() == Status::Code::kPreconditionFailed) {
      return Refuse(409, "hello_first", peer.status().ToString());
    }
    return FromStatus(peer.status());
  }
  if (peer->facility != node.facility) {
    return Refuse(403, kErrorScope,
                  "node " + node.node_id + " is enrolled for facility " +
                      node.facility + " but was known here for facility " +
                      peer->facility);
  }
  // Asking from a cursor acknowledges everything before it, or what the
  // node says it stored when it asks ahead of its disk (protocol 3).
  const int64_t stored = request->stored_seq.value_or(request->after_seq);
  if (stored != peer->acked_seq) {
    storage::PeerState next = *peer;
    next.acked_seq = stored;
    next.last_sync_ms = clock.WallNowMillis();
    if (Status s = store.UpdatePeer(next); !s.ok()) return FromStatus(s);
    POSTA_CRASH_POINT("sync.hub.pull_acked");
  }
  Result<PullBatch> read =
      ReadPull(node, request->after_seq, request->max_bytes);
  if (!read.ok()) return FromStatus(read.status());
  PullBatch batch = std::move(read).value();
  if (!batch.more) {
    // The last pull of a sync: the node is up to date with the hub (the
    // freshness report's "last sync").
    if (Status s = store.NoteSyncCompleted(node.node_id, node.facility,
                                           clock.WallNowMillis());
        !s.ok()) {
      return FromStatus(s);
    }
  }
  ++pull_batches;
  pull_records += static_cast<int64_t>(batch.changes.size());
  POSTA_CRASH_POINT("sync.hub.pull_before_reply");
  return SyncReply{200, std::string(kContentType), Encode(batch)};
}

Result<storage::ChangeFilter> HubService::Impl::PullFilter(
    const storage::EnrolledNode& node, int64_t after_seq) {
  storage::ChangeFilter filter;
  filter.after_seq = after_seq;
  // Neither what the node made nor what it sent (a hub node relays its
  // clinics' versions: they are not sent back to it).
  filter.exclude_origin = node.node_id;
  // The scope comes from the credential: whatever the cursor, only this
  // facility's records (a hub node's: its region's) and shared ones are
  // read.
  if (node.region.empty()) {
    filter.facility = node.facility;
  } else {
    POSTA_ASSIGN_OR_RETURN(filter.facilities, ScopeOf(node));
  }
  return filter;
}

Result<PullBatch> HubService::Impl::ReadPull(const storage::EnrolledNode& node,
                                             int64_t after_seq,
                                             uint64_t max_bytes) {
  POSTA_ASSIGN_OR_RETURN(storage::ChangeFilter filter,
                         PullFilter(node, after_seq));
  filter.max_changes = options.limits.max_changes;
  filter.max_bytes =
      std::min<uint64_t>(max_bytes == 0 ? options.max_batch_bytes : max_bytes,
                         options.max_batch_bytes);
  POSTA_ASSIGN_OR_RETURN(storage::ChangeBatch read, store.ReadChanges(filter));
  PullBatch batch;
  batch.after_seq = after_seq;
  batch.to_seq = read.last_seq;
  batch.more = read.more;
  batch.changes = std::move(read.changes);
  batch.conflicts = std::move(read.conflicts);
  return batch;
}

Status HubService::Impl::EnsurePeer(const storage::EnrolledNode& node) {
  Result<storage::PeerState> known = store.GetPeer(node.node_id);
  if (known.ok() || known.status().code() != Status::Code::kNotFound) {
    return known.status();
  }
  storage::PeerState peer;
  peer.node_id = node.node_id;
  peer.facility = node.facility;
  peer.role = std::string(kRoleClinic);  // downstream, as in Hello
  return store.UpdatePeer(peer);
}

Result<std::vector<std::string>> HubService::Impl::ScopeOf(
    const storage::EnrolledNode& node) {
  std::vector<std::string> scope{node.facility};
  if (node.region.empty()) return scope;
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::FacilityEntry> facilities,
                         store.ListFacilities());
  for (const storage::FacilityEntry& f : facilities) {
    if (f.region == node.region && f.id != node.facility) {
      scope.push_back(f.id);
    }
  }
  return scope;
}

SyncReply HubService::HandleBundled(std::string_view op, std::string_view body,
                                    const storage::EnrolledNode& node) {
  SyncReply reply;
  SyncRequest request{op, body, "", "", /*from_bundle=*/true};
  try {
    if (Status s = impl_->EnsurePeer(node); !s.ok()) {
      reply = FromStatus(s);
    } else if (op == "push") {
      reply = impl_->Push(request, node);
    } else if (op == "ack") {
      reply = impl_->BundleAck(body, node);
    } else {
      reply = Refuse(404, "unknown_op",
                     "no bundled operation \"" +
                         std::string(op.substr(0, 20)) +
                         "\"; expected push or ack");
    }
  } catch (const std::exception& e) {
    reply = Refuse(500, "internal", std::string("hub: ") + e.what());
  }
  impl_->Account(reply, node.node_id, "bundle");
  return reply;
}

SyncReply HubService::Impl::BundleAck(std::string_view body,
                                      const storage::EnrolledNode& node) {
  Result<PullRequest> request = DecodePullRequest(body, options.limits);
  if (!request.ok()) return FromStatus(request.status());
  if (request->node_id != node.node_id) {
    return Refuse(403, kErrorScope,
                  "a pull cursor for node " + request->node_id +
                      " in a bundle of node " + node.node_id);
  }
  Result<storage::PeerState> peer = store.GetPeer(node.node_id);
  if (!peer.ok()) return FromStatus(peer.status());
  // Never backwards: an older bundle carried again changes nothing.
  if (request->after_seq > peer->acked_seq) {
    storage::PeerState next = *peer;
    next.acked_seq = request->after_seq;
    next.last_sync_ms = clock.WallNowMillis();
    if (Status s = store.UpdatePeer(next); !s.ok()) return FromStatus(s);
  }
  PushAck ack;
  ack.received_seq = peer->received_seq;
  return Ok(Encode(ack));
}

Result<storage::EnrolledNode> HubService::BundleOrigin(
    const std::string& node_id) {
  Result<storage::EnrolledNode> node = impl_->store.GetEnrolledNode(node_id);
  SyncReply refusal;
  if (!node.ok()) {
    if (node.status().code() != Status::Code::kNotFound) return node.status();
    refusal = Refuse(401, kErrorNotEnrolled,
                     "node " + node_id + " is not enrolled with hub " +
                         impl_->store.node_id() + "; " +
                         std::string(kEnrollAdvice));
  } else if (node->revoked_ms != 0) {
    refusal = Refuse(401, kErrorRevoked,
                     "node " + node->node_id + " was revoked on hub " +
                         impl_->store.node_id() + " at " +
                         Clock(node->revoked_ms) +
                         " (what it synced before stays); to sync again, " +
                         std::string(kEnrollAdvice));
  } else {
    return node;
  }
  impl_->Account(refusal, node.ok() ? node->node_id : "", "bundle");
  Result<ErrorReply> error = DecodeErrorReply(refusal.body);
  if (!error.ok()) return error.status();
  return StatusFromErrorReply(refusal.status, *error);
}

Result<PullBatch> HubService::ReadPull(const storage::EnrolledNode& node,
                                       int64_t after_seq, uint64_t max_bytes) {
  try {
    return impl_->ReadPull(node, after_seq, max_bytes);
  } catch (const std::exception& e) {
    return Status::Internal("hub", e.what());
  }
}

Result<int64_t> HubService::CountPull(const storage::EnrolledNode& node,
                                      int64_t after_seq) {
  try {
    POSTA_ASSIGN_OR_RETURN(storage::ChangeFilter filter,
                           impl_->PullFilter(node, after_seq));
    return impl_->store.CountChanges(filter);
  } catch (const std::exception& e) {
    return Status::Internal("hub", e.what());
  }
}

}  // namespace posta::sync
