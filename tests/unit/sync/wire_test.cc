// The sync wire format: round trips of every message, the documented
// payload layout (built by hand here), and refusal of every kind of damage
// with the right status and without large allocations.
#include "posta/sync/wire.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"
#include "wire_frame.h"

namespace posta::sync {
namespace {

using base::HlcStamp;
using storage::ChangeEntry;
using storage::Conflict;
using storage::Record;
using storage::ResourceType;
using ::testing::HasSubstr;

constexpr int64_t kJan2024 = 1704067200000;
constexpr int64_t k2099 = 4086547200000;  // 2099-07-01T00:00:00Z

HlcStamp Stamp(int64_t wall_ms, uint32_t counter, std::string node) {
  return HlcStamp{wall_ms, counter, std::move(node)};
}

Record PatientRecord(std::string id, HlcStamp version) {
  Record r;
  r.type = ResourceType::kPatient;
  r.id = std::move(id);
  r.facility = "clinic-north";
  r.content = R"({"birthDate":"1980-03-01","gender":"female"})";
  r.version = version;
  r.field_stamps = {{"birthDate", version}, {"gender", version}};
  r.last_updated_ms = version.wall_ms;
  return r;
}

ChangeEntry Change(int64_t seq, Record record) {
  ChangeEntry e;
  e.seq = seq;
  e.record = std::move(record);
  return e;
}

Conflict SampleConflict(int64_t seq) {
  Conflict c;
  c.id = "0123456789abcdef0123456789abcdef";
  c.type = ResourceType::kObservation;
  c.record_id = "obs-1";
  c.facility = "clinic-north";
  c.field = "valueQuantity";
  c.winner = {R"({"value":120,"unit":"mmHg"})", Stamp(kJan2024 + 5, 0, "hub")};
  c.loser = {std::nullopt, Stamp(kJan2024 + 4, 3, "clinic-a")};
  c.state_stamp = c.winner.stamp;
  c.seq = seq;
  return c;
}

// A batch with a bit of everything: an edited record (one field stamp
// older than the version), a tombstone, unicode, stamps at 1970 and 2099,
// and conflicts open and resolved, with and without values.
PullBatch RichPullBatch() {
  PullBatch b;
  b.after_seq = 10;
  b.to_seq = 20;
  b.more = true;

  Record edited = PatientRecord("3f0c5b9e-8a52-4d1f-9d6e-2b7a1c4e9f00",
                                Stamp(kJan2024, 7, "7f3a9c2e4b1d0a55"));
  edited.content =
      R"({"birthDate":"1980-03-01","name":[{"family":"Núñez","given":["Zoë","山田"]}],"note":"😀"})";
  edited.field_stamps = {{"birthDate", Stamp(kJan2024 - 1000, 0, "clinic-a")},
                         {"name", edited.version},
                         {"note", edited.version},
                         {"gender", Stamp(kJan2024 - 500, 2, "clinic-a")}};
  ChangeEntry e1 = Change(11, edited);
  e1.base_stamps = {{"name", Stamp(kJan2024 - 1000, 0, "clinic-a")},
                    {"gender", Stamp(kJan2024 - 1000, 0, "clinic-a")}};
  b.changes.push_back(e1);

  Record tombstone = PatientRecord("p-1970", Stamp(0, 1, "a"));
  tombstone.deleted = true;
  tombstone.content = "{}";
  tombstone.field_stamps = {
      {std::string(storage::kDeletedField), tombstone.version},
      {"gender", Stamp(0, 0, "b")}};
  tombstone.last_updated_ms = 0;
  b.changes.push_back(Change(12, tombstone));

  Record future = PatientRecord("p-2099", Stamp(k2099, UINT32_MAX, "z-9"));
  future.type = ResourceType::kAppointment;
  b.changes.push_back(Change(20, future));

  b.conflicts.push_back(SampleConflict(13));
  Conflict resolved = SampleConflict(14);
  resolved.field = std::string(storage::kDeletedField);
  resolved.winner = {"true", Stamp(kJan2024 + 9, 0, "hub")};
  resolved.loser = {"false", Stamp(kJan2024 + 8, 0, "clinic-a")};
  resolved.state = storage::ConflictState::kResolved;
  resolved.state_stamp = Stamp(kJan2024 + 99, 0, "clinic-a");
  resolved.resolution = "winner";
  resolved.resolved_by = "Dr. Ada Okafor";
  b.conflicts.push_back(resolved);
  return b;
}

PushBatch RichPushBatch() {
  PullBatch pull = RichPullBatch();
  PushBatch push;
  push.node_id = "7f3a9c2e4b1d0a55";
  push.after_seq = pull.after_seq;
  push.to_seq = pull.to_seq;
  push.changes = pull.changes;
  push.conflicts = pull.conflicts;
  return push;
}

Hello SampleHello() {
  Hello h;
  h.node_id = "7f3a9c2e4b1d0a55";
  h.facility = "clinic-north";
  h.role = "clinic";
  h.clock_ms = kJan2024;
  h.hlc = Stamp(kJan2024 - 3, 4, "7f3a9c2e4b1d0a55");
  h.software = "posta 0.1.0";
  return h;
}

// The documented payload layout, written out by hand.
class PayloadBuilder {
 public:
  PayloadBuilder() { bytes_.push_back('\x01'); }  // little-endian flag
  PayloadBuilder& U8(uint8_t v) {
    bytes_.push_back(static_cast<char>(v));
    return *this;
  }
  PayloadBuilder& U32(uint32_t v) { return Le(v, 4); }
  PayloadBuilder& U64(uint64_t v) { return Le(v, 8); }
  PayloadBuilder& I64(int64_t v) { return Le(static_cast<uint64_t>(v), 8); }
  PayloadBuilder& Str(std::string_view s) {
    U64(s.size());
    bytes_.append(s);
    return *this;
  }
  PayloadBuilder& Stamp(int64_t wall, uint32_t counter, std::string_view node) {
    return I64(wall).U32(counter).Str(node);
  }
  PayloadBuilder& Raw(std::string_view s) {
    bytes_.append(s);
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  PayloadBuilder& Le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i)
      bytes_.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  std::string bytes_;
};

// A pull batch of one change (seq 3 of (0, 10]) and no conflicts, up to
// (excluding) the record's fields after `id`, so tests can vary the rest.
PayloadBuilder PullBatchHead(std::string_view id = "p1") {
  PayloadBuilder p;
  p.I64(0).I64(10).U8(0);  // after_seq, to_seq, more
  p.U64(1);                // changes
  p.I64(3);                // seq
  p.U8(0).Str(id);         // type Patient, id
  return p;
}

// The rest of PullBatchHead's record, its base stamps and the conflicts.
PayloadBuilder& PullBatchTail(PayloadBuilder& p) {
  p.Str("f1").Str(R"({"gender":"female"})");
  p.Stamp(1000, 2, "n1");                        // version
  p.U64(2);                                      // field stamps
  p.Str("birthDate").U8(1).Stamp(900, 0, "n2");  // an older stamp
  p.Str("gender").U8(0);                         // equal to version
  p.U8(0).I64(5);  // deleted, last_updated_ms as a distance from version
  p.U64(1).Str("gender").Stamp(800, 0, "n2");  // base stamps
  p.U64(0);                                    // conflicts
  return p;
}

// Appended to hand-built payloads that stop early, so the change count
// before them passes its check against the bytes left.
const std::string kPadding(64, '\0');

std::string Frame(MessageKind kind, std::string_view payload) {
  return wire_internal::EncodeFrame(kind, payload);
}

std::string PayloadOf(const std::string& encoded, MessageKind kind) {
  auto payload = wire_internal::DecodeFrame(encoded, kind, WireLimits{});
  EXPECT_OK(payload);
  return payload.ok() ? *payload : std::string();
}

#define EXPECT_STATUS(result, code_name, text)             \
  do {                                                     \
    const auto& r_ = (result);                             \
    ASSERT_FALSE(r_.ok());                                 \
    EXPECT_EQ(r_.status().code(), Status::Code::code_name) \
        << r_.status().ToString();                         \
    EXPECT_THAT(r_.status().message(), HasSubstr(text));   \
  } while (0)

// ---- Round trips ----

TEST(WireTest, HelloRoundTrips) {
  const Hello h = SampleHello();
  ASSERT_OK_AND_ASSIGN(Hello back, DecodeHello(Encode(h)));
  EXPECT_EQ(back, h);

  Hello fresh = SampleHello();  // a new node: zero stamp
  fresh.hlc = {};
  ASSERT_OK_AND_ASSIGN(Hello fresh_back, DecodeHello(Encode(fresh)));
  EXPECT_EQ(fresh_back, fresh);
}

// The extension after the frozen fields: present when the clinic says it,
// absent from an older clinic's Hello (whose bytes are exactly those of a
// Hello without it).
TEST(WireTest, HelloPendingChangesIsAnOptionalExtension) {
  Hello said = SampleHello();
  said.pending_changes = 42;
  ASSERT_OK_AND_ASSIGN(Hello back, DecodeHello(Encode(said)));
  EXPECT_EQ(back.pending_changes, std::optional<int64_t>(42));
  Hello older = SampleHello();
  ASSERT_OK_AND_ASSIGN(Hello old_back, DecodeHello(Encode(older)));
  EXPECT_FALSE(old_back.pending_changes.has_value());
  EXPECT_LT(PayloadOf(Encode(older), MessageKind::kHello).size(),
            PayloadOf(Encode(said), MessageKind::kHello).size());
  said.pending_changes = -1;
  EXPECT_STATUS(DecodeHello(Encode(said)), kMalformed, "pending_changes");
}

// Protocol 3's extension of PullRequest: how far the caller has stored,
// when it asks ahead of its disk. A request without it has exactly the
// bytes of protocol 2's.
TEST(WireTest, PullRequestStoredSeqIsAnOptionalExtension) {
  PullRequest ahead{"clinic-a", 99, 1 << 20, 60};
  ASSERT_OK_AND_ASSIGN(PullRequest back, DecodePullRequest(Encode(ahead)));
  EXPECT_EQ(back, ahead);
  const PullRequest plain{"clinic-a", 99, 1 << 20};
  ASSERT_OK_AND_ASSIGN(PullRequest plain_back, DecodePullRequest(Encode(plain)));
  EXPECT_FALSE(plain_back.stored_seq.has_value());
  EXPECT_EQ(PayloadOf(Encode(plain), MessageKind::kPullRequest).size() + 8,
            PayloadOf(Encode(ahead), MessageKind::kPullRequest).size());
  ahead.stored_seq = 100;
  EXPECT_STATUS(DecodePullRequest(Encode(ahead)), kMalformed,
                "stored_seq: above after_seq");
  ahead.stored_seq = -1;
  EXPECT_STATUS(DecodePullRequest(Encode(ahead)), kMalformed,
                "stored_seq: negative");
}

TEST(WireTest, HelloReplyRoundTrips) {
  HelloReply r;
  r.node_id = "hub";
  r.facility = "district";
  r.role = "hub";
  r.clock_ms = k2099;
  r.hlc = Stamp(k2099, 1, "hub");
  r.received_seq = 41;
  r.max_batch_bytes = 8 << 20;
  ASSERT_OK_AND_ASSIGN(HelloReply back, DecodeHelloReply(Encode(r)));
  EXPECT_EQ(back, r);
  EXPECT_FALSE(back.audit_received_seq.has_value());

  // The extension (protocol 4): where the hub's copy of the audit chain
  // ends, and where it broke; written only when set, so that an older
  // clinic, which refuses trailing bytes, never sees it.
  HelloReply with_audit = r;
  with_audit.audit_received_seq = 120;
  with_audit.audit_broken_seq = 7;
  const std::string encoded = Encode(with_audit);
  EXPECT_GT(PayloadOf(encoded, MessageKind::kHelloReply).size(),
            PayloadOf(Encode(r), MessageKind::kHelloReply).size());
  ASSERT_OK_AND_ASSIGN(back, DecodeHelloReply(encoded));
  EXPECT_EQ(back, with_audit);
  with_audit.audit_broken_seq = 121;
  EXPECT_STATUS(DecodeHelloReply(Encode(with_audit)), kMalformed,
                "audit_broken_seq");
  with_audit.audit_broken_seq = 0;
  with_audit.audit_received_seq = -1;
  EXPECT_STATUS(DecodeHelloReply(Encode(with_audit)), kMalformed,
                "audit_received_seq");
}

TEST(WireTest, BatchesRoundTrip) {
  const PullBatch pull = RichPullBatch();
  ASSERT_OK_AND_ASSIGN(PullBatch pull_back, DecodePullBatch(Encode(pull)));
  EXPECT_TRUE(pull_back == pull);
  EXPECT_EQ(pull_back.changes[0].record.content,
            pull.changes[0].record.content);
  EXPECT_FALSE(pull_back.conflicts[0].loser.value.has_value());

  const PushBatch push = RichPushBatch();
  ASSERT_OK_AND_ASSIGN(PushBatch push_back, DecodePushBatch(Encode(push)));
  EXPECT_TRUE(push_back == push);
}

TEST(WireTest, EmptyBatchesRoundTrip) {
  PushBatch push;
  push.node_id = "c";
  ASSERT_OK_AND_ASSIGN(PushBatch push_back, DecodePushBatch(Encode(push)));
  EXPECT_TRUE(push_back == push);

  PullBatch pull;  // (0, 0], nothing more
  ASSERT_OK_AND_ASSIGN(PullBatch pull_back, DecodePullBatch(Encode(pull)));
  EXPECT_TRUE(pull_back == pull);

  // A record with no field stamps at all (an empty content object).
  PullBatch bare;
  bare.to_seq = 1;
  Record r = PatientRecord("x", Stamp(5, 0, "n"));
  r.content = "{}";
  r.field_stamps.clear();
  bare.changes.push_back(Change(1, r));
  ASSERT_OK_AND_ASSIGN(PullBatch bare_back, DecodePullBatch(Encode(bare)));
  EXPECT_TRUE(bare_back == bare);
}

TEST(WireTest, SmallMessagesRoundTrip) {
  const PushAck ack{20, 3, 1, 2, 1};
  ASSERT_OK_AND_ASSIGN(PushAck ack_back, DecodePushAck(Encode(ack)));
  EXPECT_EQ(ack_back, ack);

  const PullRequest req{"clinic-a", 99, 1 << 20};
  ASSERT_OK_AND_ASSIGN(PullRequest req_back, DecodePullRequest(Encode(req)));
  EXPECT_EQ(req_back, req);

  const ErrorReply err{std::string(kErrorVersionMismatch),
                       "hub speaks 2..3, you speak 1 — upgrade posta"};
  ASSERT_OK_AND_ASSIGN(ErrorReply err_back, DecodeErrorReply(Encode(err)));
  EXPECT_EQ(err_back, err);
}

TEST(WireTest, EnrollMessagesRoundTripAndAreChecked) {
  const EnrollRequest req{kEnrollVersion, "7KQ2-M9XD-C4TR-0HWB-E5NZ",
                          "0123456789abcdef", "clinic-a", "posta 0.1.0"};
  ASSERT_OK_AND_ASSIGN(EnrollRequest req_back,
                       DecodeEnrollRequest(Encode(req)));
  EXPECT_EQ(req_back, req);
  EnrollRequest no_facility = req;
  no_facility.facility.clear();  // a box not yet configured for one
  EXPECT_OK(DecodeEnrollRequest(Encode(no_facility)));
  const EnrollReply reply{kEnrollVersion, std::string(64, 'a'), "clinic-a",
                          "fedcba9876543210", 1795000000000};
  ASSERT_OK_AND_ASSIGN(EnrollReply reply_back,
                       DecodeEnrollReply(Encode(reply)));
  EXPECT_EQ(reply_back, reply);
  ASSERT_OK_AND_ASSIGN(std::string dump, DumpJson(Encode(req)));
  EXPECT_EQ(nlohmann::json::parse(dump)["kind"], "enroll_request");
  // The debugging view never shows a working code or credential.
  EXPECT_EQ(dump.find(req.code), std::string::npos) << dump;
  EXPECT_NE(dump.find("(secret, 24 characters)"), std::string::npos) << dump;
  ASSERT_OK_AND_ASSIGN(std::string reply_dump, DumpJson(Encode(reply)));
  EXPECT_EQ(reply_dump.find(reply.credential), std::string::npos) << reply_dump;
  EXPECT_NE(reply_dump.find("(secret, 64 characters)"), std::string::npos)
      << reply_dump;

  EnrollRequest bad = req;
  bad.node_id = "not a node";
  EXPECT_STATUS(DecodeEnrollRequest(Encode(bad)), kMalformed, "node_id");
  bad = req;
  bad.version = 0;
  EXPECT_STATUS(DecodeEnrollRequest(Encode(bad)), kMalformed, "version");
  bad = req;
  bad.code = std::string(201, 'A');
  EXPECT_STATUS(DecodeEnrollRequest(Encode(bad)), kMalformed, "code");
  EnrollReply bad_reply = reply;
  bad_reply.credential = "with\nnewline";
  EXPECT_STATUS(DecodeEnrollReply(Encode(bad_reply)), kMalformed, "credential");
  bad_reply = reply;
  bad_reply.facility.clear();
  EXPECT_STATUS(DecodeEnrollReply(Encode(bad_reply)), kMalformed, "facility");
  EXPECT_STATUS(DecodeEnrollReply(Encode(req)), kMalformed,
                "expected enroll_reply, got enroll_request");
}

TEST(WireTest, AuditMessagesRoundTripAndAreChecked) {
  storage::AuditEntry e;
  e.node_id = "0123456789abcdef";
  e.facility = "clinic-a";
  e.seq = 8;
  e.at_ms = 1795000000000;
  e.actor = "amina";
  e.role = "registrar";
  e.remote_address = "10.0.0.7:5000";
  e.action = "read";
  e.resource = "Patient/6f1c2a0e-3b7d-4c55-9a1e-2f4b8c9d0e11";
  e.outcome = "ok";
  e.detail = "Señora García";
  e.prev_hash = std::string(64, '0');
  e.hash = std::string(64, 'f');
  AuditBatch batch{"0123456789abcdef", 7, {e, e}};
  batch.entries[1].seq = 9;
  ASSERT_OK_AND_ASSIGN(AuditBatch back, DecodeAuditBatch(Encode(batch)));
  EXPECT_TRUE(back == batch);
  ASSERT_OK_AND_ASSIGN(std::string dump, DumpJson(Encode(batch)));
  EXPECT_EQ(nlohmann::json::parse(dump)["kind"], "audit_batch");
  const AuditAck ack{9, 2, 4, "hash does not match the entry's content"};
  ASSERT_OK_AND_ASSIGN(AuditAck ack_back, DecodeAuditAck(Encode(ack)));
  EXPECT_EQ(ack_back, ack);
  const AuditBatch empty{"0123456789abcdef", 0, {}};
  ASSERT_OK_AND_ASSIGN(AuditBatch empty_back, DecodeAuditBatch(Encode(empty)));
  EXPECT_TRUE(empty_back == empty);

  AuditBatch bad = batch;
  bad.entries[1].seq = 11;  // not the next of the chain
  EXPECT_STATUS(DecodeAuditBatch(Encode(bad)), kMalformed, "entries[1].seq");
  bad = batch;
  bad.entries[0].node_id = "fedcba9876543210";  // another node's entry
  EXPECT_STATUS(DecodeAuditBatch(Encode(bad)), kMalformed,
                "entries[0].node_id");
  bad = batch;
  bad.entries[0].hash = "not hex";
  EXPECT_STATUS(DecodeAuditBatch(Encode(bad)), kMalformed, "entries[0].hash");
  // Short entries (protocol 4): an empty prev_hash, a hash's first digits.
  AuditBatch short_form = batch;
  short_form.entries[0].hash.resize(storage::kAuditShortHashDigits);
  short_form.entries[1].prev_hash.clear();
  ASSERT_OK_AND_ASSIGN(back, DecodeAuditBatch(Encode(short_form)));
  EXPECT_TRUE(back == short_form);
  bad = short_form;
  bad.entries[0].hash.resize(storage::kAuditShortHashDigits - 1);
  EXPECT_STATUS(DecodeAuditBatch(Encode(bad)), kMalformed, "entries[0].hash");
  bad = short_form;
  bad.entries[0].hash = std::string(65, 'f');
  EXPECT_STATUS(DecodeAuditBatch(Encode(bad)), kMalformed, "entries[0].hash");
  bad = short_form;
  bad.entries[0].hash = "ABCDEF01";  // upper case: not a hash posta writes
  EXPECT_STATUS(DecodeAuditBatch(Encode(bad)), kMalformed, "entries[0].hash");
  bad = short_form;
  bad.entries[1].prev_hash = std::string(32, 'f');  // neither empty nor whole
  EXPECT_STATUS(DecodeAuditBatch(Encode(bad)), kMalformed,
                "entries[1].prev_hash");
  bad = batch;
  bad.entries[0].detail = std::string(2000, 'x');
  EXPECT_STATUS(DecodeAuditBatch(Encode(bad)), kMalformed, "entries[0].detail");
  EXPECT_STATUS(DecodeAuditAck(Encode(batch)), kMalformed,
                "expected audit_ack, got audit_batch");
}

// Protocol 5: a push carries its audit entries, and an entry of one of the
// batch's changes names it instead of spelling out the record and version.
TEST(WireTest, PushedAuditEntriesNameTheirChanges) {
  PushBatch push = RichPushBatch();
  auto entry_of = [&](int64_t seq, std::string action, std::string resource,
                      std::string version) {
    storage::AuditEntry e;
    e.seq = seq;
    e.at_ms = kJan2024 + seq;
    e.node_id = push.node_id;
    e.facility = "clinic-north";
    e.actor = "amina";
    e.action = std::move(action);
    e.resource = std::move(resource);
    e.version = std::move(version);
    e.outcome = "ok";
    e.hash = std::string(8, 'a');
    return e;
  };
  const Record& first = push.changes[0].record;
  const Record& second = push.changes[1].record;
  push.audit_after_seq = 40;
  push.audit = {
      entry_of(41, "update", storage::RecordName(first.type, first.id),
               first.version.ToString()),
      entry_of(42, "read", "Patient/someone-else", ""),
      entry_of(43, "update", storage::RecordName(second.type, second.id),
               second.version.ToString()),
      // The record of a change, at a version the batch does not hold.
      entry_of(44, "update", storage::RecordName(first.type, first.id),
               Stamp(kJan2024, 9, "other").ToString()),
  };
  push.audit[0].prev_hash = std::string(64, '0');
  push.audit[1].hash = "";  // left out: the hub computes it
  push.audit[2].at_ms = kJan2024 - 5;  // a clock set back
  push.audit.back().hash = std::string(64, 'b');
  const std::string encoded = Encode(push);
  ASSERT_OK_AND_ASSIGN(PushBatch back, DecodePushBatch(encoded));
  EXPECT_TRUE(back == push);
  // Only the entries that name no change of the batch spell out what they
  // name.
  const std::string payload = PayloadOf(encoded, MessageKind::kPushBatch);
  EXPECT_EQ(payload.find(first.version.ToString()), std::string::npos);
  EXPECT_EQ(payload.find(second.version.ToString()), std::string::npos);
  EXPECT_NE(payload.find("Patient/someone-else"), std::string::npos);
  EXPECT_NE(payload.find(Stamp(kJan2024, 9, "other").ToString()),
            std::string::npos);
  // The JSON view shows every entry whole.
  ASSERT_OK_AND_ASSIGN(std::string dump, DumpJson(encoded));
  const nlohmann::json view = nlohmann::json::parse(dump);
  EXPECT_EQ(view["message"]["audit"][0]["version"], first.version.ToString());

  // A batch without the extension has exactly the layout before it.
  PushBatch plain = RichPushBatch();
  ASSERT_OK_AND_ASSIGN(back, DecodePushBatch(Encode(plain)));
  EXPECT_FALSE(back.audit_after_seq.has_value());
  EXPECT_EQ(PayloadOf(Encode(plain), MessageKind::kPushBatch),
            payload.substr(0, PayloadOf(Encode(plain), MessageKind::kPushBatch)
                                  .size()));

  // The layout, by hand after the plain batch: one entry naming the change
  // `step` on from none (the second change is step 2), with a resource or
  // not, and a hash.
  auto with_entry = [&](int32_t step, std::string_view resource,
                        std::string_view hash) {
    PayloadBuilder p;
    p.Raw(PayloadOf(Encode(plain), MessageKind::kPushBatch).substr(1));
    p.I64(40).U64(1).U32(static_cast<uint32_t>(step)).I64(kJan2024);
    p.Str("clinic-north").Str("amina").Str("").Str("").Str("update");
    p.Str(resource).Str("").Str("ok").Str("").Str("").Str(hash);
    return DecodePushBatch(Frame(MessageKind::kPushBatch, p.bytes()));
  };
  const std::string some_hash(8, 'a');
  ASSERT_OK_AND_ASSIGN(back, with_entry(2, "", some_hash));
  ASSERT_EQ(back.audit.size(), 1u);
  EXPECT_EQ(back.audit[0].seq, 41);
  EXPECT_EQ(back.audit[0].node_id, plain.node_id);
  EXPECT_EQ(back.audit[0].at_ms, kJan2024);
  EXPECT_EQ(back.audit[0].resource,
            storage::RecordName(second.type, second.id));
  EXPECT_EQ(back.audit[0].version, second.version.ToString());
  EXPECT_STATUS(
      with_entry(static_cast<int32_t>(plain.changes.size() + 1), "", some_hash),
      kMalformed, "audit[0].change");
  EXPECT_STATUS(with_entry(-1, "", some_hash), kMalformed, "audit[0].change");
  EXPECT_STATUS(with_entry(1, "Patient/p1", some_hash), kMalformed,
                "audit[0].resource");
  // Only an entry before the last may leave its hash out.
  EXPECT_STATUS(with_entry(0, "Patient/p1", ""), kMalformed, "audit[0].hash");

  // The ack's extension: where the hub's copy of the chain ends.
  PushAck ack{20, 3, 1, 2, 1};
  ack.audit_received_seq = 44;
  ack.audit_stored = 4;
  ack.audit_broken_seq = 43;
  ASSERT_OK_AND_ASSIGN(PushAck ack_back, DecodePushAck(Encode(ack)));
  EXPECT_EQ(ack_back, ack);
  ack.audit_broken_seq = 45;
  EXPECT_STATUS(DecodePushAck(Encode(ack)), kMalformed, "audit_broken_seq");
}

TEST(WireTest, EveryZstdLevelDecodes) {
  const PullBatch b = RichPullBatch();
  for (int level : {-5, 1, 3, 19, 22}) {
    SCOPED_TRACE(level);
    ASSERT_OK_AND_ASSIGN(PullBatch back,
                         DecodePullBatch(Encode(b, EncodeOptions{level})));
    EXPECT_TRUE(back == b);
  }
}

TEST(WireTest, EncodingIsDeterministic) {
  EXPECT_EQ(Encode(RichPullBatch()), Encode(RichPullBatch()));
}

// ---- Layout ----

TEST(WireTest, HandBuiltPayloadDecodes) {
  PayloadBuilder p = PullBatchHead();
  PullBatchTail(p);
  ASSERT_OK_AND_ASSIGN(
      PullBatch b, DecodePullBatch(Frame(MessageKind::kPullBatch, p.bytes())));
  ASSERT_EQ(b.changes.size(), 1u);
  const Record& r = b.changes[0].record;
  EXPECT_EQ(r.id, "p1");
  EXPECT_EQ(r.version, Stamp(1000, 2, "n1"));
  EXPECT_EQ(r.field_stamps.at("birthDate"), Stamp(900, 0, "n2"));
  EXPECT_EQ(r.field_stamps.at("gender"), r.version);  // restored
  EXPECT_EQ(r.last_updated_ms, 1005);
  EXPECT_EQ(b.changes[0].base_stamps.at("gender"), Stamp(800, 0, "n2"));
  // And Encode writes exactly these bytes.
  EXPECT_EQ(PayloadOf(Encode(b), MessageKind::kPullBatch), p.bytes());
}

TEST(WireTest, FieldStampsEqualToTheVersionAreLeftOut) {
  PullBatch same;
  same.to_seq = 1;
  Record r = PatientRecord("p", Stamp(kJan2024, 0, "7f3a9c2e4b1d0a55"));
  same.changes.push_back(Change(1, r));

  PullBatch other = same;  // same shape, stamps that differ from the version
  for (auto& [name, stamp] : other.changes[0].record.field_stamps) {
    stamp = Stamp(kJan2024 - 1, 0, "7f3a9c2e4b1d0a56");
  }
  const size_t stamp_bytes = 8 + 4 + 8 + 16;
  const std::string same_payload =
      PayloadOf(Encode(same), MessageKind::kPullBatch);
  const std::string other_payload =
      PayloadOf(Encode(other), MessageKind::kPullBatch);
  EXPECT_EQ(other_payload.size() - same_payload.size(),
            r.field_stamps.size() * stamp_bytes);

  ASSERT_OK_AND_ASSIGN(PullBatch back, DecodePullBatch(Encode(same)));
  EXPECT_EQ(back.changes[0].record.field_stamps, r.field_stamps);
}

// ---- Damage ----

TEST(WireTest, WrongMagicIsRefused) {
  std::string e = Encode(SampleHello());
  e[0] = 'X';
  EXPECT_STATUS(DecodeHello(e), kMalformed, "magic");
  EXPECT_STATUS(DumpJson(e), kMalformed, "magic");
  EXPECT_STATUS(DecodeHello("PSY"), kMalformed, "header");
  EXPECT_STATUS(DecodeHello(""), kMalformed, "header");
}

TEST(WireTest, WrongKindIsRefused) {
  const PullRequest req{"clinic-a", 1, 10};
  EXPECT_STATUS(DecodePushBatch(Encode(req)), kMalformed,
                "expected push_batch, got pull_request");
  std::string e = Encode(req);
  e[4] = 12;
  EXPECT_STATUS(PeekKind(e), kMalformed, "unknown message kind 12");
  e = Encode(req);
  e[5] = 2;
  EXPECT_STATUS(DecodePullRequest(e), kMalformed, "unknown codec 2");
  e = Encode(req);
  e[7] = 1;
  EXPECT_STATUS(DecodePullRequest(e), kMalformed, "reserved");
}

TEST(WireTest, TruncationAtEveryByteIsRefused) {
  PushBatch b;
  b.node_id = "c";
  b.to_seq = 1;
  b.changes.push_back(Change(1, PatientRecord("p", Stamp(1, 0, "c"))));
  const std::string e = Encode(b);
  for (size_t n = 0; n < e.size(); ++n) {
    SCOPED_TRACE(n);
    EXPECT_STATUS(DecodePushBatch(e.substr(0, n)), kMalformed, "");
  }
  // The same for the payload inside an intact frame: the reader's checks.
  const std::string payload = PayloadOf(e, MessageKind::kPushBatch);
  for (size_t n = 0; n < payload.size(); ++n) {
    SCOPED_TRACE(n);
    EXPECT_STATUS(
        DecodePushBatch(Frame(MessageKind::kPushBatch, payload.substr(0, n))),
        kMalformed, "push_batch");
  }
}

TEST(WireTest, HugeSizeTagsFailFast) {
  constexpr uint64_t k2p60 = uint64_t{1} << 60;
  {  // a change count
    PayloadBuilder p;
    p.Str("c").I64(0).I64(10).U64(k2p60);
    EXPECT_STATUS(DecodePushBatch(Frame(MessageKind::kPushBatch, p.bytes())),
                  kMalformed, "push_batch.changes: claims 1152921504606846976");
  }
  {  // a string
    PayloadBuilder p;
    p.U64(k2p60).Raw("c");
    EXPECT_STATUS(DecodePushBatch(Frame(MessageKind::kPushBatch, p.bytes())),
                  kMalformed, "push_batch.node_id: claims");
  }
  {  // a map
    PayloadBuilder p = PullBatchHead();
    p.Str("f1").Str("{}").Stamp(1, 0, "n1").U64(k2p60).Raw(kPadding);
    EXPECT_STATUS(DecodePullBatch(Frame(MessageKind::kPullBatch, p.bytes())),
                  kMalformed, "changes[0].record.field_stamps: claims");
  }
  {  // a count the bytes could hold, over the configured limit
    WireLimits limits;
    limits.max_changes = 1;
    const PullBatch b = RichPullBatch();
    EXPECT_STATUS(DecodePullBatch(Encode(b), limits), kTooLarge,
                  "pull_batch.changes: 3 elements, limit 1");
  }
}

TEST(WireTest, LimitsAreEnforced) {
  const PullBatch b = RichPullBatch();
  const std::string e = Encode(b);
  WireLimits small;
  small.max_encoded_bytes = e.size() - 1;
  EXPECT_STATUS(DecodePullBatch(e, small), kTooLarge, "sync message");
  small = {};
  small.max_decoded_bytes = PayloadOf(e, MessageKind::kPullBatch).size() - 1;
  EXPECT_STATUS(DecodePullBatch(e, small), kTooLarge, "inflates past");
  small = {};
  small.max_string_bytes = 40;  // record ids (36) pass, content does not
  EXPECT_STATUS(DecodePullBatch(e, small), kTooLarge,
                "changes[0].record.content");
  small = {};
  small.max_fields = 3;
  EXPECT_STATUS(DecodePullBatch(e, small), kTooLarge,
                "changes[0].record.field_stamps: 4 elements, limit 3");
}

// zstd output of `total` zero bytes, streamed so the frame carries no
// content size, optionally with a large window.
std::string StreamedZeros(size_t total, int window_log = 0) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
  if (window_log) ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, window_log);
  const std::string chunk(1 << 20, '\0');
  std::string out(ZSTD_CStreamOutSize(), '\0');
  std::string frame;
  for (size_t done = 0; done < total;) {
    const size_t n = std::min(chunk.size(), total - done);
    done += n;
    ZSTD_inBuffer in{chunk.data(), n, 0};
    const auto mode = done == total ? ZSTD_e_end : ZSTD_e_continue;
    size_t left;
    do {
      ZSTD_outBuffer ob{out.data(), out.size(), 0};
      left = ZSTD_compressStream2(cctx, &ob, &in, mode);
      frame.append(out.data(), ob.pos);
    } while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
  }
  ZSTD_freeCCtx(cctx);
  return frame;
}

std::string Header(MessageKind kind) {
  std::string h(kWireMagic);
  h += static_cast<char>(kind);
  h += static_cast<char>(kCodecZstd);
  h += std::string(2, '\0');
  return h;
}

TEST(WireTest, DecompressionBombIsCappedWithoutTrustingTheFrame) {
  const std::string bomb =
      Header(MessageKind::kPushBatch) + StreamedZeros(size_t{80} << 20);
  ASSERT_LT(bomb.size(), 64u << 10);
  EXPECT_EQ(ZSTD_getFrameContentSize(bomb.data() + 8, bomb.size() - 8),
            ZSTD_CONTENTSIZE_UNKNOWN);
  // The absolute cap, with the ratio check off.
  WireLimits absolute;
  absolute.max_inflate_ratio = 0;
  EXPECT_STATUS(DecodePushBatch(bomb, absolute), kTooLarge,
                "push_batch payload: inflates past 67108864 bytes");
  EXPECT_STATUS(DumpJson(bomb), kTooLarge, "inflates past");
}

// Peak resident memory of this process (VmHWM) in bytes, after resetting
// it; nullopt where /proc does not allow the reset.
std::optional<int64_t> ResetPeakRss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return std::nullopt;
  bool ok = std::fputs("5", f) >= 0;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) return std::nullopt;
  return 0;
}
int64_t PeakRssBytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  int64_t kb = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmHWM: %" SCNd64 " kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb * 1024;
}

// A frame that would inflate to 1 GiB is refused once its output passes 100
// times its compressed size, without the decoder growing its buffer any
// further: the process's peak memory grows by a few MiB, not a GiB.
TEST(WireTest, CompressionBombIsRefusedByRatioWithinSmallMemory) {
  const std::string bomb =
      Header(MessageKind::kPushBatch) + StreamedZeros(size_t{1} << 30);
  const size_t compressed = bomb.size() - kWireHeaderBytes;
  ASSERT_LT(compressed, size_t{1} << 20);
  if (!ResetPeakRss()) GTEST_SKIP() << "/proc/self/clear_refs not writable";
  const int64_t before = PeakRssBytes();
  ASSERT_GT(before, 0);
  EXPECT_STATUS(
      DecodePushBatch(bomb), kTooLarge,
      "over 100 times its " + std::to_string(compressed) + " compressed bytes");
  const int64_t grown = PeakRssBytes() - before;
  std::printf("bomb: %zu compressed bytes for 1 GiB; peak RSS grew by %" PRId64
              " KiB\n",
              compressed, grown / 1024);
  // The cap is max(1 MiB, 100 x compressed) (a few MiB here); the buffer
  // doubles up to it, so twice the cap bounds it with room to spare.
  EXPECT_LT(grown, int64_t{24} << 20);
  // Below the floor the ratio does not apply: small messages never trip it.
  const std::string small =
      Header(MessageKind::kPushBatch) + StreamedZeros(size_t{512} << 10);
  Result<PushBatch> decoded = DecodePushBatch(small);
  EXPECT_FALSE(!decoded.ok() &&
               decoded.status().code() == Status::Code::kTooLarge)
      << decoded.status().ToString();
}

TEST(WireTest, OversizedZstdWindowIsRefused) {
  const std::string frame =
      Header(MessageKind::kPushAck) + StreamedZeros(size_t{2} << 20, 27);
  EXPECT_STATUS(DecodePushAck(frame), kTooLarge, "window");
}

TEST(WireTest, DamagedFrameIsRefused) {
  const std::string e = Encode(RichPullBatch());
  for (size_t at : {e.size() / 3, e.size() / 2, e.size() - 2}) {
    SCOPED_TRACE(at);
    std::string bad = e;
    bad[at] = static_cast<char>(bad[at] ^ 0x5a);
    EXPECT_STATUS(DecodePullBatch(bad), kMalformed, "pull_batch payload");
  }
}

TEST(WireTest, TrailingBytesAreRefused) {
  const std::string e = Encode(PushAck{1, 1, 0, 0, 0});
  EXPECT_STATUS(DecodePushAck(e + "x"), kMalformed,
                "bytes after the zstd frame");
  EXPECT_STATUS(DecodePushAck(e + e), kMalformed, "after the zstd frame");
  // Past the last field: here the ack's extension (protocol 5).
  PushAck extended{1, 1, 0, 0, 0};
  extended.audit_received_seq = 3;
  const std::string payload =
      PayloadOf(Encode(extended), MessageKind::kPushAck) + "\x01";
  EXPECT_STATUS(DecodePushAck(Frame(MessageKind::kPushAck, payload)),
                kMalformed, "push_ack: 1 bytes after the message");
}

TEST(WireTest, InvalidNodeIdsAreRefused) {
  PushBatch b = RichPushBatch();
  b.node_id = "Clinic A";
  EXPECT_STATUS(DecodePushBatch(Encode(b)), kMalformed,
                "push_batch.node_id: not a node id");

  b = RichPushBatch();
  b.changes[1].record.version.node = "UPPER";
  EXPECT_STATUS(DecodePushBatch(Encode(b)), kMalformed,
                "push_batch.changes[1].record.version.node");

  b = RichPushBatch();
  b.conflicts[0].loser.stamp.node = std::string(65, 'a');
  EXPECT_STATUS(DecodePushBatch(Encode(b)), kMalformed,
                "push_batch.conflicts[0].loser.stamp.node");

  b = RichPushBatch();
  b.changes[0].base_stamps["name"] = HlcStamp{};  // zero: only Hello may
  EXPECT_STATUS(DecodePushBatch(Encode(b)), kMalformed,
                "changes[0].base_stamps[1].stamp.node");

  Hello h = SampleHello();
  h.hlc.node = "";
  EXPECT_STATUS(DecodeHello(Encode(h)), kMalformed, "hello.hlc.node");
}

TEST(WireTest, StructuralRulesAreChecked) {
  auto refused = [](PullBatch b, std::string_view text) {
    const auto r = DecodePullBatch(Encode(b));
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), Status::Code::kMalformed);
    EXPECT_THAT(r.status().message(), HasSubstr(std::string(text)));
  };
  PullBatch b = RichPullBatch();
  b.after_seq = 21;
  refused(b, "pull_batch.to_seq: below after_seq");
  b = RichPullBatch();
  b.after_seq = -1;
  refused(b, "pull_batch.after_seq: negative");
  b = RichPullBatch();
  b.changes[2].seq = 21;
  refused(b, "changes[2].seq: outside the batch's (after_seq, to_seq]");
  b = RichPullBatch();
  b.conflicts[1].seq = 10;
  refused(b, "conflicts[1].seq: outside");
  b = RichPullBatch();
  b.changes[0].record.id = "";
  refused(b, "changes[0].record.id: empty");
  b = RichPullBatch();
  b.changes[0].record.id = std::string(65, 'x');
  refused(b, "changes[0].record.id: longer than 64 bytes");
  b = RichPullBatch();
  b.changes[0].record.type = static_cast<ResourceType>(9);
  refused(b, "changes[0].record.type: unknown resource type 9");
  b = RichPullBatch();
  b.changes[0].record.content = "{\"a\":\"\xc3\x28\"}";
  refused(b, "changes[0].record.content: not UTF-8");
  b = RichPullBatch();
  b.changes[0].record.version.wall_ms = -5;
  refused(b, "changes[0].record.version.wall_ms");
  b = RichPullBatch();
  b.conflicts[0].state = static_cast<storage::ConflictState>(7);
  refused(b, "conflicts[0].state");

  ErrorReply err{"Bad Code", "x"};
  EXPECT_STATUS(DecodeErrorReply(Encode(err)), kMalformed, "error_reply.code");
  Hello h = SampleHello();
  h.role = "relay";
  EXPECT_STATUS(DecodeHello(Encode(h)), kMalformed, "hello.role");
  h = SampleHello();
  h.min_protocol_version = 2;
  h.protocol_version = 1;
  EXPECT_STATUS(DecodeHello(Encode(h)), kMalformed, "min_protocol_version");
}

TEST(WireTest, NonCanonicalPayloadsAreRefused) {
  {  // a bool byte other than 0/1
    PayloadBuilder p;
    p.I64(0).I64(0).U8(2).U64(0).U64(0);
    EXPECT_STATUS(DecodePullBatch(Frame(MessageKind::kPullBatch, p.bytes())),
                  kMalformed, "pull_batch.more: bool byte");
  }
  {  // field names out of order (or repeated)
    PayloadBuilder p = PullBatchHead();
    p.Str("f1").Str("{}").Stamp(1, 0, "n1").U64(2);
    p.Str("b").U8(0).Str("a").U8(0).Raw(kPadding);
    EXPECT_STATUS(DecodePullBatch(Frame(MessageKind::kPullBatch, p.bytes())),
                  kMalformed,
                  "field_stamps[1].name: duplicate or out of order");
  }
  {  // an unknown field stamp tag
    PayloadBuilder p = PullBatchHead();
    p.Str("f1").Str("{}").Stamp(1, 0, "n1").U64(1).Str("a").U8(2).Raw(kPadding);
    EXPECT_STATUS(DecodePullBatch(Frame(MessageKind::kPullBatch, p.bytes())),
                  kMalformed, "field_stamps[0].tag: not 0 or 1");
  }
  {  // a big-endian archive flag
    std::string payload = PayloadOf(Encode(PushAck{}), MessageKind::kPushAck);
    payload[0] = 0;
    EXPECT_STATUS(DecodePushAck(Frame(MessageKind::kPushAck, payload)),
                  kMalformed, "little-endian");
  }
}

// ---- JSON view ----

TEST(WireTest, JsonViewShowsEveryField) {
  const PullBatch b = RichPullBatch();
  const std::string text = ToJson(b);
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["kind"], "pull_batch");
  const auto& m = j["message"];
  EXPECT_EQ(m["after_seq"], 10);
  EXPECT_EQ(m["to_seq"], 20);
  EXPECT_EQ(m["more"], true);
  const auto& rec = m["changes"][0]["record"];
  EXPECT_EQ(rec["type"], "Patient");
  EXPECT_EQ(rec["id"], "3f0c5b9e-8a52-4d1f-9d6e-2b7a1c4e9f00");
  EXPECT_EQ(rec["content"], b.changes[0].record.content);
  EXPECT_EQ(rec["version"], "1704067200000.0007.7f3a9c2e4b1d0a55");
  // Every field stamp, including those the binary form leaves out.
  EXPECT_EQ(rec["field_stamps"].size(), 4u);
  EXPECT_EQ(rec["field_stamps"]["name"], "1704067200000.0007.7f3a9c2e4b1d0a55");
  EXPECT_EQ(m["changes"][0]["base_stamps"]["gender"],
            "1704067199000.0000.clinic-a");
  EXPECT_EQ(m["changes"][1]["record"]["deleted"], true);
  EXPECT_EQ(m["changes"][2]["record"]["type"], "Appointment");
  EXPECT_TRUE(m["conflicts"][0]["loser"]["value"].is_null());
  EXPECT_EQ(m["conflicts"][0]["state"], "open");
  EXPECT_EQ(m["conflicts"][1]["state"], "resolved");
  EXPECT_EQ(m["conflicts"][1]["resolved_by"], "Dr. Ada Okafor");

  ASSERT_OK_AND_ASSIGN(std::string dumped, DumpJson(Encode(b)));
  EXPECT_EQ(dumped, text);
}

TEST(WireTest, JsonViewOfEveryKind) {
  const nlohmann::json hello = nlohmann::json::parse(ToJson(SampleHello()));
  EXPECT_EQ(hello["kind"], "hello");
  EXPECT_EQ(hello["message"]["protocol_version"], kProtocolVersion);
  EXPECT_EQ(hello["message"]["hlc"], SampleHello().hlc.ToString());
  const nlohmann::json ack =
      nlohmann::json::parse(ToJson(PushAck{7, 1, 2, 3, 4}));
  EXPECT_EQ(ack["message"]["received_seq"], 7);
  EXPECT_EQ(ack["message"]["conflicts"], 4);
  PushBatch empty;
  empty.node_id = "c";
  const nlohmann::json push = nlohmann::json::parse(ToJson(empty));
  EXPECT_TRUE(push["message"]["changes"].is_array());
  EXPECT_TRUE(push["message"]["changes"].empty());
  ASSERT_OK_AND_ASSIGN(std::string err,
                       DumpJson(Encode(ErrorReply{"scope", "not yours"})));
  EXPECT_EQ(nlohmann::json::parse(err)["message"]["code"], "scope");
}

// ---- Size ----

// Not a benchmark: prints how the wire compares with zstd -3 of the same
// records as FHIR JSON lines, and fails only if it is wildly off.
TEST(WireTest, BatchIsAboutAsSmallAsCompressedFhirJson) {
  std::mt19937_64 rng(42);
  auto pick = [&](const std::vector<std::string>& v) {
    return v[rng() % v.size()];
  };
  const std::vector<std::string> families = {
      "Garcia",  "Okafor",    "Nguyen", "Mensah", "Silva",
      "Haddad",  "Kowalski",  "Mwangi", "Tanaka", "Petrov",
      "Achieng", "Hernández", "Banda",  "Diallo"};
  const std::vector<std::string> given = {
      "Ana",     "Maria", "Kwame", "Fatima",  "Joseph",
      "Amina",   "Luis",  "Grace", "Chen",    "Olga",
      "Ibrahim", "Zoë",   "Peter", "Wanjiru", "Samuel"};
  const std::vector<std::string> nodes = {"7f3a9c2e4b1d0a55",
                                          "0c9d2e7f1a3b4c5d", "hub"};
  auto hex = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "0123456789abcdef"[rng() % 16];
    return s;
  };

  PullBatch batch;
  std::string fhir_lines;
  int64_t wall = kJan2024;
  for (int i = 0; i < 1000; ++i) {
    char content[512];
    std::snprintf(
        content, sizeof content,
        R"({"birthDate":"%04d-%02d-%02d","gender":"%s","identifier":[{"system":"urn:posta:clinic-mrn","value":"MRN-%06d"}],"name":[{"family":"%s","given":["%s","%s"]}]})",
        1940 + static_cast<int>(rng() % 80), 1 + static_cast<int>(rng() % 12),
        1 + static_cast<int>(rng() % 28), rng() % 2 ? "female" : "male",
        static_cast<int>(rng() % 1000000), pick(families).c_str(),
        pick(given).c_str(), pick(given).c_str());
    wall += 1 + static_cast<int64_t>(rng() % 60000);
    Record r;
    r.id =
        hex(8) + "-" + hex(4) + "-4" + hex(3) + "-a" + hex(3) + "-" + hex(12);
    r.facility = "clinic-north";
    r.content = content;
    r.version = Stamp(wall, static_cast<uint32_t>(rng() % 3), pick(nodes));
    r.last_updated_ms = wall;
    for (const char* f : {"birthDate", "gender", "identifier", "name"}) {
      r.field_stamps[f] = r.version;
    }
    ChangeEntry e = Change(i + 1, r);
    if (i % 5 == 0) {  // an edit: one field changed, the rest older
      const HlcStamp older = Stamp(wall - 86400000, 0, pick(nodes));
      e.record.field_stamps["birthDate"] = older;
      e.record.field_stamps["identifier"] = older;
      e.base_stamps["name"] = older;
    }
    batch.changes.push_back(e);
    fhir_lines += R"({"resourceType":"Patient","id":")" + r.id +
                  R"(","meta":{"versionId":")" + r.version.ToString() +
                  R"("},)" + r.content.substr(1) + "\n";
  }
  batch.to_seq = 1000;

  const std::string encoded = Encode(batch);
  std::string zstd3(ZSTD_compressBound(fhir_lines.size()), '\0');
  const size_t zstd3_size = ZSTD_compress(
      zstd3.data(), zstd3.size(), fhir_lines.data(), fhir_lines.size(), 3);
  ASSERT_FALSE(ZSTD_isError(zstd3_size));
  const double ratio =
      static_cast<double>(encoded.size()) / static_cast<double>(zstd3_size);
  std::printf(
      "1000 records: FHIR JSON lines %zu bytes, zstd -3 %zu; wire payload %zu, "
      "encoded %zu; ratio %.3f\n",
      fhir_lines.size(), zstd3_size,
      PayloadOf(encoded, MessageKind::kPullBatch).size(), encoded.size(),
      ratio);
  ::testing::Test::RecordProperty("wire_to_zstd3_ratio", std::to_string(ratio));
  EXPECT_LT(ratio, 2.0);
}

}  // namespace
}  // namespace posta::sync
