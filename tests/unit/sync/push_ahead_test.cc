// Sending ahead (protocol 6): a clinic with a second connection sends its
// next pushed batch while the hub applies the one before. The hub applies
// them in order: the later one waits for the earlier, and one that comes
// before the hub has the earlier is refused as a gap and sent again.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "sync_fixture.h"

namespace posta::sync::testing {
namespace {

using Steady = std::chrono::steady_clock;

class PushAheadTest : public SyncFixture {
 protected:
  // A clinic whose client also has `second_`, with `records` patients to
  // push in 4-16 KiB batches.
  Node ClinicWithTwoConnections(int records) {
    Node node = Clinic("clinic-a");
    second_ = std::make_unique<LoopTransport>(*hub_);
    EXPECT_OK(second_->SetBearerToken(node.transport->token()));
    node.client->SetSecondTransport(second_.get());
    for (int i = 0; i < records; ++i) {
      Create(*node.store, "Alpha" + std::to_string(i));
    }
    return node;
  }

  // Everything the clinic made is at the hub, acknowledged once.
  void ExpectAllAtTheHub(Node& node, const SyncResult& result, int records) {
    EXPECT_EQ(result.pushed, records);
    EXPECT_EQ(Digest(*hub_store_, "clinic-a"), Digest(*node.store, "clinic-a"));
    ASSERT_OK_AND_ASSIGN(storage::StoreStats stats, node.store->Stats());
    ASSERT_OK_AND_ASSIGN(storage::PeerState at_hub,
                         hub_store_->GetPeer(node.store->node_id()));
    EXPECT_EQ(at_hub.received_seq, stats.last_seq);
    ASSERT_OK_AND_ASSIGN(storage::PeerState at_box,
                         node.store->GetPeer(hub_store_->node_id()));
    EXPECT_EQ(at_box.acked_seq, stats.last_seq);
  }

  // Polls `done` for up to 20 s; false when it never came true.
  template <typename Fn>
  static bool Await(Fn done) {
    const auto deadline = Steady::now() + std::chrono::seconds(20);
    while (!done()) {
      if (Steady::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  std::unique_ptr<LoopTransport> second_;
};

// The first batch is held in the hub's write (another connection holds
// the database's write lock) while the second comes on the other
// connection: the second waits for it, and both are applied in order.
TEST_F(PushAheadTest, ABatchSentAheadWaitsForTheOneBefore) {
  Node a = ClinicWithTwoConnections(600);
  sqlite3* lock = nullptr;
  bool locked = false;
  a.transport->tamper = [&](std::string_view op, std::string&) {
    if (op != "push" || locked) return;
    locked = true;
    ASSERT_EQ(sqlite3_open(dir_.File("hub.db").c_str(), &lock), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(lock, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr),
              SQLITE_OK);
  };
  second_->tamper = [&](std::string_view op, std::string&) {
    // Sent once the first has gone out; it reaches the hub once the hub
    // is handling the first.
    if (op == "push") {
      EXPECT_TRUE(Await([&] { return hub_->counters().pushes_in_progress > 0; }));
    }
  };
  const uint64_t sent_before = a.transport->bytes_sent();
  Result<SyncResult> result = Status::Internal("test", "not run");
  std::thread syncing([&] { result = a.client->SyncOnce(); });
  EXPECT_TRUE(Await([&] { return hub_->counters().push_waits > 0; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(sqlite3_exec(lock, "ROLLBACK", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(lock);
  syncing.join();
  ASSERT_OK(result.status());
  ExpectAllAtTheHub(a, *result, 600);
  EXPECT_GT(result->push_batches, 2);
  EXPECT_GT(second_->bytes_sent(), 0u);
  EXPECT_EQ(hub_->counters().refused, 0);
  // Both connections' bytes are counted.
  EXPECT_EQ(result->bytes_sent,
            a.transport->bytes_sent() - sent_before + second_->bytes_sent());
}

// The second batch reaches the hub before the first: it is refused as a
// gap, and the clinic sends it again after the first's ack.
TEST_F(PushAheadTest, ABatchThatOvertookTheOneBeforeIsSentAgain) {
  Node a = ClinicWithTwoConnections(600);
  bool held = false;
  a.transport->tamper = [&](std::string_view op, std::string&) {
    if (op != "push" || held) return;
    held = true;
    // The first waits until the hub has answered the second.
    EXPECT_TRUE(Await([&] { return second_->bytes_received() > 0; }));
  };
  SyncResult result = Sync(a);
  ExpectAllAtTheHub(a, result, 600);
  EXPECT_GE(hub_->counters().refused, 1);
  // Nothing is acknowledged twice: each batch counted once.
  EXPECT_EQ(hub_->counters().push_records, 600);
}

// A hub of protocol 5 would refuse every batch sent ahead as a gap: the
// clinic sends it nothing on the second connection.
TEST_F(PushAheadTest, NothingIsSentAheadToAnOlderHub) {
  Node a = ClinicWithTwoConnections(600);
  a.transport->tamper = [](std::string_view op, std::string& body) {
    if (op == "hello") SayProtocol(body, kPushAheadProtocolVersion - 1);
  };
  SyncResult result = Sync(a);
  ExpectAllAtTheHub(a, result, 600);
  EXPECT_GT(result.push_batches, 2);
  EXPECT_EQ(second_->bytes_sent(), 0u);
  EXPECT_EQ(hub_->counters().refused, 0);
}

}  // namespace
}  // namespace posta::sync::testing
