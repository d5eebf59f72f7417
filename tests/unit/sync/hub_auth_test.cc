// Enrollment and authenticated sync against an in-process hub: identity and
// scope come from the credential, never from the payload. Every refusal is
// checked for its status, its message, and that nothing stored changed.
#include <gtest/gtest.h>
#include <zstd.h>

#include <cctype>
#include <mutex>

#include "sync_fixture.h"

namespace posta::sync::testing {
namespace {

class HubAuthTest : public SyncFixture {
 protected:
  void SetUp() override {
    SyncFixture::SetUp();
    // Recreate the service with a denial hook, as node/ installs one.
    HubOptions options;
    options.on_denied = [this](const Denial& d) {
      std::lock_guard lock(mu_);
      denials_.push_back(d);
    };
    hub_ = std::make_unique<HubService>(*hub_store_, hub_clock_, options);
  }

  // The hub's state: every record and version, and every enrolled node.
  std::string HubState() {
    auto digest = hub_store_->ContentDigest();
    auto nodes = hub_store_->ListEnrolledNodes();
    EXPECT_TRUE(posta::testing::IsOk(digest));
    EXPECT_TRUE(posta::testing::IsOk(nodes));
    std::string out = digest.ok() ? *digest : "";
    for (const storage::EnrolledNode& n : *nodes) {
      out += ";" + n.node_id + "/" + n.facility + "/" + n.credential_hash +
             "/" + std::to_string(n.revoked_ms);
    }
    return out;
  }

  ErrorReply ErrorOf(const SyncReply& reply) {
    auto error = DecodeErrorReply(reply.body);
    EXPECT_TRUE(posta::testing::IsOk(error));
    return error.ok() ? *error : ErrorReply{};
  }

  std::vector<Denial> Denials() {
    std::lock_guard lock(mu_);
    return denials_;
  }

  std::mutex mu_;
  std::vector<Denial> denials_;
};

// A sync message of `kind` whose zstd frame inflates to `zeros` zero bytes
// and does not declare its size: a few KiB on the wire.
std::string ZstdBomb(MessageKind kind, size_t zeros) {
  std::string message(kWireMagic);
  message += static_cast<char>(kind);
  message += static_cast<char>(kCodecZstd);
  message += std::string(2, '\0');
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  const std::string chunk(1 << 20, '\0');
  std::string out(ZSTD_CStreamOutSize(), '\0');
  for (size_t done = 0; done < zeros;) {
    const size_t n = std::min(chunk.size(), zeros - done);
    done += n;
    ZSTD_inBuffer in{chunk.data(), n, 0};
    const auto mode = done == zeros ? ZSTD_e_end : ZSTD_e_continue;
    size_t left;
    do {
      ZSTD_outBuffer ob{out.data(), out.size(), 0};
      left = ZSTD_compressStream2(cctx, &ob, &in, mode);
      message.append(out.data(), ob.pos);
    } while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
  }
  ZSTD_freeCCtx(cctx);
  return message;
}

TEST(CredentialsTest, CodesAreTypeableAndCredentialsLong) {
  ASSERT_OK_AND_ASSIGN(std::string code, NewEnrollmentCode());
  ASSERT_EQ(code.size(), 24u) << code;  // 5 groups of 4, 4 dashes
  for (size_t i = 0; i < code.size(); ++i) {
    if (i % 5 == 4) {
      EXPECT_EQ(code[i], '-') << code;
    } else {
      EXPECT_NE(
          std::string_view("0123456789ABCDEFGHJKMNPQRSTVWXYZ").find(code[i]),
          std::string_view::npos)
          << code;
    }
  }
  ASSERT_OK_AND_ASSIGN(std::string other, NewEnrollmentCode());
  EXPECT_NE(code, other);
  // Typed loosely, it is the same code.
  ASSERT_OK_AND_ASSIGN(std::string canonical,
                       NormalizeEnrollmentCode("7KQ2-M9XD-C4TR-0HWB-E5NZ"));
  ASSERT_OK_AND_ASSIGN(std::string typed,
                       NormalizeEnrollmentCode("7kq2 m9xd c4tr ohwb e5nz"));
  EXPECT_EQ(typed, canonical);
  ASSERT_OK_AND_ASSIGN(typed, NormalizeEnrollmentCode("7KQ2M9XDC4TRoHWBE5NZ"));
  EXPECT_EQ(typed, canonical);
  EXPECT_EQ(NormalizeEnrollmentCode("7KQ2-M9XD-C4TR-0HWB-E5NU").status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(NormalizeEnrollmentCode("7KQ2").status().code(),
            Status::Code::kInvalidArgument);

  ASSERT_OK_AND_ASSIGN(std::string credential, NewCredential());
  EXPECT_TRUE(IsWellFormedCredential(credential));
  EXPECT_FALSE(IsWellFormedCredential(credential.substr(1)));
  EXPECT_FALSE(IsWellFormedCredential(std::string(64, 'G')));
  const std::string hash = HashSecret(credential);
  EXPECT_EQ(hash.size(), 64u);
  EXPECT_NE(hash, credential);
  EXPECT_TRUE(SameHash(hash, HashSecret(credential)));
  EXPECT_FALSE(SameHash(hash, HashSecret(credential + "x")));
  EXPECT_FALSE(SameHash(hash, hash.substr(1)));
  // The known SHA-256 of "abc".
  EXPECT_EQ(HashSecret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(HubAuthTest, ANodeWithoutACredentialIsNotEnrolled) {
  Node a = Clinic("clinic-a");
  Create(*a.store, "Alpha");
  const std::string before = HubState();
  for (std::string token :
       {std::string(), std::string("not-a-credential"),
        std::string(64, 'a')}) {  // well formed, but issued to nobody
    ASSERT_OK(a.transport->SetBearerToken(token));
    auto result = a.client->SyncOnce();
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), Status::Code::kPermissionDenied);
    EXPECT_FALSE(result.status().IsRetryable());
    EXPECT_NE(result.status().message().find("not_enrolled"), std::string::npos)
        << result.status().message();
    EXPECT_NE(result.status().message().find("is not enrolled with hub " +
                                             hub_store_->node_id()),
              std::string::npos)
        << result.status().message();
    EXPECT_NE(result.status().message().find("run posta enroll"),
              std::string::npos);
  }
  EXPECT_EQ(HubState(), before);
  EXPECT_EQ(hub_->counters().unauthenticated, 3);
  ASSERT_EQ(Denials().size(), 3u);
  EXPECT_EQ(Denials()[0].status, 401);
  EXPECT_EQ(Denials()[0].code, kErrorNotEnrolled);
  EXPECT_EQ(Denials()[0].remote_address, a.transport->address);
}

// Compression bombs from an enrolled node: refused as too_large once the
// output passes its cap (64 KiB for hello, pull and enroll; for a push, 100
// times the compressed size), nothing applied.
TEST_F(HubAuthTest, CompressionBombsAreRefusedAndApplyNothing) {
  Node a = Clinic("clinic-a");
  Create(*a.store, "Alpha");
  Sync(a);
  Create(*a.store, "Beta");
  const std::string before = HubState();
  struct Case {
    std::string op;
    MessageKind kind;
    std::string message;
  };
  const std::string push = ZstdBomb(MessageKind::kPushBatch, size_t{1} << 30);
  ASSERT_LT(push.size(), size_t{64} << 10);
  for (const Case& c : {
           Case{"hello", MessageKind::kHello,
                "hello payload: inflates past 65536 bytes"},
           Case{"pull", MessageKind::kPullRequest,
                "pull_request payload: inflates past 65536 bytes"},
           Case{"push", MessageKind::kPushBatch,
                "push_batch payload: inflates past " +
                    std::to_string(std::max<size_t>(size_t{1} << 20,
                                                    (push.size() - 8) * 100)) +
                    " bytes, over 100 times its " +
                    std::to_string(push.size() - 8) + " compressed bytes"},
       }) {
    SCOPED_TRACE(c.op);
    const std::string bomb = c.kind == MessageKind::kPushBatch
                                 ? push
                                 : ZstdBomb(c.kind, size_t{64} << 20);
    SyncReply reply = As(a, c.op, bomb);
    EXPECT_EQ(reply.status, 413);
    ErrorReply error = ErrorOf(reply);
    EXPECT_EQ(error.code, "too_large");
    EXPECT_NE(error.message.find(c.message), std::string::npos)
        << error.message;
    EXPECT_EQ(HubState(), before);
  }
  // The enroll request, the one without a credential, too.
  SyncReply enroll = hub_->Handle(SyncRequest{
      "enroll", ZstdBomb(MessageKind::kEnrollRequest, size_t{64} << 20), "",
      "10.0.0.9:1"});
  EXPECT_EQ(enroll.status, 413);
  EXPECT_NE(ErrorOf(enroll).message.find(
                "enroll_request payload: inflates past 65536 bytes"),
            std::string::npos)
      << ErrorOf(enroll).message;
  EXPECT_EQ(HubState(), before);
  // The node still syncs.
  Sync(a);
  EXPECT_NE(HubState(), before);
}

TEST_F(HubAuthTest, ForgedOriginIsRefusedWholeAndLogged) {
  Node a = Clinic("clinic-a");
  Node b = Clinic("clinic-b");
  Create(*b.store, "Beta");
  Sync(b);
  Create(*a.store, "Alpha");
  Sync(a);
  const std::string before = HubState();

  // A record claiming clinic-b's ownership, pushed with clinic-a's
  // credential, beside a record of its own: the whole batch is refused.
  Create(*a.store, "Alpha2");
  Create(*a.store, "Alpha3");
  a.transport->tamper = [&](std::string_view op, std::string& body) {
    if (op != "push") return;
    auto batch = DecodePushBatch(body);
    ASSERT_OK(batch);
    ASSERT_EQ(batch->changes.size(), 2u);
    batch->changes[1].record.facility = "clinic-b";
    body = Encode(*batch);
  };
  auto forged = a.client->SyncOnce();
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(forged.status().message().find("of facility clinic-a sent"),
            std::string::npos)
      << forged.status().message();
  EXPECT_NE(forged.status().message().find("of facility clinic-b"),
            std::string::npos);
  EXPECT_EQ(HubState(), before);

  // A push in clinic-b's name with clinic-a's credential.
  a.transport->tamper = [&](std::string_view op, std::string& body) {
    if (op != "push") return;
    auto batch = DecodePushBatch(body);
    ASSERT_OK(batch);
    batch->node_id = b.store->node_id();
    for (auto& change : batch->changes) change.record.facility = "clinic-b";
    for (auto& entry : batch->audit) entry.node_id = batch->node_id;
    body = Encode(*batch);
  };
  auto impersonated = a.client->SyncOnce();
  ASSERT_FALSE(impersonated.ok());
  EXPECT_EQ(impersonated.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(impersonated.status().message().find(
                "a push for node " + b.store->node_id() +
                " with the credential of node " + a.store->node_id()),
            std::string::npos)
      << impersonated.status().message();
  EXPECT_EQ(HubState(), before);

  // A hello saying another facility.
  Hello hello;
  hello.node_id = a.store->node_id();
  hello.facility = "clinic-b";
  hello.role = "clinic";
  hello.clock_ms = kNov2026;
  SyncReply reply = As(a, "hello", Encode(hello));
  EXPECT_EQ(reply.status, 403);
  ErrorReply error = ErrorOf(reply);
  EXPECT_EQ(error.code, kErrorScope);
  EXPECT_NE(error.message.find("enrolled for facility clinic-a, not clinic-b"),
            std::string::npos)
      << error.message;
  EXPECT_EQ(HubState(), before);

  EXPECT_EQ(hub_->counters().denied, 3);
  std::vector<Denial> denials = Denials();
  ASSERT_EQ(denials.size(), 3u);
  for (const Denial& d : denials) {
    EXPECT_EQ(d.status, 403);
    EXPECT_EQ(d.code, kErrorScope);
    EXPECT_EQ(d.node_id, a.store->node_id());
  }
}

TEST_F(HubAuthTest, TamperedCursorsNeverReachAnotherFacility) {
  Node a = Clinic("clinic-a");
  Node b = Clinic("clinic-b");
  for (int i = 0; i < 5; ++i) Create(*b.store, "Beta" + std::to_string(i));
  Create(*a.store, "Alpha");
  Sync(b);
  Sync(a);
  const std::string before = HubState();
  ASSERT_OK_AND_ASSIGN(std::string a_before, a.store->ContentDigest());

  // From every cursor, clinic-a's credential reads clinic-a's scope only.
  for (int64_t cursor :
       {int64_t{0}, int64_t{1}, int64_t{3}, int64_t{1} << 40}) {
    PullRequest pull;
    pull.node_id = a.store->node_id();
    pull.after_seq = cursor;
    SyncReply reply = As(a, "pull", Encode(pull));
    ASSERT_EQ(reply.status, 200);
    ASSERT_OK_AND_ASSIGN(PullBatch batch, DecodePullBatch(reply.body));
    for (const storage::ChangeEntry& change : batch.changes) {
      EXPECT_NE(change.record.facility, "clinic-b") << "cursor " << cursor;
    }
  }
  // Asking in clinic-b's name: refused, naming both.
  PullRequest pull;
  pull.node_id = b.store->node_id();
  SyncReply reply = As(a, "pull", Encode(pull));
  EXPECT_EQ(reply.status, 403);
  ErrorReply error = ErrorOf(reply);
  EXPECT_EQ(error.code, kErrorScope);
  EXPECT_NE(
      error.message.find("a pull for node " + b.store->node_id() +
                         " with the credential of node " + a.store->node_id()),
      std::string::npos)
      << error.message;
  // The same through the client: nothing is applied on the clinic.
  a.transport->tamper = [&](std::string_view op, std::string& body) {
    if (op != "pull") return;
    auto request = DecodePullRequest(body);
    ASSERT_OK(request);
    request->node_id = b.store->node_id();
    request->after_seq = 0;
    body = Encode(*request);
  };
  auto tampered = a.client->SyncOnce();
  ASSERT_FALSE(tampered.ok());
  EXPECT_EQ(tampered.status().code(), Status::Code::kPermissionDenied);
  ASSERT_OK_AND_ASSIGN(std::string a_after, a.store->ContentDigest());
  EXPECT_EQ(a_after, a_before);
  ASSERT_OK_AND_ASSIGN(storage::SearchPage page,
                       a.store->Search(storage::SearchQuery{}));
  for (const storage::Record& r : page.records) {
    EXPECT_EQ(r.facility, "clinic-a");
  }
  // The pulls moved only clinic-a's acknowledged cursor, which is not data.
  EXPECT_EQ(HubState(), before);
}

TEST_F(HubAuthTest, ARevokedNodeIsToldWhatToDoAndItsDataStays) {
  Node a = Clinic("clinic-a");
  const std::string id = Create(*a.store, "Alpha");
  Sync(a);
  hub_clock_.Advance(std::chrono::minutes(5));
  ASSERT_OK(
      hub_store_
          ->RevokeEnrolledNode(a.store->node_id(), hub_clock_.WallNowMillis())
          .status());
  const std::string before = HubState();
  Create(*a.store, "Alpha2");
  auto refused = a.client->SyncOnce();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kPermissionDenied);
  EXPECT_FALSE(refused.status().IsRetryable());
  const std::string& message = refused.status().message();
  EXPECT_NE(message.find("401 revoked"), std::string::npos) << message;
  EXPECT_NE(message.find("was revoked on hub"), std::string::npos) << message;
  EXPECT_NE(message.find(storage::FormatInstant(hub_clock_.WallNowMillis())),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("run posta enroll"), std::string::npos) << message;
  EXPECT_EQ(HubState(), before);
  ASSERT_OK(hub_store_->Get(ResourceType::kPatient, id));  // data stays
  ASSERT_FALSE(Denials().empty());
  EXPECT_EQ(Denials().back().code, kErrorRevoked);
  EXPECT_EQ(Denials().back().node_id, a.store->node_id());

  // A new code re-enrolls it; the old credential stays dead.
  const std::string old_token = a.transport->token();
  Enroll(a);
  EXPECT_NE(a.transport->token(), old_token);
  EXPECT_EQ(Sync(a).pushed, 1);
  ASSERT_OK(a.transport->SetBearerToken(old_token));
  auto stale = a.client->SyncOnce();
  ASSERT_FALSE(stale.ok());
  EXPECT_NE(stale.status().message().find("not_enrolled"), std::string::npos);
}

TEST_F(HubAuthTest, BadExpiredUsedAndForeignCodesEnrollNothing) {
  Node a = Clinic("clinic-a");
  ASSERT_OK_AND_ASSIGN(auto store, storage::OpenRecordStore([&] {
                         storage::StoreOptions o;
                         o.path = dir_.File("new.db");
                         o.create_if_missing = true;
                         o.facility = "clinic-a";
                         o.clock = &clinic_clock_;
                         return o;
                       }()));
  auto enroll = [&](const std::string& code, const std::string& facility) {
    EnrollRequest request;
    request.code = code;
    request.node_id = store->node_id();
    request.facility = facility;
    return hub_->Handle(
        SyncRequest{"enroll", Encode(request), "", "10.0.0.9:1"});
  };
  const std::string before = HubState();

  SyncReply reply = enroll("7KQ2-M9XD-C4TR-0HWB-E5NZ", "clinic-a");
  EXPECT_EQ(reply.status, 401);
  EXPECT_EQ(ErrorOf(reply).code, kErrorBadCode);
  EXPECT_NE(ErrorOf(reply).message.find("does not know this enrollment code"),
            std::string::npos);
  reply = enroll("12345", "clinic-a");
  EXPECT_EQ(reply.status, 401);
  EXPECT_NE(ErrorOf(reply).message.find("a code has 20"), std::string::npos)
      << ErrorOf(reply).message;

  const std::string expiring = IssueCode("clinic-a", std::chrono::hours(1));
  hub_clock_.Advance(std::chrono::hours(2));
  reply = enroll(expiring, "clinic-a");
  EXPECT_EQ(reply.status, 401);
  EXPECT_EQ(ErrorOf(reply).code, kErrorCodeExpired);
  EXPECT_NE(ErrorOf(reply).message.find("expired at"), std::string::npos);
  EXPECT_NE(ErrorOf(reply).message.find("ask the hub administrator"),
            std::string::npos);

  const std::string foreign = IssueCode("clinic-b");
  reply = enroll(foreign, "clinic-a");
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(ErrorOf(reply).code, kErrorScope);
  EXPECT_NE(ErrorOf(reply).message.find("it is for facility clinic-b but this "
                                        "node is configured for facility "
                                        "clinic-a"),
            std::string::npos)
      << ErrorOf(reply).message;
  EXPECT_EQ(HubState(), before);

  // A code enrolls once: a second use (or the same request replayed) is
  // refused, and the first node's credential stays.
  const std::string code = IssueCode("clinic-a");
  reply = enroll(code, "");  // no facility configured: the code's is taken
  ASSERT_EQ(reply.status, 200);
  ASSERT_OK_AND_ASSIGN(EnrollReply enrolled, DecodeEnrollReply(reply.body));
  EXPECT_EQ(enrolled.facility, "clinic-a");
  EXPECT_EQ(enrolled.hub_node_id, hub_store_->node_id());
  const std::string after_first = HubState();
  for (const std::string& facility : {std::string("clinic-a"), std::string()}) {
    reply = enroll(code, facility);
    EXPECT_EQ(reply.status, 403);
    EXPECT_EQ(ErrorOf(reply).code, kErrorCodeUsed);
    EXPECT_NE(ErrorOf(reply).message.find("already used at"),
              std::string::npos);
    EXPECT_NE(ErrorOf(reply).message.find(store->node_id()), std::string::npos);
  }
  EXPECT_EQ(HubState(), after_first);
  // The typed form does not matter: lower case and look-alikes are the same
  // code (and so also used).
  std::string typed = code;
  for (char& c : typed) c = static_cast<char>(std::tolower(c));
  EXPECT_EQ(enroll(typed, "clinic-a").status, 403);
}

TEST_F(HubAuthTest, ReplayedRequestsAndCopiedCredentialsDoNoHarm) {
  Node a = Clinic("clinic-a");
  for (int i = 0; i < 3; ++i) Create(*a.store, "Alpha" + std::to_string(i));
  std::vector<std::pair<std::string, std::string>> captured;
  a.transport->tamper = [&](std::string_view op, std::string& body) {
    captured.emplace_back(std::string(op), body);
  };
  Sync(a);
  a.transport->tamper = nullptr;
  const std::string before = HubState();
  // Every captured request again, with the credential: same answers,
  // nothing new stored.
  for (const auto& [op, body] : captured) {
    EXPECT_EQ(As(a, op, body).status, 200) << op;
  }
  EXPECT_EQ(HubState(), before);

  // The credential copied to a second box (another node id): refused and
  // the credential is flagged.
  Node copy;
  copy.store = Open("copy.db", "clinic-a", "clinic", &clinic_clock_);
  copy.transport = std::make_unique<LoopTransport>(*hub_);
  copy.client = std::make_unique<SyncClient>(*copy.store, *copy.transport,
                                             clinic_clock_, SyncOptions{});
  ASSERT_OK(copy.transport->SetBearerToken(a.transport->token()));
  copy.transport->address = "10.0.0.99:5000";
  auto refused = copy.client->SyncOnce();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("this credential belongs to node " +
                                            a.store->node_id()),
            std::string::npos)
      << refused.status().message();
  ASSERT_OK_AND_ASSIGN(storage::EnrolledNode flagged,
                       hub_store_->GetEnrolledNode(a.store->node_id()));
  EXPECT_NE(flagged.flagged_ms, 0);
  EXPECT_NE(flagged.flag.find("presented by node " + copy.store->node_id()),
            std::string::npos)
      << flagged.flag;
  EXPECT_EQ(hub_->counters().flagged, 1);

  // The whole box copied (same node id and credential): the copy's push
  // starts behind what the hub has, from another address, and is flagged;
  // it still applies nothing twice.
  const std::string digest_before = *hub_store_->ContentDigest();
  a.transport->address = "10.0.0.7:40001";
  Hello hello;
  hello.node_id = a.store->node_id();
  hello.facility = "clinic-a";
  hello.role = "clinic";
  hello.clock_ms = kNov2026;
  ASSERT_EQ(As(a, "hello", Encode(hello)).status, 200);
  std::string first_push;
  for (const auto& [op, body] : captured) {
    if (op == "push") {
      first_push = body;
      break;
    }
  }
  ASSERT_FALSE(first_push.empty());
  a.transport->address = "192.168.1.50:40002";
  EXPECT_EQ(As(a, "push", first_push).status, 200);
  ASSERT_OK_AND_ASSIGN(flagged,
                       hub_store_->GetEnrolledNode(a.store->node_id()));
  EXPECT_NE(flagged.flag.find("a push went back"), std::string::npos)
      << flagged.flag;
  EXPECT_NE(flagged.flag.find("192.168.1.50"), std::string::npos);
  EXPECT_EQ(hub_->counters().flagged, 2);
  EXPECT_EQ(*hub_store_->ContentDigest(), digest_before);
}

}  // namespace
}  // namespace posta::sync::testing
