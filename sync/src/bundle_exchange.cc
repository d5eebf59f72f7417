#include "posta/sync/bundle_exchange.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "floor_clock.h"
#include "posta/sync/credentials.h"
#include "posta/sync/merge.h"
#include "posta/sync/sync_client.h"

namespace posta::sync {
namespace {

constexpr std::string_view kWhat = "sync bundle";

// The clinic's record of its hub: the peer with role hub.
Result<std::optional<storage::PeerState>> FindHub(storage::RecordStore& store) {
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::PeerState> peers,
                         store.ListPeers());
  for (storage::PeerState& peer : peers) {
    if (peer.role == kRoleHub) return std::optional(std::move(peer));
  }
  return std::optional<storage::PeerState>();
}

// What is carried where: frame 1 is the ack, every later one a batch of the
// direction's kind, each holding the wire message that kind names.
Status CheckFrame(BundleDirection direction, const BundleFrame& frame) {
  const bool to_hub = direction == BundleDirection::kClinicToHub;
  const std::string at = "frame " + std::to_string(frame.index);
  BundleFrameKind want_kind =
      frame.index == 1
          ? BundleFrameKind::kAck
          : (to_hub ? BundleFrameKind::kPush : BundleFrameKind::kPull);
  if (frame.kind != want_kind) {
    return Status::Malformed(
        kWhat, at + " is of kind " +
                   std::to_string(static_cast<int>(frame.kind)) +
                   ", expected " + std::to_string(static_cast<int>(want_kind)));
  }
  MessageKind want_message = MessageKind::kPushBatch;
  switch (frame.kind) {
    case BundleFrameKind::kAck:
      want_message = to_hub ? MessageKind::kPullRequest : MessageKind::kPushAck;
      break;
    case BundleFrameKind::kPull:
      want_message = MessageKind::kPullBatch;
      break;
    default:
      break;
  }
  POSTA_ASSIGN_OR_RETURN(MessageKind kind, PeekKind(frame.message));
  if (kind != want_message) {
    return Status::Malformed(
        kWhat, at + " holds a " + std::string(MessageKindName(kind)) +
                   ", expected a " +
                   std::string(MessageKindName(want_message)));
  }
  return Status::Ok();
}

// The checks of a header before its key is known: direction and
// destination. Returns the key (from `key_for`) once those pass.
using KeyFor = std::function<Result<std::string>(const BundleHeader&)>;

struct Scanned {
  BundleHeader header;
  std::string key;
  uint32_t frames = 0;  // complete, verified frames (trailer not counted)
  bool complete = false;
};

// Pass 1: reads the header, gets its key, and verifies every frame up to
// the trailer or the point where the file was cut short. Any frame that
// does not verify or is not of its place's form fails the whole bundle.
Result<Scanned> Scan(std::istream& in, const BundleLimits& limits,
                     const KeyFor& key_for) {
  BundleReader reader(in, limits);
  Scanned scanned;
  POSTA_ASSIGN_OR_RETURN(scanned.header, reader.ReadHeader());
  POSTA_ASSIGN_OR_RETURN(scanned.key, key_for(scanned.header));
  POSTA_RETURN_IF_ERROR(reader.Verify(scanned.key));
  while (true) {
    Result<BundleFrame> frame = reader.Next();
    if (!frame.ok()) {
      if (reader.truncated()) break;
      return frame.status();
    }
    if (frame->kind == BundleFrameKind::kTrailer) {
      POSTA_RETURN_IF_ERROR(reader.ExpectEnd());
      scanned.complete = true;
      break;
    }
    POSTA_RETURN_IF_ERROR(CheckFrame(scanned.header.direction, *frame));
    scanned.frames = reader.frames();
  }
  if (scanned.frames == 0) {
    return Status::Malformed(kWhat,
                             "the file ends before its first frame; it was "
                             "cut short: carry a new bundle");
  }
  return scanned;
}

// Pass 2 reads the same frames again (verifying again: the file may have
// been changed in between) and hands each to `apply`.
Status Replay(
    std::istream& in, const BundleLimits& limits, const Scanned& scanned,
    const std::function<Status(const BundleFrame&, uint64_t)>& apply) {
  in.clear();
  in.seekg(0);
  if (!in.good()) return Status::IOError(kWhat, "cannot read it again");
  BundleReader reader(in, limits);
  POSTA_RETURN_IF_ERROR(reader.ReadHeader().status());
  POSTA_RETURN_IF_ERROR(reader.Verify(scanned.key));
  for (uint32_t i = 0; i < scanned.frames; ++i) {
    POSTA_ASSIGN_OR_RETURN(BundleFrame frame, reader.Next());
    POSTA_RETURN_IF_ERROR(CheckFrame(scanned.header.direction, frame));
    POSTA_RETURN_IF_ERROR(apply(frame, reader.bytes_read()));
  }
  return Status::Ok();
}

void NoteTruncation(const Scanned& scanned, BundleImport& result) {
  result.complete = scanned.complete;
  if (!scanned.complete) {
    result.missing = "the bundle ends after batch " +
                     std::to_string(scanned.frames - 1) +
                     " and its trailer is missing (the file was cut short); "
                     "the batches before were applied: carry a new bundle";
  }
}

// An export's progress after a batch written.
void Report(const BundleWriter& writer, const BundleExport& result,
            const BundleProgressFn& progress, BundleProgress& shown) {
  if (!progress) return;
  shown.bytes_done = writer.bytes();
  shown.batches = result.batches;
  shown.records = result.records;
  progress(shown);
}

std::string Side(BundleDirection direction) {
  return direction == BundleDirection::kClinicToHub ? "a clinic's bundle for "
                                                      "its hub"
                                                    : "a hub's bundle for a "
                                                      "clinic";
}

}  // namespace

// ---- Clinic ----

Result<BundleExport> ExportClinicBundle(storage::RecordStore& store,
                                        std::string_view credential,
                                        const BundleSink& sink,
                                        base::Clock& clock,
                                        const BundleOptions& options,
                                        const BundleProgressFn& progress) {
  POSTA_ASSIGN_OR_RETURN(std::optional<storage::PeerState> hub, FindHub(store));
  if (!hub) {
    return Status::PreconditionFailed(
        kWhat,
        "this clinic does not know its hub yet: enroll it first "
        "(posta enroll)");
  }
  BundleExport result;
  BundleHeader& header = result.header;
  header.direction = BundleDirection::kClinicToHub;
  header.origin_node_id = store.node_id();
  header.origin_facility = store.facility();
  header.destination_node_id = hub->node_id;
  header.created_ms = clock.WallNowMillis();
  header.push_from = hub->acked_seq;
  header.pull_from = hub->received_seq;
  BundleWriter writer(
      sink, BundleKey(HashSecret(credential), BundleDirection::kClinicToHub));
  POSTA_RETURN_IF_ERROR(writer.Begin(header));
  // The pull cursor: the hub records it as acknowledged, as a network pull
  // from it would.
  PullRequest cursor;
  cursor.node_id = store.node_id();
  cursor.after_seq = hub->received_seq;
  POSTA_RETURN_IF_ERROR(writer.Add(BundleFrameKind::kAck, Encode(cursor), 0));
  // As SyncClient reads its pushes: versions made here, after the hub's
  // acknowledgement.
  storage::ChangeFilter filter;
  filter.after_seq = hub->acked_seq;
  filter.max_changes = options.limits.max_changes;
  filter.max_bytes = options.batch_bytes;
  filter.only_origin = store.node_id();
  BundleProgress shown;
  if (progress) {
    POSTA_ASSIGN_OR_RETURN(shown.records_total, store.CountChanges(filter));
  }
  int64_t after = hub->acked_seq;
  while (true) {
    filter.after_seq = after;
    POSTA_ASSIGN_OR_RETURN(storage::ChangeBatch batch,
                           store.ReadChanges(filter));
    if (batch.last_seq <= after) break;
    PushBatch push;
    push.node_id = store.node_id();
    push.after_seq = after;
    push.to_seq = batch.last_seq;
    push.changes = std::move(batch.changes);
    push.conflicts = std::move(batch.conflicts);
    const auto records = static_cast<int64_t>(push.changes.size());
    POSTA_RETURN_IF_ERROR(
        writer.Add(BundleFrameKind::kPush, Encode(push), records));
    ++result.batches;
    result.records += records;
    Report(writer, result, progress, shown);
    after = push.to_seq;
    if (!batch.more) break;
  }
  POSTA_RETURN_IF_ERROR(writer.Finish());
  result.bytes = writer.bytes();
  return result;
}

Result<BundleImport> ImportClinicBundle(storage::RecordStore& store,
                                        std::string_view credential,
                                        std::istream& in, base::Clock& clock,
                                        const BundleOptions& options,
                                        const BundleProgressFn& progress) {
  POSTA_ASSIGN_OR_RETURN(std::optional<storage::PeerState> known_hub,
                         FindHub(store));
  auto key_for = [&](const BundleHeader& header) -> Result<std::string> {
    if (header.direction != BundleDirection::kHubToClinic) {
      return Status::InvalidArgument(
          kWhat, "this is " + Side(header.direction) + " (from node " +
                     header.origin_node_id + "); import it on the hub");
    }
    if (header.destination_node_id != store.node_id()) {
      return Status::PermissionDenied(
          kWhat, "it is for node " + header.destination_node_id +
                     ", but this is node " + store.node_id() +
                     "; carry it to that clinic");
    }
    if (known_hub && known_hub->node_id != header.origin_node_id) {
      return Status::PermissionDenied(
          kWhat, "it comes from hub " + header.origin_node_id +
                     ", but this clinic syncs with hub " + known_hub->node_id);
    }
    return BundleKey(HashSecret(credential), BundleDirection::kHubToClinic);
  };
  POSTA_ASSIGN_OR_RETURN(Scanned scanned,
                         Scan(in, options.bundle_limits, key_for));
  BundleImport result;
  result.header = scanned.header;
  storage::PeerState hub;
  if (known_hub) {
    hub = *known_hub;
  } else {
    // The MAC proved the hub that enrolled this clinic wrote it.
    hub.node_id = scanned.header.origin_node_id;
    hub.facility = scanned.header.origin_facility;
    hub.role = std::string(kRoleHub);
  }
  // Stamps are judged against the hub's clock when it wrote the bundle, as
  // a network sync judges them against the hub's clock at the handshake.
  FloorClock judge(clock, scanned.header.created_ms);
  FieldMerger merger(judge, MergeOptions{options.max_clock_skew});
  BundleProgress shown;
  auto apply = [&](const BundleFrame& frame, uint64_t bytes) -> Status {
    const std::string at = "batch " + std::to_string(frame.index - 1);
    if (frame.kind == BundleFrameKind::kAck) {
      POSTA_ASSIGN_OR_RETURN(PushAck ack,
                             DecodePushAck(frame.message, options.limits));
      // Never backwards: an older bundle changes nothing.
      if (ack.received_seq > hub.acked_seq) {
        hub.acked_seq = ack.received_seq;
        hub.last_sync_ms = clock.WallNowMillis();
        POSTA_RETURN_IF_ERROR(store.UpdatePeer(hub));
      }
      return Status::Ok();
    }
    POSTA_ASSIGN_OR_RETURN(PullBatch batch,
                           DecodePullBatch(frame.message, options.limits));
    if (batch.to_seq <= hub.received_seq) {
      ++result.skipped_batches;  // held already (by link or bundle)
    } else if (batch.after_seq > hub.received_seq) {
      return Status::Unavailable(
          kWhat, at + " starts after the hub's change " +
                     std::to_string(batch.after_seq) +
                     " but this clinic holds them only up to " +
                     std::to_string(hub.received_seq) +
                     "; a bundle in between is missing: sync, or ask the "
                     "hub for a new bundle");
    } else {
      storage::PeerState next = hub;
      next.received_seq = batch.to_seq;
      next.last_sync_ms = clock.WallNowMillis();
      POSTA_ASSIGN_OR_RETURN(
          storage::ApplyStats applied,
          store.ApplyChanges(batch.changes, batch.conflicts, merger, next));
      hub = next;
      ++result.batches;
      result.records += static_cast<int64_t>(batch.changes.size());
      result.stats.taken += applied.taken;
      result.stats.merged += applied.merged;
      result.stats.ignored += applied.ignored;
      result.stats.conflicts += applied.conflicts;
    }
    shown.bytes_done = bytes;
    shown.batches = result.batches + result.skipped_batches;
    shown.records = result.records;
    if (progress) progress(shown);
    return Status::Ok();
  };
  POSTA_RETURN_IF_ERROR(Replay(in, options.bundle_limits, scanned, apply));
  // A clinic that had never reached its hub knows it from now on.
  if (!known_hub) POSTA_RETURN_IF_ERROR(store.UpdatePeer(hub));
  result.push_acked = hub.acked_seq;
  NoteTruncation(scanned, result);
  return result;
}

// ---- Hub ----

Result<BundleExport> ExportHubBundle(HubService& hub,
                                     storage::RecordStore& store,
                                     const std::string& node_id,
                                     const BundleSink& sink, base::Clock& clock,
                                     const BundleOptions& options,
                                     const BundleProgressFn& progress) {
  POSTA_ASSIGN_OR_RETURN(storage::EnrolledNode node, hub.BundleOrigin(node_id));
  storage::PeerState peer;
  if (Result<storage::PeerState> known = store.GetPeer(node_id); known.ok()) {
    peer = std::move(known).value();
  } else if (known.status().code() != Status::Code::kNotFound) {
    return known.status();
  }
  BundleExport result;
  BundleHeader& header = result.header;
  header.direction = BundleDirection::kHubToClinic;
  header.origin_node_id = store.node_id();
  header.origin_facility = store.facility();
  header.destination_node_id = node.node_id;
  header.created_ms = clock.WallNowMillis();
  header.push_from = peer.received_seq;
  header.pull_from = peer.acked_seq;
  BundleWriter writer(
      sink, BundleKey(node.credential_hash, BundleDirection::kHubToClinic));
  POSTA_RETURN_IF_ERROR(writer.Begin(header));
  PushAck ack;
  ack.received_seq = peer.received_seq;
  POSTA_RETURN_IF_ERROR(writer.Add(BundleFrameKind::kAck, Encode(ack), 0));
  BundleProgress shown;
  if (progress) {
    POSTA_ASSIGN_OR_RETURN(shown.records_total,
                           hub.CountPull(node, peer.acked_seq));
  }
  int64_t after = peer.acked_seq;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(PullBatch batch,
                           hub.ReadPull(node, after, options.batch_bytes));
    if (batch.to_seq <= after && batch.changes.empty() &&
        batch.conflicts.empty()) {
      break;
    }
    const auto records = static_cast<int64_t>(batch.changes.size());
    POSTA_RETURN_IF_ERROR(
        writer.Add(BundleFrameKind::kPull, Encode(batch), records));
    ++result.batches;
    result.records += records;
    Report(writer, result, progress, shown);
    after = batch.to_seq;
    if (!batch.more) break;
  }
  POSTA_RETURN_IF_ERROR(writer.Finish());
  result.bytes = writer.bytes();
  return result;
}

Result<BundleImport> ImportHubBundle(HubService& hub,
                                     storage::RecordStore& store,
                                     std::istream& in,
                                     const BundleOptions& options,
                                     const BundleProgressFn& progress) {
  storage::EnrolledNode node;
  auto key_for = [&](const BundleHeader& header) -> Result<std::string> {
    if (header.direction != BundleDirection::kClinicToHub) {
      return Status::InvalidArgument(
          kWhat, "this is " + Side(header.direction) + " (for node " +
                     header.destination_node_id +
                     "); import it on that clinic");
    }
    if (header.destination_node_id != store.node_id()) {
      return Status::PermissionDenied(
          kWhat, "it is for hub " + header.destination_node_id +
                     ", but this is hub " + store.node_id());
    }
    POSTA_ASSIGN_OR_RETURN(node, hub.BundleOrigin(header.origin_node_id));
    if (header.origin_facility != node.facility) {
      return Status::PermissionDenied(
          kWhat, "node " + node.node_id + " is enrolled for facility " +
                     node.facility + ", not " + header.origin_facility);
    }
    return BundleKey(node.credential_hash, BundleDirection::kClinicToHub);
  };
  POSTA_ASSIGN_OR_RETURN(Scanned scanned,
                         Scan(in, options.bundle_limits, key_for));
  BundleImport result;
  result.header = scanned.header;
  int64_t received = 0;
  if (Result<storage::PeerState> peer = store.GetPeer(node.node_id);
      peer.ok()) {
    received = peer->received_seq;
  }
  BundleProgress shown;
  auto apply = [&](const BundleFrame& frame, uint64_t bytes) -> Status {
    const bool is_ack = frame.kind == BundleFrameKind::kAck;
    const std::string at = "batch " + std::to_string(frame.index - 1);
    SyncReply reply =
        hub.HandleBundled(is_ack ? "ack" : "push", frame.message, node);
    if (reply.status != 200) {
      POSTA_ASSIGN_OR_RETURN(ErrorReply error,
                             DecodeErrorReply(reply.body, options.limits));
      return StatusFromErrorReply(reply.status, error)
          .WithContext(is_ack ? "the bundle's cursor" : at + " of the bundle");
    }
    POSTA_ASSIGN_OR_RETURN(PushAck ack,
                           DecodePushAck(reply.body, options.limits));
    if (!is_ack) {
      if (ack.received_seq <= received) {
        ++result.skipped_batches;  // applied before (by link or bundle)
      } else {
        ++result.batches;
        result.records += ack.taken + ack.merged + ack.ignored;
        result.stats.taken += ack.taken;
        result.stats.merged += ack.merged;
        result.stats.ignored += ack.ignored;
        result.stats.conflicts += ack.conflicts;
      }
    }
    received = std::max(received, ack.received_seq);
    shown.bytes_done = bytes;
    shown.batches = result.batches + result.skipped_batches;
    shown.records = result.records;
    if (progress) progress(shown);
    return Status::Ok();
  };
  POSTA_RETURN_IF_ERROR(Replay(in, options.bundle_limits, scanned, apply));
  NoteTruncation(scanned, result);
  return result;
}

}  // namespace posta::sync
