// A link that is reset before a big batch gets through (2G, satellite: a
// reset a minute, a few tens of kB between two). Push and pull batches
// shrink after a batch the link dropped, and the next attempt starts from
// the smaller size, so every attempt moves something and the sync ends;
// a client that started each attempt at its first size again would send
// the same batch, and lose it, for ever.
#include "sync_fixture.h"

namespace posta::sync::testing {
namespace {

// Passes requests to `inner` but drops, as a reset link does, any push or
// audit batch whose body, or pull whose answer, is over `limit` bytes.
class ThinLink final : public Transport {
 public:
  ThinLink(Transport& inner, size_t limit) : inner_(inner), limit_(limit) {}
  int cuts = 0;
  std::vector<size_t> push_sizes;  // every push body, sent or cut

  Result<HttpResponse> Post(std::string_view path,
                            std::string_view content_type,
                            std::string_view body) override {
    const std::string_view op = path.substr(path.rfind('/') + 1);
    if (op == "push") push_sizes.push_back(body.size());
    if ((op == "push" || op == "audit") && body.size() > limit_) {
      return Cut(body.size());
    }
    POSTA_ASSIGN_OR_RETURN(HttpResponse r,
                           inner_.Post(path, content_type, body));
    if (op == "pull" && r.body.size() > limit_) return Cut(r.body.size());
    return r;
  }
  Status SetBearerToken(std::string_view token) override {
    return inner_.SetBearerToken(token);
  }
  uint64_t bytes_sent() const override { return inner_.bytes_sent(); }
  uint64_t bytes_received() const override { return inner_.bytes_received(); }

 private:
  Status Cut(size_t size) {
    ++cuts;
    return Status::Unavailable("link", "reset after " + std::to_string(limit_) +
                                           " of " + std::to_string(size) +
                                           " bytes");
  }
  Transport& inner_;
  size_t limit_;
};

constexpr size_t kLimit = 4000;  // bytes the link carries between resets
constexpr int kPatients = 300;

class ThinLinkTest : public SyncFixture {
 protected:
  // A box of facility "clinic-t" in `file`, enrolled, syncing through a
  // ThinLink with 64 KiB first batches (several times what gets through).
  struct Box {
    Node node;
    std::unique_ptr<ThinLink> link;
  };
  Box NewBox(const std::string& file) {
    Box box;
    box.node.store = Open(file, "clinic-t", "clinic", &clinic_clock_);
    box.node.transport = std::make_unique<LoopTransport>(*hub_);
    Enroll(box.node);
    box.link = std::make_unique<ThinLink>(*box.node.transport, kLimit);
    SyncOptions options;
    options.batch_bytes = 64 << 10;
    options.min_batch_bytes = 1 << 10;
    box.node.client = std::make_unique<SyncClient>(*box.node.store, *box.link,
                                                   clinic_clock_, options);
    return box;
  }

  // SyncOnce until it succeeds, at most `attempts` times; each failure
  // must be the link's. Returns the attempts used (attempts + 1: never).
  int SyncThrough(Box& box, int attempts) {
    for (int i = 1; i <= attempts; ++i) {
      Result<SyncResult> r = box.node.client->SyncOnce();
      if (r.ok()) return i;
      EXPECT_EQ(r.status().code(), Status::Code::kUnavailable)
          << r.status().ToString();
    }
    return attempts + 1;
  }
};

TEST_F(ThinLinkTest, BatchesShrinkUntilTheyFitBetweenResets) {
  Box a = NewBox("a.db");
  for (int i = 0; i < kPatients; ++i) {
    // Identifiers that compress like real ones.
    Create(*a.node.store, "Otieno" + std::to_string(i * 7919 % 1000),
           i % 2 ? "male" : "female",
           "M" + std::to_string(uint64_t{0x9E3779B97F4A7C15} * (i + 1)));
  }
  // Pushes: the first batch is cut; later ones fit.
  const int attempts = SyncThrough(a, 200);
  ASSERT_LE(attempts, 200) << "the push never got through";
  ASSERT_FALSE(a.link->push_sizes.empty());
  EXPECT_GT(a.link->push_sizes.front(), kLimit)
      << "the first batch fits: the test does not exercise the link";
  EXPECT_GE(a.link->cuts, 1);
  ASSERT_OK_AND_ASSIGN(storage::PeerState at_hub,
                       hub_store_->GetPeer(a.node.store->node_id()));
  ASSERT_OK_AND_ASSIGN(storage::StoreStats a_stats, a.node.store->Stats());
  EXPECT_EQ(at_hub.received_seq, a_stats.last_seq);
  // The audit trail went through the same link, in batches it carries.
  ASSERT_OK_AND_ASSIGN(auto a_trail, a.node.store->AuditChainSince(
                                         a.node.store->node_id(), 0, 100000));
  ASSERT_OK_AND_ASSIGN(auto hub_trail, hub_store_->AuditChainSince(
                                           a.node.store->node_id(), 0, 100000));
  EXPECT_EQ(hub_trail.size(), a_trail.size());

  // Pulls: a second box of the facility takes it all through the same link.
  Box b = NewBox("b.db");
  const int pull_attempts = SyncThrough(b, 200);
  ASSERT_LE(pull_attempts, 200) << "the pull never got through";
  EXPECT_GE(b.link->cuts, 1) << "the first pull fits: nothing exercised";
  ASSERT_OK_AND_ASSIGN(storage::StoreStats b_stats, b.node.store->Stats());
  EXPECT_EQ(b_stats.live_records[ResourceType::kPatient], kPatients);
  EXPECT_EQ(Digest(*a.node.store, "clinic-t"),
            Digest(*b.node.store, "clinic-t"));
  EXPECT_EQ(Digest(*hub_store_, "clinic-t"), Digest(*b.node.store, "clinic-t"));
}

TEST_F(ThinLinkTest, EachAttemptAfterACutMovesSomething) {
  Box a = NewBox("a.db");
  for (int i = 0; i < kPatients; ++i) {
    Create(*a.node.store, "Wekesa" + std::to_string(i), "female",
           "M" + std::to_string(uint64_t{0xBF58476D1CE4E5B9} * (i + 1)));
  }
  // Once the size has shrunk to what the link carries, no attempt ends
  // without progress: what the hub holds of the clinic's log and of its
  // audit trail grows at every attempt after the first few of each (which
  // shrink the batch from 64 KiB, and the audit batch from 500 entries),
  // and never drops.
  int64_t last = 0;
  int64_t last_audit = 0;
  int stuck = 0;
  bool done = false;
  for (int i = 0; i < 200 && !done; ++i) {
    // What `posta sync` and serve's scheduled sync go by to start their
    // backoff again after a cut attempt.
    bool moved = false;
    done = a.node.client
               ->SyncOnce([&moved](const SyncProgress& p) {
                 if (p.moved()) moved = true;
               })
               .ok();
    Result<storage::PeerState> at_hub =
        hub_store_->GetPeer(a.node.store->node_id());
    const int64_t now = at_hub.ok() ? at_hub->received_seq : 0;
    ASSERT_OK_AND_ASSIGN(auto trail, hub_store_->AuditChainSince(
                                         a.node.store->node_id(), 0, 100000));
    const int64_t audit = static_cast<int64_t>(trail.size());
    ASSERT_GE(now, last) << "progress went backwards";
    ASSERT_GE(audit, last_audit) << "the audit trail went backwards";
    if (now == last && audit == last_audit && !done) ++stuck;
    // The attempt's own progress says it moved something exactly when the
    // hub gained records or audit entries from it.
    if (!done) {
      EXPECT_EQ(moved, now > last || audit > last_audit) << "attempt " << i;
    }
    last = now;
    last_audit = audit;
  }
  ASSERT_TRUE(done);
  // log2(64 KiB / the size that fits) + log2(500 / the entries that fit)
  // attempts without progress at most.
  EXPECT_LE(stuck, 12);
}

}  // namespace
}  // namespace posta::sync::testing
