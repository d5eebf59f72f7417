// Crash points through real processes: for every point in
// base::kCrashPoints, a hub (`posta serve`) and two clinics of one facility
// sync while POSTA_CRASH_AT makes the clinic's `posta sync` or the hub die
// by SIGKILL right there. The dead process is restarted, both clinics sync
// to the end, and then every write is on all three nodes exactly once: equal
// replica digests, the same live records, one change-log entry per version
// (no version stored twice), no conflicts, and `PRAGMA integrity_check` ok.
//
// The CI run hits each point once. POSTA_CRASH_HITS=<n> also runs the n-th
// hits up to n, with more records so that pushes and pulls take several
// batches (a point reached fewer than n times is reported and passes).
#include "posta/base/crash_point.h"

#include <signal.h>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "posta/base/env.h"
#include "posta/storage/record_store.h"
#include "cluster.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using testing::ChildProcess;
using testing::PostaBinary;
using testing::RunResult;
using testing::TempDir;

enum class Side { kClinic, kHub };

struct CrashCase {
  std::string point;
  Side side;
  int hit;
};

void PrintTo(const CrashCase& c, std::ostream* os) {
  *os << c.point << (c.side == Side::kHub ? " on the hub" : " on the clinic")
      << ", hit " << c.hit;
}

std::string CaseName(const ::testing::TestParamInfo<CrashCase>& info) {
  std::string name = info.param.point + "_" +
                     (info.param.side == Side::kHub ? "hub" : "clinic");
  if (info.param.hit > 1) name += "_hit" + std::to_string(info.param.hit);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

int ExtraHits() {
  const char* env = std::getenv("POSTA_CRASH_HITS");
  return env ? std::max(1, std::atoi(env)) : 1;
}

// Every point on the side(s) that reach it; storage points on both.
std::vector<CrashCase> AllCases() {
  std::vector<CrashCase> cases;
  for (int hit = 1; hit <= ExtraHits(); ++hit) {
    for (const base::CrashPointInfo& p : base::kCrashPoints) {
      const std::string name(p.name);
      if (name.starts_with("sync.client.")) {
        cases.push_back({name, Side::kClinic, hit});
      } else if (name.starts_with("sync.hub.")) {
        cases.push_back({name, Side::kHub, hit});
      } else {
        cases.push_back({name, Side::kClinic, hit});
        cases.push_back({name, Side::kHub, hit});
      }
    }
  }
  return cases;
}

// Sets POSTA_CRASH_AT for the children started in its lifetime.
class ScopedCrashAt {
 public:
  explicit ScopedCrashAt(const std::string& spec) {
    if (!spec.empty()) ::setenv("POSTA_CRASH_AT", spec.c_str(), 1);
  }
  ~ScopedCrashAt() { ::unsetenv("POSTA_CRASH_AT"); }
};

class CrashPointTest : public ::testing::TestWithParam<CrashCase> {
 protected:
  static constexpr char kFacility[] = "clinic-c";

  void SetUp() override {
    if (!base::kCrashPointsBuilt) {
      GTEST_SKIP() << "built without POSTA_CRASH_POINTS (scripts/test.sh "
                      "turns it on); no crash point can fire";
    }
    records_ = GetParam().hit > 1 || ExtraHits() > 1 ? 25000 : 150;
    ASSERT_OK(cluster_.InitHub("region"));
  }

  // Starts the hub, with POSTA_CRASH_AT=`crash_at` when not empty.
  void StartHub(const std::string& crash_at) {
    ScopedCrashAt env(crash_at);
    ASSERT_OK(cluster_.StartHub());
    port_ = cluster_.hub_port();
  }

  void StopHub() { ASSERT_OK(cluster_.StopHub()); }

  // A clinic of kFacility, enrolled with the hub.
  void InitClinic(const std::string& name) {
    ASSERT_OK(cluster_.AddClinic(name, kFacility, HubUrl()));
  }

  std::string HubUrl() const {
    return "http://127.0.0.1:" + std::to_string(port_);
  }

  // Rewrites a clinic's hub URL (the hub's port changes at each start).
  void PointAtHub(const std::string& clinic) {
    const std::string config = dir_.File(clinic + "/posta.toml");
    auto text = base::Env::Default().ReadFile(config, 1 << 20);
    ASSERT_OK(text);
    std::string body = *text;
    const size_t at = body.find("\nhub_url = ");
    ASSERT_NE(at, std::string::npos);
    const size_t end = body.find('\n', at + 1);
    body.replace(at + 1, end - at - 1, "hub_url = \"" + HubUrl() + "\"");
    ASSERT_OK(base::Env::Default().WriteFileAtomic(config, body, 0640));
  }

  // Imports `records_` patients numbered from `first` into `clinic`.
  void AddPatients(const std::string& clinic, int first) {
    std::string text;
    for (int i = first; i < first + records_; ++i) {
      char id[64];
      std::snprintf(id, sizeof id, "7d1e0c42-5b1a-4f0e-8a33-%012d", i);
      text += nlohmann::json{{"resourceType", "Patient"},
                             {"id", id},
                             {"name", {{{"family", "C" + std::to_string(i)}}}},
                             {"gender", i % 2 ? "male" : "female"}}
                  .dump() +
              "\n";
    }
    auto r = testing::ImportNdjson(dir_.File(clinic + "/posta.toml"),
                                   dir_.File(clinic + ".ndjson"), text);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  RunResult Sync(const std::string& clinic, const std::string& crash_at = "") {
    ScopedCrashAt env(crash_at);
    return testing::Run({PostaBinary(), "sync", "--config",
                         dir_.File(clinic + "/posta.toml"), "--attempts", "1"},
                        std::chrono::seconds(120));
  }

  std::unique_ptr<storage::RecordStore> OpenReadOnly(const std::string& node) {
    auto store = cluster_.OpenReadOnly(node);
    EXPECT_TRUE(testing::IsOk(store)) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  TempDir dir_;
  testing::Cluster cluster_{dir_.path()};
  int port_ = 0;
  int records_ = 0;
};

TEST_P(CrashPointTest, RestartAndSyncLosesAndDuplicatesNothing) {
  const CrashCase& c = GetParam();
  const std::string crash_at = c.point + ":" + std::to_string(c.hit);

  // A's records reach the hub on a clean run; B has its own, offline.
  ASSERT_NO_FATAL_FAILURE(StartHub(""));
  ASSERT_NO_FATAL_FAILURE(InitClinic("a"));
  ASSERT_NO_FATAL_FAILURE(InitClinic("b"));
  ASSERT_NO_FATAL_FAILURE(AddPatients("a", 0));
  ASSERT_NO_FATAL_FAILURE(AddPatients("b", 1000000));
  RunResult first = Sync("a");
  ASSERT_EQ(first.exit_code, 0) << first.output;

  // B's sync pushes its records and pulls A's; the chosen side dies.
  bool died = false;
  if (c.side == Side::kHub) {
    ASSERT_NO_FATAL_FAILURE(StopHub());
    ASSERT_NO_FATAL_FAILURE(StartHub(crash_at));
    ASSERT_NO_FATAL_FAILURE(PointAtHub("b"));
    // The hub records acked_seq when a pull moves the cursor, which a
    // one-batch pull does first on the next sync: up to two syncs.
    RunResult sync = Sync("b");
    auto hub = cluster_.hub().Wait(std::chrono::seconds(5));
    if (!hub.ok() && sync.exit_code == 0) {
      sync = Sync("b");
      hub = cluster_.hub().Wait(std::chrono::seconds(5));
    }
    if (hub.ok()) {
      EXPECT_EQ(hub->signal, SIGKILL)
          << "hub exited " << hub->exit_code << "\n"
          << testing::ReadWholeFile(dir_.File("hub.log"));
      EXPECT_NE(sync.exit_code, 0) << sync.output;
      died = true;
    } else {
      ASSERT_GT(c.hit, 1) << c.point << " never reached on the hub:\n"
                          << sync.output;
      StopHub();
    }
    ASSERT_NO_FATAL_FAILURE(StartHub(""));
    ASSERT_NO_FATAL_FAILURE(PointAtHub("a"));
    ASSERT_NO_FATAL_FAILURE(PointAtHub("b"));
  } else {
    RunResult sync = Sync("b", crash_at);
    if (sync.signal != 0) {
      EXPECT_EQ(sync.signal, SIGKILL) << sync.output;
      died = true;
    } else {
      ASSERT_GT(c.hit, 1) << c.point << " never reached on the clinic:\n"
                          << sync.output;
    }
  }
  if (!died) {
    std::printf("%s reached fewer than %d times; nothing to crash\n",
                c.point.c_str(), c.hit);
  }

  // Restarted, both clinics sync to the end.
  RunResult b = Sync("b");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  RunResult a = Sync("a");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  StopHub();

  const int64_t total = 2 * records_;
  std::string digest;
  for (const char* node : {"hub", "a", "b"}) {
    SCOPED_TRACE(node);
    auto store = OpenReadOnly(node);
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->CheckIntegrity());
    ASSERT_OK_AND_ASSIGN(storage::StoreStats stats, store->Stats());
    EXPECT_EQ(stats.live_records[storage::ResourceType::kPatient], total);
    // One change-log entry per version: nothing was stored twice.
    EXPECT_EQ(stats.last_seq, total);
    EXPECT_EQ(stats.open_conflicts, 0);
    ASSERT_OK_AND_ASSIGN(std::string d, store->ReplicaDigest(kFacility));
    if (digest.empty()) digest = d;
    EXPECT_EQ(d, digest);
  }
}

INSTANTIATE_TEST_SUITE_P(AllPoints, CrashPointTest,
                         ::testing::ValuesIn(AllCases()), CaseName);

// The facility itself: a named point kills on the chosen hit and only then.
TEST(CrashPointFacility, KillsOnTheChosenHitOnly) {
  if (!base::kCrashPointsBuilt) {
    GTEST_SKIP() << "built without POSTA_CRASH_POINTS";
  }
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::setenv("POSTA_CRASH_AT", "sync.hub.push_committed:3", 1);
        POSTA_CRASH_POINT("sync.hub.push_decoded");
        POSTA_CRASH_POINT("sync.hub.push_committed");
        POSTA_CRASH_POINT("sync.hub.push_committed");
        std::fprintf(stderr, "survived two hits\n");
        POSTA_CRASH_POINT("sync.hub.push_committed");
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGKILL), "survived two hits");
  EXPECT_EXIT(
      {
        ::setenv("POSTA_CRASH_AT", "sync.hub.no_such_point", 1);
        POSTA_CRASH_POINT("sync.hub.push_decoded");
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "no such crash point");
}

}  // namespace
}  // namespace posta
