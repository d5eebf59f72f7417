// Sync bundles (bundle_file.h, bundle_exchange.h) between an in-process hub
// and clinics: round trips both ways, tampering, foreign and misdirected
// bundles, replays of the same and of older bundles, files cut short at
// every frame boundary and inside frames, bounds, and a clinic that
// alternates between its link and bundles.
#include <gtest/gtest.h>

#include <sstream>

#include "posta/sync/bundle_exchange.h"
#include "posta/sync/bundle_file.h"
#include "sync_fixture.h"

namespace posta::sync::testing {
namespace {

class BundleTest : public SyncFixture {
 protected:
  // A clinic as `posta enroll` leaves it: enrolled, knowing its hub.
  Node OfflineClinic(const std::string& facility) {
    Node node = Clinic(facility);
    storage::PeerState hub;
    hub.node_id = hub_store_->node_id();
    hub.role = "hub";
    EXPECT_OK(node.store->UpdatePeer(hub));
    return node;
  }

  BundleOptions Small() {
    BundleOptions options;
    options.batch_bytes = 4 << 10;  // several batches from a few records
    return options;
  }

  std::string ExportClinic(Node& node) {
    std::string out;
    Result<BundleExport> written = ExportClinicBundle(
        *node.store, node.transport->token(),
        [&out](std::string_view b) {
          out.append(b);
          return Status::Ok();
        },
        clinic_clock_, Small());
    EXPECT_TRUE(posta::testing::IsOk(written));
    return out;
  }

  std::string ExportHub(Node& node) {
    std::string out;
    Result<BundleExport> written = ExportHubBundle(
        *hub_, *hub_store_, node.store->node_id(),
        [&out](std::string_view b) {
          out.append(b);
          return Status::Ok();
        },
        hub_clock_, Small());
    EXPECT_TRUE(posta::testing::IsOk(written));
    return out;
  }

  Result<BundleImport> ImportAtHub(const std::string& bytes) {
    std::istringstream in(bytes);
    return ImportHubBundle(*hub_, *hub_store_, in, Small());
  }

  Result<BundleImport> ImportAtClinic(Node& node, const std::string& bytes) {
    std::istringstream in(bytes);
    return ImportClinicBundle(*node.store, node.transport->token(), in,
                              clinic_clock_, Small());
  }

  storage::PeerState Peer(storage::RecordStore& store, const std::string& id) {
    Result<storage::PeerState> peer = store.GetPeer(id);
    return peer.ok() ? *peer : storage::PeerState();
  }

  int64_t LastSeq(storage::RecordStore& store) {
    Result<storage::StoreStats> stats = store.Stats();
    EXPECT_TRUE(posta::testing::IsOk(stats));
    return stats.ok() ? stats->last_seq : -1;
  }

  // Versions made by `origin` in `store`'s change log.
  int64_t VersionsBy(storage::RecordStore& store, const std::string& origin) {
    storage::ChangeFilter filter;
    filter.only_origin = origin;
    Result<int64_t> n = store.CountChanges(filter);
    EXPECT_TRUE(posta::testing::IsOk(n));
    return n.ok() ? *n : -1;
  }

  // Byte offsets where each frame of `bytes` ends (the header's first).
  std::vector<size_t> FrameEnds(const std::string& bytes,
                                const std::string& key) {
    std::istringstream in(bytes);
    BundleReader reader(in);
    std::vector<size_t> ends;
    EXPECT_TRUE(reader.ReadHeader().ok());
    EXPECT_OK(reader.Verify(key));
    ends.push_back(reader.bytes_read());
    while (true) {
      Result<BundleFrame> frame = reader.Next();
      EXPECT_TRUE(posta::testing::IsOk(frame));
      if (!frame.ok()) break;
      ends.push_back(reader.bytes_read());
      if (frame->kind == BundleFrameKind::kTrailer) break;
    }
    return ends;
  }

  // Shared reference data written at the hub: every clinic pulls it.
  void HubLocation(const std::string& name) {
    ASSERT_OK(
        hub_store_
            ->Write(WriteOp{
                WriteKind::kCreate, ResourceType::kLocation, "",
                R"({"resourceType":"Location","name":")" + name + R"("})"})
            .status);
  }

  int64_t Live(storage::RecordStore& store) {
    Result<storage::StoreStats> stats = store.Stats();
    int64_t n = 0;
    if (stats.ok()) {
      for (const auto& [type, count] : stats->live_records) n += count;
    }
    return n;
  }

  std::string ClinicKey(Node& node) {
    return BundleKey(HashSecret(node.transport->token()),
                     BundleDirection::kClinicToHub);
  }
};

TEST_F(BundleTest, RoundTripBothWays) {
  Node clinic = OfflineClinic("north");
  for (int i = 0; i < 60; ++i)
    Create(*clinic.store, "Clinic" + std::to_string(i));
  HubLocation("FromHub");  // the hub has news for the clinic too

  const std::string there = ExportClinic(clinic);
  Result<BundleImport> at_hub = ImportAtHub(there);
  ASSERT_TRUE(posta::testing::IsOk(at_hub));
  EXPECT_TRUE(at_hub->complete);
  EXPECT_GT(at_hub->batches, 1);
  EXPECT_EQ(at_hub->records, 60);
  EXPECT_EQ(at_hub->header.origin_node_id, clinic.store->node_id());
  EXPECT_EQ(Peer(*hub_store_, clinic.store->node_id()).received_seq,
            LastSeq(*clinic.store));

  const std::string back = ExportHub(clinic);
  Result<BundleImport> at_clinic = ImportAtClinic(clinic, back);
  ASSERT_TRUE(posta::testing::IsOk(at_clinic));
  EXPECT_TRUE(at_clinic->complete);
  EXPECT_EQ(at_clinic->records, 1);
  // The return bundle carries the hub's ack: nothing is left to carry.
  EXPECT_EQ(at_clinic->push_acked, 60);
  EXPECT_EQ(Digest(*clinic.store, "north"), Digest(*hub_store_, "north"));
  EXPECT_EQ(Digest(*clinic.store, "*"), Digest(*hub_store_, "*"));
  std::string empty = ExportClinic(clinic);
  ASSERT_TRUE(ImportAtHub(empty).ok());
  EXPECT_EQ(ImportAtHub(empty)->records, 0);
}

// Export reports after each batch: the changes counted first, then how far
// it has come, ending on the whole count and the bytes written.
TEST_F(BundleTest, ExportReportsProgressAfterEachBatch) {
  Node clinic = OfflineClinic("north");
  for (int i = 0; i < 60; ++i)
    Create(*clinic.store, "Clinic" + std::to_string(i));
  std::vector<BundleProgress> heard;
  const BundleProgressFn listen = [&](const BundleProgress& p) {
    heard.push_back(p);
  };
  uint64_t size = 0;
  const BundleSink sink = [&size](std::string_view b) {
    size += b.size();
    return Status::Ok();
  };
  Result<BundleExport> written =
      ExportClinicBundle(*clinic.store, clinic.transport->token(), sink,
                         clinic_clock_, Small(), listen);
  ASSERT_TRUE(posta::testing::IsOk(written));
  ASSERT_GT(written->batches, 1);
  ASSERT_EQ(static_cast<int64_t>(heard.size()), written->batches);
  for (size_t i = 0; i < heard.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(heard[i].records_total, 60);
    EXPECT_EQ(heard[i].batches, static_cast<int64_t>(i) + 1);
    if (i > 0) {
      EXPECT_GT(heard[i].records, heard[i - 1].records);
      EXPECT_GT(heard[i].bytes_done, heard[i - 1].bytes_done);
    }
  }
  EXPECT_EQ(heard.back().records, 60);
  EXPECT_LT(heard.back().bytes_done, size);  // the trailer comes after
  EXPECT_EQ(written->bytes, size);

  // The hub's, for the clinic: its scope, less what the clinic made.
  ASSERT_TRUE(ImportAtHub(ExportClinic(clinic)).ok());
  for (int i = 0; i < 30; ++i) HubLocation("Place" + std::to_string(i));
  heard.clear();
  size = 0;
  written = ExportHubBundle(*hub_, *hub_store_, clinic.store->node_id(), sink,
                            hub_clock_, Small(), listen);
  ASSERT_TRUE(posta::testing::IsOk(written));
  ASSERT_FALSE(heard.empty());
  EXPECT_EQ(static_cast<int64_t>(heard.size()), written->batches);
  EXPECT_EQ(heard.front().records_total, 30);
  EXPECT_EQ(heard.back().records, 30);
  EXPECT_EQ(written->records, 30);
}

TEST_F(BundleTest, AnyChangedByteIsRefusedAndNothingApplied) {
  Node clinic = OfflineClinic("north");
  for (int i = 0; i < 20; ++i) Create(*clinic.store, "P" + std::to_string(i));
  const std::string bundle = ExportClinic(clinic);
  const std::string before = Digest(*hub_store_, "north");
  for (size_t at = 0; at < bundle.size(); ++at) {
    std::string bad = bundle;
    bad[at] = static_cast<char>(bad[at] ^ 0x20);
    Result<BundleImport> r = ImportAtHub(bad);
    ASSERT_FALSE(r.ok()) << "byte " << at << " of " << bundle.size();
    ASSERT_NE(r.status().message(), "");
  }
  EXPECT_EQ(Digest(*hub_store_, "north"), before);
  EXPECT_EQ(Peer(*hub_store_, clinic.store->node_id()).received_seq, 0);
  EXPECT_TRUE(ImportAtHub(bundle).ok());  // the genuine file still applies
}

TEST_F(BundleTest, ForeignOrMisdirectedBundlesAreRefusedNamingBoth) {
  Node north = OfflineClinic("north");
  Node south = OfflineClinic("south");
  Create(*north.store, "North");
  // A genuine bundle of north's, for another hub.
  {
    std::string out;
    BundleWriter writer(
        [&out](std::string_view b) {
          out.append(b);
          return Status::Ok();
        },
        ClinicKey(north));
    BundleHeader header;
    header.origin_node_id = north.store->node_id();
    header.origin_facility = "north";
    header.destination_node_id = "otherhub";
    ASSERT_OK(writer.Begin(header));
    ASSERT_OK(writer.Finish());
    Result<BundleImport> r = ImportAtHub(out);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied);
    EXPECT_NE(r.status().message().find("otherhub"), std::string::npos);
    EXPECT_NE(r.status().message().find(hub_store_->node_id()),
              std::string::npos);
  }

  // A hub bundle for south, carried to north.
  Create(*hub_store_, "Hub");
  const std::string for_south = ExportHub(south);
  Result<BundleImport> r = ImportAtClinic(north, for_south);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(r.status().message().find(south.store->node_id()),
            std::string::npos);
  EXPECT_NE(r.status().message().find(north.store->node_id()),
            std::string::npos);

  // A clinic-to-hub bundle imported at a clinic.
  Node south2 = OfflineClinic("south");
  Create(*south2.store, "S");
  r = ImportAtClinic(south, ExportClinic(south2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
}

TEST_F(BundleTest, ForgedCredentialUnknownAndRevokedNodesAreRefused) {
  Node clinic = OfflineClinic("north");
  Create(*clinic.store, "A");
  const std::string hub_digest = Digest(*hub_store_, "north");
  const std::string genuine = ExportClinic(clinic);
  // Made with a credential the hub never issued for this node.
  const std::string token = clinic.transport->token();
  ASSERT_OK(clinic.transport->SetBearerToken(std::string(64, 'a')));
  const std::string forged = ExportClinic(clinic);
  ASSERT_OK(clinic.transport->SetBearerToken(token));
  Result<BundleImport> r = ImportAtHub(forged);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(r.status().message().find("does not verify"), std::string::npos);

  // Revoked: the network's 401 words.
  ASSERT_TRUE(hub_store_
                  ->RevokeEnrolledNode(clinic.store->node_id(),
                                       hub_clock_.WallNowMillis())
                  .ok());
  r = ImportAtHub(genuine);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(r.status().message().find("revoked"), std::string::npos);
  EXPECT_EQ(Digest(*hub_store_, "north"), hub_digest);
  EXPECT_EQ(hub_->counters().unauthenticated, 1);

  // A node the hub never enrolled.
  Node stranger;
  stranger.store = Open("stranger.db", "north", "clinic", &clinic_clock_);
  stranger.transport = std::make_unique<LoopTransport>(*hub_);
  ASSERT_OK(stranger.transport->SetBearerToken(std::string(64, 'b')));
  storage::PeerState hub;
  hub.node_id = hub_store_->node_id();
  hub.role = "hub";
  ASSERT_OK(stranger.store->UpdatePeer(hub));
  Create(*stranger.store, "S");
  r = ImportAtHub(ExportClinic(stranger));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not enrolled"), std::string::npos);
}

TEST_F(BundleTest, SameOrOlderBundleAgainChangesNothing) {
  Node clinic = OfflineClinic("north");
  for (int i = 0; i < 30; ++i) Create(*clinic.store, "P" + std::to_string(i));
  const std::string first = ExportClinic(clinic);
  ASSERT_TRUE(ImportAtHub(first).ok());
  const std::string back1 = ExportHub(clinic);
  ASSERT_TRUE(ImportAtClinic(clinic, back1).ok());
  for (int i = 0; i < 30; ++i) Create(*clinic.store, "Q" + std::to_string(i));
  HubLocation("Hub");
  const std::string second = ExportClinic(clinic);
  ASSERT_TRUE(ImportAtHub(second).ok());
  const int64_t hub_seq = LastSeq(*hub_store_);
  const storage::PeerState peer = Peer(*hub_store_, clinic.store->node_id());

  for (const std::string* again : {&second, &first}) {
    Result<BundleImport> r = ImportAtHub(*again);
    ASSERT_TRUE(posta::testing::IsOk(r));
    EXPECT_EQ(r->batches, 0);
    EXPECT_GT(r->skipped_batches, 0);
    EXPECT_EQ(LastSeq(*hub_store_), hub_seq);
    EXPECT_EQ(Peer(*hub_store_, clinic.store->node_id()).received_seq,
              peer.received_seq);
    EXPECT_EQ(Peer(*hub_store_, clinic.store->node_id()).acked_seq,
              peer.acked_seq);
  }

  const std::string back2 = ExportHub(clinic);
  ASSERT_TRUE(ImportAtClinic(clinic, back2).ok());
  const int64_t clinic_seq = LastSeq(*clinic.store);
  const storage::PeerState hub = Peer(*clinic.store, hub_store_->node_id());
  EXPECT_EQ(hub.acked_seq, peer.received_seq);
  for (const std::string* again : {&back2, &back1}) {
    Result<BundleImport> r = ImportAtClinic(clinic, *again);
    ASSERT_TRUE(posta::testing::IsOk(r));
    EXPECT_EQ(r->batches, 0);
    EXPECT_EQ(LastSeq(*clinic.store), clinic_seq);
    // The ack never goes back.
    EXPECT_EQ(Peer(*clinic.store, hub_store_->node_id()).acked_seq,
              hub.acked_seq);
    EXPECT_EQ(Peer(*clinic.store, hub_store_->node_id()).received_seq,
              hub.received_seq);
  }
  EXPECT_EQ(Digest(*clinic.store, "north"), Digest(*hub_store_, "north"));
}

TEST_F(BundleTest, CutShortAtEveryFrameAndInsideFramesAppliesCompleteBatches) {
  Node clinic = OfflineClinic("north");
  for (int i = 0; i < 80; ++i) Create(*clinic.store, "P" + std::to_string(i));
  const std::string bundle = ExportClinic(clinic);
  const std::vector<size_t> ends = FrameEnds(bundle, ClinicKey(clinic));
  // header, ack, batches..., trailer
  ASSERT_GE(ends.size(), 5u);
  const size_t batches = ends.size() - 3;
  // Cut inside the header: nothing is a bundle yet.
  for (size_t cut : {size_t{0}, size_t{3}, ends[0] - 1}) {
    Result<BundleImport> r = ImportAtHub(bundle.substr(0, cut));
    ASSERT_FALSE(r.ok()) << cut;
    EXPECT_EQ(r.status().code(), Status::Code::kMalformed);
  }
  int64_t received = 0;
  // In increasing order: each cut applies what the last did and more.
  for (size_t f = 0; f + 1 < ends.size(); ++f) {
    for (size_t cut : {ends[f], ends[f] + 2, ends[f] + 40,
                       (ends[f] + ends[f + 1]) / 2, ends[f + 1] - 1}) {
      SCOPED_TRACE("cut at " + std::to_string(cut) + " in frame " +
                   std::to_string(f + 1));
      Result<BundleImport> r = ImportAtHub(bundle.substr(0, cut));
      if (f == 0) {
        // Not even the ack frame is whole.
        ASSERT_FALSE(r.ok());
        continue;
      }
      ASSERT_TRUE(posta::testing::IsOk(r));
      EXPECT_FALSE(r->complete);
      const size_t whole = f - 1;  // complete batches in the cut file
      EXPECT_NE(r->missing.find("ends after batch " + std::to_string(whole)),
                std::string::npos)
          << r->missing;
      const int64_t now =
          Peer(*hub_store_, clinic.store->node_id()).received_seq;
      EXPECT_GE(now, received);
      if (whole == batches) {
        EXPECT_EQ(now, LastSeq(*clinic.store));
      } else {
        EXPECT_LT(now, LastSeq(*clinic.store));
      }
      received = now;
    }
  }
  Result<BundleImport> whole = ImportAtHub(bundle);
  ASSERT_TRUE(posta::testing::IsOk(whole));
  EXPECT_TRUE(whole->complete);
  EXPECT_EQ(VersionsBy(*hub_store_, clinic.store->node_id()), 80);
}

TEST_F(BundleTest, BoundsAndNonBundlesAreRefused) {
  Node clinic = OfflineClinic("north");
  Create(*clinic.store, "A");
  const std::string bundle = ExportClinic(clinic);
  auto refused = [&](const std::string& bytes, Status::Code code) {
    Result<BundleImport> r = ImportAtHub(bytes);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  };
  refused("", Status::Code::kMalformed);
  refused(R"({"resourceType":"Bundle"})", Status::Code::kMalformed);
  std::string v2 = bundle;
  v2[4] = 2;
  refused(v2, Status::Code::kVersionMismatch);
  std::string long_header = bundle;
  long_header[6] = '\xff';
  long_header[7] = '\xff';
  refused(long_header, Status::Code::kTooLarge);

  // A frame over the reader's limit is refused before it is read.
  BundleOptions tiny = Small();
  tiny.bundle_limits.max_frame_bytes = 64;
  std::istringstream in(bundle);
  Result<BundleImport> r = ImportHubBundle(*hub_, *hub_store_, in, tiny);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTooLarge);
  // Bytes after the trailer.
  refused(bundle + "x", Status::Code::kMalformed);
}

TEST_F(BundleTest, HubRefusesOutOfScopeBatchInAGenuineBundle) {
  Node north = OfflineClinic("north");
  Node south = OfflineClinic("south");
  const std::string south_id = Create(*south.store, "South");
  Sync(south);
  // north writes a bundle whose push carries south's record: only a
  // tampered build could, and it is authenticated, so the hub's scope
  // check is what stops it.
  Result<storage::Record> record =
      south.store->Get(ResourceType::kPatient, south_id);
  ASSERT_TRUE(record.ok());
  PushBatch push;
  push.node_id = north.store->node_id();
  push.after_seq = 0;
  push.to_seq = 1;
  storage::ChangeEntry change;
  change.seq = 1;
  change.record = *record;
  push.changes.push_back(change);
  std::string out;
  BundleWriter writer(
      [&out](std::string_view b) {
        out.append(b);
        return Status::Ok();
      },
      ClinicKey(north));
  BundleHeader header;
  header.origin_node_id = north.store->node_id();
  header.origin_facility = "north";
  header.destination_node_id = hub_store_->node_id();
  ASSERT_OK(writer.Begin(header));
  ASSERT_OK(writer.Add(BundleFrameKind::kAck,
                       Encode(PullRequest{north.store->node_id(), 0, 0}), 0));
  ASSERT_OK(writer.Add(BundleFrameKind::kPush, Encode(push), 1));
  ASSERT_OK(writer.Finish());
  Result<BundleImport> r = ImportAtHub(out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(r.status().message().find("batch 1"), std::string::npos);
  EXPECT_EQ(Peer(*hub_store_, north.store->node_id()).received_seq, 0);
}

TEST_F(BundleTest, LinkAndBundleAlternateAndConverge) {
  Node clinic = OfflineClinic("north");
  auto write = [&](int n, const std::string& tag) {
    for (int i = 0; i < n; ++i) Create(*clinic.store, tag + std::to_string(i));
    HubLocation("Hub" + tag);
  };
  write(20, "link1-");
  Sync(clinic);
  write(20, "bundle1-");
  ASSERT_TRUE(ImportAtHub(ExportClinic(clinic)).ok());
  write(5, "link2-");
  Sync(clinic);  // the hub's bundle has not come back: the link catches up
  const std::string late = ExportHub(clinic);
  write(20, "bundle2-");
  ASSERT_TRUE(ImportAtHub(ExportClinic(clinic)).ok());
  ASSERT_TRUE(ImportAtClinic(clinic, ExportHub(clinic)).ok());
  // The return bundle written before the last link sync arrives late.
  Result<BundleImport> stale = ImportAtClinic(clinic, late);
  ASSERT_TRUE(posta::testing::IsOk(stale));
  EXPECT_EQ(stale->batches, 0);
  write(5, "link3-");
  Sync(clinic);
  EXPECT_EQ(Digest(*clinic.store, "north"), Digest(*hub_store_, "north"));
  EXPECT_EQ(Digest(*clinic.store, "*"), Digest(*hub_store_, "*"));
  // No duplicates: every version the clinic made is on the hub once, and
  // the hub's own once on the clinic.
  EXPECT_EQ(VersionsBy(*hub_store_, clinic.store->node_id()),
            VersionsBy(*clinic.store, clinic.store->node_id()));
  EXPECT_EQ(VersionsBy(*clinic.store, hub_store_->node_id()),
            VersionsBy(*hub_store_, hub_store_->node_id()));
  // Nothing of the clinic's own is left unacknowledged.
  storage::ChangeFilter pending;
  pending.after_seq = Peer(*clinic.store, hub_store_->node_id()).acked_seq;
  pending.only_origin = clinic.store->node_id();
  EXPECT_EQ(clinic.store->CountChanges(pending).value(), 0);
  EXPECT_EQ(Live(*clinic.store), 70 + 5);
}

}  // namespace
}  // namespace posta::sync::testing
