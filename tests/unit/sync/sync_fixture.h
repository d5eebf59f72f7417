// An in-process hub and clinics for the sync tests: clinics' SyncClients
// talk to a HubService through a transport that calls it directly and can
// lose requests or answers. Every clinic enrolls through the real enroll
// exchange. Real stores on real files; no sockets (tests/integration has
// those).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "posta/base/clock.h"
#include "posta/base/random.h"
#include "posta/storage/record_store.h"
#include "posta/sync/credentials.h"
#include "posta/sync/hub_service.h"
#include "posta/sync/sync_client.h"
#include "test_util.h"

namespace posta::sync::testing {

using storage::ResourceType;
using storage::WriteKind;
using storage::WriteOp;

constexpr int64_t kNov2026 = 1795000000000;

inline std::string PatientBody(const std::string& family,
                               const std::string& gender,
                               const std::string& mrn) {
  return R"({"resourceType":"Patient","name":[{"family":")" + family +
         R"(","given":["Ana"]}],"gender":")" + gender +
         R"(","birthDate":"1980-04-02","identifier":[{"system":"urn:mrn","value":")" +
         mrn + R"("}]})";
}

inline std::string EncounterBody(const std::string& patient_id,
                                 const std::string& status = "finished") {
  return R"({"resourceType":"Encounter","status":")" + status +
         R"(","class":{"code":"AMB"},"subject":{"reference":"Patient/)" +
         patient_id + R"("},"period":{"start":"2026-11-01T10:00:00Z"}})";
}

// A one-time enrollment code for `facility` (which the hub must know),
// stored at `hub` as an operator's `posta enroll` would, valid `valid` from
// `clock`'s now.
inline std::string IssueEnrollmentCode(
    storage::RecordStore& hub, base::Clock& clock, const std::string& facility,
    std::chrono::milliseconds valid = std::chrono::hours(48)) {
  Result<std::string> code = NewEnrollmentCode();
  EXPECT_TRUE(posta::testing::IsOk(code));
  if (!code.ok()) return "";
  storage::EnrollmentCode stored;
  stored.code_hash = HashSecret(*NormalizeEnrollmentCode(*code));
  stored.facility = facility;
  stored.created_ms = clock.WallNowMillis();
  stored.expires_ms = stored.created_ms + valid.count();
  EXPECT_TRUE(posta::testing::IsOk(hub.AddEnrollmentCode(stored)));
  return *code;
}

// For LoopTransport::tamper: rewrites an encoded Hello so that the node
// says it speaks `version` at most (a clinic of an older build).
inline void SayProtocol(std::string& hello_body, uint32_t version) {
  Result<Hello> hello = DecodeHello(hello_body);
  ASSERT_TRUE(posta::testing::IsOk(hello));
  hello->protocol_version = version;
  hello_body = Encode(*hello);
}

// Calls the hub directly. `drop_request` loses the next request before the
// hub sees it; `drop_answer` lets the hub commit and loses its answer.
// `address` is the remote address the hub sees.
class LoopTransport final : public Transport {
 public:
  explicit LoopTransport(HubService& hub) : hub_(hub) {}
  int drop_request = 0;
  int drop_answer = 0;
  std::string address = "10.0.0.7:40000";
  std::function<void(std::string_view op, std::string& body)> tamper;

  Status SetBearerToken(std::string_view token) override {
    token_ = std::string(token);
    return Status::Ok();
  }
  const std::string& token() const { return token_; }

  Result<HttpResponse> Post(std::string_view path, std::string_view,
                            std::string_view body) override {
    std::string op(path.substr(path.rfind('/') + 1));
    sent_ += body.size();
    if (drop_request > 0) {
      --drop_request;
      return Status::Unavailable("hub", "link down");
    }
    std::string copy(body);
    if (tamper) tamper(op, copy);
    const std::string authorization = token_.empty() ? "" : "Bearer " + token_;
    SyncReply reply =
        hub_.Handle(SyncRequest{op, copy, authorization, address});
    if (drop_answer > 0) {
      --drop_answer;
      return Status::Unavailable("hub", "connection lost mid-request");
    }
    received_ += reply.body.size();
    return HttpResponse{reply.status, reply.content_type, reply.body};
  }
  uint64_t bytes_sent() const override { return sent_; }
  uint64_t bytes_received() const override { return received_; }

 private:
  HubService& hub_;
  std::string token_;
  // Read by the client while a pull it asked ahead for is in flight.
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> received_{0};
};

struct Node {
  std::unique_ptr<storage::RecordStore> store;
  std::unique_ptr<LoopTransport> transport;
  std::unique_ptr<SyncClient> client;
};

class SyncFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_store_ = Open("hub.db", "region-hub", "hub");
    hub_ = std::make_unique<HubService>(*hub_store_, hub_clock_);
  }

  std::unique_ptr<storage::RecordStore> Open(const std::string& file,
                                             const std::string& facility,
                                             const std::string& role,
                                             base::Clock* clock = nullptr) {
    storage::StoreOptions options;
    options.path = dir_.File(file);
    options.create_if_missing = true;
    options.facility = facility;
    options.role = role;
    options.clock = clock != nullptr ? clock : &hub_clock_;
    options.random = &random_;
    auto store = storage::OpenRecordStore(options);
    EXPECT_TRUE(posta::testing::IsOk(store));
    return std::move(store).value();
  }

  Node Clinic(const std::string& facility, base::Clock* clock = nullptr) {
    Node node;
    base::Clock& c = clock != nullptr ? *clock : clinic_clock_;
    node.store = Open(facility + ".db", facility, "clinic", &c);
    node.transport = std::make_unique<LoopTransport>(*hub_);
    SyncOptions options;
    options.batch_bytes = 16 << 10;
    options.min_batch_bytes = 4 << 10;
    node.client =
        std::make_unique<SyncClient>(*node.store, *node.transport, c, options);
    Enroll(node);
    return node;
  }

  // A one-time code for `facility` (registered on first use), valid 48 h.
  std::string IssueCode(
      const std::string& facility,
      std::chrono::milliseconds valid = std::chrono::hours(48)) {
    if (facilities_.insert(facility).second) {
      EXPECT_TRUE(posta::testing::IsOk(hub_store_->AddFacility(
          {facility, "Facility " + facility, "", hub_clock_.WallNowMillis()})));
    }
    return IssueEnrollmentCode(*hub_store_, hub_clock_, facility, valid);
  }

  // Enrolls the node's store through the enroll exchange and gives its
  // transport the credential.
  void Enroll(Node& node) {
    EnrollRequest request;
    request.code = IssueCode(node.store->facility());
    request.node_id = node.store->node_id();
    request.facility = node.store->facility();
    Result<EnrollReply> reply = sync::Enroll(*node.transport, request);
    ASSERT_TRUE(posta::testing::IsOk(reply));
    ASSERT_OK(node.transport->SetBearerToken(reply->credential));
  }

  // One request to the hub with `node`'s credential.
  SyncReply As(Node& node, std::string_view op, std::string_view body) {
    const std::string authorization = "Bearer " + node.transport->token();
    return hub_->Handle(
        SyncRequest{op, body, authorization, node.transport->address});
  }

  std::string Create(storage::RecordStore& store, const std::string& family,
                     const std::string& gender = "female",
                     const std::string& mrn = "M1") {
    WriteOp op;
    op.kind = WriteKind::kCreate;
    op.type = ResourceType::kPatient;
    op.body = PatientBody(family, gender, mrn);
    storage::WriteOutcome out = store.Write(op);
    EXPECT_TRUE(posta::testing::IsOk(out.status));
    return out.record.id;
  }

  void Update(storage::RecordStore& store, const std::string& id,
              const std::string& family, const std::string& gender,
              const std::string& mrn = "M1") {
    WriteOp op;
    op.kind = WriteKind::kUpdate;
    op.type = ResourceType::kPatient;
    op.id = id;
    op.body = PatientBody(family, gender, mrn);
    ASSERT_OK(store.Write(op).status);
  }

  SyncResult Sync(Node& node) {
    Result<SyncResult> result = node.client->SyncOnce();
    EXPECT_TRUE(posta::testing::IsOk(result));
    return result.ok() ? *result : SyncResult();
  }

  std::string AddEncounter(storage::RecordStore& store,
                           const std::string& patient_id) {
    WriteOp op;
    op.kind = WriteKind::kCreate;
    op.type = ResourceType::kEncounter;
    op.body = EncounterBody(patient_id);
    storage::WriteOutcome out = store.Write(op);
    EXPECT_TRUE(posta::testing::IsOk(out.status));
    return out.record.id;
  }

  // The record's owner on `store`; "" when it is not there.
  std::string Owner(storage::RecordStore& store, ResourceType type,
                    const std::string& id) {
    Result<storage::Record> r = store.Get(type, id);
    return r.ok() ? r->facility : "";
  }

  std::string Digest(storage::RecordStore& store, const std::string& facility) {
    auto digest = store.ReplicaDigest(facility);
    EXPECT_TRUE(posta::testing::IsOk(digest));
    return digest.ok() ? *digest : "";
  }

  posta::testing::TempDir dir_;
  base::ManualClock hub_clock_{kNov2026};
  base::ManualClock clinic_clock_{kNov2026};
  base::Random random_{7};
  std::unique_ptr<storage::RecordStore> hub_store_;
  std::unique_ptr<HubService> hub_;
  std::set<std::string> facilities_;
};

}  // namespace posta::sync::testing
