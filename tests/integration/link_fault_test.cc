// A hub and two clinics of one facility as real `posta` processes, the
// clinics reaching the hub through a FaultProxy: a slow, thin link; answers
// cut short; connections reset in the middle of a push or a pull; requests
// sent twice. Each time the sync completes once the fault clears (or through
// `posta sync`'s retries) and all three hold the same records, each once.
// The reset mid-push also measures what the clinic sends again: at most the
// batch that was in flight.
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <vector>

#include "cluster.h"
#include "fault_proxy.h"
#include "posta/base/env.h"
#include "posta/storage/record_store.h"
#include "posta/sync/wire.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using testing::ChildProcess;
using testing::FaultProxy;
using testing::Faults;
using testing::PostaBinary;
using testing::RunResult;
using testing::TempDir;

constexpr char kFacility[] = "clinic-l";

// One request as the clinic sent it, read back from the proxy's record.
struct SentRequest {
  std::string op;    // "hello", "push", "pull"
  size_t bytes = 0;  // head and body as sent (a cut one: what was sent)
  bool complete = false;
  std::string body;  // when complete
};

// Splits everything the clinics sent into requests. A request cut by the
// link is followed at once by the next connection's request.
std::vector<SentRequest> SplitRequests(std::string_view all) {
  constexpr std::string_view kStart = "POST /sync/v1/";
  std::vector<SentRequest> out;
  size_t at = all.find(kStart);
  while (at != std::string_view::npos) {
    size_t next = all.find(kStart, at + kStart.size());
    std::string_view segment =
        all.substr(at, next == std::string_view::npos ? all.npos : next - at);
    SentRequest r;
    r.bytes = segment.size();
    const size_t op_end = segment.find(' ', kStart.size());
    r.op = std::string(segment.substr(kStart.size(), op_end - kStart.size()));
    const size_t head_end = segment.find("\r\n\r\n");
    if (head_end != std::string_view::npos) {
      std::string head(segment.substr(0, head_end));
      for (char& c : head) c = static_cast<char>(std::tolower(c));
      const size_t cl = head.find("content-length:");
      if (cl != std::string::npos) {
        const size_t length = std::stoul(head.substr(cl + 15));
        const size_t body_at = head_end + 4;
        if (segment.size() >= body_at + length) {
          r.complete = true;
          r.body = std::string(segment.substr(body_at, length));
          r.bytes = body_at + length;
        }
      }
    }
    out.push_back(std::move(r));
    at = next;
  }
  return out;
}

// A number that compresses as poorly as a real identifier.
std::string Scrambled(int i) {
  uint64_t x = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  char out[24];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(x));
  return out;
}

class LinkFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(cluster_.InitHub("region"));
    ASSERT_OK(cluster_.StartHub());
    ASSERT_OK_AND_ASSIGN(proxy_, FaultProxy::Start(cluster_.hub_port()));
    for (const char* clinic : {"a", "b"}) {
      ASSERT_OK(cluster_.AddClinic(
          clinic, kFacility,
          "http://127.0.0.1:" + std::to_string(proxy_->port())));
    }
    // The tests count what the syncs send, not the enrollments.
    proxy_->ResetCounters();
  }

  void TearDown() override { (void)cluster_.StopHub(std::chrono::seconds(20)); }

  // Imports `count` patients numbered from `first` into `clinic`.
  void AddPatients(const std::string& clinic, int first, int count) {
    std::string text;
    for (int i = first; i < first + count; ++i) {
      char id[64];
      std::snprintf(id, sizeof id, "5a0c7e21-3d4b-4c8f-9e12-%012d", i);
      text += nlohmann::json{{"resourceType", "Patient"},
                             {"id", id},
                             {"name",
                              {{{"family", "L" + std::to_string(i)},
                                {"given", {"Rosa", "Maria"}}}}},
                             {"gender", i % 2 ? "male" : "female"},
                             {"birthDate", "1987-04-12"},
                             {"identifier", {{{"value", Scrambled(i)}}}}}
                  .dump() +
              "\n";
    }
    auto r = testing::ImportNdjson(dir_.File(clinic + "/posta.toml"),
                                   dir_.File(clinic + ".ndjson"), text);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  RunResult Sync(const std::string& clinic, int attempts) {
    return testing::Run(
        {PostaBinary(), "sync", "--config", dir_.File(clinic + "/posta.toml"),
         "--attempts", std::to_string(attempts)},
        std::chrono::seconds(240));
  }

  // Hub and both clinics hold `total` patients, each version once, and
  // agree.
  void ExpectConverged(int64_t total) {
    std::string digest;
    for (const char* node : {"hub", "a", "b"}) {
      SCOPED_TRACE(node);
      ASSERT_OK_AND_ASSIGN(auto store, cluster_.OpenReadOnly(node));
      ASSERT_OK(store->CheckIntegrity());
      ASSERT_OK_AND_ASSIGN(storage::StoreStats stats, store->Stats());
      EXPECT_EQ(stats.live_records[storage::ResourceType::kPatient], total);
      EXPECT_EQ(stats.last_seq, total);  // one log entry per version
      EXPECT_EQ(stats.open_conflicts, 0);
      ASSERT_OK_AND_ASSIGN(std::string d, store->ReplicaDigest(kFacility));
      if (digest.empty()) digest = d;
      EXPECT_EQ(d, digest);
    }
  }

  TempDir dir_;
  testing::Cluster cluster_{dir_.path()};
  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(LinkFaultTest, SlowThinLinkCompletes) {
  ASSERT_NO_FATAL_FAILURE(AddPatients("a", 0, 200));
  ASSERT_NO_FATAL_FAILURE(AddPatients("b", 10000, 200));
  Faults slow;
  slow.to_upstream = {.latency = std::chrono::milliseconds(100),
                      .bytes_per_second = 16000};
  slow.to_client = slow.to_upstream;
  proxy_->SetFaults(slow);
  for (const char* clinic : {"a", "b", "a"}) {
    RunResult r = Sync(clinic, 1);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  ExpectConverged(400);
}

TEST_F(LinkFaultTest, TruncatedAnswersAreRetried) {
  ASSERT_NO_FATAL_FAILURE(AddPatients("a", 0, 300));
  RunResult a = Sync("a", 1);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  // B's next connections lose every answer after its first 600 bytes: the
  // pull of A's records is cut mid-body, with a FIN.
  Faults cut;
  cut.to_client.drop_after_bytes = 600;
  proxy_->SetFaultsForNextConnections(2, cut);
  RunResult b = Sync("b", 5);
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_NE(b.output.find("retrying"), std::string::npos) << b.output;
  ExpectConverged(300);
}

TEST_F(LinkFaultTest, ResetMidPullIsRetried) {
  ASSERT_NO_FATAL_FAILURE(AddPatients("a", 0, 300));
  RunResult a = Sync("a", 1);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  Faults reset;
  reset.to_client.drop_after_bytes = 2000;
  reset.reset = true;
  proxy_->SetFaultsForNextConnections(1, reset);
  RunResult b = Sync("b", 5);
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_NE(b.output.find("retrying"), std::string::npos) << b.output;
  ExpectConverged(300);
}

TEST_F(LinkFaultTest, DuplicatedRequestsChangeNothing) {
  ASSERT_NO_FATAL_FAILURE(AddPatients("a", 0, 200));
  ASSERT_NO_FATAL_FAILURE(AddPatients("b", 10000, 200));
  RunResult a = Sync("a", 1);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  // A's whole conversation (hello, push, pull) reaches the hub again.
  const std::string a_sent = proxy_->LastClientBytes();
  ASSERT_NE(a_sent.find("POST /sync/v1/push"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(std::string answer, proxy_->SendToUpstream(a_sent));
  EXPECT_NE(answer.find("200 OK"), std::string::npos) << answer.substr(0, 200);
  RunResult b = Sync("b", 1);
  ASSERT_EQ(b.exit_code, 0) << b.output;
  ASSERT_OK(proxy_->ReplayLastRequest().status());
  ASSERT_OK(proxy_->ReplayLastRequest().status());
  a = Sync("a", 1);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ExpectConverged(400);
}

// The resend figure: a reset in the middle of a push of several batches.
// Every change reaches the hub; the clinic sends again only the batch the
// reset cut (no complete push carries a change twice), and the bytes
// beyond a clean run are that one cut request.
TEST_F(LinkFaultTest, ResetMidPushResendsAtMostTheBatchInFlight) {
  constexpr int kRecords = 16000;
  ASSERT_NO_FATAL_FAILURE(AddPatients("a", 0, kRecords));
  // Cut the first connection, with an RST, a third of the way into what a
  // push of these records sends.
  Faults reset;
  reset.to_upstream.drop_after_bytes = 120000;
  reset.reset = true;
  proxy_->SetFaultsForNextConnections(1, reset);
  RunResult a = Sync("a", 5);
  ASSERT_EQ(a.exit_code, 0) << a.output;

  // The cut connection was replaced (by libcurl's own retry of a request
  // on a dead connection, or by posta sync's next attempt).
  EXPECT_GE(proxy_->connections_accepted(), 2u) << a.output;

  // A push is wasted when the link cut it (the proxy read only part of it)
  // or when it carries changes an earlier push carried (the proxy read it
  // whole but the hub never got it, so it went again).
  std::vector<SentRequest> sent = SplitRequests(proxy_->AllClientBytes());
  int pushes = 0;
  int wasted = 0;
  uint64_t push_bytes = 0;
  uint64_t wasted_bytes = 0;
  uint64_t largest_push = 0;
  int64_t changes_sent = 0;
  std::set<int64_t> seqs;
  for (const SentRequest& r : sent) {
    if (r.op != "push") continue;
    ++pushes;
    push_bytes += r.bytes;
    if (!r.complete) {
      ++wasted;
      wasted_bytes += r.bytes;
      continue;
    }
    largest_push = std::max<uint64_t>(largest_push, r.bytes);
    ASSERT_OK_AND_ASSIGN(sync::PushBatch batch,
                         sync::DecodePushBatch(r.body, sync::WireLimits{}));
    bool again = false;
    for (const storage::ChangeEntry& change : batch.changes) {
      ++changes_sent;
      again |= !seqs.insert(change.seq).second;
    }
    if (again) {
      ++wasted;
      wasted_bytes += r.bytes;
    }
  }
  std::printf(
      "reset mid-push: %d records, %d push requests, %llu push bytes; "
      "resent: %d batch(es), %llu bytes, %lld changes; largest push %llu "
      "bytes\n",
      kRecords, pushes, static_cast<unsigned long long>(push_bytes), wasted,
      static_cast<unsigned long long>(wasted_bytes),
      static_cast<long long>(changes_sent - kRecords),
      static_cast<unsigned long long>(largest_push));
  EXPECT_GE(pushes, 4) << "the push should take several batches";
  EXPECT_EQ(seqs.size(), static_cast<size_t>(kRecords));
  EXPECT_LE(wasted, 1) << "more than the batch in flight was sent again";
  EXPECT_LE(wasted_bytes, largest_push);

  RunResult b = Sync("b", 1);
  ASSERT_EQ(b.exit_code, 0) << b.output;
  ExpectConverged(kRecords);
}

}  // namespace
}  // namespace posta
