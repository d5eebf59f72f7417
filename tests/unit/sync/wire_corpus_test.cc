// Replays the batch_fuzzer seed corpus through the fuzzer's own check
// (tests/fuzz/batch_fuzz_entry.h), so CI covers it without clang.
// "valid-*" seeds decode as messages, "payload-*" seeds as raw payloads,
// and "bad-*" seeds are refused.
//
// The seeds come from Seeds() below. To write them again after a format
// change:
//   POSTA_WRITE_SEEDS=1 sync_wire_test --gtest_filter=WireCorpusTest.WriteSeeds
// SeedsMatchTheirGenerator fails while the files and Seeds() disagree.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "batch_fuzz_entry.h"
#include "posta/sync/wire.h"
#include "test_util.h"
#include "wire_frame.h"

namespace posta::sync {
namespace {

base::HlcStamp Stamp(int64_t wall_ms, uint32_t counter, std::string node) {
  return base::HlcStamp{wall_ms, counter, std::move(node)};
}

Hello SeedHello() {
  Hello h;
  h.node_id = "7f3a9c2e4b1d0a55";
  h.facility = "clinic-north";
  h.role = "clinic";
  h.clock_ms = 1763885524123;
  h.hlc = Stamp(1763885524000, 2, "7f3a9c2e4b1d0a55");
  h.software = "posta 0.1.0";
  return h;
}

PullBatch SeedPullBatch() {
  PullBatch b;
  b.after_seq = 40;
  b.to_seq = 45;
  b.more = true;
  storage::ChangeEntry e;
  e.seq = 41;
  e.record.id = "3f0c5b9e-8a52-4d1f-9d6e-2b7a1c4e9f00";
  e.record.facility = "clinic-north";
  e.record.content =
      R"({"birthDate":"1980-03-01","gender":"female","identifier":[{"system":"urn:posta:clinic-mrn","value":"MRN-000123"}],"name":[{"family":"Núñez","given":["Zoë"]}]})";
  e.record.version = Stamp(1763885524123, 0, "hub");
  e.record.last_updated_ms = 1763885524123;
  for (const char* f : {"birthDate", "gender", "identifier", "name"}) {
    e.record.field_stamps[f] = e.record.version;
  }
  e.record.field_stamps["birthDate"] = Stamp(1763800000000, 1, "clinic-a");
  e.base_stamps["name"] = Stamp(1763800000000, 1, "clinic-a");
  b.changes.push_back(e);

  storage::ChangeEntry gone = e;
  gone.seq = 43;
  gone.record.id = "p-2";
  gone.record.deleted = true;
  gone.record.content = "{}";
  gone.record.version = Stamp(1763885525000, 0, "clinic-a");
  gone.record.field_stamps = {
      {std::string(storage::kDeletedField), gone.record.version}};
  gone.base_stamps.clear();
  b.changes.push_back(gone);

  storage::Conflict c;
  c.id = "0123456789abcdef0123456789abcdef";
  c.type = storage::ResourceType::kPatient;
  c.record_id = e.record.id;
  c.facility = "clinic-north";
  c.field = "gender";
  c.winner = {R"("female")", Stamp(1763885524123, 0, "hub")};
  c.loser = {std::nullopt, Stamp(1763885524100, 0, "clinic-a")};
  c.state_stamp = c.winner.stamp;
  c.seq = 44;
  b.conflicts.push_back(c);
  return b;
}

PushBatch SeedPushBatch() {
  const PullBatch pull = SeedPullBatch();
  PushBatch b;
  b.node_id = "clinic-a";
  b.after_seq = pull.after_seq;
  b.to_seq = pull.to_seq;
  b.changes = pull.changes;
  b.conflicts = pull.conflicts;
  return b;
}

std::string Le64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}

// A payload seed: the kind byte the fuzz entry maps back to `kind`, then
// the archive payload of `encoded`.
std::string PayloadSeed(MessageKind kind, const std::string& encoded) {
  auto payload = wire_internal::DecodeFrame(encoded, kind, WireLimits{});
  EXPECT_TRUE(payload.ok());
  return std::string(1, static_cast<char>(static_cast<uint8_t>(kind) - 1)) +
         (payload.ok() ? *payload : std::string());
}

// Every seed, by file name.
::posta::testing::Seeds Seeds() {
  Hello fresh = SeedHello();
  fresh.hlc = {};
  HelloReply reply;
  reply.node_id = "hub";
  reply.facility = "district";
  reply.role = "hub";
  reply.clock_ms = 1763885524200;
  reply.hlc = Stamp(1763885524123, 0, "hub");
  reply.received_seq = 40;
  reply.max_batch_bytes = 8 << 20;
  HelloReply reply_audit = reply;  // to a clinic of protocol 4
  reply_audit.audit_received_seq = 118;
  PushBatch bad_node = SeedPushBatch();
  bad_node.node_id = "Clinic A";
  PullBatch bad_range = SeedPullBatch();
  bad_range.changes[1].seq = 46;

  const std::string push = Encode(SeedPushBatch());
  std::string bad_magic = Encode(SeedHello());
  bad_magic[0] = 'Q';
  storage::AuditEntry audit;
  audit.node_id = "7f3a9c2e4b1d0a55";
  audit.facility = "clinic-north";
  audit.seq = 8;
  audit.at_ms = 1763885524123;
  audit.actor = "amina";
  audit.role = "registrar";
  audit.remote_address = "10.0.0.7:51622";
  audit.action = "denied";
  audit.resource = "Observation";
  audit.outcome = "denied";
  audit.detail = "GET /fhir/Observation: 403 role registrar: may not read";
  audit.prev_hash = std::string(64, '0');
  audit.hash = std::string(64, 'e');
  // The next entry as a clinic sends it to a hub of protocol 4, in the
  // middle of a batch: it follows the entry before, its hash cut short.
  storage::AuditEntry audit_short = audit;
  audit_short.seq = 9;
  audit_short.action = "read";
  audit_short.outcome = "ok";
  audit_short.detail = "";
  audit_short.prev_hash = "";
  audit_short.hash = "5d41402a";
  // A push to a hub of protocol 5 carries its changes' entries: the first
  // names its change, the second (a read) names none.
  PushBatch push_audit = SeedPushBatch();
  const storage::Record& changed = push_audit.changes[0].record;
  storage::AuditEntry audit_change = audit_short;
  audit_change.node_id = push_audit.node_id;
  audit_change.seq = 12;
  audit_change.action = "update";
  audit_change.resource = storage::RecordName(changed.type, changed.id);
  audit_change.version = changed.version.ToString();
  audit_change.prev_hash = std::string(64, '0');
  audit_change.hash = "";  // left out: the hub computes it
  storage::AuditEntry audit_read = audit_short;
  audit_read.node_id = push_audit.node_id;
  audit_read.seq = 13;
  audit_read.resource = audit_change.resource;
  audit_read.hash = std::string(64, 'e');
  push_audit.audit_after_seq = 11;
  push_audit.audit = {audit_change, audit_read};
  PushAck ack_audit{45, 1, 0, 1, 1};
  ack_audit.audit_received_seq = 13;
  ack_audit.audit_stored = 2;
  std::string bad_kind = Encode(PushAck{1, 1, 0, 0, 0});
  bad_kind[4] = 9;

  return {
      {"valid-hello", Encode(SeedHello())},
      {"valid-hello-new-node", Encode(fresh)},
      {"valid-hello-reply", Encode(reply)},
      {"valid-hello-reply-audit", Encode(reply_audit)},
      {"valid-push-batch", push},
      {"valid-push-batch-audit", Encode(push_audit)},
      {"valid-push-ack", Encode(PushAck{45, 1, 0, 1, 1})},
      {"valid-push-ack-audit", Encode(ack_audit)},
      {"valid-pull-request", Encode(PullRequest{"clinic-a", 40, 1 << 20})},
      {"valid-pull-request-ahead",
       Encode(PullRequest{"clinic-a", 40, 1 << 20, 32})},
      {"valid-pull-batch", Encode(SeedPullBatch())},
      {"valid-pull-batch-empty", Encode(PullBatch{})},
      {"valid-error-reply",
       Encode(ErrorReply{"version_mismatch", "hub speaks 2..3, you 1"})},
      {"valid-audit-batch",
       Encode(AuditBatch{"7f3a9c2e4b1d0a55", 7, {audit}})},
      {"valid-audit-batch-short",
       Encode(AuditBatch{"7f3a9c2e4b1d0a55", 7, {audit, audit_short}})},
      {"valid-audit-ack", Encode(AuditAck{8, 1, 0, ""})},
      {"payload-push-batch", PayloadSeed(MessageKind::kPushBatch, push)},
      {"payload-push-batch-audit",
       PayloadSeed(MessageKind::kPushBatch, Encode(push_audit))},
      {"payload-pull-batch",
       PayloadSeed(MessageKind::kPullBatch, Encode(SeedPullBatch()))},
      {"payload-hello", PayloadSeed(MessageKind::kHello, Encode(SeedHello()))},
      {"bad-magic", bad_magic},
      {"bad-kind", bad_kind},
      {"bad-truncated", push.substr(0, push.size() - 7)},
      {"bad-trailing-bytes", Encode(PushAck{}) + "\x01"},
      {"bad-huge-count",
       wire_internal::EncodeFrame(MessageKind::kPushBatch,
                                  "\x01" + Le64(1) + "c" + Le64(0) + Le64(10) +
                                      Le64(uint64_t{1} << 60))},
      {"bad-bomb", wire_internal::EncodeFrame(MessageKind::kPushBatch,
                                              std::string(5 << 20, '\0'))},
      {"bad-node-id", Encode(bad_node)},
      {"bad-seq-range", Encode(bad_range)},
  };
}

TEST(WireCorpusTest, SeedsPassTheFuzzCheck) {
  int seeds = 0;
  for (const auto& [name, data] :
       ::posta::testing::ReadCorpus(POSTA_BATCH_CORPUS_DIR)) {
    SCOPED_TRACE(name);
    ++seeds;
    EXPECT_EQ(fuzz::CheckBatchInput(data), "");
    if (name.starts_with("valid-")) {
      EXPECT_TRUE(fuzz::DecodesAsMessage(data));
    } else if (name.starts_with("payload-")) {
      EXPECT_TRUE(fuzz::DecodesAsPayload(data));
    } else if (name.starts_with("bad-")) {
      EXPECT_FALSE(fuzz::DecodesAsMessage(data));
    }
  }
  EXPECT_GE(seeds, 10);
}

TEST(WireCorpusTest, SeedsMatchTheirGenerator) {
  const std::filesystem::path dir(POSTA_BATCH_CORPUS_DIR);
  const WireLimits limits = fuzz::BatchFuzzLimits();
  for (const auto& [name, bytes] : Seeds()) {
    SCOPED_TRACE(name);
    const std::string file =
        ::posta::testing::ReadWholeFile((dir / name).string());
    ASSERT_FALSE(file.empty()) << "missing seed; see the top of this file";
    if (name.starts_with("payload-")) {
      EXPECT_EQ(file, bytes);
      continue;
    }
    // zstd's output may change between versions: compare what decodes.
    const Result<std::string> want = DumpJson(bytes, limits);
    const Result<std::string> got = DumpJson(file, limits);
    ASSERT_EQ(got.ok(), want.ok()) << got.status().ToString();
    if (want.ok()) {
      EXPECT_EQ(*got, *want);
    } else {
      EXPECT_EQ(got.status().code(), want.status().code());
    }
  }
}

TEST(WireCorpusTest, WriteSeeds) {
  if (std::getenv("POSTA_WRITE_SEEDS") == nullptr) {
    GTEST_SKIP() << "a tool, not a check: set POSTA_WRITE_SEEDS=1 to rewrite "
                    "the seed corpus";
  }
  ASSERT_OK(::posta::testing::WriteCorpus(POSTA_BATCH_CORPUS_DIR, Seeds()));
}

}  // namespace
}  // namespace posta::sync
