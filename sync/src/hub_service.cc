#include "posta/sync/hub_service.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <map>
#include <utility>

#include "posta/base/crash_point.h"
#include "posta/sync/merge.h"

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
    default:
      return Refuse(500, "internal", "hub: " + status.ToString());
  }
}

std::string Clock(int64_t ms) { return storage::FormatInstant(ms); }

}  // namespace

struct HubService::Impl {
  Impl(storage::RecordStore& store, base::Clock& clock, HubOptions options)
      : store(store),
        clock(clock),
        options(std::move(options)),
        merger(clock, MergeOptions{this->options.max_clock_skew}) {}

  SyncReply Hello(std::string_view body);
  SyncReply Push(std::string_view body);
  SyncReply Pull(std::string_view body);
  // The peer that said hello as `node_id`, or the reply refusing it.
  Result<storage::PeerState> KnownPeer(const std::string& node_id);

  storage::RecordStore& store;
  base::Clock& clock;
  const HubOptions options;
  FieldMerger merger;
  std::atomic<int64_t> hellos{0}, push_batches{0}, push_records{0},
      pull_batches{0}, pull_records{0}, conflicts{0}, refused{0};
};

HubService::HubService(storage::RecordStore& store, base::Clock& clock,
                       HubOptions options)
    : impl_(new Impl(store, clock, std::move(options))) {}

HubService::~HubService() { delete impl_; }

HubCounters HubService::counters() const {
  HubCounters c;
  c.hellos = impl_->hellos;
  c.push_batches = impl_->push_batches;
  c.push_records = impl_->push_records;
  c.pull_batches = impl_->pull_batches;
  c.pull_records = impl_->pull_records;
  c.conflicts = impl_->conflicts;
  c.refused = impl_->refused;
  return c;
}

SyncReply HubService::Handle(std::string_view op, std::string_view body) {
  SyncReply reply;
  try {
    if (op == "hello") {
      reply = impl_->Hello(body);
    } else if (op == "push") {
      reply = impl_->Push(body);
    } else if (op == "pull") {
      reply = impl_->Pull(body);
    } else {
      reply = Refuse(404, "unknown_op",
                     "no sync operation \"" + std::string(op.substr(0, 20)) +
                         "\"; expected hello, push or pull");
    }
  } catch (const std::exception& e) {
    reply = Refuse(500, "internal", std::string("hub: ") + e.what());
  }
  if (reply.status != 200) ++impl_->refused;
  return reply;
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

SyncReply HubService::Impl::Hello(std::string_view body) {
  Result<sync::Hello> hello = DecodeHello(body, options.limits);
  if (!hello.ok()) return FromStatus(hello.status());
  if (hello->protocol_version < kMinProtocolVersion ||
      hello->min_protocol_version > kProtocolVersion) {
    return Refuse(409, kErrorVersionMismatch,
                  "node " + hello->node_id + " speaks sync protocol " +
                      std::to_string(hello->min_protocol_version) + ".." +
                      std::to_string(hello->protocol_version) +
                      "; this hub speaks " +
                      std::to_string(kMinProtocolVersion) + ".." +
                      std::to_string(kProtocolVersion) +
                      "; upgrade the older one");
  }
  if (hello->role != kRoleClinic) {
    return Refuse(400, kErrorBadBatch,
                  "only clinics sync to a hub (role " + hello->role + ")");
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
    peer.role = hello->role;
  }
  peer.last_sync_ms = now;
  if (Status s = store.UpdatePeer(peer); !s.ok()) return FromStatus(s);
  ++hellos;
  HelloReply reply;
  reply.protocol_version = std::min(hello->protocol_version, kProtocolVersion);
  reply.node_id = store.node_id();
  reply.facility = store.facility();
  reply.role = std::string(kRoleHub);
  reply.clock_ms = now;
  reply.received_seq = peer.received_seq;
  reply.max_batch_bytes = options.max_batch_bytes;
  return SyncReply{200, std::string(kContentType), Encode(reply)};
}

SyncReply HubService::Impl::Push(std::string_view body) {
  Result<PushBatch> batch = DecodePushBatch(body, options.limits);
  if (!batch.ok()) return FromStatus(batch.status());
  Result<storage::PeerState> peer = KnownPeer(batch->node_id);
  if (!peer.ok()) {
    if (peer.status().code() == Status::Code::kPreconditionFailed) {
      return Refuse(409, "hello_first", peer.status().ToString());
    }
    return FromStatus(peer.status());
  }
  PushAck ack;
  if (batch->to_seq <= peer->received_seq) {
    // A batch applied before (its ack was lost): acknowledge it again.
    ack.received_seq = peer->received_seq;
    return SyncReply{200, std::string(kContentType), Encode(ack)};
  }
  if (batch->after_seq > peer->received_seq) {
    return Refuse(409, "gap",
                  "batch starts after " + std::to_string(batch->after_seq) +
                      " but the hub has applied up to " +
                      std::to_string(peer->received_seq) +
                      "; push again from there");
  }
  // Scope: a clinic pushes versions of records its facility owns, or
  // owned at some version the hub holds (an edit made offline while the
  // record was transferred away merges, and the owner stays the newer one);
  // a record new to the hub must first come as its own. Never a shared
  // record.
  std::map<std::pair<storage::ResourceType, std::string>,
           std::vector<std::string>>
      past_owners;
  auto owners_of =
      [&](storage::ResourceType type,
          const std::string& id) -> Result<std::vector<std::string>*> {
    auto key = std::make_pair(type, id);
    auto it = past_owners.find(key);
    if (it == past_owners.end()) {
      POSTA_ASSIGN_OR_RETURN(std::vector<std::string> owners,
                             store.PastOwners(type, id));
      it = past_owners.emplace(std::move(key), std::move(owners)).first;
    }
    return &it->second;
  };
  auto owned_by_peer = [&](const std::vector<std::string>& owners) {
    return std::find(owners.begin(), owners.end(), peer->facility) !=
           owners.end();
  };
  std::vector<storage::ChangeEntry> changes;
  changes.reserve(batch->changes.size());
  for (storage::ChangeEntry& change : batch->changes) {
    const storage::Record& r = change.record;
    Result<std::vector<std::string>*> owners = owners_of(r.type, r.id);
    if (!owners.ok()) return FromStatus(owners.status());
    if (r.facility == storage::kSharedFacility || !owned_by_peer(**owners)) {
      // A record new here belongs to the facility that created it, and is
      // that facility's from then on (a later version in the same batch
      // may transfer it).
      const bool new_here = (*owners)->empty() && r.facility == peer->facility;
      if (!new_here) {
        const std::string& owner =
            (*owners)->empty() || r.facility == storage::kSharedFacility
                ? r.facility
                : (*owners)->front();
        return Refuse(403, kErrorScope,
                      "node " + peer->node_id + " of facility " +
                          peer->facility + " sent " +
                          std::string(storage::ResourceTypeName(r.type)) + "/" +
                          r.id + " of facility " + owner +
                          (owner == storage::kSharedFacility
                               ? " (shared reference data is edited at the hub)"
                               : ", which it never owned"));
      }
      (*owners)->push_back(peer->facility);
    }
    if (change.seq > peer->received_seq) changes.push_back(std::move(change));
  }
  std::vector<storage::Conflict> incoming;
  for (storage::Conflict& c : batch->conflicts) {
    if (c.facility != peer->facility) {
      Result<std::vector<std::string>*> owners = owners_of(c.type, c.record_id);
      if (!owners.ok()) return FromStatus(owners.status());
      if (!owned_by_peer(**owners)) {
        return Refuse(
            403, kErrorScope,
            "conflict " + c.id + " belongs to facility " + c.facility);
      }
    }
    incoming.push_back(std::move(c));
  }
  storage::PeerState next = *peer;
  next.received_seq = batch->to_seq;
  next.last_sync_ms = clock.WallNowMillis();
  POSTA_CRASH_POINT("sync.hub.push_decoded");
  Result<storage::ApplyStats> stats =
      store.ApplyChanges(changes, incoming, merger, next);
  if (!stats.ok()) return FromStatus(stats.status());
  POSTA_CRASH_POINT("sync.hub.push_committed");
  ++push_batches;
  push_records += static_cast<int64_t>(changes.size());
  conflicts += stats->conflicts;
  ack.received_seq = next.received_seq;
  ack.taken = stats->taken;
  ack.merged = stats->merged;
  ack.ignored = stats->ignored;
  ack.conflicts = stats->conflicts;
  return SyncReply{200, std::string(kContentType), Encode(ack)};
}

SyncReply HubService::Impl::Pull(std::string_view body) {
  Result<PullRequest> request = DecodePullRequest(body, options.limits);
  if (!request.ok()) return FromStatus(request.status());
  Result<storage::PeerState> peer = KnownPeer(request->node_id);
  if (!peer.ok()) {
    if (peer.status().code() == Status::Code::kPreconditionFailed) {
      return Refuse(409, "hello_first", peer.status().ToString());
    }
    return FromStatus(peer.status());
  }
  // Asking from a cursor acknowledges everything before it.
  if (request->after_seq != peer->acked_seq) {
    storage::PeerState next = *peer;
    next.acked_seq = request->after_seq;
    next.last_sync_ms = clock.WallNowMillis();
    if (Status s = store.UpdatePeer(next); !s.ok()) return FromStatus(s);
    POSTA_CRASH_POINT("sync.hub.pull_acked");
  }
  storage::ChangeFilter filter;
  filter.after_seq = request->after_seq;
  filter.max_changes = options.limits.max_changes;
  filter.max_bytes = std::min<uint64_t>(
      request->max_bytes == 0 ? options.max_batch_bytes : request->max_bytes,
      options.max_batch_bytes);
  filter.exclude_origin = peer->node_id;
  filter.facility = peer->facility;
  Result<storage::ChangeBatch> read = store.ReadChanges(filter);
  if (!read.ok()) return FromStatus(read.status());
  PullBatch batch;
  batch.after_seq = request->after_seq;
  batch.to_seq = read->last_seq;
  batch.more = read->more;
  batch.changes = std::move(read->changes);
  batch.conflicts = std::move(read->conflicts);
  ++pull_batches;
  pull_records += static_cast<int64_t>(batch.changes.size());
  POSTA_CRASH_POINT("sync.hub.pull_before_reply");
  return SyncReply{200, std::string(kContentType), Encode(batch)};
}

}  // namespace posta::sync
