#include "posta/sync/sync_client.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_set>
#include <vector>

#include "floor_clock.h"
#include "posta/base/crash_point.h"
#include "posta/sync/merge.h"

namespace posta::sync {

Status StatusFromErrorReply(int http_status, const ErrorReply& reply) {
  const std::string what =
      "hub refused (" + std::to_string(http_status) + " " + reply.code + ")";
  if (reply.code == kErrorVersionMismatch) {
    return Status::VersionMismatch(what, reply.message);
  }
  if (reply.code == "clock_skew") {
    return Status::PreconditionFailed(what, reply.message);
  }
  if (reply.code == kErrorScope || reply.code == kErrorNotEnrolled ||
      reply.code == kErrorRevoked || reply.code == kErrorBadCode ||
      reply.code == kErrorCodeExpired || reply.code == kErrorCodeUsed ||
      reply.code == kErrorTlsRequired) {
    return Status::PermissionDenied(what, reply.message);
  }
  if (reply.code == kErrorBadBatch) {
    return Status::InvalidArgument(what, reply.message);
  }
  if (reply.code == kErrorTooLarge) {
    return Status::TooLarge(what, reply.message);
  }
  if (reply.code == kErrorInsufficientStorage) {
    return Status::NoSpace(what, reply.message);
  }
  // hello_first, gap, internal, unknown: the next attempt starts over.
  return Status::Unavailable(what, reply.message);
}

SyncClient::SyncClient(storage::RecordStore& store, Transport& transport,
                       base::Clock& clock, SyncOptions options)
    : store_(store),
      transport_(transport),
      clock_(clock),
      options_(std::move(options)) {}

namespace {

// The next batch's size after one that took `took`: half after a batch
// slower than `target`, double after one quicker than a quarter of it,
// within [lo, hi]. Records (in bytes) and audit entries (in entries) adapt
// to the link by this one rule.
size_t AdaptToLink(size_t size, std::chrono::nanoseconds took,
                   std::chrono::milliseconds target, size_t lo, size_t hi) {
  if (took > target) return std::max(lo, size / 2);
  if (took < target / 4) return std::min(hi, size * 2);
  return size;
}

// Of `entries` (this node's chain, in order), those a push batch carries
// with `changes`: up to the last that records one of them, or all of them
// when none does (reads and logins move the chain on all the same).
void KeepAuditOfChanges(const std::vector<storage::ChangeEntry>& changes,
                        std::vector<storage::AuditEntry>& entries) {
  std::unordered_set<std::string> made;
  made.reserve(changes.size());
  for (const storage::ChangeEntry& change : changes) {
    made.insert(ChangeKey(change.record));
  }
  for (size_t kept = entries.size(); kept > 0; --kept) {
    if (made.contains(ChangeKey(entries[kept - 1]))) {
      entries.resize(kept);
      return;
    }
  }
}

// One request: the reply's body when the hub answered 200, else the Status
// its ErrorReply stands for (and, when `error_code` is given, the reply's
// code there).
Result<std::string> Call(Transport& transport, std::string_view op,
                         std::string_view body, const WireLimits& limits,
                         std::string* error_code = nullptr) {
  POSTA_ASSIGN_OR_RETURN(
      HttpResponse response,
      transport.Post("/sync/v1/" + std::string(op), kContentType, body));
  if (response.status == 200) return std::move(response.body);
  Result<ErrorReply> error = DecodeErrorReply(response.body, limits);
  if (!error.ok()) {
    return Status::Unavailable("hub answered " +
                                   std::to_string(response.status) + " to " +
                                   std::string(op),
                               "not a sync error reply (a proxy in the way?)");
  }
  if (error_code != nullptr) *error_code = error->code;
  return StatusFromErrorReply(response.status, *error);
}

}  // namespace

Result<EnrollReply> Enroll(Transport& transport, const EnrollRequest& request,
                           const WireLimits& limits) {
  POSTA_ASSIGN_OR_RETURN(std::string body,
                         Call(transport, "enroll", Encode(request), limits));
  return DecodeEnrollReply(body, limits);
}

Result<HelloReply> SayHello(Transport& transport, const Hello& hello,
                            const WireLimits& limits) {
  POSTA_ASSIGN_OR_RETURN(std::string body,
                         Call(transport, "hello", Encode(hello), limits));
  return DecodeHelloReply(body, limits);
}

Result<SyncResult> SyncClient::SyncOnce(const SyncProgressFn& progress) {
  SyncResult result;
  SyncProgress shown;
  int64_t audited = 0;
  // Both connections' bytes (the second sends pushed batches ahead).
  auto sent = [this] {
    return transport_.bytes_sent() + (second_ ? second_->bytes_sent() : 0);
  };
  auto received = [this] {
    return transport_.bytes_received() +
           (second_ ? second_->bytes_received() : 0);
  };
  const uint64_t sent_before = sent();
  const uint64_t received_before = received();
  auto report = [&](std::string_view phase) {
    shown.phase = std::string(phase);
    shown.pushed = result.pushed;
    shown.pulled = result.pulled;
    shown.audited = audited;
    shown.bytes_sent = sent() - sent_before;
    shown.bytes_received = received() - received_before;
    result.bytes_sent = shown.bytes_sent;
    result.bytes_received = shown.bytes_received;
    if (progress) progress(shown);
  };
  report("hello");

  // ---- Handshake ----
  POSTA_ASSIGN_OR_RETURN(storage::StoreStats stats, store_.Stats());
  Hello hello;
  hello.node_id = store_.node_id();
  hello.facility = store_.facility();
  // A hub syncing upstream to another hub (docs/sync-protocol.md "Tiers")
  // says so; its credential must be a hub's.
  const bool relay = stats.role == kRoleHub;
  hello.role = std::string(relay ? kRoleHub : kRoleClinic);
  hello.clock_ms = clock_.WallNowMillis();
  hello.software = options_.software;
  {
    // What waits to be pushed: this node's own versions after what the hub
    // acknowledged last time (counted in SQL, nothing read); for a hub,
    // everything but what came from its upstream hub.
    storage::ChangeFilter pending;
    pending.only_origin = store_.node_id();
    POSTA_ASSIGN_OR_RETURN(std::vector<storage::PeerState> peers,
                           store_.ListPeers());
    for (const storage::PeerState& peer : peers) {
      if (peer.role != kRoleHub) continue;
      pending.after_seq = peer.acked_seq;
      if (relay) {
        pending.only_origin.clear();
        pending.exclude_origin = peer.node_id;
      }
    }
    POSTA_ASSIGN_OR_RETURN(int64_t count, store_.CountChanges(pending));
    hello.pending_changes = count;
  }
  POSTA_CRASH_POINT("sync.client.before_hello");
  Result<std::string> hello_answer =
      Call(transport_, "hello", Encode(hello), options_.limits);
  if (!hello_answer.ok() && hello.pending_changes &&
      hello_answer.status().code() == Status::Code::kInvalidArgument &&
      hello_answer.status().message().find("bytes after the message") !=
          std::string::npos) {
    // A hub older than the Hello extension: say hello as it knows.
    hello.pending_changes.reset();
    hello_answer = Call(transport_, "hello", Encode(hello), options_.limits);
  }
  POSTA_ASSIGN_OR_RETURN(std::string hello_body, std::move(hello_answer));
  POSTA_ASSIGN_OR_RETURN(HelloReply reply,
                         DecodeHelloReply(hello_body, options_.limits));
  POSTA_CRASH_POINT("sync.client.after_hello");
  result.hub_node_id = reply.node_id;
  result.clock_offset_ms = reply.clock_ms - hello.clock_ms;
  storage::PeerState hub;
  {
    Result<storage::PeerState> known = store_.GetPeer(reply.node_id);
    if (known.ok()) {
      hub = std::move(known).value();
    } else if (known.status().code() == Status::Code::kNotFound) {
      hub.node_id = reply.node_id;
      hub.facility = reply.facility;
      hub.role = reply.role;
    } else {
      return known.status();
    }
  }
  // What the hub says it applied is delivered, even when the ack of the
  // push that carried it was lost after the hub's commit: otherwise a sync
  // with nothing new to push would leave those changes counted as pending
  // (status, bundles) until the next push. Saved with the pull's cursor.
  if (reply.received_seq > hub.acked_seq) hub.acked_seq = reply.received_seq;
  size_t max_bytes = options_.max_batch_bytes;
  if (reply.max_batch_bytes > 0) {
    max_bytes = std::min<size_t>(max_bytes, reply.max_batch_bytes);
  }
  // Each direction starts where the last sync on this client left it (the
  // first at options_.batch_bytes), so an attempt after a dropped link does
  // not start again with a batch the link could not carry.
  const size_t min_bytes = std::min(options_.min_batch_bytes, max_bytes);
  auto start_size = [&](size_t learned) {
    return std::clamp(learned > 0 ? learned : options_.batch_bytes, min_bytes,
                      max_bytes);
  };
  // A slow batch halves the next, a quick one doubles it.
  auto adapt = [&](size_t bytes, std::chrono::nanoseconds took) {
    return AdaptToLink(bytes, took, options_.target_batch_time, min_bytes,
                       max_bytes);
  };
  // A link that dies in the middle of a batch halves the next attempt's:
  // on a link reset every minute, a batch that cannot get through between
  // two resets would otherwise be sent again and cut again for ever.
  auto shrink_on_link_failure = [&](const Status& status, size_t bytes,
                                    size_t& learned) {
    if (status.code() == Status::Code::kUnavailable) {
      learned = std::max(min_bytes, bytes / 2);
    }
  };
  size_t batch_bytes = start_size(push_batch_bytes_);
  push_batch_bytes_ = batch_bytes;

  // ---- Push: everything made here that the hub has not applied ----
  int64_t after = reply.received_seq;
  shown.push_pending = std::max<int64_t>(0, stats.last_seq - after);
  report("push");
  // With a hub of protocol 5 each batch also carries this node's audit
  // entries from where the hub's copy of the chain ends, up to the last
  // one that records a change of the batch (PushBatch::audit): they travel
  // in the batch's frame, naming its changes, and the audit step after the
  // pull has only the rest to send.
  std::optional<int64_t> audit_held = reply.audit_received_seq;
  result.audit_broken_seq = reply.audit_broken_seq;
  bool push_audit =
      reply.protocol_version >= kPushAuditProtocolVersion && audit_held;
  // The next batch is read from the log and encoded while the hub applies
  // the current one: both depend only on where the current one ends. A
  // read-ahead is used only when the ack lands there (its changes' and its
  // audit entries') and the batch size did not change; otherwise it is
  // dropped and the batch read again.
  struct Outgoing {
    int64_t after_seq = 0;
    size_t batch_bytes = 0;
    std::optional<int64_t> audit_after;
    bool empty = true;  // nothing new in the log
    bool more = false;
    int64_t to_seq = 0;
    size_t changes = 0;
    size_t audit = 0;      // entries carried
    int64_t audit_to = 0;  // the last one's seq
    std::string body;
  };
  const std::string upstream = reply.node_id;
  auto read_batch = [this, relay, upstream](
                        int64_t from, size_t bytes,
                        std::optional<int64_t> audit_from) -> Result<Outgoing> {
    storage::ChangeFilter filter;
    filter.after_seq = from;
    filter.max_changes = options_.limits.max_changes;
    filter.max_bytes = bytes;
    if (relay) {
      // A hub relays: its own versions and merges, and those its clinics
      // sent it; never what it pulled from this hub (echo suppression).
      filter.exclude_origin = upstream;
    } else {
      filter.only_origin = store_.node_id();
    }
    POSTA_ASSIGN_OR_RETURN(storage::ChangeBatch batch,
                           store_.ReadChanges(filter));
    Outgoing out;
    out.after_seq = from;
    out.batch_bytes = bytes;
    out.audit_after = audit_from;
    if (batch.last_seq <= from) return out;  // nothing new in the log
    PushBatch push;
    push.node_id = store_.node_id();
    push.after_seq = from;
    push.to_seq = batch.last_seq;
    push.changes = std::move(batch.changes);
    push.conflicts = std::move(batch.conflicts);
    if (audit_from) {
      POSTA_ASSIGN_OR_RETURN(
          push.audit,
          store_.AuditChainSince(
              store_.node_id(), *audit_from,
              std::min(options_.limits.max_changes,
                       push.changes.size() + kAuditBatchEntries)));
      KeepAuditOfChanges(push.changes, push.audit);
      push.audit_after_seq = audit_from;
      out.audit = push.audit.size();
      out.audit_to = push.audit.empty() ? *audit_from : push.audit.back().seq;
      // Hashes left out but the last: the hub computes them, and the last
      // checks the chain through all of them.
      storage::ShortenAuditChain(push.audit, /*hash_digits=*/0);
    }
    out.empty = false;
    out.more = batch.more;
    out.to_seq = push.to_seq;
    out.changes = push.changes.size();
    out.body = Encode(push);
    return out;
  };
  auto audit_from = [&]() -> std::optional<int64_t> {
    return push_audit ? audit_held : std::nullopt;
  };
  // Each batch is sent on a thread of its own while the next is read from
  // the log and encoded; both depend only on where the one before ends.
  // With a second connection and a hub of protocol 6, the next is also
  // sent as soon as the one in flight has gone out whole: the hub decodes
  // and checks it while it applies the one before, and applies it after
  // that one. Acks are taken in order, and each is recorded before the
  // next is looked at, as when one batch at a time is sent.
  Transport* const second =
      second_ != nullptr && options_.ask_ahead &&
              reply.protocol_version >= kPushAheadProtocolVersion
          ? second_
          : nullptr;
  struct Pushed {
    Result<std::string> body = Status::Internal("push", "not sent");
    std::string error_code;  // the hub's ErrorReply code when it refused
    std::chrono::nanoseconds took{0};
  };
  struct Flight {
    Outgoing batch;
    Transport* via = nullptr;
    uint64_t sent_by = 0;  // via->bytes_sent() once the body has gone out
    bool ahead = false;    // sent before the ack of the one before
    std::future<Pushed> answer;
  };
  std::deque<Flight> flying;  // oldest first; two at most
  auto send = [&](Outgoing batch, bool ahead) {
    Flight flight;
    flight.via = &transport_;
    if (!flying.empty() && flying.back().via == &transport_) {
      flight.via = second;
    }
    flight.sent_by = flight.via->bytes_sent() + batch.body.size();
    flight.ahead = ahead;
    auto body = std::make_shared<const std::string>(std::move(batch.body));
    flight.batch = std::move(batch);
    POSTA_CRASH_POINT("sync.client.before_push");
    auto post = [this, via = flight.via, body = std::move(body)] {
      Pushed answer;
      const auto started = clock_.MonotonicNow();
      answer.body =
          Call(*via, "push", *body, options_.limits, &answer.error_code);
      answer.took = clock_.MonotonicNow() - started;
      return answer;
    };
    try {
      flight.answer = std::async(std::launch::async, post);
    } catch (const std::system_error&) {
      // No thread to be had: sent here, and the next read after its ack.
      std::promise<Pushed> now;
      now.set_value(post());
      flight.answer = now.get_future();
    }
    flying.push_back(std::move(flight));
  };
  // Whether `flight` has gone out whole with no answer yet: the next may
  // then follow it. Waiting for that keeps the two from sharing a thin
  // link, and the hub from seeing the later one first.
  auto gone_out = [](Flight& flight) {
    while (flight.answer.wait_for(std::chrono::milliseconds(1)) !=
           std::future_status::ready) {
      if (flight.via->bytes_sent() >= flight.sent_by) return true;
    }
    return false;
  };
  // Drops what is in flight (after its answers: what the hub applied of
  // it, it acknowledges again) and reads the log again from the last ack.
  std::optional<Outgoing> next;  // read, not yet sent
  int64_t read_from = after;
  std::optional<int64_t> read_audit = audit_from();
  bool read_all = false;
  auto start_over = [&] {
    for (Flight& flight : flying) flight.answer.wait();
    flying.clear();
    next.reset();
    read_from = after;
    read_audit = audit_from();
    read_all = false;
  };
  auto read_next = [&]() -> Status {
    POSTA_ASSIGN_OR_RETURN(Outgoing read,
                           read_batch(read_from, batch_bytes, read_audit));
    if (read.empty) {
      read_all = true;  // nothing new in the log
    } else {
      next = std::move(read);
    }
    return Status::Ok();
  };
  while (true) {
    while (!read_all && flying.size() < (second != nullptr ? 2u : 1u)) {
      // A batch read while the one before was in flight is sent only if
      // that one's ack ended where it starts, and the size still holds.
      if (flying.empty() && next &&
          (next->after_seq != after || next->audit_after != audit_from() ||
           next->batch_bytes != batch_bytes)) {
        start_over();
      }
      if (!next) POSTA_RETURN_IF_ERROR(read_next());
      if (!next) break;
      const bool ahead = !flying.empty();
      if (ahead && !gone_out(flying.back())) break;
      read_from = next->to_seq;
      read_audit =
          next->audit_after ? std::optional(next->audit_to) : std::nullopt;
      read_all = !next->more;
      send(*std::move(next), ahead);
      next.reset();
    }
    if (flying.empty()) break;
    if (!read_all && !next) POSTA_RETURN_IF_ERROR(read_next());
    Flight flight = std::move(flying.front());
    flying.pop_front();
    Pushed answer = flight.answer.get();
    const Outgoing& outgoing = flight.batch;
    if (outgoing.after_seq != after || outgoing.audit_after != audit_from() ||
        (flight.ahead && answer.error_code == kErrorGap)) {
      // Sent ahead on a guess the ack before it proved wrong (the hub held
      // more, or less of the audit chain), or refused as a gap by a hub
      // that did not have the one before yet: sent again from the ack.
      start_over();
      continue;
    }
    if (!answer.body.ok()) {
      shrink_on_link_failure(answer.body.status(), outgoing.batch_bytes,
                             push_batch_bytes_);
      return answer.body.status();
    }
    POSTA_ASSIGN_OR_RETURN(PushAck ack,
                           DecodePushAck(*answer.body, options_.limits));
    POSTA_CRASH_POINT("sync.client.after_push_ack");
    if (ack.received_seq < outgoing.to_seq) {
      return Status::Unavailable(
          "push", "the hub acknowledged " + std::to_string(ack.received_seq) +
                      " of " + std::to_string(outgoing.to_seq));
    }
    hub.acked_seq = ack.received_seq;
    hub.last_sync_ms = clock_.WallNowMillis();
    POSTA_RETURN_IF_ERROR(store_.UpdatePeer(hub));
    POSTA_CRASH_POINT("sync.client.after_push_recorded");
    after = ack.received_seq;
    if (outgoing.audit_after) {
      // Where the hub's copy of the chain ends now; without the answer's
      // extension the audit step asks.
      audit_held = ack.audit_received_seq;
      result.audit_pushed += ack.audit_stored;
      result.audit_broken_seq = ack.audit_broken_seq;
      audited += static_cast<int64_t>(outgoing.audit);
      // Short of the batch's last entry, the hub could not check them
      // without their hashes: the audit step sends them with their hashes,
      // and the rest of the push carries none.
      if (audit_held.value_or(0) < outgoing.audit_to) push_audit = false;
    }
    result.pushed += static_cast<int64_t>(outgoing.changes);
    ++result.push_batches;
    shown.push_pending = std::max<int64_t>(0, stats.last_seq - after);
    report("push");
    // Adapt the next batch to the link.
    batch_bytes = adapt(batch_bytes, answer.took);
    push_batch_bytes_ = batch_bytes;
  }
  shown.push_pending = 0;

  // ---- Pull: everything in scope past our cursor ----
  FloorClock judge(clock_, reply.clock_ms);
  FieldMerger merger(judge, MergeOptions{options_.max_clock_skew});
  // A clinic whose disk is below its floor pulls nothing: it could not
  // store the batches, and downloading them would waste the link.
  POSTA_RETURN_IF_ERROR(store_.CheckWriteSpace().WithContext("pull"));
  report("pull");
  // Pulled batches adapt to the link as pushed ones do: the hub's answer is
  // the long transfer on a thin link.
  // With a hub of protocol 3, the request for the next batch goes out while
  // this one is stored, saying how far the disk has got (stored_seq), so
  // the hub reads and sends batch N+1 while batch N is written, and its
  // record of what this node holds is never ahead of the disk. One request
  // at most is in flight, so the transport is never used by two threads.
  const bool ask_ahead = options_.ask_ahead &&
                         reply.protocol_version >= kPullAheadProtocolVersion;
  // While the disk is the slower side (a batch took longer to store than
  // to arrive), the thread that asks also decodes the answer and starts
  // checking its versions (RecordStore::PrepareChanges), so batch N+1 is
  // made ready while batch N is stored. That holds two batches at once, so
  // each is then kept to half the largest: the pull needs no more memory
  // than one batch of the largest size. While the link is the slower side,
  // the answer is kept as it came and batches may grow to the largest, so
  // that fewer round trips are waited for.
  const size_t pull_max =
      options_.max_pull_batch_bytes > 0
          ? std::clamp(options_.max_pull_batch_bytes, min_bytes, max_bytes)
          : max_bytes;
  const size_t half_max = std::max(min_bytes, pull_max / 2);
  bool prepare_ahead = ask_ahead;
  auto largest_pull = [&] { return prepare_ahead ? half_max : pull_max; };
  size_t pull_bytes = std::min(start_size(pull_batch_bytes_), largest_pull());
  pull_batch_bytes_ = pull_bytes;
  // The answer to a request from the cursor (hub.received_seq) as it stands
  // when the answer is taken: the one asked ahead is for the end of the
  // batch stored meanwhile.
  struct Answer {
    size_t max_bytes = 0;
    Result<std::string> body = Status::Internal("pull", "not asked");
    std::chrono::nanoseconds took{0};
    // When prepared on the asking thread: the body decoded (and let go),
    // and its versions being checked.
    std::optional<PullBatch> batch;
    std::unique_ptr<storage::PreparedChanges> prepared;
  };
  // The body decoded into the batch, and let go.
  auto decode = [this](Answer& answer) -> Status {
    POSTA_ASSIGN_OR_RETURN(PullBatch batch,
                           DecodePullBatch(*answer.body, options_.limits));
    answer.body = std::string();
    answer.batch = std::move(batch);
    return Status::Ok();
  };
  auto ask = [this, decode](int64_t after, int64_t stored, size_t bytes,
                            bool prepare) {
    PullRequest request;
    request.node_id = store_.node_id();
    request.after_seq = after;
    request.max_bytes = bytes;
    if (stored < after) request.stored_seq = stored;
    Answer answer;
    answer.max_bytes = bytes;
    const auto started = clock_.MonotonicNow();
    answer.body = Call(transport_, "pull", Encode(request), options_.limits);
    // The transfer only: storing a batch is the disk's time, not the link's.
    answer.took = clock_.MonotonicNow() - started;
    if (prepare && answer.body.ok()) {
      if (Status decoded = decode(answer); !decoded.ok()) {
        answer.body = std::move(decoded);
        return answer;
      }
      // Moving the batch later keeps its changes where they are.
      answer.prepared = store_.PrepareChanges(answer.batch->changes, {});
    }
    return answer;
  };
  // However the loop ends, a request still in flight is waited for (the
  // future of std::async waits when destroyed): it uses the transport.
  std::future<Answer> asked;
  while (true) {
    Answer answer = asked.valid() ? asked.get()
                                  : ask(hub.received_seq, hub.received_seq,
                                        pull_bytes, /*prepare=*/false);
    if (!answer.body.ok()) {
      shrink_on_link_failure(answer.body.status(), answer.max_bytes,
                             pull_batch_bytes_);
    }
    POSTA_RETURN_IF_ERROR(answer.body.status());
    if (!answer.batch) POSTA_RETURN_IF_ERROR(decode(answer));
    PullBatch batch = *std::move(answer.batch);
    if (batch.after_seq != hub.received_seq ||
        batch.to_seq < hub.received_seq) {
      return Status::Malformed("pull",
                               "the hub answered a batch for another cursor");
    }
    if (batch.to_seq == hub.received_seq && batch.changes.empty() &&
        batch.conflicts.empty()) {
      break;  // caught up
    }
    pull_bytes = std::min(adapt(pull_bytes, answer.took), largest_pull());
    pull_batch_bytes_ = pull_bytes;
    if (ask_ahead && batch.more) {
      try {
        asked = std::async(std::launch::async, ask, batch.to_seq,
                           hub.received_seq, pull_bytes, prepare_ahead);
      } catch (const std::system_error&) {
        // No thread to be had: the next batch is asked for after this one
        // is stored.
      }
    }
    if (!answer.prepared) {
      answer.prepared = store_.PrepareChanges(batch.changes, {});
    }
    storage::PeerState next = hub;
    next.received_seq = batch.to_seq;
    next.last_sync_ms = clock_.WallNowMillis();
    POSTA_CRASH_POINT("sync.client.before_pull_apply");
    const auto storing = clock_.MonotonicNow();
    POSTA_ASSIGN_OR_RETURN(
        storage::ApplyStats applied,
        store_.ApplyPrepared(std::move(answer.prepared), batch.conflicts,
                             merger, next));
    POSTA_CRASH_POINT("sync.client.after_pull_apply");
    // Which side is slower decides how the batch after next is asked for.
    prepare_ahead = ask_ahead && clock_.MonotonicNow() - storing > answer.took;
    hub = next;
    result.pulled += static_cast<int64_t>(batch.changes.size());
    result.conflicts += applied.conflicts;
    ++result.pull_batches;
    report("pull");
    if (!batch.more) break;
  }
  hub.last_sync_ms = clock_.WallNowMillis();
  POSTA_RETURN_IF_ERROR(store_.UpdatePeer(hub));

  // ---- Audit: this node's chain past where the hub's copy ends ----
  // Last, so the entries of this very sync travel too. A hub of protocol 1
  // takes none.
  if (reply.protocol_version >= kAuditProtocolVersion) {
    report("audit");
    // Where the hub's copy ends: said at hello (protocol 4) and in each
    // push's ack (protocol 5), or asked.
    int64_t audit_after = audit_held.value_or(0);
    if (!audit_held) {
      AuditBatch ask;
      ask.node_id = store_.node_id();
      POSTA_ASSIGN_OR_RETURN(
          std::string ask_body,
          Call(transport_, "audit", Encode(ask), options_.limits));
      POSTA_ASSIGN_OR_RETURN(AuditAck held,
                             DecodeAuditAck(ask_body, options_.limits));
      audit_after = held.received_seq;
      result.audit_broken_seq = held.broken_seq;
    }
    // The entries per batch adapt to the link like the records' batches
    // (halved after a slow batch or one the link dropped, doubled after a
    // quick one, kept for the next attempt), between 1 and 500.
    const size_t max_entries =
        std::min<size_t>(kAuditBatchEntries, options_.limits.max_changes);
    size_t per_batch = std::clamp<size_t>(
        audit_batch_entries_ > 0 ? audit_batch_entries_ : max_entries, 1,
        max_entries);
    while (true) {
      POSTA_ASSIGN_OR_RETURN(
          std::vector<storage::AuditEntry> entries,
          store_.AuditChainSince(store_.node_id(), audit_after, per_batch));
      if (entries.empty()) break;
      AuditBatch batch;
      batch.node_id = store_.node_id();
      batch.after_seq = audit_after;
      batch.entries = std::move(entries);
      const int64_t sent_to = batch.entries.back().seq;
      if (reply.protocol_version >= kShortAuditProtocolVersion) {
        storage::ShortenAuditChain(batch.entries);
      }
      const auto started = clock_.MonotonicNow();
      Result<std::string> sent =
          Call(transport_, "audit", Encode(batch), options_.limits);
      if (!sent.ok() && sent.status().code() == Status::Code::kUnavailable) {
        audit_batch_entries_ = std::max<size_t>(1, per_batch / 2);
      }
      POSTA_ASSIGN_OR_RETURN(std::string ack_body, std::move(sent));
      const auto took = clock_.MonotonicNow() - started;
      POSTA_ASSIGN_OR_RETURN(AuditAck ack,
                             DecodeAuditAck(ack_body, options_.limits));
      if (ack.received_seq < sent_to) {
        return Status::Unavailable(
            "audit", "the hub acknowledged " +
                         std::to_string(ack.received_seq) + " of " +
                         std::to_string(sent_to));
      }
      result.audit_pushed += ack.stored;
      result.audit_broken_seq = ack.broken_seq;
      audited += static_cast<int64_t>(batch.entries.size());
      audit_after = ack.received_seq;
      report("audit");
      if (batch.entries.size() < per_batch) break;
      per_batch = AdaptToLink(per_batch, took, options_.target_batch_time, 1,
                              max_entries);
      audit_batch_entries_ = per_batch;
    }
  }
  report("done");
  return result;
}

}  // namespace posta::sync
